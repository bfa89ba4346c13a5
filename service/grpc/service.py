"""Triton's ``GRPCInferenceService`` (KServe V2 over gRPC) on the data plane.

Each RPC only decodes its message, calls the data-plane method the REST V2 route calls, and
encodes the answer (:mod:`service.grpc.codec`), so timing, statistics, Prometheus and failure
recording stay in :mod:`service.dataplane`, whichever protocol a request came by. Every call
counts in the same in-flight and request metrics as an HTTP request: its route label is the gRPC
method path and its status the HTTP status the same outcome gets over REST.

The methods are registered by hand under Triton's wire names (``/inference.GRPCInferenceService/
ModelInfer``, ...) with the request bytes passed through undecoded: the generated messages live in
another protobuf package (see :mod:`service.grpc.generate`), and bytes that are no valid message
must be INVALID_ARGUMENT, not the INTERNAL that grpc's own deserializer failure gives. Methods
Triton has and this server does not (repository control, shared memory, trace and log settings)
are answered UNIMPLEMENTED by grpc.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc
from google.protobuf.message import DecodeError, Message

from service.dataplane import DataPlane
from service.errors import ModelNotFound, ModelNotReady, ServiceError
from service.grpc import codec
from service.grpc.errors import as_service_error, status_of, trailers_of
from service.grpc.generated import grpc_service_pb2 as pb
from service.runtime.activity import ACTIVITY
from service.v2 import config as v2_config

#: the service's name on the wire: Triton's, whatever package the generated code lives in
SERVICE = "inference.GRPCInferenceService"
#: an RPC: the parsed request, its bytes (infer sizes its decoding by them) and the call's context
Method = Callable[[Any, bytes, grpc.aio.ServicerContext[bytes, bytes]], Awaitable[Message]]


def _identity(data: bytes) -> bytes:
    return data


def _serialize(message: Message) -> bytes:
    return message.SerializeToString()


class InferenceService:
    def __init__(self, plane: DataPlane) -> None:
        self.plane = plane

    def handler(self) -> grpc.GenericRpcHandler:
        """The method table, by Triton's method names."""
        unary: dict[str, tuple[type[Message], Method]] = {
            "ServerLive": (pb.ServerLiveRequest, self.server_live),
            "ServerReady": (pb.ServerReadyRequest, self.server_ready),
            "ServerMetadata": (pb.ServerMetadataRequest, self.server_metadata),
            "ModelReady": (pb.ModelReadyRequest, self.model_ready),
            "ModelMetadata": (pb.ModelMetadataRequest, self.model_metadata),
            "ModelConfig": (pb.ModelConfigRequest, self.model_config),
            "ModelStatistics": (pb.ModelStatisticsRequest, self.model_statistics),
            "ModelInfer": (pb.ModelInferRequest, self.model_infer),
        }
        handlers = {
            name: grpc.unary_unary_rpc_method_handler(
                self._unary(name, kind, method), request_deserializer=_identity, response_serializer=_serialize
            )
            for name, (kind, method) in unary.items()
        }
        handlers["ModelStreamInfer"] = grpc.stream_stream_rpc_method_handler(
            self.model_stream_infer, request_deserializer=_identity, response_serializer=_serialize
        )
        return grpc.method_handlers_generic_handler(SERVICE, handlers)

    async def _handle(
        self,
        route: str,
        kind: type[Message],
        method: Method,
        raw: bytes,
        context: grpc.aio.ServicerContext[bytes, bytes],
    ) -> Message:
        """Parse, run ``method``, and count the call in flight and by status; a failure leaves as
        the typed error it stands for (:func:`~service.grpc.errors.as_service_error`)."""
        ACTIVITY.requests += 1
        status, name = 200, ""
        try:
            request = codec.parse(kind, raw)
            name = getattr(request, "model_name", "") or getattr(request, "name", "")
            return await method(request, raw, context)
        except asyncio.CancelledError:
            status = 499  # the client cancelled or left: nobody reads an answer
            raise
        except Exception as exc:
            err = as_service_error(exc, route)
            status = err.status
            raise err from None
        finally:
            ACTIVITY.requests -= 1
            self.plane.metrics.count_request(name, route, status)

    def _unary(
        self, rpc: str, kind: type[Message], method: Method
    ) -> Callable[[bytes, grpc.aio.ServicerContext[bytes, bytes]], Awaitable[Message]]:
        """``method`` as a unary handler: a failure ends the call with its status code."""
        route = f"/{SERVICE}/{rpc}"

        async def call(raw: bytes, context: grpc.aio.ServicerContext[bytes, bytes]) -> Message:
            try:
                return await self._handle(route, kind, method, raw, context)
            except ServiceError as err:
                context.set_trailing_metadata(trailers_of(err))
                await context.abort(status_of(err), err.message)

        return call

    # ---- health and metadata ------------------------------------------------------------------
    async def server_live(self, request: pb.ServerLiveRequest, raw: bytes, context: Any) -> pb.ServerLiveResponse:
        return pb.ServerLiveResponse(live=True)

    async def server_ready(self, request: pb.ServerReadyRequest, raw: bytes, context: Any) -> pb.ServerReadyResponse:
        return pb.ServerReadyResponse(ready=self.plane.repository.all_ready)

    async def server_metadata(
        self, request: pb.ServerMetadataRequest, raw: bytes, context: Any
    ) -> pb.ServerMetadataResponse:
        return codec.from_json(v2_config.server_metadata(), pb.ServerMetadataResponse())

    async def model_ready(self, request: pb.ModelReadyRequest, raw: bytes, context: Any) -> pb.ModelReadyResponse:
        """False, not an error, for a model that is not ready or not there, as Triton answers."""
        try:
            self.plane.ready(request.name, request.version or None)
        except (ModelNotReady, ModelNotFound):
            return pb.ModelReadyResponse(ready=False)
        return pb.ModelReadyResponse(ready=True)

    async def model_metadata(
        self, request: pb.ModelMetadataRequest, raw: bytes, context: Any
    ) -> pb.ModelMetadataResponse:
        metadata = self.plane.metadata(request.name, request.version or None)
        return codec.from_json(metadata, pb.ModelMetadataResponse())

    async def model_config(self, request: pb.ModelConfigRequest, raw: bytes, context: Any) -> pb.ModelConfigResponse:
        return codec.model_config(self.plane.model_config(request.name, request.version or None))

    async def model_statistics(
        self, request: pb.ModelStatisticsRequest, raw: bytes, context: Any
    ) -> pb.ModelStatisticsResponse:
        """One model's statistics, or every model's when the request names none (as Triton)."""
        stats = self.plane.model_stats(request.name or None, request.version or None)
        return codec.from_json(stats, pb.ModelStatisticsResponse())

    # ---- inference ----------------------------------------------------------------------------
    async def model_infer(
        self, request: pb.ModelInferRequest, raw: bytes, context: grpc.aio.ServicerContext[bytes, bytes]
    ) -> pb.ModelInferResponse:
        async def read() -> bytes:
            return raw

        async def gone() -> bool:
            return context.cancelled()

        _, response, _ = await self.plane.infer(
            request.model_name, request.model_version or None, read, lambda _: codec.decode_infer(request), gone
        )
        return codec.encode_infer(response)

    async def model_stream_infer(
        self, requests: AsyncIterator[bytes], context: grpc.aio.ServicerContext[bytes, bytes]
    ) -> AsyncIterator[pb.ModelStreamInferResponse]:
        """One request at a time, answered in order (what a sequence needs). A request that fails
        gets ``error_message`` (with its id) and the stream goes on, as Triton's does."""
        route = f"/{SERVICE}/ModelStreamInfer"
        async for raw in requests:
            try:
                response = await self._handle(route, pb.ModelInferRequest, self.model_infer, raw, context)
            except ServiceError as err:
                failed = pb.ModelInferResponse(id=_request_id(raw))
                yield pb.ModelStreamInferResponse(error_message=err.message, infer_response=failed)
            else:
                assert isinstance(response, pb.ModelInferResponse)
                yield pb.ModelStreamInferResponse(infer_response=response)


def _request_id(raw: bytes) -> str:
    """The id of a stream request that failed, so the client can match the error (empty when
    the bytes were no request at all)."""
    try:
        return pb.ModelInferRequest.FromString(raw).id
    except DecodeError:
        return ""
