"""`mlops-assets stack build|up|down|status`: the production topology on this machine
(PostgreSQL, SeaweedFS S3, lakeFS on both, Dagster code server + webserver + daemon)."""

from __future__ import annotations

import argparse
from typing import Any

from mlops_assets.cli.errors import FAILED, CLIError
from mlops_assets.settings import Settings


def cmd_stack_build(settings: Settings, _args: argparse.Namespace) -> int:
    from mlops_assets.lakefs_server import ensure_lakefs_binary
    from mlops_assets.stack.binaries import ensure_binary, helm_tool, seaweedfs_tool
    from mlops_assets.stack.procs import StackError

    try:
        print(ensure_lakefs_binary(settings.cache_dir, settings.lakefs_binary))
        for tool in (seaweedfs_tool(), helm_tool()):
            print(ensure_binary(tool, settings.cache_dir))
    except StackError as error:
        raise CLIError(str(error), FAILED) from None
    return 0


def cmd_stack_up(settings: Settings, args: argparse.Namespace) -> int:
    from mlops_assets.stack.procs import StackError
    from mlops_assets.stack.stack import Stack

    stack = Stack(settings, dataset=args.dataset)
    try:
        stack.up(max_training=args.max_training, webserver_port=args.port)
    except StackError as error:
        message = f"{error}\n(stop what did start with `mlops-assets stack down`)"
        raise CLIError(message, FAILED) from None
    print(f"stack is up; connection settings in {stack.env_path} "
          f"(`set -a; . {stack.env_path}; set +a`)")
    return _print_status(stack, as_json=False)


def cmd_stack_down(settings: Settings, _args: argparse.Namespace) -> int:
    from mlops_assets.stack.stack import Stack

    Stack(settings).down()
    return 0


def cmd_stack_status(settings: Settings, args: argparse.Namespace) -> int:
    from mlops_assets.stack.stack import Stack

    return _print_status(Stack(settings), as_json=args.json)


def _print_status(stack: Any, as_json: bool) -> int:
    from mlops_assets.stack.stack import status_json

    statuses = stack.status()
    if as_json:
        print(status_json(statuses))
    else:
        for s in statuses:
            mark = "ok  " if s.healthy else "DOWN"
            pid = f" pid {s.pid}" if s.pid else ""
            print(f"{mark} {s.name:<12} {s.endpoint:<28} {s.detail}{pid}")
    return 0 if all(s.healthy for s in statuses) else 3


def add_stack_commands(sub: Any) -> None:
    stack = sub.add_parser(
        "stack", help="the production topology locally: PostgreSQL, S3, lakeFS, Dagster servers"
    ).add_subparsers(dest="action", required=True)
    stack.add_parser("build", help="find or build lakeFS, SeaweedFS and Helm (cached)") \
        .set_defaults(fn=cmd_stack_build)
    up = stack.add_parser("up", help="start every server that is not running")
    up.add_argument("--dataset", default="nycflights13", help="the code location's dataset")
    up.add_argument("--max-training", type=int, default=None,
                    help="slots of the `training` pool (default 1)")
    up.add_argument("--port", type=int, default=None, help="dagster-webserver port")
    up.set_defaults(fn=cmd_stack_up)
    stack.add_parser("down", help="stop every server (state is kept)") \
        .set_defaults(fn=cmd_stack_down)
    status = stack.add_parser("status", help="health of every server (exit 3 if any is down)")
    status.add_argument("--json", action="store_true")
    status.set_defaults(fn=cmd_stack_status)
