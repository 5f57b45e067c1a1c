//! Python names of GraphQL fields and arguments, as Dagger's Python codegen
//! makes them (`format_name` in `sdk/python/codegen/src/codegen/generator.py`).

/// A GraphQL field or argument name as a Python name, as the codegen's
/// `format_name` makes it: initialisms title-cased (`ID` → `Id`), then
/// snake_case (`loadFooFromID` → `load_foo_from_id`), a trailing `_` on a
/// keyword or a builtin type name (`from` → `from_`, `str` → `str_`).
pub fn py_name(gql: &str) -> String {
    let s = camel_to_snake(&title_initialisms(gql)).to_lowercase();
    if PY_KEYWORDS.contains(&s.as_str()) || ["str", "int", "float", "bool", "list", "type"].contains(&s.as_str()) {
        format!("{s}_")
    } else {
        s
    }
}

/// Python 3's `keyword.kwlist`.
const PY_KEYWORDS: &[&str] = &[
    "False", "None", "True", "and", "as", "assert", "async", "await", "break", "class", "continue", "def", "del",
    "elif", "else", "except", "finally", "for", "from", "global", "if", "import", "in", "is", "lambda", "nonlocal",
    "not", "or", "pass", "raise", "return", "try", "while", "with", "yield",
];

fn upper_or_digit(c: char) -> bool {
    c.is_ascii_uppercase() || c.is_ascii_digit()
}

/// `re.sub(r"([A-Z\d]+)(?=[A-Z\d]|$)", lambda m: m.group(0).title(), s)`:
/// a run of capitals and digits loses its last one unless it ends the name,
/// and what is left is title-cased.
fn title_initialisms(s: &str) -> String {
    let c: Vec<char> = s.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < c.len() {
        if !upper_or_digit(c[i]) {
            out.push(c[i]);
            i += 1;
            continue;
        }
        let mut j = i;
        while j < c.len() && upper_or_digit(c[j]) {
            j += 1;
        }
        let end = if j == c.len() { j } else { j - 1 };
        let mut prev_cased = false;
        for &ch in &c[i..end] {
            if ch.is_ascii_alphabetic() {
                out.push(if prev_cased { ch.to_ascii_lowercase() } else { ch });
                prev_cased = true;
            } else {
                out.push(ch);
                prev_cased = false;
            }
        }
        out.extend(&c[end..j]);
        i = j;
    }
    out
}

/// graphql-core's `camel_to_snake` before lower-casing:
/// `re.sub(r"([a-z]|[A-Z0-9]+)(?=[A-Z])", r"\1_", s)`.
fn camel_to_snake(s: &str) -> String {
    let c: Vec<char> = s.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < c.len() {
        if c[i].is_ascii_lowercase() && c.get(i + 1).is_some_and(|n| n.is_ascii_uppercase()) {
            out.push(c[i]);
            out.push('_');
            i += 1;
            continue;
        }
        if upper_or_digit(c[i]) {
            let mut j = i;
            while j < c.len() && upper_or_digit(c[j]) {
                j += 1;
            }
            // The longest run c[i..i+k] followed by a capital.
            if let Some(k) = (1..j - i + 1).rev().find(|&k| c.get(i + k).is_some_and(|n| n.is_ascii_uppercase())) {
                out.extend(&c[i..i + k]);
                out.push('_');
                i += k;
                continue;
            }
        }
        out.push(c[i]);
        i += 1;
    }
    out
}
