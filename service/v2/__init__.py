"""The Open Inference Protocol (KServe V2): request/response types, the REST codec, model
metadata and configuration in Triton's spelling, and the statistics extension's counters."""
