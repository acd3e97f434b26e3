"""Product bugs the fault trials found, each pinned by a deterministic test."""

import pytest

from mlops_assets.platform import layout
from mlops_assets.registry import rollback
from mlops_assets.registry.lock import registry_lock
from mlops_assets_tests.faults.harness import DS, seed_features, train_in_process
from mlops_assets_tests.faults.invariants import assert_champion_agrees_with_tag

pytestmark = [pytest.mark.lakefs, pytest.mark.faults]


def test_version_tags_a_killed_champion_step_never_wrote_are_written_by_the_next_holder(
    lakefs, tmp_path
):
    """kill -9 of train_job right after its champion merge landed on main, before
    `tag_version`: the champion had no `model-<version>` tag and nothing ever wrote it (found by
    test_kill_train's `at-merge` trials)."""
    seed_features(lakefs, tmp_path, "2024-01-01", "2024-01-06")
    train_in_process(lakefs, tmp_path)
    version = lakefs.get_json("main", layout.model_pointer(DS, "champion"))["version"]
    published_at = lakefs.list_tags()[f"model-{version}"]
    for tag in (f"model-{version}", f"champion-{version}"):
        lakefs.delete_tag(tag)  # the state the kill left
    with pytest.raises(AssertionError, match="has no model-"):
        assert_champion_agrees_with_tag(lakefs, DS)
    with registry_lock(lakefs, DS, "the next promotion or rollback", "promotion"):
        pass
    tags = lakefs.list_tags()
    assert tags[f"model-{version}"] == tags[f"champion-{version}"] == published_at
    assert_champion_agrees_with_tag(lakefs, DS)
    with pytest.raises(Exception, match="no previous champion"):
        rollback(lakefs, DS)  # and the registry still refuses what it should
