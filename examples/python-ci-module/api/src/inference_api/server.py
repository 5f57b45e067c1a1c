"""The HTTP API: POST /predict {"features": [...]} and GET /healthz, on the standard library."""

import json
import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from .model import predict


def make_handler(log=None):
    class Handler(BaseHTTPRequestHandler):
        def _send(self, status: int, body: dict) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            if self.path == "/healthz":
                self._send(200, {"status": "ok"})
            else:
                self._send(404, {"error": "not found"})

        def do_POST(self):
            if self.path != "/predict":
                self._send(404, {"error": "not found"})
                return
            try:
                length = int(self.headers.get("Content-Length", "0"))
                features = json.loads(self.rfile.read(length))["features"]
                result = predict(features)
            except (ValueError, KeyError, TypeError) as e:
                self._send(400, {"error": str(e)})
                return
            if log is not None:
                result["id"] = log.record(features, result["probability"])
            self._send(200, result)

        def log_message(self, format, *args):
            pass

    return Handler


def serve(host: str = "0.0.0.0", port: int = 8080, log=None) -> ThreadingHTTPServer:
    return ThreadingHTTPServer((host, port), make_handler(log))


def main() -> None:
    log = None
    if os.environ.get("DATABASE_URL"):
        from .store import PredictionLog, connect

        log = PredictionLog(connect())
    port = int(os.environ.get("PORT", "8080"))
    print(f"inference-api listening on :{port}", flush=True)
    serve(port=port, log=log).serve_forever()


if __name__ == "__main__":
    main()
