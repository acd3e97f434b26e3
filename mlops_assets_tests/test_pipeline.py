"""The whole asset graph on the synthetic stream, through Dagster, against a real lakeFS."""

import os

import polars as pl
import pytest

from mlops_assets.core.features import TARGET
from mlops_assets.defs.training.assets import rows_digest
from mlops_assets.platform import layout
from mlops_assets.platform.frames import frames_digest
from mlops_assets.testing import (
    dagster_job_execute,
    failure_messages,
    lakefs_env,
    pipeline_definitions,
    run_job,
)

pytestmark = pytest.mark.lakefs

DS = "synthetic"


@pytest.fixture
def defs(lakefs, tmp_path):
    return pipeline_definitions(lakefs, tmp_path / "landing")


def test_end_to_end_ingest_features_train_evaluate_score(lakefs, defs):
    result = run_job(defs, "main_job", "2024-01-01", "2024-01-10")
    assert result.success

    # main holds exactly the published batches.
    published = layout.keys_in(lakefs.list_objects("main", layout.raw_prefix(DS)))
    assert published == [f"2024-01-{d:02d}" for d in range(1, 11)]
    assert layout.keys_in(lakefs.list_objects("main", layout.features_prefix(DS))) == published

    # The model record's data commit resolves to exactly the rows trained on.
    champion = lakefs.get_json("main", layout.model_pointer(DS, "champion"))
    record = lakefs.get_json("main", layout.model_dir(DS, champion["version"]) + "record.json")
    assert lakefs.resolve(record["data_commit"]) == record["data_commit"]
    trained_on = pl.concat(
        [
            lakefs.get_frame(record["data_commit"], layout.features(DS, k))
            for k in record["train_batches"]
        ]
    ).filter(pl.col(TARGET).is_not_null())
    assert trained_on.height == record["training_rows"]
    assert rows_digest(trained_on) == record["training_rows_sha256"]
    assert record["library_versions"]["torch"] and record["feature_code_version"]
    assert set(record["eval_batches"]).isdisjoint(record["train_batches"])
    assert max(record["train_batches"]) < min(record["eval_batches"])  # evaluated on later data

    evaluation = lakefs.get_json(
        "main", layout.model_dir(DS, champion["version"]) + "evaluation.json"
    )
    auc = evaluation["metrics"]["auc"]
    assert auc["ci_low"] <= auc["value"] <= auc["ci_high"] and evaluation["passed"]

    # Every prediction row names its model version and data commit; one row per feature row.
    preds = lakefs.get_frame("main", layout.predictions(DS, "2024-01-10"))
    feats = lakefs.get_frame("main", layout.features(DS, "2024-01-10"))
    assert preds.height == feats.height
    assert preds.get_column("model_version").unique().to_list() == [champion["version"]]
    data_commit = preds.get_column("data_commit").unique().to_list()
    assert len(data_commit) == 1 and lakefs.exists(
        data_commit[0], layout.features(DS, "2024-01-10")
    )

    # Data versions are content hashes (the same rows give the same version on any commit), so
    # Dagster's staleness means "the inputs changed"; the commit stays in the metadata.
    mat = result.asset_materializations_for_node(f"{DS}__features")[0]
    keys = sorted(m.partition for m in result.asset_materializations_for_node(f"{DS}__features"))
    parts = [lakefs.get_frame(mat.metadata["lakefs_commit"].value, layout.features(DS, k))
             for k in keys]
    assert mat.tags["dagster/data_version"] == frames_digest(parts)
    model = result.asset_materializations_for_node(f"{DS}__model")[0]
    assert model.tags["dagster/data_version"] == model.metadata["weights_sha256"].value


def test_rerunning_a_batch_is_idempotent(lakefs, defs):
    assert run_job(defs, "ingest_job", "2024-01-03").success
    head = lakefs.resolve("main")
    first = lakefs.get_bytes("main", layout.raw_batch(DS, "2024-01-03"))
    again = run_job(defs, "ingest_job", "2024-01-03")
    assert again.success
    mat = again.asset_materializations_for_node(f"{DS}__validated_batch")[0]
    assert mat.metadata["merged"].value is False  # nothing new: no duplicate rows, no new commit
    assert lakefs.resolve("main") == head
    assert lakefs.get_bytes("main", layout.raw_batch(DS, "2024-01-03")) == first
    assert pl.read_parquet(first).height == 500


def test_same_inputs_and_seed_give_identical_weights(lakefs, defs):
    assert run_job(defs, "ingest_job", "2024-01-01", "2024-01-08").success
    assert run_job(defs, "features_job", "2024-01-01", "2024-01-08").success
    hashes = []
    for _ in range(2):
        result = run_job(defs, "train_job")
        assert result.success
        hashes.append(
            result.asset_materializations_for_node(f"{DS}__model")[0].metadata["weights_sha256"].value
        )
    assert hashes[0] == hashes[1]
    different_seed = run_job(defs, "train_job", training={"seed": 1})
    assert (
        different_seed.asset_materializations_for_node(f"{DS}__model")[0].metadata["weights_sha256"].value
    ) != hashes[0]


def test_scoring_without_an_evaluated_model_fails_clearly(lakefs, defs):
    assert run_job(defs, "ingest_job", "2024-01-01").success
    assert run_job(defs, "features_job", "2024-01-01").success
    result = run_job(defs, "score_job", "2024-01-01")
    assert not result.success
    assert "no champion model of synthetic yet" in failure_messages(result)


def test_ingest_job_through_the_dagster_cli(lakefs, lakefs_server, dagster_home, tmp_path):
    env = {
        **os.environ,
        **lakefs_env(lakefs, lakefs_server),
        "DAGSTER_HOME": str(dagster_home),
        "MLOPS_ASSETS_DATASET": DS,
        "MLOPS_ASSETS_LANDING_DIR": str(tmp_path / "landing"),
    }
    done = dagster_job_execute("ingest_job", env, tags={"dagster/partition": "2024-01-02"})
    assert done.returncode == 0, done.stderr[-3000:]
    assert layout.keys_in(lakefs.list_objects("main", layout.raw_prefix(DS))) == ["2024-01-02"]


def test_only_one_promotion_at_a_time(lakefs, defs):
    from mlops_assets.registry import acquire_lock, release_lock

    assert run_job(defs, "ingest_job", "2024-01-01", "2024-01-08").success
    assert run_job(defs, "features_job", "2024-01-01", "2024-01-08").success
    assert run_job(defs, "train_job").success
    main_before = lakefs.resolve("main")

    acquire_lock(lakefs, DS, holder="another promotion", purpose="test")
    blocked = run_job(defs, "train_job", training={"seed": 1},
                      ops_config={"champion": {"lock_wait_seconds": 1}})
    assert not blocked.success
    message = failure_messages(blocked)
    assert "not promoting" in message and "another promotion" in message, message
    assert lakefs.resolve("main") == main_before  # the loser changed nothing

    release_lock(lakefs, DS)
    assert run_job(defs, "train_job", training={"seed": 1}).success
