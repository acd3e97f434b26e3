"""Throughput of the loop on the production stack vs the embedded one (issue 11, "Measured").

    python -m benchmarks.run stack_loop        (or: python -m benchmarks.stack_loop_bench)

Both stacks run at once on this machine, each with its own real `dagster-daemon`:
- embedded: Dagster on SQLite (DAGSTER_HOME), the code loaded by the daemon from the module,
  lakeFS with its local metadata store and local blockstore;
- production (`mlops_assets.stack.Stack`, as `mlops-assets stack up` starts it): Dagster on
  PostgreSQL, the code in a gRPC code server, webserver and daemon as their own processes,
  lakeFS with its KV store on PostgreSQL and its blockstore on SeaweedFS S3.
Both instances get the run queue and pool limits of infra/dagster/dagster.yaml (the embedded
one without its PostgreSQL storage), so the sides differ only in storage and topology.

Per side a champion is trained in process on days 1-20 (not timed; retrains are switched
off, so only `new_batch_job` runs). Then rounds alternate between the sides (the order
rotates), each side getting the same days in a round:
- `single`: one batch file lands; landing -> run success, nothing else queued;
- `burst`: BURST batch files land one per sensor tick (each waits for the landing sensor to
  create its run), so runs queue behind the concurrency limit; batches per minute = batches /
  (first landing -> last success); each batch's landing -> success; run states sampled.
The lakeFS operation latencies (the platform's client calls: branch, put, get, commit, merge,
with a batch-sized parquet object) are then measured on both lakeFS servers, alternating.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import io
import itertools
import json
import os
import shutil
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import dagster as dg
import numpy as np
import yaml

from benchmarks.common import write_results

DS = "synthetic"
SIDES = ("embedded", "production")
BOOTSTRAP = ("2024-01-01", "2024-01-20")
FIRST_NEW_DAY = 20  # index of 2024-01-21 in the synthetic partition keys
SETTINGS_ENV = {
    "MLOPS_ASSETS_DATASET": DS,
    "MLOPS_ASSETS_SENSOR_INTERVAL_SECONDS": "1",
    # Only new_batch_job is measured: no drift-triggered retrain in the middle of a round.
    "MLOPS_ASSETS_RETRAIN_RULE": "consecutive",
    "MLOPS_ASSETS_RETRAIN_MIN_DRIFTED_BATCHES": "100000",
}
ACTIVE = (dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED)
TERMINAL = (dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE,
            dg.DagsterRunStatus.CANCELED)
OPS = ("branch", "put", "get", "commit", "merge")
TARGET_RATIO = 1.5
PARTIAL = Path(tempfile.gettempdir()) / "stack_loop_rounds.json"


@dataclasses.dataclass
class Side:
    name: str
    instance: dg.DagsterInstance
    landing: Path
    lakefs: Any  # LakeFSClient on the side's lakeFS (the loop's repository)
    logs: Path  # holds daemon.log (shown on a timeout)

    def use(self) -> Any:
        # lakefs 0.16 keeps the server's storage config in a class-level dict shared by every
        # client of the process: re-read this side's (local vs s3) before using its client.
        self.lakefs.client()._server_conf = None
        return self.lakefs


def _instance_yaml(storage: bool) -> str:
    from mlops_assets.stack.dagster_instance import instance_yaml

    config = yaml.safe_load(instance_yaml().read_text())
    if not storage:
        config.pop("storage")
    return yaml.safe_dump(config)


def _bootstrap(side: Side) -> None:
    from mlops_assets.testing import pipeline_definitions, run_job

    client = side.use()
    client.ensure_repository()
    defs = pipeline_definitions(client, side.landing)
    result = run_job(defs, "main_job", *BOOTSTRAP, instance=side.instance,
                     training={"train_days": 10, "eval_days": 3})
    if not result.success:
        raise RuntimeError(f"bootstrap main_job failed on the {side.name} side")


def start_embedded(root: Path, stack: contextlib.ExitStack, lakefs_binary: Path) -> Side:
    from mlops_assets.lakefs_server import LocalLakeFS
    from mlops_assets.testing import WORKSPACE_YAML, lakefs_env, make_client, running_daemon

    server = LocalLakeFS(root / "lakefs", binary=lakefs_binary)
    info = server.start(timeout=120)
    stack.callback(server.stop)
    home = root / "dagster_home"
    home.mkdir(parents=True)
    (home / "dagster.yaml").write_text(_instance_yaml(storage=False))
    (home / "workspace.yaml").write_text(WORKSPACE_YAML)
    instance = stack.enter_context(dg.DagsterInstance.from_config(str(home)))
    side = Side("embedded", instance, root / "landing", make_client(info, "bench"), home)
    _bootstrap(side)
    env = {**lakefs_env(side.lakefs, info), **SETTINGS_ENV,
           "MLOPS_ASSETS_LANDING_DIR": str(side.landing)}
    stack.enter_context(running_daemon(home, env))
    return side


def start_production(root: Path, stack: contextlib.ExitStack) -> Side:
    from mlops_assets.platform.lakefs_client import LakeFSClient
    from mlops_assets.settings import Settings
    from mlops_assets.stack.stack import Stack

    settings = dataclasses.replace(Settings.from_env(), home=root, dagster_home=root / "unused",
                                   external_lakefs=None, repository="bench")
    prod = Stack(settings, dataset=DS)

    def down() -> None:
        prod.down(progress=lambda _line: None)
        prod.postgres.destroy()

    stack.callback(down)
    env = prod.up(progress=lambda _line: None,
                  extra_env={**SETTINGS_ENV, "MLOPS_ASSETS_LANDING_DIR": str(root / "landing")})
    for key in ("DAGSTER_PG_HOST", "DAGSTER_PG_PORT", "DAGSTER_PG_USERNAME",
                "DAGSTER_PG_PASSWORD", "DAGSTER_PG_DB"):
        os.environ[key] = env[key]  # the instance's yaml reads them
    instance = stack.enter_context(dg.DagsterInstance.from_config(str(prod.dagster_home)))
    info = prod.lakefs.info()
    assert info is not None
    client = LakeFSClient(info.endpoint, info.access_key_id, info.secret_access_key,
                          repository="bench",
                          storage_namespace=env["MLOPS_ASSETS_STORAGE_NAMESPACE"])
    side = Side("production", instance, root / "landing", client, prod.root / "logs")
    _bootstrap(side)
    return side


# ------------------------------------------------------------------------------------ rounds
def _runs(instance: dg.DagsterInstance) -> dict[str, dg.DagsterRun]:
    return {r.run_id: r for r in instance.get_runs(
        filters=dg.RunsFilter(job_name="new_batch_job"))}


def _wait(condition: Callable[[], bool], timeout: float, what: str, side: Side,
          sample: Callable[[], None]) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        sample()
        if condition():
            return
        time.sleep(0.2)
    tail = (side.logs / "daemon.log").read_text(errors="replace").splitlines()[-30:]
    raise RuntimeError(f"{side.name}: timed out waiting for {what}\n" + "\n".join(tail))


def run_round(side: Side, keys: list[str], timeout: float = 600) -> dict[str, Any]:
    """Land `keys` one per sensor tick (each waits for its run to be created), then wait
    until every run finished; per-batch latency, throughput and run-state samples."""
    from mlops_assets.testing import land_batches

    before = set(_runs(side.instance))
    samples: list[tuple[float, int, int]] = []  # (time, queued, running)

    def sample() -> None:
        states = [r.status for k, r in _runs(side.instance).items() if k not in before]
        samples.append((time.time(), sum(s == dg.DagsterRunStatus.QUEUED for s in states),
                        sum(s in ACTIVE for s in states)))

    def new_runs() -> dict[str, dg.DagsterRun]:
        return {k: r for k, r in _runs(side.instance).items() if k not in before}

    landed: dict[str, float] = {}
    for i, key in enumerate(keys):
        landed[key] = time.time()
        land_batches(side.landing, DS, [key])
        _wait(lambda i=i: len(new_runs()) > i, timeout, f"the run of {key}", side, sample)
    _wait(lambda: all(r.status in TERMINAL for r in new_runs().values()), timeout,
          f"the runs of {keys[0]}..{keys[-1]}", side, sample)
    records = side.instance.get_run_records(dg.RunsFilter(run_ids=list(new_runs())))
    latency, queued_s, run_s, failed = [], [], [], []
    last_end = 0.0
    for rec in records:
        run = rec.dagster_run
        if run.status != dg.DagsterRunStatus.SUCCESS:
            failed.append(f"{run.run_id}: {run.status.value}")
        first, _, last = run.tags["mlops/batches"].partition("..")
        batch_keys = [k for k in keys if first <= k <= last]
        end = rec.end_time or time.time()
        last_end = max(last_end, end)
        latency += [end - landed[k] for k in batch_keys]
        queued_s.append((rec.start_time or end) - rec.create_timestamp.timestamp())
        run_s.append(end - (rec.start_time or end))
    wall = last_end - landed[keys[0]]
    return {"side": side.name, "batches": len(keys), "runs": len(records), "failed": failed,
            "wall_s": wall, "batches_per_min": 60 * len(keys) / wall,
            "latency_s": sorted(latency), "created_to_started_s": sorted(queued_s),
            "started_to_end_s": sorted(run_s), **_states(samples)}


def _states(samples: list[tuple[float, int, int]]) -> dict[str, Any]:
    """Max and time-weighted mean of queued and running runs over the round."""
    if len(samples) < 2:
        return {}
    span = samples[-1][0] - samples[0][0] or 1.0
    mean = [sum((b[0] - a[0]) * a[i] for a, b in itertools.pairwise(samples))
            / span for i in (1, 2)]
    return {"max_queued": max(s[1] for s in samples), "max_running": max(s[2] for s in samples),
            "mean_queued": mean[0], "mean_running": mean[1], "state_samples": len(samples)}


# ------------------------------------------------------------------------------------ lakeFS
def _op_cycle(client: Any, branch: str, path: str, data: bytes) -> dict[str, float]:
    """One batch's lakeFS calls as the platform makes them; milliseconds per call."""
    steps = (("branch", lambda: client.create_branch(branch, "main")),
             ("put", lambda: client.put_bytes(branch, path, data)),
             ("get", lambda: client.get_bytes(branch, path)),
             ("commit", lambda: client.commit(branch, "op bench")),
             ("merge", lambda: client.merge(branch, "main", "op bench")))
    out = {}
    for op, fn in steps:
        t0 = time.perf_counter()
        fn()
        out[op] = 1000 * (time.perf_counter() - t0)
    client.delete_branch(branch)
    return out


