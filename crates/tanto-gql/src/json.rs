//! JSON values as deep as a query may nest: serialized and dropped with an explicit stack.
//! serde_json's own `Serialize` and `Drop` recurse once per level, which a response to a
//! chain of ten thousand calls would turn into a stack overflow.

use serde_json::Value as Json;

/// Serializes `v` compactly, as `serde_json::to_vec` does, without recursion.
pub fn to_vec(v: &Json) -> Vec<u8> {
    enum Step<'v> {
        Value(&'v Json),
        Key(&'v str),
        Raw(&'static [u8]),
    }
    let mut out = Vec::new();
    let mut stack = vec![Step::Value(v)];
    while let Some(step) = stack.pop() {
        match step {
            Step::Raw(b) => out.extend_from_slice(b),
            Step::Key(k) => leaf(&mut out, &Json::String(k.to_string())),
            Step::Value(Json::Array(items)) => {
                out.push(b'[');
                stack.push(Step::Raw(b"]"));
                for (i, item) in items.iter().enumerate().rev() {
                    stack.push(Step::Value(item));
                    if i > 0 {
                        stack.push(Step::Raw(b","));
                    }
                }
            }
            Step::Value(Json::Object(map)) => {
                out.push(b'{');
                stack.push(Step::Raw(b"}"));
                for (i, (k, item)) in map.iter().enumerate().rev() {
                    stack.push(Step::Value(item));
                    stack.push(Step::Raw(b":"));
                    stack.push(Step::Key(k));
                    if i > 0 {
                        stack.push(Step::Raw(b","));
                    }
                }
            }
            Step::Value(scalar) => leaf(&mut out, scalar),
        }
    }
    out
}

/// A scalar (or a key as a string) through serde_json, for its escaping and number format.
fn leaf(out: &mut Vec<u8>, v: &Json) {
    // Writing a scalar into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, v);
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
            drop_deep(v);
            bytes.len()
        };
        let len = std::thread::Builder::new().stack_size(128 << 10).spawn(run).expect("spawn").join();
        assert_eq!(len.ok(), Some(100_000 * 7 + 6));
    }
}
