//! SDL printing and the generator of the "0.21 view" schema file.
//!
//! `schema/dagger-v0.21.graphqls` is produced by [`v021_view`] from Dagger's published v0.21.8
//! SDL (run `cargo run -p tanto-api --example gen_schema -- <reference.graphqls> <out>`): the
//! reference with every description dropped (we write our own) plus what dagger-io 0.21.11
//! sends that v0.21.8 lacks:
//! - `scalar <T>ID` and `Query.load<T>FromID(id: <T>ID!): <T>!` for every object and interface
//!   with `id: ID!`, except the `Query` root and the `Node` interface itself (the same 67 that
//!   the Python SDK generates);
//! - `type Volume implements Node`, `Container.withMountedVolume` and `Query.sshfsVolume`, with
//!   the arguments the 0.21.11 SDKs send.
//!
//! New types and fields are inserted at their alphabetical position, as in the reference.

use std::fmt::Write as _;

use async_graphql_parser::types::{
    ConstDirective, DirectiveDefinition, FieldDefinition, InputValueDefinition, ServiceDocument, TypeDefinition,
    TypeKind, TypeSystemDefinition,
};
use async_graphql_parser::Positioned;

use super::schema::{location_name, parse_sdl, SchemaError};
use super::value::{print_literal, write_string};

/// Definitions that dagger-io 0.21.11 uses on top of the v0.21.8 SDL.
const V021_ADDITIONS: &str = r#"
type Volume implements Node {
  id: ID!
}
type Container {
  withMountedVolume(path: String!, volume: ID! @expectedType(name: "Volume"), readOnly: Boolean = false, expand: Boolean = false): Container!
}
type Query {
  sshfsVolume(endpoint: String!, privateKey: ID! @expectedType(name: "Secret"), knownHosts: ID @expectedType(name: "Secret"), cacheKey: String, insecureSkipHostKeyCheck: Boolean = false, experimentalServiceHost: ID @expectedType(name: "Service")): Volume!
}
"#;

/// Types that get no legacy `<T>ID` scalar nor `load<T>FromID` field.
const NO_LEGACY_ID: &[&str] = &["Query", "Node"];

/// Builds the v0.21 view SDL (no descriptions) from the reference v0.21.8 SDL.
pub fn v021_view(reference_sdl: &str) -> Result<String, SchemaError> {
    let mut doc = parse_sdl(reference_sdl)?;
    let additions = parse(V021_ADDITIONS)?;
    merge(&mut doc, additions)?;

    let mut nodes: Vec<String> = doc
        .definitions
        .iter()
        .filter_map(|d| match d {
            TypeSystemDefinition::Type(t) => Some(&t.node),
            _ => None,
        })
        .filter(|t| !NO_LEGACY_ID.contains(&t.name.node.as_str()))
        .filter(|t| match &t.kind {
            TypeKind::Object(o) => has_id(&o.fields),
            TypeKind::Interface(i) => has_id(&i.fields),
            _ => false,
        })
        .map(|t| t.name.node.to_string())
        .collect();
    nodes.sort();
    let mut legacy = String::new();
    for n in &nodes {
        let _ = writeln!(legacy, "scalar {n}ID");
    }
    legacy.push_str("type Query {\n");
    for n in &nodes {
        let _ = writeln!(legacy, "  load{n}FromID(id: {n}ID!): {n}!");
    }
    legacy.push_str("}\n");
    merge(&mut doc, parse(&legacy)?)?;
    Ok(print_document(&doc))
}

fn parse(sdl: &str) -> Result<ServiceDocument, SchemaError> {
    parse_sdl(sdl)
}

fn has_id(fields: &[Positioned<FieldDefinition>]) -> bool {
    fields.iter().any(|f| f.node.name.node == "id" && f.node.ty.node.to_string() == "ID!")
}