def lakefs_latencies(sides: dict[str, Side], iterations: int) -> dict[str, Any]:
    """The platform's client calls on a separate repository of each side's lakeFS, alternating
    the sides per iteration; p50/p99 per operation in milliseconds."""
    from mlops_assets.core.sources import extract_batch
    from mlops_assets.core.spec import load_spec

    spec = load_spec(DS)
    buffer = io.BytesIO()
    extract_batch(spec, "2024-01-21").write_parquet(buffer, compression="zstd")
    data = buffer.getvalue()
    clients = {}
    for name, side in sides.items():
        base = side.use()
        namespace = base.storage_namespace
        clients[name] = dataclasses.replace(
            base, repository="opbench",
            storage_namespace=namespace.rsplit("/", 1)[0] + "/opbench" if namespace else "")
        clients[name].ensure_repository()
    times: dict[str, dict[str, list[float]]] = {n: {op: [] for op in OPS} for n in sides}
    for i in range(iterations + 1):  # the first iteration is a warm-up
        for name in (list(sides) if i % 2 == 0 else list(sides)[::-1]):
            client = clients[name]
            client.client()._server_conf = None
            cycle = _op_cycle(client, f"op-{uuid.uuid4().hex[:10]}", f"ops/{i:04d}.parquet",
                              data)
            if i:
                for op, ms in cycle.items():
                    times[name][op].append(ms)
    return {"iterations": iterations, "object_bytes": len(data), "ms": {
        name: {op: {"p50": float(np.percentile(v, 50)), "p99": float(np.percentile(v, 99))}
               for op, v in ops.items()} for name, ops in times.items()}}


