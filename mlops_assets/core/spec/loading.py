"""Loading specs: one file (a bundled name or a path), or every spec a code location serves."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from mlops_assets.core.spec.base import DATASETS_DIR, SpecError
from mlops_assets.core.spec.model import DatasetSpec

DEFAULT_DATASET = "nycflights13"


def _format_loc(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _format_errors(exc: ValidationError, origin: str) -> str:
    lines = []
    for err in exc.errors():
        loc = _format_loc(tuple(err["loc"]))
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown field"
        lines.append(f"{loc}: {msg}" if loc else msg)
    return f"{origin}: invalid dataset spec: " + "; ".join(lines)


def parse_spec(data: dict[str, Any], origin: str = "<spec>") -> DatasetSpec:
    """Validate a spec given as a mapping; errors are SpecError naming ``origin`` and fields."""
    try:
        return DatasetSpec.model_validate(data)
    except ValidationError as exc:
        raise SpecError(_format_errors(exc, origin)) from None


def spec_path(name_or_path: str | Path) -> Path:
    """A bare name is a bundled dataset (mlops_assets/datasets/<name>.yaml); else a path."""
    text = str(name_or_path)
    if re.fullmatch(r"[a-z][a-z0-9_]*", text):
        return DATASETS_DIR / f"{text}.yaml"
    return Path(text)


def load_spec(name_or_path: str | Path) -> DatasetSpec:
    path = spec_path(name_or_path)
    try:
        data = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        bundled = sorted(p.stem for p in DATASETS_DIR.glob("*.yaml"))
        raise SpecError(f"{path}: no such spec file (bundled datasets: {bundled})") from None
    except (OSError, yaml.YAMLError) as exc:
        raise SpecError(f"{path}: cannot read spec: {exc}") from None
    if not isinstance(data, dict):
        raise SpecError(f"{path}: a dataset spec must be a YAML mapping")
    spec = parse_spec(data, str(path))
    spec._source_file = path.resolve()
    return spec


def dataset_entries(environ: Mapping[str, str] = os.environ) -> list[str]:
    """What a code location serves: every *.yaml in MLOPS_ASSETS_DATASETS_DIR, then each entry
    of MLOPS_ASSETS_DATASET (comma-separated bundled names or paths); nycflights13 when neither
    is set."""
    entries = [e.strip() for e in (environ.get("MLOPS_ASSETS_DATASET") or "").split(",")
               if e.strip()]
    folder = environ.get("MLOPS_ASSETS_DATASETS_DIR")
    if folder:
        if not Path(folder).is_dir():
            raise SpecError(f"MLOPS_ASSETS_DATASETS_DIR={folder}: not a folder")
        entries = [str(p) for p in sorted(Path(folder).glob("*.yaml"))] + entries
    return entries or [DEFAULT_DATASET]


def load_specs(entries: list[str]) -> list[DatasetSpec]:
    """Every spec of ``entries``, in order; a dataset name used twice is an error naming both
    files (two specs of one name would share asset keys and lakeFS paths)."""
    specs: list[DatasetSpec] = []
    seen: dict[str, str] = {}
    for entry in entries:
        spec = load_spec(entry)
        origin = str(spec.source_file or entry)
        if spec.name in seen:
            if seen[spec.name] == origin:
                continue  # the same file listed twice
            raise SpecError(f"{origin}: name: dataset {spec.name!r} is already defined by "
                            f"{seen[spec.name]}")
        seen[spec.name] = origin
        specs.append(spec)
    return specs


def specs_from_env(environ: Mapping[str, str] = os.environ) -> list[DatasetSpec]:
    return load_specs(dataset_entries(environ))
