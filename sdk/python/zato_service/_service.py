"""What a service author sees: `Service`, the request it is given, the `Response` it may
return, and the handles through which it reaches the cluster (the WIT `host` interface).

Every value crossing to the host is JSON text in the contract; here it is plain Python
(dicts, lists, numbers...), converted on the way in and out, so a service never handles
JSON text or WIT records.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Dict, Iterable, List, Optional

from ._wit import Pairs, bindings, body_value, call_host, dumps, loads, to_pairs


class Request:
    """One request, whatever channel it came through. The list-of-pairs fields of the WIT
    record are dicts here (the last value wins for a repeated name).

    A plain class with slots rather than a frozen dataclass: one is built for every call, and
    a frozen dataclass's `__init__` costs several times more."""

    __slots__ = ("cid", "channel", "channel_name", "payload", "headers", "path_params", "query", "meta")

    cid: str
    """The correlation id, carried by the host to every service this one invokes."""
    channel: str
    """The channel's kind: `http`, `amqp`, `zmq`, `scheduler`, `invoke_async`, `internal`..."""
    channel_name: Optional[str]
    payload: Any
    """The parsed JSON payload (a `str` holding the body for `raw` channels)."""
    headers: Dict[str, str]
    """HTTP headers, names in lower case (empty for other channels)."""
    path_params: Dict[str, str]
    query: Dict[str, str]
    meta: Dict[str, Any]
    """Whatever else the channel knows (a job's instant, AMQP properties)."""

    def __init__(
        self,
        cid: str,
        channel: str,
        channel_name: Optional[str],
        payload: Any,
        headers: Optional[Dict[str, str]] = None,
        path_params: Optional[Dict[str, str]] = None,
        query: Optional[Dict[str, str]] = None,
        meta: Optional[Dict[str, Any]] = None,
    ) -> None:
        self.cid = cid
        self.channel = channel
        self.channel_name = channel_name
        self.payload = payload
        self.headers = headers if headers is not None else {}
        self.path_params = path_params if path_params is not None else {}
        self.query = query if query is not None else {}
        self.meta = meta if meta is not None else {}

    def __repr__(self) -> str:
        return f"Request(cid={self.cid!r}, channel={self.channel!r}, payload={self.payload!r})"


class Response:
    """Full control over the answer. `handle` may also return a plain value: a `str` is
    answered as text, anything else as JSON, both with status 200.

    `body`: a `str` is sent as it is (with `content_type`, `text/plain` by default); any other
    value is sent as JSON. `status` matters for HTTP channels only."""

    def __init__(
        self,
        body: Any = None,
        status: int = 200,
        headers: Pairs = None,
        content_type: Optional[str] = None,
    ) -> None:
        self.body = body
        self.status = status
        self.headers = to_pairs(headers)
        self.content_type = content_type

    def __repr__(self) -> str:
        return f"Response({self.body!r}, status={self.status})"


@dataclass(frozen=True)
class RestResponse:
    """What an outgoing REST connection answered, whatever its status."""

    status: int
    headers: Dict[str, str]
    """Names in lower case."""
    body: Any
    """The parsed JSON when the upstream answered JSON, otherwise its text as a `str`."""


class RestConnection:
    """The outgoing REST connection called `name`. `params` is a dict that fills the
    path's `{param}` segments, the rest going to the query string; `body` is sent in the
    connection's data format (None: no body); `headers` are added to the connection's."""

    def __init__(self, name: str) -> None:
        self.name = name

    def call(
        self,
        method: Optional[str],
        params: Optional[Dict[str, Any]] = None,
        body: Any = None,
        headers: Pairs = None,
    ) -> RestResponse:
        """Calls the connection with `method` (None: the connection's own method)."""
        request = bindings().host.RestRequest(
            method=method.upper() if method else None,
            params=dumps(params if params is not None else {}),
            headers=to_pairs(headers),
            body=None if body is None else dumps(body),
        )
        answer = call_host("rest_call", self.name, request)
        return RestResponse(answer.status, dict(answer.headers), loads(answer.body))

    def get(self, params: Optional[Dict[str, Any]] = None, *, headers: Pairs = None) -> RestResponse:
        return self.call("GET", params, None, headers)

    def delete(self, params: Optional[Dict[str, Any]] = None, *, headers: Pairs = None) -> RestResponse:
        return self.call("DELETE", params, None, headers)

    def post(self, params: Optional[Dict[str, Any]] = None, body: Any = None, *, headers: Pairs = None) -> RestResponse:
        return self.call("POST", params, body, headers)

    def put(self, params: Optional[Dict[str, Any]] = None, body: Any = None, *, headers: Pairs = None) -> RestResponse:
        return self.call("PUT", params, body, headers)

    def patch(self, params: Optional[Dict[str, Any]] = None, body: Any = None, *, headers: Pairs = None) -> RestResponse:
        return self.call("PATCH", params, body, headers)


