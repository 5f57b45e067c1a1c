//! Git repositories held in directories (`Directory.asGit`), their
//! uncommitted changes, and common ancestors, against a real repository made
//! with the git CLI on the host (also used as a remote by path).

use std::path::Path;
use std::process::{Command, Stdio};

use serde_json::{json, Value};
use tanto_engine::Engine;

mod common;

use common::{ask_err, engine_offline as engine, query};

tanto_testkit::tests! {
    // test                                prerequisiteskind
    directory_as_git_and_common_ancestors: [Root, Git]  async;
}

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(["-c", "user.email=t@example.com", "-c", "user.name=t", "-c", "init.defaultBranch=main"])
        .args(args)
        .current_dir(dir)
        .stderr(Stdio::inherit())
        .output()
        .unwrap();
    assert!(out.status.success(), "git {args:?}");
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

struct Repo {
    /// Commits: `base` (tag v1), `feature` on branch feature, `main` on main.
    base: String,
    feature: String,
    main: String,
}

/// A repository whose history forks at `base`, with a dirty work tree:
/// `edit.txt` modified, `gone.txt` deleted, `untracked.txt` and a staged
/// `staged.txt` new, `debug.log` and `build/out.bin` ignored.
fn make_repo(dir: &Path) -> Repo {
    std::fs::create_dir_all(dir).unwrap();
    git(dir, &["init", "-q", "."]);
    std::fs::write(dir.join(".gitignore"), "*.log\nbuild/\n").unwrap();
    std::fs::write(dir.join("edit.txt"), "one\n").unwrap();
    std::fs::write(dir.join("gone.txt"), "bye\n").unwrap();
    std::fs::create_dir_all(dir.join("src")).unwrap();
    std::fs::write(dir.join("src/lib.txt"), "lib\n").unwrap();
    git(dir, &["add", "."]);
    git(dir, &["commit", "-qm", "base"]);
    git(dir, &["tag", "v1"]);
    let base = git(dir, &["rev-parse", "HEAD"]);
    git(dir, &["checkout", "-qb", "feature"]);
    std::fs::write(dir.join("feature.txt"), "feature\n").unwrap();
    git(dir, &["add", "."]);
    git(dir, &["commit", "-qm", "feature"]);
    let feature = git(dir, &["rev-parse", "HEAD"]);
    git(dir, &["checkout", "-q", "main"]);
    std::fs::write(dir.join("main.txt"), "main\n").unwrap();
    git(dir, &["add", "."]);
    git(dir, &["commit", "-qm", "main"]);
    let main = git(dir, &["rev-parse", "HEAD"]);
    // The dirty work tree.
    std::fs::write(dir.join("edit.txt"), "two\n").unwrap();
    std::fs::remove_file(dir.join("gone.txt")).unwrap();
    std::fs::write(dir.join("untracked.txt"), "new\n").unwrap();
    std::fs::write(dir.join("staged.txt"), "staged\n").unwrap();
    git(dir, &["add", "staged.txt"]);
    std::fs::write(dir.join("debug.log"), "ignored\n").unwrap();
    std::fs::create_dir_all(dir.join("build")).unwrap();
    std::fs::write(dir.join("build/out.bin"), "ignored\n").unwrap();
    Repo { base, feature, main }
}

