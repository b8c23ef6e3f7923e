#!/usr/bin/env python3
"""Measures a Lambda binary's cold start through a local stand-in for the Lambda Runtime API.

For each run it starts the binary with `AWS_LAMBDA_RUNTIME_API` pointing at a small HTTP
server that implements the runtime's three calls (next invocation, response, error), hands
it one API Gateway HTTP API (payload 2.0) event for `GET /jobs/stats`, and measures the
time from spawning the process to receiving its response, then the process's peak
resident memory (VmHWM) before stopping it. The binary's AWS calls go wherever the
environment sends them (the local stack's emulator in `scripts/bench.sh`).

Prints the median, minimum and maximum over the runs, the median peak RSS, and the
HTTP status the handler answered; exits non-zero if any run failed to answer 200.

Usage: lambda-cold-start.py BINARY [RUNS]   (RUNS defaults to 10)
"""

import json
import os
import statistics
import subprocess
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PREFIX = "/2018-06-01/runtime"

EVENT = {
    "version": "2.0",
    "routeKey": "GET /jobs/stats",
    "rawPath": "/jobs/stats",
    "rawQueryString": "",
    "headers": {"host": "localhost", "accept": "application/json"},
    "requestContext": {
        "accountId": "000000000000",
        "apiId": "local",
        "domainName": "localhost",
        "domainPrefix": "localhost",
        "http": {
            "method": "GET",
            "path": "/jobs/stats",
            "protocol": "HTTP/1.1",
            "sourceIp": "127.0.0.1",
            "userAgent": "cold-start-bench",
        },
        "requestId": "cold-start",
        "routeKey": "GET /jobs/stats",
        "stage": "$default",
        "time": "01/Jan/2026:00:00:00 +0000",
        "timeEpoch": 0,
    },
    "isBase64Encoded": False,
}


class Runtime:
    """One invocation: the first `next` gets the event, later ones wait until the end."""

    def __init__(self):
        self.lock = threading.Lock()
        self.request_id = str(uuid.uuid4())
        self.handed_out = False
        self.answered = threading.Event()
        self.finished = threading.Event()
        self.answer = None


def handler_for(runtime):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            if self.path != f"{PREFIX}/invocation/next":
                self.send_error(404)
                return
            with runtime.lock:
                first = not runtime.handed_out
                runtime.handed_out = True
                request_id = runtime.request_id
            if not first:
                runtime.finished.wait(60)  # the process is stopped before this returns
                return
            body = json.dumps(EVENT).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Lambda-Runtime-Aws-Request-Id", request_id)
            self.send_header("Lambda-Runtime-Deadline-Ms", str(int(time.time() * 1000) + 30_000))
            self.send_header("Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:local:000000000000:function:bench")
            self.send_header("Lambda-Runtime-Trace-Id", "Root=1-00000000-000000000000000000000000")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self):
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            self.send_response(202)
            self.send_header("Content-Length", "0")
            self.end_headers()
            if self.path.endswith("/response"):
                runtime.answer = ("response", body)
            else:
                runtime.answer = ("error", body)
            runtime.answered.set()

    return Handler


def peak_rss_kib(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def one_run(binary):
    # A runtime of its own per run, so that nothing from the previous process reaches it.
    runtime = Runtime()
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler_for(runtime))
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    address = f"127.0.0.1:{server.server_address[1]}"
    env = dict(os.environ)
    env.update(
        AWS_LAMBDA_RUNTIME_API=address,
        AWS_LAMBDA_FUNCTION_NAME="bench",
        AWS_LAMBDA_FUNCTION_VERSION="$LATEST",
        AWS_LAMBDA_FUNCTION_MEMORY_SIZE="256",
        AWS_LAMBDA_LOG_GROUP_NAME="bench",
        AWS_LAMBDA_LOG_STREAM_NAME="bench",
    )
    started = time.perf_counter()
    process = subprocess.Popen([binary], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        if not runtime.answered.wait(30):
            raise RuntimeError(f"{binary} did not answer within 30 s: {process.stderr.read1(4000)!r}")
        elapsed_ms = (time.perf_counter() - started) * 1000
        rss = peak_rss_kib(process.pid)
    finally:
        process.kill()
        process.wait()
        runtime.finished.set()
        server.shutdown()
        server.server_close()
    kind, body = runtime.answer
    if kind != "response":
        raise RuntimeError(f"{binary} reported an error: {body[:400]!r}")
    status = json.loads(body).get("statusCode")
    return elapsed_ms, rss, status


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    binary = sys.argv[1]
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 10
    results = [one_run(binary) for _ in range(runs)]
    times = [r[0] for r in results]
    rss = [r[1] for r in results]
    statuses = sorted({r[2] for r in results})
    name = os.path.basename(binary)
    print(
        f"{name} cold start (process start → first response, {runs} runs): median {statistics.median(times):.1f} ms,"
        f" min {min(times):.1f} ms, max {max(times):.1f} ms; peak RSS median {statistics.median(rss) / 1024:.1f} MiB;"
        f" answered HTTP {', '.join(map(str, statuses))}"
    )
    if statuses != [200]:
        sys.exit(f"error: {name} answered {statuses}, expected 200")


if __name__ == "__main__":
    main()
