"""What must hold on main after any fault, defined from what the platform itself writes.

- Metadata: every first-parent commit on main (the commits made ON main) is either a Dagster
  publish, `wap.publish_run_branch`'s merge, carrying `dagster_run_id`, `dagster_job`,
  `dagster_asset_key`, `code_version`, `run_branch` and `run_branch_head`; or a registry alias
  move (`registry.set_alias`: rollback / alias) carrying `mlops_assets_command` and the alias
  keys. The repository's initial commit is the only exception.
- Audited batches: a raw batch reaches main only through `validated_batch`, which Dagster runs
  only after every blocking audit check of the batch passed. So every raw batch on main must be
  named (`dagster_partition`, `dagster_partitions`, or first/last of a range) by a
  `validated_batch` merge on main, and its bytes on main must be exactly those of that merge's
  audited run branch head (`run_branch_head`, the commit the audit read) for the latest such
  merge: nothing changed the batch after its audit.
- Registry: the champion alias (`models/<ds>/aliases/champion.json` on main) names a version
  whose `model-<version>` tag exists and points at a commit holding that version's record.
- Lock: the registry lock of the dataset is free, or stale (taken over by the next holder
  without `models unlock`).
"""

from mlops_assets.platform import layout
from mlops_assets.platform.lakefs_client import LakeFSClient
from mlops_assets.registry.lock import lock_holder

PUBLISH_KEYS = ("dagster_run_id", "dagster_job", "dagster_asset_key", "code_version",
                "run_branch", "run_branch_head")
ALIAS_MOVE_KEYS = ("mlops_assets_command", "alias", "alias_version", "alias_dataset", "actor")


def _keys_named(meta: dict[str, str]) -> set[str]:
    if meta.get("dagster_partitions"):
        return set(meta["dagster_partitions"].split(","))
    if meta.get("dagster_partition"):
        return {meta["dagster_partition"]}
    return set()


def _in_range(meta: dict[str, str], key: str) -> bool:
    first, last = meta.get("dagster_partition_first"), meta.get("dagster_partition_last")
    return bool(first and last and first <= key <= last)


def assert_main_is_sound(lakefs: LakeFSClient, ds: str, tags: bool = True) -> None:
    """`tags=False` right after a kill: a champion step killed between its merge and its tag
    leaves the tag to the next lock holder (registry.lock.tag_interrupted_publishes)."""
    commits = lakefs.log("main", max_amount=1000, first_parent=True)
    audited_head: dict[str, str] = {}  # batch key -> run_branch_head of its latest publish
    publishes = []
    for commit in commits[:-1]:  # the last one is the repository's initial commit
        meta = commit.metadata
        if meta.get("mlops_assets_command"):
            missing = [k for k in ALIAS_MOVE_KEYS if not meta.get(k)]
        else:
            missing = [k for k in PUBLISH_KEYS if not meta.get(k)]
        assert not missing, (f"commit {commit.id[:12]} on main lacks {missing}: "
                             f"{commit.message} {meta}")
        if meta.get("dagster_asset_key") == "validated_batch":
            publishes.append(meta)  # newest first
    on_main = layout.keys_in(lakefs.list_objects("main", layout.raw_prefix(ds)))
    for key in on_main:
        latest = next((m for m in publishes if key in _keys_named(m) or _in_range(m, key)),
                      None)
        assert latest is not None, f"batch {key} is on main without an audited publish"
        audited_head[key] = latest["run_branch_head"]
    for key, head in audited_head.items():
        path = layout.raw_batch(ds, key)
        assert lakefs.content_version("main", [path]) == lakefs.content_version(head, [path]), \
            f"batch {key} on main differs from what its audit read ({head[:12]})"
    if tags:
        assert_champion_agrees_with_tag(lakefs, ds)


def assert_champion_agrees_with_tag(lakefs: LakeFSClient, ds: str) -> None:
    pointer = layout.model_pointer(ds, "champion")
    if not lakefs.exists("main", pointer):
        return
    version = lakefs.get_json("main", pointer)["version"]
    tags = lakefs.list_tags()
    tag = f"model-{version}"
    assert tag in tags, f"champion {version} has no {tag} tag (tags: {sorted(tags)})"
    assert lakefs.exists(tags[tag], layout.model_dir(ds, version) + "record.json"), \
        f"{tag} points at {tags[tag][:12]}, which does not hold {version}"


def champion_tag_torn(lakefs: LakeFSClient, ds: str) -> bool:
    try:
        assert_champion_agrees_with_tag(lakefs, ds)
    except AssertionError:
        return True
    return False


def assert_lock_heals(lakefs: LakeFSClient, ds: str) -> None:
    """The lock is free or stale: the next holder takes it without a person."""
    holder = lock_holder(lakefs, ds)
    assert holder is None or holder["stale"], f"registry lock still held: {holder}"


def assert_no_registry_leftovers(lakefs: LakeFSClient) -> None:
    left = [b for b in lakefs.list_branches()
            if b.startswith(("registry-lock-", "registry-lease-", "registry-takeover-",
                             "registry-tmp-"))]
    assert not left, f"registry branches left behind: {left}"
