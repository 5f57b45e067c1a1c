//! JSON values as deep as a query may nest: serialized and dropped with an explicit stack.
//! serde_json's own `Serialize` and `Drop` recurse once per level, which a response to a
//! chain of ten thousand calls would turn into a stack overflow.

use serde_json::Value as Json;

/// Serializes `v` compactly, as `serde_json::to_vec` does, without recursion.
pub fn to_vec(v: &Json) -> Vec<u8> {
    write(v, false)
}

/// Serializes `v` indented, as `serde_json::to_vec_pretty` does, without recursion.
/// Indentation stops growing at [`MAX_INDENT`] levels, so that the text of a
/// deep value stays linear in its size.
pub fn to_vec_pretty(v: &Json) -> Vec<u8> {
    write(v, true)
}

/// Levels of indentation at most, in [`to_vec_pretty`].
pub const MAX_INDENT: usize = 32;

fn write(v: &Json, pretty: bool) -> Vec<u8> {
    enum Step<'v> {
        /// A value at indentation `depth`.
        Value(&'v Json, usize),
        Key(&'v str),
        /// A separator or a closing bracket, then a new line indented `depth` when pretty.
        Punct(&'static [u8], Option<usize>),
    }
    let newline = |out: &mut Vec<u8>, depth: usize| {
        out.push(b'\n');
        out.extend(std::iter::repeat_n(b' ', 2 * depth.min(MAX_INDENT)));
    };
    let mut out = Vec::new();
    let mut stack = vec![Step::Value(v, 0)];
    while let Some(step) = stack.pop() {
        match step {
            Step::Punct(b, indent) => {
                if let (true, Some(depth)) = (pretty, indent) {
                    newline(&mut out, depth);
                }
                out.extend_from_slice(b);
            }
            Step::Key(k) => leaf(&mut out, &Json::String(k.to_string())),
            Step::Value(Json::Array(items), depth) if !items.is_empty() => {
                out.push(b'[');
                stack.push(Step::Punct(b"]", Some(depth)));
                for (i, item) in items.iter().enumerate().rev() {
                    stack.push(Step::Value(item, depth + 1));
                    if pretty {
                        stack.push(Step::Punct(b"", Some(depth + 1)));
                    }
                    if i > 0 {
                        stack.push(Step::Punct(b",", None));
                    }
                }
            }
            Step::Value(Json::Object(map), depth) if !map.is_empty() => {
                out.push(b'{');
                stack.push(Step::Punct(b"}", Some(depth)));
                for (i, (k, item)) in map.iter().enumerate().rev() {
                    stack.push(Step::Value(item, depth + 1));
                    stack.push(Step::Punct(if pretty { b": " } else { b":" }, None));
                    stack.push(Step::Key(k));
                    if pretty {
                        stack.push(Step::Punct(b"", Some(depth + 1)));
                    }
                    if i > 0 {
                        stack.push(Step::Punct(b",", None));
                    }
                }
            }
            Step::Value(Json::Array(_), _) => out.extend_from_slice(b"[]"),
            Step::Value(Json::Object(_), _) => out.extend_from_slice(b"{}"),
            Step::Value(scalar, _) => leaf(&mut out, scalar),
        }
    }
    out
}

/// A scalar (or a key as a string) through serde_json, for its escaping and number format.
fn leaf(out: &mut Vec<u8>, v: &Json) {
    // Writing a scalar into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, v);
}

/// What kind of value `v` is, for messages: "null", "a string", "an object"...
pub fn kind(v: &Json) -> &'static str {
    match v {
        Json::Null => "null",
        Json::Bool(_) => "a boolean",
        Json::Number(_) => "a number",
        Json::String(_) => "a string",
        Json::Array(_) => "an array",
        Json::Object(_) => "an object",
    }
}

/// Drops `v` level by level instead of recursively.
pub fn drop_deep(v: Json) {
    let mut stack = vec![v];
    while let Some(v) = stack.pop() {
        match v {
            Json::Array(items) => stack.extend(items),
            Json::Object(map) => stack.extend(map.into_iter().map(|(_, v)| v)),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn same_bytes_as_serde() {
        let cases = [
            json!(null),
            json!("a\"b\n\u{1}é"),
            json!(1.5),
            json!([]),
            json!({}),
            json!({"a": [1, {"b": null, "c": [true, false]}], "d": "x", "e": {}}),
            json!([[[]], [{}], -3, 18446744073709551615u64]),
        ];
        for v in cases {
            assert_eq!(String::from_utf8_lossy(&to_vec(&v)), serde_json::to_string(&v).unwrap_or_default());
            assert_eq!(
                String::from_utf8_lossy(&to_vec_pretty(&v)),
                serde_json::to_string_pretty(&v).unwrap_or_default()
            );
        }
    }

    #[test]
    fn deep_values_on_a_small_stack() {
        let run = || {
            // Built bottom-up, as the executor builds responses.
            let mut v = json!("leaf");
            for i in 0..100_000 {
                let mut m = serde_json::Map::new();
                m.insert(format!("k{}", i % 3), v);
                v = Json::Object(m);
            }
            let bytes = to_vec(&v);
            let pretty = to_vec_pretty(&v);
            drop_deep(v);
            assert!(pretty.len() > bytes.len());
            bytes.len()
        };
        let len = std::thread::Builder::new().stack_size(128 << 10).spawn(run).expect("spawn").join();
        assert_eq!(len.ok(), Some(100_000 * 7 + 6));
    }
}
