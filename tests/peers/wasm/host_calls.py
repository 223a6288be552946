"""A guest service for the WebAssembly tests: makes every host call its payload asks for.

Each key present triggers that call, answered under the same key; absent keys are skipped.
A value that is a str names the service or connection; a dict gives more:

    {"invoke": "zato.echo"}                  or {"invoke": {"service": ..., "payload": ...}}
        -> the invoked service's response body (parsed JSON, or text)
    {"invoke_async": "zato.ping"}            or {"invoke_async": {"service": ..., "payload": ...}}
        -> the new request's cid
    {"rest": "conn"}                         or {"rest": {"connection": ..., "method": "POST",
                                                  "params": {...}, "body": ..., "headers": {...}}}
        -> {"status": ..., "body": ...} (a GET without a body by default)
    {"sql": "conn"}                          or {"sql": {"connection": ..., "statement": ...,
                                                  "params": [...]}}
        -> the rows of `SELECT 1 AS one` by default (valid on PostgreSQL and MariaDB)
    {"sql_execute": {"connection": ..., "statement": ..., "params": [...]}}
        -> the number of rows affected
    {"amqp": "conn"}                         or {"amqp": {"connection": ..., "body": ...,
                                                  "routing_key": ..., "headers": {...}}}
        -> {"ok": true} (the default body: {"cid": <cid>, "from": "host_calls"})
    {"zmq": "conn"}                          or {"zmq": {"connection": ..., "body": ...}}
        -> {"ok": true} (same default body)
    {"publish": {"topic": ..., "data": ..., "attributes": {...}, "ordering_key": ...}}
        -> {"id": <the message id>}
    {"kv": true}                             or {"kv": "key"} (default key "host_calls")
        -> sets the key to the cid (60 s TTL), reads it back, deletes it:
           {"value": <read value>, "deleted": <whether it existed>}

A host error for one call is answered under its key as {"error": kind, "message": ...}, and
the other calls still run. One info line is always logged. The answer also has "cid".
"""
from zato_service import Service, ServiceError


def _spec(value, name_key):
    """A str value as {name_key: value}; a dict as it is."""
    return {name_key: value} if isinstance(value, str) else dict(value)


class HostCalls(Service):
    """Exercises every host import, as the payload asks."""

    def handle(self, request):
        payload = request.payload or {}
        cid = request.cid
        default_body = {"cid": cid, "from": "host_calls"}
        self.log.info(f"host_calls: {', '.join(sorted(payload))}")

        calls = {
            "invoke": lambda v: self._invoke(_spec(v, "service")),
            "invoke_async": lambda v: self._invoke_async(_spec(v, "service")),
            "rest": lambda v: self._rest(_spec(v, "connection")),
            "sql": lambda v: self._sql(_spec(v, "connection")),
            "sql_execute": lambda v: self._sql_execute(_spec(v, "connection")),
            "amqp": lambda v: self._amqp(_spec(v, "connection"), default_body),
            "zmq": lambda v: self._zmq(_spec(v, "connection"), default_body),
            "publish": lambda v: self._publish(dict(v)),
            "kv": lambda v: self._kv(v if isinstance(v, str) else "host_calls", cid),
        }
        answer = {"cid": cid}
        for key, call in calls.items():
            if key not in payload:
                continue
            try:
                answer[key] = call(payload[key])
            except ServiceError as error:
                answer[key] = {"error": error.kind, "message": error.message}
        return answer

    def _invoke(self, spec):
        return self.invoke(spec["service"], spec.get("payload"))

    def _invoke_async(self, spec):
        return self.invoke_async(spec["service"], spec.get("payload"))

    def _rest(self, spec):
        response = self.rest(spec["connection"]).call(
            spec.get("method", "GET"),
            params=spec.get("params"),
            body=spec.get("body"),
            headers=spec.get("headers"),
        )
        return {"status": response.status, "body": response.body}

    def _sql(self, spec):
        conn = self.sql(spec["connection"])
        return conn.query(spec.get("statement", "SELECT 1 AS one"), spec.get("params", []))

    def _sql_execute(self, spec):
        return self.sql(spec["connection"]).execute(spec["statement"], spec.get("params", []))

    def _amqp(self, spec, default_body):
        self.amqp(spec["connection"]).publish(
            spec.get("body", default_body),
            routing_key=spec.get("routing_key"),
            headers=spec.get("headers"),
        )
        return {"ok": True}

    def _zmq(self, spec, default_body):
        self.zmq(spec["connection"]).send(spec.get("body", default_body))
        return {"ok": True}

    def _publish(self, spec):
        message_id = self.publish(
            spec["topic"],
            spec.get("data"),
            attributes=spec.get("attributes"),
            ordering_key=spec.get("ordering_key"),
        )
        return {"id": message_id}

    def _kv(self, key, cid):
        self.kv.set(key, cid, ttl_ms=60000)
        value = self.kv.get(key)
        deleted = self.kv.delete(key)
        return {"value": value, "deleted": deleted}
