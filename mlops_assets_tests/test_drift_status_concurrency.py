"""Two drift runs of one dataset that overlap (batches landing in different sensor ticks, a run
queue with several slots) both publish, and the champion's status keeps both runs' verdicts.
Found by the stack throughput benchmark: the second publish failed with HTTP 409 on
`drift_status.json` and `model_card.md`, and its drift reports never reached main."""

import pytest

from mlops_assets.core.check_names import DATA_DRIFT, PERFORMANCE
from mlops_assets.core.model_card import DRIFT_STATUS_PREFIX
from mlops_assets.defs.monitoring.status import publish_drift_reports

pytestmark = pytest.mark.lakefs

MODEL_DIR = "models/ds/v1/"


def _doc(drifted: bool) -> dict:
    return {"verdicts": {DATA_DRIFT: drifted, PERFORMANCE: False}, "in_sample": False}


def _publish(lakefs, branch: str, batches: dict[str, bool]):
    per_batch = {k: _doc(v) for k, v in batches.items()}
    reports = {f"drift/ds/{k}.json": doc for k, doc in per_batch.items()}
    return publish_drift_reports(
        lakefs, branch, MODEL_DIR, "v1", per_batch, reports,
        commit=lambda: lakefs.commit(branch, f"{branch}: drift reports"),
        publish=lambda: lakefs.merge(branch, "main", message=f"publish {branch}"))


def test_overlapping_drift_runs_both_publish_and_keep_each_others_verdicts(lakefs):
    lakefs.put_bytes("main", MODEL_DIR + "model_card.md",
                     f"# v1\n\n{DRIFT_STATUS_PREFIX} not assessed yet\n".encode())
    lakefs.commit("main", "champion v1")
    # Both runs branch off main before either publishes: the race the benchmark hit.
    lakefs.create_branch("run-a", "main")
    lakefs.create_branch("run-b", "main")

    _, status_a = _publish(lakefs, "run-a", {"2024-02-01": False})
    _, status_b = _publish(lakefs, "run-b", {"2024-02-02": True})

    assert set(status_a["verdicts"]) == {"2024-02-01"}
    published = lakefs.get_json("main", MODEL_DIR + "drift_status.json")
    assert published == status_b
    assert set(published["verdicts"]) == {"2024-02-01", "2024-02-02"}
    assert published["verdicts"]["2024-02-02"][DATA_DRIFT] is True
    assert lakefs.exists("main", "drift/ds/2024-02-01.json")
    assert lakefs.exists("main", "drift/ds/2024-02-02.json")
    card = lakefs.get_bytes("main", MODEL_DIR + "model_card.md").decode()
    assert "2 batch(es) 2024-02-01..2024-02-02" in card and "data drift in 2024-02-02" in card


def test_a_publish_that_loses_the_race_starts_over_from_the_new_main(lakefs):
    lakefs.create_branch("run-a", "main")
    lakefs.create_branch("run-b", "main")
    per_batch = {"2024-02-03": _doc(False)}
    calls = []

    def publish_after_a_rival():
        # Another run publishes between this run's commit and its merge, once.
        if not calls:
            _publish(lakefs, "run-a", {"2024-02-01": True})
        calls.append(1)
        return lakefs.merge("run-b", "main", message="publish run-b")

    _, status = publish_drift_reports(
        lakefs, "run-b", MODEL_DIR, "v1", per_batch, {"drift/ds/2024-02-03.json": per_batch},
        commit=lambda: lakefs.commit("run-b", "drift reports"), publish=publish_after_a_rival)
    assert len(calls) == 2  # the first merge conflicted, the second went through
    assert set(lakefs.get_json("main", MODEL_DIR + "drift_status.json")["verdicts"]) == {
        "2024-02-01", "2024-02-03"}
    assert status["verdicts"].keys() == {"2024-02-01", "2024-02-03"}
