"""A real-world style Python CI pipeline, driven by the official Dagger Python SDK
(dagger-io 0.21.11) against tanto: one session per invocation.

    python slow_pipeline.py --image REF --registry ADDR --project DIR [--changed-requirement REQ]

The pipeline (examples/pyproject, `pysize`):
  1. `from` the Debian+python+pip image, the host's pip settings (index, proxy, CA
     bundle) forwarded, `/root/.cache/pip` on the cache volume `pip`;
  2. the project from the host (`host.directory`), `pip install '.[test]'` from PyPI:
     pytest, docopt (an sdist only: pip builds its wheel and keeps it in the wheel
     cache, on the volume) and the project itself (built with flit_core);
  3. `python -m pytest -v`, asserting on its report;
  4. publishes the tested image to the local registry (entrypoint `pysize`), checks the
     returned `ref@sha256:` against the registry's manifest digest, pulls it back with
     `container().from_(ref)` and runs the installed module and its console script;
  5. with `--changed-requirement`, one more `pip install` with that extra requirement,
     which must be a new step (it runs) served by the pip cache volume: `Using cached
     docopt-…whl` (the wheel built in an earlier session). pip's HTTP cache would say
     the same for downloads, but only where the index sends cacheable responses.
The install and test steps append a line to a file in the cache volume `pysize-runs`
each time they really run; a read with a fresh nonce reports the counts, so a second
session can prove its steps came from tanto's cache. Single-run properties are asserted
here; the last stdout line is `SLOW_PIPELINE_RESULT {json}` for the caller's
cross-session assertions.
"""
import argparse
import hashlib
import json
import os
import re
import subprocess
import sys
import time
import urllib.request

import anyio
import dagger
from dagger import dag

HOST_CA = "/etc/ssl/certs/tanto-host-ca-bundle.crt"
# pip configuration keys forwarded as PIP_* variables (host paths, like find-links, are not)
PIP_KEYS = ["index-url", "extra-index-url", "trusted-host", "proxy", "default-timeout", "timeout", "retries"]
PROXY_VARS = ["HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy"]


class PipelineError(Exception):
    pass


def check(cond, what, output=""):
    if not cond:
        raise PipelineError(f"{what}\n--- output ---\n{output}")


def host_pip_settings():
    """(env vars, CA bundle path or None) the host's pip and proxies use: `pip config list`
    (files and PIP_* variables) plus the proxy variables."""
    out = subprocess.run([sys.executable, "-m", "pip", "config", "list"], capture_output=True,
                         text=True).stdout
    conf = {}
    for line in out.splitlines():
        m = re.match(r"^(?:global|install|download|:env:)\.([\w-]+)='(.*)'$", line)
        if m:
            conf[m.group(1)] = m.group(2)
    env = {f"PIP_{k.upper().replace('-', '_')}": conf[k] for k in PIP_KEYS if k in conf}
    env.update({k: os.environ[k] for k in PROXY_VARS if os.environ.get(k)})
    cert = conf.get("cert") or os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("SSL_CERT_FILE")
    return env, cert


def with_pip_settings(ctr, env, cert):
    for k, v in sorted(env.items()):
        ctr = ctr.with_env_variable(k, v)
    if cert:
        # the host's CA bundle (it may hold a TLS-intercepting egress CA the image lacks);
        # mounted, so it never enters the published image
        ctr = (ctr.with_mounted_file(HOST_CA, dag.host().file(cert))
               .with_env_variable("PIP_CERT", HOST_CA))
    return ctr


def counted(log_name, command):
    """`sh -c` that appends a line to /runs/LOG_NAME, then runs `command`."""
    return ["sh", "-c", f'echo ran >> /runs/{log_name} && exec "$@"', "sh", *command]


async def run_counts():
    """How many times the counted steps have really run (a fresh nonce: never cached)."""
    out = await (
        dag.container().from_(ARGS.image)
        .with_mounted_cache("/runs", dag.cache_volume("pysize-runs"))
        .with_env_variable("NONCE", f"{time.time_ns()}-{os.getpid()}")
        .with_exec(["sh", "-c", "for f in pip-install pytest; do printf '%s %s\\n' $f "
                    "$(cat /runs/$f 2>/dev/null | wc -l); done"])
        .stdout()
    )
    return {k: int(v) for k, v in (line.split() for line in out.splitlines())}


def registry_digest(registry, repository, tag):
    req = urllib.request.Request(
        f"http://{registry}/v2/{repository}/manifests/{tag}",
        headers={"Accept": ", ".join([
            "application/vnd.oci.image.index.v1+json", "application/vnd.oci.image.manifest.v1+json",
            "application/vnd.docker.distribution.manifest.v2+json",
            "application/vnd.docker.distribution.manifest.list.v2+json"])})
    with urllib.request.urlopen(req, timeout=30) as r:
        body = r.read()
    return "sha256:" + hashlib.sha256(body).hexdigest()


