//! Name normalisation for type defs, with the rules of the `strcase` package
//! Dagger uses: SDKs register names in their own style (`my_func`, `MyObj`,
//! `my-enum`) and the API shows them as GraphQL names (`myFunc`, `MyObj`,
//! `MY_ENUM`).

/// Names `strcase` keeps as written (`strcase.ConfigureAcronym` in Dagger).
const ACRONYMS: [&str; 2] = ["JSON", "LLM"];

fn is_sep(c: u8) -> bool {
    matches!(c, b'_' | b' ' | b'-' | b'.')
}

/// `UpperCamel` (`first_cap` true) or `lowerCamel`: separators are dropped and
/// capitalise the next letter, as does a digit; runs of capitals are lowered
/// after their first letter, as `strcase` does (`HTTPServer` → `Httpserver`).
fn camel(s: &str, first_cap: bool) -> String {
    let s = s.trim();
    // Dagger configures `JSON` and `LLM` as acronyms (core/json.go, core/llm.go):
    // a name that is exactly one keeps its capitals.
    let acronym = ACRONYMS.contains(&s);
    let mut out = String::with_capacity(s.len());
    let mut cap_next = first_cap;
    let mut prev_cap = false;
    for (i, ch) in s.chars().enumerate() {
        let is_cap = ch.is_ascii_uppercase();
        let is_low = ch.is_ascii_lowercase();
        let c = if cap_next {
            ch.to_ascii_uppercase()
        } else if i == 0 || (prev_cap && is_cap && !acronym) {
            ch.to_ascii_lowercase()
        } else {
            ch
        };
        prev_cap = is_cap;
        if is_cap || is_low || !ch.is_ascii() {
            out.push(c);
            cap_next = false;
        } else if ch.is_ascii_digit() {
            out.push(c);
            cap_next = true;
        } else {
            cap_next = ch.is_ascii() && is_sep(ch as u8);
        }
    }
    out
}

/// `my_object` → `MyObject` (object, interface, enum and scalar names).
pub fn to_camel(s: &str) -> String {
    camel(s, true)
}

/// `my_func` → `myFunc` (function, argument and field names).
pub fn to_lower_camel(s: &str) -> String {
    camel(s, false)
}

/// `myValue` → `MY_VALUE` (enum member names): words split at separators,
/// at lower→upper and letter↔digit changes, and before the last capital of an
/// acronym followed by lower case (`JSONData` → `JSON_DATA`).
pub fn to_screaming_snake(s: &str) -> String {
    let b = s.trim().as_bytes();
    let mut out = String::with_capacity(b.len() + 4);
    let kind = |c: u8| {
        if c.is_ascii_uppercase() {
            1
        } else if c.is_ascii_lowercase() {
            2
        } else if c.is_ascii_digit() {
            3
        } else {
            0
        }
    };
    for i in 0..b.len() {
        let c = b[i];
        if is_sep(c) {
            if !out.is_empty() && !out.ends_with('_') {
                out.push('_');
            }
            continue;
        }
        if i > 0 && !out.is_empty() && !out.ends_with('_') {
            let (p, k) = (kind(b[i - 1]), kind(c));
            let next_low = b.get(i + 1).is_some_and(|n| n.is_ascii_lowercase());
            let boundary =
                (p == 2 && k == 1) || (p != 0 && k != 0 && (p == 3) != (k == 3)) || (p == 1 && k == 1 && next_low);
            if boundary {
                out.push('_');
            }
        }
        out.push(c.to_ascii_uppercase() as char);
    }
    out
}

/// Whether `name` is a valid GraphQL enum member name.
pub fn valid_enum_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_cases() {
        // (input, UpperCamel, lowerCamel, SCREAMING_SNAKE)
        for (s, up, low, scream) in [
            ("my_func", "MyFunc", "myFunc", "MY_FUNC"),
            ("myFunc", "MyFunc", "myFunc", "MY_FUNC"),
            ("MyObject", "MyObject", "myObject", "MY_OBJECT"),
            ("my-enum value", "MyEnumValue", "myEnumValue", "MY_ENUM_VALUE"),
            ("HTTPServer", "Httpserver", "httpserver", "HTTP_SERVER"),
            ("JSONData", "Jsondata", "jsondata", "JSON_DATA"),
            ("JSON", "JSON", "jSON", "JSON"),
            ("LLM", "LLM", "lLM", "LLM"),
            (" JSON ", "JSON", "jSON", "JSON"),
            ("Json", "Json", "json", "JSON"),
            ("v2beta", "V2Beta", "v2Beta", "V_2_BETA"),
            ("already_SNAKE", "AlreadySnake", "alreadySnake", "ALREADY_SNAKE"),
            ("x", "X", "x", "X"),
            ("", "", "", ""),
        ] {
            assert_eq!(to_camel(s), up, "to_camel({s:?})");
            assert_eq!(to_lower_camel(s), low, "to_lower_camel({s:?})");
            assert_eq!(to_screaming_snake(s), scream, "to_screaming_snake({s:?})");
        }
    }

    #[test]
    fn enum_names() {
        for (s, ok) in
            [("A", true), ("_a1", true), ("a_B", true), ("1a", false), ("a-b", false), ("", false), ("é", false)]
        {
            assert_eq!(valid_enum_name(s), ok, "{s:?}");
        }
    }
}
