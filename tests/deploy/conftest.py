"""Fixtures for the deployment tests: one real server on a tiny model repository.

The manifests and the monitoring config are checked against what a running server actually
answers (probe routes, /metrics), not against a description of it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from loadtest.servers import Server, run_server
from tests.service.tiny_models import build_tiny_repository

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


@pytest.fixture(scope="session")
def deploy_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A real ``rnn-serve serve`` on 127.0.0.1 with the six tiny models."""
    repo = build_tiny_repository(tmp_path_factory.mktemp("deploy-tiny") / "models")
    with run_server(repo, log_dir=tmp_path_factory.mktemp("deploy-logs"), ready_path="/v2/health/ready") as srv:
        yield srv
