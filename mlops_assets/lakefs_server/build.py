"""Find or build the lakeFS server binary.

Order: an explicit binary (``MLOPS_ASSETS_LAKEFS_BIN``, passed in by the CLI), a ``lakefs`` on PATH,
the cached build of the pinned version, and only then a build from the Go module proxy through the
wrapper module in ``infra/lakefs`` (lakeFS's go.mod has a replace directive, so ``go install
...@version`` refuses it). The binary is cached outside the repository, one directory per version,
so changing the pinned version in ``infra/lakefs/go.mod`` triggers exactly one rebuild.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

LAKEFS_MODULE = "github.com/treeverse/lakefs"
REPO_ROOT = Path(__file__).resolve().parents[2]
WRAPPER_MODULE_DIR = REPO_ROOT / "infra" / "lakefs"


class LakeFSBinaryError(RuntimeError):
    """No lakeFS binary could be found or built."""


def pinned_version(wrapper_dir: Path = WRAPPER_MODULE_DIR) -> str:
    """The lakeFS release required by the wrapper module's go.mod (the single source of truth)."""
    go_mod = wrapper_dir / "go.mod"
    if not go_mod.is_file():
        raise LakeFSBinaryError(
            f"{go_mod} not found: building lakeFS needs a source checkout of mlops_assets "
            "(or set MLOPS_ASSETS_LAKEFS_BIN to a lakeFS binary)."
        )
    pattern = rf"^\s*(?:require\s+)?{re.escape(LAKEFS_MODULE)}\s+(v\S+)"
    match = re.search(pattern, go_mod.read_text(), re.M)
    if not match:
        raise LakeFSBinaryError(f"{go_mod} has no 'require {LAKEFS_MODULE} vX.Y.Z' line")
    return match.group(1)


def cached_binary(cache_dir: Path, version: str) -> Path:
    return cache_dir / f"lakefs-{version}" / "lakefs"


def find_lakefs_binary(
    cache_dir: Path, explicit: str | None = None, wrapper_dir: Path = WRAPPER_MODULE_DIR
) -> Path | None:
    """An existing binary, without building: explicit > PATH > cache of the pinned version."""
    if explicit:
        path = Path(explicit).expanduser()
        if not (path.is_file() and os.access(path, os.X_OK)):
            raise LakeFSBinaryError(f"MLOPS_ASSETS_LAKEFS_BIN={explicit} is not an executable file")
        return path
    on_path = shutil.which("lakefs")
    if on_path:
        return Path(on_path)
    try:
        candidate = cached_binary(cache_dir, pinned_version(wrapper_dir))
    except LakeFSBinaryError:
        return None
    return candidate if candidate.is_file() else None


def build_lakefs(
    cache_dir: Path,
    wrapper_dir: Path = WRAPPER_MODULE_DIR,
    progress: Callable[[str], None] = print,
) -> Path:
    """Build the pinned lakeFS server with Go from the module proxy; returns the binary path."""
    version = pinned_version(wrapper_dir)
    target = cached_binary(cache_dir, version)
    if target.is_file():
        return target
    go = shutil.which("go")
    if go is None:
        raise LakeFSBinaryError(
            "Neither a lakeFS binary nor the Go toolchain was found. Install Go (1.26+) so "
            f"mlops_assets can build lakeFS {version} from the Go module proxy, or put a lakeFS "
            "binary on PATH / set MLOPS_ASSETS_LAKEFS_BIN=/path/to/lakefs."
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".partial")
    progress(
        f"Building lakeFS {version} from the Go module proxy into {target} "
        "(first build downloads ~430 modules; later builds use the Go caches)..."
    )
    started = time.monotonic()
    env = {**os.environ, "CGO_ENABLED": "0"}
    # Stamp the release into the binary as lakeFS's own release build does ("dev" otherwise).
    ldflags = f"-X {LAKEFS_MODULE}/pkg/version.Version={version.lstrip('v')}"
    command = [
        go,
        "build",
        "-trimpath",
        "-ldflags",
        ldflags,
        "-o",
        str(partial),
        f"{LAKEFS_MODULE}/cmd/lakefs",
    ]
    result = subprocess.run(
        command, cwd=wrapper_dir, env=env, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        partial.unlink(missing_ok=True)
        raise LakeFSBinaryError(
            f"go build of lakeFS {version} failed (exit {result.returncode}) in {wrapper_dir}:\n"
            + result.stderr[-4000:]
        )
    partial.replace(target)  # atomic: a concurrent reader never sees half a binary
    progress(f"Built lakeFS {version} in {time.monotonic() - started:.0f} s: {target}")
    return target


def ensure_lakefs_binary(
    cache_dir: Path,
    explicit: str | None = None,
    wrapper_dir: Path = WRAPPER_MODULE_DIR,
    progress: Callable[[str], None] = print,
) -> Path:
    found = find_lakefs_binary(cache_dir, explicit, wrapper_dir)
    return found if found is not None else build_lakefs(cache_dir, wrapper_dir, progress)
