"""Where the platform keeps its state, read once from the environment by the entry points.

Library code receives these values as arguments; only the CLI (and the code location's resource
wiring, through ``dg.EnvVar``) looks at the environment.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

DEFAULT_REPOSITORY = "mlops-assets"

DAGSTER_YAML = """\
# Written by mlops-assets for a local instance (sqlite storage under this directory).
# On Kubernetes, point storage at Postgres instead; see the README.
telemetry:
  enabled: false
# A run whose process died (kill -9, OOM, a lost node) would stay STARTED forever: the daemon
# marks it failed once its worker is gone, and the run branch is reported as abandoned.
run_monitoring:
  enabled: true
  start_timeout_seconds: 180
  cancel_timeout_seconds: 180
  max_resume_run_attempts: 0
  poll_interval_seconds: 30
# Runs are forked from a warm process that has Dagster, this code location, torch and scipy
# imported (mlops_assets/launcher/warm.py), instead of a new interpreter per run (5-8 s each);
# the queue is drained every second instead of every 5 s.
run_coordinator:
  module: dagster.core.run_coordinator
  class: QueuedRunCoordinator
  config:
    dequeue_interval_seconds: 1
run_launcher:
  module: mlops_assets.launcher.warm
  class: WarmRunLauncher
"""
GENERATED_MARK = "# Written by mlops-assets"


@dataclass(frozen=True)
class Settings:
    home: Path  # MLOPS_ASSETS_HOME: all local state (lakeFS data, Dagster home, landing folder)
    cache_dir: Path  # MLOPS_ASSETS_CACHE_DIR: the built lakeFS binary
    lakefs_binary: str | None  # MLOPS_ASSETS_LAKEFS_BIN: use this lakeFS binary, skip the build
    dagster_home: Path  # DAGSTER_HOME
    external_lakefs: dict[str, str] | None  # LAKECTL_* when the user points at their own lakeFS
    repository: str  # MLOPS_ASSETS_REPOSITORY

    @property
    def lakefs_state_dir(self) -> Path:
        return self.home / "lakefs"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> Settings:
        data_root = Path(environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
        cache_root = Path(environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
        home = Path(environ.get("MLOPS_ASSETS_HOME") or data_root / "mlops-assets").expanduser()
        external = None
        if environ.get("LAKECTL_SERVER_ENDPOINT_URL"):
            external = {
                k: environ.get(k, "")
                for k in (
                    "LAKECTL_SERVER_ENDPOINT_URL",
                    "LAKECTL_CREDENTIALS_ACCESS_KEY_ID",
                    "LAKECTL_CREDENTIALS_SECRET_ACCESS_KEY",
                )
            }
        return cls(
            home=home,
            cache_dir=Path(
                environ.get("MLOPS_ASSETS_CACHE_DIR") or cache_root / "mlops-assets"
            ).expanduser(),
            lakefs_binary=environ.get("MLOPS_ASSETS_LAKEFS_BIN") or None,
            dagster_home=Path(environ.get("DAGSTER_HOME") or home / "dagster").expanduser(),
            external_lakefs=external,
            repository=environ.get("MLOPS_ASSETS_REPOSITORY") or DEFAULT_REPOSITORY,
        )


def ensure_dagster_home(path: Path) -> Path:
    """A persistent DAGSTER_HOME with a dagster.yaml, so later runs see earlier outputs."""
    path.mkdir(parents=True, exist_ok=True)
    config = path / "dagster.yaml"
    # Ours and older than the warm launcher: regenerate (a user's own file is never touched).
    outdated = config.exists() and config.read_text().startswith(GENERATED_MARK) \
        and "WarmRunLauncher" not in config.read_text()
    if not config.exists() or outdated:
        config.write_text(DAGSTER_YAML)
    return path
