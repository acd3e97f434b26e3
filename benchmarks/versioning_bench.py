"""Versioning cost against data size: lakeFS branch + change 1% + commit + merge, vs a naive copy.

    python -m benchmarks.run versioning            # 1 MB, 100 MB, 1 GB; warm-up + 5 repeats
    python -m benchmarks.run versioning --quick    # tiny sizes, plumbing only

A real lakeFS server (the pinned binary, local metadata store and local blockstore) is started
in a temporary directory on the same disk as the naive copies. For each size a dataset of many
zstd parquet objects (random but compressible columns: ids, timestamps, a 50-value category,
small ints, rounded floats) is generated once, uploaded to ``main`` and committed; the same
files are written to a local folder ``v0``. Then, per repeat (one untimed warm-up first):

- lakeFS: create branch ``run-<i>`` from main (timed ``branch``), overwrite 1% of the objects
  with new content (``change``), commit (``commit``), merge into main (``merge``), through the
  platform's own LakeFSClient (so its pre-commit and pre-merge diff checks are included).
- naive: ``shutil.copytree(v<i>, v<i+1>)`` (``copy``) then overwrite the same 1% of files in the
  new folder (``change``): a versioned folder per version on the local filesystem; then, timed
  apart, ``fsync`` of every file of the new folder (what making that version durable costs).

The two alternate within each repeat, each starting after an untimed ``os.sync()`` so that
neither waits for the other's pending writeback. "Bytes written" is what the disk grew by (allocated
blocks of the lakeFS state directory, blockstore and metadata store, or of the new folder).
The copy itself goes to the page cache; lakeFS's local metadata store may sync on commit.
"""

from __future__ import annotations

import io
import os
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from benchmarks.common import dir_bytes, summarize

MB = 1_000_000
FULL_SIZES = (1 * MB, 100 * MB, 1000 * MB)
QUICK_SIZES = (200_000, 1 * MB)
TARGET_OBJECT_BYTES = 5 * MB
MIN_OBJECTS = 100  # so that 1% is at least one object
STEPS = ("branch", "change", "commit", "merge")


def fmt_bytes(n: int | float | None) -> str:
    if n is None:
        return "n/a"
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= scale:
            return f"{n / scale:.3g} {unit}"
    return f"{n:.0f} B"


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _frame(rng: np.random.Generator, rows: int, first_id: int) -> pl.DataFrame:
    cats = np.array([f"cat_{i:02d}" for i in range(50)])
    return pl.DataFrame({
        "id": np.arange(first_id, first_id + rows, dtype=np.int64),
        "ts": (1_600_000_000_000 + np.sort(rng.integers(0, 86_400_000, rows))).astype(
            "datetime64[ms]"),
        "category": cats[rng.exponential(8.0, rows).astype(np.int64) % 50],
        "count": rng.poisson(3, rows).astype(np.int32),
        "amount": np.round(rng.lognormal(3, 1, rows), 2),
        "score": rng.normal(size=rows).astype(np.float32),
    })


