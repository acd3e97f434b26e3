"""The model registry, on lakeFS only: versions are tags, aliases are files on main whose every
move is one commit with metadata, so the promotion history is the commit log of main.

- A **version** `<ds>-<time>-<run>` lives in `models/<ds>/<version>/` (record, weights,
  reference, evaluation, decision, model card) and is tagged `model-<version>` on the commit that
  holds its files (:func:`tag_version`).
- An **alias** (`champion`, `challenger`, `candidate` or any name) is
  `models/<ds>/aliases/<alias>.json` = ``{"version", "previous", "reason", "actor", ...}``. Moving
  it (:func:`set_alias`, :func:`rollback`) writes that file on a temporary branch, commits and
  merges into main: one merge commit on main whose metadata (:data:`ALIAS_KEYS`) says which alias
  moved, from which version to which, why and by whom. :func:`alias_history` reads those commits
  back from main's first-parent log (and the champion asset's promotion merges, which carry
  `promoted=True` and `model_version`).
- Everything a version needs at serving and monitoring time is in its own folder (the record
  names the data commit and the feature code version, `reference.json` is the drift reference),
  so moving the alias moves model, feature pipeline version and reference together.
- **In flight**: a promotion or alias move holds the lakeFS branch `registry-lock-<ds>` for its
  duration (:func:`registry_lock`). Creating a branch that exists fails atomically in lakeFS
  (HTTP 409), so the branch is a mutex that lives in lakeFS itself (visible with
  `lakectl branch list`, survives restarts, needs no commit on main). A crashed holder leaves it;
  :func:`break_lock` (`mlops-assets models unlock`) removes it.

Functions take a :class:`LakeFSResource` and a dataset name; no Dagster context is needed.
"""

import contextlib
import getpass
import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from mlops_assets import layout
from mlops_assets.resources.lakefs import (
    CommitInfo,
    LakeFSConflictError,
    LakeFSNotFoundError,
    LakeFSResource,
)

VERSION_TAG_PREFIX = "model-"
LOCK_BRANCH_PREFIX = "registry-lock-"
CODE_VERSION = "1"  # of the registry's own commits (the `code_version` metadata key)

# Commit metadata of an alias move (on the merge commit on main).
ALIAS = "alias"  # which alias moved
ALIAS_VERSION = "alias_version"  # the version it points at now
ALIAS_PREVIOUS = "alias_previous"  # the version it pointed at before ("" if none)
ALIAS_DATASET = "alias_dataset"
ALIAS_ACTION = "alias_action"  # promote | rollback | set
ALIAS_EVALUATION = "alias_evaluation"  # headline metrics of the new version, as text
REASON = "reason"
ACTOR = "actor"  # a user (user@host), or `dagster run <id>` / a sensor name
ALIAS_KEYS = (ALIAS, ALIAS_VERSION, ALIAS_PREVIOUS, ALIAS_DATASET, ALIAS_ACTION,
              ALIAS_EVALUATION, REASON, ACTOR)

_VERSION_FILES = ("record.json", "evaluation.json", "decision.json", "reference.json",
                  "model_card.md")


_UNCHECKED = object()


class RegistryError(RuntimeError):
    """A registry operation was refused; nothing was changed."""


class VersionNotFoundError(RegistryError):
    pass


class PromotionInFlightError(RegistryError):
    pass


# ------------------------------------------------------------------------------------ versions
def version_tag(version: str) -> str:
    return f"{VERSION_TAG_PREFIX}{version}"


def tag_version(lakefs: LakeFSResource, ds: str, version: str, commit: str) -> str:
    """Tag `model-<version>` on `commit` (which must hold the version's files). Idempotent; when
    the tag exists on another commit it is moved (the champion merge holds more of the version,
    e.g. its decision and card, than the training commit). Returns the tagged commit id."""
    commit_id = lakefs.resolve(commit)
    if not lakefs.exists(commit_id, layout.model_dir(ds, version) + "record.json"):
        raise VersionNotFoundError(
            f"commit {commit_id[:12]} does not hold model version {version} of {ds}"
        )
    tag = version_tag(version)
    current = _tag_commit(lakefs, tag)
    if current == commit_id:
        return commit_id
    if current is not None:
        lakefs.delete_tag(tag)
    return lakefs.create_tag(tag, commit_id, exist_ok=True)


