"""Runs tanto's own image as the Kubernetes manifest says — its image,
command, env, privileged, state and run volumes, port — as a service of a
tanto engine, then through a tunnel to this host: GETs its probe path over
HTTPS, and runs a pipeline through it with a thin client (`tanto query`,
TANTO_HOST). Reads the spec (JSON) from argv[1]; prints `DOGFOOD_CASE <json>`."""

import json
import os
import ssl
import subprocess
import sys
import urllib.request
import uuid

import anyio
import dagger


def case(name, **kw):
    print("DOGFOOD_CASE " + json.dumps({"case": name, **kw}), flush=True)


async def main():
    spec = json.load(open(sys.argv[1]))
    async with dagger.Connection(dagger.Config(log_output=sys.stderr)) as c:
        ctr = c.container().from_(spec["image"])
        for k, v in spec["env"].items():
            ctr = ctr.with_env_variable(k, v)
        for path, text in spec["files"].items():
            ctr = ctr.with_new_file(path, text, permissions=0o400)
        ctr = (
            ctr.with_mounted_cache(spec["state_dir"], c.cache_volume("dogfood-state-" + uuid.uuid4().hex))
            .with_mounted_temp(spec["run_dir"])
            .with_service_binding("registry", c.host().service([dagger.PortForward(backend=spec["registry_port"], frontend=5000)]))
            .with_exposed_port(spec["port"])
        )
        svc = ctr.as_service(args=spec["command"], use_entrypoint=False, insecure_root_capabilities=spec["privileged"])
        tunnel = await c.host().tunnel(svc).start()
        endpoint = await tunnel.endpoint()
        port = int(endpoint.rsplit(":", 1)[1])
        ctx = ssl.create_default_context(cafile=spec["ca"])
        ctx.check_hostname = False
        for _ in range(100):
            try:
                with urllib.request.urlopen(f"https://127.0.0.1:{port}{spec['probe_path']}", context=ctx, timeout=5) as r:
                    case("probe", status=r.status, body=r.read().decode())
                    break
            except Exception as e:  # not listening yet
                last = str(e)
                await anyio.sleep(0.2)
        else:
            case("probe", status=0, body=last)
        env = dict(os.environ)
        env.update({"TANTO_HOST": f"tcp://127.0.0.1:{port}", "TANTO_TLS_CA": spec["ca"],
                    "TANTO_TLS_SERVER_NAME": "localhost", "TANTO_TOKEN": spec["token"]})
        for k in ("DAGGER_SESSION_PORT", "DAGGER_SESSION_TOKEN"):
            env.pop(k, None)
        q = '{ container { from(address: "busybox") { withExec(args: ["sh", "-c", "echo inner $(uname -s)"]) { stdout } } } }'
        r = subprocess.run([spec["tanto"], "query"], input=q.encode(), env=env, capture_output=True, timeout=300)
        case("client", code=r.returncode, stdout=r.stdout.decode(), stderr=r.stderr.decode()[-3000:])
        await tunnel.stop()


anyio.run(main)
