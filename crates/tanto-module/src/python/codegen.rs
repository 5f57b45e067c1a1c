//! Python client bindings for the modules a module depends on, in the shape
//! of dagger-io 0.21.11's `dagger/client/gen.py` (Dagger's Python codegen,
//! `sdk/python/codegen/src/codegen/generator.py`), to append to that file.
//!
//! They bind the types the engine serves for each dependency in a module's
//! nested session (`tanto-api`'s `dagger/modules/schema.rs`):
//! `Query.<lowerCamel module name>(<constructor args>): <Main>!`,
//! `type <Obj> implements Node { id: ID! <fields and functions> }`,
//! `scalar <Obj>ID`, `Query.load<Obj>FromID(id: <Obj>ID!): <Obj>!`, enums by
//! member name, interfaces; an object-typed argument is an `ID`
//! (`@expectedType`), which the SDK resolves from the object it is given.
//!
//! What is written, as the codegen writes it from that schema:
//! - `class <Obj>ID(Scalar)` per object and interface;
//! - `class <Enum>(Enum)` with one member per value;
//! - `class <Iface>(Protocol)` and its query-building `_<Iface>Client(Type)`;
//! - `@typecheck class <Obj>(Type)`: one method per field and function
//!   (sorted by GraphQL name), `def` returning the object for an object
//!   (`Self` for its own type), `async def` running the query for a leaf or
//!   a list of objects; required arguments positional, the others
//!   keyword-only with their default (or `None`); `id()`; `with_` when the
//!   object chains to itself;
//! - `Query.<module>(...)` and `Query.load_<obj>_from_id(id)`, set on `Query`
//!   (so on `Client` and the global `dag`, an instance of it), and the new
//!   names added to `__all__` (so `from dagger import Greeter` works).

use std::collections::BTreeMap;
use std::fmt::Write;

use serde_json::Value as Json;

use super::naming::py_name;
use crate::names;
use crate::types::{EnumDef, FunctionArg, Kind, ModuleTypes, ObjectDef, TypeDef};

/// Python code that, appended to dagger-io 0.21.11's `gen.py`, binds the
/// types of `deps` (empty for none).
pub fn bindings(deps: &[ModuleTypes]) -> String {
    if deps.is_empty() {
        return String::new();
    }
    let g = Gen::of(deps);
    let mut out = String::new();
    let list: Vec<&str> = deps.iter().map(|d| d.name.as_str()).collect();
    let _ = writeln!(out, "\n\n# Bindings of the dependency modules ({}), written by tanto.", list.join(", "));

    let mut ids: Vec<&str> = g.objects.keys().chain(g.interfaces.keys()).map(|s| s.as_str()).collect();
    ids.sort_unstable();
    for name in &ids {
        let _ = write!(out, "\n\nclass {name}ID(Scalar):\n");
        push_doc(
            &mut out,
            1,
            &format!("The `{name}ID` scalar type represents an identifier for an object of type {name}."),
        );
    }
    for e in g.enums.values() {
        g.enum_class(&mut out, e);
    }
    for i in g.interfaces.values() {
        g.interface(&mut out, i);
    }
    for o in g.objects.values() {
        g.object(&mut out, o);
    }
    g.query(&mut out, deps);

    let mut all: Vec<String> = ids.iter().map(|n| format!("{n}ID")).collect();
    all.extend(g.enums.keys().chain(g.interfaces.keys()).chain(g.objects.keys()).cloned());
    all.sort();
    out.push_str("\n__all__ += [\n");
    for n in all {
        let _ = writeln!(out, "    \"{n}\",");
    }
    out.push_str("]\n");
    out
}

/// The dependency types by name, and how to write them.
struct Gen<'a> {
    objects: BTreeMap<String, &'a ObjectDef>,
    interfaces: BTreeMap<String, &'a ObjectDef>,
    enums: BTreeMap<String, &'a EnumDef>,
}

/// One argument of a method.
struct PyArg {
    gql: String,
    py: String,
    annotation: String,
    /// The Python default, when the argument may be left out.
    default: Option<String>,
    /// The default is a list: the parameter defaults to `None` instead.
    mutable: bool,
    description: String,
}

