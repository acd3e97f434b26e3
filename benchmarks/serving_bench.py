"""Serving latency and throughput (issue 12): `mlops-assets serve` vs the bare forward pass.

    python -m benchmarks.serving_bench [--seconds 10] [--quick]

Set-up (untimed): a real lakeFS, the synthetic dataset's main_job on 2024-01-01..10 (tiny model,
testing.FAST_TRAINING), the service (ServingState + Starlette on uvicorn, in a thread of this
process). The load generator is a separate process (keep-alive http.client connections, one
per client thread) so that it does not share the server's GIL.

- bare forward: ``core.model.predict(model, features)`` on a prebuilt 1-row / 100-row model
  table (what batch scoring calls per chunk): p50/p99 per call, rows/s.
- in-process online path: ``ServingState.predict(body)`` (validation, online features, both
  scores, buffering) without HTTP.
- HTTP single rows, open loop at 100 requests/s (and 50, 200) for --seconds: p50/p99; closed
  loop at concurrency 1, 4, 16: p50/p99 and requests/s.
- HTTP batches of 100 rows, closed loop at concurrency 1, 4: p50/p99, rows/s.
- memory per loaded version: RSS growth of loading one more version (and its weights size).

Targets: p99 of single rows at 100 requests/s <= 3x the bare forward pass; batch-100 throughput
within 2x of the bare forward pass.
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

    def call(i: int) -> None:
        conn = getattr(local, "conn", None)
        if conn is None:
            conn = local.conn = http.client.HTTPConnection(host, int(port), timeout=60)
        t0 = time.perf_counter()
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
                delay = start + i / level - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
                pool.submit(call, i)
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
def _timed(fn, n: int) -> list[float]:
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    seconds = 3.0 if args.quick else args.seconds

    import polars as pl

    from benchmarks.common import machine_info, rss_bytes, write_results
    from mlops_assets.core.model import predict
    from mlops_assets.core.sources import extract_batch
    from mlops_assets.core.spec import load_spec
    from mlops_assets.lakefs_server import LocalLakeFS, ensure_lakefs_binary
    from mlops_assets.platform import layout
    from mlops_assets.serving.app import build_app
    from mlops_assets.serving.config import ServeConfig
    from mlops_assets.serving.loading import load_model
    from mlops_assets.serving.rows import rows_frame
    from mlops_assets.serving.server import ServerThread
    from mlops_assets.serving.service import ServingState
    from mlops_assets.settings import Settings
    from mlops_assets.testing import make_client, pipeline_definitions, run_job

    log = lambda m: print(m, file=sys.stderr, flush=True)  # noqa: E731
    settings = Settings.from_env()
    tmp = Path(tempfile.mkdtemp(prefix="serving-bench-"))
    server = LocalLakeFS(tmp / "lakefs", binary=ensure_lakefs_binary(settings.cache_dir,
                                                                     settings.lakefs_binary))
    info = server.start()
    results: dict[str, Any] = {"seconds_per_level": seconds}
    try:
        lakefs = make_client(info)
        lakefs.ensure_repository()
        log("training the synthetic champion (main_job 2024-01-01..10)")
        defs = pipeline_definitions(lakefs, tmp / "landing")
        assert run_job(defs, "main_job", "2024-01-01", "2024-01-10").success
        spec = load_spec("synthetic")
        version = lakefs.get_json("main", layout.model_pointer("synthetic", "champion"))["version"]
        state = ServingState(lakefs, spec, ServeConfig(dataset="synthetic", poll_seconds=5.0,
                                                       landing_dir=None, write_status=False))
        svc = ServerThread(build_app(state)).start()
        rows = extract_batch(spec, "2024-01-11").drop("label").with_columns(
            pl.col("event_ts").dt.strftime("%Y-%m-%dT%H:%M:%S%.f")).to_dicts()
        snap = state.snapshot
        assert snap is not None
        feats1 = snap.features.build(rows_frame(rows[:1], spec))
        feats100 = snap.features.build(rows_frame(rows[:100], spec))
        model = snap.champion.trained
        bare1 = _timed(lambda: predict(model, feats1), 2000)
        bare100 = _timed(lambda: predict(model, feats100), 500)
        results["bare_forward"] = {"single": _pct(bare1), "batch100": {
            **_pct(bare100), "rows_per_s": 100 / float(np.median(bare100))}}
        inproc1 = _timed(lambda: state.predict({"rows": [rows[0]]}), 1000)
        inproc100 = _timed(lambda: state.predict({"rows": rows[:100]}), 200)
        results["in_process"] = {"single": _pct(inproc1), "batch100": {
            **_pct(inproc100), "rows_per_s": 100 / float(np.median(inproc100))}}
        log(f"bare {results['bare_forward']}\nin-process {results['in_process']}")

        singles = [{"rows": [r]} for r in rows]
        hundreds = [{"rows": rows[i:i + 100]} for i in range(0, 400, 100)]
        http: dict[str, Any] = {"single_rate": {}, "single_concurrency": {},
                                "batch100_concurrency": {}}
        for rate in ([100] if args.quick else [50, 100, 200]):
            http["single_rate"][str(rate)] = _run_client(svc.url, singles, "rate", rate, seconds)
            log(f"single rows at {rate}/s: {http['single_rate'][str(rate)]}")
        for c in ([1, 4] if args.quick else [1, 4, 16]):
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

        import gc

        gc.collect()
        before = rss_bytes() or 0
        extra = [load_model(lakefs, spec, "main", version) for _ in range(5)]
        gc.collect()
        results["memory_per_version_bytes"] = ((rss_bytes() or 0) - before) / len(extra)
        results["weights_bytes"] = extra[0].weights_bytes
        bare_p99 = results["bare_forward"]["single"]["p99_ms"]
        at100 = http["single_rate"]["100"]
        best_batch = max(v["rows_per_s"] for v in http["batch100_concurrency"].values())
        results["targets"] = {
            "single_p99_at_100rps_over_bare_p99": at100["p99_ms"] / bare_p99,
            "single_p99_target_met": at100["p99_ms"] <= 3 * bare_p99,
            "batch100_bare_over_served_throughput":
                results["bare_forward"]["batch100"]["rows_per_s"] / best_batch,
            "batch100_target_met":
                results["bare_forward"]["batch100"]["rows_per_s"] <= 2 * best_batch,
        }
        log(json.dumps(results["targets"], indent=1))
        path = write_results("serving_quick" if args.quick else "serving", results)
        log(f"wrote {path}")
        return {"results": results, "machine": machine_info()}
    finally:
        server.stop()


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--client":
        url, body_path, mode, level, secs = sys.argv[2:7]
        print(json.dumps(client(url, body_path, mode, float(level), float(secs))))
    else:
        main()
