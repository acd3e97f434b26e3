"""The embedded lakeFS server: finding or building the binary, and running it locally."""

from mlops_assets.lakefs_server.build import (
    LakeFSBinaryError,
    build_lakefs,
    ensure_lakefs_binary,
    find_lakefs_binary,
    pinned_version,
)
from mlops_assets.lakefs_server.launcher import (
    LakeFSServerError,
    LocalLakeFS,
    ServerInfo,
    ServerStatus,
    read_env_file,
)

__all__ = [
    "LakeFSBinaryError",
    "LakeFSServerError",
    "LocalLakeFS",
    "ServerInfo",
    "ServerStatus",
    "build_lakefs",
    "ensure_lakefs_binary",
    "find_lakefs_binary",
    "pinned_version",
    "read_env_file",
]