/// Adds the types of `extra` to `doc`: new types at their sorted position, fields of existing
/// object types merged in at their sorted position.
fn merge(doc: &mut ServiceDocument, extra: ServiceDocument) -> Result<(), SchemaError> {
    for def in extra.definitions {
        let TypeSystemDefinition::Type(t) = def else {
            continue;
        };
        let name = t.node.name.node.to_string();
        let existing = doc.definitions.iter_mut().find_map(|d| match d {
            TypeSystemDefinition::Type(e) if e.node.name.node == name => Some(e),
            _ => None,
        });
        match existing {
            None => {
                let at = doc
                    .definitions
                    .iter()
                    .position(
                        |d| matches!(d, TypeSystemDefinition::Type(e) if e.node.name.node.as_str() > name.as_str()),
                    )
                    .unwrap_or(doc.definitions.len());
                doc.definitions.insert(at, TypeSystemDefinition::Type(t));
            }
            Some(e) => {
                let (TypeKind::Object(into), TypeKind::Object(from)) = (&mut e.node.kind, t.node.kind) else {
                    return Err(SchemaError::BadExtension(name));
                };
                for f in from.fields {
                    let fname = f.node.name.node.to_string();
                    if into.fields.iter().any(|x| x.node.name.node == fname) {
                        return Err(SchemaError::DuplicateMember(format!("{name}.{fname}")));
                    }
                    let at = into
                        .fields
                        .iter()
                        .position(|x| x.node.name.node.as_str() > fname.as_str())
                        .unwrap_or(into.fields.len());
                    into.fields.insert(at, f);
                }
            }
        }
    }
    Ok(())
}

/// Prints a parsed SDL document without descriptions, one definition per paragraph.
pub fn print_document(doc: &ServiceDocument) -> String {
    let mut out = String::new();
    for (i, def) in doc.definitions.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        match def {
            TypeSystemDefinition::Schema(s) => {
                let s = &s.node;
                out.push_str(if s.extend { "extend schema" } else { "schema" });
                directives(&mut out, &s.directives);
                out.push_str(" {\n");
                for (k, v) in [("query", &s.query), ("mutation", &s.mutation), ("subscription", &s.subscription)] {
                    if let Some(v) = v {
                        let _ = writeln!(out, "  {k}: {}", v.node);
                    }
                }
                out.push_str("}\n");
            }
            TypeSystemDefinition::Directive(d) => directive_definition(&mut out, &d.node),
            TypeSystemDefinition::Type(t) => type_definition(&mut out, &t.node),
        }
    }
    out
}

fn directive_definition(out: &mut String, d: &DirectiveDefinition) {
    let _ = write!(out, "directive @{}", d.name.node);
    arguments(out, &d.arguments);
    if d.is_repeatable {
        out.push_str(" repeatable");
    }
    out.push_str(" on ");
    let locs: Vec<&str> = d.locations.iter().map(|l| location_name(l.node)).collect();
    out.push_str(&locs.join(" | "));
    out.push('\n');
}

fn type_definition(out: &mut String, t: &TypeDefinition) {
    if t.extend {
        out.push_str("extend ");
    }
    let name = &t.name.node;
    match &t.kind {
        TypeKind::Scalar => {
            let _ = write!(out, "scalar {name}");
            directives(out, &t.directives);
            out.push('\n');
        }
        TypeKind::Object(o) => {
            let _ = write!(out, "type {name}");
            implements(out, &o.implements);
            directives(out, &t.directives);
            fields(out, &o.fields);
        }
        TypeKind::Interface(i) => {
            let _ = write!(out, "interface {name}");
            implements(out, &i.implements);
            directives(out, &t.directives);
            fields(out, &i.fields);
        }
        TypeKind::Union(u) => {
            let _ = write!(out, "union {name}");
            directives(out, &t.directives);
            let members: Vec<&str> = u.members.iter().map(|m| m.node.as_str()).collect();
            let _ = writeln!(out, " = {}", members.join(" | "));
        }
        TypeKind::Enum(e) => {
            let _ = write!(out, "enum {name}");
            directives(out, &t.directives);
            out.push_str(" {\n");
            for v in &e.values {
                let _ = write!(out, "  {}", v.node.value.node);
                directives(out, &v.node.directives);
                out.push('\n');
            }
            out.push_str("}\n");
        }
        TypeKind::InputObject(io) => {
            let _ = write!(out, "input {name}");
            directives(out, &t.directives);
            out.push_str(" {\n");
            for f in &io.fields {
                out.push_str("  ");
                input_value(out, &f.node);
                out.push('\n');
            }
            out.push_str("}\n");
        }
    }
}

