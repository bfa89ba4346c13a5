"""tritonclient inputs from numpy arrays, one helper for the HTTP and gRPC clients (the tests and
``benchmarks/bench_grpc.py``): both modules spell ``InferInput`` alike; only HTTP chooses between
JSON and binary tensors."""

from __future__ import annotations

from types import ModuleType
from typing import Any

import numpy as np

from service.v2.types import V2_DATATYPE


def triton_inputs(client: ModuleType, arrays: dict[str, np.ndarray], binary: bool | None = None) -> list[Any]:
    """``client.InferInput`` per array (``client``: ``tritonclient.http`` or ``tritonclient.grpc``);
    ``binary`` (HTTP only) picks JSON or the binary extension, None = the client's default."""
    out = []
    for name, arr in arrays.items():
        item = client.InferInput(name, list(arr.shape), V2_DATATYPE[arr.dtype.newbyteorder("=")])
        if binary is None:
            item.set_data_from_numpy(arr)
        else:
            item.set_data_from_numpy(arr, binary_data=binary)
        out.append(item)
    return out
