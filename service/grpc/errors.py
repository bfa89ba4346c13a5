"""The ONE place that turns an exception into a gRPC status (what :mod:`service.http.errors` is for REST).

The service raises typed errors that carry an HTTP status (:mod:`service.errors`); gRPC clients
get the code Triton's gRPC front end gives the same failure, so ``tritonclient.grpc`` and
perf_analyzer read our errors as they read Triton's. The message is the same ``field: rule`` text
REST sends, so a client can fix the request from either protocol's answer. A fault of ours is
INTERNAL with a stable message; its traceback goes to the log once.
"""

from __future__ import annotations

import logging

import grpc

from service.errors import ClientGone, InternalError, ServiceError

log = logging.getLogger("rnn_serve.grpc")

#: HTTP status of a typed error → the gRPC code Triton answers for it (anything else: INTERNAL)
CODES: dict[int, grpc.StatusCode] = {
    400: grpc.StatusCode.INVALID_ARGUMENT,  # Triton's INVALID_ARG
    422: grpc.StatusCode.INVALID_ARGUMENT,  # a task rule; V2 itself has no separate code for it
    404: grpc.StatusCode.NOT_FOUND,
    413: grpc.StatusCode.RESOURCE_EXHAUSTED,  # as grpc itself answers a message over the size limit
    499: grpc.StatusCode.CANCELLED,
    503: grpc.StatusCode.UNAVAILABLE,  # not ready, or a full queue: the client may retry
}


def as_service_error(exc: BaseException, method: str) -> ServiceError:
    """``exc`` as the typed error it stands for; anything untyped is logged and becomes a 500."""
    if isinstance(exc, ServiceError):
        if isinstance(exc, ClientGone):  # nobody reads this answer: one line, not a traceback
            log.info("%s: %s", method, exc.message)
        return exc
    log.error("unexpected error in %s", method, exc_info=exc)
    return InternalError(f"internal error: {type(exc).__name__}")


def status_of(err: ServiceError) -> grpc.StatusCode:
    return CODES.get(err.status, grpc.StatusCode.INTERNAL)


def trailers_of(err: ServiceError) -> tuple[tuple[str, str], ...]:
    """The error's headers as gRPC trailing metadata (``retry-after`` on 503; lower-case keys,
    as gRPC requires). ``Connection: close`` means nothing to a gRPC stream and is dropped."""
    return tuple((k.lower(), v) for k, v in err.headers.items() if k.lower() != "connection")
