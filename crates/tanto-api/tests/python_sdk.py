"""Drives the real dagger-io SDK against tanto's executor (see python_sdk.rs).

The server answers every field generically (objects of the field's type, IDs naming the
object's type, `node(id:)` loading by that name), so this checks the wire contract only:
introspection, query shapes, argument coercion, `sync`/`node` round trips, object lists.
Exit 3 when dagger-io is not installed.
"""

import sys

try:
    import anyio
    import dagger
    from dagger import dag
except ImportError:
    sys.exit(3)


async def main() -> None:
    cfg = dagger.Config(retry=None)
    async with dagger.connection(cfg):
        assert await dag.version() == "String:Query.version"
        ctr = dag.container().from_("alpine")
        out = await ctr.with_exec(["echo", "hi"], expect=dagger.ReturnType.ANY).stdout()
        assert out == "String:Container.stdout", out
        cache = dag.cache_volume("k")
        ctr = ctr.with_mounted_cache("/c", cache, sharing=dagger.CacheSharingMode.LOCKED, owner="1000")
        synced = await ctr.sync()  # sync -> ID, then node(id:) { ... on Container }
        assert await synced.stdout() == "String:Container.stdout"
        assert await synced.id() == "id:Container"
        src = dag.directory().with_new_file("a.txt", "a", permissions=0o600)
        ctr = ctr.with_directory("/src", src, exclude=["x"]).with_env_variable("A", "1", expand=True)
        entries = await src.entries()
        assert entries == [], entries
        envs = await ctr.env_variables()  # execute_object_list: ids, then node(id:) per item
        assert len(envs) == 1 and await envs[0].name() == "String:EnvVariable.name"
        secret = dag.set_secret("tok", "s3cr3t")
        ctr = ctr.with_secret_variable("TOK", secret).with_exposed_port(8080, protocol=dagger.NetworkProtocol.UDP)
        await ctr.with_user("1000").with_workdir("/src").sync()
        addr = await ctr.publish(
            "registry/x:1",
            platform_variants=[dag.container()],
            forced_compression=dagger.ImageLayerCompression.Gzip,
            media_types=dagger.ImageMediaTypes.OCIMediaTypes,
        )
        assert addr == "String:Container.publish", addr
        loaded = dag.load_container_from_id(dagger.ContainerID("123"))
        assert await loaded.platform() == "Platform:Container.platform"
        vol = dag.sshfs_volume("sshfs://u@h/p", private_key=secret)
        await ctr.with_mounted_volume("/v", vol, read_only=True).sync()
        code = await ctr.exit_code()
        assert code == 0, code
        svc = ctr.as_service(args=["sleep", "1"], use_entrypoint=True)
        await ctr.with_service_binding("svc", svc).sync()
        await dag.git("https://example.com/r.git", keep_git_dir=True).branch("main").tree().sync()
        assert await dag.default_platform() == "Platform:Query.defaultPlatform"
    print("ok")


if __name__ == "__main__":
    anyio.run(main)
