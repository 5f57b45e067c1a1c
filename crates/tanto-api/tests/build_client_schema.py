"""Feeds an introspection response to graphql-core's build_client_schema, as dagger-io does.

Usage: python3 build_client_schema.py <response.json>
Exit 0 and print "ok ..." when the schema builds and the checks hold; exit 1 otherwise;
exit 3 when graphql-core is not installed (the harness checks for it first: `Need::PythonGraphql`).
"""

import json
import sys

try:
    from graphql import build_client_schema, parse, print_ast, print_schema, validate
except ImportError:
    sys.exit(3)


def default_of(arg):
    """The argument's default as GraphQL text (graphql-core 3.3 keeps a literal, 3.2 a value)."""
    default = getattr(arg, "default", None)
    if default is not None:
        literal = getattr(default, "literal", None)
        return None if literal is None else print_ast(literal)
    value = getattr(arg, "default_value", None)
    if value is None or type(value).__name__ == "UndefinedType":
        return None
    return json.dumps(value) if not isinstance(value, str) else value


def main() -> None:
    with open(sys.argv[1], encoding="utf-8") as f:
        body = json.load(f)
    assert "errors" not in body, body.get("errors")
    schema = build_client_schema(body["data"])
    query = schema.query_type
    assert query is not None and query.name == "Query"
    assert "loadContainerFromID" in query.fields
    assert str(query.fields["loadContainerFromID"].args["id"].type) == "ContainerID!"
    with_exec = schema.get_type("Container").fields["withExec"]
    assert default_of(with_exec.args["expect"]) == "SUCCESS", default_of(with_exec.args["expect"])
    assert default_of(with_exec.args["useEntrypoint"]) == "false"
    assert default_of(with_exec.args["args"]) is None
    assert schema.get_type("Volume") is not None
    # The SDK's typical query validates against the client schema.
    doc = parse('{ container { from(address: "alpine") { withExec(args: ["echo", "hi"]) { stdout } } } }')
    errors = validate(schema, doc)
    assert not errors, errors
    sdl = print_schema(schema)
    print(f"ok: {len(schema.type_map)} types, {len(query.fields)} Query fields, {len(sdl)} bytes of SDL")


if __name__ == "__main__":
    main()
