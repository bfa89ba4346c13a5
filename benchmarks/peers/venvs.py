"""One virtualenv per peer under ``.peers/`` (git-ignored): ``python -m benchmarks.peers.venvs``.

* ``mlserver``: MLServer 1.7.1 with ``uvloop==0.21.0`` (with uvloop 0.23 MLServer's default
  ``parallel_workers: 1`` does not start; the benchmark uses ``parallel_workers: 0`` anyway, but
  the pin keeps the venv usable with MLServer's defaults).
* ``litserve``: LitServe 0.2.19.

Each gets onnxruntime pinned to the version this project's own environment runs, so every
framework runs the same kernels; no torch (checked after the install). A venv whose marker file
records the same requirements is kept; ``--force`` rebuilds it.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import shutil
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
PEERS_DIR = REPO_ROOT / ".peers"
PEERS: dict[str, tuple[str, ...]] = {
    "mlserver": ("mlserver==1.7.1", "uvloop==0.21.0"),
    "litserve": ("litserve==0.2.19",),
}
MARKER = ".peer-installed.json"


def onnxruntime_pin() -> str:
    """``onnxruntime==<the version this project's environment runs>``."""
    return f"onnxruntime=={importlib.metadata.version('onnxruntime')}"


def requirements(peer: str) -> list[str]:
    return [*PEERS[peer], onnxruntime_pin()]


def python_of(peer: str, root: Path = PEERS_DIR) -> Path:
    return root / peer / "bin" / "python"


def is_ready(peer: str, root: Path = PEERS_DIR) -> bool:
    """The venv exists and was built for exactly today's requirements."""
    marker = root / peer / MARKER
    if not python_of(peer, root).exists() or not marker.is_file():
        return False
    return bool(json.loads(marker.read_text())["requirements"] == requirements(peer))


def missing(root: Path = PEERS_DIR) -> list[str]:
    """Peers whose venv is absent or stale."""
    return [peer for peer in PEERS if not is_ready(peer, root)]


def versions(peer: str, root: Path = PEERS_DIR) -> dict[str, str]:
    """Installed versions of the packages that matter, read inside the peer's venv."""
    names = [r.split("==")[0] for r in requirements(peer)] + ["numpy", "fastapi", "uvicorn"]
    code = (
        "import importlib.metadata as m, json, sys\n"
        "out = {}\n"
        "for n in sys.argv[1:]:\n"
        "    try: out[n] = m.version(n)\n"
        "    except m.PackageNotFoundError: pass\n"
        "print(json.dumps(out))"
    )
    done = subprocess.run([str(python_of(peer, root)), "-c", code, *names], check=True, capture_output=True, text=True)
    return dict(json.loads(done.stdout))


def create(peer: str, root: Path = PEERS_DIR, force: bool = False) -> Path:
    """Build ``root/<peer>`` (a fresh venv, then one ``pip install``); refuse a venv that pulled torch."""
    folder = root / peer
    if is_ready(peer, root) and not force:
        print(f"{peer}: ready ({folder})")
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    subprocess.run([sys.executable, "-m", "venv", str(folder)], check=True)
    pip = [str(python_of(peer, root)), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    print(f"{peer}: pip install {' '.join(requirements(peer))}", flush=True)
    subprocess.run([*pip, *requirements(peer)], check=True)
    if has_torch(peer, root):
        raise SystemExit(f"{peer}: the install pulled in torch; the peers must run without it")
    (folder / MARKER).write_text(json.dumps({"requirements": requirements(peer), "versions": versions(peer, root)}))
    print(f"{peer}: ready ({folder}): {versions(peer, root)}")
    return folder


def has_torch(peer: str, root: Path = PEERS_DIR) -> bool:
    """Whether the peer's venv holds a distribution named torch."""
    done = subprocess.run(
        [str(python_of(peer, root)), "-m", "pip", "list", "--format=json"], check=True, capture_output=True, text=True
    )
    return any(d["name"].lower() == "torch" for d in json.loads(done.stdout))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.peers.venvs", description=__doc__.split("\n\n")[0])
    parser.add_argument("--peers", nargs="*", default=list(PEERS), choices=list(PEERS))
    parser.add_argument("--force", action="store_true", help="rebuild even when up to date")
    args = parser.parse_args(argv)
    for peer in args.peers:
        create(peer, force=args.force)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
