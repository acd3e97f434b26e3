"""The landing folder: where new batch files arrive before ingestion."""

from pathlib import Path

import dagster as dg
from pydantic import Field

from mlops_assets.core.batch_keys import is_safe_key

BATCH_SUFFIXES = (".parquet", ".csv")


class LandingResource(dg.ConfigurableResource):
    """`<path>/<dataset>/<partition key>.parquet|.csv`; a batch without a file is extracted from
    the dataset's bundled sources instead."""

    path: str = Field(description="landing folder (MLOPS_ASSETS_LANDING_DIR)")

    def dataset_dir(self, dataset: str) -> Path:
        return Path(self.path).expanduser() / dataset

    def batch_file(self, dataset: str, key: str) -> Path | None:
        """The batch's file, if one landed. A key that could leave the folder (`../x`) names no
        file, and a symlink resolving outside the landing folder is ignored: whoever can write
        the folder must not make ingestion read an arbitrary file."""
        if not is_safe_key(key):
            return None
        root = Path(self.path).expanduser().resolve()
        for suffix in BATCH_SUFFIXES:
            candidate = self.dataset_dir(dataset) / f"{key}{suffix}"
            if candidate.is_file() and candidate.resolve().is_relative_to(root):
                return candidate
        return None