def _tag_commit(lakefs: LakeFSResource, tag: str) -> str | None:
    try:
        return lakefs.resolve(tag)
    except LakeFSNotFoundError:
        return None


@dataclass
class VersionInfo:
    version: str
    created_at: str | None
    on_main: bool
    tag: str | None  # the tag name when tagged
    commit: str | None  # the commit of the tag, else main's head
    aliases: list[str]
    passed: bool | None  # the quality bar
    promoted: bool | None  # the champion/challenger decision
    headline: str


def _versions_on(lakefs: LakeFSResource, ref: str, ds: str) -> set[str]:
    prefix = f"models/{ds}/"
    found = set()
    for path in lakefs.list_objects(ref, prefix):
        head = path[len(prefix):].split("/", 1)[0]
        if head != "aliases" and path.endswith("/record.json"):
            found.add(head)
    return found


def _tagged_versions(lakefs: LakeFSResource, ds: str) -> dict[str, str]:
    """version -> commit of its `model-<version>` tag, for versions of `ds`."""
    out = {}
    for tag, commit in lakefs.list_tags().items():
        if tag.startswith(VERSION_TAG_PREFIX):
            version = tag[len(VERSION_TAG_PREFIX):]
            if version.startswith(f"{ds}-"):
                out[version] = commit
    return out


def read_aliases(lakefs: LakeFSResource, ds: str, ref: str | None = None) -> dict[str, dict]:
    """alias -> its pointer document, as on `ref` (default: main)."""
    ref = ref or lakefs.default_branch
    prefix = f"models/{ds}/aliases/"
    out = {}
    for path in lakefs.list_objects(ref, prefix):
        if path.endswith(".json"):
            out[path[len(prefix):-len(".json")]] = lakefs.get_json(ref, path)
    return out


def _get_json(lakefs: LakeFSResource, ref: str, path: str) -> Any:
    try:
        return lakefs.get_json(ref, path)
    except LakeFSNotFoundError:
        return None


def headline(evaluation: dict | None) -> str:
    """`auc 0.712 [0.690, 0.735]`-style summary of an evaluation.json."""
    metrics = (evaluation or {}).get("metrics") or {}
    parts = []
    for name in ("auc", "accuracy", "rmse", "r2"):
        m = metrics.get(name) or {}
        if m.get("value") is not None:
            ci = ""
            if m.get("ci_low") is not None and m.get("ci_high") is not None:
                ci = f" [{m['ci_low']:.3f}, {m['ci_high']:.3f}]"
            parts.append(f"{name} {m['value']:.3f}{ci}")
    return ", ".join(parts)


def list_versions(lakefs: LakeFSResource, ds: str) -> list[VersionInfo]:
    """Every version of `ds`: tagged ones and those published on main, oldest first."""
    main = lakefs.resolve(lakefs.default_branch)
    on_main = _versions_on(lakefs, main, ds)
    tagged = _tagged_versions(lakefs, ds)
    aliases = read_aliases(lakefs, ds, main)
    out = []
    for version in sorted(on_main | set(tagged)):
        ref = main if version in on_main else tagged[version]
        base = layout.model_dir(ds, version)
        record = _get_json(lakefs, ref, base + "record.json") or {}
        evaluation = _get_json(lakefs, ref, base + "evaluation.json")
        decision = _get_json(lakefs, ref, base + "decision.json")
        out.append(VersionInfo(
            version=version,
            created_at=record.get("created_at"),
            on_main=version in on_main,
            tag=version_tag(version) if version in tagged else None,
            commit=tagged.get(version, main),
            aliases=sorted(a for a, p in aliases.items() if p.get("version") == version),
            passed=(evaluation or {}).get("passed"),
            promoted=(decision or {}).get("promote"),
            headline=headline(evaluation),
        ))
    return out


