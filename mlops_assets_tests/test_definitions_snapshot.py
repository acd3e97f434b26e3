"""The code location's shape, as a reviewed file: asset keys, groups, kinds, dependencies,
partitions, checks (blocking), jobs and sensors. A rename shows up as a diff of
snapshots/definitions.json; regenerate with `MLOPS_ASSETS_UPDATE_SNAPSHOTS=1 pytest <this file>`.
Code versions are left out on purpose: they change with every edit of the code they hash."""

import json
import os
from pathlib import Path

import dagster as dg

from mlops_assets.core.spec import load_spec
from mlops_assets.definitions import build_definitions

SNAPSHOT = Path(__file__).parent / "snapshots" / "definitions.json"


def _partitions(defn: dg.PartitionsDefinition | None) -> str | None:
    if defn is None:
        return None
    keys = defn.get_partition_keys()
    return f"{type(defn).__name__}[{keys[0]}..{keys[-1]}, {len(keys)}]"


def snapshot(dataset: str) -> dict:
    defs = build_definitions(load_spec(dataset), resources={"lakefs": object(),
                                                              "landing": object()})
    graph = defs.resolve_asset_graph()
    assets = {}
    for key in sorted(graph.get_all_asset_keys(), key=lambda k: k.to_user_string()):
        node = graph.get(key)
        assets[key.to_user_string()] = {
            "group": node.group_name,
            "kinds": sorted(node.kinds),
            "deps": sorted(k.to_user_string() for k in node.parent_keys),
            "partitions": _partitions(node.partitions_def),
        }
    checks = {}
    for check_key in sorted(graph.asset_check_keys, key=lambda k: (str(k.asset_key), k.name)):
        spec = graph.get_check_spec(check_key)
        checks[f"{check_key.asset_key.to_user_string()}:{check_key.name}"] = {
            "blocking": spec.blocking,
        }
    jobs = {}
    for job in sorted(defs.resolve_all_job_defs(), key=lambda j: j.name):
        if job.name.startswith("__"):
            continue
        jobs[job.name] = sorted(
            k.to_user_string() for k in job.asset_layer.selected_asset_keys
        )
    sensors = {
        s.name: {"job": _job_name(s), "default_status": s.default_status.value}
        for s in sorted(defs.resolve_sensor_defs(), key=lambda s: s.name)
    } if hasattr(defs, "resolve_sensor_defs") else {
        s.name: {"job": _job_name(s), "default_status": s.default_status.value}
        for s in sorted(defs.sensors or [], key=lambda s: s.name)
    }
    return {"dataset": dataset, "assets": assets, "checks": checks, "jobs": jobs,
            "sensors": sensors}


def _job_name(sensor: dg.SensorDefinition) -> str | None:
    """A run status sensor watches runs and targets no job (`job_name` raises then)."""
    return sensor.job_name if sensor.targets else None


def test_definitions_match_the_reviewed_snapshot():
    current = {name: snapshot(name) for name in ("nycflights13", "synthetic")}
    text = json.dumps(current, indent=2, sort_keys=True) + "\n"
    if os.environ.get("MLOPS_ASSETS_UPDATE_SNAPSHOTS") or not SNAPSHOT.exists():
        SNAPSHOT.parent.mkdir(parents=True, exist_ok=True)
        SNAPSHOT.write_text(text)
    assert json.loads(SNAPSHOT.read_text()) == current, (
        "the code location changed shape: review the diff and regenerate the snapshot with "
        "MLOPS_ASSETS_UPDATE_SNAPSHOTS=1"
    )
