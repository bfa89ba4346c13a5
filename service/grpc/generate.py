"""``make proto``: Triton's protos (``service/grpc/proto/``, verbatim) → ``service/grpc/generated/``.

The protos are compiled under another protobuf package (``rnn_serve.inference``) and another
file path (``service/grpc/generated/*.proto``) than Triton's (``inference``, ``grpc_service.proto``):
``tritonclient.grpc`` registers Triton's own copies in the process-wide descriptor pool, and two
different files of one name or package cannot both live there, so the tests (which import both)
could not run. The package never reaches the wire: :mod:`service.grpc.service` registers its
methods under Triton's names (``/inference.GRPCInferenceService/...``), and protobuf messages carry
no type names. Only the messages are generated (``*_pb2.py`` and ``.pyi``); the service's method
table is written by hand, so no generated stub fixes the wire name.

Run from the repository root: ``python -m service.grpc.generate`` (``--check`` compares instead of
writing; a test runs that).
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
PROTO_DIR = HERE / "proto"
OUT_DIR = HERE / "generated"
#: where the generated modules live, as a proto path (and so as a Python import path)
PROTO_PREFIX = "service/grpc/generated"
PACKAGE = "rnn_serve.inference"
FILES = ("model_config.proto", "grpc_service.proto")


def renamed(text: str) -> str:
    """A Triton proto with our package and with imports under our proto path."""
    text, n = re.subn(r"^package inference;", f"package {PACKAGE};", text, flags=re.MULTILINE)
    if n != 1:
        raise ValueError("expected exactly one 'package inference;' line")
    return re.sub(r'^import "([a-z_]+\.proto)";', rf'import "{PROTO_PREFIX}/\1";', text, flags=re.MULTILINE)


def generate() -> dict[str, bytes]:
    """Compile the renamed protos with grpcio-tools' protoc; file name → contents."""
    from grpc_tools import protoc  # dev extra: the serving install never generates

    with tempfile.TemporaryDirectory() as tmp:
        src, out = Path(tmp, "src"), Path(tmp, "out")
        (src / PROTO_PREFIX).mkdir(parents=True)
        out.mkdir()
        for name in FILES:
            (src / PROTO_PREFIX / name).write_text(renamed((PROTO_DIR / name).read_text()))
        args = [
            "protoc",
            f"-I{src}",
            f"--python_out={out}",
            f"--pyi_out={out}",
            *(f"{PROTO_PREFIX}/{name}" for name in FILES),
        ]
        if protoc.main(args) != 0:
            raise RuntimeError(f"protoc failed: {' '.join(args)}")
        return {p.name: p.read_bytes() for p in sorted((out / PROTO_PREFIX).iterdir())}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if generated/ differs from what protoc makes")
    args = parser.parse_args(argv)
    files = generate()
    if args.check:
        stale = [n for n, data in files.items() if not (OUT_DIR / n).is_file() or (OUT_DIR / n).read_bytes() != data]
        if stale:
            print(f"stale generated code (run `make proto`): {', '.join(stale)}", file=sys.stderr)
            return 1
        return 0
    for name, data in files.items():
        (OUT_DIR / name).write_bytes(data)
    return 0


if __name__ == "__main__":
    sys.exit(main())
