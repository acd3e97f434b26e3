"""lakeFS on production backends: PostgreSQL for its key-value store, S3 for its blockstore.

The non-secret settings live in infra/lakefs/production.yaml (passed with ``--config``); this
module turns connection details into the ``LAKEFS_*`` variables that carry the secrets.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

CONFIG_FILE = Path(__file__).resolve().parents[2] / "infra" / "lakefs" / "production.yaml"


@dataclass(frozen=True)
class S3Backend:
    endpoint: str  # http://127.0.0.1:8333; empty for AWS S3
    access_key_id: str
    secret_access_key: str
    bucket: str
    region: str = "us-east-1"

    def storage_namespace(self, repository: str) -> str:
        return f"s3://{self.bucket}/{repository}"


def production_env(postgres_url: str, s3: S3Backend) -> dict[str, str]:
    """LAKEFS_* settings for `lakefs run --config infra/lakefs/production.yaml` (the launcher
    adds the listen address)."""
    env = {
        "LAKEFS_DATABASE_TYPE": "postgres",
        "LAKEFS_DATABASE_POSTGRES_CONNECTION_STRING": postgres_url,
        "LAKEFS_BLOCKSTORE_TYPE": "s3",
        "LAKEFS_BLOCKSTORE_S3_REGION": s3.region,
        "LAKEFS_BLOCKSTORE_S3_FORCE_PATH_STYLE": "true",
        "LAKEFS_BLOCKSTORE_S3_DISCOVER_BUCKET_REGION": "false",
        "LAKEFS_BLOCKSTORE_S3_CREDENTIALS_ACCESS_KEY_ID": s3.access_key_id,
        "LAKEFS_BLOCKSTORE_S3_CREDENTIALS_SECRET_ACCESS_KEY": s3.secret_access_key,
    }
    if s3.endpoint:
        env["LAKEFS_BLOCKSTORE_S3_ENDPOINT"] = s3.endpoint
    return env


def production_args() -> tuple[str, ...]:
    return ("--config", str(CONFIG_FILE))
