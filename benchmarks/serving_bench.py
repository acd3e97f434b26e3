"""Serving latency and throughput (issue 12): `mlops-assets serve` vs the bare forward pass.

    python -m benchmarks.serving_bench [--seconds 8] [--quick]
    python -m benchmarks.run serving [--quick]

Set-up (untimed): a real lakeFS, the synthetic dataset's main_job on 2024-01-01..10 (tiny model,
testing.FAST_TRAINING), the service (ServingState + Starlette on uvicorn, in a thread of this
process, tuned like `mlops-assets serve`: torch at 1 intra-op thread, gc.freeze() once loaded).
The load generator is a separate process (keep-alive http.client connections, one per client
thread) so that it does not share the server's GIL; it shares the machine's cores, as any client
on the same host does.

The floor, measured on the same rows with their features already built (interleaved, so that
machine noise hits all alike):
- ``model_forward`` (the floor the targets use): the model's forward pass on the built feature
  columns, i.e. its own preprocessing (standardise, vocabulary lookup) and the torch module, as
  the service runs it (``FastScorer.score``);
- ``module_forward``: the torch module alone on prebuilt input tensors (no preprocessing);
- ``batch_predict``: ``core.model.predict`` on the model table (what batch scoring calls per
  chunk; a polars query per call; the floor this benchmark used before).
Side by side with them: ``polars_path``, the online path the service had before its fast path
(request frame, ``build_features`` on it, ``predict``), and ``in_process``,
``ServingState.predict(body)`` (validation, online features, scores, buffering) without HTTP.
Then:
- HTTP single rows, open loop at 50, 100, 200 requests/s for --seconds (latency counted from
  the request's scheduled send time, so a client falling behind is not hidden): p50/p99; closed
  loop at concurrency 1, 4, 16: p50/p99 and requests/s;
- HTTP batches of 100 rows, closed loop at concurrency 1, 4: p50/p99, rows/s;
- memory per loaded version: RSS growth of loading 5 more versions, per version, and the Python
  objects they keep (tracemalloc) plus their tensors' bytes; the weights file size.

Targets: p99 of single rows at 100 requests/s <= 3x the floor's p99; batch-100 throughput
within 2x of the floor's. Results: benchmarks/results/serving.json (serving_quick.json).
"""

from __future__ import annotations

import argparse
import http.client
import json
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np


def _pct(values: list[float]) -> dict[str, float]:
    a = np.array(values) * 1000
    return {"p50_ms": float(np.percentile(a, 50)), "p99_ms": float(np.percentile(a, 99)),
            "n": len(values)}


# ----------------------------------------------------------------------------- client process
def client(url: str, body_path: str, mode: str, level: float, seconds: float) -> dict[str, Any]:
    host, port = url.removeprefix("http://").split(":")
    bodies = [json.dumps(b).encode() for b in json.loads(Path(body_path).read_text())]
    local = threading.local()
    latencies: list[float] = []
    failures = [0]

    def call(i: int, scheduled: float | None = None) -> None:
        conn = getattr(local, "conn", None)
        if conn is None:
            conn = local.conn = http.client.HTTPConnection(host, int(port), timeout=60)
        t0 = time.perf_counter() if scheduled is None else scheduled
        conn.request("POST", "/v1/predict", bodies[i % len(bodies)],
                     {"Content-Type": "application/json"})
        reply = conn.getresponse()
        reply.read()
        latencies.append(time.perf_counter() - t0)
        if reply.status != 200:
            failures[0] += 1

    start = time.perf_counter()
    if mode == "rate":  # open loop: a request every 1/level s, whatever the replies do
        with ThreadPoolExecutor(64) as pool:
            n = int(level * seconds)
            for i in range(n):
                due = start + i / level
                delay = due - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
                pool.submit(call, i, due)
    else:  # closed loop: `level` clients, each sending as soon as its reply came
        stop = start + seconds

        def worker(w: int) -> None:
            i = w
            while time.perf_counter() < stop:
                call(i)
                i += int(level)

        with ThreadPoolExecutor(int(level)) as pool:
            list(pool.map(worker, range(int(level))))
    elapsed = time.perf_counter() - start
    return {**_pct(latencies), "requests_per_s": len(latencies) / elapsed,
            "failures": failures[0]}


