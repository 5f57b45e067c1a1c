//! How much of the v0.21 schema the resolvers implement, read from the
//! field tables the resolver dispatches on ([`super::dispatch`]): a field is
//! implemented when its type's table serves it, and every other field fails
//! with `not implemented yet: Type.field` — so the report cannot drift from
//! the code.

use std::sync::Arc;

use serde::Serialize;

use super::dispatch;
use tanto_gql::Schema;

/// The types the coverage goal is about.
pub const CORE_TYPES: &[&str] =
    &["Query", "Container", "Directory", "File", "Host", "CacheVolume", "Secret", "GitRepository", "GitRef"];

#[derive(Debug, Clone, Serialize)]
pub struct TypeCoverage {
    pub type_name: String,
    pub implemented: Vec<String>,
    pub missing: Vec<String>,
    /// Fields left out of the count (`Query.load<T>FromID`, served generically).
    pub legacy: usize,
    /// The API serves no object of this type, so every field counts as missing.
    pub unserved: bool,
}

impl TypeCoverage {
    pub fn total(&self) -> usize {
        self.implemented.len() + self.missing.len()
    }

    pub fn percent(&self) -> f64 {
        if self.total() == 0 {
            100.0
        } else {
            100.0 * self.implemented.len() as f64 / self.total() as f64
        }
    }
}

/// An engine that does no work: every call fails with `probe: no engine`
/// (for tests that exercise the API without an engine).
pub fn probe_engine() -> tanto_contract::Engine {
    tanto_contract::Engine::new(Arc::new(tanto_contract::Refusing {
        message: "probe: no engine",
        platform: "linux/amd64",
    }))
}

fn is_legacy(type_name: &str, field: &str) -> bool {
    type_name == "Query" && field.starts_with("load") && field.ends_with("FromID")
}

/// The coverage of `types` of `schema`: a field is implemented when its
/// type's table serves it (or it is `id` / `sync`, which every served object has).
pub fn report(schema: &Schema, types: &[&str]) -> Vec<TypeCoverage> {
    let mut out = Vec::new();
    for &tname in types {
        let Some(t) = schema.get_type(tname) else { continue };
        let mut cov = TypeCoverage {
            type_name: tname.to_string(),
            implemented: vec![],
            missing: vec![],
            legacy: 0,
            unserved: !dispatch::serves_type(tname),
        };
        for f in t.fields.values() {
            if is_legacy(tname, &f.name) {
                cov.legacy += 1;
            } else if dispatch::implements(tname, &f.name) {
                cov.implemented.push(f.name.to_string());
            } else {
                cov.missing.push(f.name.to_string());
            }
        }
        out.push(cov);
    }
    out
}

/// The report as printed by `tanto schema coverage`.
pub fn render(report: &[TypeCoverage], with_implemented: bool) -> String {
    let mut s = String::new();
    let (mut done, mut total) = (0, 0);
    s.push_str("type            implemented   coverage\n");
    for c in report {
        done += c.implemented.len();
        total += c.total();
        s.push_str(&format!(
            "{:<15} {:>5}/{:<5}   {:>6.1}%{}\n",
            c.type_name,
            c.implemented.len(),
            c.total(),
            c.percent(),
            if c.unserved { "  (no object of this type is served yet: all counted missing)" } else { "" }
        ));
    }
    s.push_str(&format!(
        "{:<15} {:>5}/{:<5}   {:>6.1}%\n",
        "all",
        done,
        total,
        if total == 0 { 100.0 } else { 100.0 * done as f64 / total as f64 }
    ));
    for c in report {
        if c.legacy > 0 {
            s.push_str(&format!(
                "\n{}: {} legacy load<T>FromID fields are served for every type and not counted above\n",
                c.type_name, c.legacy
            ));
        }
    }
    s.push_str("\nremaining:\n");
    for c in report {
        if !c.missing.is_empty() {
            s.push_str(&format!("  {}: {}\n", c.type_name, c.missing.join(", ")));
        }
    }
    if with_implemented {
        s.push_str("\nimplemented:\n");
        for c in report {
            s.push_str(&format!("  {}: {}\n", c.type_name, c.implemented.join(", ")));
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn find<'a>(report: &'a [TypeCoverage], t: &str) -> &'a TypeCoverage {
        report.iter().find(|c| c.type_name == t).unwrap_or_else(|| panic!("{t} missing from the report"))
    }

    #[test]
    fn report_tells_implemented_from_missing() {
        let report = report(crate::schema::dagger_v021(), CORE_TYPES);
        assert_eq!(report.len(), CORE_TYPES.len());
        // (type, field, implemented?)
        for (t, f, want) in [
            ("Query", "container", true),
            ("Query", "version", true),
            ("Query", "address", true),
            ("Query", "changeset", true),
            ("Query", "engine", true),
            ("Query", "currentWorkspace", true),
            ("Container", "withExec", true),
            ("Container", "stdout", true),
            ("Container", "id", true),
            ("Container", "terminal", true),
            ("Directory", "dockerBuild", true),
            ("Directory", "diff", true),
            ("Directory", "terminal", true),
            ("File", "withReplaced", true),
            ("Secret", "plaintext", true),
            ("Host", "unixSocket", true),
            ("Host", "containerImage", true),
            ("Container", "withUnixSocket", true),
            ("Container", "exportImage", true),
            ("Directory", "asGit", true),
            ("GitRepository", "uncommitted", true),
            ("GitRef", "commonAncestor", true),
        ] {
            let c = find(&report, t);
            assert!(!c.unserved, "{t} unserved");
            let got = c.implemented.iter().any(|x| x == f);
            assert_eq!(got, want, "{t}.{f}: implemented={got}");
            assert_ne!(got, c.missing.iter().any(|x| x == f), "{t}.{f} is in exactly one list");
        }
        let q = find(&report, "Query");
        assert!(q.legacy > 50, "legacy load<T>FromID fields are set apart");
        assert!(!q.implemented.iter().chain(&q.missing).any(|f| f.starts_with("load")));
    }

    #[test]
    fn render_lists_what_remains() {
        let r = vec![TypeCoverage {
            type_name: "File".into(),
            implemented: vec!["name".into()],
            missing: vec!["asJSON".into()],
            legacy: 0,
            unserved: false,
        }];
        let s = render(&r, false);
        assert!(s.contains("File                1/2         50.0%"), "{s}");
        assert!(s.contains("remaining:\n  File: asJSON\n"), "{s}");
    }
}
