"""The KServe V2 gRPC front end (Triton's GRPCInferenceService): RPCs decode messages and encode
answers; the data plane does the rest, as for the REST front end."""
