"""A guest service for the WebAssembly tests: answers what it was given.

The tests deploy variants of this file with another `VERSION`, to see which version of a
service answered (hot redeploys, rollbacks).
"""
from zato_service import Service

VERSION = 1


class Echo(Service):
    """Answers the payload, the cid, the channel and VERSION."""

    def handle(self, request):
        return {
            "echo": request.payload,
            "cid": request.cid,
            "channel": request.channel,
            "version": VERSION,
        }
