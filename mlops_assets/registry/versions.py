"""Model versions: `<ds>-<time>-<run>` in `models/<ds>/<version>/`, tagged `model-<version>` on
the commit that holds its files; listing and showing them."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mlops_assets.platform import layout
from mlops_assets.platform.lakefs_types import LakeFSNotFoundError

if TYPE_CHECKING:  # the read commands pass the stdlib reader (registry.rest) instead
    from mlops_assets.platform.lakefs_client import LakeFSClient

VERSION_TAG_PREFIX = "model-"
CODE_VERSION = "1"  # of the registry's own commits (the `code_version` metadata key)

_VERSION_FILES = ("record.json", "evaluation.json", "decision.json", "reference.json",
                  "model_card.md")


class RegistryError(RuntimeError):
    """A registry operation was refused; nothing was changed."""


class VersionNotFoundError(RegistryError):
    pass


class PromotionInFlightError(RegistryError):
    pass


def version_tag(version: str) -> str:
    return f"{VERSION_TAG_PREFIX}{version}"


def tag_version(lakefs: LakeFSClient, ds: str, version: str, commit: str) -> str:
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


def _tag_commit(lakefs: LakeFSClient, tag: str) -> str | None:
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
    # Where the headline was measured: "<first>..<last> (<rows> rows)" of the evaluation batches.
    measured_on: str = ""


def _versions_on(lakefs: LakeFSClient, ref: str, ds: str) -> set[str]:
    prefix = f"models/{ds}/"
    found = set()
    for path in lakefs.list_objects(ref, prefix):
        head = path[len(prefix):].split("/", 1)[0]
        if head != "aliases" and path.endswith("/record.json"):
            found.add(head)
    return found


def _tagged_versions(lakefs: LakeFSClient, ds: str) -> dict[str, str]:
    """version -> commit of its `model-<version>` tag, for versions of `ds`."""
    out = {}
    for tag, commit in lakefs.list_tags().items():
        if tag.startswith(VERSION_TAG_PREFIX):
            version = tag[len(VERSION_TAG_PREFIX):]
            if version.startswith(f"{ds}-"):
                out[version] = commit
    return out


def read_aliases(lakefs: LakeFSClient, ds: str, ref: str | None = None) -> dict[str, dict]:
    """alias -> its pointer document, as on `ref` (default: main)."""
    ref = ref or lakefs.default_branch
    prefix = f"models/{ds}/aliases/"
    out = {}
    for path in lakefs.list_objects(ref, prefix):
        if path.endswith(".json"):
            out[path[len(prefix):-len(".json")]] = lakefs.get_json(ref, path)
    return out


def _get_json(lakefs: LakeFSClient, ref: str, path: str) -> Any:
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


def measured_on(evaluation: dict | None) -> str:
    """`2013-11-17..2013-11-30 (12423 rows)`: the window an evaluation's metrics come from."""
    batches = (evaluation or {}).get("batches") or []
    if not batches:
        return ""
    return f"{batches[0]}..{batches[-1]} ({evaluation.get('rows', '?')} rows)"


def list_versions(lakefs: LakeFSClient, ds: str) -> list[VersionInfo]:
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
            measured_on=measured_on(evaluation),
        ))
    return out


def version_ref(lakefs: LakeFSClient, ds: str, version: str) -> str:
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


def show_version(lakefs: LakeFSClient, ds: str, version: str) -> dict[str, Any]:
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


