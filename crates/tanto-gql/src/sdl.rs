//! SDL parsing and printing: the parser's SDL with its `repeatable` defect fixed ([`parse`]),
//! and a printer without descriptions ([`print_document`]).

use std::fmt::Write as _;

use async_graphql_parser::types::{
    ConstDirective, DirectiveDefinition, FieldDefinition, InputValueDefinition, ServiceDocument, TypeDefinition,
    TypeKind, TypeSystemDefinition,
};
use async_graphql_parser::Positioned;

use super::schema::location_name;
use super::value::{print_literal, write_string};

pub use super::schema::parse_sdl as parse;

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
