"""The typed errors the service raises on purpose, each with the HTTP status it stands for.

Inside the service, code raises these; the front ends turn them into their protocol's answer in
exactly one place each (:mod:`service.http.errors` for REST). Every error a client can cause
names the request ``field`` and the ``rule`` it broke, so a client can fix the request without
reading our code. Statuses follow Triton's mapping: bad input 400, unknown model 404, not ready
or overloaded 503.
"""

from __future__ import annotations

from typing import Any


class ServiceError(Exception):
    """Base of every error the service raises on purpose; ``status`` is the HTTP status."""

    status = 400

    def __init__(
        self,
        message: str,
        *,
        field: str | None = None,
        rule: str | None = None,
        status: int | None = None,
        details: list[dict[str, Any]] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.rule = rule
        self.details = details
        self.headers: dict[str, str] = {}
        if status is not None:
            self.status = status

    def body(self) -> dict[str, Any]:
        out: dict[str, Any] = {"error": self.message}
        if self.field is not None:
            out["field"] = self.field
        if self.rule is not None:
            out["rule"] = self.rule
        if self.details and len(self.details) > 1:
            out["details"] = self.details
        return out


class BadRequest(ServiceError):
    """Malformed request (bad JSON, bad V2 tensor): Triton answers INVALID_ARG with 400."""

    status = 400


class InvalidInput(ServiceError):
    """Well-formed request whose content breaks a task rule (text too long, bad history): 422."""

    status = 422


class ModelNotFound(ServiceError):
    status = 404


class NotFound(ServiceError):
    """Something other than a model that this server does not have (e.g. the results table)."""

    status = 404


class ModelNotReady(ServiceError):
    status = 503


class PayloadTooLarge(ServiceError):
    status = 413


class UnsupportedMediaType(ServiceError):
    status = 415


class RequestTimeout(ServiceError):
    """The client sent its body too slowly (``body_timeout_s``): 408, and the connection closes."""

    status = 408


class ClientGone(ServiceError):
    """The client disconnected before its answer was ready (nginx's 499: nobody reads this)."""

    status = 499


class Overloaded(ServiceError):
    """A bounded resource is full (batching queue, streaming sessions): 503 at once, with
    ``Retry-After``, rather than buffering without bound."""

    status = 503

    def __init__(self, message: str, *, field: str, rule: str, retry_after_s: int = 1) -> None:
        super().__init__(message, field=field, rule=rule)
        self.headers = {"Retry-After": str(retry_after_s)}


class InternalError(ServiceError):
    """A fault of ours, not the client's: 500 with a stable message; the detail goes to the log."""

    status = 500


def bad_field(exc_type: type[ServiceError], field: str, rule: str) -> ServiceError:
    """An error whose message is ``field: rule``, the form every 4xx uses."""
    return exc_type(f"{field}: {rule}", field=field, rule=rule)
