//! Parser tests: one `check` helper comparing a summary of the document (or the error).

use super::*;

/// A compact rendering of a document: operations and fragments with their selections.
fn summary(doc: &Document) -> String {
    fn set(doc: &Document, id: SetId, out: &mut String) {
        // Explicit stack, like everything that walks documents.
        enum Step<'d> {
            Sel(&'d Selection),
            Close,
        }
        let mut stack: Vec<Step<'_>> = doc.set(id).iter().rev().map(Step::Sel).collect();
        out.push('{');
        while let Some(step) = stack.pop() {
            let (text, child) = match step {
                Step::Close => {
                    out.push('}');
                    continue;
                }
                Step::Sel(Selection::Field(f)) => {
                    let mut t = String::new();
                    if let Some(a) = &f.alias {
                        t.push_str(&format!("{a}:"));
                    }
                    t.push_str(&f.name);
                    if !f.arguments.is_empty() {
                        let args: Vec<String> = f.arguments.iter().map(|a| format!("{}:{}", a.name, a.value)).collect();
                        t.push_str(&format!("({})", args.join(",")));
                    }
                    for d in &f.directives {
                        t.push_str(&format!("@{}", d.name));
                    }
                    (t, f.set)
                }
                Step::Sel(Selection::Spread(s)) => (format!("...{}", s.name), SetId::EMPTY),
                Step::Sel(Selection::Inline(i)) => {
                    (format!("...{}", i.on.as_ref().map(|(n, _)| format!("on {n}")).unwrap_or_default()), i.set)
                }
            };
            out.push(' ');
            out.push_str(&text);
            if child != SetId::EMPTY {
                stack.push(Step::Close);
                out.push('{');
                stack.extend(doc.set(child).iter().rev().map(Step::Sel));
            }
        }
        out.push('}');
    }
    let mut out = String::new();
    for op in &doc.operations {
        out.push_str(&format!("{:?}", op.ty));
        if let Some(n) = &op.name {
            out.push_str(&format!(" {n}"));
        }
        for v in &op.variables {
            out.push_str(&format!(" ${}:{}", v.name, v.ty));
            if let Some(d) = &v.default {
                out.push_str(&format!("={d}"));
            }
        }
        out.push(' ');
        set(doc, op.set, &mut out);
        out.push('\n');
    }
    let mut frags: Vec<_> = doc.fragments.iter().collect();
    frags.sort_by_key(|(n, _)| n.to_string());
    for (name, f) in frags {
        out.push_str(&format!("fragment {name} on {} ", f.on));
        set(doc, f.set, &mut out);
        out.push('\n');
    }
    out
}

/// Parses `src` and compares its summary (or the error message) with `want`.
fn check(src: &str, want: Result<&str, &str>) {
    let got = parse_query(src).map(|d| summary(&d)).map_err(|e| e.message);
    assert_eq!(got.as_deref().map(str::trim_end).map_err(String::as_str), want, "{src:?}");
}

#[test]
fn documents() {
    check("{ a }", Ok("Query { a}"));
    check(
        r#"query Q($a: [Int!]! = [1], $b: String) @dir { x: f(s: "s", n: -1, l: [A, true, null, $a], o: {k: 1.5}) @skip(if: $b) { g } }"#,
        Ok("Query Q $a:[Int!]!=[1] $b:String { x:f(s:\"s\",n:-1,l:[A, true, null, $a],o:{k: 1.5})@skip{ g}}"),
    );
    check(
        "mutation { a } fragment F on T { b ... on U { c } ... { d } ...G }",
        Ok("Mutation { a}\nfragment F on T { b ...on U{ c} ...{ d} ...G}"),
    );
    check("subscription S { a }", Ok("Subscription S { a}"));
    check("query A { a } query B { b }", Ok("Query A { a}\nQuery B { b}"));
    check("{ a { b { c } d } e }", Ok("Query { a{ b{ c} d} e}"));
    // Block strings and escapes reach the value unescaped.
    check("{ f(s: \"\"\"\n  x\n  \"\"\") }", Ok("Query { f(s:\"x\")}"));
}

