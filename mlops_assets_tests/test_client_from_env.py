"""Reading platform state outside Dagster: a plain client from the environment."""

import pytest

from mlops_assets.platform.lakefs_client import LakeFSClient
from mlops_assets.testing import lakefs_env


def test_a_missing_variable_is_named():
    with pytest.raises(KeyError, match="LAKECTL_SERVER_ENDPOINT_URL"):
        LakeFSClient.from_env({"LAKECTL_CREDENTIALS_ACCESS_KEY_ID": "a"})


def test_a_script_reads_what_the_platform_wrote(lakefs, lakefs_server):
    lakefs.put_json("main", "reports/r.json", {"drifted": False})
    lakefs.commit("main", "a report")
    client = LakeFSClient.from_env(lakefs_env(lakefs, lakefs_server))
    assert client.repository == lakefs.repository
    assert client.get_json("main", "reports/r.json") == {"drifted": False}
