"""docker-compose.yml: build, bring the service up, run the `loadtest` profile's A/B, tear down.

The service is brought up and waited for first: podman-compose with podman < 4.6 ignores
``depends_on: condition: service_healthy`` (docker compose honours it), and the load tester
must not start against a server that is still loading its models.
"""

from __future__ import annotations

import json
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from loadtest.servers import free_port
from tests.container.conftest import BUILD_ENV, REPO_ROOT, RUN_ID, Engine, http_json

pytestmark = pytest.mark.container

AB_MODELS = ("sentiment-lstm", "sentiment-gru")


def _compose(engine: Engine, env: dict[str, str], *args: str, timeout: float = 600) -> str:
    assert engine.compose is not None
    proc = subprocess.run(
        [*engine.compose, "-p", env["COMPOSE_PROJECT_NAME"], "-f", str(REPO_ROOT / "docker-compose.yml"), *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )
    if proc.returncode != 0:
        raise AssertionError(f"compose {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
    return proc.stdout


def _service_container(engine: Engine, project: str, service: str) -> str:
    ids = engine.run(
        "ps",
        "-a",
        "-q",
        "--filter",
        f"label=com.docker.compose.project={project}",
        "--filter",
        f"label=com.docker.compose.service={service}",
    ).stdout.split()
    assert len(ids) == 1, f"expected one {service} container in {project}, found {ids}"
    return ids[0]


def _served_ok(metrics: str, model: str) -> float:
    """Sum of ``rnn_serve_requests_total`` samples with status 200 for ``model``."""
    total = 0.0
    for line in metrics.splitlines():
        if line.startswith("rnn_serve_requests_total{") and f'model="{model}"' in line and 'status="200"' in line:
            total += float(line.rsplit(" ", 1)[1])
    return total


def _wait_ready(engine: Engine, container: str, url: str, timeout: float = 90) -> None:
    """Poll readiness through the published port; fail at once, with the logs, if it exited."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = engine.run("inspect", "--format", "{{.State.Status}}", container, check=False).stdout.strip()
        if state in {"exited", "dead"}:
            raise AssertionError(f"rnn-serve container exited:\n{engine.logs(container)}")
        try:
            if http_json(url + "/v2/health/ready", timeout=2)[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.5)
    raise AssertionError(f"{url} not ready after {timeout} s:\n{engine.logs(container)}")


def test_compose_loadtest_profile_writes_ab_results(engine: Engine, runtime_image: str, tmp_path: Path) -> None:
    if engine.compose is None:
        pytest.skip(
            "no compose front end: none of ../shared/container/docker-compose, docker compose, "
            "docker-compose, podman-compose works"
        )
    served = {p.parent.name for p in REPO_ROOT.glob("models/*/model.json")}
    if not set(AB_MODELS) <= served:
        pytest.skip(f"the loadtest profile compares {AB_MODELS}; models/ has {sorted(served)}")
    results = tmp_path / "results"
    results.mkdir()
    results.chmod(0o777)  # the load tester runs as uid 10001, not as the test's user
    project = f"rnnservetest{RUN_ID}"
    port = free_port()
    loadtest_image = f"localhost/rnn-serve-loadtest-test:{RUN_ID}"
    env = {
        **BUILD_ENV,
        "COMPOSE_PROJECT_NAME": project,
        "RNN_SERVE_IMAGE": runtime_image,
        "RNN_SERVE_LOADTEST_IMAGE": loadtest_image,
        "RNN_SERVE_HOST_PORT": str(port),
        "RNN_SERVE_HOST_GRPC_PORT": str(free_port()),
        "RNN_SERVE_RESULTS_DIR": str(results),
        "LOADTEST_RATE": "20",
        "LOADTEST_DURATION": "3",
        "LOADTEST_WARMUP": "1",
        "LOADTEST_ROUNDS": "1",
    }
    try:
        # Builds both targets through compose (cached layers: the runtime image was just built).
        _compose(engine, env, "--profile", "loadtest", "build")
        _compose(engine, env, "up", "-d", "rnn-serve")
        _wait_ready(engine, _service_container(engine, project, "rnn-serve"), f"http://127.0.0.1:{port}")
        _compose(engine, env, "--profile", "loadtest", "up", "-d", "loadtest")
        loadtest = _service_container(engine, project, "loadtest")
        exit_code = engine.run("wait", loadtest, timeout=300).stdout.strip().splitlines()[-1]
        printed = engine.logs(loadtest)
        (tmp_path / "loadtest.log").write_text(printed)
        assert exit_code == "0", f"loadtest exited {exit_code}:\n{printed}"

        doc = json.loads((results / "results.json").read_text())
        assert set(doc["models"]) == set(AB_MODELS)
        for name in AB_MODELS:
            summary = doc["models"][name]
            assert summary["requests_ok"] > 0, summary
            assert summary["errors"] == 0, summary
        assert any(p.suffix == ".csv" for p in results.iterdir())
        # What Prometheus scrapes (monitoring profile) counted at least what the load tester saw.
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as resp:
            metrics = resp.read().decode()
        for name in AB_MODELS:
            assert _served_ok(metrics, name) >= doc["models"][name]["requests_ok"]
    finally:
        subprocess.run(
            [
                *engine.compose,
                "-p",
                project,
                "-f",
                str(REPO_ROOT / "docker-compose.yml"),
                "--profile",
                "loadtest",
                "down",
                "-v",
            ],
            cwd=REPO_ROOT,
            capture_output=True,
            timeout=120,
            env=env,
        )
        engine.run("rmi", "--force", loadtest_image, check=False)
