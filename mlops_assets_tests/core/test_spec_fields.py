"""Spec fields that fit real files without Python: each one onboards a file that needs it from
YAML alone, and a wrong value fails naming the file and the field."""

from pathlib import Path

import polars as pl
import pytest
import yaml

from mlops_assets.core.features import build_features
from mlops_assets.core.sources import extract_batch, prepared_frame, read_batch_file
from mlops_assets.core.spec import SpecError, load_spec, load_specs, resolve_monitoring
from mlops_assets.core.spec.loading import dataset_entries

COLUMNS = [
    {"name": "id", "kind": "categorical", "dtype": "Int64", "nullable": False},
    {"name": "wind speed", "kind": "numeric", "dtype": "Float64"},
    {"name": "x-1", "kind": "numeric", "dtype": "Float64"},
    {"name": "label", "kind": "numeric", "dtype": "Int8", "min": 0, "max": 1},
]


def write_spec(folder: Path, **fields) -> Path:
    spec = {
        "name": "fields", "sources": [{"name": "main", "path": "a.csv"}],
        "time_column": None, "batch": {"rows": 4, "count": 2},
        "target": {"column": "label", "task": "binary"}, "keys": ["id"],
        "columns": COLUMNS, "features": {"numeric": ["wind speed", "x-1"]},
    }
    spec.update(fields)
    path = folder / "fields.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def test_concatenated_files_with_renames_and_an_unnamed_index_column(tmp_path):
    # a reference file with an unnamed index column, an analysis file without one and with a
    # differently named column: diagonal concatenation after renames.
    (tmp_path / "ref.csv").write_text(
        ",id,wind speed,x-1,label\n0,1,1.0,0.5,0\n1,2,2.0,0.1,1\n2,3,3.0,0.2,0\n3,4,4.0,0.3,1\n")
    (tmp_path / "ana.csv").write_text(
        "id,wind speed,x_1,label\n5,1.5,0.4,1\n6,2.5,0.6,0\n7,3.5,0.7,1\n8,4.5,0.8,0\n")
    spec = load_spec(write_spec(tmp_path, sources=[{
        "name": "main", "path": ["ref.csv", "ana.csv"], "how": "diagonal",
        "rename": {"": "row_number", "x_1": "x-1"}}]))
    frame = prepared_frame(spec).collect()
    assert frame.height == 8 and frame["x-1"].null_count() == 0
    batch = extract_batch(spec, "00001")
    assert batch["id"].to_list() == [5, 6, 7, 8] and batch["__row"].to_list() == [4, 5, 6, 7]
    feats = build_features(batch.lazy(), spec).collect()  # names with spaces and hyphens work
    assert {"wind speed", "x-1"} <= set(feats.columns)


def test_declared_join_brings_the_target_from_its_own_file(tmp_path):
    (tmp_path / "a.csv").write_text("id,wind speed,x-1\n" + "".join(
        f"{i},{i}.0,0.{i}\n" for i in range(8)))
    (tmp_path / "labels.csv").write_text("id,label\n" + "".join(
        f"{i},{i % 2}\n" for i in range(8)))
    spec = load_spec(write_spec(tmp_path, sources=[
        {"name": "main", "path": "a.csv"}, {"name": "labels", "path": "labels.csv"}],
        joins=[{"source": "labels", "on": "id", "how": "left"}]))
    assert extract_batch(spec, "00000")["label"].to_list() == [0, 1, 0, 1]


def test_categorical_and_enum_parquet_columns_read_as_categories(tmp_path):
    frame = pl.DataFrame({"id": range(8), "wind speed": [1.0] * 8, "x-1": [0.5] * 8,
                          "label": [0, 1] * 4, "g": ["a", "b"] * 4, "e": ["x", "y"] * 4})
    frame = frame.with_columns(pl.col("g").cast(pl.Categorical),
                               pl.col("e").cast(pl.Enum(["x", "y"])))
    frame.write_parquet(tmp_path / "a.parquet")
    columns = [*COLUMNS, {"name": "g", "kind": "categorical", "dtype": "String"},
               {"name": "e", "kind": "categorical", "dtype": "String"}]
    spec = load_spec(write_spec(tmp_path, sources=[{"name": "main", "path": "a.parquet"}],
                                columns=columns,
                                features={"numeric": ["wind speed"], "categorical": ["g", "e"]}))
    batch = extract_batch(spec, "00000")
    assert batch.schema["g"] == pl.String and batch["e"].to_list() == ["x", "y"] * 2
    frame.slice(0, 4).write_parquet(tmp_path / "00000.parquet")  # a landed file too
    assert read_batch_file(tmp_path / "00000.parquet", spec, "00000").schema["g"] == pl.String


TIME_COLUMNS = [{"name": "ts", "kind": "timestamp", "dtype": "Datetime", "nullable": False},
                *COLUMNS]


