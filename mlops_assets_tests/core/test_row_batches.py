"""Row-batched datasets (no time column, ``batch: {rows, count}``), issue #10: each batch's
features hold exactly its own rows in file order, and the validation split follows file order,
not the target."""

from pathlib import Path

import polars as pl
import pytest

from mlops_assets.core.features import TARGET, build_features, order_column, rows_of_batch
from mlops_assets.core.model import TrainConfig, time_split, train_model
from mlops_assets.core.sources import extract_batch, read_batch_file, synthetic_stream
from mlops_assets.core.spec import ROW_INDEX, SpecError, parse_spec
from mlops_assets.core.validation import validate_batch

ROWS, COUNT = 500, 6
SPEC = parse_spec({
    "name": "rows_ds",
    "sources": [{"name": "s", "path": "unused.csv"}],
    "time_column": None,
    "batch": {"rows": ROWS, "count": COUNT},
    "target": {"column": "label", "task": "binary"},
    "keys": ["event_id"],
    "columns": [
        {"name": "event_id", "kind": "categorical", "dtype": "Int64", "nullable": False},
        {"name": "x1", "kind": "numeric", "dtype": "Float64", "nullable": False},
        {"name": "x2", "kind": "numeric", "dtype": "Float64", "nullable": False},
        {"name": "segment", "kind": "categorical", "dtype": "String", "nullable": False},
        {"name": "label", "kind": "numeric", "dtype": "Int8", "nullable": False},
    ],
    "features": {"numeric": ["x1", "x2"], "categorical": ["segment"]},
})
KEYS = SPEC.partition_keys()


def source() -> pl.LazyFrame:
    # File order is not key order: event ids run backwards, so a sort by key would reverse it.
    frame = synthetic_stream(n_batches=COUNT, rows_per_batch=ROWS, drift_at=COUNT, seed=3)
    return frame.drop("event_ts").with_columns(
        (pl.len() - pl.col("event_id")).alias("event_id")
    ).lazy()


def run_history() -> pl.DataFrame:
    batches = [extract_batch(SPEC, key, overrides={"s": source()}) for key in KEYS]
    for key, batch in zip(KEYS, batches, strict=True):
        assert validate_batch(batch, SPEC, key).passed
    return pl.concat(batches)


def test_each_partition_holds_exactly_its_rows_in_file_order() -> None:
    history = run_history()
    table = build_features(history.lazy(), SPEC).collect()
    assert table.height == ROWS * COUNT  # the run's table, once (not once per batch)
    expected = source().collect()["event_id"].to_list()
    parts = {key: rows_of_batch(table, SPEC, key) for key in KEYS}
    for i, (key, part) in enumerate(parts.items()):
        assert part.height == ROWS, key
        assert part[ROW_INDEX].to_list() == list(range(i * ROWS, (i + 1) * ROWS))
        assert part["event_id"].to_list() == expected[i * ROWS:(i + 1) * ROWS]  # file order
    assert sum(p.height for p in parts.values()) == table.height


def test_split_follows_file_order_and_sees_both_classes() -> None:
    table = build_features(run_history().lazy(), SPEC).collect()
    assert order_column(SPEC) == ROW_INDEX
    train, val = time_split(table, order_column(SPEC), 0.25)
    assert train[ROW_INDEX].max() < val[ROW_INDEX].min()  # the last rows validate
    assert set(train[TARGET].unique()) == {0, 1}
    assert set(val[TARGET].unique()) == {0, 1}
    # The old fallback (order by the target) is refused instead of training on one class.
    with pytest.raises(ValueError, match="is the target"):
        train_model(table, numeric=["x1", "x2"], categorical=["segment"], target=TARGET,
                    task="binary", time_column=TARGET, config=TrainConfig(max_epochs=1))


def test_landed_row_batch_gets_its_row_index(tmp_path: Path) -> None:
    batch = extract_batch(SPEC, "00002", overrides={"s": source()})
    batch.drop(ROW_INDEX).write_csv(tmp_path / "00002.csv")
    read = read_batch_file(tmp_path / "00002.csv", SPEC, "00002")
    assert read.equals(batch)
    assert read[ROW_INDEX].to_list() == list(range(2 * ROWS, 3 * ROWS))


def test_features_refuse_row_batches_without_the_row_index() -> None:
    history = run_history().drop(ROW_INDEX)
    with pytest.raises(SpecError, match="lack the row index '__row'"):
        build_features(history.lazy(), SPEC)
