"""The registry on a real lakeFS: versions as tags, alias moves as commits, rollback and roll
forward, refusals that change nothing, history across a restart, reproduction and lineage."""

import argparse
import json

import dagster as dg
import pytest

from mlops_assets import registry
from mlops_assets.cli.registry import add_registry_commands
from mlops_assets.core.spec import load_spec
from mlops_assets.defs.training.model_card import build_model_card_asset
from mlops_assets.lakefs_server import LocalLakeFS
from mlops_assets.platform import layout
from mlops_assets.registry import PromotionInFlightError, RegistryError, VersionNotFoundError
from mlops_assets.settings import Settings
from mlops_assets.testing import make_client, pipeline_definitions, run_job

pytestmark = pytest.mark.lakefs

DS = "synthetic"


@pytest.fixture(scope="module")
def trained(lakefs_server, tmp_path_factory):
    """Two published versions: v1 (seed 0, batches up to 01-10) and v2 (seed 1, more batches),
    v2 the champion; predictions of 2024-01-01..13 by v2."""
    lakefs = make_client(lakefs_server)
    lakefs.ensure_repository()
    defs = pipeline_definitions(lakefs, tmp_path_factory.mktemp("landing"))
    assert run_job(defs, "main_job", "2024-01-01", "2024-01-10").success
    v1 = lakefs.get_json("main", layout.model_pointer(DS, "champion"))["version"]
    # More batches and another seed (a range from the first batch: see the report on
    # features_job's no_leakage check for ranges starting later).
    assert run_job(defs, "main_job", "2024-01-01", "2024-01-13", training={"seed": 1}).success
    v2 = lakefs.get_json("main", layout.model_pointer(DS, "candidate"))["version"]
    assert v2 != v1
    for version in (v1, v2):  # what the model asset will do (see the report's hooks)
        registry.tag_version(lakefs, DS, version, "main")
    if lakefs.get_json("main", layout.model_pointer(DS, "champion"))["version"] != v2:
        registry.set_alias(lakefs, DS, "champion", v2, reason="promote v2 for the test",
                           actor="test", action="promote")
    return lakefs, defs, v1, v2


def _champion(lakefs, ref="main"):
    return lakefs.get_json(ref, layout.model_pointer(DS, "champion"))


def test_versions_aliases_and_history(trained):
    lakefs, _defs, v1, v2 = trained
    versions = {v.version: v for v in registry.list_versions(lakefs, DS)}
    assert set(versions) == {v1, v2}
    assert versions[v2].aliases == ["candidate", "champion"] and versions[v1].aliases == []
    assert versions[v1].tag == f"model-{v1}" and versions[v1].passed
    shown = registry.show_version(lakefs, DS, v1)
    assert shown["record"]["seed"] == 0 and shown["has_reference"]
    assert shown["evaluation"]["passed"] and shown["decision"]["promote"]
    history = registry.alias_history(lakefs, DS, "champion")
    assert [e.version for e in history] == [v1, v2]
    assert history[1].previous == v1
    assert history[1].actor == "test" or history[1].actor.startswith("dagster run ")
    with pytest.raises(VersionNotFoundError, match="no model version 'nope'"):
        registry.show_version(lakefs, DS, "nope")


