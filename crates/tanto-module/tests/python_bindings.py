"""Runs dagger-io 0.21.11 with tanto's bindings of dependency modules appended to its gen.py,
against no server: a stand-in session hands the SDK a graphql-core schema (the core SDL plus
the SDL the engine serves for the modules) and executes what the SDK sends with graphql-core
(validation included), answering from the field names and arguments.

Usage: python python_bindings.py <input.json>
input.json: {"workdir": DIR, "bindings": PY, "sdl": [SDL, ...], "cases": [CODE, ...], "names": [NAME, ...]}
Each CODE is the body of `async def case(dag, dagger)`. Prints one JSON object:
{"cases": [{"sent": [QUERY, ...], "result": VALUE} | {"sent": [...], "error": "Type: message"}],
 "names": [PYTHON NAME, ...]}: queries with whitespace collapsed, objects as
{"built": QUERY} (the query the SDK would send for them), enums as "Enum.MEMBER",
names as the Python codegen's `format_name` makes them.
"""

import asyncio
import enum
import importlib.util
import json
import keyword
import os
import re
import shutil
import sys
import textwrap


def copy_dagger(workdir: str, bindings: str) -> None:
    """A copy of the installed dagger package under workdir, bindings appended to its gen.py."""
    spec = importlib.util.find_spec("dagger")
    assert spec is not None and spec.submodule_search_locations, "dagger-io is not installed"
    src = list(spec.submodule_search_locations)[0]
    dst = os.path.join(workdir, "dagger")
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("__pycache__"))
    with open(os.path.join(dst, "client", "gen.py"), "a", encoding="utf-8") as f:
        f.write(bindings)
    sys.path.insert(0, workdir)


def format_name(s: str) -> str:
    """The Python codegen's `format_name` (sdk/python/codegen/src/codegen/generator.py)."""
    from graphql.pyutils import camel_to_snake

    s = re.sub(r"([A-Z\d]+)(?=[A-Z\d]|$)", lambda m: m.group(0).title(), s)
    s = camel_to_snake(s)
    if keyword.iskeyword(s) or s in ("str", "int", "float", "bool", "list", "type"):
        s += "_"
    return s


def collapse(text: str) -> str:
    return " ".join(text.split())


def main() -> None:
    with open(sys.argv[1], encoding="utf-8") as f:
        spec = json.load(f)
    copy_dagger(spec["workdir"], spec["bindings"])

    import graphql
    from gql.transport.exceptions import TransportQueryError

    import dagger
    from dagger.client.base import Type

    assert dagger.__file__.startswith(spec["workdir"]), dagger.__file__

    schema = graphql.build_schema(spec["sdl"][0])
    for extra in spec["sdl"][1:]:
        schema = graphql.extend_schema(schema, graphql.parse(extra))

    def resolve(parent, info, **args):
        named = graphql.get_named_type(info.return_type)
        is_list = isinstance(graphql.get_nullable_type(info.return_type), graphql.GraphQLList)
        here = info.parent_type.name
        if info.field_name == "node":
            return {"__typename": args["id"].split(":", 1)[1]}
        if info.field_name == "id":
            return f"id:{here}"
        if isinstance(named, (graphql.GraphQLObjectType, graphql.GraphQLInterfaceType)):
            obj = {"__typename": named.name}
            return [obj, obj] if is_list else obj
        if is_list:
            return [f"{here}.{info.field_name}"]
        if isinstance(named, graphql.GraphQLEnumType):
            return next(iter(named.values))
        return {"Int": 2, "Float": 1.5, "Boolean": True, "Void": None}.get(
            named.name, f"{here}.{info.field_name}({json.dumps(args, sort_keys=True)})"
        )

    sent: list[str] = []

    class Session:
        async def get_schema(self):
            return schema

        async def execute(self, request):
            document = getattr(request, "document", request)
            text = graphql.print_ast(document)
            sent.append(collapse(text))
            result = await graphql.graphql(schema, text, field_resolver=resolve)
            if result.errors:
                raise TransportQueryError(str(result.errors[0]), errors=[e.formatted for e in result.errors])
            return result.data

    class Connection:
        session = Session()

    dag = dagger.Client.from_connection(Connection())

    async def encode(value):
        if isinstance(value, enum.Enum):
            return f"{type(value).__name__}.{value.name}"
        if isinstance(value, Type):
            request = await value._ctx.request()
            return {"built": collapse(graphql.print_ast(getattr(request, "document", request)))}
        if isinstance(value, (list, tuple)):
            return [await encode(v) for v in value]
        return value

    async def run(code: str) -> dict:
        sent.clear()
        namespace: dict = {}
        exec("async def case(dag, dagger):\n" + textwrap.indent(code, "    "), namespace)
        try:
            value = await namespace["case"](dag, dagger)
            out = {"result": await encode(value)}
        except Exception as e:  # reported to the Rust side, which expects it or not
            out = {"error": f"{type(e).__name__}: {e}"}
        out["sent"] = list(sent)
        return out

    async def run_all():
        return [await run(code) for code in spec["cases"]]

    report = {"cases": asyncio.run(run_all()), "names": [format_name(n) for n in spec.get("names", [])]}
    print(json.dumps(report))


if __name__ == "__main__":
    main()