def version_ref(lakefs: LakeFSResource, ds: str, version: str) -> str:
    """The commit to read a version from: main when published there, else its tag."""
    base = layout.model_dir(ds, version)
    main = lakefs.resolve(lakefs.default_branch)
    if lakefs.exists(main, base + "record.json"):
        return main
    tagged = _tag_commit(lakefs, version_tag(version))
    if tagged is not None and lakefs.exists(tagged, base + "record.json"):
        return tagged
    known = ", ".join(v.version for v in list_versions(lakefs, ds)) or "none"
    raise VersionNotFoundError(f"no model version {version!r} of {ds} (known versions: {known})")


def show_version(lakefs: LakeFSResource, ds: str, version: str) -> dict[str, Any]:
    """Record, evaluation, decision, aliases pointing at it, tag and model card of a version."""
    ref = version_ref(lakefs, ds, version)
    base = layout.model_dir(ds, version)
    card = None
    with contextlib.suppress(LakeFSNotFoundError):
        card = lakefs.get_bytes(ref, base + "model_card.md").decode()
    aliases = read_aliases(lakefs, ds)
    return {
        "version": version,
        "ref": ref,
        "uri": lakefs.uri(ref, base),
        "tag": version_tag(version) if _tag_commit(lakefs, version_tag(version)) else None,
        "aliases": sorted(a for a, p in aliases.items() if p.get("version") == version),
        "record": lakefs.get_json(ref, base + "record.json"),
        "evaluation": _get_json(lakefs, ref, base + "evaluation.json"),
        "decision": _get_json(lakefs, ref, base + "decision.json"),
        "has_reference": lakefs.exists(ref, base + "reference.json"),
        "model_card": card,
    }


# ------------------------------------------------------------------------------------ history
@dataclass
class AliasEvent:
    alias: str
    version: str
    previous: str | None
    action: str
    reason: str
    actor: str
    commit: str
    time: str  # ISO 8601, UTC
    evaluation: str = ""


def alias_metadata(
    ds: str,
    alias: str,
    version: str,
    previous: str | None,
    reason: str,
    actor: str,
    action: str = "promote",
    evaluation: str = "",
) -> dict[str, str]:
    """The commit metadata that records an alias move (what :func:`alias_history` reads)."""
    return {
        ALIAS: alias,
        ALIAS_VERSION: version,
        ALIAS_PREVIOUS: previous or "",
        ALIAS_DATASET: ds,
        ALIAS_ACTION: action,
        ALIAS_EVALUATION: evaluation,
        REASON: reason,
        ACTOR: actor,
    }


def main_log(lakefs: LakeFSResource, max_amount: int = 10_000) -> list[CommitInfo]:
    """main's first-parent log (the commits made on main: merges and direct commits)."""
    return lakefs.log(lakefs.default_branch, max_amount=max_amount, first_parent=True)


def _event(ds: str, commit: CommitInfo) -> AliasEvent | None:
    meta = commit.metadata
    when = datetime.fromtimestamp(commit.creation_date, UTC).isoformat()
    if meta.get(ALIAS) and meta.get(ALIAS_DATASET) == ds:
        return AliasEvent(
            alias=meta[ALIAS], version=meta.get(ALIAS_VERSION, ""),
            previous=meta.get(ALIAS_PREVIOUS) or None, action=meta.get(ALIAS_ACTION, "set"),
            reason=meta.get(REASON, ""), actor=meta.get(ACTOR, ""), commit=commit.id, time=when,
            evaluation=meta.get(ALIAS_EVALUATION, ""),
        )
    # A promotion merge of the champion asset made before it wrote the alias keys.
    version = meta.get("model_version", "")
    if (meta.get("dagster_asset_key") == "champion" and meta.get("promoted") == "True"
            and version.startswith(f"{ds}-")):
        return AliasEvent(
            alias="champion", version=version, previous=None, action="promote",
            reason=meta.get(REASON, ""), actor=f"dagster run {meta.get('dagster_run_id', '')}",
            commit=commit.id, time=when,
        )
    return None


