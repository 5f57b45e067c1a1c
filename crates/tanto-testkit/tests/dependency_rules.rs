//! The crate dependency rules (as buck2 checks its own): which workspace crate may
//! depend on which. Reads `cargo metadata --no-deps` and checks every workspace
//! crate's dependencies on other workspace crates against [`RULES`]; a crate
//! missing from the table fails too, so a new crate must be added here and to
//! the "Dependency rules" table of ARCHITECTURE.md, which must say the same.
//!
//! It lives in tanto-testkit because that crate depends on no other workspace
//! crate: the test builds in seconds and runs with the normal suite.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

/// (crate, the workspace crates it may depend on). Normal and build dependencies;
/// dev-dependencies may add [`DEV_ONLY`]. Crates listed here need not exist yet.
const RULES: &[(&str, &[&str])] = &[
    ("tanto-model", &[]),
    ("tanto-module", &[]),
    ("tanto-fs", &["tanto-model"]),
    ("tanto-gql", &[]),
    ("tanto-contract", &["tanto-model"]),
    ("tanto-solver", &["tanto-model"]),
    ("tanto-store", &["tanto-model", "tanto-fs"]),
    ("tanto-oci", &["tanto-model", "tanto-fs"]),
    ("tanto-exec", &["tanto-model", "tanto-fs"]),
    ("tanto-api", &["tanto-model", "tanto-contract", "tanto-gql", "tanto-module"]),
    (
        "tanto-engine",
        &[
            "tanto-model",
            "tanto-fs",
            "tanto-gql",
            "tanto-contract",
            "tanto-solver",
            "tanto-store",
            "tanto-oci",
            "tanto-exec",
            "tanto-api",
            "tanto-module",
        ],
    ),
    ("tanto-cli", &["tanto-engine", "tanto-api", "tanto-gql", "tanto-contract", "tanto-model", "tanto-module"]),
    ("tanto-testkit", &[]),
];

/// Each workspace crate's dependencies on workspace crates: name → [(dependency, kind)],
/// kind being `normal`, `build` or `dev`.
type Graph = BTreeMap<String, Vec<(String, String)>>;

/// A graph written as a table: [(crate, [(dependency, kind)])].
type Edges<'a> = &'a [(&'a str, &'a [(&'a str, &'a str)])];

/// What any crate may add as a dev-dependency (besides what it may depend on).
const DEV_ONLY: &[&str] = &["tanto-testkit"];

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The workspace's graph, from `cargo metadata`.
fn workspace_graph() -> Graph {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let out = Command::new(cargo)
        .args(["metadata", "--format-version", "1", "--no-deps", "--offline", "--manifest-path"])
        .arg(workspace().join("Cargo.toml"))
        .output()
        .expect("running cargo metadata");
    assert!(out.status.success(), "cargo metadata: {}", String::from_utf8_lossy(&out.stderr));
    let meta: Value = serde_json::from_slice(&out.stdout).expect("cargo metadata prints JSON");
    let packages = meta["packages"].as_array().expect("packages");
    let members: BTreeSet<&str> = packages.iter().filter_map(|p| p["name"].as_str()).collect();
    packages
        .iter()
        .map(|p| {
            let deps = p["dependencies"]
                .as_array()
                .expect("dependencies")
                .iter()
                .filter(|d| members.contains(d["name"].as_str().unwrap_or_default()))
                .map(|d| {
                    let kind = d["kind"].as_str().unwrap_or("normal");
                    (d["name"].as_str().unwrap().to_string(), kind.to_string())
                })
                .collect();
            (p["name"].as_str().unwrap().to_string(), deps)
        })
        .collect()
}

/// The violations of `rules` in `graph`, one line each.
fn violations(rules: &[(&str, &[&str])], graph: &Graph) -> Vec<String> {
    let mut out = Vec::new();
    for (krate, deps) in graph {
        let Some((_, allowed)) = rules.iter().find(|(name, _)| name == krate) else {
            out.push(format!("`{krate}` has no dependency rule: add it to RULES here and to ARCHITECTURE.md"));
            continue;
        };
        for (dep, kind) in deps {
            let ok = allowed.contains(&dep.as_str()) || (kind == "dev" && DEV_ONLY.contains(&dep.as_str()));
            if !ok {
                out.push(format!("`{krate}` must not depend on `{dep}` ({kind} dependency)"));
            }
        }
    }
    out
}

#[test]
fn workspace_crates_depend_only_on_what_the_rules_allow() {
    let graph = workspace_graph();
    assert!(graph.contains_key("tanto-model") && graph.contains_key("tanto-testkit"), "{graph:?}");
    let found = violations(RULES, &graph);
    assert!(found.is_empty(), "crate dependency rules broken:\n{}", found.join("\n"));
}

#[test]
fn violations_are_found() {
    let graph = |edges: Edges| -> Graph {
        edges
            .iter()
            .map(|(k, deps)| (k.to_string(), deps.iter().map(|(d, kind)| (d.to_string(), kind.to_string())).collect()))
            .collect()
    };
    // (case, graph, expected violations)
    let cases: &[(&str, Edges, &[&str])] = &[
        ("allowed", &[("tanto-solver", &[("tanto-model", "normal")])], &[]),
        ("testkit as a dev-dependency", &[("tanto-solver", &[("tanto-testkit", "dev")])], &[]),
        (
            "testkit as a normal dependency",
            &[("tanto-solver", &[("tanto-testkit", "normal")])],
            &["`tanto-solver` must not depend on `tanto-testkit` (normal dependency)"],
        ),
        (
            "upwards",
            &[("tanto-model", &[("tanto-api", "normal")])],
            &["`tanto-model` must not depend on `tanto-api` (normal dependency)"],
        ),
        (
            "a build dependency counts",
            &[("tanto-store", &[("tanto-exec", "build")])],
            &["`tanto-store` must not depend on `tanto-exec` (build dependency)"],
        ),
        (
            "unknown crate",
            &[("tanto-new", &[])],
            &["`tanto-new` has no dependency rule: add it to RULES here and to ARCHITECTURE.md"],
        ),
    ];
    for (case, edges, want) in cases {
        assert_eq!(violations(RULES, &graph(edges)), *want, "{case}");
    }
}

/// ARCHITECTURE.md's "Dependency rules" table says what [`RULES`] says.
#[test]
fn architecture_md_lists_the_same_rules() {
    let text = std::fs::read_to_string(workspace().join("ARCHITECTURE.md")).expect("reading ARCHITECTURE.md");
    let section =
        text.split("\n## Dependency rules").nth(1).expect("ARCHITECTURE.md has a `## Dependency rules` section");
    let section = section.split("\n## ").next().unwrap();
    // rows: | `crate` | `dep`, `dep` (or —) |
    let documented: BTreeMap<String, BTreeSet<String>> = section
        .lines()
        .filter(|l| l.starts_with("| `"))
        .map(|l| {
            let cells: Vec<&str> = l.trim_matches('|').split('|').map(str::trim).collect();
            let deps =
                cells[1].split(',').map(|d| d.trim().trim_matches('`').to_string()).filter(|d| d.starts_with("tanto-"));
            (cells[0].trim_matches('`').to_string(), deps.collect())
        })
        .collect();
    let rules: BTreeMap<String, BTreeSet<String>> =
        RULES.iter().map(|(k, deps)| (k.to_string(), deps.iter().map(|d| d.to_string()).collect())).collect();
    assert_eq!(documented, rules, "ARCHITECTURE.md's dependency rules differ from RULES in {}", file!());
}