def test_rollback_roll_forward_and_refusals(trained):
    lakefs, defs, v1, v2 = trained
    rec1 = registry.show_version(lakefs, DS, v1)["record"]
    ref1 = lakefs.get_bytes("main", layout.model_dir(DS, v1) + "reference.json")

    # Refusals change nothing: a bad target, and a promotion in flight.
    head = lakefs.resolve("main")
    with pytest.raises(VersionNotFoundError, match="no published model version 'synthetic-x'"):
        registry.rollback(lakefs, DS, to="synthetic-x", reason="bad", actor="test")
    registry.acquire_lock(lakefs, DS, holder="dagster run abc", purpose="promotion")
    try:
        with pytest.raises(PromotionInFlightError, match="held by dagster run abc"):
            registry.rollback(lakefs, DS, reason="during promotion", actor="test")
    finally:
        registry.release_lock(lakefs, DS)
    assert lakefs.resolve("main") == head and _champion(lakefs)["version"] == v2
    assert registry.lock_holder(lakefs, DS) is None

    # Roll back: one commit on main moves the champion, with feature version and reference.
    move = registry.rollback(lakefs, DS, reason="v2 misbehaves", actor="oncall")
    assert (move.version, move.previous) == (v1, v2)
    commit = lakefs.get_commit("main")
    assert commit.id == move.commit and commit.parents[0] == head
    assert commit.metadata["alias"] == "champion" and commit.metadata["alias_version"] == v1
    assert commit.metadata["reason"] == "v2 misbehaves" and commit.metadata["actor"] == "oncall"
    assert [d.path for d in lakefs.diff(head, move.commit)] == [
        layout.model_pointer(DS, "champion")
    ]
    champion = _champion(lakefs)
    assert champion["version"] == v1 and champion["previous"] == v2
    served = registry.show_version(lakefs, DS, champion["version"])
    assert served["record"]["feature_code_version"] == rec1["feature_code_version"]
    assert served["record"]["data_commit"] == rec1["data_commit"]
    assert lakefs.get_bytes("main", layout.model_dir(DS, champion["version"]) + "reference.json"
                           ) == ref1

    # Scoring uses the restored model.
    assert run_job(defs, "score_job", "2024-01-12").success
    preds = lakefs.get_frame("main", layout.predictions(DS, "2024-01-12"))
    assert preds.get_column("model_version").unique().to_list() == [v1]

    # Roll forward again: just another rollback.
    forward = registry.rollback(lakefs, DS, reason="false alarm", actor="oncall")
    assert (forward.version, forward.previous) == (v2, v1)
    assert _champion(lakefs)["version"] == v2
    with pytest.raises(RegistryError, match="already the champion"):
        registry.rollback(lakefs, DS, to=v2, reason="again", actor="oncall")
    history = registry.alias_history(lakefs, DS, "champion")
    assert [(e.version, e.action) for e in history][-2:] == [(v1, "rollback"), (v2, "rollback")]

    # A version tag moves to a later commit holding the version (e.g. the champion merge).
    registry.tag_version(lakefs, DS, v1, "main")
    assert lakefs.resolve(f"model-{v1}") == lakefs.resolve("main")
    with pytest.raises(VersionNotFoundError, match="does not hold model version"):
        registry.tag_version(lakefs, DS, v1, rec1["data_commit"])

    # A user-defined alias.
    registry.set_alias(lakefs, DS, "shadow", v1, reason="shadow traffic", actor="me")
    assert registry.show_version(lakefs, DS, v1)["aliases"] == ["shadow"]


def test_reproduce_identical_and_mismatch(trained):
    lakefs, _defs, v1, _v2 = trained
    head = lakefs.resolve("main")
    same = registry.reproduce(lakefs, DS, v1, keep_branch=False)
    assert same.identical, same.text()
    assert same.reproduced_sha256 == same.recorded_sha256
    other = registry.reproduce(lakefs, DS, v1, overrides={"seed": 1}, scratch_branch="repro-seed")
    assert not other.identical
    assert [d.name for d in other.differences] == ["hyperparameters.seed"]
    assert "hyperparameters.seed: recorded 0, now 1" in other.text()
    assert lakefs.exists("repro-seed", layout.model_dir(DS, v1) + "weights.safetensors")
    assert lakefs.resolve("main") == head  # main untouched


