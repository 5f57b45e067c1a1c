use super::*;

fn module(json: &str) -> ModuleTypes {
    serde_json::from_str(json).expect("module types JSON")
}

/// The greeter conformance module, as its main.py registers it.
fn greeter() -> ModuleTypes {
    module(include_str!("../../tests/data/greeter.types.json"))
}

/// A module with an enum, an interface, object results, a list of objects,
/// defaults, keywords and object arguments.
fn my_mod() -> ModuleTypes {
    module(include_str!("../../tests/data/my-mod.types.json"))
}

fn assert_has(code: &str, snippets: &[&str]) {
    for s in snippets {
        assert!(code.contains(s), "missing:\n{s}\n--- in ---\n{code}");
    }
}

#[test]
fn no_dependencies_no_code() {
    assert_eq!(bindings(&[]), "");
}

#[test]
fn greeter_gets_a_class_a_query_field_and_a_loader() {
    let code = bindings(&[greeter()]);
    assert_has(
        &code,
        &[
            "# Bindings of the dependency modules (greeter), written by tanto.\n",
            "\n\nclass GreeterID(Scalar):\n",
            "\n\n@typecheck\nclass Greeter(Type):\n",
            // a leaf: async, the query run with the result's type
            "\n    async def hello(self, name: str) -> str:\n        \"\"\"Says hello to NAME.\"\"\"\n        \
             _args = [\n            Arg(\"name\", name),\n        ]\n        _ctx = self._select(\"hello\", _args)\n        \
             return await _ctx.execute(str)\n",
            "\n    async def release(self) -> str:\n        \"\"\"The release file of the alpine image.\"\"\"\n        \
             _args: list[Arg] = []\n        _ctx = self._select(\"release\", _args)\n        return await _ctx.execute(str)\n",
            "\n    async def id(self) -> str:\n",
            "        _ctx = self._select(\"id\", _args)\n        return await _ctx.execute(str)\n",
            // Query: the module's field (its description the docstring), the loader
            "\n    def greeter(self) -> \"Greeter\":\n        \
             \"\"\"Conformance module for tanto: a dependency of the `app` module.\"\"\"\n        \
             _args: list[Arg] = []\n        _ctx = self._select(\"greeter\", _args)\n        return Greeter(_ctx)\n",
            "\n    def load_greeter_from_id(self, id: GreeterID) -> \"Greeter\":\n",
            "        _ctx = self._select(\"loadGreeterFromID\", _args)\n        return Greeter(_ctx)\n",
            "        setattr(Query, _name, _value)\n",
            "\n__all__ += [\n    \"Greeter\",\n    \"GreeterID\",\n]\n",
        ],
    );
    // Methods sorted by GraphQL name; no `with_` (nothing returns a Greeter).
    let at = |s: &str| code.find(s).unwrap_or_else(|| panic!("{s} missing"));
    assert!(at("def hello(") < at("def id(") && at("def id(") < at("def release("), "{code}");
    assert!(!code.contains("def with_("), "{code}");
}

