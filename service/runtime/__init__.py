"""onnxruntime: the one session factory, the runner every model (and step model) runs on, the
model repository, and the count of requests in flight that the inline rule reads."""
