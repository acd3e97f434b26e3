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

# How long a run may stay STARTED before run monitoring cancels it and marks it failed. With
# Dagster's DefaultRunLauncher this is the only thing that ends a run whose process was killed
# outside a code server (`dagster job execute`, the demo): that launcher has no worker health
# check. Per run: the `dagster/max_runtime` tag.
RUN_MAX_RUNTIME_SECONDS = 12 * 3600


def dagster_yaml(
    poll_interval_seconds: int = 30,
    start_timeout_seconds: int = 180,
    cancel_timeout_seconds: int = 180,
    max_runtime_seconds: int = RUN_MAX_RUNTIME_SECONDS,
) -> str:
    """The generated `dagster.yaml`; the parameters only change run monitoring's clock (tests
    set them small)."""
    return f"""\
# Written by mlops-assets for a local instance (sqlite storage under this directory).
# On Kubernetes, point storage at Postgres instead; see the README.
telemetry:
  enabled: false
# A run whose process died (kill -9, OOM, a lost node) would stay STARTED forever. A run the
# daemon or the UI launched is a fork of the warm launcher's zygote: run monitoring (in
# dagster-daemon) asks the launcher whether its process lives and fails it at the next poll; a
# `dagster job execute` run has no launcher: run monitoring cancels and fails any run STARTED
# for longer than max_runtime_seconds (per run: the dagster/max_runtime tag). The failure
# sensor then tags the run with what it left on its lakeFS branch (mlops_assets/run_branch).
run_monitoring:
  enabled: true
  start_timeout_seconds: {start_timeout_seconds}
  cancel_timeout_seconds: {cancel_timeout_seconds}
  max_runtime_seconds: {max_runtime_seconds}
  max_resume_run_attempts: 0
  poll_interval_seconds: {poll_interval_seconds}
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


DAGSTER_YAML = dagster_yaml()
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


def ensure_dagster_home(path: Path, **monitoring: int) -> Path:
    """A persistent DAGSTER_HOME with a dagster.yaml, so later runs see earlier outputs;
    `monitoring`: `dagster_yaml`'s parameters for a new file."""
    path.mkdir(parents=True, exist_ok=True)
    config = path / "dagster.yaml"
    # Ours and older than run monitoring's runtime limit or the warm launcher: regenerate (a
    # user's own file, without our mark, is never touched).
    text = config.read_text() if config.exists() else ""
    outdated = text.startswith(GENERATED_MARK) and not (
        "max_runtime_seconds:" in text and "WarmRunLauncher" in text)
    if not config.exists() or outdated:
        config.write_text(dagster_yaml(**monitoring))
    return path
