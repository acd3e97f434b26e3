"""Model versions in lakeFS: weights, the rebuild metadata, the record, and named pointers.

A version lives in `models/<ds>/<version>/` (see mlops_assets.layout). torch is imported only
inside the functions that need it, so importing this module stays cheap.
"""

import json
import platform
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from mlops_assets.platform import layout
from mlops_assets.platform.lakefs_client import LakeFSClient, LakeFSNotFoundError

_LIBRARIES = ("torch", "polars", "numpy", "safetensors", "dagster", "mlops-assets")


def library_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in _LIBRARIES:
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def save_version(
    lakefs: LakeFSClient,
    branch: str,
    ds: str,
    model_version: str,
    trained: Any,
    record: dict[str, Any],
) -> dict[str, Any]:
    """Write weights (safetensors), rebuild metadata and the record; returns the record with the
    weights hash filled in."""
    from mlops_assets.core.model import serialize_model, weights_sha256

    weights, meta = serialize_model(trained)
    record = {**record, "weights_sha256": weights_sha256(weights)}
    base = layout.model_dir(ds, model_version)
    lakefs.put_bytes(branch, base + "weights.safetensors", weights)
    lakefs.put_bytes(
        branch, base + "model.json", json.dumps(meta, allow_nan=False, sort_keys=True).encode()
    )
    lakefs.put_json(branch, base + "record.json", record)
    return record


def load_version(lakefs: LakeFSClient, ref: str, ds: str, model_version: str) -> tuple[Any, dict]:
    """(TrainedModel, record) of a version as stored at `ref`."""
    from mlops_assets.core.model import deserialize_model

    base = layout.model_dir(ds, model_version)
    weights = lakefs.get_bytes(ref, base + "weights.safetensors")
    meta = lakefs.get_json(ref, base + "model.json")
    return deserialize_model(weights, meta), lakefs.get_json(ref, base + "record.json")


def read_pointer(lakefs: LakeFSClient, ref: str, ds: str, name: str) -> dict[str, Any] | None:
    try:
        return lakefs.get_json(ref, layout.model_pointer(ds, name))
    except LakeFSNotFoundError:
        return None


def write_pointer(
    lakefs: LakeFSClient, branch: str, ds: str, name: str, value: dict[str, Any]
) -> None:
    lakefs.put_json(branch, layout.model_pointer(ds, name), value)
