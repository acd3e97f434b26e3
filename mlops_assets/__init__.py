"""mlops_assets: an MLOps platform on Dagster with data versions in lakeFS."""

__version__ = "0.1.0"