def alias_history(
    lakefs: LakeFSResource, ds: str, alias: str | None = "champion"
) -> list[AliasEvent]:
    """Every move of `alias` (None: of every alias) of `ds`, oldest first, read from the commit
    log of main (so it is exactly as durable as main itself)."""
    events = [e for c in main_log(lakefs) if (e := _event(ds, c)) is not None]
    events.reverse()
    last: dict[str, str] = {}
    for event in events:
        if event.previous is None and event.alias in last:
            event.previous = last[event.alias]
        last[event.alias] = event.version
    return [e for e in events if alias is None or e.alias == alias]


# ------------------------------------------------------------------------------------ the lock
def lock_branch(ds: str) -> str:
    return f"{LOCK_BRANCH_PREFIX}{ds}"


def lock_holder(lakefs: LakeFSResource, ds: str) -> dict[str, str] | None:
    """Who holds the registry lock of `ds` (None when free)."""
    branch = lock_branch(ds)
    try:
        commit = lakefs.get_commit(branch)
    except LakeFSNotFoundError:
        return None
    meta = commit.metadata
    return {
        "branch": branch,
        "holder": meta.get("lock_holder", "unknown (being acquired)"),
        "purpose": meta.get("lock_purpose", ""),
        "since": meta.get("lock_since", ""),
    }


def _describe(holder: dict[str, str] | None, ds: str) -> str:
    if holder is None:
        return f"registry lock of {ds} is free"
    return (f"a {holder['purpose'] or 'registry change'} of {ds} is in flight (held by "
            f"{holder['holder']} since {holder['since'] or '?'}, lakeFS branch "
            f"{holder['branch']!r}); retry when it is done, or, if its holder died, remove the "
            f"lock with `mlops-assets models unlock --dataset {ds}`")


def acquire_lock(
    lakefs: LakeFSResource, ds: str, holder: str, purpose: str, wait_seconds: float = 0.0
) -> str:
    """Take the registry lock of `ds` (atomic branch creation); raise
    :class:`PromotionInFlightError` if it is still held after `wait_seconds`."""
    branch = lock_branch(ds)
    deadline = time.monotonic() + wait_seconds
    while True:
        try:
            lakefs.create_branch(branch, lakefs.default_branch, exist_ok=False)
            break
        except LakeFSConflictError:
            if time.monotonic() >= deadline:
                raise PromotionInFlightError(_describe(lock_holder(lakefs, ds), ds)) from None
            time.sleep(1.0)
    lakefs.commit(branch, f"registry lock of {ds}: {purpose} by {holder}", allow_empty=True,
                  metadata={"lock_holder": holder, "lock_purpose": purpose,
                            "lock_since": datetime.now(UTC).isoformat(timespec="seconds")})
    return branch


def release_lock(lakefs: LakeFSResource, ds: str) -> None:
    lakefs.delete_branch(lock_branch(ds), missing_ok=True)


def break_lock(lakefs: LakeFSResource, ds: str) -> dict[str, str] | None:
    """Remove a lock left by a holder that died; returns who held it."""
    holder = lock_holder(lakefs, ds)
    release_lock(lakefs, ds)
    return holder


@contextlib.contextmanager
def registry_lock(
    lakefs: LakeFSResource, ds: str, holder: str, purpose: str = "promotion",
    wait_seconds: float = 0.0,
) -> Iterator[None]:
    """Hold the registry lock of `ds` for a promotion or an alias move (released on exit)."""
    acquire_lock(lakefs, ds, holder, purpose, wait_seconds)
    try:
        yield
    finally:
        release_lock(lakefs, ds)


