"""A registry version loaded for serving: weights from safetensors (never pickle), the record
(data commit, feature code version) and the published history for the rolling rates."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
import polars as pl

from mlops_assets.core.fast_scoring import FastScorer, FeatureColumns
from mlops_assets.core.features import feature_code_version
from mlops_assets.core.spec import DatasetSpec
from mlops_assets.platform import layout
from mlops_assets.platform.model_store import load_version, read_pointer
from mlops_assets.serving.online_features import OnlineFeatures, history_columns


class LoadError(RuntimeError):
    """A version that cannot be served (missing, or built by other feature code)."""


@dataclass(frozen=True)
class LoadedModel:
    version: str
    data_commit: str  # the commit the version was trained on (its record)
    loaded_at_commit: str  # the main commit it was read from
    feature_code_version: str
    trained: Any
    weights_bytes: int

    @cached_property
    def scorer(self) -> FastScorer:
        return FastScorer(self.trained)

    def score(self, features: FeatureColumns | pl.DataFrame) -> np.ndarray:
        """Scores of the feature columns (or a model table): predict()'s arithmetic, in numpy."""
        if isinstance(features, pl.DataFrame):
            features = FeatureColumns.from_table(features, self.trained.numeric,
                                                 self.trained.categorical)
        return self.scorer.score(features)

    def describe(self) -> dict[str, Any]:
        return {"version": self.version, "data_commit": self.data_commit,
                "loaded_at_commit": self.loaded_at_commit,
                "feature_code_version": self.feature_code_version,
                "weights_bytes": self.weights_bytes}


def load_model(lakefs: Any, spec: DatasetSpec, commit: str, version: str,
               check_feature_code: bool = True) -> LoadedModel:
    """The version as stored at `commit`; refused when its feature pipeline version is not the
    installed one (its features would not be built the way it was trained)."""
    trained, record = load_version(lakefs, commit, spec.name, version)
    expected = feature_code_version(spec)
    recorded = record.get("feature_code_version")
    if check_feature_code and recorded != expected:
        raise LoadError(f"{version} was trained with feature code {recorded}, this service "
                        f"builds features with {expected}: refusing to serve it")
    size = len(lakefs.get_bytes(commit, layout.model_dir(spec.name, version)
                                + "weights.safetensors"))
    loaded = LoadedModel(version, record["data_commit"], commit, str(recorded), trained, size)
    _ = loaded.scorer  # built here, off the request path
    return loaded


def pointer_version(lakefs: Any, commit: str, ds: str, alias: str) -> str | None:
    pointer = read_pointer(lakefs, commit, ds, alias)
    return None if pointer is None else pointer.get("version")


def load_history(lakefs: Any, spec: DatasetSpec, commit: str) -> pl.DataFrame | None:
    """The published raw batches' columns the rolling rates need (None without rates)."""
    columns = history_columns(spec)
    if not columns:
        return None
    paths = [p for p in lakefs.list_objects(commit, layout.raw_prefix(spec.name))
             if p.endswith("batch.parquet")]
    if not paths:
        return pl.DataFrame({c: pl.Series(c, [], dtype=spec.column(c).polars_dtype)
                             for c in columns})
    frames = lakefs.get_frames(commit, paths)
    return pl.concat([f.select(columns) for f in frames], how="vertical_relaxed")


def online_features(lakefs: Any, spec: DatasetSpec, commit: str) -> OnlineFeatures:
    return OnlineFeatures(spec, load_history(lakefs, spec, commit), commit)
