"""A pipeline run through a remote engine (TANTO_HOST): a host directory
uploaded from the client, a secret read from the client's environment, a
service bound to a container, exports back to the client, a server and a
unix socket of the client's host reached from containers, and a service's
port tunnelled to the client's host. Prints `REMOTE_CASE <json>`
lines for tests/remote.rs."""

import http.server
import json
import os
import socket
import sys
import threading
import urllib.request

import anyio
import dagger


def case(name, **kw):
    print("REMOTE_CASE " + json.dumps({"case": name, **kw}), flush=True)


class Hello(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = b"from the client\n"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


async def main():
    global http_port
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hello)
    http_port = server.server_address[1]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    sock = socket.socket(socket.AF_UNIX)
    if os.path.exists("app.sock"):
        os.unlink("app.sock")
    sock.bind("app.sock")
    sock.listen()
    async with dagger.Connection(dagger.Config(log_output=sys.stderr)) as c:
        src = c.host().directory("src", exclude=["skip/"])
        ctr = (
            c.container()
            .from_("busybox")
            .with_directory("/src", src)
            .with_secret_variable("TOKEN", c.secret("env://REMOTE_TEST_SECRET"))
            .with_exec(["sh", "-c", "cat /src/a.txt /src/sub/b.txt; ls /src; echo ${#TOKEN}; echo made > /src/new.txt; echo wh > /src/.wh.kept"])
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
        # a server on the client's host, reached from a container (Host.service)
        got = await (
            c.container()
            .from_("busybox")
            .with_service_binding("client", c.host().service([dagger.PortForward(backend=http_port, frontend=8080)]))
            .with_exec(["wget", "-q", "-O-", "http://client:8080/"])
            .stdout()
        )
        case("host-service", stdout=got)
        # a unix socket of the client's host, in a container
        got = await (
            c.container()
            .from_("busybox")
            .with_unix_socket("/run/app.sock", c.host().unix_socket("app.sock"))
            .with_exec(["sh", "-c", "test -S /run/app.sock && echo socket"])
            .stdout()
        )
        case("unix-socket", stdout=got)
        # a service's port on the client's host (Host.tunnel)
        tunnel = await c.host().tunnel(web).start()
        endpoint = await tunnel.endpoint(scheme="http")
        body = await anyio.to_thread.run_sync(lambda: urllib.request.urlopen(endpoint + "/index.html", timeout=30).read())
        case("tunnel", endpoint=endpoint, body=body.decode())
        await tunnel.stop()


anyio.run(main)
