"""Drift benchmark: full report time vs batch size, and batched MMD vs alibi-detect's MMDDrift.

    python benchmarks/drift_bench.py --quick --out /tmp/drift_bench_quick.json
    python benchmarks/drift_bench.py --out /tmp/drift_bench_full.json     # ~15-20 min on 2 cores

Each timing is the median of ``--repeats`` runs after one warm-up run, the two engines
alternating run by run (benchmarks.common.interleaved); native/alibi ratios come from the same
process. The 1M x 20 report against NannyML and the large-n MMD: benchmarks/drift_speed_bench.py.
Not run by the test suite.
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mlops_assets.core.drift import DriftConfig, build_reference, get_detector
from mlops_assets.core.drift.native import mmd_permutation_test

N_FEATURES = 20


def timed(fn: Callable[[], Any], repeats: int) -> dict[str, float]:
    fn()  # warm-up: imports, allocator, thread pools
    runs = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - t0)
    return {"median_s": statistics.median(runs), "min_s": min(runs), "max_s": max(runs),
            "runs": len(runs)}


def _interleaved(fns: dict[str, Callable[[], Any]], repeats: int) -> dict[str, Any]:
    """benchmarks.common.interleaved, keyed as this module's JSON always was (median_s, min_s,
    max_s, runs) plus every time."""
    from benchmarks.common import interleaved

    out = interleaved(fns, repeats)
    return {k: {"median_s": v["median_s"], "min_s": v["min_s"], "max_s": v["max_s"],
                "runs": v["repeats"], "times_s": v["times_s"]} for k, v in out.items()}


def make_frame(n: int, seed: int, shift: float = 0.0) -> pl.DataFrame:
    r = np.random.default_rng(seed)
    x = r.normal(size=(n, N_FEATURES)).astype(np.float32)
    x[:, 0] += shift
    return pl.DataFrame({f"f{j:02d}": x[:, j] for j in range(N_FEATURES)})


def bench_reports(rows: list[int], alibi_rows: list[int], repeats: int) -> list[dict[str, Any]]:
    ref_frame = make_frame(100_000, seed=0)
    ref = build_reference(ref_frame, list(ref_frame.columns), [])
    cfg = DriftConfig()  # default: KS per feature + MMD (100 permutations, <= 1000 per side)
    out = []
    for n in rows:
        cur = make_frame(n, seed=1, shift=0.1)
        row: dict[str, Any] = {"rows": n, "features": N_FEATURES}
        native = get_detector("native")
        fns = {"native": lambda: native.detect(ref, cur, cfg)}  # noqa: B023
        if n in alibi_rows:
            alibi = get_detector("alibi")
            fns["alibi"] = lambda: alibi.detect(ref, cur, cfg)  # noqa: B023
        # Engines alternate run by run (round-robin after one warm-up each), as the docs say.
        row.update(_interleaved(fns, repeats))
        if "alibi" in row:
            row["alibi_over_native"] = row["alibi"]["median_s"] / row["native"]["median_s"]
        out.append(row)
        print(f"report rows={n}: {row}", flush=True)
    return out


def bench_mmd(sizes: list[int], alibi_sizes: list[int], perms: int, repeats: int
              ) -> list[dict[str, Any]]:
    out = []
    for n in sizes:
        r = np.random.default_rng(n)
        x = r.normal(size=(n, N_FEATURES)).astype(np.float32)
        y = r.normal(size=(n, N_FEATURES)).astype(np.float32)
        y[:, 0] += 0.05
        sigma = float(np.sqrt(N_FEATURES))  # ~ the median heuristic for standardized data
        row: dict[str, Any] = {"n_per_side": n, "permutations": perms,
                               "native_dtype": "float64" if 2 * n <= 5000 else "float32"}
        fns = {"native": lambda: mmd_permutation_test(x, y, sigma, perms)}  # noqa: B023
        if n in alibi_sizes:
            from alibi_detect.cd import MMDDrift

            def run_alibi() -> None:
                det = MMDDrift(x, backend="pytorch", sigma=np.array([sigma], np.float32),  # noqa: B023
                               n_permutations=perms, device="cpu")
                det.predict(y)  # noqa: B023

            fns["alibi"] = run_alibi
        row.update(_interleaved(fns, repeats))
        if "alibi" in row:
            row["alibi_over_native"] = row["alibi"]["median_s"] / row["native"]["median_s"]
        out.append(row)
        print(f"mmd n={n}: {row}", flush=True)
    return out


def markdown(result: dict[str, Any]) -> str:
    def cell(row: dict[str, Any], key: str) -> str:
        return f"{row[key]['median_s']:.3f}" if key in row else "—"

    lines = ["### Drift report time (20 numeric features, median s)", "",
             "| rows | native | alibi | alibi / native |", "|---:|---:|---:|---:|"]
    for row in result["reports"]:
        ratio = f"{row['alibi_over_native']:.1f}x" if "alibi_over_native" in row else "—"
        lines.append(f"| {row['rows']:,} | {cell(row, 'native')} | {cell(row, 'alibi')} "
                     f"| {ratio} |")
    perms = result["mmd"][0]["permutations"] if result["mmd"] else 0
    lines += ["", f"### MMD permutation test ({perms} permutations, median s)", "",
              "| n per side | native batched | native dtype | alibi MMDDrift (init + predict) "
              "| alibi / native |", "|---:|---:|---|---:|---:|"]
    for row in result["mmd"]:
        ratio = f"{row['alibi_over_native']:.1f}x" if "alibi_over_native" in row else "—"
        lines.append(f"| {row['n_per_side']:,} | {cell(row, 'native')} | {row['native_dtype']} "
                     f"| {cell(row, 'alibi')} | {ratio} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (~2-3 min)")
    parser.add_argument("--out", type=Path, required=True, help="JSON output path")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--permutations", type=int, default=100)
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore")
    logging.getLogger("alibi_detect").setLevel(logging.ERROR)

    if args.quick:
        rows, alibi_rows = [10_000, 100_000], [10_000]
        sizes, alibi_sizes = [1_000, 5_000], [1_000]
    else:
        rows, alibi_rows = [10_000, 100_000, 1_000_000], [10_000, 100_000, 1_000_000]
        sizes, alibi_sizes = [1_000, 5_000, 10_000], [1_000, 5_000]

    import torch

    t0 = time.perf_counter()
    result: dict[str, Any] = {
        "mode": "quick" if args.quick else "full",
        "repeats": args.repeats,
        "machine": {"python": platform.python_version(), "torch": torch.__version__,
                    "torch_threads": torch.get_num_threads(), "cpu": platform.processor()},
        "reports": bench_reports(rows, alibi_rows, args.repeats),
        "mmd": bench_mmd(sizes, alibi_sizes, args.permutations, args.repeats),
    }
    result["total_s"] = time.perf_counter() - t0
    table = markdown(result)
    print(table)
    result["markdown"] = table
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
