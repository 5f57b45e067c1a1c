//! GraphQL literals printed back: default values for introspection and the SDL printer.

use std::fmt::Write as _;

use async_graphql_value::ConstValue;

/// Prints a const value as a GraphQL literal (`"a\"b"`, `[1, 2]`, `{name: "x"}`, `SUCCESS`), as
/// introspection's `defaultValue` and the SDL printer need.
pub fn print_literal(v: &ConstValue) -> String {
    let mut out = String::new();
    write_literal(&mut out, v);
    out
}

fn write_literal(out: &mut String, v: &ConstValue) {
    match v {
        ConstValue::Null => out.push_str("null"),
        ConstValue::Number(n) => {
            let _ = write!(out, "{n}");
        }
        ConstValue::String(s) => write_string(out, s),
        ConstValue::Boolean(b) => out.push_str(if *b { "true" } else { "false" }),
        ConstValue::Binary(b) => write_string(out, &String::from_utf8_lossy(b)),
        ConstValue::Enum(e) => out.push_str(e),
        ConstValue::List(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_literal(out, item);
            }
            out.push(']');
        }
        ConstValue::Object(fields) => {
            out.push('{');
            for (i, (k, item)) in fields.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                out.push_str(k);
                out.push_str(": ");
                write_literal(out, item);
            }
            out.push('}');
        }
    }
}

/// Writes a GraphQL string literal (JSON-compatible escaping).
pub(crate) fn write_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04X}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}
