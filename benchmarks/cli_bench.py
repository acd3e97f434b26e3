"""How fast the registry's read commands answer, next to `import dagster` (issue 14 item 5).

    python -m benchmarks.cli_bench [--repeats 7]   # needs a lakeFS: LAKECTL_* in the env, or
                                                   # the embedded one `mlops-assets lakefs up`

Cold processes, round-robin (benchmarks.common.interleaved), after one warm-up each:

- ``python -c pass`` (interpreter start, the floor),
- ``python -c "import dagster"`` (what every registry command paid before),
- ``mlops-assets models list`` and ``models history --alias all`` on the repository of
  MLOPS_ASSETS_REPOSITORY (a real one: the numbers depend on how many versions it holds).

Target: `models list` at most half of `import dagster` (median). Results:
benchmarks/results/cli.json.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from benchmarks.common import interleaved, write_results

REPO = Path(__file__).resolve().parents[1]


def commands(dataset: str) -> dict[str, list[str]]:
    py = sys.executable
    cli = [py, "-m", "mlops_assets.cli"]
    return {
        "python -c pass": [py, "-c", "pass"],
        "import dagster": [py, "-c", "import dagster"],
        "mlops-assets models list": [*cli, "models", "list", "--dataset", dataset],
        "mlops-assets models history": [*cli, "models", "history", "--alias", "all",
                                        "--dataset", dataset],
    }


def run(repeats: int = 7, dataset: str = "synthetic") -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}

    def runner(argv: list[str]):
        def go() -> None:
            done = subprocess.run(argv, env=env, cwd=REPO, capture_output=True, text=True)
            if done.returncode != 0:
                raise RuntimeError(f"{argv} exited {done.returncode}: {done.stderr[-2000:]}")

        return go

    argv = commands(dataset)
    listed = subprocess.run([*argv["mlops-assets models list"], "--json"], env=env, cwd=REPO,
                            capture_output=True, text=True, check=True)
    timings = interleaved({k: runner(v) for k, v in argv.items()}, repeats=repeats,
                          log=lambda m: print(m, file=sys.stderr))
    ratio = (timings["mlops-assets models list"]["median_s"]
             / timings["import dagster"]["median_s"])
    return {
        "repeats": repeats,
        "commands": {k: " ".join(Path(a).name if i == 0 else a for i, a in enumerate(v))
                     for k, v in argv.items()},
        "versions_listed": len(json.loads(listed.stdout)),
        "timings": timings,
        "models_list_over_import_dagster": ratio,
        "target_met": ratio <= 0.5,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--dataset", default="synthetic")
    args = parser.parse_args(argv)
    results = run(args.repeats, args.dataset)
    path = write_results("cli", results)
    for name, t in results["timings"].items():
        print(f"{name:<32} median {t['median_s']:.3f} s  [{t['min_s']:.3f}, {t['max_s']:.3f}]")
    print(f"models list / import dagster = {results['models_list_over_import_dagster']:.2f} "
          f"(target <= 0.5); {path}")


if __name__ == "__main__":
    main()
