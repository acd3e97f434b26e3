"""Per-batch cost of lakeFS on the production backends vs the embedded default.

    python -m benchmarks.stack_bench              # 20 files of 200k rows total; 5 repeats
    python -m benchmarks.stack_bench --quick      # tiny batch, 2 repeats (plumbing)

Two lakeFS servers run side by side from the same pinned binary: the embedded one (local
metadata store, local blockstore) and the stack's (key-value store on a local PostgreSQL,
blockstore on a local SeaweedFS S3). Per repeat and side, one batch goes through the platform's
write-audit-publish path with its own LakeFSClient: create a run branch, upload the batch's
parquet files, commit, merge into main. The sides alternate (benchmarks.common.interleaved).
Both servers share the machine, so this measures the backends' overhead, not network latency.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from benchmarks.common import interleaved, write_results
from mlops_assets.lakefs_server import LocalLakeFS, ensure_lakefs_binary
from mlops_assets.lakefs_server.production import production_args, production_env
from mlops_assets.platform.lakefs_client import LakeFSClient
from mlops_assets.settings import Settings
from mlops_assets.stack.binaries import ensure_binary, seaweedfs_tool
from mlops_assets.stack.postgres import LocalPostgres
from mlops_assets.stack.seaweed import LocalSeaweedFS


def _batch(rows: int, files: int, seed: int) -> dict[str, pl.DataFrame]:
    rng = np.random.default_rng(seed)
    per = max(rows // files, 1)
    return {
        f"batch/part-{i:03d}.parquet": pl.DataFrame({
            "id": np.arange(per) + i * per,
            "value": rng.normal(size=per).round(3),
            "category": rng.integers(0, 50, per),
        })
        for i in range(files)
    }


def _one_batch(client: LakeFSClient, frames: dict[str, pl.DataFrame]) -> None:
    branch = f"run-{uuid.uuid4().hex[:12]}"
    client.create_branch(branch, "main")
    client.put_frames(branch, frames)
    client.commit(branch, "batch")
    client.merge(branch, "main", "publish batch")
    client.delete_branch(branch)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out-dir", default=None)
    args = parser.parse_args(argv)
    rows, files, repeats = (2_000, 4, 2) if args.quick else (200_000, 20, args.repeats)
    settings = Settings.from_env()
    lakefs_bin = ensure_lakefs_binary(settings.cache_dir, settings.lakefs_binary)
    weed_bin = ensure_binary(seaweedfs_tool(), settings.cache_dir)
    root = Path(tempfile.mkdtemp(prefix="mlops-assets-stack-bench-"))
    os.chmod(root, 0o711)
    postgres = LocalPostgres(root / "postgres")
    seaweed = LocalSeaweedFS(root / "seaweedfs", binary=weed_bin)
    servers: list[LocalLakeFS] = []
    try:
        pg = postgres.start()
        postgres.ensure_database("lakefs")
        sw = seaweed.start()
        embedded = LocalLakeFS(root / "embedded", binary=lakefs_bin)
        stack = LocalLakeFS(root / "stack", binary=lakefs_bin,
                            backend_env=production_env(pg.url("lakefs"), sw.s3),
                            args=production_args())
        servers = [embedded, stack]
        clients = {}
        for name, server, namespace in (("embedded", embedded, ""),
                                        ("stack", stack, sw.s3.storage_namespace("bench"))):
            info = server.start(timeout=120)
            clients[name] = LakeFSClient(info.endpoint, info.access_key_id,
                                         info.secret_access_key, repository="bench",
                                         storage_namespace=namespace)
            clients[name].ensure_repository()
        # A new batch (new content) before every timed call, generated untimed.
        current: dict[str, dict[str, pl.DataFrame]] = {}
        seeds = iter(range(10_000))

        def prepare(name: str) -> None:
            current[name] = _batch(rows, files, seed=next(seeds))
            # lakefs 0.16 keeps the server's storage config in a class-level dict shared by
            # every client of the process: re-read this side's (local vs s3, pre-sign or not).
            clients[name].client()._server_conf = None

        timings = interleaved(
            {k: (lambda k=k, c=c: _one_batch(c, current[k])) for k, c in clients.items()},
            repeats, log=lambda m: print(m, file=sys.stderr),
            before={k: (lambda k=k: prepare(k)) for k in clients})
        results = {"rows": rows, "files": files, "per_batch": timings,
                   "ratio_stack_over_embedded": timings["stack"]["median_s"]
                   / timings["embedded"]["median_s"]}
        path = write_results("stack_quick" if args.quick else "stack", results, args.out_dir)
        print(f"embedded {timings['embedded']['median_s']:.3f}s, stack "
              f"{timings['stack']['median_s']:.3f}s per batch -> {path}")
        return results
    finally:
        for server in servers:
            server.stop()
        seaweed.stop()
        postgres.destroy()


if __name__ == "__main__":
    main()
