"""A short human summary of a finished run, read back from the Dagster instance."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

import dagster as dg

from mlops_assets.settings import Settings


def summarize_latest_run(
    dagster_home: Path, job_name: str, env: Mapping[str, str], settings: Settings,
    where: bool = True,
) -> str:
    instance = dg.DagsterInstance.from_config(str(dagster_home))
    runs = instance.get_runs(filters=dg.RunsFilter(job_name=job_name), limit=1)
    if not runs:
        return f"No run of {job_name} was recorded in {dagster_home}."
    run = runs[0]
    lines = ["", "=" * 78, f"Run {run.run_id} of {job_name}: {run.status.value}"]

    materializations = instance.get_records_for_run(
        run.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION, limit=1000
    ).records
    # A single-run range materializes every partition with the same metadata: one line each.
    by_asset: dict[str, list] = {}
    for record in materializations:
        mat = record.event_log_entry.asset_materialization
        if mat is not None:
            by_asset.setdefault(mat.asset_key.to_user_string(), []).append(mat)
    for key, mats in by_asset.items():
        partitions = sorted(m.partition for m in mats if m.partition)
        span = ""
        if partitions:
            span = (
                f" [{partitions[0]}]"
                if len(partitions) == 1
                else (f" [{partitions[0]}..{partitions[-1]}, {len(partitions)} partitions]")
            )
        meta = mats[-1].metadata
        lines.append(f"- {key}{span}")
        if "summary" in meta:
            lines.append(f"    {_plain(meta['summary'].value)}")
        if "lakefs_uri" in meta:
            lines.append(f"    data: {meta['lakefs_uri'].value}")

    checks = instance.get_records_for_run(
        run.run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION, limit=1000
    ).records
    failed = []
    for record in checks:
        evaluation = record.event_log_entry.dagster_event.event_specific_data
        if not evaluation.passed:
            failed.append(f"{evaluation.asset_key.to_user_string()}:{evaluation.check_name}")
    lines.append(
        f"Checks: {len(checks) - len(failed)} passed, {len(failed)} failed"
        + (f" ({', '.join(failed)})" if failed else "")
    )

    if where:
        lines += where_to_look(env, settings, [run.run_id])
    lines.append("=" * 78)
    return "\n".join(lines)


def where_to_look(env: Mapping[str, str], settings: Settings, run_ids: list[str]) -> list[str]:
    endpoint = env.get("LAKECTL_SERVER_ENDPOINT_URL", "")
    return [
        "Where to look:",
        f"  lakeFS:  {endpoint}  (repository {settings.repository}; "
        f"lakectl --config {settings.lakefs_state_dir / 'lakectl.yaml'} log "
        f"lakefs://{settings.repository}/main)",
        "  Dagster: mlops-assets ui, then",
        *(f"           http://127.0.0.1:3000/runs/{run_id}" for run_id in run_ids),
        "  CLI:     mlops-assets drift | models list | models compare A B | serve",
        "  (an embedded lakeFS keeps running for these; `mlops-assets lakefs down` stops it)",
    ]


def _plain(markdown: str) -> str:
    text = re.sub(r"!\[[^\]]*\]\([^)]*\)", "", markdown)  # drop embedded images
    return " ".join(text.replace("`", "").replace("**", "").split())[:300]
