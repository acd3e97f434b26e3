"""The smallest write-audit-publish graph: a frame written on a run branch, audited, merged."""

import dagster as dg
import polars as pl

from mlops_assets.defs.code_versions import code_version
from mlops_assets.defs.resources import LakeFS
from mlops_assets.defs.wap import (
    commit_run_branch,
    ensure_run_branch,
    frame_metadata,
    publish_run_branch,
    run_branch_name,
)

HELLO_PATH = "hello/greetings.parquet"


def greetings_frame(run_id: str) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "language": ["en", "fr", "de", "es"],
            "greeting": ["hello", "bonjour", "hallo", "hola"],
            "run_id": [run_id] * 4,
        }
    )


CODE_VERSION = code_version(__name__, "mlops_assets.defs.wap")

@dg.asset(group_name="hello", code_version=CODE_VERSION, kinds={"polars", "lakefs"})
def hello_greetings(
    context: dg.AssetExecutionContext, lakefs: LakeFS
) -> dg.MaterializeResult:
    """A few greetings written as parquet on this run's lakeFS branch (not on main)."""
    branch = ensure_run_branch(lakefs, context.run)
    frame = greetings_frame(context.run.run_id)
    lakefs.put_frame(branch, HELLO_PATH, frame)
    commit_id = commit_run_branch(context, lakefs, branch, "hello: write greetings")
    return dg.MaterializeResult(
        data_version=dg.DataVersion(commit_id),
        metadata=frame_metadata(
            lakefs,
            branch,
            commit_id,
            HELLO_PATH,
            frame,
            f"Wrote {frame.height} greetings on branch `{branch}` (commit `{commit_id[:12]}`).",
        ),
    )


@dg.asset_check(asset=hello_greetings, blocking=True)
def greetings_are_complete(
    context: dg.AssetCheckExecutionContext, lakefs: LakeFS
) -> dg.AssetCheckResult:
    """Audit: the run branch holds greetings, none empty."""
    frame = lakefs.get_frame(run_branch_name(context.run), HELLO_PATH)
    empty = frame.filter(pl.col("greeting").is_null() | (pl.col("greeting") == "")).height
    return dg.AssetCheckResult(
        passed=frame.height > 0 and empty == 0,
        metadata={"rows": frame.height, "empty_greetings": empty},
    )


@dg.asset(group_name="hello", deps=[hello_greetings], code_version=CODE_VERSION, kinds={"lakefs"})
def hello_published(
    context: dg.AssetExecutionContext, lakefs: LakeFS
) -> dg.MaterializeResult:
    """Publish: merge the audited run branch into main."""
    result = publish_run_branch(context, lakefs, "hello: publish greetings", delete_branch=True)
    return dg.MaterializeResult(
        data_version=dg.DataVersion(result.commit_id),
        metadata={
            "lakefs_commit": result.commit_id,
            "lakefs_uri": lakefs.uri(result.commit_id, HELLO_PATH),
            "merged": result.merged,
            "summary": dg.MetadataValue.md(
                f"Published to `{lakefs.default_branch}` at commit `{result.commit_id}`."
            ),
        },
    )
