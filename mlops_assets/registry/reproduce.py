"""Reproduction: retrain a version from its record on a scratch branch and compare weights."""

import json
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from mlops_assets.platform import layout
from mlops_assets.platform.lakefs_client import LakeFSClient, LakeFSNotFoundError
from mlops_assets.registry.versions import CODE_VERSION, RegistryError, version_ref


@dataclass
class InputDifference:
    name: str
    recorded: Any
    now: Any


@dataclass
class Reproduction:
    version: str
    identical: bool
    recorded_sha256: str
    reproduced_sha256: str
    data_commit: str
    scratch_branch: str | None  # kept for inspection (None when deleted)
    scratch_commit: str
    training_rows: int
    differences: list[InputDifference]

    def text(self) -> str:
        verdict = ("bit-identical weights" if self.identical
                   else "weights DIFFER from the registered ones")
        lines = [
            f"reproduction of {self.version}: {verdict}",
            f"  recorded   sha256 {self.recorded_sha256}",
            f"  reproduced sha256 {self.reproduced_sha256}",
            f"  data commit {self.data_commit}, {self.training_rows} training rows",
            f"  written on scratch branch {self.scratch_branch or '(deleted)'} at commit "
            f"{self.scratch_commit[:12]} (main untouched)",
        ]
        if self.differences:
            lines.append("  recorded inputs that differ now:" if not self.identical
                         else "  differences that did not change the weights:")
            lines += [f"    {d.name}: recorded {d.recorded!r}, now {d.now!r}"
                      for d in self.differences]
        elif not self.identical:
            lines.append("  no recorded input differs: look at what the record does not hold "
                         "(hardware: CPU model / GPU, BLAS, thread settings)")
        return "\n".join(lines)


def reproduce(
    lakefs: LakeFSClient,
    ds: str,
    version: str,
    scratch_branch: str | None = None,
    spec: Any = None,
    overrides: dict[str, Any] | None = None,
    keep_branch: bool = True,
    progress: Callable[[str], None] | None = None,
) -> Reproduction:
    """Retrain `version` from its record (features at the recorded data commit, the recorded
    batches, hyperparameters and seed; `overrides` replaces hyperparameters, e.g. {"seed": 1}),
    write it on a scratch branch made from the data commit (never main) and compare the weights'
    SHA-256 with the registered one; list every recorded input that differs now. `progress`
    hears one line per stage and per training epoch (it takes tens of seconds)."""
    say = progress or (lambda _message: None)
    say(f"reading the record of {version}")
    import polars as pl

    from mlops_assets.core.features import TARGET, feature_code_version, order_column
    from mlops_assets.core.model import TrainConfig, train_model
    from mlops_assets.core.spec import load_spec
    from mlops_assets.platform.frames import read_features, rows_digest
    from mlops_assets.platform.model_store import library_versions, save_version

    ref = version_ref(lakefs, ds, version)
    record = lakefs.get_json(ref, layout.model_dir(ds, version) + "record.json")
    spec = spec or load_spec(record.get("dataset") or ds)
    data_commit = record["data_commit"]
    try:
        lakefs.resolve(data_commit)
    except LakeFSNotFoundError:
        raise RegistryError(f"data commit {data_commit} of {version} is gone from "
                            f"{lakefs.repository}: cannot reproduce") from None
    recorded_hyper = dict(record["hyperparameters"])
    hyper_dict = {**recorded_hyper, **(overrides or {})}
    hyper = TrainConfig.from_dict(hyper_dict)
    say(f"reading {len(record['train_batches'])} batch(es) of features at data commit "
        f"{data_commit[:12]}")
    frame = read_features(lakefs, data_commit, ds, record["train_batches"]).filter(
        pl.col(TARGET).is_not_null()
    )
    say(f"training on {frame.height} rows (seed {hyper.seed}, up to {hyper.max_epochs} epochs)")
    trained = train_model(
        frame,
        numeric=record["numeric_features"],
        categorical=record["categorical_features"],
        target=TARGET,
        task=record["task"],
        time_column=record.get("time_column") or order_column(spec),
        config=hyper,
        progress=progress,
    )
    now = {
        "training_rows": frame.height,
        "training_rows_sha256": rows_digest(frame),
        "feature_code_version": feature_code_version(spec),
        "library_versions": library_versions(),
        "hyperparameters": json.loads(json.dumps(asdict(hyper))),
    }
    differences = [
        InputDifference(f"hyperparameters.{k}", recorded_hyper.get(k), v)
        for k, v in now["hyperparameters"].items() if recorded_hyper.get(k) != v
    ]
    differences += [
        InputDifference(f"library_versions.{k}", record["library_versions"].get(k), v)
        for k, v in now["library_versions"].items() if record["library_versions"].get(k) != v
    ]
    differences += [
        InputDifference(k, record.get(k), now[k])
        for k in ("feature_code_version", "training_rows", "training_rows_sha256")
        if record.get(k) != now[k]
    ]
    branch = scratch_branch or f"reproduce-{version}-{uuid.uuid4().hex[:6]}"
    if branch == lakefs.default_branch:
        raise RegistryError("reproduction never writes to the published branch")
    say(f"writing the weights on scratch branch {branch}")
    lakefs.create_branch(branch, data_commit, exist_ok=True)
    try:
        saved = save_version(lakefs, branch, ds, version, trained, {
            **record, **now, "reproduction_of": ref, "seed": hyper.seed,
            "created_at": datetime.now(UTC).isoformat(),
        })
        commit = lakefs.commit(branch, f"{ds}: reproduce {version}", metadata={
            "model_version": version, "reproduction_of": ref, "code_version": CODE_VERSION,
            "mlops_assets_command": "reproduce",
        })
    finally:
        if not keep_branch:
            lakefs.delete_branch(branch)
    return Reproduction(
        version=version,
        identical=saved["weights_sha256"] == record["weights_sha256"],
        recorded_sha256=record["weights_sha256"],
        reproduced_sha256=saved["weights_sha256"],
        data_commit=data_commit,
        scratch_branch=branch if keep_branch else None,
        scratch_commit=commit,
        training_rows=frame.height,
        differences=differences,
    )


