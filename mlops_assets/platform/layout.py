"""Where each kind of data lives in the lakeFS repository (one place, so paths never drift).

datasets/<ds>/raw/date=<key>/batch.parquet          landed batches (published = validated)
datasets/<ds>/features/date=<key>/features.parquet  the model table, one file per batch
datasets/<ds>/predictions/date=<key>/predictions.parquet
datasets/<ds>/drift/date=<key>/report.json         drift report of a batch vs the champion
models/<ds>/<version>/weights.safetensors | model.json | record.json | evaluation.json |
    decision.json | reference.json | model_card.md | group_metrics.json
models/<ds>/aliases/<alias>.json                    candidate (latest trained), champion
                                                    (scores new batches), or any other alias
"""

import re

_KEY = re.compile(r"date=([^/]+)/")


def raw_prefix(dataset: str) -> str:
    return f"datasets/{dataset}/raw/"


def raw_batch(dataset: str, key: str) -> str:
    return f"{raw_prefix(dataset)}date={key}/batch.parquet"


def features_prefix(dataset: str) -> str:
    return f"datasets/{dataset}/features/"


def features(dataset: str, key: str) -> str:
    return f"{features_prefix(dataset)}date={key}/features.parquet"


def predictions(dataset: str, key: str) -> str:
    return f"datasets/{dataset}/predictions/date={key}/predictions.parquet"


def drift_report(dataset: str, key: str) -> str:
    return f"datasets/{dataset}/drift/date={key}/report.json"


def model_dir(dataset: str, version: str) -> str:
    return f"models/{dataset}/{version}/"


def model_pointer(dataset: str, name: str) -> str:
    """An alias: `candidate` (latest trained), `champion` (scores new batches), or any other."""
    return f"models/{dataset}/aliases/{name}.json"


def keys_in(paths: list[str]) -> list[str]:
    """Partition keys of `date=<key>/` paths, sorted."""
    return sorted({m.group(1) for p in paths if (m := _KEY.search(p))})
