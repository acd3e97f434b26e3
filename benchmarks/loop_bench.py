"""The loop: wall time from a drifted batch file landing to the promoted (or rejected)
challenger, with a real lakeFS and a real `dagster-daemon`, broken down by stage.

    python -m benchmarks.run loop        (or: python -m benchmarks.loop_bench [--repeats N])

Each repeat sets up its own lakeFS repository and DAGSTER_HOME: a champion trained on days
1-20 of the synthetic stream (in process, not timed), the daemon started, days 21-30 landed and
processed (not timed). Then the clock starts as the drifted batches of 2024-01-31..02-03 are
written to the landing folder; the stages come from the instance (run records and step
statistics).
"""

import argparse
import json
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import dagster as dg

from benchmarks.common import write_results

DS = "synthetic"
SETTINGS_ENV = {
    "MLOPS_ASSETS_DATASET": DS,
    "MLOPS_ASSETS_SENSOR_INTERVAL_SECONDS": "1",
    # Two consecutive drifted batches make a drift event (as in test_daemon_loop; with 1, a
    # single pre-drift false alarm of the calibrated verdict retrains before the drift point).
    # The drifted days land in one upload, so both are judged in the same run: same latency.
    "MLOPS_ASSETS_RETRAIN_MIN_DRIFTED_BATCHES": "2",
    "MLOPS_ASSETS_RETRAIN_TRAIN_DAYS": "6",
    "MLOPS_ASSETS_RETRAIN_EVAL_DAYS": "1",
}
# Four drifted days arrive together (one upload): the challenger then trains on three of them
# and is compared with the champion on the fourth.
DRIFTED_DAYS = ["2024-01-31", "2024-02-01", "2024-02-02", "2024-02-03"]


def _timeline(instance: dg.DagsterInstance, run_id: str) -> dict[str, float]:
    """Timestamps of one run from its event log: queued, dequeued, launching, process up (its
    "Started process" engine event: interpreter + imports done), run start, first step start,
    last step end, run end."""
    out: dict[str, float] = {}
    steps: dict[str, float] = {}
    for entry in instance.all_logs(run_id):
        event = entry.dagster_event
        if event is None:
            continue
        kind, ts = event.event_type_value, entry.timestamp
        if kind == "ENGINE_EVENT" and "Started process" in (event.message or ""):
            out.setdefault("process", ts)
        elif kind in {"PIPELINE_ENQUEUED", "PIPELINE_DEQUEUED", "PIPELINE_STARTING",
                      "PIPELINE_START", "PIPELINE_SUCCESS", "PIPELINE_FAILURE"}:
            out.setdefault(kind.removeprefix("PIPELINE_").lower(), ts)
        elif kind == "STEP_START":
            out.setdefault("first_step", ts)
        elif kind in {"STEP_SUCCESS", "STEP_FAILURE"}:
            steps[event.step_key or ""] = ts
    out["last_step"] = max(steps.values(), default=out.get("start", 0))
    out["end"] = out.get("success", out.get("failure", out["last_step"]))
    return out


def _stages(instance: dg.DagsterInstance, batch_run: str, train_run: str, t0: float) -> dict:
    """Where the seconds go, in order (they add up to the total)."""
    def step_times(run_id: str) -> dict[str, float]:
        # Op names are dataset-scoped (`synthetic__features`): keyed by the asset name.
        return {s.step_key.rsplit("__", 1)[-1]: (s.end_time or 0) - (s.start_time or 0)
                for s in instance.get_run_step_stats(run_id)}

    out: dict[str, float] = {}
    previous_end = t0
    for name, run_id, groups in (
        ("batch", batch_run, {"ingestion": ["raw_batch", "audit_raw_batch", "validated_batch"],
                              "features": ["features"], "scoring": ["predictions"],
                              "drift_report": ["drift_report"]}),
        ("train", train_run, {"training": ["model", "reference_summary"],
                              "evaluation": ["evaluation", "model_card"],
                              "promotion": ["champion"]}),
    ):
        tl = _timeline(instance, run_id)
        created = instance.get_run_record_by_id(run_id).create_timestamp.timestamp()
        sensor = "landing" if name == "batch" else "drift"
        launched = tl.get("starting", tl.get("dequeued", created))
        process = tl.get("process", launched)
        out[f"{sensor}_sensor_latency_s"] = created - previous_end
        out[f"{name}_run_queue_s"] = launched - created  # queued -> dequeued and launching
        out[f"{name}_run_process_start_s"] = process - launched  # interpreter/fork + imports
        out[f"{name}_run_setup_s"] = tl.get("first_step", process) - process
        times = step_times(run_id)
        for group, keys in groups.items():
            out[f"{group}_s"] = sum(times.get(key, 0) for key in keys)
        in_steps = tl["last_step"] - tl.get("first_step", tl["last_step"])
        out[f"{name}_run_between_steps_s"] = in_steps - sum(times.values())
        out[f"{name}_run_teardown_s"] = tl["end"] - tl["last_step"]
        previous_end = tl["end"]
    out["total_s"] = previous_end - t0
    return out


