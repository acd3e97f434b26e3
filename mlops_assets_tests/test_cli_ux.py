"""The CLI as its users meet it: the read commands answer without importing Dagster, torch, the
lakeFS SDK or polars; errors are one line (JSON under --json) with an exit code; the demo's
plan keeps the new batches after --end; its progress lines; alias moves observed in Dagster."""

import json
import os
import subprocess
import sys

import dagster as dg
import pytest

from mlops_assets.cli.datasets import DATASETS_DIR, bundled_datasets
from mlops_assets.cli.demo import DemoError, demo_plan
from mlops_assets.cli.progress import RunProgress
from mlops_assets.testing import lakefs_env

HEAVY = ("dagster", "torch", "lakefs_sdk", "polars")
# Runs the CLI in a fresh interpreter, then reports which heavy packages it imported.
WRAPPER = f"""
import json, sys
from mlops_assets.cli import main
code = main(sys.argv[1:])
sys.stdout.flush()
print(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)), file=sys.stderr)
sys.exit(code)
"""


def cli(args: list[str], env: dict[str, str]) -> tuple[int, str, str, list[str]]:
    done = subprocess.run([sys.executable, "-c", WRAPPER, *args], env=env, capture_output=True,
                          text=True, timeout=120)
    *lines, imported = done.stderr.strip().splitlines() or ["[]"]
    return done.returncode, done.stdout, "\n".join(lines), json.loads(imported)


@pytest.fixture
def cli_env(lakefs, lakefs_server, tmp_path) -> dict[str, str]:
    env = {**os.environ, **lakefs_env(lakefs, lakefs_server),
           "MLOPS_ASSETS_HOME": str(tmp_path / "home")}
    env.pop("DAGSTER_HOME", None)
    return env


# ------------------------------------------------------------------------------ demo plan
def test_demo_plan_new_batches_come_after_end():
    assert demo_plan("synthetic") == demo_plan("synthetic", None, None)
    default = demo_plan("synthetic")
    plan = demo_plan("synthetic", end="2024-01-25")  # inside the default new window
    assert plan.history == ("2024-01-01", "2024-01-25")
    assert plan.new[0] == "2024-01-26" > plan.history[1]
    assert plan.automation_env == default.automation_env
    # As many new batches as the default plan (15), capped by the data.
    assert plan.new == ("2024-01-26", "2024-02-09")
    late = demo_plan("nycflights13", start="2013-01-01", end="2013-12-20")
    assert late.new == ("2013-12-21", "2013-12-31")
    with pytest.raises(DemoError, match="after --end"):
        demo_plan("nycflights13", end="2013-12-31")
    with pytest.raises(DemoError, match="is after --end"):
        demo_plan("synthetic", start="2024-01-10", end="2024-01-05")
    with pytest.raises(DemoError, match="outside the batch calendar of synthetic"):
        demo_plan("synthetic", end="2031-01-01")


# ------------------------------------------------------------------------------ progress
RUN = "9776f03a-5872-4e7d-a25e-89ddad87f7d8"


def _debug(step: str | None, event: str, msg: str) -> str:
    where = f"{step} - " if step else ""
    return f"2026-11-30 03:41:32 +0000 - dagster - DEBUG - main_job - {RUN} - 26033 - {where}" \
           f"{event} - {msg}\n"


def test_progress_says_one_line_per_step():
    lines: list[str] = []
    progress = RunProgress(emit=lines.append, clock=iter(range(100)).__next__)
    stream = [
        "/x/click/core.py:911: SupersessionWarning: Function `job_execute_command` ...\n",
        _debug(None, "RUN_START", 'Started execution of run for "main_job".'),
        # Op names are dataset-scoped (synthetic__raw_batch); the progress line names the asset.
        _debug("synthetic__raw_batch", "STEP_START",
               'Started execution of step "synthetic__raw_batch".'),
        *[_debug("synthetic__raw_batch", "ASSET_MATERIALIZATION",
                 "Materialized value synthetic__raw_batch.")] * 20,
        _debug("synthetic__raw_batch", "STEP_SUCCESS",
               'Finished execution of step "synthetic__raw_batch" in 1.7s.'),
        _debug("audit_raw_batch", "ASSET_CHECK_EVALUATION", "Asset check 'batch_schema' on "
               "'raw_batch' passed. Description: 'schema: all 20 batch(es) pass'"),
        _debug("audit_raw_batch", "STEP_SUCCESS", "Finished execution of step."),
        f"2026-11-30 03:41:40 +0000 - dagster - INFO - main_job - {RUN} - model - Training on "
        "7000 rows (2024-01-01..2024-01-14) at lakeFS commit b3e26ab7fcb9\n",
        f"2026-11-30 03:41:41 +0000 - dagster - INFO - main_job - {RUN} - model - epoch 14/30 "
        "train_loss=0.48061 val_loss=0.45319\n",
        _debug("model", "STEP_SUCCESS", "Finished execution of step."),
        _debug("drift_report", "ASSET_CHECK_EVALUATION", "Asset check 'no_data_drift' on "
               "'drift_report' did not pass. Description: 'data drift in 2024-01-31: x1'"),
        _debug("drift_report", "STEP_SUCCESS", "Finished execution of step."),
        _debug("predictions", "STEP_SKIPPED", "Skipping step predictions."),
    ]
    for line in stream:
        progress.feed(line)
    assert progress.run_id == RUN
    assert len(lines) == 5, lines
    assert "raw_batch" in lines[0] and "20 batch(es) landed on the run branch" in lines[0]
    assert "checks 1/1 passed" in lines[1]
    assert "trained 14/30 epochs (val loss 0.45319)" in lines[2]
    assert "checks 0/1 passed; no_data_drift: data drift in 2024-01-31: x1" in lines[3]
    assert "skipped" in lines[4]