def test_lineage_reaches_raw_batches(trained):
    lakefs, _defs, _v1, v2 = trained
    path = layout.predictions(DS, "2024-01-10")
    found = registry.lineage(lakefs, DS, path, 3)
    preds = lakefs.get_frame("main", path)
    assert found.row_values["event_id"] == preds.row(3, named=True)["event_id"]
    assert found.model_version == preds.row(3, named=True)["model_version"] == v2
    record = registry.show_version(lakefs, DS, v2)["record"]
    assert found.data_commit == record["data_commit"]
    assert [b.key for b in found.train_raw] == record["train_batches"]
    for batch in found.train_raw:
        assert batch.path == layout.raw_batch(DS, batch.key)
        assert batch.written_by and batch.dagster_run_id
        assert len(lakefs.get_commit(batch.written_by).parents) == 1  # the writing commit
        raw = lakefs.get_frame(batch.written_by, batch.path)
        assert raw.height > 0
    assert found.scored_raw.path == layout.raw_batch(DS, "2024-01-10")
    assert "2024-01-01: raw lakefs://" in found.text()


def _fake_version(lakefs, version: str) -> None:
    base = layout.model_dir(DS, version)
    lakefs.put_json("main", base + "record.json", {"version": version, "dataset": DS})
    lakefs.put_json("main", base + "reference.json", {"of": version})
    lakefs.commit("main", f"add {version}")


def test_history_survives_a_lakefs_restart(tmp_path, lakefs_binary):
    server = LocalLakeFS(tmp_path / "state", binary=lakefs_binary)
    info = server.start()
    try:
        lakefs = make_client(info, "history")
        lakefs.ensure_repository()
        for version in ("synthetic-a", "synthetic-b"):
            _fake_version(lakefs, version)
            registry.set_alias(lakefs, DS, "champion", version, reason=f"use {version}",
                               actor="test", action="promote")
        registry.rollback(lakefs, DS, reason="b is bad", actor="test")
        before = registry.alias_history(lakefs, DS)
    finally:
        server.stop()
    info = server.start()
    try:
        lakefs = make_client(info, "history")
        after = registry.alias_history(lakefs, DS)
        assert after == before
        assert [(e.version, e.previous, e.action) for e in after] == [
            ("synthetic-a", None, "promote"),
            ("synthetic-b", "synthetic-a", "promote"),
            ("synthetic-a", "synthetic-b", "rollback"),
        ]
        assert after[-1].reason == "b is bad"
    finally:
        server.stop()


def test_lineage_of_a_local_file(trained, tmp_path):
    lakefs, _defs, _v1, v2 = trained
    local = tmp_path / "p.parquet"
    lakefs.get_frame("main", layout.predictions(DS, "2024-01-10")).write_parquet(local)
    found = registry.lineage(lakefs, DS, str(local), 0)
    assert found.model_version == v2 and found.train_raw
    with pytest.raises(RegistryError, match="no row 10000"):
        registry.lineage(lakefs, DS, str(local), 10_000)


def test_model_card_asset_writes_the_card_and_flags_gaps(trained):
    lakefs, _defs, _v1, v2 = trained
    spec = load_spec(DS)
    evaluation = dg.AssetSpec([DS, "evaluation"], group_name=DS)
    card_asset = build_model_card_asset(spec, evaluation)
    result = dg.materialize(
        [card_asset], resources={"lakefs": lakefs}, raise_on_error=False,
        run_config={"ops": {f"{DS}__model_card": {"config": {"max_group_gap": 0.0}}}},
    )
    assert result.success
    mat = result.asset_materializations_for_node(f"{DS}__model_card")[0]
    assert mat.metadata["model_version"].value == v2
    card = mat.metadata["model_card"].value
    assert f"# Model card: `{v2}`" in card and "### by `segment`" in card
    (check,) = result.get_asset_check_evaluations()
    assert check.check_name == "group_gap_within_bound" and not check.passed
    assert check.severity == dg.AssetCheckSeverity.WARN and "segment" in check.description
    branch = f"run-{result.run_id}"
    assert lakefs.get_bytes(branch, layout.model_dir(DS, v2) + "model_card.md").decode() == card
    lakefs.merge(branch)  # what the champion merge does once the card is in the train job
    assert registry.show_version(lakefs, DS, v2)["model_card"] == card