def one_loop(server: Any, workdir: Path, dagster_yaml: str | None = None) -> dict[str, Any]:
    from mlops_assets.testing import (
        all_finished,
        lakefs_env,
        land_batches,
        make_client,
        pipeline_definitions,
        prepare_home,
        run_job,
        running_daemon,
        runs_of,
        wait_for,
    )

    lakefs = make_client(server, f"loop-{uuid.uuid4().hex[:8]}")
    lakefs.ensure_repository()
    home = prepare_home(workdir / "dagster_home")
    if dagster_yaml is not None:
        (home / "dagster.yaml").write_text(dagster_yaml)
    landing = workdir / "landing"
    instance = dg.DagsterInstance.from_config(str(home))
    defs = pipeline_definitions(lakefs, landing)
    bootstrap = run_job(defs, "main_job", "2024-01-01", "2024-01-20", instance=instance,
                        training={"train_days": 10, "eval_days": 3})
    assert bootstrap.success, "bootstrap main_job failed"

    env = {**lakefs_env(lakefs, server), **SETTINGS_ENV,
           "MLOPS_ASSETS_LANDING_DIR": str(landing)}
    with running_daemon(home, env):
        land_batches(landing, DS, [f"2024-01-{d}" for d in range(21, 31)])
        wait_for(lambda: all_finished(instance, "new_batch_job", 1), 300, "days 21-30", home)
        time.sleep(3)  # let the drift sensor consume the pre-drift evaluation
        assert runs_of(instance, "train_job") == [], "retrained before the drift point"

        t0 = time.time()
        land_batches(landing, DS, DRIFTED_DAYS)
        wait_for(lambda: all_finished(instance, "new_batch_job", 2), 300, "the drifted batches",
                 home, poll=0.2)
        wait_for(lambda: all_finished(instance, "train_job", 1), 300, "the retrain", home,
                 poll=0.2)
    batch_run = runs_of(instance, "new_batch_job")[0]  # newest first
    train_run = runs_of(instance, "train_job")[0]
    stages = _stages(instance, batch_run.run_id, train_run.run_id, t0)
    launches = [r.tags.get("mlops/launch", "spawn") for r in (batch_run, train_run)]
    return {**stages, "outcome": _outcome(instance, train_run), "launches": launches}


def _outcome(instance: dg.DagsterInstance, run: dg.DagsterRun) -> str:
    """promoted / rejected (the paired test) / failed: <why> (e.g. below the quality bar)."""
    for event in instance.all_logs(run.run_id):
        mat = event.asset_materialization
        if mat is not None and mat.asset_key == dg.AssetKey([DS, "champion"]):
            return "promoted" if mat.metadata["promoted"].value else "rejected"
    failures = [e.dagster_event.step_failure_data.error.message.splitlines()[0]
                for e in instance.all_logs(run.run_id)
                if e.dagster_event and e.dagster_event.is_step_failure]
    checks = [e.dagster_event.event_specific_data for e in instance.all_logs(run.run_id)
              if e.dagster_event and e.dagster_event.event_type_value == "ASSET_CHECK_EVALUATION"]
    failed_checks = [f"{c.check_name}: {c.description}" for c in checks if not c.passed]
    return "failed: " + "; ".join(failed_checks or failures or [str(run.status)])


