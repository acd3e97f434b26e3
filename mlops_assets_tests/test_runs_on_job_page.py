"""Runs of `dagster job execute` show on their job's page in the UI, which lists a job's runs by
job name AND the repository label `<repository>@<code location>` of the workspace's location."""

import os
from pathlib import Path

import dagster as dg
import pytest
import yaml
from dagster._core.storage.tags import REPOSITORY_LABEL_TAG

from mlops_assets.testing import dagster_job_execute, lakefs_env

pytestmark = pytest.mark.lakefs
WORKSPACE = Path(__file__).resolve().parents[1] / "workspace.yaml"


def job_page_filter(job: str) -> dg.RunsFilter:
    """The filter GrapheneJob.resolve_runs builds for the job of the workspace's location."""
    from mlops_assets.definitions import defs

    [location] = yaml.safe_load(WORKSPACE.read_text())["load_from"]
    repository = defs.get_repository_def().name
    label = f"{repository}@{location['python_module']['location_name']}"
    return dg.RunsFilter(job_name=job, tags={REPOSITORY_LABEL_TAG: label})


def test_cli_runs_are_on_their_job_page(lakefs, lakefs_server, dagster_home):
    env = {**os.environ, **lakefs_env(lakefs, lakefs_server), "DAGSTER_HOME": str(dagster_home)}
    done = dagster_job_execute("hello_job", env)  # exactly the README's CLI path
    assert done.returncode == 0, done.stderr[-2000:]
    instance = dg.DagsterInstance.get()
    [run] = instance.get_runs(filters=job_page_filter("hello_job"))
    assert run.status == dg.DagsterRunStatus.SUCCESS
    assert instance.get_runs(filters=job_page_filter("main_job")) == []
