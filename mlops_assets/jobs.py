"""Jobs: named selections of the asset graph, runnable from the UI and `dagster job execute`."""

import dagster as dg

hello_job = dg.define_asset_job(
    "hello_job",
    selection=dg.AssetSelection.groups("hello"),
    description="Write greetings on a run branch, audit them, merge into main.",
)

# The job the README's first command runs: the platform's whole current capability.
main_job = dg.define_asset_job(
    "main_job",
    selection=dg.AssetSelection.groups("hello"),
    description="The platform end to end on the bundled data (see README).",
)
