"""Resources: every connection and secret the assets use, configured from the environment."""

import os
from collections.abc import Mapping

import dagster as dg

from mlops_assets.resources.lakefs import (
    LakeFSConflictError,
    LakeFSError,
    LakeFSNotFoundError,
    LakeFSResource,
)
from mlops_assets.resources.landing import LandingResource
from mlops_assets.settings import DEFAULT_REPOSITORY


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
    )


def landing_resource_from_env(environ: Mapping[str, str] = os.environ) -> LandingResource:
    """New batch files arrive in MLOPS_ASSETS_LANDING_DIR (default $MLOPS_ASSETS_HOME/landing)."""
    home = environ.get("MLOPS_ASSETS_HOME") or os.path.expanduser("~/.local/share/mlops-assets")
    return LandingResource(
        path=environ.get("MLOPS_ASSETS_LANDING_DIR") or os.path.join(home, "landing")
    )


__all__ = [
    "LakeFSConflictError",
    "LakeFSError",
    "LakeFSNotFoundError",
    "LakeFSResource",
    "LandingResource",
    "lakefs_resource_from_env",
    "landing_resource_from_env",
]
