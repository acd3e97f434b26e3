"""The feature benchmark compares equal work (pandas table == polars table) and its --quick mode
writes well-formed results. Fast: a few thousand rows; never asserts on times."""

import json

import numpy as np
import polars as pl
import pytest

from benchmarks.features_bench import main, scaled_frame
from benchmarks.pandas_features import build_features_pandas, compare_tables, to_pandas
from mlops_assets.core.features import build_features
from mlops_assets.core.spec import load_spec


@pytest.fixture(scope="module")
def spec():
    return load_spec("nycflights13")


def test_pandas_features_equal_polars(spec):
    # Every 100th prepared row of two year-shifted copies: thin enough that groups are often
    # empty in a window (fallback to the all-group mean, 0.0 on the first day) and with nulls.
    df = scaled_frame(spec, 2 * 327_346).gather_every(100)
    # Force a few more null cases: a null tailnum/plane_year row and a null target.
    df = df.with_columns(
        pl.when(pl.int_range(pl.len()) % 97 == 0).then(None).otherwise(pl.col("arr_delay"))
        .alias("arr_delay"),
        pl.when(pl.int_range(pl.len()) % 89 == 0).then(None).otherwise(pl.col("dest"))
        .alias("dest"),
    )
    expected = build_features(df.lazy(), spec).collect()
    got = build_features_pandas(to_pandas(df), spec)
    assert compare_tables(expected, got) == []
    # The comparison is not vacuous: the cases the rules single out occur.
    assert expected["target"].null_count() > 0
    assert (expected["dest"] == "__null__").any()
    assert (expected["temp_missing"] == 1).any() and (expected["plane_age_missing"] == 1).any()
    assert (expected["carrier_count_7d"] == 0).any()
    assert expected["dest_target_rate_28d"].n_unique() > 10
    # And it detects a difference.
    got.loc[5, "dest_target_rate_28d"] = np.float32(got.loc[5, "dest_target_rate_28d"] + 0.01)
    assert compare_tables(expected, got) == ["dest_target_rate_28d"]


def test_scaled_frame_shifts_copies_by_years(spec):
    df = scaled_frame(spec, 327_346 + 10)
    years = df["sched_dep_time_ts"].dt.year()
    assert df.height == 327_356 and set(years.unique()) == {2013, 2014}
    assert df["sched_dep_time_ts"].is_sorted()
    assert df.select(spec.keys).is_unique().all()


def test_quick_run_writes_results(tmp_path):
    results = main(["--quick", "--out-dir", str(tmp_path)])
    doc = json.loads((tmp_path / "features_quick.json").read_text())
    assert doc["benchmark"] == "features_quick"
    assert doc["results"]["sizes"][0]["rows"] == results["sizes"][0]["rows"]
    machine = doc["machine"]
    assert machine["logical_cores"] >= 1 and machine["memory_total_bytes"] > 0
    assert {"polars", "pandas", "numpy", "torch"} <= set(machine["versions"])
    (size,) = doc["results"]["sizes"]
    assert size["pandas_equals_polars"] is True
    assert set(size["timings"]) == {"polars", "polars_in_memory", "pandas"}
    for t in size["timings"].values():
        assert t["repeats"] == 2 and len(t["times_s"]) == 2
        assert t["min_s"] <= t["median_s"] <= t["max_s"]
    assert np.isfinite(size["ratio_pandas_over_polars"])
    for impl, mem in size["memory"].items():
        assert mem["impl"] == impl and mem["peak_rss_bytes"] > 0
        assert mem["child_max_rss_bytes"] >= mem["peak_rss_bytes"] * 0.9
    assert "| rows | implementation |" in doc["results"]["markdown"]
