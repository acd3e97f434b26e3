"""`mlops-assets serve` for real: a lakeFS with two trained versions, the app on uvicorn on
127.0.0.1, HTTP requests. Round trip, 422s, the champion swapped under concurrent requests,
shadow, canary split, landed traffic through the real ingest and drift job, and canaries
promoted or stopped by the promotion test."""

import json
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import polars as pl
import pytest

from mlops_assets import registry
from mlops_assets.core.batch_files import read_batch_file
from mlops_assets.core.sources import extract_batch
from mlops_assets.core.spec import load_spec
from mlops_assets.core.validation import validate_batch
from mlops_assets.platform import layout
from mlops_assets.serving.app import build_app
from mlops_assets.serving.canary import CanaryPolicy
from mlops_assets.serving.config import ServeConfig
from mlops_assets.serving.loading import load_model, online_features
from mlops_assets.serving.rows import rows_frame
from mlops_assets.serving.server import ServerThread
from mlops_assets.serving.service import ServingState
from mlops_assets.serving.status import read_status
from mlops_assets.testing import make_client, pipeline_definitions, run_job

pytestmark = pytest.mark.lakefs

DS = "synthetic"
SPEC = load_spec(DS)


@pytest.fixture(scope="module")
def trained(lakefs_server, tmp_path_factory):
    """v1 (seed 0, batches to 01-10) and v2 (seed 1, to 01-13), v2 the champion."""
    lakefs = make_client(lakefs_server)
    lakefs.ensure_repository()
    landing = tmp_path_factory.mktemp("landing")
    defs = pipeline_definitions(lakefs, landing)
    assert run_job(defs, "main_job", "2024-01-01", "2024-01-10").success
    v1 = lakefs.get_json("main", layout.model_pointer(DS, "champion"))["version"]
    assert run_job(defs, "main_job", "2024-01-01", "2024-01-13", training={"seed": 1}).success
    v2 = lakefs.get_json("main", layout.model_pointer(DS, "candidate"))["version"]
    for version in (v1, v2):
        registry.tag_version(lakefs, DS, version, "main")
    if lakefs.get_json("main", layout.model_pointer(DS, "champion"))["version"] != v2:
        registry.set_alias(lakefs, DS, "champion", v2, reason="v2 for the test", actor="test")
    return lakefs, defs, landing, v1, v2


def _rows(key: str) -> list[dict]:
    return extract_batch(SPEC, key).drop("label").with_columns(
        pl.col("event_ts").dt.strftime("%Y-%m-%dT%H:%M:%S%.f")).to_dicts()


def _post(url: str, body) -> tuple[int, dict]:
    data = json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method="POST",
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as reply:
            return reply.status, json.loads(reply.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=60) as reply:
            return reply.status, reply.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


class Service:
    def __init__(self, lakefs, **config) -> None:
        self.state = ServingState(lakefs, SPEC, ServeConfig(
            dataset=DS, poll_seconds=0.3, status_seconds=0.0, **config))
        self.server = ServerThread(build_app(self.state)).start()
        self.url = self.server.url

    def predict(self, rows, **extra) -> tuple[int, dict]:
        return _post(self.url + "/v1/predict", {"rows": rows, **extra})

    def close(self) -> None:
        self.server.stop()


@pytest.fixture
def service(trained):
    made = []

    def start(**config) -> Service:
        made.append(Service(trained[0], **config))
        return made[-1]

    yield start
    for s in made:
        s.close()


