"""Find or build the stack's Go servers: SeaweedFS (the S3 object store) and Helm (offline
chart rendering in tests), like lakeFS (mlops_assets.lakefs_server.build).

Order: an explicit binary (``MLOPS_ASSETS_WEED_BIN`` / ``MLOPS_ASSETS_HELM_BIN``), the cached
build of the pinned version, then a build from the Go module proxy. SeaweedFS is built through
the wrapper module ``infra/seaweedfs`` (its go.mod has a replace directive, so ``go install
...@version`` refuses it); Helm has none and is built with ``go install``. Binaries are cached
outside the repository, one directory per version (``~/.cache/mlops-assets``).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from mlops_assets.stack.procs import StackError

REPO_ROOT = Path(__file__).resolve().parents[2]
SEAWEEDFS_MODULE = "github.com/seaweedfs/seaweedfs"
SEAWEEDFS_WRAPPER = REPO_ROOT / "infra" / "seaweedfs"
HELM_MODULE = "helm.sh/helm/v3"
HELM_VERSION = "v3.22.0"  # Apache-2.0; the last v3 line on the Go module proxy


@dataclass(frozen=True)
class GoTool:
    name: str  # binary name
    label: str  # cache directory: <label>-<version>
    env_var: str  # explicit binary
    package: str  # main package
    version: str
    wrapper_dir: Path | None  # build inside this module (replace directives), else go install

    def cached(self, cache_dir: Path) -> Path:
        return cache_dir / f"{self.label}-{self.version}" / self.name


def seaweedfs_version(wrapper_dir: Path = SEAWEEDFS_WRAPPER) -> str:
    go_mod = wrapper_dir / "go.mod"
    if not go_mod.is_file():
        raise StackError(f"{go_mod} not found: building SeaweedFS needs a source checkout "
                         "(or set MLOPS_ASSETS_WEED_BIN to a `weed` binary)")
    match = re.search(rf"^require {re.escape(SEAWEEDFS_MODULE)} (v\S+)", go_mod.read_text(), re.M)
    if not match:
        raise StackError(f"{go_mod} has no 'require {SEAWEEDFS_MODULE} vX' line")
    return match.group(1)


def seaweedfs_tool() -> GoTool:
    return GoTool("weed", "seaweedfs", "MLOPS_ASSETS_WEED_BIN", f"{SEAWEEDFS_MODULE}/weed",
                  seaweedfs_version(), SEAWEEDFS_WRAPPER)


def helm_tool() -> GoTool:
    return GoTool("helm", "helm", "MLOPS_ASSETS_HELM_BIN", f"{HELM_MODULE}/cmd/helm",
                  HELM_VERSION, None)


def find_binary(tool: GoTool, cache_dir: Path) -> Path | None:
    explicit = os.environ.get(tool.env_var)
    if explicit:
        path = Path(explicit).expanduser()
        if not (path.is_file() and os.access(path, os.X_OK)):
            raise StackError(f"{tool.env_var}={explicit} is not an executable file")
        return path
    cached = tool.cached(cache_dir)
    return cached if cached.is_file() else None


def build_binary(tool: GoTool, cache_dir: Path, progress: Callable[[str], None] = print) -> Path:
    """Build the pinned version with Go from the module proxy (nice'd: it is CPU-heavy)."""
    target = tool.cached(cache_dir)
    if target.is_file():
        return target
    go = shutil.which("go")
    if go is None:
        raise StackError(f"Go is needed to build {tool.name} {tool.version} (or set "
                         f"{tool.env_var} to a binary)")
    target.parent.mkdir(parents=True, exist_ok=True)
    progress(f"Building {tool.name} {tool.version} from the Go module proxy into {target}...")
    started = time.monotonic()
    env = {**os.environ, "CGO_ENABLED": "0"}
    nice = ["nice", "-n", "10"] if shutil.which("nice") else []
    flags = ["-trimpath", "-ldflags", "-s -w"]
    if tool.wrapper_dir is not None:
        partial = target.with_suffix(".partial")
        command = [*nice, go, "build", *flags, "-o", str(partial), tool.package]
        cwd: Path | None = tool.wrapper_dir
    else:
        partial = target.parent / ".gobin" / tool.name
        env["GOBIN"] = str(partial.parent)
        command = [*nice, go, "install", *flags, f"{tool.package}@{tool.version}"]
        cwd = None
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True,
                            check=False)
    if result.returncode != 0:
        raise StackError(f"building {tool.name} {tool.version} failed ({result.returncode}):\n"
                         + result.stderr[-4000:])
    partial.replace(target)  # atomic: a concurrent reader never sees half a binary
    if tool.wrapper_dir is None:
        partial.parent.rmdir()
    progress(f"Built {tool.name} {tool.version} in {time.monotonic() - started:.0f} s")
    return target


def ensure_binary(tool: GoTool, cache_dir: Path, progress: Callable[[str], None] = print) -> Path:
    found = find_binary(tool, cache_dir)
    return found if found is not None else build_binary(tool, cache_dir, progress)
