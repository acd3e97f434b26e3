"""The lakeFS connection as the environment describes it, for code outside Dagster (scripts,
notebooks, the CLI): lakectl's standard variables plus the platform's repository settings.

Inside Dagster the same variables reach the resource through `dg.EnvVar` (resolved at run time);
`dg.EnvVar` cannot be read directly, hence this plain reader.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

DEFAULT_REPOSITORY = "mlops-assets"  # as mlops_assets.settings
REQUIRED = {
    "endpoint": "LAKECTL_SERVER_ENDPOINT_URL",
    "access_key_id": "LAKECTL_CREDENTIALS_ACCESS_KEY_ID",
    "secret_access_key": "LAKECTL_CREDENTIALS_SECRET_ACCESS_KEY",
}


def lakefs_settings_from_env(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Keyword arguments of LakeFSClient; a missing connection variable is named (with the
    command that prints them for the embedded server)."""
    environ = os.environ if environ is None else environ
    missing = [var for var in REQUIRED.values() if not environ.get(var)]
    if missing:
        raise KeyError(f"lakeFS connection not configured: set {', '.join(missing)} (for the "
                       "embedded server: eval \"$(mlops-assets lakefs env)\")")
    settings: dict[str, Any] = {field: environ[var] for field, var in REQUIRED.items()}
    settings["repository"] = environ.get("MLOPS_ASSETS_REPOSITORY") or DEFAULT_REPOSITORY
    settings["storage_namespace"] = environ.get("MLOPS_ASSETS_STORAGE_NAMESPACE", "")
    if environ.get("MLOPS_ASSETS_RUN_BRANCH_RETENTION_DAYS"):
        settings["run_branch_retention_days"] = float(
            environ["MLOPS_ASSETS_RUN_BRANCH_RETENTION_DAYS"])
    return settings
