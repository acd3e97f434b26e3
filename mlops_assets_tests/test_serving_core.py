"""The serving cores without a server: request validation (the batch audit's rules, fast path
and audit agree), online features equal to the batch features, sticky canary assignment, the
canary verdict, the traffic buffer and the Prometheus text."""

import numpy as np
import polars as pl
import pytest

from mlops_assets.core.features import build_features
from mlops_assets.core.sources import extract_batch
from mlops_assets.core.spec import load_spec
from mlops_assets.core.validation import validate_batch
from mlops_assets.serving.canary import CanaryPolicy, assign_challenger, judge
from mlops_assets.serving.online_features import OnlineFeatures
from mlops_assets.serving.prom import Metrics
from mlops_assets.serving.rows import RowsError, _fast_frame, online_spec, rows_frame
from mlops_assets.serving.traffic import ServedRow, TrafficBuffer, batch_frame

SPEC = load_spec("synthetic")
ROW = {"event_id": 1, "event_ts": "2024-01-05T10:00:00", "x1": 0.1, "x2": 1, "x3": -2.0,
       "segment": "a"}


@pytest.mark.parametrize(("row", "field", "rule"), [
    ({**ROW, "x1": 99}, "x1", "range"),
    ({**ROW, "x1": "abc"}, "x1", "schema"),
    ({k: v for k, v in ROW.items() if k != "x2"}, "x2", "schema"),
    ({**ROW, "event_ts": "2025-01-01T00:00:00"}, "event_ts", "in_window"),
    ({**ROW, "label": 1}, "label", "schema"),
    ({**ROW, "ssn": "123"}, "ssn", "schema"),
    ({**ROW, "segment": None}, "segment", "not_null"),
    ({**ROW, "event_ts": "yesterday"}, "event_ts", "schema"),
])
def test_bad_rows_name_field_and_rule(row, field, rule):
    with pytest.raises(RowsError) as caught:
        rows_frame([row], SPEC)
    assert (field, rule) in {(e.field, e.rule) for e in caught.value.errors}


def test_duplicate_keys_and_shapes():
    with pytest.raises(RowsError, match="unique_keys"):
        rows_frame([ROW, ROW], SPEC)
    for body in ([], "x", [1]):
        with pytest.raises(RowsError):
            rows_frame(body, SPEC)


def test_fast_path_agrees_with_the_batch_audit():
    """Whatever the fast path accepts, the batch audit accepts too, with the same values; text
    the fast path leaves alone ("3.0", a space-separated time) is judged by the audit."""
    rng = np.random.default_rng(0)
    candidates = [ROW, {**ROW, "x2": 2**30}, {**ROW, "x1": 20.0}, {**ROW, "x1": 20.000001},
                  {**ROW, "event_ts": "2024-02-29 23:59:59.999999"}, {**ROW, "x3": "3.0"},
                  {**ROW, "event_id": 2.0}, {**ROW, "segment": 3}]
    candidates += [{**ROW, "x1": float(v)} for v in rng.normal(0, 15, 20)]
    for row in candidates:
        fast = _fast_frame([row], SPEC)
        view = online_spec(SPEC)
        frame = pl.DataFrame({k: [v] for k, v in row.items()}).with_columns(
            pl.lit(None, dtype=pl.Int8).alias("label"))
        audit = validate_batch(frame, view, view.partition_keys()[0]).passed
        if fast is not None:
            assert audit, row
            assert fast.equals(rows_frame([row], SPEC)), row
        else:
            try:
                rows_frame([row], SPEC)
                accepted = True
            except RowsError:
                accepted = False
            assert accepted == audit, row


def test_online_features_equal_batch_features():
    keys = [f"2024-01-{d:02d}" for d in range(1, 13)]
    batches = [extract_batch(SPEC, k) for k in keys]
    history, new = pl.concat(batches[:-1]), batches[-1]
    expected = build_features(pl.concat([history, new]).lazy(), SPEC).collect().filter(
        pl.col("event_ts") >= pl.datetime(2024, 1, 12))
    online = OnlineFeatures(SPEC, history, "commit")
    rows = new.drop("label").with_columns(
        pl.col("event_ts").dt.strftime("%Y-%m-%dT%H:%M:%S%.f")).to_dicts()
    built = online.build(rows_frame(rows[::-1], SPEC))  # order of the request is kept
    assert built.columns == expected.columns
    assert built.drop("target").equals(expected.drop("target").reverse())
    single = online.build(rows_frame(rows[:1], SPEC))
    assert single.drop("target").equals(expected.drop("target").head(1))


