"""Registry moves made from the CLI (alias, rollback), shown in Dagster: an AssetObservation of
the `champion` asset with the move and its reason, so the asset's page tells the whole story.

The CLI stays Dagster-free: the observation is written by a child process
(`python -m mlops_assets.cli.dagster_events '<json>'`), and only when DAGSTER_HOME is set and
Dagster is installed. It costs about the import of Dagster (~1.5 s, docs/benchmarks.md), paid only
by the commands that move an alias.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from collections.abc import Mapping

ASSET_NAME = "champion"  # the asset that owns the aliases (models/<ds>/aliases/*.json)


def record_alias_move(metadata: Mapping[str, str], environ: Mapping[str, str] = os.environ
                      ) -> str | None:
    """Record the move in the Dagster instance of $DAGSTER_HOME; returns a note for the user
    (None when there is no instance to record in)."""
    if not environ.get("DAGSTER_HOME") or importlib.util.find_spec("dagster") is None:
        return None
    done = subprocess.run(
        [sys.executable, "-m", __name__, json.dumps(dict(metadata))],
        env=dict(environ), capture_output=True, text=True, timeout=120, check=False,
    )
    if done.returncode != 0:
        tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return f"warning: not recorded in Dagster ({tail})"
    key = f"{metadata.get('dataset', '?')}/{ASSET_NAME}"
    return f"recorded in Dagster: an observation of `{key}` in {environ['DAGSTER_HOME']}"


def _observe(metadata: dict[str, str]) -> None:
    import dagster as dg

    with dg.DagsterInstance.get() as instance:
        instance.report_runless_asset_event(dg.AssetObservation(
            asset_key=dg.AssetKey([metadata["dataset"], ASSET_NAME]),  # keys are per dataset
            description=f"{metadata.get('action', 'set')} of alias {metadata.get('alias')}: "
                        f"{metadata.get('reason', '')}",
            metadata=metadata,
        ))


if __name__ == "__main__":
    _observe(json.loads(sys.argv[1]))
