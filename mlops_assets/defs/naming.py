"""How one dataset's definitions are named inside a code location that may serve several.

Asset keys are always `<dataset>/<asset>` (so two datasets never share a check history) and op
names `<dataset>__<asset>` (Dagster derives them from the key; run config is keyed by them).
Jobs and sensors keep their bare names (`main_job`, `drift_retrain_sensor`) when the code
location serves one dataset, so `dagster job execute -j main_job` keeps working; with several
they are `<dataset>__main_job`, `<dataset>__drift_retrain_sensor`.
"""

import dagster as dg


def asset_key(dataset: str, name: str) -> dg.AssetKey:
    return dg.AssetKey([dataset, name])


def op_name(dataset: str, name: str) -> str:
    """The op (run config) name of a dataset's asset: `ops: {<dataset>__model: {config: ...}}`."""
    return f"{dataset}__{name}"


def scoped_name(dataset: str, name: str, scoped: bool) -> str:
    """A job or sensor name: bare for a single-dataset code location, else `<dataset>__name`."""
    return f"{dataset}__{name}" if scoped else name