def test_canary_assignment_is_sticky_and_near_the_share():
    keys = [f"user-{i}" for i in range(20_000)]
    picked = [assign_challenger(k, 0.2, "v9") for k in keys]
    assert abs(np.mean(picked) - 0.2) < 0.015
    assert picked == [assign_challenger(k, 0.2, "v9") for k in keys]
    assert not any(assign_challenger(k, 0.0, "v9") for k in keys[:100])
    assert all(assign_challenger(k, 1.0, "v9") for k in keys[:100])


def test_judge_promotes_a_better_challenger_and_stops_a_worse_one():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 600).astype(float)
    good = y + rng.normal(0, 0.5, 600)
    poor = y + rng.normal(0, 3.0, 600)
    policy = CanaryPolicy(min_labels=100)
    kw = {"champion_version": "a", "challenger_version": "b", "policy": policy}
    assert judge(y[:50], poor[:50], good[:50], **kw).action == "continue"
    better = judge(y, poor, good, **kw)
    assert better.action == "promote" and better.decision["p_value"] <= 0.05
    worse = judge(y, good, poor, **kw)
    assert worse.action == "stop" and "worse" in worse.reason
    same = judge(y, good, good, **kw)
    assert same.action == "continue"
    assert judge(y, good, good, champion_version="a", challenger_version="b",
                 policy=CanaryPolicy(min_labels=100, max_labels=500)).action == "stop"


def test_buffer_joins_labels_and_flushes_idle_windows():
    buffer = TrafficBuffer(idle_seconds=10)
    raw = rows_frame([ROW], SPEC).to_dicts()[0]
    buffer.add([ServedRow("r1", 0, "2024-01-05", raw, "champion", "v", 0.3, 0.0)], now=0.0)
    assert buffer.label("r1", 0, 1, now=5.0) is not None
    assert buffer.label("nope", 0, 1, now=5.0) is None
    assert buffer.due(now=14.0) == [] and buffer.due(now=15.0) == ["2024-01-05"]
    rows = buffer.take("2024-01-05")
    frame = batch_frame(rows, SPEC)
    assert frame.columns == [c.name for c in SPEC.columns] and frame["label"].to_list() == [1]
    assert validate_batch(frame, SPEC, "2024-01-05").passed
    assert buffer.label("r1", 0, 0, now=20.0) is None  # flushed: late labels are counted out


def test_prometheus_text():
    m = Metrics()
    m.inc("requests_total", "requests", endpoint="predict", status="200")
    m.observe(0.003, endpoint="predict")
    text = m.render()
    assert 'mlops_serving_requests_total{endpoint="predict",status="200"} 1' in text
    assert 'mlops_serving_request_duration_seconds_bucket{endpoint="predict",le="0.005"} 1' in text
    assert "# TYPE mlops_serving_request_duration_seconds histogram" in text


def test_column_checks_equal_the_per_value_rule():
    """The bulk check of a column accepts and converts exactly what plain_value does per value."""
    from mlops_assets.core.spec import ColumnSpec
    from mlops_assets.serving.rows import _NOT_PLAIN, _plain_column, plain_value

    columns = [ColumnSpec(name="f", kind="numeric", dtype="Float64", nullable=False, min=-20,
                          max=20),
               ColumnSpec(name="g", kind="numeric", dtype="Float32", nullable=True),
               ColumnSpec(name="i", kind="numeric", dtype="Int8", nullable=False, min=0),
               ColumnSpec(name="u", kind="categorical", dtype="UInt16", nullable=True),
               ColumnSpec(name="s", kind="categorical", dtype="String", nullable=False),
               ColumnSpec(name="b", kind="categorical", dtype="Boolean", nullable=False),
               ColumnSpec(name="t", kind="timestamp", dtype="Datetime", nullable=False)]
    candidates = [[0.5, -3.0], [0.5, 21.0], [-20.0, 20.0], [1, 2.5], [2**25, 1.0],
                  [float("nan")], [float("inf"), 1.0], [None, 1.0], [1, 2], [0, 127], [128],
                  [-1, 5], [70000], [True, 1], [False], ["a", "b"], ["a", 1],
                  ["2024-01-05T10:00:00"], ["2024-01-05 10:00:00.5", "2024-01-05T10:00:00"],
                  ["x"], [None]]
    for col in columns:
        for values in candidates:
            each = [plain_value(v, col) for v in values]
            want = None if any(v is _NOT_PLAIN for v in each) else each
            got = _plain_column(list(values), col)
            assert got == want and [type(v) for v in got or []] == [type(v) for v in want or []], \
                (col.name, values)
