"""Item 2: lakeFS with its key-value store on PostgreSQL and its blockstore on S3 (a real
SeaweedFS), configured by infra/lakefs/production.yaml plus LAKEFS_* secrets; repositories use
an s3:// storage namespace (MLOPS_ASSETS_STORAGE_NAMESPACE)."""

from __future__ import annotations

import pytest

from mlops_assets.defs.resources import lakefs_resource_from_env
from mlops_assets.lakefs_server import LocalLakeFS
from mlops_assets.lakefs_server.production import production_args, production_env
from mlops_assets.platform.lakefs_client import LakeFSClient
from mlops_assets.stack.s3 import list_keys, s3_request


@pytest.fixture(scope="module")
def production_lakefs(tmp_path_factory, lakefs_binary, postgres_server, postgres, seaweedfs):
    postgres_server.ensure_database("lakefs_prod")
    server = LocalLakeFS(tmp_path_factory.mktemp("lakefs-prod"), binary=lakefs_binary,
                         backend_env=production_env(postgres.url("lakefs_prod"), seaweedfs.s3),
                         args=production_args())
    info = server.start(timeout=120)
    yield server, info
    server.stop()


def test_s3_requires_valid_signatures(seaweedfs):
    s3 = seaweedfs.s3
    assert s3_request("HEAD", s3.endpoint, f"/{s3.bucket}", s3.access_key_id,
                      s3.secret_access_key)[0] == 200
    assert s3_request("HEAD", s3.endpoint, f"/{s3.bucket}", s3.access_key_id, "wrong")[0] == 403


def test_lakefs_keeps_metadata_in_postgres_and_objects_in_s3(
    production_lakefs, postgres_server, seaweedfs
):
    server, info = production_lakefs
    s3 = seaweedfs.s3
    client = LakeFSClient(info.endpoint, info.access_key_id, info.secret_access_key,
                          repository="prodrepo",
                          storage_namespace=s3.storage_namespace("prodrepo"))
    client.ensure_repository()
    client.put_bytes("main", "batches/2024-01-01.parquet", b"x" * 2048)
    commit = client.commit("main", "first batch")
    # Objects land in the bucket under the repository's prefix; metadata rows in PostgreSQL.
    keys = list_keys(s3.endpoint, s3.bucket, s3.access_key_id, s3.secret_access_key,
                     prefix="prodrepo/")
    assert keys, "no object under s3://bucket/prodrepo/"
    tables = postgres_server.psql("SELECT count(*) FROM information_schema.tables "
                                  "WHERE table_schema = 'public'", database="lakefs_prod")
    assert int(tables) >= 1
    # A restarted lakeFS reads everything back from PostgreSQL and S3.
    server.stop()
    again = server.start(timeout=120)
    reopened = LakeFSClient(again.endpoint, again.access_key_id, again.secret_access_key,
                            repository="prodrepo")
    assert reopened.resolve("main") == commit
    assert reopened.get_bytes(commit, "batches/2024-01-01.parquet") == b"x" * 2048


def test_storage_namespace_setting_reaches_the_resource(monkeypatch, seaweedfs):
    namespace = seaweedfs.s3.storage_namespace("mlops-assets")
    resource = lakefs_resource_from_env({"MLOPS_ASSETS_STORAGE_NAMESPACE": namespace})
    assert resource.storage_namespace == namespace == "s3://mlops-assets/mlops-assets"