# ------------------------------------------------------------------------------------ aliases
@dataclass
class AliasMove:
    alias: str
    version: str
    previous: str | None
    commit: str  # the one commit on main that moved it
    main_before: str


def default_actor() -> str:
    try:
        user = getpass.getuser()
    except Exception:  # no user name in some containers
        user = "unknown"
    import socket

    return f"{user}@{socket.gethostname()}"


def set_alias(
    lakefs: LakeFSResource,
    ds: str,
    alias: str,
    version: str,
    reason: str,
    actor: str | None = None,
    action: str = "set",
    expected_previous: Any = _UNCHECKED,
) -> AliasMove:
    """Point `alias` at `version` in one commit on main (a merge of a temporary branch) whose
    metadata records the move. Refused, with nothing changed, when the version is not published
    on main, the alias already points there, a promotion is in flight, or (with
    `expected_previous`) the alias moved meanwhile."""
    if not alias.replace("_", "").replace("-", "").isalnum():
        raise RegistryError(f"alias name {alias!r}: use letters, digits, '-' and '_'")
    if not reason.strip():
        raise RegistryError("give a reason: it is recorded in the commit log")
    actor = actor or default_actor()
    main = lakefs.default_branch
    with registry_lock(lakefs, ds, actor, purpose=f"{action} of alias {alias}"):
        head = lakefs.resolve(main)
        base = layout.model_dir(ds, version)
        if not lakefs.exists(head, base + "record.json"):
            tagged = _tag_commit(lakefs, version_tag(version))
            known = ", ".join(sorted(_versions_on(lakefs, head, ds))) or "none"
            why = (f" (tagged at {tagged[:12]} but never published to {main}: it did not pass "
                   "its evaluation)" if tagged else "")
            raise VersionNotFoundError(
                f"no published model version {version!r} of {ds}{why}; published: {known}"
            )
        pointer = _get_json(lakefs, head, layout.model_pointer(ds, alias)) or {}
        previous = pointer.get("version")
        if expected_previous is not _UNCHECKED and previous != expected_previous:
            raise RegistryError(f"alias {alias} moved to {previous} meanwhile (expected "
                                f"{expected_previous}); nothing changed")
        if previous == version:
            raise RegistryError(f"alias {alias} of {ds} already points at {version}")
        evaluation = headline(_get_json(lakefs, head, base + "evaluation.json"))
        meta = alias_metadata(ds, alias, version, previous, reason, actor, action, evaluation)
        meta.update({"code_version": CODE_VERSION, "dagster_run_id": "",
                     "dagster_asset_key": "", "mlops_assets_command": action})
        message = f"{ds}: {action} {alias} {previous or '(none)'} -> {version}: {reason}"
        with lakefs.temporary_branch(f"registry-{alias}-{uuid.uuid4().hex[:8]}", head) as tmp:
            lakefs.put_json(tmp, layout.model_pointer(ds, alias), {
                "version": version, "previous": previous, "decided_by_run": None,
                "reason": reason, "actor": actor, "action": action,
                "at": datetime.now(UTC).isoformat(timespec="seconds"),
            })
            lakefs.commit(tmp, message, metadata=meta)
            try:
                merged = lakefs.merge(tmp, main, message=message, metadata=meta)
            except LakeFSConflictError as error:
                raise RegistryError(f"{alias} changed on {main} concurrently; nothing changed "
                                    f"({error})") from None
    return AliasMove(alias, version, previous, merged.commit_id, head)


