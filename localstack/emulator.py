"""The local AWS emulator: moto's server, with DynamoDB requests taken one at a time.

moto serves requests on threads, but its DynamoDB backend is not thread-safe:
TransactWriteItems deep-copies whole tables for rollback, and concurrent writes make
that copy fail (HTTP 500) or a rollback overwrite another request's write. Real
DynamoDB has no such problem, so the local stand-in serializes DynamoDB calls; SQS long
polls and the other services stay concurrent.

Usage: emulator.py HOST PORT
"""

import os
import signal
import sys
import threading

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import run_simple


def main() -> None:
    host, port = sys.argv[1], int(sys.argv[2])
    os.environ.setdefault("MOTO_PORT", str(port))
    app = DomainDispatcherApplication(create_backend_app)
    dynamodb = threading.Lock()

    def serialized_dynamodb(environ, start_response):
        if environ.get("HTTP_X_AMZ_TARGET", "").startswith("DynamoDB_"):
            with dynamodb:
                return list(app(environ, start_response))
        return app(environ, start_response)

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    run_simple(host, port, serialized_dynamodb, threaded=True, request_handler=MotoRequestHandler)


if __name__ == "__main__":
    main()