def test_round_trip_probes_and_422(trained, service):
    lakefs, _defs, _landing, _v1, v2 = trained
    svc = service(landing_dir=None)
    assert _get(svc.url + "/healthz")[0] == 200
    status, body = _get(svc.url + "/readyz")
    assert status == 200 and v2 in body
    rows = _rows("2024-01-14")[:5]
    status, out = svc.predict(rows)
    record = lakefs.get_json("main", layout.model_dir(DS, v2) + "record.json")
    assert status == 200 and out["model_version"] == v2
    assert out["data_commit"] == record["data_commit"] and len(out["scores"]) == 5
    assert all(0.0 <= s <= 1.0 for s in out["scores"])
    # The scores are the batch path's: load_model + online features + predict.
    model = load_model(lakefs, SPEC, "main", v2)
    feats = online_features(lakefs, SPEC, "main").build(rows_frame(rows, SPEC))
    assert np.allclose(out["scores"], model.score(feats))
    status, ack = _post(svc.url + "/v1/feedback", {"labels": [
        {"request_id": out["request_id"], "row": i, "label": i % 2} for i in range(5)]})
    assert status == 200 and ack == {"accepted": 5, "unknown": []}
    assert _post(svc.url + "/v1/feedback", {"labels": [
        {"request_id": out["request_id"], "label": 7}]})[0] == 422

    for bad, field, rule in [({**rows[0], "x1": 1e6}, "x1", "range"),
                             ({**rows[0], "x1": "high"}, "x1", "schema"),
                             ({**rows[0], "segment": None}, "segment", "not_null")]:
        status, err = svc.predict([bad])
        assert status == 422, err
        assert {"field": field, "rule": rule} in [
            {"field": d["field"], "rule": d["rule"]} for d in err["detail"]]
    request = urllib.request.Request(svc.url + "/v1/predict", data=b"{nope", method="POST")
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request, timeout=30)
    assert caught.value.code == 422
    metrics = _get(svc.url + "/metrics")[1]
    assert f'endpoint="predict",model_version="{v2}",status="200"' in metrics
    assert 'kind="validation"' in metrics and "request_duration_seconds_bucket" in metrics


def test_champion_swap_under_concurrent_requests(trained, service):
    lakefs, _defs, _landing, v1, v2 = trained
    svc = service(landing_dir=None)
    rows = _rows("2024-01-14")
    seen: list[tuple[int, str]] = []
    stop = time.monotonic() + 600

    def hammer(worker: int) -> None:
        i = worker
        while time.monotonic() < stop and not done:
            status, out = svc.predict([rows[i % len(rows)]])
            seen.append((status, out.get("model_version", "")))
            i += 4

    done = False
    with ThreadPoolExecutor(4) as pool:
        futures = [pool.submit(hammer, w) for w in range(4)]
        try:
            time.sleep(1.0)
            registry.rollback(lakefs, DS, to=v1, reason="swap test", actor="test")
            _wait(lambda: seen and seen[-1][1] == v1, "the rollback to v1 to be served")
            registry.set_alias(lakefs, DS, "champion", v2, reason="back", actor="test")
            _wait(lambda: seen[-1][1] == v2, "v2 to be served again")
            time.sleep(0.5)
        finally:
            done = True
        for f in futures:
            f.result()
    statuses = {s for s, _ in seen}
    assert statuses == {200}, f"failed requests during the swap: {statuses}"
    assert {v for _, v in seen} == {v1, v2} and len(seen) > 20