def rollback(
    lakefs: LakeFSResource,
    ds: str,
    to: str | None = None,
    reason: str = "rollback",
    actor: str | None = None,
) -> AliasMove:
    """Move `champion` back to the previous champion (or to `to`) in one atomic commit on main.
    The version's record (data commit, feature code version) and reference come with it. Rolling
    forward again is another rollback (the default target after a rollback is the version rolled
    back from) or :func:`set_alias`."""
    main = lakefs.resolve(lakefs.default_branch)
    pointer = _get_json(lakefs, main, layout.model_pointer(ds, "champion"))
    if pointer is None:
        raise RegistryError(f"{ds} has no champion yet: nothing to roll back")
    current = pointer["version"]
    if to is None:
        to = pointer.get("previous")
        if not to:
            earlier = [e.version for e in alias_history(lakefs, ds) if e.version != current]
            to = earlier[-1] if earlier else None
        if not to:
            raise RegistryError(f"champion {current} of {ds} has no previous champion; "
                                "name a version with --to")
    if to == current:
        raise RegistryError(f"{to} is already the champion of {ds}")
    return set_alias(lakefs, ds, "champion", to, reason=reason, actor=actor, action="rollback",
                     expected_previous=current)


# ------------------------------------------------------------------------------------ reproduction
@dataclass
class InputDifference:
    name: str
    recorded: Any
    now: Any


@dataclass
class Reproduction:
    version: str
    identical: bool
    recorded_sha256: str
    reproduced_sha256: str
    data_commit: str
    scratch_branch: str | None  # kept for inspection (None when deleted)
    scratch_commit: str
    training_rows: int
    differences: list[InputDifference]

    def text(self) -> str:
        verdict = ("bit-identical weights" if self.identical
                   else "weights DIFFER from the registered ones")
        lines = [
            f"reproduction of {self.version}: {verdict}",
            f"  recorded   sha256 {self.recorded_sha256}",
            f"  reproduced sha256 {self.reproduced_sha256}",
            f"  data commit {self.data_commit}, {self.training_rows} training rows",
            f"  written on scratch branch {self.scratch_branch or '(deleted)'} at commit "
            f"{self.scratch_commit[:12]} (main untouched)",
        ]
        if self.differences:
            lines.append("  recorded inputs that differ now:" if not self.identical
                         else "  differences that did not change the weights:")
            lines += [f"    {d.name}: recorded {d.recorded!r}, now {d.now!r}"
                      for d in self.differences]
        elif not self.identical:
            lines.append("  no recorded input differs: look at what the record does not hold "
                         "(hardware: CPU model / GPU, BLAS, thread settings)")
        return "\n".join(lines)


