"""The Dagster view of `mlops-assets serve`: an observable source asset reading the status the
service writes to lakeFS (`serving/<ds>/status.json` on branch `serving-<ds>`): the served
champion, the challenger and its traffic split, traffic counts and the last canary verdict.
Observe it from the asset page (or any schedule); its data version changes when what is served
changes."""

import json

import dagster as dg

from mlops_assets.core.spec import DatasetSpec
from mlops_assets.defs.resources import LakeFS
from mlops_assets.serving.status import read_status, status_branch, status_path


def build_serving_status_asset(spec: DatasetSpec) -> dg.SourceAsset:
    ds = spec.name

    @dg.observable_source_asset(
        key=dg.AssetKey([ds, "serving_status"]),
        group_name=ds,
        description=f"What `mlops-assets serve --dataset {ds}` serves (lakefs://<repo>/"
        f"{status_branch(ds)}/{status_path(ds)}).",
    )
    def serving_status(lakefs: LakeFS) -> dg.ObserveResult:
        status = read_status(lakefs, ds)
        if status is None:
            return dg.ObserveResult(data_version=dg.DataVersion("not-serving"),
                                    metadata={"serving": "no status written yet"})
        champion = (status.get("champion") or {}).get("version")
        challenger = (status.get("challenger") or {}).get("version")
        split = f"{status.get('mode')}:{status.get('canary_share')}"
        return dg.ObserveResult(
            data_version=dg.DataVersion(f"{champion}|{challenger}|{split}"),
            metadata={
                "champion": str(champion), "challenger": str(challenger),
                "mode": str(status.get("mode")),
                "canary_share": float(status.get("canary_share") or 0.0),
                "traffic": dg.MetadataValue.json(status.get("traffic") or {}),
                "last_verdict": dg.MetadataValue.json(status.get("last_verdict") or {}),
                "updated_at": str(status.get("updated_at")),
                "status": dg.MetadataValue.md(f"```json\n{json.dumps(status, indent=1)}\n```"),
            },
        )

    return serving_status