async fn directory_as_git_and_common_ancestors() {
    let tmp = tempfile::tempdir().unwrap();
    let r = make_repo(&tmp.path().join("repo"));
    let e = engine(tmp.path()).await;
    let local = r#"host { directory(path: "repo") { asGit"#;
    let local_end = "} } }";
    let remote_url = tmp.path().join("repo").to_string_lossy().into_owned();
    let remote = format!(r#"git(url: "{remote_url}") {{"#);

    // (repository, fields, expected) for the directory's repository and the
    // same repository fetched by path.
    for (repo, end) in [(local.to_string() + " {", local_end), (remote.clone(), "}")] {
        let q = |fields: &str| format!("{{ {repo} {fields} {end} }}");
        for (fields, want) in [
            ("head { commit }", json!({"head": {"commit": r.main}})),
            (
                r#"branch(name: "feature") { commit ref }"#,
                json!({"branch": {"commit": r.feature, "ref": "refs/heads/feature"}}),
            ),
            (r#"tag(name: "v1") { commit }"#, json!({"tag": {"commit": r.base}})),
            ("branches tags", json!({"branches": ["feature", "main"], "tags": ["v1"]})),
            (
                r#"branch(name: "main") { commonAncestor(other: BRANCH_FEATURE) { commit } }"#,
                json!({"branch": {"commonAncestor": {"commit": r.base}}}),
            ),
            (
                r#"head { tree(discardGitDir: true) { entries } }"#,
                json!({"head": {"tree": {"entries": [".gitignore", "edit.txt", "gone.txt", "main.txt", "src/"]}}}),
            ),
            (
                r#"commit(id: "FEATURE") { tree { entries } }"#,
                json!({"commit": {"tree": {"entries": [".git/", ".gitignore", "edit.txt", "feature.txt", "gone.txt", "src/"]}}}),
            ),
        ] {
            let fields = if fields.contains("BRANCH_FEATURE") {
                let id = id_of(&e, &format!("{{ {repo} branch(name: \"feature\") {{ id }} {end} }}")).await;
                fields.replace("BRANCH_FEATURE", &format!("\"{id}\""))
            } else {
                fields.replace("FEATURE", &r.feature)
            };
            let v = query(&e, &q(&fields)).await;
            assert!(v.get("errors").is_none(), "{}: {v}", q(&fields));
            assert_eq!(innermost(&v["data"], want.as_object().unwrap().keys().next().unwrap()), want, "{}", q(&fields));
        }
    }

    // Uncommitted changes: only the directory's repository has a work tree.
    let v = query(
        &e,
        &format!("{{ {local} {{ uncommitted {{ addedPaths modifiedPaths removedPaths isEmpty }} {local_end} }}"),
    )
    .await;
    assert!(v.get("errors").is_none(), "{v}");
    assert_eq!(
        innermost(&v["data"], "uncommitted"),
        json!({"uncommitted": {"addedPaths": ["staged.txt", "untracked.txt"], "modifiedPaths": ["edit.txt"], "removedPaths": ["gone.txt"], "isEmpty": false}})
    );
    let v = query(&e, &format!("{{ {remote} uncommitted {{ addedPaths isEmpty }} }} }}")).await;
    assert_eq!(v["data"]["git"]["uncommitted"], json!({"addedPaths": [], "isEmpty": true}), "{v}");
    // A clean work tree has no uncommitted changes (ignored files are no change).
    let clean = tmp.path().join("clean");
    git(tmp.path(), &["clone", "-q", &remote_url, "clean"]);
    std::fs::write(clean.join("debug.log"), "ignored\n").unwrap();
    let v =
        query(&e, r#"{ host { directory(path: "clean") { asGit { uncommitted { isEmpty after { entries } } } } } }"#)
            .await;
    assert_eq!(
        v["data"]["host"]["directory"]["asGit"]["uncommitted"],
        json!({"isEmpty": true, "after": {"entries": [".git/", ".gitignore", "debug.log", "edit.txt", "gone.txt", "main.txt", "src/"]}}),
        "{v}"
    );

    // Errors: (query, what the message says)
    let other = id_of(&e, r#"{ host { directory(path: "clean") { asGit { head { id } } } } }"#).await;
    std::fs::create_dir_all(tmp.path().join("plain")).unwrap();
    std::fs::write(tmp.path().join("plain/a.txt"), "a").unwrap();
    std::fs::create_dir_all(tmp.path().join("linked")).unwrap();
    std::fs::write(tmp.path().join("linked/.git"), "gitdir: /elsewhere\n").unwrap();
    for (q, says) in [
        (
            r#"{ host { directory(path: "plain") { asGit { head { commit } } } } }"#.to_string(),
            "is not a git repository: it has no `.git`",
        ),
        (
            r#"{ host { directory(path: "linked") { asGit { head { commit } } } } }"#.to_string(),
            "its `.git` is not a directory",
        ),
        (format!(r#"{{ {local} {{ branch(name: "nope") {{ commit }} {local_end} }}"#), "has no branch `nope`"),
        (
            format!(r#"{{ {local} {{ head {{ commonAncestor(other: "{other}") {{ commit }} }} {local_end} }}"#),
            "needs two refs of one repository",
        ),
    ] {
        let msg = ask_err(&e, &q).await;
        assert!(msg.contains(says), "{q}: {msg}");
    }
}

async fn id_of(e: &Engine, q: &str) -> String {
    let v = query(e, q).await;
    assert!(v.get("errors").is_none(), "{q}: {v}");
    fn find(v: &Value) -> Option<String> {
        match v {
            Value::Object(m) => {
                m.get("id").and_then(|i| i.as_str().map(str::to_string)).or_else(|| m.values().find_map(find))
            }
            _ => None,
        }
    }
    find(&v["data"]).unwrap()
}

/// The object that holds `key`, searching down from `v`.
fn innermost(v: &Value, key: &str) -> Value {
    fn find<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
        match v {
            Value::Object(m) if m.contains_key(key) => Some(v),
            Value::Object(m) => m.values().find_map(|c| find(c, key)),
            _ => None,
        }
    }
    find(v, key).cloned().unwrap_or(Value::Null)
}