def parquet_bytes(frame: pl.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.write_parquet(buffer, compression="zstd", statistics=True)  # as LakeFSClient does
    return buffer.getvalue()


def bytes_per_row() -> float:
    sample = parquet_bytes(_frame(np.random.default_rng(0), 100_000, 0))
    return len(sample) / 100_000


def make_object(seed: int, rows: int) -> bytes:
    return parquet_bytes(_frame(np.random.default_rng(seed), rows, seed * rows))


def layout_for(size: int) -> tuple[int, int]:
    """(objects, rows per object) for a dataset of about ``size`` bytes."""
    n = max(MIN_OBJECTS, round(size / TARGET_OBJECT_BYTES))
    rows = max(10, int(size / n / bytes_per_row()))
    # Small files carry a larger fixed parquet overhead: correct once with a real object.
    rows = max(10, int(rows * (size / n) / len(make_object(0, rows))))
    return n, rows


class RequestMeter:
    """Counts the HTTP requests the lakeFS SDK makes and the time spent inside them (waiting
    for the server over loopback), to split a step into server time and client-side Python."""

    def __init__(self, lakefs: Any) -> None:
        rest = lakefs.client().sdk_client._api.rest_client
        inner = rest.request
        self.calls, self.seconds = 0, 0.0

        def request(*args: Any, **kwargs: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return inner(*args, **kwargs)
            finally:
                self.calls += 1
                self.seconds += time.perf_counter() - t0

        rest.request = request

    def take(self) -> tuple[int, float]:
        out = (self.calls, self.seconds)
        self.calls, self.seconds = 0, 0.0
        return out


def _fsync_tree(path: Path) -> None:
    for f in sorted(path.iterdir()):
        fd = os.open(f, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def bench_size(lakefs: Any, state_dir: Path, work: Path, size: int, repeats: int,
               warmup: int = 1) -> dict[str, Any]:
    n_objects, rows = layout_for(size)
    changed = max(1, n_objects // 100)
    prefix = f"bench/{size}/"
    local0 = work / f"s{size}" / "v0"
    local0.mkdir(parents=True)
    t0 = time.perf_counter()
    total = 0
    for j in range(n_objects):
        data = make_object(j, rows)
        total += len(data)
        lakefs.put_bytes("main", f"{prefix}part-{j:05d}.parquet", data)
        (local0 / f"part-{j:05d}.parquet").write_bytes(data)
    lakefs.commit("main", f"benchmark dataset {size} bytes")
    setup_s = time.perf_counter() - t0
    log(f"size {fmt_bytes(total)}: {n_objects} objects of {rows} rows, setup {setup_s:.1f}s")

    lake: dict[str, list[float]] = {s: [] for s in (*STEPS, "bcm", "total")}
    naive: dict[str, list[float]] = {s: [] for s in ("copy", "change", "total", "fsync")}
    lake_bytes: list[int] = []
    meter = RequestMeter(lakefs)
    requests: dict[str, list[tuple[int, float]]] = {s: [] for s in STEPS}
    naive_bytes: list[int] = []
    seed = 1_000_000
    previous = local0
    for i in range(warmup + repeats):
        timed = i >= warmup
        victims = [(i * changed + k) % n_objects for k in range(changed)]
        payloads = []
        for v in victims:
            seed += 1
            payloads.append((v, make_object(seed, rows)))  # generated outside the timed region
        order = ("lake", "naive") if i % 2 == 0 else ("naive", "lake")
        for side in order:
            # Start each side with no dirty pages of the other pending: without this the
            # commit right after a 1 GB copy waits for the copy's writeback (measured: 30 ms
            # -> 250-1000 ms at 1 GB), which is the copy's cost, not lakeFS's.
            os.sync()
            if side == "lake":
                branch = f"run-{uuid.uuid4().hex[:10]}"
                before = dir_bytes(state_dir)
                meter.take()
                t = {"branch": time.perf_counter()}
                lakefs.create_branch(branch, "main")
                t["change"] = time.perf_counter()
                req = {"branch": meter.take()}
                for v, data in payloads:
                    lakefs.put_bytes(branch, f"{prefix}part-{v:05d}.parquet", data)
                t["commit"] = time.perf_counter()
                req["change"] = meter.take()
                lakefs.commit(branch, f"change {len(payloads)} objects")
                t["merge"] = time.perf_counter()
                req["commit"] = meter.take()
                result = lakefs.merge(branch, "main")
                end = time.perf_counter()
                req["merge"] = meter.take()
                assert result.merged, "the change must reach main"
                if timed:
                    t["end"] = end
                    for a, b in zip(STEPS, (*STEPS[1:], "end"), strict=True):
                        lake[a].append(t[b] - t[a])
                    lake["bcm"].append(lake["branch"][-1] + lake["commit"][-1]
                                       + lake["merge"][-1])
                    lake["total"].append(end - t["branch"])
                    lake_bytes.append(dir_bytes(state_dir) - before)
                    for step in STEPS:
                        requests[step].append(req[step])
            else:
                target = previous.parent / f"v{i + 1}"
                c0 = time.perf_counter()
                shutil.copytree(previous, target)
                c1 = time.perf_counter()
                for v, data in payloads:
                    (target / f"part-{v:05d}.parquet").write_bytes(data)
                c2 = time.perf_counter()
                _fsync_tree(target)  # what making the copy durable costs (lakeFS commits sync)
                c3 = time.perf_counter()
                if timed:
                    naive["copy"].append(c1 - c0)
                    naive["change"].append(c2 - c1)
                    naive["total"].append(c2 - c0)
                    naive["fsync"].append(c3 - c2)
                    naive_bytes.append(dir_bytes(target))
        # Keep the disk bounded: only the newest local version is needed for the next copy.
        shutil.rmtree(previous)
        previous = previous.parent / f"v{i + 1}"
        if timed:
            log(f"  run {i + 1 - warmup}: lakeFS b+c+m {lake['bcm'][-1]:.3f}s "
                f"(+change {lake['change'][-1]:.3f}s), copy {naive['copy'][-1]:.3f}s")
    shutil.rmtree(previous.parent)
    out: dict[str, Any] = {
        "size_bytes": total, "nominal_size_bytes": size, "objects": n_objects,
        "rows_per_object": rows, "changed_objects": changed,
        "changed_bytes": sum(len(d) for _, d in payloads), "setup_s": setup_s,
        "lakefs": {k: summarize(v) for k, v in lake.items()},
        "naive": {k: summarize(v) for k, v in naive.items()},
        "lakefs_bytes_written_median": int(np.median(lake_bytes)),
        "naive_bytes_written_median": int(np.median(naive_bytes)),
    }
    # Profile of the lakeFS steps: HTTP requests made, and the median time spent waiting for
    # them (the rest of the step is client-side Python: the lakefs wrapper and our resource).
    out["lakefs_requests"] = {
        step: {"requests": int(np.median([c for c, _ in requests[step]])),
               "in_http_median_s": float(np.median([x for _, x in requests[step]]))}
        for step in STEPS
    }
    out["copy_over_bcm"] = out["naive"]["copy"]["median_s"] / out["lakefs"]["bcm"]["median_s"]
    out["copy_fsync_over_bcm"] = (
        (out["naive"]["copy"]["median_s"] + out["naive"]["fsync"]["median_s"])
        / out["lakefs"]["bcm"]["median_s"]
    )
    out["naive_total_over_lakefs_total"] = (
        out["naive"]["total"]["median_s"] / out["lakefs"]["total"]["median_s"]
    )
    # Ratio per repeat (the two sides ran back to back), a check on the ratio of medians.
    per_run = [c / b for c, b in zip(naive["copy"], lake["bcm"], strict=True)]
    out["copy_over_bcm_per_repeat_median"] = float(np.median(per_run))
    return out


def run(quick: bool = False, repeats: int | None = None, server: Any = None,
        tmp_dir: str | None = None, sizes: tuple[int, ...] | None = None) -> dict[str, Any]:
    """Run the benchmark; ``server`` is a running lakeFS ``ServerInfo`` (else one is started in
    a temporary directory and stopped at the end)."""
    from mlops_assets.lakefs_server import LocalLakeFS, ensure_lakefs_binary
    from mlops_assets.platform.lakefs_client import LakeFSClient
    from mlops_assets.settings import Settings

    repeats = repeats or (2 if quick else 5)
    sizes = sizes or (QUICK_SIZES if quick else FULL_SIZES)
    work = Path(tempfile.mkdtemp(prefix="bench-versioning-", dir=tmp_dir))
    own = None
    try:
        if server is None:
            settings = Settings.from_env()
            own = LocalLakeFS(work / "lakefs",
                              binary=ensure_lakefs_binary(settings.cache_dir,
                                                          settings.lakefs_binary))
            server = own.start()
        lakefs = LakeFSClient(endpoint=server.endpoint, access_key_id=server.access_key_id,
                                secret_access_key=server.secret_access_key,
                                repository=f"bench-{uuid.uuid4().hex[:8]}")
        lakefs.ensure_repository()
        state_dir = Path(server.state_dir)
        results: dict[str, Any] = {
            "repeats": repeats, "warmup": 1, "target_object_bytes": TARGET_OBJECT_BYTES,
            "naive": "shutil.copytree of the previous version's folder, then the 1% overwrite",
            "lakefs_state_dir_same_disk_as_copies": True, "sizes": [],
        }
        for size in sizes:
            results["sizes"].append(bench_size(lakefs, state_dir, work, size, repeats))
    finally:
        if own is not None:
            own.stop()
        shutil.rmtree(work, ignore_errors=True)
    s = results["sizes"]
    results["bcm_largest_over_smallest"] = (
        s[-1]["lakefs"]["bcm"]["median_s"] / s[0]["lakefs"]["bcm"]["median_s"]
    )
    results["targets"] = {
        "bcm_largest_within_1_5x_of_smallest": results["bcm_largest_over_smallest"] <= 1.5,
        "copy_at_largest_50x_slower": s[-1]["copy_over_bcm"] >= 50,
    }
    return results


def markdown(results: dict[str, Any]) -> str:
    def ms(d: dict[str, Any]) -> str:
        return f"{d['median_s'] * 1000:.0f} ({d['min_s'] * 1000:.0f}-{d['max_s'] * 1000:.0f})"

    lines = [
        "| dataset | objects | changed | branch ms | commit ms | merge ms "
        "| **branch+commit+merge ms** | change (upload) ms | lakeFS bytes written | copy ms "
        "| fsync of the copy ms | naive bytes written | copy / b+c+m "
        "| (copy + fsync) / b+c+m |",
        "|" + " ---: |" * 14,
    ]
    for r in results["sizes"]:
        lk, nv = r["lakefs"], r["naive"]
        lines.append(
            f"| {fmt_bytes(r['size_bytes'])} | {r['objects']} | {r['changed_objects']} "
            f"({fmt_bytes(r['changed_bytes'])}) | {ms(lk['branch'])} | {ms(lk['commit'])} | "
            f"{ms(lk['merge'])} | **{ms(lk['bcm'])}** | {ms(lk['change'])} | "
            f"{fmt_bytes(r['lakefs_bytes_written_median'])} | {ms(nv['copy'])} | "
            f"{ms(nv['fsync'])} | {fmt_bytes(r['naive_bytes_written_median'])} | "
            f"{r['copy_over_bcm']:.1f}x | {r['copy_fsync_over_bcm']:.1f}x |"
        )
    return "\n".join(lines)


def notes(results: dict[str, Any]) -> str:
    s = results["sizes"]
    big, small = s[-1], s[0]
    ratio = results["bcm_largest_over_smallest"]
    t = results["targets"]
    req = big["lakefs_requests"]
    http = sum(req[k]["in_http_median_s"] for k in ("branch", "commit", "merge"))
    calls = sum(req[k]["requests"] for k in ("branch", "commit", "merge"))
    return "\n".join([
        f"- branch+commit+merge at {fmt_bytes(big['size_bytes'])} / at "
        f"{fmt_bytes(small['size_bytes'])}: **{ratio:.2f}x** (target <= 1.5x: "
        f"{'met' if t['bcm_largest_within_1_5x_of_smallest'] else 'not met'}).",
        f"- copy / branch+commit+merge at {fmt_bytes(big['size_bytes'])}: "
        f"**{big['copy_over_bcm']:.1f}x** (median of per-repeat ratios "
        f"{big['copy_over_bcm_per_repeat_median']:.1f}x; target >= 50x: "
        f"{'met' if t['copy_at_largest_50x_slower'] else 'not met'}). With the change included "
        f"on both sides (copy+change vs branch+change+commit+merge): "
        f"{big['naive_total_over_lakefs_total']:.1f}x. Counting the fsync that makes the "
        f"copy durable: {big['copy_fsync_over_bcm']:.1f}x.",
        f"- Profile of the lakeFS steps at {fmt_bytes(big['size_bytes'])}: {calls} HTTP requests "
        f"(branch {req['branch']['requests']}, commit {req['commit']['requests']}, merge "
        f"{req['merge']['requests']}) account for {http * 1000:.0f} ms of the "
        f"{big['lakefs']['bcm']['median_s'] * 1000:.0f} ms (medians): the time is lakeFS "
        "answering requests (metadata only: no object is copied), not data size.",
    ])
