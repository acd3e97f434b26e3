"""The dataset spec: one YAML file per dataset, validated by pydantic (v2).

Everything that the pipeline needs to know about a dataset lives in its spec: where the raw data
comes from (sources.py), how it is cut into batches, which rules a batch must pass and which
features the model uses (model.py), how it is monitored (monitoring.py). The models are strict
(``extra="forbid"`` everywhere) so that a typo is an error, not a silently ignored field.
Reference: docs/dataset_spec.md.
"""

from mlops_assets.core.spec.base import (
    DATASETS_DIR,
    DTYPES,
    ROW_INDEX,
    TIME_FEATURES,
    SpecError,
)
from mlops_assets.core.spec.loading import (
    DEFAULT_DATASET,
    dataset_entries,
    load_spec,
    load_specs,
    parse_spec,
    spec_path,
    specs_from_env,
)
from mlops_assets.core.spec.model import (
    BatchSpec,
    ColumnSpec,
    DatasetSpec,
    FeaturesSpec,
    QualityBarSpec,
    RollingRateSpec,
    RowCountSpec,
    TargetSpec,
)
from mlops_assets.core.spec.monitoring import (
    MonitoringSpec,
    ResolvedMonitoring,
    WindowSpec,
    resolve_monitoring,
)
from mlops_assets.core.spec.sources import JoinSpec, SourceSpec, TimeFromSpec

__all__ = [
    "DATASETS_DIR", "DEFAULT_DATASET", "DTYPES", "ROW_INDEX", "TIME_FEATURES", "BatchSpec",
    "ColumnSpec", "DatasetSpec", "FeaturesSpec", "JoinSpec", "MonitoringSpec",
    "QualityBarSpec", "ResolvedMonitoring", "RollingRateSpec", "RowCountSpec", "SourceSpec",
    "SpecError",
    "TargetSpec", "TimeFromSpec", "WindowSpec", "dataset_entries", "load_spec", "load_specs",
    "parse_spec", "resolve_monitoring", "spec_path", "specs_from_env",
]
