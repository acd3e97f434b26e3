import copy
from datetime import datetime
from pathlib import Path

import pytest
import yaml

from mlops_assets.core.spec import DatasetSpec, SpecError, load_spec, parse_spec

BASE = {
    "name": "tiny",
    "sources": [{"name": "s", "path": "data.csv"}],
    "time_column": "ts",
    "batch": {"frequency": "1d", "start": "2024-01-01", "end": "2024-01-10"},
    "target": {"column": "y", "task": "binary"},
    "keys": ["id"],
    "columns": [
        {"name": "id", "kind": "categorical", "dtype": "Int64", "nullable": False},
        {"name": "ts", "kind": "timestamp", "dtype": "Datetime", "nullable": False},
        {"name": "x", "kind": "numeric", "dtype": "Float64", "min": 0, "max": 10},
        {"name": "g", "kind": "categorical", "dtype": "String"},
        {"name": "y", "kind": "numeric", "dtype": "Int8", "nullable": False},
    ],
    "features": {"numeric": ["x", "hour_of_day"], "categorical": ["g"]},
}


def spec_with(**changes) -> dict:
    data = copy.deepcopy(BASE)
    data.update(changes)
    return data


def error_of(data: dict) -> str:
    with pytest.raises(SpecError) as info:
        parse_spec(data, "tiny.yaml")
    return str(info.value)


def test_bundled_specs_load() -> None:
    flights = load_spec("nycflights13")
    assert flights.source_file is not None and flights.source_file.name == "nycflights13.yaml"
    assert flights.time_column == "sched_dep_time_ts"
    keys = flights.partition_keys()
    assert len(keys) == 365 and keys[0] == "2013-01-01" and keys[-1] == "2013-12-31"
    synthetic = load_spec("synthetic")
    assert len(synthetic.partition_keys()) == 60
    assert synthetic.sources[0].synthetic_params() == {
        "n_batches": 60, "rows_per_batch": 500, "drift_at": 30, "seed": 7
    }


def test_batch_window_is_half_open_and_checked() -> None:
    spec = parse_spec(spec_with())
    assert spec.batch_window("2024-01-03") == (datetime(2024, 1, 3), datetime(2024, 1, 4))
    for bad in ("2024-01-11", "2023-12-31", "yesterday", "2024-01-03-00:00"):
        with pytest.raises(SpecError, match="not a partition key"):
            spec.batch_window(bad)


def test_hourly_and_row_batches() -> None:
    hourly = parse_spec(spec_with(batch={"frequency": "6h", "start": "2024-01-01",
                                         "end": "2024-01-02"}))
    keys = hourly.partition_keys()
    assert keys[:2] == ["2024-01-01-00:00", "2024-01-01-06:00"] and len(keys) == 8
    assert hourly.batch_window("2024-01-01-18:00") == (
        datetime(2024, 1, 1, 18), datetime(2024, 1, 2)
    )
    rows = parse_spec(spec_with(time_column=None, batch={"rows": 100, "count": 3},
                                features={"numeric": ["x"]}))
    assert rows.partition_keys() == ["00000", "00001", "00002"]
    assert rows.batch_rows("00002") == (200, 100)
    with pytest.raises(SpecError):
        rows.batch_window("00000")


def test_unknown_field_names_file_and_path(tmp_path: Path) -> None:
    data = spec_with()
    data["sources"][0]["formatt"] = "csv"
    data["features"]["numerics"] = ["x"]
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(SpecError) as info:
        load_spec(path)
    msg = str(info.value)
    assert str(path) in msg
    assert "sources[0].formatt: unknown field" in msg
    assert "features.numerics: unknown field" in msg


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"keys": ["id", "nope"]}, "keys[1]: 'nope' is not a declared column"),
        ({"time_column": "x"}, "time_column: 'x' is not of kind timestamp"),
        ({"target": {"column": "y", "task": "binary", "expression": "y >>> 1"}},
         "target.expression: cannot parse"),
        ({"target": {"column": "x", "task": "regression"}},
         "target column 'x' cannot be a feature"),
        ({"features": {"numeric": ["missing_col"]}},
         "features.numeric[0]: 'missing_col' is not a declared column"),
        ({"features": {"categorical": ["x"]}}, "features.categorical[0]: 'x' is of kind numeric"),
        ({"features": {"derived": ["z"]}}, "derived columns need a function"),
        ({"groups": ["h"]}, "groups[0]: 'h' is not a declared column"),
        ({"batch": {"frequency": "1w", "start": "2024-01-01", "end": "2024-01-10"}},
         "frequency '1w'"),
        ({"batch": {"frequency": "1d", "start": "2024-01-10", "end": "2024-01-01"}},
         "is before start"),
        ({"batch": {"rows": 10, "count": 2}}, "a dataset with a time_column has time batches"),
        ({"row_count": {"min": 5, "max": 1}}, "row_count: min 5 > max 1"),
        ({"prepare": "not a callable"}, "package.module:function"),
        ({"sources": [{"name": "s", "path": "lakefs://repo-only"}]}, "lakefs://<repo>/<ref>"),
    ],
)
def test_inconsistent_specs_are_named(change: dict, expected: str) -> None:
    msg = error_of(spec_with(**change))
    assert msg.startswith("tiny.yaml: invalid dataset spec")
    assert expected in msg


def test_column_rules_are_checked() -> None:
    data = spec_with()
    data["columns"][2] = {"name": "x", "kind": "numeric", "dtype": "Float64", "min": 5, "max": 1}
    assert "columns[2]: min 5.0 > max 1.0" in error_of(data)
    data["columns"][2] = {"name": "x", "kind": "numeric", "dtype": "Float65"}
    assert "columns[2]: dtype 'Float65' unknown" in error_of(data)
    data = spec_with()
    data["columns"][0]["nullable"] = True
    assert "keys: 'id' must be declared nullable: false" in error_of(data)


def test_missing_spec_lists_bundled() -> None:
    with pytest.raises(SpecError, match=r"no such spec file.*nycflights13"):
        load_spec("does_not_exist")


def test_source_locations() -> None:
    spec = parse_spec(spec_with(sources=[
        {"name": "a", "path": "lakefs://repo/main/raw/a.parquet"},
    ]))
    src = spec.sources[0]
    assert src.scheme == "lakefs" and src.resolved_format == "parquet"
    assert src.lakefs_location() == ("repo", "main", "raw/a.parquet")
    pkg = DatasetSpec.model_validate(spec_with(sources=[
        {"name": "a", "path": "package://dist/data/f.csv.zip"}])).sources[0]
    assert pkg.package_location() == ("dist", "data/f.csv.zip")
    assert pkg.resolved_format == "csv"
