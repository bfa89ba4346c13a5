"""Fixtures for the container tests: find a container engine, build the images once, clean up.

The engine is ``../shared/container/docker`` (podman behind a docker-compatible wrapper; see its
``setup.sh``) when that exists beside the repository, else ``docker``, else ``podman``. Without
any of them, or with one that cannot reach its engine, every test here skips with the reason.
Each run uses unique image tags and container names and removes them afterwards.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from loadtest.servers import free_port

REPO_ROOT = Path(__file__).resolve().parents[2]
SHARED_CONTAINER = REPO_ROOT.parent / "shared" / "container"
#: podman builds OCI images by default, and OCI images drop HEALTHCHECK; docker ignores this.
BUILD_ENV = {**os.environ, "BUILDAH_FORMAT": "docker"}
RUN_ID = uuid.uuid4().hex[:8]


@dataclass
class Engine:
    """The docker-compatible CLI (``docker`` or podman) and its compose front end."""

    docker: list[str]
    compose: list[str] | None
    is_podman: bool

    def run(self, *args: str, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess[str]:
        """``docker ARGS``; raises with the engine's own stderr when ``check`` and it fails."""
        proc = subprocess.run([*self.docker, *args], capture_output=True, text=True, timeout=timeout, env=BUILD_ENV)
        if check and proc.returncode != 0:
            raise AssertionError(f"{' '.join(args[:3])} failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
        return proc

    def build(self, tag: str, target: str) -> None:
        """Build one Dockerfile target (layer cache shared across runs; tags are per run)."""
        self.run("build", "--target", target, "-t", tag, str(REPO_ROOT), timeout=900)

    def wait_healthy(self, name: str, url: str, timeout: float = 90) -> float:
        """Wait until the image's own HEALTHCHECK passes; return the seconds it took.

        podman without systemd never schedules health checks, so run them on demand
        (``podman healthcheck run``); docker runs them itself and reports ``State.Health``.
        """
        start = time.monotonic()
        while time.monotonic() - start < timeout:
            state = self.run("inspect", "--format", "{{.State.Status}}", name, check=False).stdout.strip()
            if state in {"exited", "dead"}:
                raise AssertionError(f"container {name} exited:\n{self.logs(name)}")
            if self.is_podman:
                if self.run("healthcheck", "run", name, check=False).returncode == 0:
                    return time.monotonic() - start
            else:
                health = self.run("inspect", "--format", "{{.State.Health.Status}}", name, check=False)
                if health.stdout.strip() == "healthy":
                    return time.monotonic() - start
            time.sleep(0.5)
        raise AssertionError(f"{name} ({url}) not healthy after {timeout} s:\n{self.logs(name)}")

    def logs(self, name: str) -> str:
        proc = self.run("logs", name, check=False)
        return (proc.stdout + proc.stderr)[-6000:]


def _first_working(candidates: list[list[str]], probe: list[str]) -> list[str] | None:
    for cmd in candidates:
        if shutil.which(cmd[0]) is None:
            continue
        try:
            ok = subprocess.run([*cmd, *probe], capture_output=True, timeout=60).returncode == 0
        except (OSError, subprocess.TimeoutExpired):
            ok = False
        if ok:
            return cmd
    return None


def _find_engine() -> Engine | str:
    """The engine to use, or the reason there is none."""
    wrapper = SHARED_CONTAINER / "docker"
    docker_candidates = ([[str(wrapper)]] if wrapper.exists() else []) + [["docker"], ["podman"]]
    docker = _first_working(docker_candidates, ["info"])
    if docker is None:
        return (
            "no working container engine: none of ../shared/container/docker, docker, podman "
            "answers `info` (run ../shared/container/setup.sh, or install docker)"
        )
    version = subprocess.run([*docker, "--version"], capture_output=True, text=True).stdout.lower()
    compose_wrapper = SHARED_CONTAINER / "docker-compose"
    compose_candidates = ([[str(compose_wrapper)]] if compose_wrapper.exists() else []) + [
        ["docker", "compose"],
        ["docker-compose"],
        ["podman-compose"],
    ]
    compose = _first_working(compose_candidates, ["version"])
    return Engine(docker=docker, compose=compose, is_podman="podman" in version)


@pytest.fixture(scope="session")
def engine() -> Engine:
    found = _find_engine()
    if isinstance(found, str):
        pytest.skip(found)
    return found


@pytest.fixture(scope="session")
def runtime_image(engine: Engine) -> Iterator[str]:
    """The default (runtime) image, built once per run under a unique tag."""
    if not any(REPO_ROOT.glob("models/*/model.json")):
        pytest.skip("models/ holds no model package yet: the runtime image bakes in models/")
    tag = f"localhost/rnn-serve-test:{RUN_ID}"
    engine.build(tag, "runtime")
    yield tag
    engine.run("rmi", "--force", tag, check=False)


@dataclass
class Container:
    name: str
    url: str
    #: ``host:port`` of the image's V2 gRPC port (8001), published beside HTTP
    grpc_address: str


@pytest.fixture
def start_container(engine: Engine, runtime_image: str) -> Iterator:
    """Factory: ``start_container(*run_args)`` runs the runtime image on a free loopback port,
    waits for its HEALTHCHECK to pass, and removes it at the end of the test."""
    names: list[str] = []

    def start(*run_args: str, image: str = runtime_image) -> Container:
        name = f"rnn-serve-test-{RUN_ID}-{len(names)}-{uuid.uuid4().hex[:4]}"
        port, grpc_port = free_port(), free_port()
        names.append(name)
        # docker first probes after one --interval (10 s in the image); probe the same check sooner.
        engine.run(
            "run",
            "-d",
            "--name",
            name,
            "-p",
            f"127.0.0.1:{port}:8000",
            "-p",
            f"127.0.0.1:{grpc_port}:8001",
            "--health-interval=1s",
            *run_args,
            image,
        )
        url = f"http://127.0.0.1:{port}"
        engine.wait_healthy(name, url)
        return Container(name=name, url=url, grpc_address=f"127.0.0.1:{grpc_port}")

    yield start
    for name in names:
        engine.run("rm", "--force", name, check=False, timeout=60)


def http_json(url: str, body: object | None = None, timeout: float = 30) -> tuple[int, dict]:
    """GET (``body is None``) or POST JSON; return status and the decoded JSON answer."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")
