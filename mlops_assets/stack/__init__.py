"""The production-like stack on this machine: PostgreSQL, an S3 object store (SeaweedFS),
lakeFS on both, and Dagster as separate processes (gRPC code server, webserver, daemon)."""
