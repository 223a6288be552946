"""A guest service for the WebAssembly tests: misbehaves as the payload's "mode" asks, to
check that the host contains it.

    loop       spins forever (the host must stop it: fuel or epoch deadline)
    alloc      allocates 16 MiB bytearrays forever (the host's memory limit must stop it)
    raise      raises ValueError("boom") (an internal error with its traceback)
    file       tries to read /etc/passwd; answers {"error": type or None, "message": ...}
    socket     tries to connect to 127.0.0.1:6379; answers the same way
    not_found  raises NotFound("nothing here") (the not-found kind)
    print      prints a line to stdout and one to stderr; answers {"printed": true}
"""
import sys

from zato_service import BadRequest, NotFound, Service

# Imported here, at build time: a component can import at run time only what was imported
# when it was built. `encodings.idna` is what `create_connection` needs to encode a host name.
try:
    import encodings.idna  # noqa: F401
    import socket
except ImportError as error:  # a Python without sockets: that is an answer too
    socket = None
    SOCKET_IMPORT_ERROR = error


def _attempt(action):
    """What happened when `action` ran: the exception's type and message, or what it gave."""
    try:
        result = action()
    except BaseException as error:  # any failure is the answer, not an error of this service
        return {"error": type(error).__name__, "message": str(error)}
    return {"error": None, "message": None, "result": result}


def _read_file():
    with open("/etc/passwd") as file:
        return {"chars": len(file.read())}


def _connect():
    if socket is None:
        raise SOCKET_IMPORT_ERROR
    connection = socket.create_connection(("127.0.0.1", 6379), timeout=1)
    connection.close()
    return {"connected": True}


class Misbehave(Service):
    """Misbehaves as asked."""

    def handle(self, request):
        mode = (request.payload or {}).get("mode")
        if mode == "loop":
            while True:
                pass
        if mode == "alloc":
            chunks = []
            while True:
                chunks.append(bytearray(16 * 1024 * 1024))
        if mode == "raise":
            raise ValueError("boom")
        if mode == "file":
            return _attempt(_read_file)
        if mode == "socket":
            return _attempt(_connect)
        if mode == "not_found":
            raise NotFound("nothing here")
        if mode == "print":
            print("misbehave: a line on stdout")
            print("misbehave: a line on stderr", file=sys.stderr)
            return {"printed": True}
        raise BadRequest(f"unknown mode {mode!r}")
