"""`--dataset`: a bundled spec name or a spec path, resolved without importing the spec parser
(polars, pydantic) for the bundled names, which is what the read commands are given."""

from __future__ import annotations

import re
from pathlib import Path

from mlops_assets.cli.errors import CLIError

DATASETS_DIR = Path(__file__).resolve().parents[1] / "datasets"
_BARE = re.compile(r"[a-z][a-z0-9_]*")  # the rule of core.spec.spec_path


def bundled_datasets() -> list[str]:
    return sorted(p.stem for p in DATASETS_DIR.glob("*.yaml"))


def resolve_dataset(name_or_path: str) -> str:
    """The dataset name for `--dataset`; a one-line :class:`CLIError` when there is none."""
    if _BARE.fullmatch(name_or_path):
        # A bundled spec is named after its file (test_cli_ux checks that it stays so).
        if (DATASETS_DIR / f"{name_or_path}.yaml").is_file():
            return name_or_path
        raise CLIError(f"unknown dataset {name_or_path!r}: bundled datasets are "
                       f"{', '.join(bundled_datasets())}, or give the path of a spec YAML")
    return load_dataset_spec(name_or_path).name


def load_dataset_spec(name_or_path: str):  # -> core.spec.DatasetSpec
    from mlops_assets.core.spec import SpecError, load_spec

    try:
        return load_spec(name_or_path)
    except SpecError as error:
        raise CLIError(str(error)) from None