def test_cli_commands(trained, lakefs_server, capsys):
    lakefs, _defs, v1, v2 = trained
    settings = Settings.from_env({**lakefs_server.client_env(),
                                  "MLOPS_ASSETS_REPOSITORY": lakefs.repository})
    parser = argparse.ArgumentParser()
    add_registry_commands(parser.add_subparsers(dest="command", required=True))

    def cli(*argv: str) -> tuple[int, str, str]:
        args = parser.parse_args([*argv, "--dataset", DS])
        code = args.fn(settings, args)
        out, err = capsys.readouterr()
        return code, out, err

    code, out, _ = cli("models", "list")
    assert code == 0 and v1 in out and v2 in out
    code, out, _ = cli("models", "history", "--json")
    assert code == 0 and [e["version"] for e in json.loads(out)][:2] == [v1, v2]
    code, out, _ = cli("models", "show", v1)
    assert code == 0 and "data commit" in out
    code, _, err = cli("rollback", "--to", "synthetic-missing")
    assert code == 1 and "no published model version 'synthetic-missing'" in err
    code, out, _ = cli("lineage", layout.predictions(DS, "2024-01-05"), "0")
    assert code == 0 and "training batches" in out


def test_models_compare_equals_direct_evaluation(trained, lakefs_server, capsys):
    """`models compare` scores both versions on the latest eval window of main; its numbers are
    those of evaluating each model directly on those rows at its recorded threshold."""
    import polars as pl

    from mlops_assets.core.features import TARGET
    from mlops_assets.core.metrics import delong_auc_test, evaluate
    from mlops_assets.core.model import predict
    from mlops_assets.core.model_quality import record_threshold
    from mlops_assets.platform.frames import read_features
    from mlops_assets.platform.model_store import load_version

    lakefs, _defs, v1, v2 = trained
    settings = Settings.from_env({**lakefs_server.client_env(),
                                  "MLOPS_ASSETS_REPOSITORY": lakefs.repository})
    parser = argparse.ArgumentParser()
    add_registry_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["models", "compare", v1, v2, "--dataset", DS, "--json",
                              "--n-bootstrap", "200"])
    assert args.fn(settings, args) == 0
    out = json.loads(capsys.readouterr().out)
    window = lakefs.get_json("main", layout.model_dir(DS, v2) + "record.json")["eval_batches"]
    assert out["window"]["batches"] == window  # v2 is the newest version on main
    frame = read_features(lakefs, "main", DS, window).filter(pl.col(TARGET).is_not_null())
    y = frame[TARGET].to_numpy()
    scores = {}
    for name, version in (("a", v1), ("b", v2)):
        model, record = load_version(lakefs, "main", DS, version)
        assert record["decision_threshold"]["chosen_on"] in ("validation", "default")
        scores[name] = predict(model, frame)
        direct = evaluate(y, scores[name], "binary", n_bootstrap=200, seed=0,
                          threshold=record_threshold(record))
        rows = {r["metric"]: r for r in out["comparison"]["rows"]}
        for metric in ("auc", "log_loss", "f1", "brier"):
            assert rows[metric][name] == pytest.approx(direct[metric]["value"], abs=1e-12)
            assert rows[metric][f"{name}_ci_low"] == pytest.approx(direct[metric]["ci_low"])
        assert out["versions"][name]["data_commit"] == record["data_commit"]
    delong = delong_auc_test(y, scores["a"], scores["b"])
    assert out["comparison"]["paired"]["delta"] == pytest.approx(delong["delta"])
    assert out["comparison"]["paired"]["p_value"] == pytest.approx(delong["p_value"])
    assert out["hyperparameter_differences"]["seed"] == [0, 1]
    # `models list` says where each headline was measured.
    versions = {v.version: v for v in registry.list_versions(lakefs, DS)}
    assert versions[v2].measured_on.startswith(f"{window[0]}..{window[-1]} (")
