"""The README commands' set-up stops at once, with a clear message, when neither Go nor a
lakeFS binary is available (before the long dependency install)."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]


def test_bootstrap_stops_early_without_go_or_lakefs(tmp_path):
    bin_dir = tmp_path / "bin"  # only what the script needs: bash tools and a Python 3.11
    bin_dir.mkdir()
    for tool in ("bash", "grep", "cut", "head", "cat", "sha256sum", "dirname"):
        os.symlink(shutil.which(tool), bin_dir / tool)
    os.symlink(sys.executable, bin_dir / "python3.11")
    env = {
        "PATH": str(bin_dir),
        "HOME": str(tmp_path),
        "MLOPS_ASSETS_CACHE_DIR": str(tmp_path / "cache"),  # no cached build either
    }
    done = subprocess.run(
        [str(bin_dir / "bash"), str(REPO_ROOT / "scripts" / "bootstrap.sh"), ""],
        env=env, capture_output=True, text=True, timeout=60, cwd=tmp_path,
    )
    assert done.returncode == 2
    assert "Neither Go nor a lakeFS binary was found" in done.stderr
    assert "MLOPS_ASSETS_LAKEFS_BIN" in done.stderr
