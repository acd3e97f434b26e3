"""Code location load time: cold processes importing and validating the code location.

    python -m benchmarks.run load_time            # warm-up + 5 cold runs of each command
    python -m benchmarks.run load_time --quick    # 1 run each: plumbing only

Each run is a new Python process (cold interpreter; the OS file cache is warm after the warm-up,
as on a developer machine or a running Dagster deployment that reloads its code location). The
commands alternate round-robin:

- ``python -c pass`` (interpreter start, the floor),
- ``python -c "import dagster"``,
- ``python -c "import mlops_assets.definitions"`` (what a code server loads),
- ``dagster definitions validate -m mlops_assets.definitions`` (Dagster 1.13's CLI check: loads
  the code location in a code server process and validates it).

DAGSTER_HOME is a fresh temporary instance (telemetry off). One extra
``python -X importtime -c "import mlops_assets.definitions"`` gives the import profile: the
slowest top-level packages by cumulative import time.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from benchmarks.common import interleaved

REPO = Path(__file__).resolve().parents[1]
TARGET_S = 3.0


def commands() -> dict[str, list[str]]:
    py = sys.executable
    dagster = str(Path(py).with_name("dagster"))
    return {
        "python -c pass": [py, "-c", "pass"],
        "import dagster": [py, "-c", "import dagster"],
        "import mlops_assets.definitions": [py, "-c", "import mlops_assets.definitions"],
        "dagster definitions validate": [dagster, "definitions", "validate", "-m",
                                         "mlops_assets.definitions"],
    }


def _runner(argv: list[str], env: dict[str, str]) -> Any:
    def go() -> None:
        proc = subprocess.run(argv, env=env, cwd=REPO, capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f"{argv} exited {proc.returncode}: {proc.stderr[-2000:]}")

    return go


def import_profile(env: dict[str, str], top: int = 15) -> list[dict[str, Any]]:
    """Packages by cumulative import time (python -X importtime): overlapping figures."""
    proc = subprocess.run([sys.executable, "-X", "importtime", "-c",
                           "import mlops_assets.definitions"], env=env, cwd=REPO,
                          capture_output=True, text=True, check=True)
    per_package: dict[str, int] = {}
    for line in proc.stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        _, cumulative, name = (x.strip() for x in line[len("import time:"):].split("|"))
        if not cumulative.isdigit():
            continue
        # A package's cost is its largest cumulative time (where it was first imported, at
        # whatever depth); the packages overlap (dagster imports pydantic, ...).
        pkg = name.split(".")[0]
        per_package[pkg] = max(per_package.get(pkg, 0), int(cumulative))
    ranked = sorted(per_package.items(), key=lambda kv: -kv[1])[:top]
    return [{"package": p, "cumulative_s": us / 1e6} for p, us in ranked]


VALIDATE_PROFILE = r"""
import cProfile, json, pstats, sys, time
t0 = time.perf_counter()
from dagster._cli import main
t1 = time.perf_counter()
sys.argv = ["dagster", "definitions", "validate", "-m", "mlops_assets.definitions"]
prof = cProfile.Profile()
prof.enable()
try:
    main()
except SystemExit:
    pass
prof.disable()
t2 = time.perf_counter()
phases = {"get_possibly_temporary_instance_for_cli": "instance (DAGSTER_HOME storage)",
          "get_workspace_from_cli_opts": "load the code location (imports it)",
          "validate_partitions": "validate partitions"}
out = {"cli import (not profiled)": t1 - t0, "validate command (profiled)": t2 - t1}
for (f, _, fn), (_, _, _, ct, _) in pstats.Stats(prof).stats.items():
    if fn in phases and "dagster" in f:
        out[phases[fn]] = out.get(phases[fn], 0.0) + ct
print(json.dumps(out))
"""


def validate_profile(env: dict[str, str]) -> dict[str, float]:
    """Phases of one `dagster definitions validate`: the CLI's imports (timed plainly), then the
    command under cProfile (cumulative time of its instance and workspace phases; cProfile
    inflates Python-heavy code, so read these as shares)."""
    proc = subprocess.run([sys.executable, "-c", VALIDATE_PROFILE], env=env, cwd=REPO,
                          capture_output=True, text=True, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def run(quick: bool = False, repeats: int | None = None, **_: Any) -> dict[str, Any]:
    from mlops_assets.settings import ensure_dagster_home

    repeats = repeats or (1 if quick else 5)
    with tempfile.TemporaryDirectory(prefix="bench-load-") as tmp:
        env = {**os.environ, "DAGSTER_HOME": str(ensure_dagster_home(Path(tmp) / "home"))}
        env.pop("PYTHONPROFILEIMPORTTIME", None)
        fns = {name: _runner(argv, env) for name, argv in commands().items()}
        timings = interleaved(fns, repeats, warmup=0 if quick else 1)
        profile = import_profile(env)
        phases = validate_profile(env)
    results: dict[str, Any] = {
        "repeats": repeats, "warmup": 0 if quick else 1, "timings": timings,
        "commands": {k: shlex.join([Path(v[0]).name, *v[1:]]) for k, v in commands().items()},
        "import_profile": profile, "validate_phases_s": phases, "target_s": TARGET_S,
    }
    results["targets"] = {
        k: timings[k]["median_s"] <= TARGET_S
        for k in ("import mlops_assets.definitions", "dagster definitions validate")
    }
    return results


def markdown(results: dict[str, Any]) -> str:
    t = results["timings"]
    lines = ["| command (cold process) | median s | min-max s | repeats | target <= 3 s |",
             "| --- | ---: | ---: | ---: | --- |"]
    for name, s in t.items():
        met = results["targets"].get(name)
        mark = "" if met is None else ("met" if met else "**not met**")
        lines.append(f"| `{results['commands'][name]}` | {s['median_s']:.2f} | "
                     f"{s['min_s']:.2f}-{s['max_s']:.2f} | {s['repeats']} | {mark} |")
    lines += ["", "Import profile (`python -X importtime -c \"import mlops_assets.definitions\"`,"
              " slowest packages by cumulative import time; they overlap, one run):", "",
              "| package | s |", "| --- | ---: |"]
    for row in results["import_profile"][:10]:
        lines.append(f"| {row['package']} | {row['cumulative_s']:.2f} |")
    lines += ["", "Phases of one `dagster definitions validate` (the CLI's imports timed plainly, "
              "the command under cProfile, which inflates it; one run):", "",
              "| phase | s |", "| --- | ---: |"]
    for name, sec in results["validate_phases_s"].items():
        lines.append(f"| {name} | {sec:.2f} |")
    return "\n".join(lines)


def notes(results: dict[str, Any]) -> str:
    t = results["timings"]
    floor = t["python -c pass"]["median_s"]
    dag = t["import dagster"]["median_s"]
    imp = t["import mlops_assets.definitions"]["median_s"]
    val = t["dagster definitions validate"]["median_s"]
    return "\n".join([
        f"- `import mlops_assets.definitions`: {imp:.2f} s, of which the interpreter is "
        f"{floor:.2f} s and `import dagster` alone {dag:.2f} s; the platform's own modules and "
        f"the rest of their imports add {imp - dag:.2f} s. Target <= 3 s: "
        f"{'met' if results['targets']['import mlops_assets.definitions'] else 'not met'}.",
        f"- `dagster definitions validate`: {val:.2f} s (target <= 3 s: "
        f"{'met' if results['targets']['dagster definitions validate'] else 'not met'}); it is "
        "one process that imports the dagster CLI, opens the DAGSTER_HOME instance (sqlite "
        "storages), loads the code location in process and validates it; see the phases.",
    ])