#[test]
fn module_types_become_python_as_the_codegen_writes_them() {
    let code = bindings(&[my_mod()]);
    // (what, snippet)
    let cases: &[(&str, &str)] = &[
        ("enum with member values", "\n\nclass Level(Enum):\n    \"\"\"How loud.\"\"\"\n\n    LOW = \"low\"\n    \"\"\"Quietly.\"\"\"\n\n    HIGH = \"high\"\n"),
        ("enum argument default and enum result", "    async def level(self, *, at: Level | None = Level.HIGH) -> Level:\n"),
        ("enum default omitted when equal", "            Arg(\"at\", at, Level.HIGH),\n"),
        ("enum result type", "        return await _ctx.execute(Level)\n"),
        ("object result: a forward reference, not awaited", "\n    def pack(self, name: str) -> \"Pack\":\n"),
        ("object result: the class over the query", "        _ctx = self._select(\"pack\", _args)\n        return Pack(_ctx)\n"),
        ("list of objects", "    async def packs(self, *, names: list[str] | None = None) -> \"list[Pack]\":\n"),
        ("list default is mutable", "            Arg(\"names\", [\"a\", \"b\"] if names is None else names, [\"a\", \"b\"]),\n"),
        ("list of objects loaded by ID", "        return await _ctx.execute_object_list(Pack)\n"),
        ("list of leaves", "        return await _ctx.execute(list[str])\n"),
        ("keywords get a trailing underscore", "    async def tags(self, *, from_: str | None = \"a\", verbose: bool | None = None) -> list[str]:\n"),
        ("the GraphQL name is sent", "            Arg(\"from\", from_, \"a\"),\n"),
        ("own type: Self", "\n    def with_prefix(self, prefix: str) -> Self:\n"),
        ("own type: built as the class", "        _ctx = self._select(\"withPrefix\", _args)\n        return MyMod(_ctx)\n"),
        ("chainable: with_", "    def with_(self, cb: Callable[[\"MyMod\"], \"MyMod\"]) -> \"MyMod\":\n"),
        ("object arguments take the object", "    async def merge(self, other: Self, *, dirs: list[Directory] | None = None) -> str:\n"),
        ("core object result", "\n    def base(self) -> Container:\n"),
        ("optional leaf", "    async def maybe(self) -> str | None:\n"),
        ("optional leaf type", "        return await _ctx.execute(str | None)\n"),
        ("void", "    async def nothing(self) -> Void | None:\n        _args: list[Arg] = []\n        _ctx = self._select(\"nothing\", _args)\n        await _ctx.execute()\n"),
        ("initialisms", "    async def describe_http_server(self) -> str:\n"),
        ("field", "    async def prefix(self) -> str:\n        \"\"\"The prefix of every greeting.\"\"\"\n"),
        ("parameters documented", "        \"\"\"Parameters\n        ----------\n        at:\n            The level to report.\n        \"\"\"\n"),
        ("interface protocol", "\n\n@runtime_checkable\nclass Named(Protocol):\n    \"\"\"Something with a name.\"\"\"\n\n    async def name(self) -> str:\n        ...\n"),
        ("interface client", "\n\n@typecheck\nclass _NamedClient(Type):\n"),
        ("interface client name", "    def _graphql_name(cls) -> str:\n        return \"Named\"\n"),
        ("interface ID", "\n\nclass NamedID(Scalar):\n"),
        ("constructor arguments on the Query field", "    def my_mod(self, prefix: str, *, count: int | None = 2, tag: str | None = None) -> \"MyMod\":\n"),
        ("constructor default", "            Arg(\"count\", count, 2),\n"),
        ("Query field name", "        _ctx = self._select(\"myMod\", _args)\n        return MyMod(_ctx)\n"),
        ("loader per object", "    def load_pack_from_id(self, id: PackID) -> \"Pack\":\n"),
        ("exports", "\n__all__ += [\n    \"Level\",\n    \"MyMod\",\n    \"MyModID\",\n    \"Named\",\n    \"NamedID\",\n    \"Pack\",\n    \"PackID\",\n]\n"),
    ];
    for (what, snippet) in cases {
        assert!(code.contains(snippet), "{what}: missing\n{snippet}\n--- in ---\n{code}");
    }
    // Interfaces get no loader (the engine serves none).
    assert!(!code.contains("load_named_from_id"), "{code}");
}

#[test]
fn python_names() {
    // (GraphQL name, Python name): the codegen's format_name
    let cases = [
        ("hello", "hello"),
        ("withPrefix", "with_prefix"),
        ("loadGreeterFromID", "load_greeter_from_id"),
        ("describeHTTPServer", "describe_http_server"),
        ("withHTTPServerURL", "with_http_server_url"),
        ("asOCITarball", "as_oci_tarball"),
        ("v2Api", "v2_api"),
        ("sha256Sum", "sha256_sum"),
        ("X509Cert", "x509_cert"),
        ("ID", "id"),
        ("from", "from_"),
        ("import", "import_"),
        ("async", "async_"),
        ("str", "str_"),
        ("type", "type_"),
        ("under_score", "under_score"),
    ];
    for (gql, py) in cases {
        assert_eq!(py_name(gql), py, "{gql}");
    }
}

#[test]
fn defaults_descriptions_and_several_modules() {
    let mut m = my_mod();
    let main = m.objects[0].as_object.as_mut().unwrap();
    // An enum default given by value names the member; text with quotes and backslashes.
    main.functions[2].args[0].default_value = Some("\"high\"".into());
    main.functions[3].description = Some("Says \"\"\"hi\"\"\" to C:\\dir, \"loudly\"".into());
    main.functions[8].args[0].default_value = Some("\"a\\\"b\\\\c\"".into());
    // An interface result is built with the interface's client class.
    main.functions[6].return_type =
        serde_json::from_str(r#"{"kind":"INTERFACE_KIND","asInterface":{"name":"Named"}}"#).unwrap();
    let code = bindings(&[greeter(), m]);
    assert_has(
        &code,
        &[
            "at: Level | None = Level.HIGH",
            "\"\"\"Says \\\"\\\"\\\"hi\\\"\\\"\\\" to C:\\\\dir, \"loudly\" \"\"\"",
            "from_: str | None = \"a\\\"b\\\\c\"",
            "(greeter, my-mod)",
            "    def pack(self, name: str) -> \"Named\":\n",
            "        _ctx = self._select(\"pack\", _args)\n        return _NamedClient(_ctx)\n",
            "    \"Greeter\",\n    \"GreeterID\",\n    \"Level\",\n",
        ],
    );
    // Loaders of both modules, sorted, on one class.
    let at = |s: &str| code.find(s).unwrap_or_else(|| panic!("{s} missing"));
    assert!(at("def greeter(") < at("def load_greeter_from_id(") && at("def load_my_mod_from_id(") < at("def my_mod("));
}
