#!/usr/bin/env bash
# Shared set-up for scripts/demo and scripts/test: checks prerequisites, creates .venv, installs
# the pinned dependencies (constraints.txt) once per change, and finds or builds lakeFS.
# Usage: source scripts/bootstrap.sh "<pip extras, e.g. dev,alibi or empty>"
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
EXTRAS="${1:-}"
cd "$ROOT"

say() { printf '\033[1m[mlops-assets]\033[0m %s\n' "$*"; }
die() { printf '\033[1;31m[mlops-assets] error:\033[0m %s\n' "$*" >&2; exit 2; }

# 1. Python 3.11.
PYTHON="${PYTHON:-}"
if [ -z "$PYTHON" ]; then
  for candidate in python3.11 python3; do
    if command -v "$candidate" >/dev/null 2>&1 && \
       "$candidate" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' 2>/dev/null; then
      PYTHON="$candidate"; break
    fi
  done
fi
[ -n "$PYTHON" ] || die "Python 3.11 is required (python3.11 or python3 on PATH, or set PYTHON=/path/to/python3.11)."

# 2. lakeFS: a binary (MLOPS_ASSETS_LAKEFS_BIN, PATH, or an earlier build) or Go to build one.
# Checked before the long pip install so a missing prerequisite fails in a second.
cache_dir="${MLOPS_ASSETS_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/mlops-assets}"
lakefs_version="$(grep -Eo 'github.com/treeverse/lakefs v[0-9.]+' infra/lakefs/go.mod | head -1 | cut -d' ' -f2)"
if [ -z "${LAKECTL_SERVER_ENDPOINT_URL:-}" ] && [ -z "${MLOPS_ASSETS_LAKEFS_BIN:-}" ] && \
   ! command -v lakefs >/dev/null 2>&1 && [ ! -x "$cache_dir/lakefs-$lakefs_version/lakefs" ] && \
   ! command -v go >/dev/null 2>&1; then
  die "Neither Go nor a lakeFS binary was found. Install Go 1.26+ (lakeFS $lakefs_version is then built from the Go module proxy), or put a lakeFS binary on PATH / set MLOPS_ASSETS_LAKEFS_BIN, or point at your own server with LAKECTL_SERVER_ENDPOINT_URL (see README)."
fi

# 3. The virtualenv, reinstalled only when the dependency files or extras change.
if [ ! -x .venv/bin/python ]; then
  say "Creating .venv with $PYTHON"
  "$PYTHON" -m venv .venv
fi
stamp_file=.venv/.mlops-assets-installed
stamp="$(cat pyproject.toml constraints.txt | sha256sum | cut -c1-16)-[$EXTRAS]"
if [ "$(cat "$stamp_file" 2>/dev/null)" != "$stamp" ]; then
  target="."
  [ -n "$EXTRAS" ] && target=".[$EXTRAS]"
  say "Installing mlops-assets${EXTRAS:+ with extras [$EXTRAS]} and pinned dependencies (constraints.txt); the first time downloads torch (~3 GB)..."
  .venv/bin/python -m pip install --quiet --upgrade pip
  .venv/bin/python -m pip install --quiet --progress-bar off -c constraints.txt -e "$target"
  echo "$stamp" > "$stamp_file"
fi

# 4. The lakeFS binary (skipped when an external lakeFS is configured).
if [ -z "${LAKECTL_SERVER_ENDPOINT_URL:-}" ]; then
  .venv/bin/mlops-assets lakefs build >/dev/null
fi
export PATH="$ROOT/.venv/bin:$PATH"
