"""Item 1 of the production deployment: the Dagster instance of infra/dagster/dagster.yaml on a
real PostgreSQL (run, event-log and schedule storage), its run queue and concurrency pools."""

from __future__ import annotations

import dagster as dg
import pytest
import yaml

from mlops_assets.core.spec import load_spec
from mlops_assets.definitions import build_definitions
from mlops_assets.stack.dagster_instance import (
    TRAINING_POOL,
    instance_yaml,
    prepare_dagster_home,
    promotion_pool,
    set_pool_limit,
)


@pytest.fixture
def pg_instance(postgres_server, postgres, tmp_path, monkeypatch):
    """A DagsterInstance from the production dagster.yaml on a fresh database."""
    db = f"dagster_{tmp_path.name.replace('-', '_').lower()}"[:60]
    postgres_server.ensure_database(db)
    for key, value in postgres.dagster_env(db).items():
        monkeypatch.setenv(key, value)
    home = tmp_path / "dagster_home"
    prepare_dagster_home(home, grpc_port=4000)
    with dg.DagsterInstance.from_config(str(home)) as instance:
        yield instance, home, db


def test_instance_yaml_takes_secrets_from_the_environment_only():
    config = yaml.safe_load(instance_yaml().read_text())
    db = config["storage"]["postgres"]["postgres_db"]
    for field in ("hostname", "port", "username", "password", "db_name"):
        assert set(db[field]) == {"env"}, field


def test_runs_and_events_are_stored_in_postgres_and_survive_a_new_instance(
    pg_instance, postgres_server
):
    from dagster_postgres import (
        PostgresEventLogStorage,
        PostgresRunStorage,
        PostgresScheduleStorage,
    )

    instance, home, db = pg_instance
    assert isinstance(instance.run_storage, PostgresRunStorage)
    assert isinstance(instance.event_log_storage, PostgresEventLogStorage)
    assert isinstance(instance.schedule_storage, PostgresScheduleStorage)

    @dg.asset
    def greeting() -> str:
        return "hello"

    result = dg.materialize([greeting], instance=instance)
    assert result.success
    assert postgres_server.psql("SELECT count(*) FROM runs", database=db) == "1"
    # A new process (a restarted webserver or daemon) sees the same run and materialization.
    with dg.DagsterInstance.from_config(str(home)) as again:
        assert again.get_run_by_id(result.run_id).is_success
        assert again.get_latest_materialization_event(dg.AssetKey("greeting")) is not None


def test_run_queue_and_pools_are_configured(pg_instance):
    instance, _home, _db = pg_instance
    config = instance.get_concurrency_config()
    assert config.run_queue_config.max_concurrent_runs == 4
    limits = config.run_queue_config.tag_concurrency_limits
    assert {"key": "mlops/trigger", "value": "drift_retrain_sensor", "limit": 1} in limits
    assert config.pool_config.default_pool_limit == 1


def test_one_promotion_per_dataset_at_a_time(pg_instance):
    instance, _home, _db = pg_instance
    storage = instance.event_log_storage
    pool = promotion_pool("synthetic")
    storage.initialize_concurrency_limit_to_default(pool)
    assert storage.get_concurrency_info(pool).slot_count == 1
    first = storage.claim_concurrency_slot(pool, "run-a", "champion")
    second = storage.claim_concurrency_slot(pool, "run-b", "champion")
    assert first.is_claimed and not second.is_claimed
    # Another dataset's promotion is not blocked by this one.
    other = promotion_pool("nycflights13")
    storage.initialize_concurrency_limit_to_default(other)
    assert storage.claim_concurrency_slot(other, "run-c", "champion").is_claimed
    storage.free_concurrency_slots_for_run("run-a")
    assert storage.claim_concurrency_slot(pool, "run-b", "champion").is_claimed


def test_training_cap_is_a_pool_with_configurable_slots(pg_instance):
    instance, _home, _db = pg_instance
    set_pool_limit(instance, TRAINING_POOL, 2)
    storage = instance.event_log_storage
    claims = [storage.claim_concurrency_slot(TRAINING_POOL, f"run-{i}", "model").is_claimed
              for i in range(3)]
    assert claims == [True, True, False]


@pytest.mark.parametrize("dataset", ["synthetic", "nycflights13"])
def test_assets_declare_the_pools(dataset):
    defs = build_definitions(load_spec(dataset), resources={"lakefs": object(),
                                                              "landing": object()})
    graph = defs.resolve_asset_graph()
    pools = {key.path[-1]: graph.get(key).pools for key in graph.get_all_asset_keys()}
    assert pools["champion"] == {promotion_pool(dataset)}
    assert pools["model"] == {TRAINING_POOL}
