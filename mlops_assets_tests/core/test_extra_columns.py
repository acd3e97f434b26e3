"""Columns outside the spec never reach main silently (issue #13): by default the schema audit
fails naming them; ``extra_columns: drop`` removes them at ingestion."""

from pathlib import Path

import polars as pl
import pytest
import yaml

from mlops_assets.core.sources import read_batch_file
from mlops_assets.core.spec import SpecError, load_spec
from mlops_assets.core.validation import validate_batch
from mlops_assets_tests.bad_inputs import KEY, good, spec_for


def with_ssn() -> pl.DataFrame:
    return good().with_columns(pl.lit("123-45-6789").alias("ssn"))


def spec_file(tmp_path: Path, **changes: object) -> Path:
    data = yaml.safe_load(Path(spec_for("synthetic").source_file).read_text())
    data.update(changes)
    path = tmp_path / "synthetic.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_extra_column_fails_the_schema_audit_by_default(tmp_path: Path) -> None:
    spec = spec_for("synthetic")
    assert spec.extra_columns == "fail"
    with_ssn().write_parquet(tmp_path / "b.parquet")
    read = read_batch_file(tmp_path / "b.parquet", spec, KEY)
    assert "ssn" in read.columns  # left for the audit to name
    report = validate_batch(read, spec, KEY)
    assert [(r.rule, r.column) for r in report.failures] == [("schema", "ssn")]
    assert ("schema: batch 2024-01-05, column ssn is not in the spec (declare it, remove it, or "
            "set extra_columns: drop)") in report.summary()


def test_extra_columns_drop(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    spec = load_spec(spec_file(tmp_path, extra_columns="drop"))
    with_ssn().write_csv(tmp_path / "b.csv")
    read = read_batch_file(tmp_path / "b.csv", spec, KEY)
    assert read.equals(good())
    assert "dropped columns not in the synthetic spec: ssn" in caplog.text
    assert validate_batch(read, spec, KEY).passed
    # A frame that still carries the column (not read through ingestion) is not published.
    report = validate_batch(with_ssn(), spec, KEY)
    assert "not dropped at ingestion" in report.summary()


def test_bad_extra_columns_value_names_file_and_field(tmp_path: Path) -> None:
    path = spec_file(tmp_path, extra_columns="keep")
    with pytest.raises(SpecError, match=r"synthetic\.yaml: invalid dataset spec: extra_columns: "
                                         r"Input should be 'fail' or 'drop'"):
        load_spec(path)


def test_reserved_column_names(tmp_path: Path) -> None:
    data = yaml.safe_load(Path(spec_for("synthetic").source_file).read_text())
    data["columns"].append({"name": "__row", "kind": "numeric", "dtype": "Int64"})
    path = tmp_path / "synthetic.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(SpecError, match=r"columns: \['__row'\] are reserved"):
        load_spec(path)
