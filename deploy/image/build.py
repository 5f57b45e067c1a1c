"""Builds tanto's own OCI image with tanto (a pipeline like any other): a
Debian base with the OCI runtimes and tools the engine runs containers with,
and the tanto binary. The Kubernetes manifests (deploy/kubernetes/) run it.

    tanto run python3 deploy/image/build.py --binary target/release/tanto \\
        --publish registry.example.com/tanto/engine:latest

Prints the published reference (with its digest) on stdout.
"""

import argparse
import sys

import anyio
import dagger

# crun (runc as the fallback), iptables for the engine's bridge network, CA
# certificates for registries; nothing else runs in the engine's image.
PACKAGES = ["crun", "runc", "iptables", "ca-certificates"]


def engine_image(c: dagger.Client, base: str, binary: dagger.File) -> dagger.Container:
    return (
        c.container()
        .from_(base)
        .with_env_variable("DEBIAN_FRONTEND", "noninteractive")
        .with_exec(
            [
                "sh",
                "-c",
                "apt-get update -q && apt-get install -y -q --no-install-recommends "
                + " ".join(PACKAGES)
                + " && rm -rf /var/lib/apt/lists/*",
            ]
        )
        .with_file("/usr/local/bin/tanto", binary, permissions=0o755)
        .with_env_variable("TANTO_STATE_DIR", "/var/lib/tanto")
        .with_env_variable("TANTO_RUN_DIR", "/run/tanto")
        .with_label("org.opencontainers.image.title", "tanto engine")
        .with_label("org.opencontainers.image.source", "https://github.com/tanto-ci/tanto")
        .with_entrypoint(["tanto"])
        .with_default_args(["engine", "serve"])
    )


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--binary", default="target/release/tanto", help="the tanto binary to put in the image")
    ap.add_argument("--base", default="debian:bookworm-slim", help="the base image")
    ap.add_argument("--publish", required=True, help="where to push the image")
    args = ap.parse_args()
    async with dagger.Connection(dagger.Config(log_output=sys.stderr)) as c:
        image = engine_image(c, args.base, c.host().file(args.binary))
        print(await image.publish(args.publish), flush=True)


if __name__ == "__main__":
    anyio.run(main)
