"""Scoring a few rows without a polars query: the same arithmetic as :func:`core.model.predict`.

``predict`` builds the model's inputs with a polars query (standardise the numeric features,
look the categories up in the vocabulary) and suits large frames; for one request row that query
costs more than the forward pass. :class:`FastScorer` does the same operations in numpy / a dict
on :class:`FeatureColumns` (the model table's feature columns, by name) and runs the module in the
same chunks, so the scores are identical (checked in mlops_assets_tests/core/test_fast_scoring).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl


@dataclass(frozen=True)
class FeatureColumns:
    """The feature columns of a model table: numeric ones as float32 arrays, categorical ones
    as lists of strings (nulls already "__null__"), each of length ``height``."""

    height: int
    numeric: dict[str, np.ndarray]
    categorical: dict[str, list[str]]

    @classmethod
    def from_table(cls, table: pl.DataFrame, numeric: list[str],
                   categorical: list[str]) -> FeatureColumns:
        return cls(table.height,
                   {c: table.get_column(c).cast(pl.Float32).to_numpy() for c in numeric},
                   {c: table.get_column(c).cast(pl.String).to_list() for c in categorical})


class FastScorer:
    """A trained model's scoring with its preprocessing precomputed (means, stds, vocabularies)."""

    def __init__(self, trained: Any) -> None:
        self.m = trained
        trained.module.eval()  # predict() switches to eval per call; a served model stays there
        state = trained.preprocessing
        self._num = [(c, float(state["numeric"][c]["mean"]), float(state["numeric"][c]["std"]))
                     for c in trained.numeric]
        self._cat = [(c, {v: i + 1 for i, v in enumerate(state["categorical"][c])})
                     for c in trained.categorical]

    def inputs(self, feats: FeatureColumns) -> tuple[Any, Any]:
        """(x_num, x_cat) exactly as ``model._transform`` builds them from the model table."""
        import torch

        n = feats.height
        x_num = np.empty((n, len(self._num)), dtype=np.float32)
        for j, (c, mean, std) in enumerate(self._num):
            x = feats.numeric[c].astype(np.float64)
            x[np.isnan(x)] = mean  # fill_nan(None).fill_null(mean)
            x_num[:, j] = ((x - mean) / std).astype(np.float32)
        x_cat = np.zeros((n, len(self._cat)), dtype=np.int64)  # unseen / rare / null -> 0
        for j, (c, vocab) in enumerate(self._cat):
            x_cat[:, j] = [vocab.get(v, 0) for v in feats.categorical[c]]
        return torch.from_numpy(x_num), torch.from_numpy(x_cat)

    def score(self, feats: FeatureColumns) -> np.ndarray:
        """Probabilities (binary) or target-scale values (regression), float64, one per row."""
        import torch

        m = self.m
        x_num, x_cat = self.inputs(feats)
        out = np.empty(feats.height, dtype=np.float64)
        bs = m.config.predict_batch_size  # the same chunks as predict: the same kernels
        with torch.inference_mode():
            for start in range(0, feats.height, bs):
                raw = m.module(x_num[start:start + bs], x_cat[start:start + bs])
                if m.task == "binary":
                    raw = torch.sigmoid(raw)
                out[start:start + raw.shape[0]] = raw.double().numpy()
        if m.task == "regression":
            t = m.preprocessing["target"]
            out = out * t["std"] + t["mean"]
        return out
