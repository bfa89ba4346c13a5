"""Real rnn-serve servers for tests: the shipped launcher, re-exported under the tests' name.

Tests of HTTP behaviour run the real server process (uvicorn) rather than an in-process client,
so that what they see is what users see.
"""

from service.launch import REPO_ROOT, Server, free_port, run_server, wait_ready

__all__ = ["REPO_ROOT", "Server", "free_port", "run_server", "wait_ready"]