# The instance as it was before issue 16 (a fresh interpreter per run, the queue drained every
# 5 s), measured side by side with today's (mlops_assets.testing.DAGSTER_YAML); the start
# timeout as today's, so that a loaded machine fails neither side's first run.
BEFORE_YAML = """\
telemetry:
  enabled: false
run_coordinator:
  module: dagster.core.run_coordinator
  class: QueuedRunCoordinator
  config:
    max_concurrent_runs: 1
run_monitoring:
  enabled: true
  start_timeout_seconds: 180
  max_resume_run_attempts: 0
  poll_interval_seconds: 5
"""


def configs() -> dict[str, str]:
    from mlops_assets.testing import DAGSTER_YAML

    return {"warm": DAGSTER_YAML, "before": BEFORE_YAML}


def run(quick: bool = False, repeats: int | None = None, server: Any = None,
        sides: list[str] | None = None) -> dict[str, Any]:
    """`repeats` loops per side, the sides alternating (default 3: each loop needs its own
    bootstrap, ~1.5 min; --quick: 1 loop of today's configuration alone)."""
    repeats = repeats or (1 if quick else 3)
    sides = sides or (["warm"] if quick else ["warm", "before"])
    yamls = configs()
    with tempfile.TemporaryDirectory(prefix="bench-loop-") as tmp:
        own = None
        if server is None:
            from mlops_assets.lakefs_server import LocalLakeFS, ensure_lakefs_binary
            from mlops_assets.settings import Settings

            settings = Settings.from_env()
            binary = ensure_lakefs_binary(settings.cache_dir, settings.lakefs_binary)
            own = LocalLakeFS(Path(tmp) / "lakefs", binary=binary)
            server = own.start()
        try:
            loops: dict[str, list] = {side: [] for side in sides}
            for i in range(repeats):
                for side in sides:
                    result = one_loop(server, Path(tmp) / f"{side}{i}", yamls[side])
                    print(f"  {side} loop {i + 1}: total {result['total_s']:.1f} s "
                          f"({result['outcome']}, runs {'/'.join(result['launches'])})",
                          flush=True)
                    loops[side].append(result)
        finally:
            if own is not None:
                own.stop()
    out: dict[str, Any] = {"repeats": repeats, "sides": sides, "target_total_s": 15}
    for side, results in loops.items():
        keys = [k for k in results[0] if k.endswith("_s")]
        out[side] = {"loops": results,
                     "median": {k: statistics.median(r[k] for r in results) for k in keys}}
    main_side = out[sides[0]]["median"]["total_s"]
    out["met"] = main_side <= 15
    if "before" in out:
        out["speedup"] = out["before"]["median"]["total_s"] / main_side
    return out


def markdown(result: dict[str, Any]) -> str:
    sides = result["sides"]
    lines = []
    for side in sides:
        loops = result[side]["loops"]
        lines.append(f"{side}: outcomes {', '.join(r['outcome'] for r in loops)}; runs launched "
                     f"{', '.join('/'.join(r['launches']) for r in loops)}.")
    lines += ["", f"Target: total <= 15 s median ({'met' if result['met'] else 'not met'})"
              + (f"; before / warm = {result['speedup']:.1f}x." if "speedup" in result else "."),
              "", "| stage | " + " | ".join(f"{s} median s (min-max)" for s in sides) + " |",
              "|---|" + "---:|" * len(sides)]
    for key in result[sides[0]]["median"]:
        cells = []
        for side in sides:
            values = [r[key] for r in result[side]["loops"]]
            cells.append(f"{result[side]['median'][key]:.1f} ({min(values):.1f}-"
                         f"{max(values):.1f})")
        lines.append(f"| {key.removesuffix('_s').replace('_', ' ')} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=None)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--sides", default=None, help="comma-separated: warm,before")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    result = run(args.quick, args.repeats, sides=args.sides.split(",") if args.sides else None)
    print(markdown(result))
    if args.out:
        args.out.write_text(json.dumps(result, indent=2))
    else:
        write_results("loop", result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
