"""`mlops-assets serve [--dataset DS] [--host H] [--port N]`: serve the dataset's champion over
HTTP (see docs/serving.md): POST /v1/predict, POST /v1/feedback, GET /healthz, /readyz, /metrics.

The service follows the registry (champion moves are loaded in the background and swapped
atomically), can run a challenger in shadow or as a canary, and lands served traffic with its
labels as batches of the dataset in the landing folder.
"""

from __future__ import annotations

import argparse
import os
from typing import Any


def cmd_serve(settings: Any, args: argparse.Namespace) -> int:
    from pathlib import Path

    from mlops_assets.cli.errors import CLIError
    from mlops_assets.cli.registry import _dataset, registry_resource
    from mlops_assets.core.spec import load_spec
    from mlops_assets.serving.app import build_app
    from mlops_assets.serving.canary import CanaryPolicy
    from mlops_assets.serving.config import ServeConfig
    from mlops_assets.serving.loading import LoadError
    from mlops_assets.serving.server import prepare_process, run
    from mlops_assets.serving.service import ServingState

    ds = _dataset(args)
    landing = args.landing_dir or os.environ.get("MLOPS_ASSETS_LANDING_DIR") or str(
        settings.home / "landing")
    config = ServeConfig(
        dataset=ds, poll_seconds=args.poll_seconds, mode=args.mode, challenger=args.challenger,
        canary_share=args.canary_share,
        canary=CanaryPolicy(min_labels=args.min_labels, max_labels=args.max_labels),
        auto_decide=not args.no_auto_decide,
        landing_dir=None if args.no_landing else Path(landing),
        flush_idle_seconds=args.flush_idle_seconds,
    )
    state = ServingState(registry_resource(settings), load_spec(args.dataset), config)
    try:
        state.refresh(force=True)
    except LoadError as error:
        raise CLIError(str(error)) from None
    snap = state.snapshot
    assert snap is not None
    print(f"serving {ds} champion {snap.champion.version} on http://{args.host}:{args.port} "
          f"(mode {config.mode}); traffic lands in {config.landing_dir or 'nowhere'}",
          flush=True)
    prepare_process(args.torch_threads)
    run(build_app(state), args.host, args.port, log_level=args.log_level)
    return 0


def add_serve_command(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "serve", help="serve the champion over HTTP", description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default=os.environ.get("MLOPS_ASSETS_DATASET")
                        or "nycflights13", help="a bundled dataset name or a spec path")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--poll-seconds", type=float, default=5.0,
                        help="how often the registry is checked for a new champion")
    parser.add_argument("--mode", choices=["off", "shadow", "canary"], default="off",
                        help="run a challenger: in shadow (never returned) or as a canary")
    parser.add_argument("--challenger", default="candidate",
                        help="the challenger: an alias, or version:<name>")
    parser.add_argument("--canary-share", type=float, default=0.1,
                        help="share of request keys sent to the canary")
    parser.add_argument("--min-labels", type=int, default=200)
    parser.add_argument("--max-labels", type=int, default=20_000)
    parser.add_argument("--no-auto-decide", action="store_true",
                        help="report the canary verdict, never promote or stop by itself")
    parser.add_argument("--landing-dir", default=None,
                        help="default $MLOPS_ASSETS_LANDING_DIR or $MLOPS_ASSETS_HOME/landing")
    parser.add_argument("--no-landing", action="store_true", help="do not land served traffic")
    parser.add_argument("--flush-idle-seconds", type=float, default=60.0,
                        help="land a batch window after this long without traffic or labels")
    parser.add_argument("--torch-threads", type=int, default=1,
                        help="torch intra-op threads (request matrices are tiny)")
    parser.add_argument("--log-level", default="info")
    parser.add_argument("--json", action="store_true", help=argparse.SUPPRESS)
    parser.set_defaults(fn=cmd_serve)
