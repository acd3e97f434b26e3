"""What must hold on main after any fault: every commit carries its metadata, every batch on
main was published by an audited validated_batch merge, the champion alias agrees with its tag,
and no registry lock or leftover is in the way."""

from mlops_assets.platform import layout
from mlops_assets.platform.lakefs_client import LakeFSClient


def assert_main_is_sound(lakefs: LakeFSClient, ds: str) -> None:
    commits = lakefs.log("main", max_amount=500, first_parent=True)
    published: set[str] = set()
    for commit in commits[:-1]:  # the last one is the repository's initial commit
        meta = commit.metadata
        assert meta.get("dagster_run_id") is not None or meta.get("mlops_assets_command"), \
            f"commit {commit.id[:12]} on main carries no run metadata: {commit.message}"
        if meta.get("dagster_asset_key") == "validated_batch":
            keys = (meta.get("dagster_partitions") or meta.get("dagster_partition") or "")
            published |= set(keys.split(",")) if keys else set()
            if "dagster_partition_first" in meta and not meta.get("dagster_partitions"):
                published |= {meta["dagster_partition_first"], meta["dagster_partition_last"]}
    on_main = set(layout.keys_in(lakefs.list_objects("main", layout.raw_prefix(ds))))
    assert on_main <= published, f"batches on main without an audited publish: " \
                                 f"{sorted(on_main - published)}"
    champion = lakefs.get_json("main", layout.model_pointer(ds, "champion")) \
        if lakefs.exists("main", layout.model_pointer(ds, "champion")) else None
    if champion:
        tags = lakefs.list_tags()
        assert f"model-{champion['version']}" in tags


def assert_no_registry_leftovers(lakefs: LakeFSClient) -> None:
    left = [b for b in lakefs.list_branches()
            if b.startswith(("registry-lock-", "registry-lease-", "registry-takeover-"))]
    assert not left, f"registry branches left behind: {left}"
