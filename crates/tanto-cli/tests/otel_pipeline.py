"""A Python SDK pipeline traced with OpenTelemetry: the SDK's own span
`sdk-pipeline` (exported by the SDK from the OTEL_* variables) around a
connection to tanto, one exec that prints the TRACEPARENT it sees. The
engine the SDK spawns gets the variables in ENGINE_OTEL_ENV (JSON) on top.
Prints one JSON line: the exec's stdout, the SDK span's ids and how long
closing the connection (the engine's exit) took."""

import json
import os
import sys
import time

import anyio
import dagger
from dagger import dag, telemetry


async def main():
    engine_env = json.loads(os.environ.pop("ENGINE_OTEL_ENV", "{}"))
    # configures the SDK's exporter from the OTEL_* variables as they are now
    tracer = telemetry.get_tracer()
    os.environ.update(engine_env)
    with tracer.start_as_current_span("sdk-pipeline") as span:
        async with dagger.connection(dagger.Config(log_output=sys.stderr)):
            out = await (
                dag.container()
                .from_("busybox")
                .with_exec(["sh", "-c", "echo tp=$TRACEPARENT"])
                .stdout()
            )
            closing = time.monotonic()
        closed = time.monotonic() - closing
        sc = span.get_span_context()
    telemetry.shutdown()
    result = {
        "stdout": out,
        "trace_id": format(sc.trace_id, "032x"),
        "span_id": format(sc.span_id, "016x"),
        "close_seconds": closed,
    }
    print("OTEL_CASE " + json.dumps(result), flush=True)


anyio.run(main)
