"""Hello, tanto: the official Dagger Python SDK driving tanto.

Run it with tanto as the SDK's CLI (the README's set-up command does this):
    _EXPERIMENTAL_DAGGER_CLI_BIN=target/release/tanto python examples/hello.py
or inside a session:
    tanto run -- python examples/hello.py
"""

import sys

import anyio
import dagger
from dagger import dag


async def main() -> None:
    async with dagger.connection(dagger.Config(log_output=sys.stderr)):
        src = dag.directory().with_new_file("greeting.txt", "hello from tanto")
        ctr = (
            dag.container()
            .from_("busybox:1.36")
            .with_directory("/src", src)
            .with_workdir("/src")
            .with_exec(["sh", "-c", "cat greeting.txt; echo; uname -s"])
        )
        print(await ctr.stdout(), end="")


anyio.run(main)
