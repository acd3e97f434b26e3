"""The audit of landed batches: one blocking check per validation rule.

The rules themselves are pure (mlops_assets.core.validation); this module reads what the run
wrote on its branch, runs them over every batch of the run, and reports per rule which batch,
column and rows failed, with examples, so the UI and the run failure say exactly what is wrong.

A failed audit is made visible where a user looks: each failing batch gets a failed check
evaluation on its own partition and an observation "not published" on raw_batch, and the step
fails with the audit's reason as the run's first error (not a generic "blocking check failed").
A gate that finds no batch fails: passing on nothing would publish an unaudited branch.
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
from mlops_assets.platform.lakefs_client import LakeFSNotFoundError

AuditEvent = dg.AssetCheckResult | dg.AssetCheckEvaluation | dg.AssetObservation


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

    @dg.multi_asset_check(specs=specs, name=f"{ds}__audit_raw_batch")
    def audit_raw_batch(
        context: dg.AssetCheckExecutionContext, lakefs: LakeFS
    ) -> Iterator[AuditEvent]:
        branch = run_branch_name(context.run)
        keys = run_partition_keys(context.run, partitions_def, context.instance, ds)
        problem = ""
        frames = []
        if not keys:
            problem = (f"no batch to audit: run {context.run.run_id} names no partition of {ds} "
                       "(tags dagster/partition or the range tags)")
        else:
            try:
                frames = lakefs.get_frames(branch, [layout.raw_batch(ds, k) for k in keys])
            except LakeFSNotFoundError as error:
                problem = f"a batch of {keys[0]}..{keys[-1]} is not on run branch {branch!r}: " \
                          f"{error}"
        if problem:  # fail closed: every rule fails, nothing is published
            for rule in RULES:
                yield _result(raw_batch.key, rule, False, problem, len(keys), [], branch)
            raise dg.Failure(description=f"audit of {ds} failed: {problem}", allow_retries=False)

        by_rule: dict[str, list[tuple[str, RuleResult]]] = {rule: [] for rule in RULES}
        for key, frame in zip(keys, frames, strict=True):
            for result in validate_batch(frame, spec, key).rules:
                by_rule[result.rule].append((key, result))
        reasons: dict[str, list[str]] = {}
        for rule in RULES:
            failures = [(key, r) for key, r in by_rule[rule] if not r.passed]
            for key, r in failures:  # the failure on the failing batch's own partition
                reasons.setdefault(key, []).append(r.message)
                yield dg.AssetCheckEvaluation(
                    asset_key=raw_batch.key, check_name=f"{BATCH_RULE_PREFIX}{rule}",
                    passed=False, partition=key, description=r.message, blocking=True,
                    metadata={"column": r.column or "", "failing_rows": r.failing_rows,
                              "lakefs_branch": branch},
                )
            message = (
                f"{rule}: all {len(keys)} batch(es) pass"
                if not failures
                else "; ".join(r.message for _, r in failures[:5])  # messages name the batch
                + (f" (and {len(failures) - 5} more)" if len(failures) > 5 else "")
            )
            yield _result(raw_batch.key, rule, not failures, message, len(keys), failures, branch)
        for key, messages in reasons.items():
            yield dg.AssetObservation(
                asset_key=raw_batch.key, partition=key,
                metadata={"published": False, "quarantined_on": branch,
                          "audit": dg.MetadataValue.md("**Failed audit, not published**: "
                                                       + "; ".join(messages))},
            )
        if reasons:
            first = next(iter(reasons.values()))[0]
            raise dg.Failure(
                description=f"audit of {ds} rejected {len(reasons)} of {len(keys)} batch(es); "
                f"nothing was published (quarantined on branch {branch!r}). {first}"
                + (f" (and {sum(map(len, reasons.values())) - 1} more problem(s): see the "
                   "checks of raw_batch)" if sum(map(len, reasons.values())) > 1 else ""),
                allow_retries=False,
            )

    return audit_raw_batch


def _result(
    asset_key: dg.AssetKey, rule: str, passed: bool, message: str, checked: int,
    failures: list[tuple[str, RuleResult]], branch: str,
) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(
        check_name=f"{BATCH_RULE_PREFIX}{rule}",
        asset_key=asset_key,
        passed=passed,
        severity=dg.AssetCheckSeverity.ERROR,
        description=message,
        metadata={
            "batches_checked": checked,
            "batches_failed": len({key for key, _ in failures}),
            "failing_rows": sum(r.failing_rows for _, r in failures),
            "message": message,
            "failures": dg.MetadataValue.json(_jsonable([
                {"batch": key, "column": r.column, "rows": r.failing_rows,
                 "message": r.message, "examples": r.examples[:3]}
                for key, r in failures[:20]
            ])),
            "lakefs_branch": branch,
        },
    )


def _jsonable(value: object) -> object:
    return json.loads(json.dumps(value, default=str))  # example values may be datetimes
