"""`code_version` of each asset, derived from the code it runs: a hash of the source of its own
module and of the modules whose functions it calls. A change to training code therefore marks
`model` stale in Dagster, and nothing else does."""

import hashlib
import importlib.util
from functools import cache
from pathlib import Path


@cache
def _source(module: str) -> bytes:
    spec = importlib.util.find_spec(module)  # locates the file; imports only parent packages
    if spec is None or spec.origin is None:
        raise ModuleNotFoundError(f"code_version: no source for module {module!r}")
    return Path(spec.origin).read_bytes()


def code_version(*modules: str) -> str:
    """12 hex digits of the SHA-256 over the named modules' source (order-independent)."""
    digest = hashlib.sha256()
    for module in sorted(set(modules)):
        digest.update(module.encode() + b"\0" + _source(module) + b"\0")
    return digest.hexdigest()[:12]
