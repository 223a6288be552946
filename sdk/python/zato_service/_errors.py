"""The errors a service raises and catches.

The WIT contract has one error record, `error { kind, message }`, whose kind sets the HTTP
status a caller gets. Here each kind is also an exception class, so that a service can both
raise `NotFound("no such customer")` and catch `NotFound` from a service it invoked: the
same class works in both directions, and the glue converts it to and from the WIT record.
"""
from __future__ import annotations

from typing import Dict, Type

# The kinds of the WIT enum `error-kind`, spelt as the WIT spells them.
KINDS = (
    "bad-request",
    "not-found",
    "conflict",
    "unavailable",
    "bad-gateway",
    "gateway-timeout",
    "internal",
)


def normalize_kind(kind: str) -> str:
    """`not_found`, `NOT_FOUND` and `not-found` all mean `not-found`: Python programmers
    reach for underscores, the WIT file has hyphens, and a typo should fail loudly here
    rather than as a mysterious 500 later."""
    normalized = kind.strip().lower().replace("_", "-")
    if normalized not in KINDS:
        raise ValueError(f"unknown error kind {kind!r}; one of: {', '.join(KINDS)}")
    return normalized


class ServiceError(Exception):
    """A failure with a kind that the caller is told about (`bad-request` is a 400,
    `not-found` a 404...). Raising it from `handle` answers the WIT `error` record; the
    message of an `internal` one is logged by the server, and its caller is told only
    "internal error"."""

    kind: str = "internal"

    def __init__(self, message: str, kind: str | None = None) -> None:
        super().__init__(message)
        self.message = str(message)
        if kind is not None:
            self.kind = normalize_kind(kind)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r}, kind={self.kind!r})"


class BadRequest(ServiceError):
    """400: the request is wrong."""

    kind = "bad-request"


class NotFound(ServiceError):
    """404: what the request names does not exist."""

    kind = "not-found"


class Conflict(ServiceError):
    """409: the request conflicts with the current state."""

    kind = "conflict"


class Unavailable(ServiceError):
    """503: something needed is down; try again later."""

    kind = "unavailable"


class BadGateway(ServiceError):
    """502: a system beyond the cluster refused or failed."""

    kind = "bad-gateway"


class GatewayTimeout(ServiceError):
    """504: a system beyond the cluster did not answer in time."""

    kind = "gateway-timeout"


class InternalError(ServiceError):
    """500: a bug. What an `internal` error from the host becomes, so that every kind has
    its own class to catch."""

    kind = "internal"


_BY_KIND: Dict[str, Type[ServiceError]] = {
    cls.kind: cls
    for cls in (BadRequest, NotFound, Conflict, Unavailable, BadGateway, GatewayTimeout, InternalError)
}


def error_for(kind: str, message: str) -> ServiceError:
    """The exception of the class that matches `kind` (`NotFound` for `not-found`...), so
    that `except NotFound` catches what the host or another service reported."""
    kind = normalize_kind(kind)
    return _BY_KIND[kind](message)
