"""Compare two model versions before promoting one: both scored on the same recent labelled
window (default: the evaluation window of the newest version published on main, read at main's
head), metrics with CIs side by side, the paired test, and what differs between them (data
commit, hyperparameters, feature code version). Needs torch to score, unlike the other read
commands."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mlops_assets.core.batch_keys import CHARACTER_RULE, is_safe_key
from mlops_assets.platform import layout
from mlops_assets.registry.versions import RegistryError, list_versions, version_ref

if TYPE_CHECKING:
    from mlops_assets.platform.lakefs_client import LakeFSClient


@dataclass
class Comparison:
    dataset: str
    a: str
    b: str
    window: dict[str, Any]
    comparison: dict[str, Any]
    versions: dict[str, dict[str, Any]] = field(default_factory=dict)
    hyperparameter_differences: dict[str, list[Any]] = field(default_factory=dict)

    def text(self) -> str:
        from mlops_assets.core.compare import comparison_text

        w = self.window
        lines = [f"{self.a} (a) vs {self.b} (b) on {w['rows']} labelled rows of {self.dataset}, "
                 f"batches {w['batches'][0]}..{w['batches'][-1]} at commit {w['commit']}",
                 "", comparison_text(self.comparison, "a", "b"), ""]
        for name, v in self.versions.items():
            lines.append(f"{name}: data commit {v['data_commit']}, feature code "
                         f"{v['feature_code_version']}, trained on {v['train_batches']}, "
                         f"threshold {v['threshold']}")
        if self.hyperparameter_differences:
            diffs = ", ".join(f"{k}: {va} -> {vb}"
                              for k, (va, vb) in self.hyperparameter_differences.items())
            lines.append(f"hyperparameters differ: {diffs}")
        else:
            lines.append("hyperparameters: identical")
        return "\n".join(lines)


def latest_window(lakefs: LakeFSClient, ds: str) -> list[str]:
    """The evaluation batches of the newest version published on main."""
    published = [v for v in list_versions(lakefs, ds) if v.on_main]
    if not published:
        raise RegistryError(f"no version of {ds} is published on main: pass --window FIRST..LAST")
    record = lakefs.get_json(lakefs.default_branch,
                             layout.model_dir(ds, published[-1].version) + "record.json")
    return list(record["eval_batches"])


def _batches_between(lakefs: LakeFSClient, ref: str, ds: str, spec: str) -> list[str]:
    first, _, last = spec.partition("..")
    for key in (first, last or first):
        if not is_safe_key(key):
            raise RegistryError(f"--window {spec!r}: {key!r} is not a batch key: {CHARACTER_RULE}")
    keys = layout.keys_in(lakefs.list_objects(ref, layout.features_prefix(ds)))
    chosen = [k for k in keys if first <= k <= (last or first)]
    if not chosen:
        raise RegistryError(f"no feature batches of {ds} in {spec} on main")
    return chosen


def compare_versions(
    lakefs: LakeFSClient, ds: str, a: str, b: str, *, window: str | None = None,
    n_bootstrap: int = 1000, seed: int = 0,
) -> Comparison:
    """Score versions a and b on the same labelled rows and compare them (b against a)."""
    import polars as pl

    from mlops_assets.core.compare import compare_scores
    from mlops_assets.core.features import TARGET
    from mlops_assets.core.model import predict
    from mlops_assets.core.model_quality import record_threshold
    from mlops_assets.platform.frames import read_features
    from mlops_assets.platform.model_store import load_version

    main = lakefs.resolve(lakefs.default_branch)
    keys = _batches_between(lakefs, main, ds, window) if window else latest_window(lakefs, ds)
    frame = read_features(lakefs, main, ds, keys).filter(pl.col(TARGET).is_not_null())
    if frame.height == 0:
        raise RegistryError(f"no labelled rows of {ds} in {keys[0]}..{keys[-1]}")
    y = frame.get_column(TARGET).to_numpy()
    loaded = {v: load_version(lakefs, version_ref(lakefs, ds, v), ds, v) for v in (a, b)}
    (model_a, rec_a), (model_b, rec_b) = loaded[a], loaded[b]
    if model_a.task != model_b.task:
        raise RegistryError(f"{a} is {model_a.task}, {b} is {model_b.task}: not comparable")
    result = compare_scores(
        y, predict(model_a, frame), predict(model_b, frame), task=model_a.task,
        threshold_a=record_threshold(rec_a), threshold_b=record_threshold(rec_b),
        n_bootstrap=n_bootstrap, seed=seed)
    ha, hb = rec_a.get("hyperparameters") or {}, rec_b.get("hyperparameters") or {}
    return Comparison(
        dataset=ds, a=a, b=b,
        window={"batches": keys, "commit": main, "rows": frame.height},
        comparison=result,
        versions={name: {
            "version": v, "data_commit": r.get("data_commit"),
            "feature_code_version": r.get("feature_code_version"),
            "train_batches": f"{r['train_batches'][0]}..{r['train_batches'][-1]}",
            "hyperparameters": r.get("hyperparameters"),
            "threshold": record_threshold(r)}
            for name, v, r in (("a", a, rec_a), ("b", b, rec_b))},
        hyperparameter_differences={k: [ha.get(k), hb.get(k)] for k in sorted({*ha, *hb})
                                    if ha.get(k) != hb.get(k)},
    )
