//! SDL parsing and printing: the parser's SDL with its `repeatable` defect fixed ([`parse`]),
//! and a printer without descriptions ([`print_document`]).

use std::collections::HashMap;
use std::fmt::Write as _;

use async_graphql_parser::types::{
    ConstDirective, DirectiveDefinition, FieldDefinition, InputValueDefinition, ServiceDocument, TypeDefinition,
    TypeKind, TypeSystemDefinition,
};
use async_graphql_parser::Positioned;

use super::schema::SchemaError;
use super::value::{print_literal, write_string};

/// Renders a parser error with its position.
fn error_text(e: &async_graphql_parser::Error) -> String {
    match e.positions().next() {
        Some(p) => format!("{} (line {}, column {})", e.to_string().trim(), p.line, p.column),
        None => e.to_string().trim().to_string(),
    }
}

/// Parses SDL, fixing what async-graphql-parser 7 gets wrong: its grammar's `repeatable` rule
/// matches the empty string, so every directive definition comes back repeatable. We look at
/// the source text between a directive's name and its first location instead.
pub fn parse(src: &str) -> Result<async_graphql_parser::types::ServiceDocument, SchemaError> {
    let mut doc = async_graphql_parser::parse_schema(src).map_err(|e| SchemaError::Parse(error_text(&e)))?;
    let mut wanted: Vec<async_graphql_parser::Pos> = Vec::new();
    for def in &doc.definitions {
        if let async_graphql_parser::types::TypeSystemDefinition::Directive(d) = def {
            wanted.push(d.node.name.pos);
            if let Some(l) = d.node.locations.first() {
                wanted.push(l.pos);
            }
        }
    }
    if wanted.is_empty() {
        return Ok(doc);
    }
    let offsets = byte_offsets(src, &wanted);
    for def in &mut doc.definitions {
        if let async_graphql_parser::types::TypeSystemDefinition::Directive(d) = def {
            let d = &mut d.node;
            let start = offsets.get(&d.name.pos).copied();
            let end = d.locations.first().and_then(|l| offsets.get(&l.pos)).copied();
            d.is_repeatable = match (start, end) {
                (Some(s), Some(e)) if s < e => {
                    // `... [)] repeatable on LOC`: drop the `on` keyword, then look at the last word.
                    let head = src[s..e].trim_end();
                    let head = head.strip_suffix("on").unwrap_or(head).trim_end();
                    head.strip_suffix("repeatable")
                        .is_some_and(|before| before.ends_with(|c: char| c.is_whitespace() || c == ')' || c == ','))
                }
                _ => false,
            };
        }
    }
    Ok(doc)
}

/// Byte offsets of parser positions (1-based line and column, columns counted in chars, as the
/// parser counts them).
fn byte_offsets(src: &str, wanted: &[async_graphql_parser::Pos]) -> HashMap<async_graphql_parser::Pos, usize> {
    let mut sorted = wanted.to_vec();
    sorted.sort();
    sorted.dedup();
    let mut next = 0;
    let mut out = HashMap::new();
    let (mut line, mut column) = (1usize, 1usize);
    for (i, ch) in src.char_indices() {
        let here = async_graphql_parser::Pos { line, column };
        while next < sorted.len() && sorted[next] < here {
            next += 1; // not at a char boundary we visit; give up on it
        }
        if next == sorted.len() {
            break;
        }
        if sorted[next] == here {
            out.insert(here, i);
            next += 1;
        }
        match ch {
            '\r' => column = 1,
            '\n' => {
                line += 1;
                column = 1;
            }
            _ => column += 1,
        }
    }
    out
}

/// The `__DirectiveLocation` name of a parsed location.
pub(crate) fn location_name(l: async_graphql_parser::types::DirectiveLocation) -> &'static str {
    use async_graphql_parser::types::DirectiveLocation as L;
    match l {
        L::Query => "QUERY",
        L::Mutation => "MUTATION",
        L::Subscription => "SUBSCRIPTION",
        L::Field => "FIELD",
        L::FragmentDefinition => "FRAGMENT_DEFINITION",
        L::FragmentSpread => "FRAGMENT_SPREAD",
        L::InlineFragment => "INLINE_FRAGMENT",
        L::VariableDefinition => "VARIABLE_DEFINITION",
        L::Schema => "SCHEMA",
        L::Scalar => "SCALAR",
        L::Object => "OBJECT",
        L::FieldDefinition => "FIELD_DEFINITION",
        L::ArgumentDefinition => "ARGUMENT_DEFINITION",
        L::Interface => "INTERFACE",
        L::Union => "UNION",
        L::Enum => "ENUM",
        L::EnumValue => "ENUM_VALUE",
        L::InputObject => "INPUT_OBJECT",
        L::InputFieldDefinition => "INPUT_FIELD_DEFINITION",
    }
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
