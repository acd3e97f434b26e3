"""The bad-input corpus through the pure ingestion path: read_batch_file (what raw_batch calls)
then validate_batch (what the batch checks call). Each case fails its expected rule, with a
message that names the real offender, or is accepted because every value is exact."""

from collections import Counter
from pathlib import Path

import pytest

from mlops_assets.core.sources import BatchFileError, read_batch_file
from mlops_assets.core.validation import validate_batch
from mlops_assets_tests.bad_inputs import CORPUS, KEY, BadInput, spec_for


def ingest(path: Path, case: BadInput) -> tuple[set[str], str]:
    """(failing rules, message) as the pipeline would see them; {"file"} when unreadable."""
    spec = spec_for(case.spec)
    try:
        frame = read_batch_file(path, spec, KEY)
    except BatchFileError as error:
        return {"file"}, str(error)
    report = validate_batch(frame, spec, KEY)
    return {r.rule for r in report.failures}, report.summary()


def test_corpus_is_broad() -> None:
    assert len(CORPUS) >= 40
    assert len({c.name for c in CORPUS}) == len(CORPUS)
    counts = Counter(c.expected for c in CORPUS)
    assert {"file", "schema", "accept", "unique_keys", "range", "not_null", "in_window",
            "non_empty", "row_count"} <= set(counts)


@pytest.mark.parametrize("case", CORPUS, ids=lambda c: c.name)
def test_bad_input(case: BadInput, tmp_path: Path) -> None:
    path = tmp_path / f"{KEY}{case.suffix}"
    path.write_bytes(case.make())
    failing, message = ingest(path, case)
    if case.expected == "accept":
        assert failing == set(), message
        return
    assert failing == {case.expected, *case.also}, message
    assert case.place in message, message
    if case.expected == "file":
        assert str(path) in message
    else:
        assert f"batch {KEY}" in message
