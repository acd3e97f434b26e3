"""What the training stage shows in Dagster (issue #14 items 2, 3, 6, 7): plottable numbers, whole
links, PNG figures in lakeFS (not base64 in the event log), the threshold chosen on validation
stored in the record, and the champion-vs-challenger table."""

import dagster as dg
import pytest

from mlops_assets.core.check_names import QUALITY_BAR
from mlops_assets.platform import layout
from mlops_assets.testing import pipeline_definitions, run_job

pytestmark = pytest.mark.lakefs

DS = "synthetic"


def _materialization(result: dg.ExecuteInProcessResult, name: str) -> dict:
    (mat,) = [m for m in result.get_asset_materialization_events()
              if m.asset_key.path[-1] == name]
    return mat.materialization.metadata


def test_training_metadata_is_plottable_and_linked(lakefs, tmp_path):
    defs = pipeline_definitions(lakefs, tmp_path / "landing")
    result = run_job(defs, "main_job", "2024-01-01", "2024-01-08")
    assert result.success
    model = _materialization(result, "model")
    version = model["model_version"].value
    record = lakefs.get_json("main", layout.model_dir(DS, version) + "record.json")
    choice = record["decision_threshold"]
    assert choice["objective"] == "f1" and choice["chosen_on"] == "validation"
    assert isinstance(model["threshold"], dg.FloatMetadataValue)
    assert model["threshold"].value == choice["threshold"]
    assert isinstance(model["best_epoch"], dg.IntMetadataValue)

    evaluation = _materialization(result, "evaluation")
    for key in ("auc", "log_loss", "f1", "brier", "logistic_auc", "base_rate_auc",
                "delta_vs_logistic", "threshold"):
        assert isinstance(evaluation[key], dg.FloatMetadataValue), key
    assert isinstance(evaluation["dagster/row_count"], dg.IntMetadataValue)
    assert evaluation["threshold"].value == choice["threshold"]  # F1 at the stored threshold
    commit = evaluation["lakefs_commit"].value
    assert len(commit) == 64  # whole, not abbreviated
    assert isinstance(evaluation["lakefs_uri"], dg.PathMetadataValue)
    assert evaluation["lakefs_uri"].value == lakefs.uri(
        commit, layout.model_dir(DS, version) + "evaluation.json")
    for figure in ("roc", "reliability", "loss_curve"):
        link = evaluation[figure]
        assert isinstance(link, dg.UrlMetadataValue) and commit in link.value
        png = lakefs.get_bytes(commit, layout.model_dir(DS, version) + f"{figure}.png")
        assert png.startswith(b"\x89PNG")
    assert not any("base64" in str(v.value) for v in evaluation.values()
                   if isinstance(v, dg.MarkdownMetadataValue))

    (check,) = [c for c in result.get_asset_check_evaluations()
                if c.check_name == QUALITY_BAR]
    assert check.passed
    assert isinstance(check.metadata["auc"], dg.FloatMetadataValue)
    assert isinstance(check.metadata["p_value_vs_base_rate"], dg.FloatMetadataValue)

    card_spec = defs.resolve_assets_def(dg.AssetKey([*_prefix(result, "model_card"),
                                                     "model_card"]))
    description = next(iter(card_spec.specs)).description
    assert f"`models/{DS}/<version>/model_card.md`" in description


def _prefix(result: dg.ExecuteInProcessResult, name: str) -> list[str]:
    (key,) = [m.asset_key for m in result.get_asset_materialization_events()
              if m.asset_key.path[-1] == name]
    return list(key.path[:-1])


def test_champion_table_compares_both_versions():
    import numpy as np

    from mlops_assets.core.compare import compare_scores
    from mlops_assets.defs.training.promotion import comparison_table

    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 500)
    a, b = rng.random(500), np.clip(y * 0.3 + rng.random(500) * 0.7, 0, 1)
    table = comparison_table(compare_scores(y, a, b, task="binary", n_bootstrap=50), "v1", "v2")
    assert isinstance(table, dg.TableMetadataValue)
    rows = {r.data["metric"]: r.data for r in table.records}
    assert rows["auc"]["challenger"] > rows["auc"]["champion"]
    assert [c.name for c in table.schema.columns][:2] == ["metric", "champion"]


def test_the_spec_chooses_the_baselines_and_run_config_wins():
    from mlops_assets.core.spec import QualityBarSpec, load_spec
    from mlops_assets.defs.training.config import EvaluationConfig, quality_policy

    synthetic = load_spec("synthetic")
    default = synthetic.model_copy(update={"quality_bar": QualityBarSpec()})
    strict = quality_policy(default, EvaluationConfig())
    assert (strict.must_beat, strict.must_not_lose_to) == (("base_rate", "logistic"), ())
    relaxed = quality_policy(synthetic, EvaluationConfig())
    assert (relaxed.must_beat, relaxed.must_not_lose_to) == (("base_rate",), ("logistic",))
    one_run = quality_policy(default, EvaluationConfig(must_beat=["base_rate"],
                                                       must_not_lose_to=[]))
    assert (one_run.must_beat, one_run.must_not_lose_to) == (("base_rate",), ())
