"""One alibi-detect MMDDrift run (init + predict, pytorch backend, sigma given) at n per side, in
this process, with the data of ``drift_bench.mmd_data``; prints one JSON line. Run it under a
time limit (it is ~400 s at n = 10,000 on 2 cores):

    timeout 1500 .venv/bin/python -m benchmarks.alibi_mmd_once --n 10000 \
        --out benchmarks/results/drift_mmd_alibi_10k.json
"""

from __future__ import annotations

import argparse
import json
import logging
import time
import warnings
from pathlib import Path

import numpy as np

N_FEATURES = 20


def mmd_data(n: int) -> tuple[np.ndarray, np.ndarray, float]:
    r = np.random.default_rng(n)
    x = r.normal(size=(n, N_FEATURES)).astype(np.float32)
    y = r.normal(size=(n, N_FEATURES)).astype(np.float32)
    y[:, 0] += 0.05
    return x, y, float(np.sqrt(N_FEATURES))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--permutations", type=int, default=100)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore")
    logging.getLogger("alibi_detect").setLevel(logging.ERROR)
    from benchmarks.common import machine_info, write_results

    t0 = time.perf_counter()
    from alibi_detect.cd import MMDDrift

    t_import = time.perf_counter() - t0
    x, y, sigma = mmd_data(args.n)
    t0 = time.perf_counter()
    det = MMDDrift(x, backend="pytorch", sigma=np.array([sigma], np.float32),
                   n_permutations=args.permutations, device="cpu")
    t_init = time.perf_counter() - t0
    t0 = time.perf_counter()
    pred = det.predict(y)
    t_predict = time.perf_counter() - t0
    res = {"n_per_side": args.n, "permutations": args.permutations, "import_s": t_import,
           "init_s": t_init, "predict_s": t_predict, "init_plus_predict_s": t_init + t_predict,
           "mmd2": float(pred["data"]["distance"]), "p_value": float(pred["data"]["p_val"]),
           "command": "timeout 1500 python -m benchmarks.alibi_mmd_once --n "
                      f"{args.n} --out {args.out}"}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_results(args.out.stem, res, args.out.parent)
    print(json.dumps(res), flush=True)
    _ = machine_info
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
