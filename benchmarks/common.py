"""Small shared benchmark harness: interleaved timing with warm-up, median + spread, peak RSS of a
measured region (Linux), machine facts and machine-readable results under benchmarks/results/."""

from __future__ import annotations

import contextlib
import datetime as dt
import importlib.metadata
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

RESULTS_DIR = Path(__file__).resolve().parent / "results"
VERSIONED = ("polars", "pandas", "numpy", "torch", "pyarrow", "dagster")


def summarize(times: Sequence[float]) -> dict[str, Any]:
    """Median and spread (min, max, quartiles) of timings in seconds."""
    ts = sorted(times)
    q1, _, q3 = statistics.quantiles(ts, n=4, method="inclusive") if len(ts) > 1 else ts * 3
    return {
        "median_s": statistics.median(ts), "min_s": ts[0], "max_s": ts[-1],
        "q1_s": q1, "q3_s": q3, "repeats": len(ts), "times_s": list(times),
    }


def time_once(fn: Callable[[], Any]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def interleaved(
    fns: dict[str, Callable[[], Any]],
    repeats: int | dict[str, int],
    warmup: int = 1,
    log: Callable[[str], None] | None = None,
    before: dict[str, Callable[[], Any]] | None = None,
) -> dict[str, dict[str, Any]]:
    """Time each function ``repeats`` times after ``warmup`` untimed runs, alternating between
    the functions (round-robin, rotating the start) so that machine noise hits all alike.
    ``repeats`` may differ per function (a slow one can get fewer); the warm-up times are kept
    in the result as ``warmup_s`` but are not part of the statistics. ``before[k]``, when given,
    runs untimed before every call of ``fns[k]`` (e.g. resetting state)."""
    before = before or {}

    def timed(k: str) -> float:
        if k in before:
            before[k]()
        return time_once(fns[k])

    want = {k: repeats if isinstance(repeats, int) else repeats[k] for k in fns}
    warm: dict[str, list[float]] = {k: [] for k in fns}
    runs: dict[str, list[float]] = {k: [] for k in fns}
    names = list(fns)
    for _ in range(warmup):
        for k in names:
            warm[k].append(timed(k))
            if log:
                log(f"  warm-up {k}: {warm[k][-1]:.3f}s")
    for i in range(max(want.values(), default=0)):
        for k in names[i % len(names):] + names[: i % len(names)]:
            if len(runs[k]) < want[k]:
                runs[k].append(timed(k))
                if log:
                    log(f"  run {i + 1} {k}: {runs[k][-1]:.3f}s")
    return {k: {**summarize(runs[k]), "warmup_s": warm[k]} for k in names if runs[k]}


# --- memory (Linux) ---------------------------------------------------------------------------


def _status_kb(field: str) -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


def rss_bytes() -> int | None:
    kb = _status_kb("VmRSS")
    return None if kb is None else kb * 1024


def reset_peak_rss() -> bool:
    """Reset this process's peak RSS (VmHWM) to its current RSS; False where unsupported."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def peak_rss_bytes() -> int | None:
    """Peak RSS of this process since start or the last reset_peak_rss()."""
    kb = _status_kb("VmHWM")
    if kb is None:
        import resource

        kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # kB on Linux; never reset
    return kb * 1024


def measure_region_memory(fn: Callable[[], Any]) -> dict[str, Any]:
    """Run fn once; RSS before it, and the peak RSS while it ran (VmHWM after a reset)."""
    import gc

    gc.collect()
    before = rss_bytes()
    reset = reset_peak_rss()
    fn()
    peak = peak_rss_bytes()
    delta = peak - before if reset and peak is not None and before is not None else None
    return {"rss_before_bytes": before, "peak_rss_bytes": peak, "peak_above_before_bytes": delta,
            "peak_is_region_only": reset}


def run_child(
    argv: list[str], env: dict[str, str] | None = None, cwd: str | Path | None = None
) -> dict[str, Any]:
    """Run ``python argv...`` in a child process that prints one JSON object as its last stdout
    line; return that object plus ``child_max_rss_bytes`` (the child's ru_maxrss, from wait4)."""
    with tempfile.TemporaryFile("w+") as out:
        proc = subprocess.Popen([sys.executable, *argv], stdout=out, env=env, cwd=cwd)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        text = out.read()
    if proc.returncode != 0:
        raise RuntimeError(f"child {argv} exited with {proc.returncode}: {text[-2000:]}")
    result = json.loads(text.strip().splitlines()[-1])
    result["child_max_rss_bytes"] = usage.ru_maxrss * 1024  # kB on Linux
    return result


# --- machine facts and results ------------------------------------------------------------------


def _meminfo_bytes(field: str) -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def machine_info() -> dict[str, Any]:
    """Facts that a timing depends on; versions come from package metadata (nothing imported)."""
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    return {
        "cpu_model": _cpu_model(),
        "logical_cores": os.cpu_count(),
        "usable_cores": usable,
        "memory_total_bytes": _meminfo_bytes("MemTotal"),
        "memory_available_bytes": _meminfo_bytes("MemAvailable"),
        "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "versions": {d: _version(d) for d in VERSIONED},
        "env": {k: os.environ[k] for k in ("POLARS_MAX_THREADS", "OMP_NUM_THREADS")
                if k in os.environ},
    }


def write_results(name: str, results: dict[str, Any], out_dir: str | Path | None = None) -> Path:
    """Write ``{"benchmark", "created", "machine", "results"}`` to ``<out_dir>/<name>.json``
    (default benchmarks/results/) and return the path."""
    out = Path(out_dir) if out_dir is not None else RESULTS_DIR
    out.mkdir(parents=True, exist_ok=True)
    doc = {
        "benchmark": name,
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": machine_info(),
        "results": results,
    }
    path = out / f"{name}.json"
    path.write_text(json.dumps(doc, indent=2, default=str) + "\n")
    return path


def fmt_bytes(n: int | None) -> str:
    return "n/a" if n is None else f"{n / 2**30:.2f} GiB" if n >= 2**30 else f"{n / 2**20:.0f} MiB"


def dir_bytes(path: str | Path) -> int:
    """Disk space allocated under ``path`` (st_blocks, so sparse/preallocated files count as
    what they really occupy)."""
    total = 0
    for root, _, files in os.walk(path):
        for f in files:
            with contextlib.suppress(OSError):  # a file removed while walking
                total += os.lstat(os.path.join(root, f)).st_blocks * 512
    return total


def update_doc_section(doc: str | Path, key: str, body: str) -> Path:
    """Replace the text between ``<!-- bench:KEY:start -->`` and ``<!-- bench:KEY:end -->`` in
    ``doc`` with ``body``; append the marked section at the end when it is not there yet. Text
    outside the markers (sections written by hand or by other entries) is left as it is."""
    path = Path(doc)
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    start, end = f"<!-- bench:{key}:start -->", f"<!-- bench:{key}:end -->"
    block = f"{start}\n{body.strip()}\n{end}"
    if start in text and end in text:
        head, rest = text.split(start, 1)
        _, tail = rest.split(end, 1)
        text = head + block + tail
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    path.write_text(text)
    return path