# ------------------------------------------------------------------------------------ entry
def _keys(count: int) -> list[str]:
    from mlops_assets.core.spec import load_spec

    return load_spec(DS).partition_keys()[FIRST_NEW_DAY:FIRST_NEW_DAY + count]


def _summary(rounds: list[dict[str, Any]], kind: str, side: str) -> dict[str, Any]:
    mine = [r for r in rounds if r["kind"] == kind and r["side"] == side and not r["warmup"]]
    latency = [x for r in mine for x in r["latency_s"]]
    out = {"rounds": len(mine), "median_latency_s": statistics.median(latency),
           "median_batches_per_min": statistics.median(r["batches_per_min"] for r in mine),
           "median_created_to_started_s": statistics.median(
               x for r in mine for x in r["created_to_started_s"]),
           "median_started_to_end_s": statistics.median(
               x for r in mine for x in r["started_to_end_s"])}
    if kind == "burst":
        for key in ("max_queued", "max_running", "mean_queued", "mean_running"):
            out[key] = max(r[key] for r in mine) if key.startswith("max") else \
                statistics.median(r[key] for r in mine)
    return out


def run(quick: bool = False, repeats: int | None = None, server: Any = None,
        burst: int | None = None, op_iterations: int | None = None) -> dict[str, Any]:
    """`repeats` measured rounds per side (default 2; --quick 1) after a warm-up round (one
    batch per side: the first runs load the code)."""
    from mlops_assets.lakefs_server import ensure_lakefs_binary
    from mlops_assets.settings import Settings

    del server  # both sides start their own servers
    repeats = repeats or (1 if quick else 2)
    burst = burst or (2 if quick else 3)
    op_iterations = op_iterations or (10 if quick else 100)
    keys = _keys((repeats + 1) * (burst + 1))
    settings = Settings.from_env()
    lakefs_binary = ensure_lakefs_binary(settings.cache_dir, settings.lakefs_binary)
    root = Path(tempfile.mkdtemp(prefix="bench-stack-loop-"))
    os.chmod(root, 0o711)  # the stack's PostgreSQL runs as an unprivileged account
    rounds: list[dict[str, Any]] = []
    with contextlib.ExitStack() as stack:
        stack.callback(shutil.rmtree, root, ignore_errors=True)  # runs last
        t0 = time.perf_counter()
        sides = {"embedded": start_embedded(root / "embedded", stack, lakefs_binary),
                 "production": start_production(root / "production", stack)}
        setup_s = time.perf_counter() - t0
        for i in range(repeats + 1):
            chunk = keys[i * (burst + 1):(i + 1) * (burst + 1)]
            order = list(SIDES) if i % 2 == 0 else list(SIDES)[::-1]
            for kind, days in (("single", chunk[:1]), ("burst", chunk[1:]))[:1 if i == 0 else 2]:
                for name in order:
                    result = {"kind": kind, "warmup": i == 0, "round": i,
                              **run_round(sides[name], days)}
                    rounds.append(result)
                    print(f"  round {i} {kind:<6} {name:<10} {result['wall_s']:6.1f} s "
                          f"({result['batches_per_min']:.1f} batches/min)"
                          + (" warm-up" if i == 0 else ""), flush=True)
                    PARTIAL.write_text(json.dumps(rounds, indent=1))  # survives an abort
        ops = lakefs_latencies(sides, op_iterations)
    summary = {kind: {name: _summary(rounds, kind, name) for name in SIDES}
               for kind in ("single", "burst")}
    per_batch = {name: 60 / summary["burst"][name]["median_batches_per_min"] for name in SIDES}
    ratio = per_batch["production"] / per_batch["embedded"]
    latency_ratio = (summary["single"]["production"]["median_latency_s"]
                     / summary["single"]["embedded"]["median_latency_s"])
    return {"repeats": repeats, "burst": burst, "setup_s": setup_s, "rounds": rounds,
            "summary": summary, "per_batch_s_at_throughput": per_batch,
            "ratio_per_batch": ratio, "ratio_single_latency": latency_ratio,
            "target_ratio": TARGET_RATIO,
            "met": ratio <= TARGET_RATIO and latency_ratio <= TARGET_RATIO,
            "lakefs_ops": ops, "instance_yaml": _instance_yaml(storage=False)}


