"""``DirectRoute``: a FastAPI route that is documented like any other but called directly.

Why: for every request FastAPI's own handler solves the endpoint's dependencies, validates its
parameters and prepares response-model handling. The hot prediction routes read their body
themselves and already return a finished ``Response``, so that per-request work buys nothing
there. A ``DirectRoute`` keeps everything FastAPI derives from the endpoint's signature
(OpenAPI schema, path matching, error handlers) and replaces only the per-request call: the
endpoint gets the ``Request``, its path parameters, and its optional string query parameters,
all as strings, exactly as FastAPI would pass them for ``str`` annotations.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request
from fastapi.responses import Response
from fastapi.routing import APIRoute


def _is_optional_str(hint: Any) -> bool:
    return hint is str or (str in typing.get_args(hint) and all(a in (str, type(None)) for a in typing.get_args(hint)))


class DirectRoute(APIRoute):
    """An :class:`APIRoute` for ``async def endpoint(<str params>, request: Request) -> Response``.

    Refused at start-up (``TypeError``) when the endpoint takes anything a direct call cannot
    supply faithfully: a body model, a dependency, or a non-string parameter.
    """

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        endpoint = self.endpoint
        hints = typing.get_type_hints(endpoint)
        in_path = {p.name for p in self.dependant.path_params}
        params = [p for p in inspect.signature(endpoint).parameters.values() if p.name != "request"]
        bad = [
            p.name
            for p in params
            if not _is_optional_str(hints.get(p.name))
            or (p.name not in in_path and p.default is inspect.Parameter.empty)
        ]
        if not inspect.iscoroutinefunction(endpoint) or bad or self.dependant.dependencies:
            raise TypeError(
                f"{self.path}: a DirectRoute endpoint must be async and take only the request and "
                f"str path or optional str query parameters; not {bad}"
            )
        path_names = [p.name for p in params if p.name in in_path]
        query = [(p.name, p.default) for p in params if p.name not in in_path]

        async def handler(request: Request) -> Response:
            kwargs = {name: request.path_params[name] for name in path_names}
            if query:
                kwargs.update({name: request.query_params.get(name, default) for name, default in query})
            response: Response = await endpoint(request=request, **kwargs)
            return response

        return handler
