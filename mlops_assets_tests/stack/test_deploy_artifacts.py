"""Item 4: the container and Kubernetes artefacts, checked offline. The compose file is parsed
and checked (services, healthchecks, start order, no literal secrets); the project's chart is
rendered with `helm template` (Helm built from the Go module proxy, cached) and every manifest
is validated against the Kubernetes schemas (kubernetes-validate, strict)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from mlops_assets.settings import Settings
from mlops_assets.stack.binaries import ensure_binary, helm_tool

INFRA = Path(__file__).resolve().parents[2] / "infra"
K8S_VERSION = "1.33.0"
SERVICES = {"postgres", "seaweedfs", "lakefs", "code-location", "webserver", "daemon"}


def _load(path: Path):
    return yaml.safe_load(path.read_text())


@pytest.fixture(scope="module")
def helm() -> Path:
    return ensure_binary(helm_tool(), Settings.from_env().cache_dir)


def _render(helm: Path, *sets: str) -> list[dict]:
    command = [str(helm), "template", "mlops", str(INFRA / "k8s" / "chart")]
    for item in sets:
        command += ["--set", item]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    return [doc for doc in yaml.safe_load_all(out) if doc]


def test_compose_has_every_service_with_healthchecks_and_start_order():
    compose = _load(INFRA / "docker" / "compose.yaml")
    services = compose["services"]
    assert set(services) == SERVICES
    for name, service in services.items():
        assert "healthcheck" in service and service["healthcheck"]["test"], name
        assert "image" in service, name
    assert services["lakefs"]["depends_on"] == {
        "postgres": {"condition": "service_healthy"},
        "seaweedfs": {"condition": "service_healthy"},
    }
    for name in ("webserver", "daemon"):
        assert services[name]["depends_on"]["code-location"]["condition"] == "service_healthy"
    assert services["daemon"]["command"][:2] == ["dagster-daemon", "run"]
    assert services["webserver"]["command"][0] == "dagster-webserver"
    # The code location image's default command is the gRPC code server the workspace targets.
    workspace = _load(INFRA / "dagster" / "workspace.yaml")["load_from"][0]["grpc_server"]
    assert workspace["host"] in services and workspace["port"] == 4000
    assert set(compose["volumes"]) == {"postgres-data", "seaweedfs-data"}


def test_compose_takes_every_secret_from_the_environment():
    compose = _load(INFRA / "docker" / "compose.yaml")
    for name, service in compose["services"].items():
        for key, value in (service.get("environment") or {}).items():
            if re.search(r"PASSWORD|SECRET|CONNECTION_STRING|ACCESS_KEY", key):
                assert "${" in str(value), f"{name}: {key} is a literal"


def test_dockerfile_serves_the_code_location_with_the_production_instance():
    text = (INFRA / "docker" / "Dockerfile").read_text()
    assert '-c constraints.txt ".[production]"' in text
    assert "COPY infra/dagster/dagster.yaml ${DAGSTER_HOME}/dagster.yaml" in text
    assert '"code-server", "start", "-m", "mlops_assets.definitions"' in text
    assert "USER dagster" in text and "HEALTHCHECK" in text


def test_dagster_chart_values_match_the_instance_yaml():
    values = _load(INFRA / "k8s" / "dagster-values.yaml")
    instance = _load(INFRA / "dagster" / "dagster.yaml")
    assert values["runLauncher"]["type"] == "K8sRunLauncher"
    deployment = values["dagster-user-deployments"]["deployments"][0]
    assert deployment["dagsterApiGrpcArgs"][:2] == ["--module-name", "mlops_assets.definitions"]
    assert values["postgresql"]["enabled"] is False
    scheme = instance["storage"]["postgres"]["postgres_db"]["scheme"]
    assert values["postgresql"]["postgresqlScheme"] == scheme
    runs, pools = values["concurrency"]["runs"], values["concurrency"]["pools"]
    assert runs["maxConcurrentRuns"] == instance["concurrency"]["runs"]["max_concurrent_runs"]
    assert runs["tagConcurrencyLimits"] == instance["concurrency"]["runs"]["tag_concurrency_limits"]
    assert pools["defaultLimit"] == instance["concurrency"]["pools"]["default_limit"]
    assert pools["granularity"] == instance["concurrency"]["pools"]["granularity"]


def test_chart_ships_the_lakefs_production_config_unchanged():
    chart_copy = INFRA / "k8s" / "chart" / "files" / "lakefs.yaml"
    assert chart_copy.read_text() == (INFRA / "lakefs" / "production.yaml").read_text()


def test_chart_renders_valid_kubernetes_manifests(helm):
    docs = _render(helm)
    kinds = sorted((d["kind"], d["metadata"]["name"]) for d in docs)
    assert kinds == [
        ("ConfigMap", "mlops-lakefs-config"),
        ("Deployment", "mlops-code-location"),
        ("Deployment", "mlops-lakefs"),
        ("Service", "mlops-code-location"),
        ("Service", "mlops-lakefs"),
    ]
    for doc in docs:
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
    config = next(d for d in docs if d["kind"] == "ConfigMap")
    assert yaml.safe_load(config["data"]["production.yaml"])["database"]["type"] == "postgres"
    lakefs = next(d for d in docs if d["metadata"]["name"] == "mlops-lakefs"
                  and d["kind"] == "Deployment")
    env = {e["name"]: e for e in lakefs["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert "secretKeyRef" in env["LAKEFS_AUTH_ENCRYPT_SECRET_KEY"]["valueFrom"]


def test_chart_without_code_location_and_with_an_s3_endpoint(helm):
    docs = _render(helm, "codeLocation.enabled=false", "s3.endpoint=http://seaweedfs:8333")
    assert {d["metadata"]["name"] for d in docs} == {"mlops-lakefs-config", "mlops-lakefs"}
    for doc in docs:
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)


def test_validation_catches_a_broken_manifest(helm):
    doc = next(d for d in _render(helm) if d["kind"] == "Deployment")
    doc["spec"]["replicas"] = "one"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