def reproduce(
    lakefs: LakeFSResource,
    ds: str,
    version: str,
    scratch_branch: str | None = None,
    spec: Any = None,
    overrides: dict[str, Any] | None = None,
    keep_branch: bool = True,
) -> Reproduction:
    """Retrain `version` from its record (features at the recorded data commit, the recorded
    batches, hyperparameters and seed; `overrides` replaces hyperparameters, e.g. {"seed": 1}),
    write it on a scratch branch made from the data commit (never main) and compare the weights'
    SHA-256 with the registered one; list every recorded input that differs now."""
    import polars as pl

    from mlops_assets.assets.training import read_features, rows_digest
    from mlops_assets.core.features import TARGET, feature_code_version, order_column
    from mlops_assets.core.model import TrainConfig, train_model
    from mlops_assets.core.spec import load_spec
    from mlops_assets.model_store import library_versions, save_version

    ref = version_ref(lakefs, ds, version)
    record = lakefs.get_json(ref, layout.model_dir(ds, version) + "record.json")
    spec = spec or load_spec(record.get("dataset") or ds)
    data_commit = record["data_commit"]
    try:
        lakefs.resolve(data_commit)
    except LakeFSNotFoundError:
        raise RegistryError(f"data commit {data_commit} of {version} is gone from "
                            f"{lakefs.repository}: cannot reproduce") from None
    recorded_hyper = dict(record["hyperparameters"])
    hyper_dict = {**recorded_hyper, **(overrides or {})}
    hyper = TrainConfig.from_dict(hyper_dict)
    frame = read_features(lakefs, data_commit, ds, record["train_batches"]).filter(
        pl.col(TARGET).is_not_null()
    )
    trained = train_model(
        frame,
        numeric=record["numeric_features"],
        categorical=record["categorical_features"],
        target=TARGET,
        task=record["task"],
        time_column=record.get("time_column") or order_column(spec),
        config=hyper,
    )
    now = {
        "training_rows": frame.height,
        "training_rows_sha256": rows_digest(frame),
        "feature_code_version": feature_code_version(spec),
        "library_versions": library_versions(),
        "hyperparameters": json.loads(json.dumps(asdict(hyper))),
    }
    differences = [
        InputDifference(f"hyperparameters.{k}", recorded_hyper.get(k), v)
        for k, v in now["hyperparameters"].items() if recorded_hyper.get(k) != v
    ]
    differences += [
        InputDifference(f"library_versions.{k}", record["library_versions"].get(k), v)
        for k, v in now["library_versions"].items() if record["library_versions"].get(k) != v
    ]
    differences += [
        InputDifference(k, record.get(k), now[k])
        for k in ("feature_code_version", "training_rows", "training_rows_sha256")
        if record.get(k) != now[k]
    ]
    branch = scratch_branch or f"reproduce-{version}-{uuid.uuid4().hex[:6]}"
    if branch == lakefs.default_branch:
        raise RegistryError("reproduction never writes to the published branch")
    lakefs.create_branch(branch, data_commit, exist_ok=True)
    try:
        saved = save_version(lakefs, branch, ds, version, trained, {
            **record, **now, "reproduction_of": ref, "seed": hyper.seed,
            "created_at": datetime.now(UTC).isoformat(),
        })
        commit = lakefs.commit(branch, f"{ds}: reproduce {version}", metadata={
            "model_version": version, "reproduction_of": ref, "code_version": CODE_VERSION,
            "mlops_assets_command": "reproduce",
        })
    finally:
        if not keep_branch:
            lakefs.delete_branch(branch)
    return Reproduction(
        version=version,
        identical=saved["weights_sha256"] == record["weights_sha256"],
        recorded_sha256=record["weights_sha256"],
        reproduced_sha256=saved["weights_sha256"],
        data_commit=data_commit,
        scratch_branch=branch if keep_branch else None,
        scratch_commit=commit,
        training_rows=frame.height,
        differences=differences,
    )


# ------------------------------------------------------------------------------------ lineage
@dataclass
class FileLineage:
    key: str  # the batch (partition key)
    path: str
    ref: str  # the commit it was read at
    written_by: str | None  # the commit that last wrote the file as of `ref`
    message: str = ""
    dagster_run_id: str = ""


@dataclass
class Lineage:
    prediction: str
    row: int
    row_values: dict[str, Any]
    model_version: str
    model_uri: str
    weights_sha256: str
    data_commit: str
    data_commit_message: str
    feature_code_version: str
    scored_features: FileLineage | None  # the row's own input
    scored_raw: FileLineage | None
    train_features: list[FileLineage]
    train_raw: list[FileLineage]

    def text(self) -> str:
        values = ", ".join(f"{k}={v}" for k, v in self.row_values.items())
        lines = [
            f"prediction {self.prediction} row {self.row}: {values}",
            f"  -> model version {self.model_version} ({self.model_uri}, weights sha256 "
            f"{self.weights_sha256[:16]}...)",
            f"  -> trained on data commit {self.data_commit} ({self.data_commit_message!r}), "
            f"feature code version {self.feature_code_version}",
        ]
        for label, item in (("scored features", self.scored_features),
                            ("scored raw batch", self.scored_raw)):
            if item is not None:
                lines.append(f"  row input {label}: {_file_line(item)}")
        lines.append(f"  -> {len(self.train_raw)} training batches "
                     f"({self.train_raw[0].key}..{self.train_raw[-1].key}):"
                     if self.train_raw else "  -> no training batches recorded")
        for feats, raw in zip(self.train_features, self.train_raw, strict=True):
            lines.append(f"    {raw.key}: raw {_file_line(raw)}")
            lines.append(f"    {' ' * len(raw.key)}  features {_file_line(feats)}")
        return "\n".join(lines)


