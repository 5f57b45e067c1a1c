use super::*;

fn input(has_uv_lock: bool, purpose: Purpose) -> Input {
    Input {
        module_name: "hello".into(),
        source_subpath: ".".into(),
        pyproject: Some(crate::python::template::pyproject("hello", None)),
        python_version_file: None,
        has_uv_lock,
        extra_bindings: None,
        env: Vec::new(),
        purpose,
    }
}

fn ids(secrets: Vec<(usize, String)>) -> PreludeIds {
    PreludeIds {
        uv_cache: "CacheVolume:uv".into(),
        pip_cache: "CacheVolume:pip".into(),
        sdist: "File:sdist".into(),
        secrets,
    }
}

/// The document's tokens outside strings are balanced, every variable it
/// uses is declared and given, and its string literals decode: what a
/// parser needs (tanto-gql may not be a dependency here; the integration
/// test `tanto-cli/tests/modules.rs` executes it for real).
fn check_syntax(doc: &Document, declared_given: bool) -> Vec<String> {
    let q = &doc.query;
    let (mut depth_brace, mut depth_paren, mut depth_bracket) = (0i32, 0i32, 0i32);
    let mut strings = Vec::new();
    let mut used = std::collections::BTreeSet::new();
    let bytes = q.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => {
                let start = i;
                i += 1;
                while bytes[i] != b'"' {
                    if bytes[i] == b'\\' {
                        i += 1;
                    }
                    i += 1;
                }
                let s: String = serde_json::from_str(&q[start..=i]).expect("a string literal decodes");
                strings.push(s);
            }
            b'{' => depth_brace += 1,
            b'}' => depth_brace -= 1,
            b'(' => depth_paren += 1,
            b')' => depth_paren -= 1,
            b'[' => depth_bracket += 1,
            b']' => depth_bracket -= 1,
            b'$' => {
                let end = q[i + 1..].find(|c: char| !c.is_alphanumeric()).map_or(q.len(), |e| i + 1 + e);
                used.insert(q[i + 1..end].to_string());
            }
            _ => {}
        }
        assert!(depth_brace >= 0 && depth_paren >= 0 && depth_bracket >= 0, "unbalanced at {i}: {q}");
        i += 1;
    }
    assert_eq!((depth_brace, depth_paren, depth_bracket), (0, 0, 0), "{q}");
    if declared_given {
        for v in &used {
            assert!(q.contains(&format!("${v}: ")), "${v} is not declared: {q}");
            match v.as_str() {
                "context" => {}
                "lock" => assert!(doc.lock_files.is_some(), "$lock without lock_files"),
                _ => assert!(doc.variables.contains_key(v), "${v} has no value"),
            }
        }
    }
    strings
}

/// The order of the chain's calls by field name.
fn steps(doc: &Document) -> Vec<String> {
    let chain = doc.query.split_once("container { ").unwrap().1;
    let mut out = Vec::new();
    let mut rest = chain;
    while let Some((call, after)) = split_call(rest) {
        out.push(call);
        rest = after;
    }
    out
}

/// `field(args) { rest` → (`field args-summary`, rest).
fn split_call(s: &str) -> Option<(String, &str)> {
    let name_end = s.find('(')?;
    let name = &s[..name_end];
    if name.contains(' ') || name.contains('}') {
        return None;
    }
    // the arguments end at the first `) { ` outside strings
    let bytes = s.as_bytes();
    let (mut i, mut in_str) = (name_end, false);
    while i < bytes.len() {
        match bytes[i] {
            b'\\' if in_str => i += 1,
            b'"' => in_str = !in_str,
            b')' if !in_str && s[i..].starts_with(") { ") => break,
            _ => {}
        }
        i += 1;
    }
    let args = &s[name_end + 1..i];
    let summary = match name {
        "withExec" => {
            let v: Vec<String> = serde_json::from_str(args.trim_start_matches("args: ")).unwrap();
            format!("withExec {}", if v[0] == "python" && v[1] == "-c" { "python -c …".into() } else { v.join(" ") })
        }
        "withEnvVariable" | "withSecretVariable" => {
            let n: String =
                serde_json::from_str(args.split(", ").next().unwrap().trim_start_matches("name: ")).unwrap();
            format!("{name} {n}")
        }
        _ => {
            let first = args.split(", ").next().unwrap();
            let v = first.split_once(": ").map(|(_, v)| v).unwrap_or("");
            let v: String = serde_json::from_str(v).unwrap_or_else(|_| v.to_string());
            format!("{name} {v}")
        }
    };
    Some((summary, &s[i + 4..]))
}

