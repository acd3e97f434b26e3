"""`mlops-assets`: the platform's command line.

mlops-assets lakefs build|up|down|status|env   the embedded lakeFS server
mlops-assets demo [--dataset DS] [--verbose]   the platform's loop on bundled data, summarized
mlops-assets drift [--dataset DS] [--json]      per-batch drift verdicts published on main
mlops-assets ui                                 lakeFS + the Dagster UI (dagster dev)
mlops-assets models | rollback | reproduce | lineage   the model registry (see registry.py)
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from mlops_assets.cli.drift import add_drift_command
from mlops_assets.cli.embedded import embedded_server, platform_env, start_embedded_lakefs
from mlops_assets.cli.errors import CLIError, report
from mlops_assets.cli.registry import add_registry_commands
from mlops_assets.cli.serve import add_serve_command
from mlops_assets.cli.stack import add_stack_commands
from mlops_assets.settings import Settings

# Command groups defined in their own modules, each a function that adds its subcommands to the
# parser (handlers import their heavy dependencies inside, so `--help` and the registry's read
# commands stay fast).
COMMAND_GROUPS: tuple[Callable[[Any], None], ...] = (add_registry_commands, add_drift_command,
                                                      add_serve_command, add_stack_commands)

REPO_ROOT = Path(__file__).resolve().parents[2]
MAIN_JOB = "main_job"


def cmd_lakefs_build(settings: Settings, _args: argparse.Namespace) -> int:
    from mlops_assets.lakefs_server import ensure_lakefs_binary

    print(ensure_lakefs_binary(settings.cache_dir, settings.lakefs_binary))
    return 0


def cmd_lakefs_up(settings: Settings, args: argparse.Namespace) -> int:
    server = embedded_server(settings)
    info = start_embedded_lakefs(settings, args.port)
    print(f"lakeFS is running at {info.endpoint} (pid {info.pid}, data in {info.state_dir})")
    print(f"  connection settings: {server.env_path}")
    print(f"  lakectl:             lakectl --config {server.lakectl_config_path} repo list")
    print('  in a shell:          eval "$(mlops-assets lakefs env)"')
    return 0


def cmd_lakefs_down(settings: Settings, _args: argparse.Namespace) -> int:
    stopped = embedded_server(settings).stop()
    print("lakeFS stopped" if stopped else "lakeFS was not running")
    return 0


def cmd_lakefs_status(settings: Settings, _args: argparse.Namespace) -> int:
    status = embedded_server(settings).status()
    where = f" at {status.endpoint}" if status.endpoint else ""
    pid = f" (pid {status.pid})" if status.pid else ""
    print(f"lakeFS {status.detail}{where}{pid}; data in {status.state_dir}")
    return 0 if status.running else 3


def cmd_lakefs_env(settings: Settings, _args: argparse.Namespace) -> int:
    info = embedded_server(settings).info()
    if info is None:
        print("lakeFS is not running: start it with `mlops-assets lakefs up`", file=sys.stderr)
        return 3
    for key, value in info.client_env().items():
        print(f"export {key}={value}")
    return 0


def cmd_demo(settings: Settings, args: argparse.Namespace) -> int:
    from datetime import datetime

    from mlops_assets.cli.datasets import resolve_dataset
    from mlops_assets.cli.demo import DemoError, DemoOutput, demo_plan, run_demo, run_job

    resolve_dataset(args.dataset)  # an unknown name fails here, before lakeFS starts
    try:
        plan = demo_plan(args.dataset, args.start, args.end)
    except DemoError as error:
        raise CLIError(str(error)) from None
    env = platform_env(settings)
    env["MLOPS_ASSETS_DATASET"] = args.dataset
    stamp = datetime.now().strftime("%Y%m%dT%H%M%S")
    output = DemoOutput(settings.home / "logs" / f"demo-{stamp}.log", verbose=args.verbose)
    print(f"lakeFS: {env['LAKECTL_SERVER_ENDPOINT_URL']}  repository: {settings.repository}")
    print(f"DAGSTER_HOME: {settings.dagster_home}")
    if args.job == "hello_job":
        code = run_job("hello_job", env, settings, output)
        print(f"Full event log: {output.log_path}")
        return code
    return run_demo(settings, env, plan, output, loop=not args.no_loop)


def cmd_ui(settings: Settings, args: argparse.Namespace) -> int:
    env = platform_env(settings)
    command = [
        sys.executable,
        "-m",
        "dagster",
        "dev",
        "-w",
        str(REPO_ROOT / "workspace.yaml"),
        "-h",
        args.host,
        "-p",
        str(args.port),
    ]
    print(
        f"Dagster UI on http://{args.host}:{args.port} (lakeFS at "
        f"{env['LAKECTL_SERVER_ENDPOINT_URL']}); Ctrl-C stops it.",
        flush=True,
    )
    return subprocess.run(command, env=env, check=False).returncode


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mlops-assets",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)

    lakefs = sub.add_parser("lakefs", help="the embedded lakeFS server").add_subparsers(
        dest="action", required=True
    )
    lakefs.add_parser("build", help="find or build the lakeFS binary").set_defaults(
        fn=cmd_lakefs_build
    )
    up = lakefs.add_parser("up", help="start lakeFS (no-op when running)")
    up.add_argument("--port", type=int, default=None, help="default: previous port or a free one")
    up.set_defaults(fn=cmd_lakefs_up)
    lakefs.add_parser("down", help="stop lakeFS").set_defaults(fn=cmd_lakefs_down)
    lakefs.add_parser("status", help="is lakeFS running").set_defaults(fn=cmd_lakefs_status)
    lakefs.add_parser("env", help="print export lines for the connection").set_defaults(
        fn=cmd_lakefs_env
    )

    demo = sub.add_parser("demo", help="run the main job end to end and summarize it")
    demo.add_argument("--job", default=MAIN_JOB, choices=[MAIN_JOB, "hello_job"])
    demo.add_argument("--no-loop", action="store_true",
                      help="stop after main_job (skip new batches, drift and retraining)")
    demo.add_argument("--dataset", default="nycflights13", help="bundled spec name or YAML path")
    demo.add_argument("--start", default=None, help="first history batch (partition key)")
    demo.add_argument("--end", default=None, help="last history batch (inclusive)")
    demo.add_argument("--verbose", action="store_true",
                      help="stream every Dagster event too (always written to the log file)")
    demo.set_defaults(fn=cmd_demo)

    for add_commands in COMMAND_GROUPS:
        add_commands(sub)

    ui = sub.add_parser("ui", help="start lakeFS and the Dagster UI")
    ui.add_argument("--host", default="127.0.0.1")
    ui.add_argument("--port", type=int, default=3000)
    ui.set_defaults(fn=cmd_ui)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from mlops_assets.lakefs_server import LakeFSBinaryError, LakeFSServerError

    args = build_parser().parse_args(argv)
    as_json = bool(getattr(args, "json", False))
    try:
        return args.fn(Settings.from_env(), args)
    except CLIError as error:
        return report(str(error), error.code, as_json, "usage")
    except (LakeFSBinaryError, LakeFSServerError) as error:
        return report(str(error), 2, as_json, "lakefs")


if __name__ == "__main__":
    sys.exit(main())
