//! The Dagger API we serve: the v0.21 view of Dagger's SDL, embedded, and the generator that
//! makes it.
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
use std::sync::{Arc, OnceLock};

use async_graphql_parser::types::{FieldDefinition, ServiceDocument, TypeKind, TypeSystemDefinition};
use async_graphql_parser::Positioned;
use tanto_gql::{sdl, Schema, SchemaError};

/// The Dagger API, v0.21 view, without descriptions (see `schema/dagger-v0.21.graphqls`).
pub const DAGGER_V021_SDL: &str = include_str!("../schema/dagger-v0.21.graphqls");

/// The Dagger v0.21 view, parsed once from the embedded SDL. Clone it to fill in descriptions
/// ([`Schema::set_description`]); clones start with an empty introspection memo.
pub fn dagger_v021() -> &'static Schema {
    dagger_v021_shared()
}

/// The same schema, shared (sessions that serve no module hold this one).
pub fn dagger_v021_arc() -> Arc<Schema> {
    dagger_v021_shared().clone()
}

fn dagger_v021_shared() -> &'static Arc<Schema> {
    static SCHEMA: OnceLock<Arc<Schema>> = OnceLock::new();
    SCHEMA.get_or_init(|| match Schema::parse(DAGGER_V021_SDL) {
        Ok(s) => Arc::new(s),
        // The file is committed and checked by a test; failing here is a build defect.
        Err(e) => panic!("embedded schema `dagger-v0.21.graphqls` is invalid: {e}"),
    })
}

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
    let mut doc = sdl::parse(reference_sdl)?;
    let additions = sdl::parse(V021_ADDITIONS)?;
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
    merge(&mut doc, sdl::parse(&legacy)?)?;
    Ok(sdl::print_document(&doc))
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

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use async_graphql_value::ConstValue;
    use indexmap::IndexMap;
    use tanto_gql::schema::{EnumValueDef, TypeKind};

    use super::*;

    /// Where the reference SDL lives in a checkout with `shared/` beside the repository.
    fn reference_sdl() -> Option<String> {
        let candidates = [
            std::env::var("TANTO_DAGGER_REFERENCE_SDL").ok(),
            Some(
                concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/reference/dagger-v0.21.8-schema.graphqls").into(),
            ),
        ];
        candidates.into_iter().flatten().find_map(|p| std::fs::read_to_string(p).ok())
    }

    /// Asserts that `type_name.field` has the SDL signature `sig` (args and type, directives
    /// left out), e.g. `(args: [String!]!, expect: ReturnType = SUCCESS): Container!`.
    fn check_field(schema: &Schema, type_name: &str, field: &str, sig: &str) {
        let f = schema.field(type_name, field).unwrap_or_else(|| panic!("`{type_name}.{field}` is missing"));
        let mut got = String::new();
        if !f.args.is_empty() {
            let args: Vec<String> = f
                .args
                .values()
                .map(|a| match &a.default_value {
                    Some(d) => format!("{}: {} = {}", a.name, a.ty, tanto_gql::print_literal(d)),
                    None => format!("{}: {}", a.name, a.ty),
                })
                .collect();
            got = format!("({})", args.join(", "));
        }
        got.push_str(&format!(": {}", f.ty));
        assert_eq!(got, sig, "signature of `{type_name}.{field}`");
    }

    #[test]
    fn dagger_schema_key_facts() {
        let s = dagger_v021();
        assert_eq!(s.query_type(), "Query");
        check_field(s, "Query", "version", ": String!");
        check_field(s, "Query", "defaultPlatform", ": Platform!");
        check_field(s, "Query", "node", "(id: ID!): Node");
        check_field(s, "Query", "container", "(platform: Platform): Container!");
        check_field(s, "Query", "loadContainerFromID", "(id: ContainerID!): Container!");
        check_field(s, "Query", "loadVolumeFromID", "(id: VolumeID!): Volume!");
        check_field(
            s,
            "Container",
            "withExec",
            "(args: [String!]!, useEntrypoint: Boolean = false, stdin: String = \"\", redirectStdin: String = \"\", \
             redirectStdout: String = \"\", redirectStderr: String = \"\", expect: ReturnType = SUCCESS, \
             experimentalPrivilegedNesting: Boolean = false, insecureRootCapabilities: Boolean = false, \
             expand: Boolean = false, noInit: Boolean = false): Container!",
        );
        check_field(
            s,
            "Container",
            "withMountedVolume",
            "(path: String!, volume: ID!, readOnly: Boolean = false, expand: Boolean = false): Container!",
        );
        check_field(
            s,
            "Query",
            "sshfsVolume",
            "(endpoint: String!, privateKey: ID!, knownHosts: ID, cacheKey: String, \
             insecureSkipHostKeyCheck: Boolean = false, experimentalServiceHost: ID): Volume!",
        );
        check_field(s, "GitRepository", "commit", "(id: String!): GitRef!");
        let loads = s
            .get_type("Query")
            .unwrap()
            .fields
            .keys()
            .filter(|k| k.starts_with("load") && k.ends_with("FromID"))
            .count();
        assert_eq!(loads, 67, "one load<T>FromID per object/interface, as dagger-io 0.21.11 has");
        assert_eq!(s.get_type("ContainerID").map(|t| t.kind), Some(TypeKind::Scalar));
        assert!(s.is_id_scalar("ContainerID") && s.is_id_scalar("ID") && !s.is_id_scalar("Platform"));
        let volume = s.get_type("Volume").unwrap();
        assert_eq!(volume.kind, TypeKind::Object);
        assert!(volume.implements("Node"));
        // Defaults are coerced once; enum defaults become strings.
        let expect = &s.field("Container", "withExec").unwrap().args["expect"];
        assert_eq!(expect.default_json, Some(serde_json::json!("SUCCESS")));
        // Directives survive, descriptions do not.
        let vol = &s.field("Container", "withMountedVolume").unwrap().args["volume"];
        assert_eq!(vol.directives[0].arg("name"), Some(&ConstValue::String("Volume".into())));
        assert!(s.types().all(|t| t.description.is_none()));
        assert!(!s.get_directive("expectedType").unwrap().repeatable);
        // Interfaces and possible types.
        let node = s.get_type("Node").unwrap();
        assert!(node.possible_types.iter().any(|p| &**p == "Container"));
        assert!(s.type_applies("Container", "Syncer"));
        assert!(!s.type_applies("Container", "Directory"));
        // Deprecation with reason.
        let keep = &s.field("Query", "git").unwrap().args["keepGitDir"];
        assert_eq!(keep.deprecation.as_deref(), Some("Set to true to keep .git directory."));
        // Enum aliases are plain values.
        let media = s.get_type("ImageMediaTypes").unwrap();
        assert!(media.enum_values.contains_key("OCI") && media.enum_values.contains_key("OCIMediaTypes"));
    }

    #[test]
    fn committed_file_is_what_the_generator_makes() {
        let Some(reference) = reference_sdl() else {
            eprintln!("skipped: reference SDL not found (set TANTO_DAGGER_REFERENCE_SDL)");
            return;
        };
        let generated = v021_view(&reference).expect("view builds");
        assert!(
            generated == DAGGER_V021_SDL,
            "schema/dagger-v0.21.graphqls is stale: run `cargo run -p tanto-api --example gen_schema -- <reference>`"
        );
        // Everything in the reference is in the view, with the same signature and directives.
        let r = Schema::parse(&reference).expect("reference parses");
        let v = dagger_v021();
        for rt in r.types() {
            let vt = v.get_type(&rt.name).unwrap_or_else(|| panic!("`{}` is missing", rt.name));
            assert_eq!(rt.kind, vt.kind, "{}", rt.name);
            assert_eq!(rt.interfaces, vt.interfaces, "{}", rt.name);
            assert_eq!(rt.directives, vt.directives, "{}", rt.name);
            for rf in rt.fields.values() {
                let vf = &vt.fields[&rf.name];
                assert_eq!(rf.ty, vf.ty, "{}.{}", rt.name, rf.name);
                assert_eq!(rf.directives, vf.directives, "{}.{}", rt.name, rf.name);
                assert_eq!(rf.args.len(), vf.args.len(), "{}.{}", rt.name, rf.name);
                for (ra, va) in rf.args.values().zip(vf.args.values()) {
                    assert_eq!(
                        (&ra.name, &ra.ty, &ra.default_value, &ra.directives),
                        (&va.name, &va.ty, &va.default_value, &va.directives),
                        "{}.{}",
                        rt.name,
                        rf.name
                    );
                }
            }
            let names = |m: &IndexMap<Arc<str>, EnumValueDef>| {
                m.values().map(|e| (e.name.clone(), e.directives.clone())).collect::<Vec<_>>()
            };
            assert_eq!(names(&rt.enum_values), names(&vt.enum_values), "{}", rt.name);
            for (ra, va) in rt.input_fields.values().zip(vt.input_fields.values()) {
                assert_eq!((&ra.name, &ra.ty, &ra.default_value), (&va.name, &va.ty, &va.default_value));
            }
        }
        assert_eq!(r.directives().count(), v.directives().count());
    }

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
