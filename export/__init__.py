"""Training, evaluation and ONNX export of the LSTM/GRU models (needs the ``train`` extra, except
``export.evaluate``/``export.verify``/``export.data``, which run on onnxruntime + numpy only)."""
