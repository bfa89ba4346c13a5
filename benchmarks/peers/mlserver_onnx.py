"""MLServer's side: a custom ``MLModel`` over onnxruntime, as MLServer's docs build one.

``model-settings.json`` names ``benchmarks.peers.mlserver_onnx.OnnxModel`` as the implementation
and the ``.onnx`` file as ``parameters.uri``; the tensors go through MLServer's own ``NumpyCodec``
both ways, so MLServer parses and writes the V2 JSON itself. Imported only inside the MLServer
venv (``.peers/mlserver``), with the repository root on ``PYTHONPATH``.
"""

from __future__ import annotations

from mlserver import MLModel
from mlserver.codecs import NumpyCodec
from mlserver.types import InferenceRequest, InferenceResponse
from mlserver.utils import get_model_uri

from benchmarks.peers.peer_onnx import PeerModel


class OnnxModel(MLModel):  # type: ignore[misc]
    """One ONNX graph; with adaptive batching MLServer hands it several requests stacked on axis 0."""

    async def load(self) -> bool:
        self._model = PeerModel(await get_model_uri(self.settings))
        return True

    async def predict(self, payload: InferenceRequest) -> InferenceResponse:
        feeds = {t.name: NumpyCodec.decode_input(t) for t in payload.inputs}
        outputs = self._model.run(feeds)
        return InferenceResponse(
            model_name=self.name,
            model_version=self.version,
            outputs=[NumpyCodec.encode_output(name, array) for name, array in outputs.items()],
        )