impl PyArg {
    fn param(&self) -> String {
        let mut s = format!("{}: {}", self.py, self.annotation);
        if self.mutable {
            if !s.ends_with("| None") && !s.ends_with("| None\"") {
                s.push_str(" | None");
            }
            s.push_str(" = None");
        } else if let Some(d) = &self.default {
            let _ = write!(s, " = {d}");
        }
        s
    }

    fn arg(&self) -> String {
        match (&self.default, self.mutable) {
            (Some(d), true) => format!("Arg(\"{}\", {d} if {1} is None else {1}, {d}),", self.gql, self.py),
            (Some(d), false) => format!("Arg(\"{}\", {}, {d}),", self.gql, self.py),
            (None, _) => format!("Arg(\"{}\", {}),", self.gql, self.py),
        }
    }
}

impl<'a> Gen<'a> {
    fn of(deps: &'a [ModuleTypes]) -> Self {
        let mut g = Gen { objects: BTreeMap::new(), interfaces: BTreeMap::new(), enums: BTreeMap::new() };
        for d in deps {
            for t in &d.objects {
                if let Some(o) = t.as_object.as_deref() {
                    g.objects.insert(o.name.clone(), o);
                }
            }
            for t in &d.interfaces {
                if let Some(i) = t.as_interface.as_deref() {
                    g.interfaces.insert(i.name.clone(), i);
                }
            }
            for t in &d.enums {
                if let Some(e) = &t.as_enum {
                    g.enums.insert(e.name.clone(), e);
                }
            }
        }
        g
    }

    /// `s` quoted when it names a dependency object or interface (a class
    /// that may be defined further down: a forward reference).
    fn annotation(&self, s: String) -> String {
        let forward = s
            .split(|c: char| !(c.is_alphanumeric() || c == '_'))
            .any(|w| self.objects.contains_key(w) || self.interfaces.contains_key(w));
        if forward {
            format!("\"{s}\"")
        } else {
            s
        }
    }

    /// The class that builds queries on an object or interface type.
    fn client_class(&self, name: &str) -> String {
        if self.interfaces.contains_key(name) {
            format!("_{name}Client")
        } else {
            name.to_string()
        }
    }

    fn enum_class(&self, out: &mut String, e: &EnumDef) {
        let _ = write!(out, "\n\nclass {}(Enum):\n", e.name);
        if let Some(d) = nonempty(&e.description) {
            push_doc(out, 1, d);
        } else if e.members.is_empty() {
            out.push_str("    ...\n");
        }
        for m in &e.members {
            let value = nonempty(&m.value).unwrap_or(&m.name);
            let _ = write!(out, "\n    {} = {}\n", m.name, py_str(value));
            if let Some(d) = nonempty(&m.description) {
                push_doc(out, 1, d);
            }
        }
    }

    fn interface(&self, out: &mut String, i: &ObjectDef) {
        let _ = write!(out, "\n\n@runtime_checkable\nclass {}(Protocol):\n", i.name);
        if let Some(d) = nonempty(&i.description) {
            push_doc(out, 1, d);
        } else if i.functions.is_empty() {
            out.push_str("    ...\n");
        }
        let mut funcs: Vec<_> = i.functions.iter().filter(|f| f.name != "id").collect();
        funcs.sort_by(|a, b| a.name.cmp(&b.name));
        for f in &funcs {
            let m = self.method(&i.name, &f.name, &f.args, &f.return_type, f.description.as_deref());
            let _ = write!(out, "\n    {}\n", m.signature);
            match nonempty(&f.description) {
                Some(d) => push_doc(out, 2, d),
                None => out.push_str("        ...\n"),
            }
        }
        let _ = write!(
            out,
            "\n\n@typecheck\nclass _{0}Client(Type):\n    \"\"\"Concrete client for {0} interface.\"\"\"\n\n    \
             @classmethod\n    def _graphql_name(cls) -> str:\n        return \"{0}\"\n",
            i.name
        );
        let mut methods: Vec<(String, String)> = funcs
            .iter()
            .map(|f| {
                (f.name.clone(), self.method(&i.name, &f.name, &f.args, &f.return_type, f.description.as_deref()).text)
            })
            .collect();
        methods.push(("id".into(), id_method(&i.name)));
        methods.sort();
        for (_, m) in methods {
            out.push_str(&m);
        }
    }

