"""The embedded lakeFS as the commands use it: started on demand, its connection handed to the
Dagster processes and to the registry commands."""

from __future__ import annotations

import os

from mlops_assets.settings import Settings, ensure_dagster_home


def embedded_server(settings: Settings):
    from mlops_assets.lakefs_server import LocalLakeFS

    return LocalLakeFS(settings.lakefs_state_dir)


def start_embedded_lakefs(settings: Settings, port: int | None = None):
    from mlops_assets.lakefs_server import ensure_lakefs_binary

    server = embedded_server(settings)
    running = server.info()
    if running is not None:
        return running
    server.binary = ensure_lakefs_binary(settings.cache_dir, settings.lakefs_binary)
    return server.start(port=port)


def platform_env(settings: Settings) -> dict[str, str]:
    """The environment for Dagster processes: lakeFS connection, DAGSTER_HOME, repository."""
    if settings.external_lakefs is not None:
        connection = settings.external_lakefs
    else:
        connection = start_embedded_lakefs(settings).client_env()
    ensure_dagster_home(settings.dagster_home)
    return {
        **os.environ,
        **connection,
        "DAGSTER_HOME": str(settings.dagster_home),
        "MLOPS_ASSETS_REPOSITORY": settings.repository,
        "MLOPS_ASSETS_HOME": str(settings.home),
    }
