"""Write a Zato service in Python, deployed into the server as a WebAssembly component.

    from zato_service import Service, NotFound

    class Customer(Service):
        def handle(self, request):
            row = self.sql("crm").query("SELECT name FROM customer WHERE id = $1", [request.payload["id"]])
            if not row:
                raise NotFound("no such customer")
            return row[0]

A module deploys exactly one `Service` subclass. The build wraps it with `world_for`, which
gives componentize-py the `WitWorld` class of the WIT world `zato:service/service`; the
service itself never sees WIT records or JSON text, only Python values.

Import what the service needs at the top of its module: componentize-py runs the module at
build time and keeps a snapshot of the interpreter, and a module first imported inside
`handle` is not found at run time (ModuleNotFoundError), the standard library's included.
"""
from ._errors import (
    KINDS,
    BadGateway,
    BadRequest,
    Conflict,
    GatewayTimeout,
    InternalError,
    NotFound,
    ServiceError,
    Unavailable,
)
from ._glue import find_service, world_for
from ._service import (
    KV,
    AmqpConnection,
    Log,
    Request,
    Response,
    RestConnection,
    RestResponse,
    Service,
    SqlConnection,
    ZmqConnection,
)

__version__ = "0.1.0"

__all__ = [
    "KINDS",
    "KV",
    "AmqpConnection",
    "BadGateway",
    "BadRequest",
    "Conflict",
    "GatewayTimeout",
    "InternalError",
    "Log",
    "NotFound",
    "Request",
    "Response",
    "RestConnection",
    "RestResponse",
    "Service",
    "ServiceError",
    "SqlConnection",
    "Unavailable",
    "ZmqConnection",
    "find_service",
    "world_for",
]
