"""`mlops-assets`: the platform's command line (main.py: lakefs, demo, ui; registry.py: models,
rollback, reproduce, lineage; embedded.py: the embedded lakeFS the commands start)."""

from mlops_assets.cli.main import build_parser, main

__all__ = ["build_parser", "main"]