def _file_line(item: FileLineage) -> str:
    run = f", dagster run {item.dagster_run_id}" if item.dagster_run_id else ""
    writer = item.written_by[:12] if item.written_by else "?"
    return f"lakefs://.../{item.ref[:12]}/{item.path} written by commit {writer}{run}"


def _last_write(lakefs: LakeFSResource, ref: str, path: str, key: str) -> FileLineage:
    """The commit that last wrote `path` as of `ref` (the run-branch commit rather than the merge
    that published it, when lakeFS lists both)."""
    commits = lakefs.log(ref, max_amount=4, path=path)
    chosen = next((c for c in commits if len(c.parents) <= 1), commits[0] if commits else None)
    if chosen is None:
        return FileLineage(key, path, ref, None)
    return FileLineage(key, path, ref, chosen.id, chosen.message,
                       chosen.metadata.get("dagster_run_id", ""))


def _read_prediction(lakefs: LakeFSResource, prediction: str) -> tuple[Any, str, str]:
    """(frame, ref, path) of a prediction file: local parquet, lakefs:// URI or repository path
    (read on main)."""
    import io
    from pathlib import Path

    import polars as pl

    if prediction.startswith("lakefs://"):
        _repo, ref, path = prediction[len("lakefs://"):].split("/", 2)
        return lakefs.get_frame(ref, path), ref, path
    local = Path(prediction)
    if local.is_file():
        return pl.read_parquet(io.BytesIO(local.read_bytes())), "", str(local)
    ref = lakefs.resolve(lakefs.default_branch)
    try:
        return lakefs.get_frame(ref, prediction), ref, prediction
    except LakeFSNotFoundError:
        raise RegistryError(f"no prediction file {prediction!r} (not a local file, nor a path "
                            f"on {lakefs.default_branch})") from None


def lineage(lakefs: LakeFSResource, ds: str, prediction: str, row: int) -> Lineage:
    """Prediction row -> model version -> record -> data commit -> training batches -> the raw
    batch files in lakeFS and the commits that wrote them."""
    frame, _ref, path = _read_prediction(lakefs, prediction)
    if not -frame.height <= row < frame.height:
        raise RegistryError(f"{prediction} has {frame.height} rows; no row {row}")
    values = frame.row(row, named=True)
    version = values.get("model_version")
    if not version:
        raise RegistryError(f"{prediction} has no model_version column: not a prediction file")
    model_ref = version_ref(lakefs, ds, version)
    record = lakefs.get_json(model_ref, layout.model_dir(ds, version) + "record.json")
    data_commit = record["data_commit"]
    scored_features = scored_raw = None
    keys = layout.keys_in([path])
    if keys and values.get("data_commit"):
        scored_features = _last_write(lakefs, values["data_commit"],
                                      layout.features(ds, keys[0]), keys[0])
        scored_raw = _last_write(lakefs, values["data_commit"],
                                 layout.raw_batch(ds, keys[0]), keys[0])
    batches = record["train_batches"]
    return Lineage(
        prediction=prediction,
        row=row,
        row_values={k: v for k, v in values.items()},
        model_version=version,
        model_uri=lakefs.uri(model_ref, layout.model_dir(ds, version)),
        weights_sha256=record["weights_sha256"],
        data_commit=data_commit,
        data_commit_message=lakefs.get_commit(data_commit).message,
        feature_code_version=record.get("feature_code_version", ""),
        scored_features=scored_features,
        scored_raw=scored_raw,
        train_features=[_last_write(lakefs, data_commit, layout.features(ds, k), k)
                        for k in batches],
        train_raw=[_last_write(lakefs, data_commit, layout.raw_batch(ds, k), k)
                   for k in batches],
    )


def to_jsonable(value: Any) -> Any:
    if isinstance(value, list):
        return [to_jsonable(v) for v in value]
    if hasattr(value, "__dataclass_fields__"):
        return asdict(value)
    return value


def dumps(value: Any) -> str:
    return json.dumps(to_jsonable(value), indent=2, default=str, sort_keys=True)