async def pipeline():
    t0 = time.perf_counter()
    result = {"timings": {}}
    env, cert = host_pip_settings()
    result["forwarded"] = sorted(env) + (["PIP_CERT (host CA bundle mounted)"] if cert else [])
    src = dag.host().directory(ARGS.project, exclude=[
        ".pytest_cache", "**/__pycache__", "*.egg-info", "build", "dist"])
    base = with_pip_settings(dag.container().from_(ARGS.image), env, cert)
    base = (base
            .with_mounted_cache("/root/.cache/pip", dag.cache_volume("pip"))
            .with_mounted_cache("/runs", dag.cache_volume("pysize-runs"))
            .with_directory("/src", src)
            .with_workdir("/src"))

    installed = base.with_exec(counted("pip-install", ["pip", "install", "--progress-bar", "off", ".[test]"]))
    install_out = await installed.stdout()
    result["timings"]["install"] = time.perf_counter() - t0
    result["install_output"] = install_out
    for pkg in ["pytest", "docopt", "pysize"]:
        check(re.search(rf"Successfully installed .*\b{pkg}-", install_out),
              f"pip did not install {pkg}", install_out)
    check(re.search(r"Created wheel for docopt: .*\n\s*Stored in directory: /root/\.cache/pip/wheels/", install_out),
          "pip did not keep docopt's wheel in the pip cache volume", install_out)

    tested = installed.with_exec(counted("pytest", ["python", "-m", "pytest", "-v", "-p", "no:cacheprovider"]))
    test_out = await tested.stdout()
    result["timings"]["test"] = time.perf_counter() - t0
    result["test_output"] = test_out
    check(re.search(r"^=+ 11 passed in [\d.]+s =+$", test_out, re.M), "pytest did not report 11 passed", test_out)
    for name in ["test_describe[1500000-True-1.4 MiB]", "test_negative_sizes_are_refused",
                 "test_directory_total", "test_cli", "test_cli_usage_comes_from_docopt"]:
        check(f"tests/test_pysize.py::{name} PASSED" in test_out, f"pytest did not pass {name}", test_out)

    # publish the tested image, then pull it back by the returned reference
    repo = "tanto/pysize"
    ref = await tested.with_entrypoint(["pysize"]).publish(f"{ARGS.registry}/{repo}:slow")
    result["timings"]["publish"] = time.perf_counter() - t0
    m = re.fullmatch(rf"{re.escape(ARGS.registry)}/{repo}:slow@(sha256:[0-9a-f]{{64}})", ref)
    check(m, f"publish returned `{ref}`, not `{ARGS.registry}/{repo}:slow@sha256:<64 hex>`")
    stored = registry_digest(ARGS.registry, repo, "slow")
    check(stored == m.group(1), f"publish returned {m.group(1)}, the registry serves {stored}")
    result["published"] = ref
    pulled = dag.container().from_(ref).with_workdir("/")
    check(await pulled.entrypoint() == ["pysize"], "the pulled image lost its entrypoint")
    script_out = await pulled.with_exec(["pysize", "1500000", "--binary"]).stdout()
    check(script_out == "1.4 MiB\n", f"pysize printed {script_out!r}", script_out)
    module_out = await pulled.with_exec(
        ["python", "-c", "import docopt, pysize; print(pysize.__file__); print(pysize.describe(10**9))"]
    ).stdout()
    check(module_out.splitlines()[-1] == "1.0 GB" and "/usr/local/lib/python3" in module_out,
          "the installed module did not run from site-packages", module_out)
    leftovers = await pulled.with_exec(
        ["sh", "-c", f"ls -A /root/.cache/pip /runs {HOST_CA} 2>/dev/null | wc -l"]).stdout()
    check(leftovers.strip() == "0", "cache volume or CA mount contents leaked into the published image",
          leftovers)
    result["timings"]["pull_back"] = time.perf_counter() - t0

    if ARGS.changed_requirement:
        changed = base.with_exec(counted("pip-install", [
            "pip", "install", "--progress-bar", "off", ".[test]", ARGS.changed_requirement]))
        changed_out = await changed.stdout()
        result["changed_install_output"] = changed_out
        check(re.search(r"Using cached docopt-[\w.]+-py[\w.]*-none-any\.whl", changed_out),
              "the changed pip install did not take docopt's wheel from the pip cache volume",
              changed_out)
        result["timings"]["changed_install"] = time.perf_counter() - t0

    result["counts"] = await run_counts()
    result["timings"]["total"] = time.perf_counter() - t0
    return result


async def main():
    t0 = time.perf_counter()
    async with dagger.connection(dagger.Config(log_output=sys.stderr if ARGS.verbose else None,
                                               timeout=None, execute_timeout=None)):
        connected = time.perf_counter() - t0
        try:
            result = await pipeline()
        except PipelineError as e:
            print(f"pipeline check failed: {e}", file=sys.stderr)
            sys.exit(1)
    result["timings"]["connect"] = connected
    result["timings"]["session"] = time.perf_counter() - t0
    print("SLOW_PIPELINE_RESULT " + json.dumps(result), flush=True)


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--image", required=True, help="the Debian+python+pip image (REGISTRY/library/debian-python-pip:latest)")
    ap.add_argument("--registry", required=True, help="ADDR of the registry to publish to")
    ap.add_argument("--project", required=True, help="the Python project (examples/pyproject)")
    ap.add_argument("--changed-requirement", help="an extra requirement for a second pip install")
    ap.add_argument("--verbose", action="store_true", help="tanto's progress on stderr")
    ARGS = ap.parse_args()
    anyio.run(main)