    fn object(&self, out: &mut String, o: &ObjectDef) {
        let _ = write!(out, "\n\n@typecheck\nclass {}(Type):\n", o.name);
        if let Some(d) = nonempty(&o.description) {
            push_doc(out, 1, d);
        }
        let mut methods: Vec<(String, String)> = vec![("id".into(), id_method(&o.name))];
        for f in o.fields.iter().filter(|f| f.name != "id") {
            let m = self.method(&o.name, &f.name, &[], &f.type_def, f.description.as_deref());
            methods.push((f.name.clone(), m.text));
        }
        for f in o.functions.iter().filter(|f| f.name != "id") {
            let m = self.method(&o.name, &f.name, &f.args, &f.return_type, f.description.as_deref());
            methods.push((f.name.clone(), m.text));
        }
        methods.sort_by(|a, b| a.0.cmp(&b.0));
        for (_, m) in methods {
            out.push_str(&m);
        }
        let returns_self = |t: &TypeDef| t.kind == Kind::Object && !t.optional && t.type_name() == o.name;
        if o.fields.iter().any(|f| returns_self(&f.type_def))
            || o.functions.iter().any(|f| returns_self(&f.return_type))
        {
            let _ = write!(
                out,
                "\n    def with_(self, cb: Callable[[\"{0}\"], \"{0}\"]) -> \"{0}\":\n        \
                 \"\"\"Call the provided callable with current {0}.\n\n        \
                 This is useful for reusability and readability by not breaking the calling chain.\n        \
                 \"\"\"\n        return cb(self)\n",
                o.name
            );
        }
    }

    /// `Query.<module>(...)` and `Query.load_<obj>_from_id(id)`, defined on a
    /// class of their own and set on `Query`.
    fn query(&self, out: &mut String, deps: &[ModuleTypes]) {
        let mut methods: Vec<(String, String)> = Vec::new();
        for d in deps {
            let Some(main) = d.main_object() else { continue };
            let args = main.constructor.as_deref().map(|c| c.args.as_slice()).unwrap_or_default();
            let ret = TypeDef::object(&main.name);
            let field = names::lower_camel(&d.name);
            methods.push((field.clone(), self.method("Query", &field, args, &ret, d.description.as_deref()).text));
        }
        for name in self.objects.keys() {
            let field = format!("load{name}FromID");
            let text = format!(
                "\n    def {py}(self, id: {name}ID) -> \"{name}\":\n        \"\"\"Load a {name} from its ID.\"\"\"\n        \
                 _args = [\n            Arg(\"id\", id),\n        ]\n        _ctx = self._select(\"{field}\", _args)\n        \
                 return {name}(_ctx)\n",
                py = py_name(&field)
            );
            methods.push((field, text));
        }
        methods.sort_by(|a, b| a.0.cmp(&b.0));
        out.push_str("\n\n@typecheck\nclass _TantoModuleQuery:\n    \"\"\"Query fields of the dependency modules, set on `Query` below.\"\"\"\n");
        for (_, m) in methods {
            out.push_str(&m);
        }
        out.push_str(
            "\n\nfor _name, _value in list(vars(_TantoModuleQuery).items()):\n    if not _name.startswith(\"__\"):\n        \
             setattr(Query, _name, _value)\ndel _TantoModuleQuery, _name, _value\n",
        );
    }

    fn py_arg(&self, parent: &str, a: &FunctionArg) -> PyArg {
        let nullable = !a.required();
        let ty = self.input_type(&a.type_def, nullable);
        let annotation = if ty == parent { "Self".to_string() } else { self.annotation(ty) };
        let json_default =
            a.default_value.as_deref().and_then(|d| serde_json::from_str::<Json>(d).ok()).filter(|v| !v.is_null());
        let default = match &json_default {
            Some(v) => Some(self.literal(v, &a.type_def)),
            None if nullable => Some("None".to_string()),
            None => None,
        };
        let mut py = py_name(&a.name);
        if py == "self" {
            py.push('_');
        }
        PyArg {
            gql: a.name.clone(),
            py,
            annotation,
            default,
            mutable: matches!(json_default, Some(Json::Array(_))),
            description: a.description.clone().unwrap_or_default(),
        }
    }

