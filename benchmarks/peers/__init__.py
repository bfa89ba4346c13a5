"""rnn-serve against its peers, side by side: ``python -m benchmarks.peers``.

MLServer 1.7.1 (a custom ``MLModel`` over onnxruntime, without and with adaptive batching) and
LitServe 0.2.19 each run from their own virtualenv under ``.peers/``
(``python -m benchmarks.peers.venvs``), serve the same ONNX graphs with the same session options
and take the same V2 JSON bodies. Nothing here may import from ``service`` at module level in the
files that the peers' venvs run (``peer_onnx``, ``mlserver_onnx``, ``litserve_server``).
"""
