"""Drives the real dagger-io SDK against tanto's real resolvers for the pure-data types
(see python_sdk.rs): type def and function chains as an SDK registers a module, modules,
envs, the client-session errors, and currentTypeDefs read back object by object.
Exit 3 when dagger-io is not installed.
"""

import sys

try:
    import anyio
    import dagger
    from dagger import dag
except ImportError:
    sys.exit(3)


async def fails_with(coro, part: str) -> None:
    try:
        await coro
    except dagger.QueryError as e:
        assert part in str(e), f"{part!r} not in {e}"
    else:
        raise AssertionError(f"expected an error with {part!r}")


async def main() -> None:
    cfg = dagger.Config(retry=None)
    async with dagger.connection(cfg):
        # A module as an SDK registers it: objects with fields and functions.
        string = dag.type_def().with_kind(dagger.TypeDefKind.STRING_KIND)
        fn = (
            dag.function("greet_someone", dag.type_def().with_kind(dagger.TypeDefKind.STRING_KIND))
            .with_description("Say hi")
            .with_arg("who_to_greet", string, default_value=dagger.JSON('"world"'))
            .with_arg("times", dag.type_def().with_kind(dagger.TypeDefKind.INTEGER_KIND).with_optional(True))
            .with_source_map(dag.source_map("main.py", 12, 5))
        )
        obj = (
            dag.type_def()
            .with_object("my_module", description="A module")
            .with_field("some_name", string, description="a field")
            .with_function(fn)
        )
        color = dag.type_def().with_enum("color").with_enum_member("red", value="r").with_enum_member("dark_blue")
        mod = dag.module().with_description("the module").with_object(obj).with_enum(color)

        objects = await mod.objects()
        assert len(objects) == 1
        o = objects[0].as_object()
        assert await o.name() == "MyModule"
        assert await o.description() == "A module"
        [field] = await o.fields()
        assert await field.name() == "someName"
        assert await field.type_def().kind() == dagger.TypeDefKind.STRING_KIND
        [f] = await o.functions()
        assert await f.name() == "greetSomeone"
        assert await f.description() == "Say hi"
        assert await f.source_map().line() == 12
        args = await f.args()
        assert [await a.name() for a in args] == ["whoToGreet", "times"]
        assert await args[0].default_value() == '"world"'
        assert await args[1].type_def().optional() is True
        assert await args[1].type_def().name() == "Int"
        [e] = await mod.enums()
        members = await e.as_enum().members()
        assert [(await m.name(), await m.value()) for m in members] == [("RED", "r"), ("DARK_BLUE", "")]
        assert await mod.description() == "the module"

        # IDs round trip through the SDK's own loaders.
        again = dag.load_type_def_from_id(dagger.TypeDefID(await obj.id()))
        assert await again.as_object().name() == "MyModule"
        lst = dag.type_def().with_list_of(obj)
        assert await lst.name() == "[MyModule]"
        assert await lst.as_list().element_type_def().as_object().name() == "MyModule"

        # Envs bind values of any served type.
        env = (
            dag.env(privileged=True)
            .with_string_input("greeting", "hello", "what to say")
            .with_directory_input("src", dag.directory().with_new_file("a", "x"), "sources")
            .with_file_output("report", "the result")
        )
        assert await env.input("greeting").as_string() == "hello"
        assert await env.input("src").type_name() == "Directory"
        outputs = await env.outputs()
        assert [await b.name() for b in outputs] == ["report"]
        assert await outputs[0].is_null() is True

        # A client session has no module context and no cloud.
        await fails_with(dag.current_module().name(), "currentModule: this session is a client session")
        await fails_with(dag.current_function_call().name(), "currentFunctionCall: this session is a client session")
        await fails_with(dag.cloud().trace_url(), "not connected to Dagger Cloud")
        await fails_with(dag.type_def().with_field("x", string).id(), "withField needs an object type def")

        # The served schema as type defs (each read loads one object: stop when found).
        async def find(defs, name):
            for d in defs:
                if await d.name() == name:
                    return d
            raise AssertionError(f"{name} is not among the served type defs")

        defs = await dag.current_type_defs()
        assert len(defs) > 100, len(defs)
        ctr = (await find(defs, "Container")).as_object()
        names = [await fn.name() for fn in await ctr.functions()]
        assert "withExec" in names and "id" not in names, names
        hidden = await dag.current_type_defs(hide_core=True)
        query = await find(reversed(hidden), "Query")
        assert await query.as_object().functions() == []
    print("ok")


if __name__ == "__main__":
    anyio.run(main)
