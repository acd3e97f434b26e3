"""The bad-input corpus through the REAL raw_batch / audit / validated_batch assets against
lakeFS: each file is landed as `<landing>/<ds>/<KEY><suffix>` and ingested; a rejected file fails
with its expected rule (a failed check on its partition, or the read's own error) and main's
head commit is unchanged; an accepted one is published."""

import dagster as dg
import pytest

from mlops_assets.core.check_names import BATCH_RULE_PREFIX
from mlops_assets.definitions import build_definitions
from mlops_assets.defs.ingest.landing import LandingResource
from mlops_assets.testing import failure_messages
from mlops_assets_tests.bad_inputs import CORPUS, KEY, BadInput, spec_for
from mlops_assets_tests.faults.harness import count

pytestmark = [pytest.mark.lakefs, pytest.mark.faults]


@pytest.fixture(scope="module")
def repos(lakefs_server, tmp_path_factory):
    from mlops_assets.testing import make_client

    made = {}
    for spec in ("synthetic", "typed"):
        client = make_client(lakefs_server)
        client.ensure_repository()
        landing = tmp_path_factory.mktemp(f"landing-{spec}")
        defs = build_definitions(spec_for(spec), resources={
            "lakefs": client, "landing": LandingResource(path=str(landing))})
        made[spec] = (client, landing, defs.resolve_job_def("ingest_job"))
    return made


@pytest.mark.parametrize("case", CORPUS, ids=lambda c: c.name)
def test_corpus_case_through_the_assets(case: BadInput, repos):
    client, landing, job = repos[case.spec]
    folder = landing / spec_for(case.spec).name
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob(f"{KEY}.*"):
        old.unlink()
    (folder / f"{KEY}{case.suffix}").write_bytes(case.make())
    head = client.resolve("main")
    result = job.execute_in_process(tags={"dagster/partition": KEY}, raise_on_error=False,
                                    instance=dg.DagsterInstance.ephemeral())
    messages = failure_messages(result)
    untouched = client.resolve("main") == head
    count("bad-input corpus", tried=1, rejected=int(not result.success),
          main_untouched=int(not result.success and untouched))
    if case.expected == "accept":
        assert result.success, messages
        return
    assert not result.success
    assert untouched, "a rejected batch changed main"
    if case.expected == "file":
        assert f"batch {KEY} rejected" in messages, messages
    else:
        failed = {e.check_name for e in result.get_asset_check_evaluations() if not e.passed}
        assert f"{BATCH_RULE_PREFIX}{case.expected}" in failed, (failed, messages)
        assert case.place in messages, messages
