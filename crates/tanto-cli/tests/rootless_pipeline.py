"""Pipelines of crates/tanto-cli/tests/rootless.rs, run by `tanto run -- python
rootless_pipeline.py CASE [ARGS]` as a normal user: tanto runs rootless, and
this script runs as that user on the host (not in tanto's user namespace).

Prints one line `ROOTLESS_CASE {json}` with what the test checks: always this
process's uid and gid, and what the case's pipeline gave. An error of the
pipeline is printed in that line (`error`), not raised, so the test sees it.
"""

import asyncio
import json
import os
import sys

import dagger
from dagger import dag

BUSYBOX = "busybox:1.36"


def busybox() -> dagger.Container:
    return dag.container().from_(BUSYBOX)


async def exec_case(args: list[str]) -> dict:
    out = await busybox().with_exec(["sh", "-c", "echo hello from $(id -u) in a container"]).stdout()
    return {"stdout": out}


async def export_case(args: list[str]) -> dict:
    """args: a host directory with the user's files, and where to export."""
    src, dest = args
    uploaded = dag.host().directory(src)
    listing = await (
        busybox()
        .with_directory("/src", uploaded)
        .with_exec(["sh", "-c", "cat /src/a.txt /src/sub/b.txt"])
        .stdout()
    )
    made = busybox().with_exec(["sh", "-c", "mkdir -p /out/d && echo made > /out/f.txt && echo deep > /out/d/g.txt"])
    await made.directory("/out").export(os.path.join(dest, "dir"))
    await made.file("/out/f.txt").export(os.path.join(dest, "file.txt"))
    return {"listing": listing}


async def services_case(args: list[str]) -> dict:
    """args: the port of an HTTP server of the test on the host's 127.0.0.1."""
    (port,) = args
    web = (
        busybox()
        .with_new_file("/srv/index.html", "hello-svc")
        .with_exposed_port(8080)
        .as_service(args=["httpd", "-f", "-p", "8080", "-h", "/srv"])
    )
    bound = await (
        busybox().with_service_binding("web", web).with_exec(["wget", "-qO-", "http://web:8080/index.html"]).stdout()
    )
    host_svc = dag.host().service([dagger.PortForward(backend=int(port), frontend=int(port))])
    tunneled = await (
        busybox()
        .with_service_binding("hostsvc", host_svc)
        .with_exec(["wget", "-qO-", f"http://hostsvc:{port}/"])
        .stdout()
    )
    return {"bound": bound, "tunneled": tunneled}


async def chown_case(args: list[str]) -> dict:
    out = await (
        busybox()
        .with_exec(["sh", "-c", "echo x > /x && chown 1000:1000 /x"])
        .with_exec(["stat", "-c", "%u:%g", "/x"])
        .stdout()
    )
    return {"stdout": out}


async def user_case(args: list[str]) -> dict:
    """Runs as `nobody` (an ID other than root's): needs a full ID map."""
    out = await busybox().with_user("nobody").with_exec(["id", "-u"]).stdout()
    return {"stdout": out}


CASES = {
    "exec": exec_case,
    "export": export_case,
    "services": services_case,
    "chown": chown_case,
    "user": user_case,
}


async def main() -> None:
    case, args = sys.argv[1], sys.argv[2:]
    result: dict = {"uid": os.getuid(), "gid": os.getgid()}
    async with dagger.connection(dagger.Config(log_output=sys.stderr)):
        try:
            result.update(await CASES[case](args))
        except dagger.ExecError as e:
            result["error"] = f"exit {e.exit_code}: {e.stderr}"
        except dagger.QueryError as e:
            result["error"] = str(e)
    print("ROOTLESS_CASE " + json.dumps(result), flush=True)


if __name__ == "__main__":
    asyncio.run(main())
