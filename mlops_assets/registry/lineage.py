"""Lineage: a prediction row -> model version -> data commit -> the raw batch files."""

from dataclasses import dataclass
from typing import Any

from mlops_assets.platform import layout
from mlops_assets.platform.lakefs_client import LakeFSClient, LakeFSNotFoundError
from mlops_assets.registry.versions import RegistryError, version_ref


@dataclass
class FileLineage:
    key: str  # the batch (partition key)
    path: str
    ref: str  # the commit it was read at
    written_by: str | None  # the commit that last wrote the file as of `ref`
    message: str = ""
    dagster_run_id: str = ""


@dataclass
class Lineage:
    prediction: str
    row: int
    row_values: dict[str, Any]
    model_version: str
    model_uri: str
    weights_sha256: str
    data_commit: str
    data_commit_message: str
    feature_code_version: str
    scored_features: FileLineage | None  # the row's own input
    scored_raw: FileLineage | None
    train_features: list[FileLineage]
    train_raw: list[FileLineage]

    def text(self) -> str:
        values = ", ".join(f"{k}={v}" for k, v in self.row_values.items())
        lines = [
            f"prediction {self.prediction} row {self.row}: {values}",
            f"  -> model version {self.model_version} ({self.model_uri}, weights sha256 "
            f"{self.weights_sha256[:16]}...)",
            f"  -> trained on data commit {self.data_commit} ({self.data_commit_message!r}), "
            f"feature code version {self.feature_code_version}",
        ]
        for label, item in (("scored features", self.scored_features),
                            ("scored raw batch", self.scored_raw)):
            if item is not None:
                lines.append(f"  row input {label}: {_file_line(item)}")
        lines.append(f"  -> {len(self.train_raw)} training batches "
                     f"({self.train_raw[0].key}..{self.train_raw[-1].key}):"
                     if self.train_raw else "  -> no training batches recorded")
        for feats, raw in zip(self.train_features, self.train_raw, strict=True):
            lines.append(f"    {raw.key}: raw {_file_line(raw)}")
            lines.append(f"    {' ' * len(raw.key)}  features {_file_line(feats)}")
        return "\n".join(lines)


def _file_line(item: FileLineage) -> str:
    run = f", dagster run {item.dagster_run_id}" if item.dagster_run_id else ""
    writer = item.written_by[:12] if item.written_by else "?"
    return f"lakefs://.../{item.ref[:12]}/{item.path} written by commit {writer}{run}"


def _last_write(lakefs: LakeFSClient, ref: str, path: str, key: str) -> FileLineage:
    """The commit that last wrote `path` as of `ref` (the run-branch commit rather than the merge
    that published it, when lakeFS lists both)."""
    commits = lakefs.log(ref, max_amount=4, path=path)
    chosen = next((c for c in commits if len(c.parents) <= 1), commits[0] if commits else None)
    if chosen is None:
        return FileLineage(key, path, ref, None)
    return FileLineage(key, path, ref, chosen.id, chosen.message,
                       chosen.metadata.get("dagster_run_id", ""))


def _read_prediction(lakefs: LakeFSClient, prediction: str) -> tuple[Any, str, str]:
    """(frame, ref, path) of a prediction file: local parquet, lakefs:// URI or repository path
    (read on main)."""
    import io
    from pathlib import Path

    import polars as pl

    if prediction.startswith("lakefs://"):
        _repo, ref, path = prediction[len("lakefs://"):].split("/", 2)
        return lakefs.get_frame(ref, path), ref, path
    local = Path(prediction)
    if local.is_file():
        return pl.read_parquet(io.BytesIO(local.read_bytes())), "", str(local)
    ref = lakefs.resolve(lakefs.default_branch)
    try:
        return lakefs.get_frame(ref, prediction), ref, prediction
    except LakeFSNotFoundError:
        raise RegistryError(f"no prediction file {prediction!r} (not a local file, nor a path "
                            f"on {lakefs.default_branch})") from None


def lineage(lakefs: LakeFSClient, ds: str, prediction: str, row: int) -> Lineage:
    """Prediction row -> model version -> record -> data commit -> training batches -> the raw
    batch files in lakeFS and the commits that wrote them."""
    frame, _ref, path = _read_prediction(lakefs, prediction)
    if not -frame.height <= row < frame.height:
        raise RegistryError(f"{prediction} has {frame.height} rows; no row {row}")
    values = frame.row(row, named=True)
    version = values.get("model_version")
    if not version:
        raise RegistryError(f"{prediction} has no model_version column: not a prediction file")
    model_ref = version_ref(lakefs, ds, version)
    record = lakefs.get_json(model_ref, layout.model_dir(ds, version) + "record.json")
    data_commit = record["data_commit"]
    scored_features = scored_raw = None
    keys = layout.keys_in([path])
    if keys and values.get("data_commit"):
        scored_features = _last_write(lakefs, values["data_commit"],
                                      layout.features(ds, keys[0]), keys[0])
        scored_raw = _last_write(lakefs, values["data_commit"],
                                 layout.raw_batch(ds, keys[0]), keys[0])
    batches = record["train_batches"]
    return Lineage(
        prediction=prediction,
        row=row,
        row_values={k: v for k, v in values.items()},
        model_version=version,
        model_uri=lakefs.uri(model_ref, layout.model_dir(ds, version)),
        weights_sha256=record["weights_sha256"],
        data_commit=data_commit,
        data_commit_message=lakefs.get_commit(data_commit).message,
        feature_code_version=record.get("feature_code_version", ""),
        scored_features=scored_features,
        scored_raw=scored_raw,
        train_features=[_last_write(lakefs, data_commit, layout.features(ds, k), k)
                        for k in batches],
        train_raw=[_last_write(lakefs, data_commit, layout.raw_batch(ds, k), k)
                   for k in batches],
    )