# ------------------------------------------------------------------------------ fast, plain
def test_bundled_specs_are_named_after_their_file():
    # resolve_dataset relies on it to skip parsing the spec (and importing polars).
    from mlops_assets.core.spec import load_spec

    for name in bundled_datasets():
        assert load_spec(DATASETS_DIR / f"{name}.yaml").name == name


@pytest.mark.lakefs
def test_read_commands_import_neither_dagster_nor_torch(cli_env):
    code, out, err, imported = cli(["models", "list", "--dataset", "synthetic"], cli_env)
    assert code == 0, err
    assert "0 version(s) of synthetic" in out
    assert imported == []  # not even the lakeFS SDK or polars
    code, out, _, imported = cli(["models", "history", "--dataset", "synthetic", "--alias",
                                  "all", "--json"], cli_env)
    assert (code, json.loads(out), imported) == (0, [], [])
    code, out, _, imported = cli(["models", "show", "synthetic-1", "--dataset", "synthetic",
                                  "--json"], cli_env)
    assert code == 1 and imported == []
    assert json.loads(out)["error"].startswith("no model version 'synthetic-1' of synthetic")
    # Writes and lineage use the full client, still without Dagster or torch.
    for args in (["rollback", "--dataset", "synthetic"],
                 ["lineage", "datasets/synthetic/predictions/x.parquet", "0", "--dataset",
                  "synthetic"]):
        code, _, err, imported = cli(args, cli_env)
        assert code == 1 and err.startswith("error: "), err
        assert "Traceback" not in err
        assert not {"dagster", "torch"} & set(imported), (args, imported)


@pytest.mark.lakefs
def test_errors_are_one_line_with_exit_codes(cli_env):
    code, out, err, _ = cli(["models", "list", "--dataset", "nope"], cli_env)
    assert code == 2 and out == ""
    assert err == ("error: unknown dataset 'nope': bundled datasets are nycflights13, "
                   "synthetic, or give the path of a spec YAML")
    code, out, err, _ = cli(["models", "list", "--dataset", "nope", "--json"], cli_env)
    assert code == 2 and json.loads(out) == {
        "error": "unknown dataset 'nope': bundled datasets are nycflights13, synthetic, or give "
                 "the path of a spec YAML", "kind": "usage", "exit_code": 2}
    code, _, err, _ = cli(["models", "list", "--dataset", "/no/such/spec.yaml"], cli_env)
    assert code == 2 and err.startswith("error: /no/such/spec.yaml: no such spec file")
    code, _, err, _ = cli(["models", "history", "--dataset", "synthetic", "--alias", "champ"],
                          cli_env)
    assert code == 2 and err == "error: no alias 'champ' of synthetic: aliases are none yet " \
                                "(or `all`)"
    code, _, err, _ = cli(["demo", "--dataset", "nope"], cli_env)
    assert code == 2 and err.startswith("error: unknown dataset 'nope'")
    code, _, err, _ = cli(["demo", "--dataset", "synthetic", "--end", "2031-01-01"], cli_env)
    assert code == 2 and "--end: '2031-01-01' is outside the batch calendar of synthetic" in err


# ------------------------------------------------------------------------------ Dagster
def test_alias_move_is_observed_on_the_champion_asset(dagster_home):
    from mlops_assets.cli.dagster_events import record_alias_move

    note = record_alias_move({"dataset": "synthetic", "alias": "champion",
                              "version": "synthetic-2", "action":
                              "rollback", "reason": "bad release", "previous": "synthetic-3"})
    assert note and note.startswith("recorded in Dagster")
    with dg.DagsterInstance.get() as instance:
        key = dg.AssetKey(["synthetic", "champion"])
        [record] = instance.fetch_observations(key, limit=5).records
    observation = record.asset_observation
    assert observation.description == "rollback of alias champion: bad release"
    assert observation.metadata["version"].value == "synthetic-2"
    # Without an instance the CLI records nothing and says nothing.
    assert record_alias_move({"alias": "champion"}, environ={}) is None
