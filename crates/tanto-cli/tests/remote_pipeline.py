"""A pipeline run through a remote engine (TANTO_HOST): a host directory
uploaded from the client, a secret read from the client's environment, a
service bound to a container, exports back to the client, and a host
service refused. Prints `REMOTE_CASE <json>` lines for tests/remote.rs."""

import json
import sys

import anyio
import dagger


def case(name, **kw):
    print("REMOTE_CASE " + json.dumps({"case": name, **kw}), flush=True)


async def main():
    async with dagger.Connection(dagger.Config(log_output=sys.stderr)) as c:
        src = c.host().directory("src", exclude=["skip/"])
        ctr = (
            c.container()
            .from_("busybox")
            .with_directory("/src", src)
            .with_secret_variable("TOKEN", c.secret("env://REMOTE_TEST_SECRET"))
            .with_exec(["sh", "-c", "cat /src/a.txt /src/sub/b.txt; ls /src; echo ${#TOKEN}; echo made > /src/new.txt"])
        )
        case("upload", stdout=await ctr.stdout())
        await ctr.directory("/src").export("out")
        await ctr.file("/src/new.txt").export("out-file.txt")
        case("export")
        web = (
            c.container()
            .from_("busybox")
            .with_new_file("/www/index.html", "served\n")
            .with_exposed_port(8080)
            .as_service(args=["httpd", "-f", "-p", "8080", "-h", "/www"])
        )
        got = await (
            c.container()
            .from_("busybox")
            .with_service_binding("web", web)
            .with_exec(["wget", "-q", "-O-", "http://web:8080/index.html"])
            .stdout()
        )
        case("service", stdout=got)
        try:
            await c.container().from_("busybox").with_service_binding("h", c.host().service([dagger.PortForward(backend=1, frontend=1)])).with_exec(["true"]).sync()
            case("host-service", error="")
        except dagger.QueryError as e:
            case("host-service", error=str(e))


anyio.run(main)