def _run_client(url: str, bodies: list[Any], mode: str, level: float, seconds: float) -> dict:
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(bodies, f)
    out = subprocess.run([sys.executable, "-m", "benchmarks.serving_bench", "--client", url,
                          f.name, mode, str(level), str(seconds)],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


# ----------------------------------------------------------------------------- server side
def _interleaved_calls(fns: dict[str, Any], n: int) -> dict[str, list[float]]:
    """Each function n times, alternating call by call (noise hits all alike), after a warm-up."""
    for fn in fns.values():
        for _ in range(min(n, 20)):
            fn()
    out: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(n):
        for k, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            out[k].append(time.perf_counter() - t0)
    return out


def _stats(times: list[float], rows: int) -> dict[str, float]:
    return {**_pct(times), "rows_per_s": rows / float(np.median(times))}


def _floor(state: Any, spec: Any, rows: list[dict], n1: int, n100: int) -> dict[str, Any]:
    """The three floors of 1 and 100 rows (see the module doc), features built beforehand."""
    import torch

    from mlops_assets.core.model import predict
    from mlops_assets.serving.rows import rows_frame, validate_rows

    snap = state.snapshot
    model = snap.champion
    out: dict[str, Any] = {}
    for label, body, n in (("single", rows[:1], n1), ("batch100", rows[:100], n100)):
        valid = validate_rows(body, spec)
        feats = snap.features.features(valid)
        table = snap.features.build(valid.frame)
        x_num, x_cat = model.scorer.inputs(feats)

        def module_forward(x_num: Any = x_num, x_cat: Any = x_cat,
                           module: Any = model.trained.module) -> Any:
            with torch.inference_mode():
                return torch.sigmoid(module(x_num, x_cat)).double().numpy()

        assert np.array_equal(model.score(feats), predict(model.trained, table))
        def polars_path(body: list[dict] = body) -> Any:  # the online path before issue 12's fast
            frame = rows_frame(body, spec)                 # path: frame, build_features, predict
            return predict(model.trained, snap.features.build(frame))

        times = _interleaved_calls({
            "polars_path": polars_path,
            "model_forward": lambda feats=feats: model.score(feats),
            "module_forward": module_forward,
            "batch_predict": lambda table=table: predict(model.trained, table),
            "in_process": lambda body=body: state.predict({"rows": body}),
        }, n)
        out[label] = {k: _stats(v, len(body)) for k, v in times.items()}
    return out


def main(argv: list[str] | None = None, server_info: Any = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out-dir", type=Path, default=None)
    args = parser.parse_args(argv)
    seconds = 2.0 if args.quick else args.seconds

    import gc

    import polars as pl

    from benchmarks.common import machine_info, rss_bytes, write_results
    from mlops_assets.core.sources import extract_batch
    from mlops_assets.core.spec import load_spec
    from mlops_assets.lakefs_server import LocalLakeFS, ensure_lakefs_binary
    from mlops_assets.platform import layout
    from mlops_assets.serving.app import build_app
    from mlops_assets.serving.config import ServeConfig
    from mlops_assets.serving.loading import load_model
    from mlops_assets.serving.server import ServerThread, prepare_process
    from mlops_assets.serving.service import ServingState
    from mlops_assets.settings import Settings
    from mlops_assets.testing import make_client, pipeline_definitions, run_job

    log = lambda m: print(m, file=sys.stderr, flush=True)  # noqa: E731
    settings = Settings.from_env()
    tmp = Path(tempfile.mkdtemp(prefix="serving-bench-"))
    server = None
    if server_info is None:  # our own lakeFS; else a fresh repository on the given one
        server = LocalLakeFS(tmp / "lakefs", binary=ensure_lakefs_binary(
            settings.cache_dir, settings.lakefs_binary))
        server_info = server.start()
    results: dict[str, Any] = {"seconds_per_level": seconds, "torch_threads": 1,
                               "load_average_before": machine_info()["load_average"]}
    t_start = time.perf_counter()
    try:
        lakefs = make_client(server_info)  # a fresh repository
        lakefs.ensure_repository()
        log("training the synthetic champion (main_job 2024-01-01..10)")
        defs = pipeline_definitions(lakefs, tmp / "landing")
        assert run_job(defs, "main_job", "2024-01-01", "2024-01-10").success
        spec = load_spec("synthetic")
        version = lakefs.get_json("main", layout.model_pointer("synthetic", "champion"))["version"]
        state = ServingState(lakefs, spec, ServeConfig(dataset="synthetic", poll_seconds=5.0,
                                                       landing_dir=None, write_status=False))
        state.refresh(force=True)
        prepare_process(1)  # as `mlops-assets serve` does once the champion is loaded
        svc = ServerThread(build_app(state)).start()
        rows = extract_batch(spec, "2024-01-11").drop("label").with_columns(
            pl.col("event_ts").dt.strftime("%Y-%m-%dT%H:%M:%S%.f")).to_dicts()
        floor = _floor(state, spec, rows, 300 if args.quick else 2000,
                       50 if args.quick else 400)
        results["floor"] = floor
        log(json.dumps(floor, indent=1))

        singles = [{"rows": [r]} for r in rows]
        hundreds = [{"rows": rows[i:i + 100]} for i in range(0, 400, 100)]
        http: dict[str, Any] = {"single_rate": {}, "single_concurrency": {},
                                "batch100_concurrency": {}}
        for rate in ([100] if args.quick else [50, 100, 200]):
            http["single_rate"][str(rate)] = _run_client(svc.url, singles, "rate", rate, seconds)
            log(f"single rows at {rate}/s: {http['single_rate'][str(rate)]}")
        for c in ([1] if args.quick else [1, 4, 16]):
            http["single_concurrency"][str(c)] = _run_client(svc.url, singles, "closed", c,
                                                             seconds)
            log(f"single rows, concurrency {c}: {http['single_concurrency'][str(c)]}")
        for c in ([1] if args.quick else [1, 4]):
            out = _run_client(svc.url, hundreds, "closed", c, seconds)
            out["rows_per_s"] = out["requests_per_s"] * 100
            http["batch100_concurrency"][str(c)] = out
            log(f"batches of 100, concurrency {c}: {out}")
        results["http"] = http
        svc.stop()

        gc.collect()
        import tracemalloc

        before = rss_bytes() or 0
        tracemalloc.start()
        extra = [load_model(lakefs, spec, "main", version) for _ in range(3 if args.quick else 5)]
        gc.collect()
        python_bytes = tracemalloc.get_traced_memory()[0] / len(extra)
        tracemalloc.stop()
        gc.collect()
        results["memory_per_version_bytes"] = ((rss_bytes() or 0) - before) / len(extra)
        # RSS moves in pages and allocator arenas: also the Python objects a version keeps
        # (tracemalloc) plus its tensors' bytes, which torch allocates outside tracemalloc.
        tensors = sum(t.nbytes for t in extra[0].trained.module.state_dict().values())
        results["memory_per_version_traced_bytes"] = python_bytes + tensors
        results["weights_bytes"] = extra[0].weights_bytes
        base = floor["single"]["model_forward"]
        at100 = http["single_rate"]["100"]
        best_batch = max(v["rows_per_s"] for v in http["batch100_concurrency"].values())
        floor100 = floor["batch100"]["model_forward"]["rows_per_s"]
        results["targets"] = {
            "single_p99_at_100rps_ms": at100["p99_ms"],
            "floor_single_p99_ms": base["p99_ms"],
            "single_p99_at_100rps_over_floor_p99": at100["p99_ms"] / base["p99_ms"],
            "single_p99_target_met": at100["p99_ms"] <= 3 * base["p99_ms"],
            "batch100_floor_rows_per_s": floor100,
            "batch100_served_rows_per_s": best_batch,
            "batch100_floor_over_served_throughput": floor100 / best_batch,
            "batch100_target_met": floor100 <= 2 * best_batch,
            # The same ratios against the old floor (core.model.predict on the model table).
            "single_p99_over_batch_predict_p99":
                at100["p99_ms"] / floor["single"]["batch_predict"]["p99_ms"],
            "batch100_batch_predict_over_served_throughput":
                floor["batch100"]["batch_predict"]["rows_per_s"] / best_batch,
        }
        results["wall_s"] = time.perf_counter() - t_start
        log(json.dumps(results["targets"], indent=1))
        path = write_results("serving_quick" if args.quick else "serving", results,
                             args.out_dir)
        log(f"wrote {path}")
        return {"results": results, "machine": machine_info(), "results_file": str(path)}
    finally:
        gc.unfreeze()  # (when run inside a test session)
        if server is not None:
            server.stop()


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--client":
        url, body_path, mode, level, secs = sys.argv[2:7]
        print(json.dumps(client(url, body_path, mode, float(level), float(secs))))
    else:
        main()
