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
    "MLOPS_ASSETS_RETRAIN_MIN_DRIFTED_BATCHES": "1",  # one drifted batch triggers: the latency
    "MLOPS_ASSETS_RETRAIN_TRAIN_DAYS": "6",
    "MLOPS_ASSETS_RETRAIN_EVAL_DAYS": "1",
}
# Four drifted days arrive together (one upload): the challenger then trains on three of them
# and is compared with the champion on the fourth.
DRIFTED_DAYS = ["2024-01-31", "2024-02-01", "2024-02-02", "2024-02-03"]


def _stages(instance: dg.DagsterInstance, batch_run: str, train_run: str, t0: float) -> dict:
    def record(run_id: str) -> Any:
        return instance.get_run_record_by_id(run_id)

    def steps(run_id: str) -> dict[str, float]:
        return {s.step_key: (s.end_time or 0) - (s.start_time or 0)
                for s in instance.get_run_step_stats(run_id)}

    batch, train = record(batch_run), record(train_run)
    b, t = steps(batch_run), steps(train_run)
    return {
        "landing_sensor_latency_s": batch.create_timestamp.timestamp() - t0,
        "batch_run_launch_s": batch.start_time - batch.create_timestamp.timestamp(),
        "ingestion_s": b.get("raw_batch", 0) + b.get("audit_raw_batch", 0)
        + b.get("validated_batch", 0),
        "features_s": b.get("features", 0),
        "scoring_s": b.get("predictions", 0),
        "drift_report_s": b.get("drift_report", 0),
        "batch_run_other_s": (batch.end_time - batch.start_time) - sum(b.values()),
        "drift_sensor_latency_s": train.create_timestamp.timestamp() - batch.end_time,
        "train_run_launch_s": train.start_time - train.create_timestamp.timestamp(),
        "training_s": t.get("model", 0) + t.get("reference_summary", 0),
        "evaluation_s": t.get("evaluation", 0) + t.get("model_card", 0),
        "promotion_s": t.get("champion", 0),
        "train_run_other_s": (train.end_time - train.start_time) - sum(t.values()),
        "total_s": train.end_time - t0,
    }


def one_loop(server: Any, workdir: Path) -> dict[str, Any]:
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
    return {**stages, "outcome": _outcome(instance, train_run)}


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


def run(quick: bool = False, repeats: int | None = None, server: Any = None) -> dict[str, Any]:
    """`repeats` loops (default 3: each needs its own bootstrap, ~1.5 min in all; --quick: 1)."""
    repeats = repeats or (1 if quick else 3)
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
            loops = []
            for i in range(repeats):
                result = one_loop(server, Path(tmp) / f"loop{i}")
                print(f"  loop {i + 1}: total {result['total_s']:.1f} s ({result['outcome']})",
                      flush=True)
                loops.append(result)
        finally:
            if own is not None:
                own.stop()
    keys = [k for k in loops[0] if k.endswith("_s")]
    medians = {k: statistics.median(r[k] for r in loops) for k in keys}
    return {"repeats": repeats, "loops": loops, "median": medians,
            "target_total_s": 60, "met": medians["total_s"] <= 60}


def markdown(result: dict[str, Any]) -> str:
    outcomes = ", ".join(r["outcome"] for r in result["loops"])
    lines = [f"Outcomes: {outcomes}. Target: total <= 60 s "
             f"({'met' if result['met'] else 'not met'}).", "",
             "| stage | median s | min-max s |", "|---|---:|---:|"]
    for key, median in result["median"].items():
        values = [r[key] for r in result["loops"]]
        lines.append(f"| {key.removesuffix('_s').replace('_', ' ')} | {median:.1f} | "
                     f"{min(values):.1f}-{max(values):.1f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=None)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    result = run(args.quick, args.repeats)
    print(markdown(result))
    if args.out:
        args.out.write_text(json.dumps(result, indent=2))
    else:
        write_results("loop", result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