#[test]
fn layers_in_daggers_order_cheapest_to_change_last() {
    let base = [
        "from python:3.14-slim",
        "withEnvVariable DAGGER_BASE_IMAGE",
        "withEnvVariable PYTHONUNBUFFERED",
        "withEnvVariable PIP_DISABLE_PIP_VERSION_CHECK",
        "withEnvVariable PIP_ROOT_USER_ACTION",
        "withMountedCache /root/.cache/pip",
        "withExec python -m pip install uv==0.10.3",
        "withoutMount /root/.cache/pip",
        "withMountedCache /root/.cache/uv",
        "withEnvVariable DAGGER_UV_VERSION",
        "withEnvVariable UV_SYSTEM_PYTHON",
        "withEnvVariable UV_LINK_MODE",
        "withEnvVariable UV_NATIVE_TLS",
        "withEnvVariable UV_PROJECT_ENVIRONMENT",
        "withNewFile /runtime",
        "withEntrypoint [\"/runtime\"]",
        "withMountedFile /tmp/dagger_io-0.21.11.tar.gz",
        "withExec python -c …",
        "withoutMount /tmp/dagger_io-0.21.11.tar.gz",
        "withoutDirectory /src/hello/sdk/tests",
        "withoutDirectory /src/hello/sdk/docs",
        "withNewFile /src/hello/sdk/codegen/pyproject.toml",
        "withWorkdir /src/hello",
    ];
    let names = [
        "withEnvVariable DAGGER_MODULE",
        "withEnvVariable DAGGER_DEFAULT_PYTHON_PACKAGE",
        "withEnvVariable DAGGER_MAIN_OBJECT",
    ];
    // (uv.lock, purpose, the steps after the base ones and before the names)
    let cases: Vec<(bool, Purpose, Vec<&str>)> = vec![
        (
            true,
            Purpose::Runtime,
            vec![
                "withEnvVariable UV_COMPILE_BYTECODE",
                "withDirectory /src/hello",
                "withExec uv sync --no-dev --no-install-project --frozen",
                "withExec python -m compileall -q -j 0 /src/hello/sdk/src",
                "withDirectory /src/hello",
                "withExec uv lock",
                "withExec uv sync --no-dev",
                "withEnvVariable VIRTUAL_ENV",
                "withEnvVariable PATH",
            ],
        ),
        (
            false,
            Purpose::Runtime,
            vec![
                "withEnvVariable UV_COMPILE_BYTECODE",
                "withExec uv pip install -e ./sdk",
                "withExec python -m compileall -q -j 0 /src/hello/sdk/src",
                "withDirectory /src/hello",
                "withExec uv pip install -e ./sdk -e .",
                "withExec uv pip check",
            ],
        ),
        (false, Purpose::Lock, vec!["withDirectory /src/hello", "withExec uv lock"]),
        (true, Purpose::Lock, vec!["withDirectory /src/hello", "withExec uv lock"]),
    ];
    for (lock, purpose, middle) in cases {
        let doc = document(&input(lock, purpose), &ids(vec![])).unwrap();
        check_syntax(&doc, true);
        let want: Vec<&str> = base.iter().copied().chain(middle).chain(names).collect();
        assert_eq!(steps(&doc), want, "uv.lock {lock}, {purpose:?}");
        let decls = if lock && purpose == Purpose::Runtime {
            "$context: ID!, $runtime: String!, $lock: ID!"
        } else {
            "$context: ID!, $runtime: String!"
        };
        assert!(doc.query.starts_with(&format!("query ModuleRuntime({decls}) {{ container {{ ")), "{}", doc.query);
        assert_eq!(doc.lock_files.is_some(), lock && purpose == Purpose::Runtime);
        assert!(doc.query.ends_with(" { id }".to_string().as_str().trim_start()) || doc.query.contains("{ id }"));
        assert_eq!(doc.variables["runtime"], RUNTIME_PY);
    }
}