class SqlConnection:
    """The outgoing SQL connection called `name`. `params` are bound to `$1`, `$2`...
    (PostgreSQL) or `?` (MySQL/MariaDB) by the server's driver, never spliced into text."""

    def __init__(self, name: str) -> None:
        self.name = name

    def query(self, statement: str, params: Iterable[Any] = ()) -> List[Dict[str, Any]]:
        """The rows, each a dict of column name to value."""
        rows = loads(call_host("sql_query", self.name, statement, dumps(list(params))))
        return rows if rows is not None else []

    def execute(self, statement: str, params: Iterable[Any] = ()) -> int:
        """The number of rows the statement affected."""
        return int(call_host("sql_execute", self.name, statement, dumps(list(params))))


class AmqpConnection:
    """The outgoing AMQP connection called `name`."""

    def __init__(self, name: str) -> None:
        self.name = name

    def publish(self, body: Any, routing_key: Optional[str] = None, headers: Pairs = None) -> None:
        """Publishes `body` (a `str` is sent as its text, anything else as JSON); returns
        once RabbitMQ confirmed it."""
        call_host("amqp_publish", self.name, dumps(body), routing_key, to_pairs(headers))


class ZmqConnection:
    """The outgoing ZeroMQ connection called `name`."""

    def __init__(self, name: str) -> None:
        self.name = name

    def send(self, body: Any) -> None:
        """Sends `body` (a `str` as its text, anything else as JSON)."""
        call_host("zmq_send", self.name, dumps(body))


class KV:
    """The service's own keys in Redis: shared by every server and every version of this
    service, and by no other service. Values are strings; store JSON for anything else."""

    def get(self, key: str) -> Optional[str]:
        """The value, or None if there is no such key."""
        value: Optional[str] = call_host("kv_get", key)
        return value

    def set(self, key: str, value: str, ttl_ms: Optional[int] = None) -> None:
        """Sets `key`; with `ttl_ms`, it expires after that many milliseconds."""
        if not isinstance(value, str):
            raise TypeError(f"a kv value is a str, not {type(value).__name__}: store json.dumps(value)")
        call_host("kv_set", key, value, None if ttl_ms is None else int(ttl_ms))

    def delete(self, key: str) -> bool:
        """Deletes `key`; whether it existed."""
        return bool(call_host("kv_delete", key))


class Log:
    """The server's log, where each line carries the service's name and the request's cid
    (which `print` to stdout or stderr does not)."""

    def _write(self, level: str, message: Any) -> None:
        host = bindings().host
        host.log(getattr(host.Level, level), str(message))

    def debug(self, message: Any) -> None:
        self._write("DEBUG", message)

    def info(self, message: Any) -> None:
        self._write("INFO", message)

    def warn(self, message: Any) -> None:
        self._write("WARN", message)

    warning = warn
    """The name Python's `logging` uses."""

    def error(self, message: Any) -> None:
        self._write("ERROR", message)


class Service:
    """A service: subclass it, override `handle`, and keep it the only subclass defined in
    its module (that is how the build finds it).

    A new instance serves each request, so attributes set in `handle` never leak into the
    next request; `__init__`, if overridden, takes no arguments. `self.request` is the
    request being served, for helper methods that are not given it.

    Import modules at the top of the service's module, not inside `handle`: only what was
    imported when the component was built can be imported when it runs."""

    kv: ClassVar[KV] = KV()
    log: ClassVar[Log] = Log()
    request: Request

    def handle(self, request: Request) -> Any:
        """Serves `request`. Return a `Response`, a `str` (text, 200) or any JSON value
        (200); raise a `ServiceError` (`NotFound`...) to fail with that kind. Any other
        exception is an `internal` error carrying its traceback."""
        raise NotImplementedError(f"{type(self).__name__} does not override handle")

    def invoke(self, name: str, payload: Any = None) -> Any:
        """Runs the service `name` now, with this request's cid, and returns its response's
        body: parsed JSON, or a `str` for a text one. Its error is raised as the
        `ServiceError` of its kind."""
        return body_value(call_host("invoke", name, dumps(payload)).body)

    def invoke_async(self, name: str, payload: Any = None) -> str:
        """Has some server of the cluster run `name`, at least once; the new request's cid."""
        return str(call_host("invoke_async", name, dumps(payload)))

    def publish(
        self,
        topic: str,
        data: Any,
        attributes: Pairs = None,
        ordering_key: Optional[str] = None,
    ) -> str:
        """Publishes `data` (a `str` as its text, anything else as JSON) to the pub/sub topic
        `topic`, with string `attributes` and an `ordering_key` (messages with one key are
        delivered in order, one at a time); the message id once Redis has it."""
        return str(call_host("publish", topic, dumps(data), to_pairs(attributes), ordering_key))

    def rest(self, name: str) -> RestConnection:
        return RestConnection(name)

    def sql(self, name: str) -> SqlConnection:
        return SqlConnection(name)

    def amqp(self, name: str) -> AmqpConnection:
        return AmqpConnection(name)

    def zmq(self, name: str) -> ZmqConnection:
        return ZmqConnection(name)
