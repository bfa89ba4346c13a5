"""Break the code on purpose, in a copy, and check the suite notices: ``python -m tests.breaks``.

Each break is a small edit a careless change could make (the table a reviewer filled in by hand
before the suite had oracles). For each one this copies the working tree to a temporary folder,
applies the edit, runs the suite there with ``-x`` (stop at the first failure) and reports which
test caught it, or that nothing did. ``--only NAME`` runs one break; ``--tests PATH ...`` narrows
the suite (default: ``tests/service tests/loadtest``, what a break in these modules can reach).
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Break:
    name: str
    file: str
    old: str
    new: str


BREAKS = [
    Break(
        "latency from the actual send",
        "loadtest/client.py",
        "done - (actual if start is None else start)",
        "done - actual",
    ),
    Break(
        "histogram in ms, labelled seconds",
        "service/observability/metrics.py",
        'observe(getattr(timing, f"{phase}_ns") / 1e9)',
        'observe(getattr(timing, f"{phase}_ns") / 1e6)',
    ),
    Break(
        "no graceful drain",
        "service/server.py",
        "timeout_graceful_shutdown=settings.graceful_shutdown_s,",
        "timeout_graceful_shutdown=0.0,",
    ),
    Break(
        "A/B interval collapsed to the point",
        "loadtest/stats.py",
        "lo, hi = (float(v) for v in np.percentile(boots, [tail, 100 - tail]))",
        "lo = hi = float(point)",
    ),
    Break("text not lower-cased", "service/preprocess/text.py", "    if lowercase:\n        text = text.lower()\n", ""),
    Break(
        "streaming state not kept",
        "service/dataplane.py",
        "session.state, session.outputs = state, outputs",
        "session.outputs = outputs",
    ),
    Break(
        "chunked bodies not counted",
        "service/http/body.py",
        "                if size > limit:\n",
        "                if False:\n",
    ),
]


def _copy(dest: Path) -> None:
    """The working tree as git sees it (tracked and untracked, not ignored), plus the venv link."""
    listed = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=REPO, check=True, capture_output=True
    ).stdout.split(b"\0")
    for raw in filter(None, listed):
        rel = raw.decode()
        src = REPO / rel
        if src.is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)


def run(brk: Break, tests: list[str]) -> tuple[bool, str]:
    """(caught, the first failing test or a note) for one break."""
    with tempfile.TemporaryDirectory(prefix="break-") as tmp:
        copy = Path(tmp) / REPO.name
        copy.mkdir()
        _copy(copy)
        if (REPO.parent / "shared").is_dir():  # the real data, where the suite finds it
            (Path(tmp) / "shared").symlink_to(REPO.parent / "shared")
        target = copy / brk.file
        text = target.read_text()
        if brk.old not in text:
            raise SystemExit(f"{brk.name}: {brk.file} no longer contains the line to break; update tests/breaks.py")
        target.write_text(text.replace(brk.old, brk.new, 1))
        done = subprocess.run(
            [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *tests],
            cwd=copy,
            capture_output=True,
            text=True,
            check=False,
        )
    failed = re.findall(r"^FAILED (.+?)(?: - .*)?$", done.stdout, re.M)
    return done.returncode != 0, failed[0] if failed else done.stdout.strip().splitlines()[-1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default=None, help="run the break whose name contains this")
    parser.add_argument("--tests", nargs="*", default=["tests/service", "tests/loadtest"])
    args = parser.parse_args(argv)
    chosen = [b for b in BREAKS if args.only is None or args.only in b.name]
    print("| break | file | caught | by |")
    print("|---|---|---|---|")
    missed = 0
    for brk in chosen:
        caught, by = run(brk, args.tests)
        missed += not caught
        print(f"| {brk.name} | `{brk.file}` | {'yes' if caught else '**no**'} | {by} |", flush=True)
    return 1 if missed else 0


if __name__ == "__main__":
    raise SystemExit(main())