#[test]
fn the_context_copy_leaves_out_the_hosts_sdk_and_venv() {
    // (source subpath, workdir, include of the lock step, exclude of the context copy)
    let cases = [
        (".", "/src/hello", r#"["pyproject.toml","uv.lock"]"#, r#"["sdk",".venv"]"#),
        (
            "mods/hello/.dagger",
            "/src/hello/mods/hello/.dagger",
            r#"["mods/hello/.dagger/pyproject.toml","mods/hello/.dagger/uv.lock"]"#,
            r#"["mods/hello/.dagger/sdk","mods/hello/.dagger/.venv"]"#,
        ),
        ("./a/../b/", "/src/hello/b", r#"["b/pyproject.toml","b/uv.lock"]"#, r#"["b/sdk","b/.venv"]"#),
    ];
    for (sub, workdir, include, exclude) in cases {
        let mut i = input(true, Purpose::Runtime);
        i.source_subpath = sub.into();
        let doc = document(&i, &ids(vec![])).unwrap();
        assert_eq!(i.layout().unwrap().workdir, workdir);
        assert!(doc.query.contains(&format!("withWorkdir(path: \"{workdir}\")")), "{sub}");
        assert!(
            doc.query.contains(&format!("withDirectory(path: \"/src/hello\", source: $lock, include: {include})")),
            "{sub}"
        );
        assert!(
            doc.query.contains(&format!("withDirectory(path: \"/src/hello\", source: $context, exclude: {exclude})")),
            "{sub}"
        );
        assert!(doc.query.contains(&format!("\"{workdir}/sdk\"")), "{sub}: the sdk is unpacked in the project");
    }
    for bad in ["../x", "/abs", "a/../../b"] {
        let mut i = input(true, Purpose::Runtime);
        i.source_subpath = bad.into();
        assert_eq!(document(&i, &ids(vec![])), Err(RuntimeError::Subpath(bad.into())), "{bad}");
    }
}

#[test]
fn names_images_and_bindings_follow_the_inputs() {
    // (module, pyproject, .python-version, base image, package, main object)
    let cases = [
        ("hello", Some(crate::python::template::pyproject("hello", None)), None, "python:3.14-slim", "hello", "Hello"),
        (
            "my-mod",
            Some(crate::python::template::pyproject("my-mod", None)),
            Some("3.12"),
            "python:3.12-slim",
            "my_mod",
            "MyMod",
        ),
        (
            "my-mod",
            Some("[project]\nname = \"Other.Name\"\nrequires-python = \">=3.13\"\n".into()),
            None,
            "python:3.13-slim",
            "other_name",
            "MyMod",
        ),
        (
            "x",
            Some("[tool.dagger]\nbase-image = \"registry.local/py:3\"\n".into()),
            None,
            "registry.local/py:3",
            "x",
            "X",
        ),
        ("x", None, None, "python:3.14-slim", "x", "X"),
    ];
    for (module, pyproject, dot, image, package, main) in cases {
        let mut i = input(false, Purpose::Runtime);
        i.module_name = module.into();
        i.pyproject = pyproject;
        i.python_version_file = dot.map(Into::into);
        let doc = document(&i, &ids(vec![])).unwrap();
        let strings = check_syntax(&doc, true);
        assert!(doc.query.contains(&format!("from(address: \"{image}\")")), "{module}: {}", doc.query);
        let env = |name: &str| strings.iter().position(|s| s == name).map(|p| strings[p + 1].clone());
        assert_eq!(env("DAGGER_MODULE").as_deref(), Some(module));
        assert_eq!(env("DAGGER_DEFAULT_PYTHON_PACKAGE").as_deref(), Some(package));
        assert_eq!(env("DAGGER_MAIN_OBJECT").as_deref(), Some(main));
        assert!(!doc.query.contains("$bindings"));
    }
    let mut i = input(false, Purpose::Runtime);
    i.extra_bindings = Some("class Greeter: ...\n".into());
    let doc = document(&i, &ids(vec![])).unwrap();
    check_syntax(&doc, true);
    assert_eq!(doc.variables["bindings"], "class Greeter: ...\n");
    let s = steps(&doc);
    let at = |name: &str| s.iter().position(|x| x == name).unwrap_or_else(|| panic!("no {name} in {s:?}"));
    // appended after the dependencies are installed, before the module's own code
    assert!(at("withExec uv pip install -e ./sdk") < at("withNewFile /tmp/tanto-bindings.py"));
    assert!(at("withoutFile /tmp/tanto-bindings.py") < at("withDirectory /src/hello"));
    assert!(doc.query.contains("\"/tmp/tanto-bindings.py\",\"/src/hello/sdk/src/dagger/client/gen.py\"]"));
}

#[test]
fn index_settings_are_forwarded_and_credentials_kept_secret() {
    let mut i = input(false, Purpose::Runtime);
    i.env = vec![
        ("PIP_INDEX_URL".into(), "https://pypi.internal/simple".into()),
        ("UV_INDEX_URL".into(), "https://user:tok@pypi.internal/simple".into()),
        ("PIP_TRUSTED_HOST".into(), "pypi.internal".into()),
    ];
    let pre = prelude(&i);
    check_syntax(&pre, true);
    assert!(pre.query.starts_with("query ModuleRuntimePrelude($secret1: String!) { "), "{}", pre.query);
    assert!(pre.query.contains("secret1: setSecret(name: \"UV_INDEX_URL\", plaintext: $secret1) { id }"));
    assert_eq!(pre.variables["secret1"], "https://user:tok@pypi.internal/simple");
    assert!(pre.query.contains(&format!("checksum: \"sha256:{SDK_SDIST_SHA256}\"")));
    let data = json!({
        "uvCache": {"id": "CacheVolume:uv"}, "pipCache": {"id": "CacheVolume:pip"},
        "sdist": {"id": "File:sdist"}, "secret1": {"id": "Secret:s1"},
    });
    let got = PreludeIds::from_data(&i, &data).unwrap();
    assert_eq!(got, ids(vec![(1, "Secret:s1".into())]));
    assert_eq!(PreludeIds::from_data(&i, &json!({})), Err(RuntimeError::Prelude("secret")));

    let doc = document(&i, &got).unwrap();
    check_syntax(&doc, true);
    let s = steps(&doc);
    let at = |name: &str| s.iter().position(|x| x == name).unwrap_or_else(|| panic!("no {name} in {s:?}"));
    // forwarded before pip installs uv, so both pip and uv use them
    assert!(at("withEnvVariable PIP_INDEX_URL") < at("withExec python -m pip install uv==0.10.3"));
    assert!(at("withSecretVariable UV_INDEX_URL") < at("withExec python -m pip install uv==0.10.3"));
    assert!(at("withEnvVariable PIP_TRUSTED_HOST") < at("withExec python -m pip install uv==0.10.3"));
    assert!(!doc.query.contains("tok@"), "a credential is in the document: {}", doc.query);
    assert!(doc.query.contains("withSecretVariable(name: \"UV_INDEX_URL\", secret: \"Secret:s1\")"));
    // without credentials, no variables
    let plain = input(false, Purpose::Runtime);
    assert!(prelude(&plain).query.starts_with("query ModuleRuntimePrelude { "));
    assert!(prelude(&plain).variables.is_empty());
}

#[test]
fn the_answer_gives_the_container_id() {
    let data = json!({"container": {"from": {"withEnvVariable": {"withExec": {"id": "Container:abc"}}}}});
    assert_eq!(container_id(&data), Some("Container:abc"));
    assert_eq!(container_id(&json!({"container": null})), None);
    assert_eq!(container_id(&json!({"a": {"id": 1}})), None);
}

#[test]
fn credentials_and_subpaths() {
    let cases = [
        ("https://pypi.org/simple", false),
        ("https://u:p@host/simple", true),
        ("https://host/simple https://u@other/simple", true),
        ("host.example", false),
        ("https://host/path@v1", false),
    ];
    for (v, want) in cases {
        assert_eq!(has_credentials(v), want, "{v}");
    }
    let cases =
        [(".", Some("")), ("", Some("")), ("a/./b/", Some("a/b")), ("a/..", Some("")), ("..", None), ("/a", None)];
    for (sub, want) in cases {
        assert_eq!(clean_subpath(sub).as_deref(), want, "{sub}");
    }
}