    /// A default value as a Python expression (an enum's member by name).
    fn literal(&self, v: &Json, t: &TypeDef) -> String {
        match (v, &t.as_enum) {
            (Json::String(s), Some(e)) if t.kind == Kind::Enum => {
                let member = self
                    .enums
                    .get(&e.name)
                    .and_then(|def| def.members.iter().find(|m| m.name == *s || m.value.as_deref() == Some(s)))
                    .map(|m| m.name.as_str())
                    .unwrap_or(s);
                format!("{}.{member}", e.name)
            }
            _ => py_literal(v),
        }
    }

    /// The Python type of an argument (object-typed ones take the object).
    fn input_type(&self, t: &TypeDef, nullable: bool) -> String {
        let base = match (&t.kind, &t.as_list) {
            (Kind::List, Some(l)) => {
                let e = &l.element_type_def;
                format!("list[{}]", self.input_type(e, e.optional))
            }
            _ => scalar_name(t),
        };
        if nullable {
            format!("{base} | None")
        } else {
            base
        }
    }

    /// The Python type of a field's result: an object is never `None` (the
    /// query is still being built), a leaf is when it is optional.
    fn output_type(&self, t: &TypeDef) -> String {
        let nullable = is_leaf(t) && (t.optional || t.kind == Kind::Void);
        self.input_type(t, nullable)
    }

    fn method(
        &self,
        parent: &str,
        gql: &str,
        args: &[FunctionArg],
        ret: &TypeDef,
        description: Option<&str>,
    ) -> Method {
        let py = py_name(gql);
        let all: Vec<PyArg> = args.iter().map(|a| self.py_arg(parent, a)).collect();
        let (required, optional): (Vec<&PyArg>, Vec<&PyArg>) = all.iter().partition(|a| a.default.is_none());
        let leaf = is_leaf(ret);
        let list = is_object_list(ret);
        let ty = self.output_type(ret);
        let ret_annotation = if ty == parent { "Self".to_string() } else { self.annotation(ty.clone()) };

        let mut params = vec!["self".to_string()];
        params.extend(required.iter().map(|a| a.param()));
        if !optional.is_empty() {
            params.push("*".into());
            params.extend(optional.iter().map(|a| a.param()));
        }
        let signature =
            format!("{}def {py}({}) -> {ret_annotation}:", if leaf || list { "async " } else { "" }, params.join(", "));

        let mut text = format!("\n    {signature}\n");
        let mut doc = nonempty_str(description).unwrap_or_default().to_string();
        let ordered: Vec<&PyArg> = required.iter().chain(optional.iter()).copied().collect();
        if ordered.iter().any(|a| !a.description.is_empty()) {
            if !doc.is_empty() {
                doc.push_str("\n\n");
            }
            doc.push_str("Parameters\n----------");
            for a in &ordered {
                let _ = write!(doc, "\n{}:", a.py);
                for line in a.description.lines() {
                    let _ = write!(doc, "\n    {line}");
                }
            }
        }
        if !doc.is_empty() {
            push_doc(&mut text, 2, &doc);
        }
        if ordered.is_empty() {
            text.push_str("        _args: list[Arg] = []\n");
        } else {
            text.push_str("        _args = [\n");
            for a in &ordered {
                let _ = writeln!(text, "            {}", a.arg());
            }
            text.push_str("        ]\n");
        }
        let _ = writeln!(text, "        _ctx = self._select(\"{gql}\", _args)");
        if list {
            let _ = writeln!(
                text,
                "        return await _ctx.execute_object_list({})",
                self.client_class(&element_name(ret))
            );
        } else if leaf && ret.kind == Kind::Void {
            text.push_str("        await _ctx.execute()\n");
        } else if leaf {
            let _ = writeln!(text, "        return await _ctx.execute({ty})");
        } else {
            let _ = writeln!(text, "        return {}(_ctx)", self.client_class(&ret.type_name()));
        }
        Method { signature, text }
    }
}

