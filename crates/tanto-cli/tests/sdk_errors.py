"""Three kinds of failure through the official Python SDK against tanto:
an exec that fails, an image the registry does not have, and a bad
argument. Each must reach the SDK as a distinct, clear error, and the
session must keep serving after each. Prints one JSON line per case."""

import json
import sys

import anyio
import dagger
from dagger import dag


async def case(name, make):
    try:
        await make()
    except dagger.ExecError as e:
        return {"case": name, "kind": "ExecError", "exit_code": e.exit_code, "message": e.message}
    except dagger.QueryError as e:
        return {"case": name, "kind": "QueryError", "message": str(e)}
    return {"case": name, "kind": "ok"}


async def main():
    cfg = dagger.Config(log_output=sys.stderr)
    async with dagger.connection(cfg):
        results = [
            await case(
                "exec",
                lambda: dag.container().from_("busybox").with_exec(["sh", "-c", "echo boom >&2; exit 7"]).sync(),
            ),
            await case("registry", lambda: dag.container().from_("busybox:no-such-tag").sync()),
            await case(
                "argument",
                lambda: dag.container().from_("busybox").with_exposed_port(70000).sync(),
            ),
        ]
        results.append({"case": "still-serving", "kind": "ok", "version": await dag.version()})
    for r in results:
        print("SDK_ERROR_CASE " + json.dumps(r), flush=True)


anyio.run(main)