def _failed(result: dict[str, Any]) -> str:
    parts = []
    for name in SIDES:
        for kind in ("single", "burst"):
            mine = [r for r in result["rounds"]
                    if r["side"] == name and r["kind"] == kind and not r["warmup"]]
            parts.append(f"{name} {kind} {sum(len(r['failed']) for r in mine)} of "
                         f"{sum(r['runs'] for r in mine)}")
    return ", ".join(parts)


def markdown(result: dict[str, Any]) -> str:
    s, b = result["summary"]["single"], result["summary"]["burst"]
    lines = [
        f"{result['repeats']} measured rounds per side after a warm-up round, alternating; "
        f"each round one batch alone (`single`) then {result['burst']} batches landed one per "
        "sensor tick (`burst`). Target: production within "
        f"{result['target_ratio']}x of embedded per batch: "
        f"**{'met' if result['met'] else 'not met'}** "
        f"(x{result['ratio_per_batch']:.2f} per batch at throughput, "
        f"x{result['ratio_single_latency']:.2f} single-batch latency).", "",
        f"Runs that failed (counted to their end in the times below): {_failed(result)}.", "",
        "| | embedded (SQLite, local lakeFS) | production (PostgreSQL, gRPC, lakeFS on "
        "PostgreSQL + S3) | production / embedded |", "|---|---:|---:|---:|"]

    def row(label: str, e: float, p: float, fmt: str = "{:.1f}") -> None:
        lines.append(f"| {label} | {fmt.format(e)} | {fmt.format(p)} | x{p / e:.2f} |")

    e, p = b["embedded"], b["production"]
    row("batches per minute (burst)", e["median_batches_per_min"], p["median_batches_per_min"])
    row("s per batch at throughput", *[result["per_batch_s_at_throughput"][n] for n in SIDES])
    row("landing -> success, one batch alone (median s)", s["embedded"]["median_latency_s"],
        s["production"]["median_latency_s"])
    row("landing -> success in a burst (median s)", e["median_latency_s"],
        p["median_latency_s"])
    row("run created -> started, burst (median s)", e["median_created_to_started_s"],
        p["median_created_to_started_s"])
    row("run started -> success, burst (median s)", e["median_started_to_end_s"],
        p["median_started_to_end_s"])
    row("run started -> success, alone (median s)", s["embedded"]["median_started_to_end_s"],
        s["production"]["median_started_to_end_s"])
    lines.append(f"| runs queued / running in a burst: max | {e['max_queued']} / "
                 f"{e['max_running']} | {p['max_queued']} / {p['max_running']} | |")
    lines.append(f"| runs queued / running in a burst: time-weighted mean | "
                 f"{e['mean_queued']:.1f} / {e['mean_running']:.1f} | "
                 f"{p['mean_queued']:.1f} / {p['mean_running']:.1f} | |")
    ops = result["lakefs_ops"]
    lines += ["", f"lakeFS operations ({ops['iterations']} each per side, alternating; the "
              f"platform's client calls; object {ops['object_bytes'] / 1024:.0f} KiB parquet), "
              "ms:", "", "| operation | embedded p50 / p99 | production p50 / p99 | p50 ratio |",
              "|---|---:|---:|---:|"]
    for op in OPS:
        e_op, p_op = ops["ms"]["embedded"][op], ops["ms"]["production"][op]
        lines.append(f"| {op} | {e_op['p50']:.1f} / {e_op['p99']:.1f} | {p_op['p50']:.1f} / "
                     f"{p_op['p99']:.1f} | x{p_op['p50'] / e_op['p50']:.2f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--repeats", type=int, default=None)
    parser.add_argument("--burst", type=int, default=None)
    parser.add_argument("--op-iterations", type=int, default=None)
    parser.add_argument("--out-dir", default=None)
    args = parser.parse_args(argv)
    result = run(args.quick, args.repeats, burst=args.burst, op_iterations=args.op_iterations)
    result["markdown"] = markdown(result)
    print(result["markdown"])
    write_results("stack_loop_quick" if args.quick else "stack_loop", result, args.out_dir)
    return result


if __name__ == "__main__":
    main()
