"""The production Dagster instance (infra/dagster/dagster.yaml) and a workspace for a gRPC
code server, prepared in a DAGSTER_HOME for the stack's webserver, daemon and code server."""

from __future__ import annotations

import shutil
from pathlib import Path

from mlops_assets.stack.procs import HOST, StackError

REPO_ROOT = Path(__file__).resolve().parents[2]
INFRA_DAGSTER = REPO_ROOT / "infra" / "dagster"
LOCATION_NAME = "mlops_assets"
CODE_MODULE = "mlops_assets.definitions"
# Pools the assets declare (defs/training): the instance gives unconfigured pools one slot.
TRAINING_POOL = "training"


def promotion_pool(dataset: str) -> str:
    return f"promotion/{dataset}"


def instance_yaml() -> Path:
    path = INFRA_DAGSTER / "dagster.yaml"
    if not path.is_file():
        raise StackError(f"{path} not found: the stack needs a source checkout of mlops_assets")
    return path


def workspace_text(host: str, port: int, location: str = LOCATION_NAME) -> str:
    return ("# Written by mlops-assets stack: the code location's gRPC server.\n"
            "load_from:\n  - grpc_server:\n"
            f"      host: {host}\n      port: {port}\n      location_name: {location}\n")


def prepare_dagster_home(home: Path, grpc_port: int, host: str = HOST) -> Path:
    """DAGSTER_HOME with the production dagster.yaml and a workspace.yaml; returns the
    workspace path. The yaml holds no secrets (they come from DAGSTER_PG_* variables)."""
    home.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(instance_yaml(), home / "dagster.yaml")
    workspace = home / "workspace.yaml"
    workspace.write_text(workspace_text(host, grpc_port))
    return workspace


def set_pool_limit(instance, pool: str, slots: int) -> None:  # instance: dg.DagsterInstance
    """Pools beyond the default (e.g. more training slots) live in the instance's storage."""
    instance.event_log_storage.set_concurrency_slots(pool, slots)
