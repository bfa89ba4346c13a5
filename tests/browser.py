"""A real headless Chromium (Debian's ``chromium``), driven over its own DevTools protocol.

No Playwright and no browser download: Chromium starts with ``--remote-debugging-port=0`` and a
new, empty profile; the port it picked is read from ``DevToolsActivePort`` in that profile and
one page is driven over a WebSocket (``websockets``, already a dependency of uvicorn). Everything
the page does is recorded: uncaught exceptions, ``console.error``, the browser's own error log
(CSP violations, failed loads), the error statuses its requests got and the URL of every
request, so a test can assert that the page ran cleanly and fetched nothing from anywhere but
the server.

The flags keep Chromium off the network: this machine has none, and without them Chromium keeps
trying (component updates, sync, QUIC, background services).
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from websockets.sync.client import ClientConnection, connect

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
QUIET_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--disable-default-apps",
    "--no-default-browser-check",
    "--mute-audio",
    "--disable-dev-shm-usage",
]


class Page:
    """One browser tab: send DevTools commands, evaluate JavaScript, wait for conditions."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self._id = 0
        #: uncaught exceptions, console errors, and the browser's error log (CSP, failed loads)
        self.errors: list[str] = []
        #: the 4xx/5xx statuses the page's requests got, e.g. "404 (Not Found)"
        self.statuses: list[str] = []
        self.requests: list[str] = []
        self.loaded = False

    def _event(self, msg: dict[str, Any]) -> None:
        method, params = msg.get("method"), msg.get("params", {})
        if method == "Runtime.exceptionThrown":
            details = params["exceptionDetails"]
            self.errors.append(f"exception: {details.get('exception', {}).get('description') or details['text']}")
        elif method == "Runtime.consoleAPICalled" and params["type"] in ("error", "assert"):
            self.errors.append(
                "console: " + " ".join(str(a.get("value", a.get("description"))) for a in params["args"])
            )
        elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
            entry = params["entry"]
            if entry["source"] == "network" and "responded with a status of" in entry["text"]:
                self.statuses.append(entry["text"].rpartition("status of ")[2])  # an answer, maybe on purpose
            else:
                self.errors.append(f"log ({entry['source']}): {entry['text']}")
        elif method == "Network.requestWillBeSent":
            self.requests.append(params["request"]["url"])
        elif method == "Page.loadEventFired":
            self.loaded = True

    def send(self, method: str, params: dict[str, Any] | None = None, timeout: float = 30.0) -> dict[str, Any]:
        """Run one command; events that arrive meanwhile are recorded."""
        self._id += 1
        self.ws.send(json.dumps({"id": self._id, "method": method, "params": params or {}}))
        deadline = time.monotonic() + timeout
        while True:
            msg = json.loads(self.ws.recv(timeout=max(0.01, deadline - time.monotonic())))
            if msg.get("id") == self._id:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})
            self._event(msg)

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression (promises awaited), or an error if it threw."""
        result = self.send("Runtime.evaluate", {"expression": expression, "awaitPromise": True, "returnByValue": True})
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression!r} threw: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_for(self, expression: str, timeout: float = 15.0) -> Any:
        """Poll ``expression`` until it is truthy; its value."""
        deadline = time.monotonic() + timeout
        while True:
            value = self.evaluate(expression)
            if value:
                return value
            if time.monotonic() > deadline:
                raise TimeoutError(f"not true after {timeout} s: {expression}\nerrors: {self.errors}")
            time.sleep(0.1)

    def goto(self, url: str, timeout: float = 15.0) -> None:
        self.loaded = False
        self.send("Page.navigate", {"url": url})
        deadline = time.monotonic() + timeout
        while not self.loaded:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{url} did not load in {timeout} s")
            self.evaluate("1")  # lets events (the load event among them) arrive

    def type_into(self, selector: str, text: str) -> None:
        """Replace a field's text the way typing does (focus, select all, insert): input events fire."""
        self.evaluate(
            f"(() => {{ const e = document.querySelector({json.dumps(selector)}); e.focus(); e.select(); }})()"
        )
        self.send("Input.insertText", {"text": text})

    def set_files(self, selector: str, paths: list[Path]) -> None:
        """Choose files in an ``<input type=file>``, as the user's file picker would."""
        root = self.send("DOM.getDocument")["root"]["nodeId"]
        node = self.send("DOM.querySelector", {"nodeId": root, "selector": selector})["nodeId"]
        self.send("DOM.setFileInputFiles", {"nodeId": node, "files": [str(p) for p in paths]})

    def screenshot(self, path: Path) -> None:
        data = self.send("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True})["data"]
        path.write_bytes(base64.b64decode(data))


@contextmanager
def chromium(width: int = 1280, height: int = 1600, timeout: float = 20.0) -> Iterator[Page]:
    """A fresh headless Chromium with an empty profile; yields its first page; stops it by PID."""
    assert CHROMIUM is not None, "chromium is not installed"
    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
        proc = subprocess.Popen(
            [
                CHROMIUM,
                *QUIET_FLAGS,
                f"--user-data-dir={profile}",
                "--remote-debugging-port=0",
                f"--window-size={width},{height}",
                "about:blank",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            port_file = Path(profile) / "DevToolsActivePort"
            deadline = time.monotonic() + timeout
            while not (port_file.exists() and port_file.read_text().strip()):
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"chromium did not open its DevTools port (exit code {proc.poll()})")
                time.sleep(0.05)
            port = port_file.read_text().split()[0]
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=5) as resp:
                target = next(t for t in json.load(resp) if t["type"] == "page")
            with connect(target["webSocketDebuggerUrl"], max_size=None, open_timeout=10) as ws:
                page = Page(ws)
                for domain in ("Page", "Runtime", "Log", "Network", "DOM"):
                    page.send(f"{domain}.enable")
                yield page
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
