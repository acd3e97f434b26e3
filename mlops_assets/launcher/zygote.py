"""A warm run starter: imports Dagster, the code location and the heavy libraries once, then
forks one child per run that executes it exactly as `dagster api execute_run` would.

    python -m mlops_assets.launcher.zygote SOCKET_PATH MODULE [MODULE ...]

Protocol (a Unix socket, one request per connection): the launcher sends one JSON line
`{"input_json": <serialized ExecuteRunArgs>}`, the zygote answers `{"pid": N}` (the run's
process) or `{"stale": true}` when a source file of a preloaded package changed since it
started (it then exits, and the launcher starts a fresh one), or `{"error": "..."}`.

Forking is safe here because the zygote only imports and never computes: no Python thread
runs (checked before every fork) and the native pools that numpy/polars/torch start at import
are idle, so no lock is held when the child is cut off from them; the child's pools start anew
(a parity test runs polars, numpy, torch and scipy work in forked children).
"""

from __future__ import annotations

import importlib
import json
import os
import signal
import socket
import sys
import threading
from pathlib import Path


def source_stamp(packages: list[str]) -> dict[str, float]:
    """mtime of every .py/.yaml file under the preloaded top-level packages we own."""
    stamp: dict[str, float] = {}
    for name in packages:
        module = sys.modules.get(name)
        for root in getattr(module, "__path__", []) or []:
            for path in Path(root).rglob("*"):
                if path.suffix in {".py", ".yaml"}:
                    stamp[str(path)] = path.stat().st_mtime
    return stamp


def run_child(input_json: str) -> None:
    """In the forked child: execute the run, then leave without the zygote's atexit hooks."""
    code = 0
    try:
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        from dagster._cli.api import execute_run_command  # what `dagster api execute_run` runs

        execute_run_command.main(args=[input_json], standalone_mode=False)
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else 1
    except BaseException:  # report, exit non-zero, never return to the zygote loop
        import traceback

        traceback.print_exc()
        code = 1
        _fail_run(input_json, traceback.format_exc())
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def _fail_run(input_json: str, error: str) -> None:
    """A run that could not even start is failed now, not left to the monitoring timeout."""
    try:
        import dagster as dg
        from dagster._grpc.types import ExecuteRunArgs
        from dagster._serdes import deserialize_value

        args = deserialize_value(input_json, ExecuteRunArgs)
        instance = dg.DagsterInstance.from_ref(args.instance_ref)
        run = instance.get_run_by_id(args.run_id)
        if run is not None and not run.is_finished:
            instance.report_run_failed(run, f"the forked run process failed: {error}")
    except Exception:  # best effort: run monitoring still fails it after its start timeout
        pass


def serve(socket_path: str, modules: list[str]) -> None:
    for module in modules:
        importlib.import_module(module)
    # A run starts in these: `dagster api execute_run` and the instance's sqlite storage.
    for module in ("dagster._cli.api", "dagster._core.storage.sqlite_storage"):
        importlib.import_module(module)
    import gc

    gc.collect()
    gc.freeze()  # imported objects leave the collector's view: a child's collections never
    # walk (and so never copy-on-write) the zygote's pages
    owned = sorted({m.split(".")[0] for m in modules} & {"mlops_assets"})
    stamp = source_stamp(owned)
    parent = os.getppid()
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(socket_path + ".tmp")
    server.listen(16)
    os.rename(socket_path + ".tmp", socket_path)  # the launcher connects once it is ready
    server.settimeout(1.0)
    while os.getppid() == parent:  # the daemon went away: so do we
        _reap()
        try:
            conn, _ = server.accept()
        except TimeoutError:
            continue
        with conn:
            conn.settimeout(30)
            request = json.loads(conn.makefile().readline())
            if source_stamp(owned) != stamp:
                conn.sendall(b'{"stale": true}\n')
                break
            if threading.active_count() != 1:  # a thread could hold a lock the child needs
                conn.sendall(b'{"error": "the zygote runs threads: not forking"}\n')
                break
            pid = os.fork()
            if pid == 0:
                server.close()
                conn.close()
                run_child(request["input_json"])
            conn.sendall(json.dumps({"pid": pid}).encode() + b"\n")
    server.close()
    Path(socket_path).unlink(missing_ok=True)


def _reap() -> None:
    """Collect finished runs (they are our children) so none stays a zombie."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


if __name__ == "__main__":
    serve(sys.argv[1], sys.argv[2:])
