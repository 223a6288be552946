"""The one place that touches the bindings componentize-py generates for the WIT world.

`wit_world` and `componentize_py_types` exist only while componentize-py builds (and then
inside) a component, so they are imported on first use rather than when `zato_service` is
imported: the SDK can then be imported, documented and unit-tested by a plain Python with
stand-in modules on its path. `world_for` imports them at build time, which componentize-py
snapshots, so a request never pays for the import.
"""
from __future__ import annotations

import json
from types import ModuleType
from typing import Any, Iterable, List, Mapping, NamedTuple, Optional, Tuple, Type, Union

from ._errors import ServiceError, error_for


class Bindings(NamedTuple):
    host: ModuleType
    types: ModuleType
    Err: Type[BaseException]


_bindings: Optional[Bindings] = None


def bindings() -> Bindings:
    """The generated modules, imported once."""
    global _bindings
    if _bindings is None:
        from componentize_py_types import Err
        from wit_world.imports import host, types

        _bindings = Bindings(host, types, Err)
    return _bindings


def call_host(name: str, *args: Any) -> Any:
    """Calls the host import `name`, turning its `Err(error)` into the `ServiceError`
    subclass of that kind, so a service catches `NotFound` rather than a generic `Err` whose
    value it would have to pick apart."""
    b = bindings()
    try:
        return getattr(b.host, name)(*args)
    except b.Err as err:
        raise error_from_wit(err.value) from None  # type: ignore[attr-defined]


def error_from_wit(error: Any) -> ServiceError:
    """A WIT `error` record as the exception of its kind (`ErrorKind.NOT_FOUND` -> `NotFound`)."""
    return error_for(error.kind.name, error.message)


def error_to_wit(error: ServiceError) -> Any:
    """A `ServiceError` as the WIT `error` record that `handle` returns in its `Err`."""
    types = bindings().types
    return types.Error(types.ErrorKind[error.kind.upper().replace("-", "_")], error.message)


# One encoder for every call: `json.dumps` with any non-default argument builds a new one
# each time, which costs more than encoding a small payload.
_encoder = json.JSONEncoder(separators=(",", ":"), allow_nan=False)


def dumps(value: Any) -> str:
    """JSON text for the host. NaN and infinities are refused here, where the traceback points
    at the service, since they are not JSON and the host would reject them less clearly."""
    return _encoder.encode(value)


def loads(text: str) -> Any:
    """Parsed JSON from the host; an empty text (nothing was sent) is None."""
    return json.loads(text) if text else None


def body_value(body: Any) -> Any:
    """A WIT `body` variant as Python: `json` parsed, `text` as the `str` it is."""
    if isinstance(body, bindings().types.Body_Json):
        return loads(body.value)
    return body.value


Pairs = Union[Mapping[str, Any], Iterable[Tuple[str, Any]], None]


def to_pairs(items: Pairs) -> List[Tuple[str, str]]:
    """Headers given as a dict or as pairs, as the WIT `list<tuple<string, string>>`."""
    if items is None:
        return []
    if isinstance(items, Mapping):
        items = items.items()
    return [(str(name), str(value)) for name, value in items]
