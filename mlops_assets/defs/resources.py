"""Resources: every connection and secret the assets use, configured from the environment.

`LakeFSResource` is a thin Dagster wrapper: it holds the configuration the UI shows and
validates, and hands each run a plain :class:`LakeFSClient` (assets annotate their parameter
with :data:`LakeFS`), so the registry and the CLI share the exact same client without Dagster.
"""

import os
from collections.abc import Mapping

import dagster as dg
from pydantic import Field

from mlops_assets.defs.ingest.landing import LandingResource
from mlops_assets.platform.lakefs_client import (
    LakeFSClient,
    LakeFSConflictError,
    LakeFSError,
    LakeFSNotFoundError,
)
from mlops_assets.settings import DEFAULT_REPOSITORY, Settings

# What an asset, check or sensor parameter named `lakefs` is annotated with.
LakeFS = dg.ResourceParam[LakeFSClient]


class LakeFSResource(dg.ConfigurableResource):
    """Connection to one lakeFS repository. Configure with ``dg.EnvVar``; see the README."""

    endpoint: str = Field(description="lakeFS URL, e.g. http://127.0.0.1:8000")
    access_key_id: str = Field(description="lakeFS access key id")
    secret_access_key: str = Field(description="lakeFS secret access key", repr=False)
    repository: str = Field(default="mlops-assets", description="repository holding all data")
    storage_namespace: str = Field(
        default="",
        description="where the repository stores objects (s3://bucket/prefix, local://name); "
        "empty: local://<repository>, which suits the embedded server",
    )
    default_branch: str = Field(default="main", description="the published branch")
    request_timeout_seconds: float = Field(default=30.0, description="per-request timeout")
    merge_attempts: int = Field(default=6, description="attempts for a contended merge/commit")
    io_threads: int = Field(default=8, description="concurrent object reads/writes")
    run_branch_retention_days: float = Field(
        default=14.0, description="merged run branches older than this are deleted after a "
        "publish (the merge commit keeps the audit trail); negative: keep them forever "
        "(MLOPS_ASSETS_RUN_BRANCH_RETENTION_DAYS)")

    def create_resource(self, context: dg.InitResourceContext) -> LakeFSClient:  # type: ignore[override]
        # Dagster's documented way to vend another object: params annotated ResourceParam[T].
        return LakeFSClient(**self.model_dump())


def lakefs_resource_from_env(environ: Mapping[str, str] = os.environ) -> LakeFSResource:
    """The resource as the code location configures it.

    Connection and secrets come from lakectl's standard variables through ``dg.EnvVar`` (resolved
    at run time, never stored in run config); the optional repository settings get their defaults
    when the code location loads.
    """
    return LakeFSResource(
        endpoint=dg.EnvVar("LAKECTL_SERVER_ENDPOINT_URL"),
        access_key_id=dg.EnvVar("LAKECTL_CREDENTIALS_ACCESS_KEY_ID"),
        secret_access_key=dg.EnvVar("LAKECTL_CREDENTIALS_SECRET_ACCESS_KEY"),
        repository=environ.get("MLOPS_ASSETS_REPOSITORY") or DEFAULT_REPOSITORY,
        storage_namespace=environ.get("MLOPS_ASSETS_STORAGE_NAMESPACE", ""),
        run_branch_retention_days=float(
            environ.get("MLOPS_ASSETS_RUN_BRANCH_RETENTION_DAYS") or 14.0),
    )


def landing_resource_from_env(environ: Mapping[str, str] = os.environ) -> LandingResource:
    """New batch files arrive in MLOPS_ASSETS_LANDING_DIR (default $MLOPS_ASSETS_HOME/landing,
    where MLOPS_ASSETS_HOME defaults as in settings.py, honouring XDG_DATA_HOME)."""
    home = Settings.from_env(environ).home
    return LandingResource(
        path=environ.get("MLOPS_ASSETS_LANDING_DIR") or os.path.join(home, "landing")
    )


__all__ = [
    "LakeFS",
    "LakeFSClient",
    "LakeFSConflictError",
    "LakeFSError",
    "LakeFSNotFoundError",
    "LakeFSResource",
    "LandingResource",
    "lakefs_resource_from_env",
    "landing_resource_from_env",
]
