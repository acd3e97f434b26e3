"""The audit of landed batches: one blocking check per validation rule.

The rules themselves are pure (mlops_assets.core.validation); this module reads what the run
wrote on its branch, runs them over every batch of the run, and reports per rule which batch,
column and rows failed, with examples, so the UI and the run failure say exactly what is wrong.
"""

import json
from collections.abc import Iterator

import dagster as dg

from mlops_assets.core.check_names import BATCH_RULE_PREFIX
from mlops_assets.core.spec import DatasetSpec
from mlops_assets.core.validation import RULES, RuleResult, validate_batch
from mlops_assets.defs.partitions import run_partition_keys
from mlops_assets.defs.resources import LakeFS
from mlops_assets.defs.wap import run_branch_name
from mlops_assets.platform import layout


def build_batch_checks(
    spec: DatasetSpec, partitions_def: dg.PartitionsDefinition, raw_batch: dg.AssetsDefinition
) -> dg.AssetChecksDefinition:
    ds = spec.name
    specs = [
        dg.AssetCheckSpec(
            name=f"{BATCH_RULE_PREFIX}{rule}",
            asset=raw_batch.key,
            blocking=True,
            description=f"validation rule `{rule}` over every batch of the run",
        )
        for rule in RULES
    ]

    @dg.multi_asset_check(specs=specs, name="audit_raw_batch")
    def audit_raw_batch(
        context: dg.AssetCheckExecutionContext, lakefs: LakeFS
    ) -> Iterator[dg.AssetCheckResult]:
        branch = run_branch_name(context.run.run_id)
        by_rule: dict[str, list[tuple[str, RuleResult]]] = {rule: [] for rule in RULES}
        keys = run_partition_keys(context.run, partitions_def)
        frames = lakefs.get_frames(branch, [layout.raw_batch(ds, key) for key in keys])
        for key, frame in zip(keys, frames, strict=True):
            for result in validate_batch(frame, spec, key).rules:
                by_rule[result.rule].append((key, result))
        for rule in RULES:
            failures = [(key, r) for key, r in by_rule[rule] if not r.passed]
            message = (
                f"{rule}: all {len(keys)} batch(es) pass"
                if not failures
                else "; ".join(r.message for _, r in failures[:5])  # messages name the batch
                + (f" (and {len(failures) - 5} more)" if len(failures) > 5 else "")
            )
            yield dg.AssetCheckResult(
                check_name=f"{BATCH_RULE_PREFIX}{rule}",
                asset_key=raw_batch.key,
                passed=not failures,
                severity=dg.AssetCheckSeverity.ERROR,
                description=message,
                metadata={
                    "batches_checked": len(keys),
                    "batches_failed": len({key for key, _ in failures}),
                    "failing_rows": sum(r.failing_rows for _, r in failures),
                    "message": message,
                    "failures": dg.MetadataValue.json(
                        _jsonable(
                            [
                                {
                                    "batch": key,
                                    "column": r.column,
                                    "rows": r.failing_rows,
                                    "message": r.message,
                                    "examples": r.examples[:3],
                                }
                                for key, r in failures[:20]
                            ]
                        )
                    ),
                    "lakefs_branch": branch,
                },
            )

    return audit_raw_batch


def _jsonable(value: object) -> object:
    return json.loads(json.dumps(value, default=str))  # example values may be datetimes