struct Method {
    signature: String,
    text: String,
}

/// `id()`, as the codegen writes it for `id: ID!`.
fn id_method(name: &str) -> String {
    format!(
        "\n    async def id(self) -> str:\n        \"\"\"A unique identifier for this {name}.\n\n        \
         Note\n        ----\n        This is lazily evaluated, no operation is actually run.\n        \"\"\"\n        \
         _args: list[Arg] = []\n        _ctx = self._select(\"id\", _args)\n        return await _ctx.execute(str)\n"
    )
}

/// The Python name of a non-list type: builtins for GraphQL's scalars, the
/// class of the same name otherwise.
fn scalar_name(t: &TypeDef) -> String {
    match t.kind {
        Kind::String => "str".into(),
        Kind::Integer => "int".into(),
        Kind::Float => "float".into(),
        Kind::Boolean => "bool".into(),
        _ => t.type_name(),
    }
}

/// The innermost element of a list (the type itself if it is none).
fn innermost(t: &TypeDef) -> &TypeDef {
    match (&t.kind, &t.as_list) {
        (Kind::List, Some(l)) => innermost(&l.element_type_def),
        _ => t,
    }
}

fn element_name(t: &TypeDef) -> String {
    innermost(t).type_name()
}

/// A scalar, an enum or `Void`, or a list of them: a result the query returns.
fn is_leaf(t: &TypeDef) -> bool {
    !matches!(innermost(t).kind, Kind::Object | Kind::Interface | Kind::Input)
}

fn is_object_list(t: &TypeDef) -> bool {
    t.kind == Kind::List && !is_leaf(t)
}

impl TypeDef {
    /// A required object type by name.
    fn object(name: &str) -> TypeDef {
        TypeDef {
            kind: Kind::Object,
            optional: false,
            as_object: Some(Box::new(ObjectDef { name: name.to_string(), ..Default::default() })),
            as_interface: None,
            as_enum: None,
            as_scalar: None,
            as_input: None,
            as_list: None,
        }
    }
}

fn nonempty(s: &Option<String>) -> Option<&str> {
    nonempty_str(s.as_deref())
}

fn nonempty_str(s: Option<&str>) -> Option<&str> {
    s.filter(|s| !s.trim().is_empty())
}

/// A Python string literal (JSON's escapes are Python's).
fn py_str(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into())
}

/// A JSON value as a Python literal.
fn py_literal(v: &Json) -> String {
    match v {
        Json::Null => "None".into(),
        Json::Bool(true) => "True".into(),
        Json::Bool(false) => "False".into(),
        Json::Number(n) => n.to_string(),
        Json::String(s) => py_str(s),
        Json::Array(items) => format!("[{}]", items.iter().map(py_literal).collect::<Vec<_>>().join(", ")),
        Json::Object(o) => {
            format!(
                "{{{}}}",
                o.iter().map(|(k, v)| format!("{}: {}", py_str(k), py_literal(v))).collect::<Vec<_>>().join(", ")
            )
        }
    }
}

/// A docstring at `level` (4 spaces each), as the codegen's `doc` writes it;
/// backslashes and triple quotes escaped.
fn push_doc(out: &mut String, level: usize, text: &str) {
    let pad = "    ".repeat(level);
    let mut s = text.trim().replace('\\', "\\\\").replace("\"\"\"", "\\\"\\\"\\\"");
    if s.contains('\n') {
        s.push('\n');
    } else if s.ends_with('"') {
        s.push(' ');
    }
    let lines: Vec<&str> = s.split('\n').collect();
    let last = lines.len() - 1;
    let body: Vec<String> = lines
        .iter()
        .enumerate()
        .map(|(i, l)| if i == 0 || (l.is_empty() && i != last) { l.to_string() } else { format!("{pad}{l}") })
        .collect();
    let _ = writeln!(out, "{pad}\"\"\"{}\"\"\"", body.join("\n"));
}

#[cfg(test)]
#[path = "codegen_tests.rs"]
mod tests;