#[test]
fn syntax_errors() {
    check("", Err("syntax error: expected an operation or a fragment, found the end of the query (line 1, column 1)"));
    check(
        "{ version ",
        Err("syntax error: expected a selection or `}`, found the end of the query (line 1, column 11)"),
    );
    check("{ }", Err("syntax error: expected a selection, found `}` (line 1, column 3)"));
    check("{ a(b: ) }", Err("syntax error: expected a value, found `)` (line 1, column 8)"));
    check("{ a(b: 1 }", Err("syntax error: expected a name, found `}` (line 1, column 10)"));
    // The offending text (maybe a secret) is never quoted back.
    check(
        r#"{ setSecret(name: "x", plaintext: "s3cr3t) }"#,
        Err("syntax error: unterminated string (line 1, column 35)"),
    );
    check(
        "{ a } { b }",
        Err("syntax error: an anonymous operation must be the only operation in the document (line 1, column 1)"),
    );
    check(
        "query A { a } { b }",
        Err("syntax error: an anonymous operation must be the only operation in the document (line 1, column 15)"),
    );
    check(
        "query A { a } query A { b }",
        Err("syntax error: operation `A` is defined more than once (line 1, column 15)"),
    );
    check(
        "{ a } fragment F on T { a } fragment F on T { b }",
        Err("syntax error: fragment `F` is defined more than once (line 1, column 38)"),
    );
    check("query($a: Int = $b) { a }", Err("syntax error: a default value cannot use a variable (line 1, column 17)"));
    check("fragment on on T { a }", Err("syntax error: a fragment cannot be named `on` (line 1, column 10)"));
    check("{ a } garbage", Err("syntax error: expected an operation or a fragment, found a name (line 1, column 7)"));
}

/// The shape the SDKs send for a fluent chain of `n` calls (nesting `n + 3`).
pub(crate) fn chain(n: usize) -> String {
    let mut q = String::from(r#"{container{from(address:"x"){"#);
    for i in 0..n {
        q.push_str(&format!(r#"withEnvVariable(name:"A{i}",value:"{i}"){{"#));
    }
    q.push_str(r#"envVariable(name:"A0")"#);
    q.push_str(&"}".repeat(n + 3));
    q
}

#[test]
fn depth_limits() {
    // Parsed on a thread with a small stack: nothing may recurse per nesting level.
    let run = |q: String| {
        std::thread::Builder::new()
            .stack_size(256 << 10)
            .spawn(move || parse_query(&q).map(|d| d.depth).map_err(|e| e.message))
            .expect("spawning a thread")
            .join()
            .expect("the parser does not overflow its stack")
    };
    for (n, want) in [(62, Ok(65)), (1_000, Ok(1_003)), (10_000, Ok(10_003)), (MAX_DEPTH - 3, Ok(MAX_DEPTH))] {
        assert_eq!(run(chain(n)), want, "chain of {n}");
    }
    assert_eq!(
        run(chain(MAX_DEPTH - 2)),
        Err(format!(
            "query nesting depth {} exceeds tanto's limit of {MAX_DEPTH} (line 1, column {})",
            MAX_DEPTH + 1,
            chain(MAX_DEPTH - 2).rfind("){").map(|i| i + 2).unwrap_or(0)
        ))
    );
    // Nothing but braces: the reported depth is the text's, not where parsing stopped.
    assert_eq!(
        run(format!("{{{}x{}}}", "a{".repeat(MAX_DEPTH + 9), "}".repeat(MAX_DEPTH + 9)))
            .map_err(|e| e.split(" exceeds").next().map(str::to_string)),
        Err(Some(format!("query nesting depth {}", MAX_DEPTH + 10)))
    );
}

#[test]
fn size_limits() {
    let many = format!("{{{}}}", "a ".repeat(MAX_SELECTIONS));
    assert_eq!(parse_query(&many).map(|d| d.depth), Ok(1));
    let too_many = format!("{{{}}}", "a ".repeat(MAX_SELECTIONS + 1));
    assert_eq!(
        parse_query(&too_many).map(|_| ()).map_err(|e| e.message),
        Err(format!(
            "the query has more than {MAX_SELECTIONS} selections (fields and fragment spreads), tanto's limit: split \
             it into several requests (line 1, column {})",
            2 * MAX_SELECTIONS + 2
        ))
    );
    let list = |n: usize| format!("{{ f(l: [{}]) }}", "1,".repeat(n));
    assert!(parse_query(&list(MAX_LIST_ITEMS)).is_ok());
    assert_eq!(
        parse_query(&list(MAX_LIST_ITEMS + 1)).map(|_| ()).map_err(|e| e.message),
        Err(format!("a list in the query has more than {MAX_LIST_ITEMS} items, tanto's limit (line 1, column 8)"))
    );
    let deep = |n: usize| format!("{{ f(l: {}{}) }}", "[".repeat(n), "]".repeat(n));
    assert!(parse_query(&deep(MAX_VALUE_DEPTH)).is_ok());
    assert_eq!(
        parse_query(&deep(MAX_VALUE_DEPTH + 1)).map(|_| ()).map_err(|e| e.message),
        Err(format!(
            "a value in the query nests lists or objects more than {MAX_VALUE_DEPTH} deep, tanto's limit (line 1, \
             column {})",
            8 + MAX_VALUE_DEPTH
        ))
    );
}