fn implements(out: &mut String, names: &[Positioned<async_graphql_value::Name>]) {
    if !names.is_empty() {
        let names: Vec<&str> = names.iter().map(|n| n.node.as_str()).collect();
        let _ = write!(out, " implements {}", names.join(" & "));
    }
}

fn fields(out: &mut String, fields: &[Positioned<FieldDefinition>]) {
    out.push_str(" {\n");
    for f in fields {
        let f = &f.node;
        let _ = write!(out, "  {}", f.name.node);
        arguments(out, &f.arguments);
        let _ = write!(out, ": {}", f.ty.node);
        directives(out, &f.directives);
        out.push('\n');
    }
    out.push_str("}\n");
}

fn arguments(out: &mut String, args: &[Positioned<InputValueDefinition>]) {
    if args.is_empty() {
        return;
    }
    out.push('(');
    for (i, a) in args.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        input_value(out, &a.node);
    }
    out.push(')');
}

fn input_value(out: &mut String, a: &InputValueDefinition) {
    let _ = write!(out, "{}: {}", a.name.node, a.ty.node);
    if let Some(d) = &a.default_value {
        out.push_str(" = ");
        out.push_str(&print_literal(&d.node));
    }
    directives(out, &a.directives);
}

fn directives(out: &mut String, ds: &[Positioned<ConstDirective>]) {
    for d in ds {
        let _ = write!(out, " @{}", d.node.name.node);
        if !d.node.arguments.is_empty() {
            out.push('(');
            for (i, (n, v)) in d.node.arguments.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                let _ = write!(out, "{}: ", n.node);
                match &v.node {
                    async_graphql_value::ConstValue::String(s) => write_string(out, s),
                    v => out.push_str(&print_literal(v)),
                }
            }
            out.push(')');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs `v021_view` on `reference` and compares with `expected` (exact text).
    fn check(reference: &str, expected: &str) {
        let got = v021_view(reference).expect("view builds");
        assert_eq!(got, expected, "\n--- got ---\n{got}\n--- expected ---\n{expected}");
    }

    #[test]
    fn view_strips_descriptions_and_adds_legacy_ids() {
        check(
            r#"
"""Dir doc."""
directive @expectedType("""n""" name: String!) on ARGUMENT_DEFINITION | FIELD_DEFINITION
type Container implements Node {
  """doc"""
  id: ID!
  withExec(
    """args doc"""
    args: [String!]!
    expect: ReturnType = SUCCESS
    old: Boolean = true @deprecated(reason: "gone \"soon\"")
  ): Container!
}
"""Node doc"""
interface Node { id: ID! }
scalar Platform
input PortForward { backend: Int!, protocol: String = "TCP" }
type Query implements Node {
  container: Container!
  id: ID!
  node(id: ID!): Node
}
enum ReturnType { SUCCESS FAILURE @deprecated OCI @enumValue(value: "x") }
union U = Container | Query
"#,
            r#"directive @expectedType(name: String!) on ARGUMENT_DEFINITION | FIELD_DEFINITION

type Container implements Node {
  id: ID!
  withExec(args: [String!]!, expect: ReturnType = SUCCESS, old: Boolean = true @deprecated(reason: "gone \"soon\"")): Container!
  withMountedVolume(path: String!, volume: ID! @expectedType(name: "Volume"), readOnly: Boolean = false, expand: Boolean = false): Container!
}

scalar ContainerID

interface Node {
  id: ID!
}

scalar Platform

input PortForward {
  backend: Int!
  protocol: String = "TCP"
}

type Query implements Node {
  container: Container!
  id: ID!
  loadContainerFromID(id: ContainerID!): Container!
  loadVolumeFromID(id: VolumeID!): Volume!
  node(id: ID!): Node
  sshfsVolume(endpoint: String!, privateKey: ID! @expectedType(name: "Secret"), knownHosts: ID @expectedType(name: "Secret"), cacheKey: String, insecureSkipHostKeyCheck: Boolean = false, experimentalServiceHost: ID @expectedType(name: "Service")): Volume!
}

enum ReturnType {
  SUCCESS
  FAILURE @deprecated
  OCI @enumValue(value: "x")
}

union U = Container | Query

type Volume implements Node {
  id: ID!
}

scalar VolumeID
"#,
        );
    }
}
