"""LitServe's side: one ``LitAPI`` over onnxruntime that speaks the same V2 JSON as the others.

``python -m benchmarks.peers.litserve_server --model-dir models/forecast-gru --port 8000`` (inside
the LitServe venv, ``.peers/litserve``, with the repository root on ``PYTHONPATH``) serves
``POST /v2/models/<name>/infer``: LitServe parses the JSON (its default request type), the tensors
are decoded and encoded as in ``peer_onnx``, and FastAPI writes the response. One inference worker
on the CPU, ``fast_queue=True`` (ZeroMQ between the API server and the worker), no batching.
"""

import argparse
from pathlib import Path
from typing import Any, cast

import litserve as ls
import numpy as np
from starlette.requests import Request

from benchmarks.peers.peer_onnx import PeerModel, decode_v2, encode_v2


class OnnxAPI(ls.LitAPI):  # type: ignore[misc]
    def __init__(self, model_dir: Path) -> None:
        super().__init__(api_path=f"/v2/models/{model_dir.name}/infer")
        self.model_dir = model_dir

    def setup(self, device: str) -> None:
        self.model = PeerModel(self.model_dir / "model.onnx")

    # Annotated ``Request`` (LitServe's default request type; no ``from __future__ import
    # annotations`` here, LitServe compares the class): LitServe reads the JSON body itself and
    # hands over the parsed document.
    def decode_request(self, request: Request) -> dict[str, np.ndarray]:
        return decode_v2(cast(dict[str, Any], request))

    def predict(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return self.model.run(feeds)

    def encode_response(self, outputs: dict[str, np.ndarray]) -> dict[str, Any]:
        return encode_v2(self.model_dir.name, outputs)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m benchmarks.peers.litserve_server", description=__doc__.split("\n")[0])
    p.add_argument("--model-dir", type=Path, required=True)
    p.add_argument("--port", type=int, default=8000)
    args = p.parse_args(argv)
    server = ls.LitServer(
        OnnxAPI(args.model_dir), accelerator="cpu", devices=1, workers_per_device=1, fast_queue=True, timeout=30
    )
    server.run(host="127.0.0.1", port=args.port, num_api_servers=1, log_level="warning", generate_client_file=False)


if __name__ == "__main__":
    main()
