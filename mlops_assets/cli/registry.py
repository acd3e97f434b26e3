"""`mlops-assets models | rollback | reproduce | lineage`: the registry from the command line.

mlops-assets models list                      versions, their aliases and evaluation headline
mlops-assets models show VERSION              record, evaluation, decision, aliases, model card
mlops-assets models compare A B [--window F..L]  both scored on the same labelled window
mlops-assets models history [--alias NAME]    every alias move (the commit log of main)
mlops-assets models alias NAME VERSION --reason TEXT   point an alias at a version
mlops-assets models unlock                    remove a registry lock left by a dead process
mlops-assets rollback [--to VERSION] [--reason TEXT]   champion back to the previous (or --to)
mlops-assets reproduce VERSION [--seed N]     retrain on a scratch branch, compare the hash
mlops-assets lineage PREDICTION_PATH ROW      prediction row -> model -> data -> raw batches

Every command takes --dataset (default $MLOPS_ASSETS_DATASET or nycflights13) and --json.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from typing import Any

from mlops_assets.cli.errors import FAILED, CLIError, report

DEFAULT_DATASET = "nycflights13"


def _connection(settings: Any) -> dict[str, str]:
    from mlops_assets.cli.embedded import start_embedded_lakefs

    return settings.external_lakefs or start_embedded_lakefs(settings).client_env()


def registry_resource(settings: Any):
    """A LakeFSClient on the platform repository (starting the embedded lakeFS if needed)."""
    from mlops_assets.platform.lakefs_client import LakeFSClient

    connection = _connection(settings)
    return LakeFSClient(
        endpoint=connection["LAKECTL_SERVER_ENDPOINT_URL"],
        access_key_id=connection["LAKECTL_CREDENTIALS_ACCESS_KEY_ID"],
        secret_access_key=connection["LAKECTL_CREDENTIALS_SECRET_ACCESS_KEY"],
        repository=settings.repository,
        storage_namespace=os.environ.get("MLOPS_ASSETS_STORAGE_NAMESPACE", ""),
    )


def registry_reader(settings: Any):
    """The stdlib read-only client (registry.rest): no lakeFS SDK, polars, Dagster or torch."""
    from mlops_assets.registry.rest import LakeFSReader

    connection = _connection(settings)
    return LakeFSReader(
        endpoint=connection["LAKECTL_SERVER_ENDPOINT_URL"],
        access_key_id=connection["LAKECTL_CREDENTIALS_ACCESS_KEY_ID"],
        secret_access_key=connection["LAKECTL_CREDENTIALS_SECRET_ACCESS_KEY"],
        repository=settings.repository,
    )


def _dataset(args: argparse.Namespace) -> str:
    """The dataset name from --dataset (a bundled name or a spec path)."""
    from mlops_assets.cli.datasets import resolve_dataset

    return resolve_dataset(args.dataset)


def _run(fn: Callable[[Any, argparse.Namespace], int], read_only: bool = False):
    """Wrap a handler: an unknown dataset, a registry refusal or a lakeFS error becomes one line
    (JSON under --json) and an exit code, never a traceback."""

    def handler(settings: Any, args: argparse.Namespace) -> int:
        from mlops_assets.platform.lakefs_types import LakeFSError
        from mlops_assets.registry.versions import RegistryError

        try:
            _dataset(args)  # before lakeFS is started or reached
            lakefs = registry_reader(settings) if read_only else registry_resource(settings)
            return fn(lakefs, args)
        except CLIError as error:
            return report(str(error), error.code, args.json, "usage")
        except RegistryError as error:
            return report(str(error), FAILED, args.json, "refused")
        except LakeFSError as error:
            return report(str(error), FAILED, args.json, "lakefs")

    return handler


def _print(args: argparse.Namespace, value: Any, text: str) -> None:
    from mlops_assets.registry import dumps

    print(dumps(value) if args.json else text)


def cmd_models_list(lakefs, args: argparse.Namespace) -> int:
    from mlops_assets.registry import list_versions

    ds = _dataset(args)
    versions = list_versions(lakefs, ds)
    lines = [f"{len(versions)} version(s) of {ds}:"]
    for v in versions:
        flags = ", ".join(v.aliases) or "-"
        state = ("published" if v.on_main else "unpublished") + (
            "" if v.passed is None else ", passed" if v.passed else ", below the bar")
        where = f" on {v.measured_on}" if v.measured_on else ""
        lines.append(f"  {v.version}  [{flags}]  {state}  {v.headline}{where}  "
                     f"{v.tag or '(untagged)'}")
    _print(args, versions, "\n".join(lines))
    return 0


def cmd_models_show(lakefs, args: argparse.Namespace) -> int:
    from mlops_assets.registry import show_version

    ds = _dataset(args)
    shown = show_version(lakefs, ds, args.version)
    record = shown["record"]
    text = "\n".join([
        f"{shown['version']}  aliases: {', '.join(shown['aliases']) or '-'}  tag: "
        f"{shown['tag'] or '-'}",
        f"  {shown['uri']}",
        f"  data commit {record.get('data_commit')}, batches {record['train_batches'][0]}.."
        f"{record['train_batches'][-1]}, {record.get('training_rows')} rows, seed "
        f"{record.get('seed')}, feature code {record.get('feature_code_version')}",
        f"  weights sha256 {record.get('weights_sha256')}",
        f"  evaluation: {json.dumps((shown['evaluation'] or {}).get('passed'))} "
        f"decision: {(shown['decision'] or {}).get('reason', '-')}",
        "",
        shown["model_card"] or "(no model card)",
    ])
    _print(args, shown, text)
    return 0


def cmd_models_compare(lakefs, args: argparse.Namespace) -> int:
    from mlops_assets.registry import compare_versions

    ds = _dataset(args)
    result = compare_versions(lakefs, ds, args.a, args.b, window=args.window,
                              n_bootstrap=args.n_bootstrap)
    _print(args, result, result.text())
    return 0


def cmd_models_history(lakefs, args: argparse.Namespace) -> int:
    from mlops_assets.registry import alias_history

    ds = _dataset(args)
    events = alias_history(lakefs, ds, None if args.alias == "all" else args.alias)
    if not events and args.alias != "all":
        from mlops_assets.registry import read_aliases

        known = sorted(read_aliases(lakefs, ds))
        if args.alias not in known:
            raise CLIError(f"no alias {args.alias!r} of {ds}: aliases are "
                           f"{', '.join(known) or 'none yet'} (or `all`)")
    lines = [f"{len(events)} move(s) of {args.alias} ({ds}), oldest first:"]
    for e in events:
        lines.append(f"  {e.time}  {e.alias}: {e.previous or '(none)'} -> {e.version}  "
                     f"[{e.action} by {e.actor}] {e.reason}  commit {e.commit[:12]}")
    _print(args, events, "\n".join(lines))
    return 0


def cmd_models_alias(lakefs, args: argparse.Namespace) -> int:
    from mlops_assets.registry import set_alias

    ds = _dataset(args)
    move = set_alias(lakefs, ds, args.alias, args.version, reason=args.reason, actor=args.actor)
    _print(args, move, f"{move.alias}: {move.previous or '(none)'} -> {move.version} in commit "
                       f"{move.commit}")
    _observe(ds, move, "set", args.reason)
    return 0


def cmd_models_unlock(lakefs, args: argparse.Namespace) -> int:
    from mlops_assets.registry import break_lock

    ds = _dataset(args)
    holder = break_lock(lakefs, ds)
    _print(args, holder, f"removed the registry lock of {ds} held by {holder['holder']}"
           if holder else f"the registry lock of {ds} was free")
    return 0


def cmd_rollback(lakefs, args: argparse.Namespace) -> int:
    from mlops_assets.registry import rollback

    ds = _dataset(args)
    move = rollback(lakefs, ds, to=args.to, reason=args.reason, actor=args.actor)
    _print(args, move, f"champion of {ds}: {move.previous} -> {move.version} (model, feature "
                       f"version and drift reference together) in commit {move.commit}; undo "
                       f"with `mlops-assets rollback --to {move.previous}`")
    _observe(ds, move, "rollback", args.reason)
    return 0


def _observe(ds: str, move: Any, action: str, reason: str) -> None:
    """The move as an observation of `champion` in Dagster, when there is an instance."""
    from mlops_assets.cli.dagster_events import record_alias_move

    note = record_alias_move({
        "dataset": ds, "alias": move.alias, "version": move.version,
        "previous": move.previous or "", "action": action, "reason": reason,
        "lakefs_commit": move.commit, "source": "mlops-assets CLI",
    })
    if note:
        print(note, file=sys.stderr)


def _progress(message: str) -> None:
    print(f"  {message}", file=sys.stderr, flush=True)  # stderr: --json stdout stays parseable


def cmd_reproduce(lakefs, args: argparse.Namespace) -> int:
    from mlops_assets.cli.datasets import load_dataset_spec
    from mlops_assets.registry import reproduce

    spec = load_dataset_spec(args.dataset)
    overrides = {"seed": args.seed} if args.seed is not None else None
    result = reproduce(lakefs, spec.name, args.version, spec=spec, overrides=overrides,
                       keep_branch=not args.delete_branch, progress=_progress)
    _print(args, result, result.text())
    return 0 if result.identical else 4


def cmd_lineage(lakefs, args: argparse.Namespace) -> int:
    from mlops_assets.registry import lineage

    ds = _dataset(args)
    found = lineage(lakefs, ds, args.prediction, args.row)
    _print(args, found, found.text())
    return 0


def add_registry_commands(subparsers: Any) -> None:
    """Register `models`, `rollback`, `reproduce` and `lineage` on the CLI's subparsers."""

    def common(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
        p.add_argument("--dataset", default=os.environ.get("MLOPS_ASSETS_DATASET")
                       or DEFAULT_DATASET, help="bundled spec name or YAML path")
        p.add_argument("--json", action="store_true", help="print JSON")
        return p

    def actor(p: argparse.ArgumentParser) -> None:
        p.add_argument("--actor", default=None, help="who does it (default: user@host)")

    models = subparsers.add_parser("models", help="the model registry").add_subparsers(
        dest="action", required=True)
    common(models.add_parser("list", help="versions and their aliases")).set_defaults(
        fn=_run(cmd_models_list, read_only=True))
    show = common(models.add_parser("show", help="one version: record, evaluation, card"))
    show.add_argument("version")
    show.set_defaults(fn=_run(cmd_models_show, read_only=True))
    compare = common(models.add_parser(
        "compare", help="two versions on the same labelled window, with a paired test "
        "(imports torch to score them, unlike the other read commands)",
        description="Score versions A and B on the same recent labelled rows (default: the "
        "evaluation window of the newest version on main, read at main's head) and show their "
        "metrics with 95%% CIs, the paired test of B against A (DeLong for AUC, paired "
        "bootstrap for RMSE), their data commits, feature code versions and hyperparameters. "
        "Unlike list/show/history this loads both models, so it imports torch."))
    compare.add_argument("a", help="the reference version (e.g. the champion)")
    compare.add_argument("b", help="the version compared with it (e.g. a challenger)")
    compare.add_argument("--window", default=None,
                         help="FIRST..LAST batch keys on main (default: the latest eval window)")
    compare.add_argument("--n-bootstrap", type=int, default=1000, help="draws for the CIs")
    compare.set_defaults(fn=_run(cmd_models_compare))
    history = common(models.add_parser("history", help="alias moves, from main's commit log"))
    history.add_argument("--alias", default="champion", help="an alias name, or `all`")
    history.set_defaults(fn=_run(cmd_models_history, read_only=True))
    alias = common(models.add_parser("alias", help="point an alias at a version (one commit)"))
    alias.add_argument("alias")
    alias.add_argument("version")
    alias.add_argument("--reason", required=True)
    actor(alias)
    alias.set_defaults(fn=_run(cmd_models_alias))
    common(models.add_parser("unlock", help="remove a registry lock left by a dead process")
           ).set_defaults(fn=_run(cmd_models_unlock))

    back = common(subparsers.add_parser(
        "rollback", help="move the champion back (model + feature version + reference)"))
    back.add_argument("--to", default=None, help="version (default: the previous champion)")
    back.add_argument("--reason", default="manual rollback")
    actor(back)
    back.set_defaults(fn=_run(cmd_rollback))

    repro = common(subparsers.add_parser(
        "reproduce", help="retrain a version on a scratch branch and compare weights"))
    repro.add_argument("version")
    repro.add_argument("--seed", type=int, default=None, help="override the recorded seed")
    repro.add_argument("--delete-branch", action="store_true", help="drop the scratch branch")
    repro.set_defaults(fn=_run(cmd_reproduce))

    lin = common(subparsers.add_parser(
        "lineage", help="a prediction row back to its model, data commit and raw batches"))
    lin.add_argument("prediction", help="lakeFS path on main, lakefs:// URI or local parquet")
    lin.add_argument("row", type=int)
    lin.set_defaults(fn=_run(cmd_lineage))
