"""From a user's module to the `WitWorld` class componentize-py exports.

componentize-py calls `WitWorld().handle(request)` with WIT records and expects a WIT
`response` back, or `Err(error)` raised. The glue keeps all of that out of the service:
it converts the request, runs a fresh instance of the service, converts what it returned,
and turns every exception into the WIT error, so no exception ever escapes to
componentize-py, whose runtime prints it and aborts: the call traps and the instance is lost,
where the caller should have had an error it can read.
"""
from __future__ import annotations

import sys
import traceback
from types import ModuleType
from typing import Any, List, Type

from ._errors import BadRequest, ServiceError
from ._service import Request, Response, Service
from ._wit import bindings, dumps, error_to_wit, loads


def find_service(module: ModuleType) -> Type[Service]:
    """The one `Service` subclass defined in `module` (not imported into it). A base class
    that another candidate derives from does not count, so a module may keep its own
    abstract base next to the service."""
    found: List[Type[Service]] = []
    for value in vars(module).values():
        if (
            isinstance(value, type)
            and issubclass(value, Service)
            and value is not Service
            and value.__module__ == module.__name__
            and value not in found
        ):
            found.append(value)
    leaves = [c for c in found if not any(o is not c and issubclass(o, c) for o in found)]
    if not leaves:
        raise TypeError(
            f"module {module.__name__!r} defines no subclass of zato_service.Service: "
            "define one (class MyService(Service): def handle(self, request): ...)"
        )
    if len(leaves) > 1:
        names = ", ".join(sorted(c.__name__ for c in leaves))
        raise TypeError(
            f"module {module.__name__!r} defines several services ({names}); a module "
            "deploys one: move the others to modules of their own"
        )
    service_class = leaves[0]
    if service_class.handle is Service.handle:
        raise TypeError(f"{module.__name__}.{service_class.__name__} does not override handle(self, request)")
    return service_class


def world_for(module: ModuleType) -> type:
    """The `WitWorld` class to export for the service defined in `module`. Called at build
    time: a module without exactly one service fails the build, not the first request."""
    service_class = find_service(module)
    # Imported now, at build time, which componentize-py snapshots: not on the first request.
    bindings()

    class WitWorld:
        def handle(self, request: Any) -> Any:
            return serve(service_class, request)

    WitWorld.__doc__ = f"The WIT world `service`, served by {module.__name__}.{service_class.__name__}."
    return WitWorld


def serve(service_class: Type[Service], wit_request: Any) -> Any:
    """Runs one request: the WIT `response`, or `Err(error)` raised."""
    b = bindings()
    try:
        request = to_request(wit_request)
        service = service_class()
        service.request = request
        return to_response(service.handle(request))
    except b.Err:
        raise  # already the WIT error: a service that raised it itself
    except ServiceError as error:
        raise b.Err(error_to_wit(error)) from None
    except BaseException as error:  # SystemExit too: a service must answer, not end the instance
        raise b.Err(b.types.Error(b.types.ErrorKind.INTERNAL, describe(error))) from None


def describe(error: BaseException) -> str:
    """`Type: message` and the traceback, for the server's log (the caller is told only
    "internal error"); also written to stderr.

    The frames' locals are cleared first: when the error is a MemoryError, they hold what
    filled the memory, and formatting needs some of it back."""
    tb = error.__traceback__.tb_next if error.__traceback__ else None  # from the service's frame on
    traceback.clear_frames(tb)
    summary = f"{type(error).__name__}: {error}"
    try:
        text = "".join(traceback.format_exception(type(error), error, tb))
    except BaseException:
        return summary
    try:
        sys.stderr.write(text)
    except BaseException:
        pass
    return f"{summary}\n{text}"


def to_request(request: Any) -> Request:
    """The WIT request as the service's. Runs on every call, so what is usually empty
    (path parameters, query, meta) costs nothing when it is."""
    try:
        payload = loads(request.payload)
        meta_text = request.meta
        meta = loads(meta_text) if meta_text and meta_text != "{}" else {}
    except ValueError as error:
        raise BadRequest(f"the payload or meta is not JSON: {error}") from None
    headers, path_params, query = request.headers, request.path_params, request.query
    return Request(
        request.cid,
        request.channel,
        request.channel_name,
        payload,
        dict(headers) if headers else {},
        dict(path_params) if path_params else {},
        dict(query) if query else {},
        meta if isinstance(meta, dict) else {},
    )


def to_response(result: Any) -> Any:
    """What `handle` returned as a WIT `response`: a `str` is text, anything else JSON."""
    types = bindings().types
    if not isinstance(result, Response):
        if isinstance(result, str):
            return types.Response(200, None, [], types.Body_Text(result))
        return types.Response(200, None, [], types.Body_Json(dumps(result)))
    if isinstance(result.body, str):
        body = types.Body_Text(result.body)
    else:
        body = types.Body_Json(dumps(result.body))
    return types.Response(int(result.status), result.content_type, list(result.headers), body)
