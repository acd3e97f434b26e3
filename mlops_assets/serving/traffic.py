"""Served traffic back into the loop: a buffer of served rows per batch window, labels joined
as feedback arrives, flushed as landing batches.

A served row belongs to the batch window of its time column (the dataset's partition key). A
window is flushed when no prediction or label touched it for `idle_seconds`, or on demand (the
service's shutdown, `POST /v1/flush`). A flush writes, each atomically (written aside as
`.<name>.tmp`, then renamed):

- `<landing>/<ds>/<key>.parquet`: the dataset's raw columns of the window's labelled rows (plus
  unlabelled ones when the spec's target column is nullable), merged with a file already there,
  so the landing sensor ingests production traffic as a batch of the dataset;
- `<landing>/<ds>/_served/<key>.<stamp>.parquet`: every served row with its request id, time,
  the served and shadow scores, model versions and label (null while unknown): the full log.
  The landing sensor looks at files only, so the `_served` folder is never ingested.

:class:`TrafficBuffer` is pure (the clock is passed in); :func:`write_window` does the I/O.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from mlops_assets.core.spec import DatasetSpec


@dataclass
class ServedRow:
    request_id: str
    row: int
    key: str
    raw: dict[str, Any]
    served_by: str
    model_version: str
    score: float
    at: float
    shadow_version: str | None = None
    shadow_score: float | None = None
    label: Any = None


@dataclass
class _Window:
    rows: dict[tuple[str, int], ServedRow] = field(default_factory=dict)
    touched: float = 0.0


class TrafficBuffer:
    def __init__(self, idle_seconds: float) -> None:
        self.idle_seconds = idle_seconds
        self._windows: dict[str, _Window] = {}
        self._where: dict[str, str] = {}  # request id -> window key

    def add(self, rows: list[ServedRow], now: float) -> None:
        for r in rows:
            window = self._windows.setdefault(r.key, _Window())
            window.rows[(r.request_id, r.row)] = r
            window.touched = now
            self._where[r.request_id] = r.key

    def label(self, request_id: str, row: int, value: Any, now: float) -> ServedRow | None:
        """Attach a label; the row, or None when the request is unknown or already flushed."""
        key = self._where.get(request_id)
        window = self._windows.get(key) if key is not None else None
        served = window.rows.get((request_id, row)) if window is not None else None
        if served is None or window is None:
            return None
        served.label = value
        window.touched = now
        return served

    def due(self, now: float) -> list[str]:
        return sorted(k for k, w in self._windows.items() if now - w.touched >= self.idle_seconds)

    def keys(self) -> list[str]:
        return sorted(self._windows)

    def take(self, key: str) -> list[ServedRow]:
        window = self._windows.pop(key, None)
        if window is None:
            return []
        for request_id, _ in window.rows:
            self._where.pop(request_id, None)
        return list(window.rows.values())

    @property
    def pending_rows(self) -> int:
        return sum(len(w.rows) for w in self._windows.values())


def batch_frame(rows: list[ServedRow], spec: DatasetSpec) -> pl.DataFrame:
    """The dataset-shaped batch: raw columns with the label as the target column."""
    target = spec.column(spec.target.column)
    keep = [r for r in rows if r.label is not None or target.nullable]
    data = {c.name: pl.Series(c.name, [r.label if c.name == target.name else r.raw.get(c.name)
                                       for r in keep], dtype=c.polars_dtype)
            for c in spec.columns}
    return pl.DataFrame(data)


def log_frame(rows: list[ServedRow]) -> pl.DataFrame:
    return pl.DataFrame({
        "request_id": [r.request_id for r in rows],
        "row": pl.Series([r.row for r in rows], dtype=pl.Int32),
        "served_at": pl.Series([r.at for r in rows], dtype=pl.Float64),
        "served_by": [r.served_by for r in rows],
        "model_version": [r.model_version for r in rows],
        "score": pl.Series([r.score for r in rows], dtype=pl.Float64),
        "shadow_version": pl.Series([r.shadow_version for r in rows], dtype=pl.String),
        "shadow_score": pl.Series([r.shadow_score for r in rows], dtype=pl.Float64),
        "label": pl.Series([None if r.label is None else float(r.label) for r in rows],
                           dtype=pl.Float64),
        "inputs": [str(r.raw) for r in rows],
    })


def _write_atomic(frame: pl.DataFrame, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    frame.write_parquet(tmp)
    os.replace(tmp, path)


def write_window(landing: Path, spec: DatasetSpec, key: str, rows: list[ServedRow]) -> dict:
    """Write one window's batch (merged with an earlier one) and its served log."""
    folder = landing / spec.name
    batch = batch_frame(rows, spec)
    target = folder / f"{key}.parquet"
    written: dict[str, Any] = {"key": key, "served_rows": len(rows), "batch_rows": 0}
    if batch.height:
        if target.is_file():
            earlier = pl.read_parquet(target)
            order = [c for c in (spec.time_column, *spec.keys) if c]
            batch = pl.concat([earlier, batch], how="vertical_relaxed").unique(
                subset=spec.keys, keep="last", maintain_order=True).sort(order)
        _write_atomic(batch, target)
        written.update(batch_rows=batch.height, batch=str(target))
    log = folder / "_served" / f"{key}.{time.time_ns()}.parquet"
    _write_atomic(log_frame(rows), log)
    written["log"] = str(log)
    return written
