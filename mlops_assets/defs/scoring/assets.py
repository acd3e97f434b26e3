"""Batch scoring with the champion model; every row names its model version and data commit."""

import dagster as dg
import polars as pl

from mlops_assets.core.check_names import PREDICTIONS_COMPLETE
from mlops_assets.core.spec import DatasetSpec
from mlops_assets.defs.code_versions import code_version
from mlops_assets.defs.resources import LakeFS
from mlops_assets.defs.wap import (
    add_partition_metadata,
    commit_run_branch,
    ensure_run_branch,
    frame_metadata,
    publish_run_branch,
)
from mlops_assets.platform import layout
from mlops_assets.platform.frames import frames_digest
from mlops_assets.platform.model_store import load_version, read_pointer


def score_batch(
    trained: object, feats: pl.DataFrame, id_columns: list[str], version: str, data_commit: str,
    task: str,
) -> pl.DataFrame:
    """One batch's predictions: its ids, the score, and which model and data produced it."""
    from mlops_assets.core.model import predict

    frame = feats.select(id_columns).with_columns(
        pl.Series("score", predict(trained, feats), dtype=pl.Float64),
        pl.lit(version).alias("model_version"),
        pl.lit(data_commit).alias("data_commit"),
    )
    if task == "binary":
        frame = frame.with_columns((pl.col("score") >= 0.5).cast(pl.Int8).alias("label"))
    return frame


def build_predictions_asset(
    spec: DatasetSpec,
    partitions_def: dg.PartitionsDefinition,
    features: dg.AssetsDefinition,
    champion: dg.AssetsDefinition,
) -> dg.AssetsDefinition:
    ds = spec.name
    id_columns = list(
        dict.fromkeys([*spec.keys, *([spec.time_column] if spec.time_column else [])])
    )

    @dg.asset(
        name="predictions",
        key_prefix=[ds],
        group_name=ds,
        partitions_def=partitions_def,
        backfill_policy=dg.BackfillPolicy.single_run(),
        deps=[features, champion],
        code_version=code_version(__name__, "mlops_assets.core.model", "mlops_assets.defs.wap"),
        kinds={"pytorch", "lakefs"},
        check_specs=[
            dg.AssetCheckSpec(
                PREDICTIONS_COMPLETE,
                asset=dg.AssetKey([ds, "predictions"]),
                blocking=True,
                description="one finite score per feature row",
            )
        ],
        description="Scores of each batch by the `champion` model, with model version and data "
        "commit on every row.",
    )
    def predictions(
        context: dg.AssetExecutionContext, lakefs: LakeFS
    ) -> dg.MaterializeResult:

        branch = ensure_run_branch(lakefs, context.run)
        pointer = read_pointer(lakefs, branch, ds, "champion")
        if pointer is None:
            raise dg.Failure(
                f"no champion model of {ds} yet: run train_job (or main_job) first"
            )
        version = pointer["version"]
        trained, _record = load_version(lakefs, branch, ds, version)
        data_commit = lakefs.resolve(branch)
        keys = context.partition_keys
        feature_frames = lakefs.get_frames(data_commit, [layout.features(ds, k) for k in keys])
        outputs = {
            layout.predictions(ds, key): score_batch(trained, feats, id_columns, version,
                                                     data_commit, spec.target.task)
            for key, feats in zip(keys, feature_frames, strict=True)
        }
        lakefs.put_frames(branch, outputs)
        expected = sum(f.height for f in feature_frames)
        written = sum(f.height for f in outputs.values())
        scores = pl.concat([f.select("score") for f in outputs.values()]).get_column("score")
        bad_scores = scores.is_nan().sum() + scores.is_infinite().sum()
        if spec.target.task == "binary":
            bad_scores += ((scores < 0) | (scores > 1)).sum()
        frame = outputs[layout.predictions(ds, keys[-1])]
        commit_id = commit_run_branch(
            context,
            lakefs,
            branch,
            f"{ds}: predictions {keys[0]}..{keys[-1]} by {version}",
            model_version=version,
        )
        passed = written == expected and bad_scores == 0
        published = (
            publish_run_branch(context, lakefs, f"{ds}: publish predictions",
                               expected_paths=list(outputs), model_version=version)
            if passed
            else None
        )
        at = published.commit_id if published else commit_id
        verdict = (f"published at `{at[:12]}`" if published
                   else "**not published** (audit failed)")
        add_partition_metadata(context, {
            key: {
                **frame_metadata(lakefs, branch, at, layout.predictions(ds, key), frame,
                                 f"Batch {key}: scored {frame.height} rows with `{version}`; "
                                 f"{verdict}"),
                "model_version": version,
                "published": bool(published),
            }
            for key in keys
            if (frame := outputs[layout.predictions(ds, key)]) is not None
        })
        meta = {"lakefs_branch": branch, "model_version": version,
                "run_rows": written, "published": bool(published)}
        return dg.MaterializeResult(
            data_version=dg.DataVersion(frames_digest(list(outputs.values()))),
            metadata=meta,
            check_results=[
                dg.AssetCheckResult(
                    check_name=PREDICTIONS_COMPLETE,
                    passed=passed,
                    metadata={
                        "feature_rows": expected,
                        "prediction_rows": written,
                        "invalid_scores": bad_scores,
                    },
                )
            ],
        )

    return predictions