@pytest.mark.parametrize("time_from, parts", [
    ({"date": "day", "hour": "hour"}, "day,hour\n2024-01-01,{h}"),
    ({"day_index": "day", "start": "2024-01-01"}, "day\n{d}"),
])
def test_time_column_from_parts_gives_time_batches(tmp_path, time_from, parts):
    header, row = parts.split("\n")
    lines = [f"id,wind speed,x-1,label,{header}"]
    for i in range(48):
        day, hour = divmod(i, 24) if "hour" in time_from else (i // 12, 0)
        values = row.replace("{h}", str(hour)).replace("{d}", str(day))
        if "hour" in time_from:
            values = values.replace("2024-01-01", f"2024-01-0{1 + day}")
        lines.append(f"{i},1.0,0.5,{i % 2},{values}")
    (tmp_path / "a.csv").write_text("\n".join(lines) + "\n")
    spec = load_spec(write_spec(tmp_path, time_column="ts", time_from=time_from,
                                columns=TIME_COLUMNS, keys=["id"],
                                batch={"frequency": "1d", "start": "2024-01-01",
                                       "end": "2024-01-04"}))
    sizes = [extract_batch(spec, k).height for k in spec.partition_keys()]
    assert sizes == ([24, 24, 0, 0] if "hour" in time_from else [12, 12, 12, 12])
    if "hour" in time_from:
        assert extract_batch(spec, "2024-01-02")["ts"][5].hour == 5


def test_monitoring_windows_in_rows_or_days_become_batches(tmp_path):
    (tmp_path / "a.csv").write_text("id\n")
    rows = load_spec(write_spec(tmp_path, batch={"rows": 500, "count": 40}, monitoring={
        "min_positives": 5, "retrain_window": {"rows": 20_000}, "eval_window": {"rows": 1_200}}))
    resolved = resolve_monitoring(rows)
    assert (resolved.min_positives, resolved.min_negatives) == (5, 10)
    assert (resolved.retrain_batches, resolved.eval_batches) == (40, 3)
    days = load_spec(write_spec(tmp_path, time_column="ts", columns=TIME_COLUMNS, batch={
        "frequency": "6h", "start": "2024-01-01", "end": "2024-03-01"},
        monitoring={"retrain_window": {"days": 30}, "eval_window": {"batches": 8}}))
    assert (resolve_monitoring(days).retrain_batches, resolve_monitoring(days).eval_batches) \
        == (120, 8)
    small = resolve_monitoring(load_spec(write_spec(tmp_path, batch={"rows": 61, "count": 3})))
    assert (small.min_positives, small.min_labelled_rows) == (3, 10)  # adapted to 61 rows


@pytest.mark.parametrize("fields, message", [
    ({"monitoring": {"retrain_window": {"days": 30}}},
     "monitoring.retrain_window.days: needs time batches"),
    ({"monitoring": {"eval_window": {"rows": 10, "batches": 2}}},
     "monitoring.eval_window: give exactly one of rows, days, batches"),
    ({"monitoring": {"min_positives": 0}}, "monitoring.min_positives"),
    ({"sources": [{"name": "main", "path": "a.csv"}, {"name": "labels", "path": "b.csv"}]},
     "joins: sources ['labels'] are not joined"),
    ({"sources": [{"name": "main", "path": "a.csv"}, {"name": "labels", "path": "b.csv"}],
      "joins": [{"source": "lables", "on": "id"}]}, "joins[0].source: 'lables' is not a source"),
    ({"joins": [{"source": "main", "on": "id", "how": "outer"}]}, "joins[0].how"),
    ({"sources": [{"name": "main", "path": "a.csv", "how": "diagonal"}]},
     "sources[0]: how: only applies when path lists several files"),
    ({"sources": [{"name": "main", "path": "a.csv", "rename": {"": " "}}]},
     "sources[0]: rename: new names must be non-empty"),
    ({"time_from": {"date": "day"}}, "time_from: needs a time_column"),
    ({"time_from": {"day_index": "day"}}, "time_from: day_index needs start"),
    ({"time_from": {"date": "d", "start": "2024-01-01"}}, "time_from: start goes with"),
])
def test_wrong_values_name_the_file_and_the_field(tmp_path, fields, message):
    path = write_spec(tmp_path, **fields)
    with pytest.raises(SpecError) as error:
        load_spec(path)
    assert str(path) in str(error.value) and message in str(error.value)


def test_specs_come_from_a_folder_and_a_list(tmp_path):
    (tmp_path / "a.csv").write_text("id\n")
    write_spec(tmp_path)
    env = {"MLOPS_ASSETS_DATASETS_DIR": str(tmp_path), "MLOPS_ASSETS_DATASET": "synthetic"}
    assert [s.name for s in load_specs(dataset_entries(env))] == ["fields", "synthetic"]
    assert dataset_entries({}) == ["nycflights13"]
    assert dataset_entries({"MLOPS_ASSETS_DATASET": "synthetic, nycflights13"}) == [
        "synthetic", "nycflights13"]
    other = tmp_path / "other"
    other.mkdir()
    (other / "dup.yaml").write_text((tmp_path / "fields.yaml").read_text())
    with pytest.raises(SpecError, match="name: dataset 'fields' is already defined by"):
        load_specs([str(tmp_path / "fields.yaml"), str(other / "dup.yaml")])
