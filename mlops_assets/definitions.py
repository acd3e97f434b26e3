"""The code location: assembles assets, checks, jobs and resources."""

import dagster as dg

from mlops_assets.assets import hello
from mlops_assets.jobs import hello_job, main_job
from mlops_assets.resources import lakefs_resource_from_env

defs = dg.Definitions(
    assets=dg.load_assets_from_modules([hello]),
    asset_checks=dg.load_asset_checks_from_modules([hello]),
    jobs=[hello_job, main_job],
    resources={"lakefs": lakefs_resource_from_env()},
)