def _wait(condition, what: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def test_shadow_never_changes_responses_and_canary_split(trained, service):
    _lakefs, _defs, _landing, v1, _v2 = trained
    rows = _rows("2024-01-14")[:60]
    plain = service(landing_dir=None)
    shadow = service(landing_dir=None, mode="shadow", challenger=f"version:{v1}")
    assert shadow.state.snapshot.challenger.version == v1
    for row in rows:
        a, b = plain.predict([row])[1], shadow.predict([row])[1]
        assert (a["scores"], a["model_version"], a["served_by"]) == (
            b["scores"], b["model_version"], b["served_by"])
    assert 'role="shadow"' in _get(shadow.url + "/metrics")[1]

    canary = service(landing_dir=None, mode="canary", challenger=f"version:{v1}",
                     canary_share=0.3)
    served = {}
    for i in range(300):
        served[f"user-{i}"] = canary.predict([rows[i % 60]], key=f"user-{i}")[1]["model_version"]
    share = sum(v == v1 for v in served.values()) / len(served)
    assert abs(share - 0.3) < 0.08, share
    for key in list(served)[:40]:  # sticky
        assert canary.predict([rows[0]], key=key)[1]["model_version"] == served[key]
    status = json.loads(_get(canary.url + "/v1/status")[1])
    assert status["mode"] == "canary" and status["challenger"]["version"] == v1


def test_landed_traffic_is_a_batch_the_pipeline_ingests(trained, service):
    lakefs, defs, landing, _v1, v2 = trained
    svc = service(landing_dir=landing)
    key = "2024-01-14"
    truth = extract_batch(SPEC, key)
    rows = _rows(key)
    labels = dict(zip(truth["event_id"].to_list(), truth["label"].to_list(), strict=True))
    for start in range(0, len(rows), 50):
        chunk = rows[start:start + 50]
        status, out = svc.predict(chunk)
        assert status == 200
        _post(svc.url + "/v1/feedback", {"labels": [
            {"request_id": out["request_id"], "row": i, "label": labels[r["event_id"]]}
            for i, r in enumerate(chunk)]})
    status, flushed = _post(svc.url + "/v1/flush", {})
    assert status == 200 and flushed["flushed"][0]["batch_rows"] == len(rows)
    path = landing / DS / f"{key}.parquet"
    batch = read_batch_file(path, SPEC, key)
    assert validate_batch(batch, SPEC, key).passed
    assert batch.equals(truth)  # the landed batch is the dataset's own batch
    assert list((landing / DS / "_served").glob(f"{key}.*.parquet"))
    # The real loop: ingest, features, scoring and the drift report of the landed batch.
    result = run_job(defs, "new_batch_job", key)
    assert result.success
    report = lakefs.get_json("main", layout.drift_report(DS, key))
    assert report["batch"] == key
    status = read_status(lakefs, DS)
    assert status is not None and status["champion"]["version"] == v2


def _labels_for(lakefs, version: str, rows: list[dict]) -> list[int]:
    """Labels that rank rows exactly as `version` scores them (so it has AUC 1)."""
    model = load_model(lakefs, SPEC, "main", version)
    scores = model.score(online_features(lakefs, SPEC, "main").build(rows_frame(rows, SPEC)))
    return [int(s > np.median(scores)) for s in scores]


@pytest.mark.parametrize("outcome", ["stop", "promote"])  # promote last: it moves champion
def test_canary_verdict_goes_through_the_registry(trained, service, outcome):
    lakefs, _defs, _landing, v1, v2 = trained
    champion = lakefs.get_json("main", layout.model_pointer(DS, "champion"))["version"]
    challenger = v1 if champion == v2 else v2
    rows = _rows("2024-01-14")[:240]
    labels = _labels_for(lakefs, challenger if outcome == "promote" else champion, rows)
    svc = service(landing_dir=None, mode="canary", challenger=f"version:{challenger}",
                  canary_share=0.5, judge_every=40,
                  canary=CanaryPolicy(min_labels=200))
    for start in range(0, len(rows), 20):
        _status, out = svc.predict(rows[start:start + 20], key=f"k{start}")
        _post(svc.url + "/v1/feedback", {"labels": [
            {"request_id": out["request_id"], "row": i, "label": labels[start + i]}
            for i in range(20)]})
    _wait(lambda: svc.state.decisions, "the canary decision")
    decision = svc.state.decisions[-1]
    assert decision["action"] == outcome, decision
    assert decision["verdict"]["decision"]["p_value"] is not None
    pointer = lakefs.get_json("main", layout.model_pointer(DS, "champion"))
    if outcome == "promote":
        assert pointer["version"] == challenger and pointer["action"] == "canary-promote"
        assert "canary" in pointer["reason"]
        _wait(lambda: svc.state.snapshot.champion.version == challenger, "the swap")
    else:
        assert pointer["version"] == champion
        assert svc.state.snapshot.challenger is None
        # The decision is in memory first, then committed to lakeFS by the same call: wait.
        _wait(lambda: (read_status(lakefs, DS) or {}).get("decisions"),
              "the decision in the lakeFS status")
        status = read_status(lakefs, DS)
        assert status["decisions"][-1]["action"] == "stop"


def test_dagster_view_reports_the_served_version(trained):
    from dagster._core.definitions.observe import observe  # dg.observe left the public API

    from mlops_assets.defs.serving import build_serving_status_asset

    lakefs, _defs, _landing, _v1, _v2 = trained
    served = read_status(lakefs, DS)
    assert served is not None  # written by the services above
    asset = build_serving_status_asset(SPEC)
    result = observe([asset], resources={"lakefs": lakefs})
    assert result.success
    [event] = [e for e in result.all_events if e.event_type_value == "ASSET_OBSERVATION"]
    metadata = event.event_specific_data.asset_observation.metadata
    assert metadata["champion"].value == served["champion"]["version"]
