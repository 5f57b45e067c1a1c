//! `EnvFile`: variables in dotenv form (`Query.envFile`, `File.asEnvFile`,
//! `Container.withEnvFileVariables`). Values are kept as written; `get` and
//! `variables` remove quotes and expand `$VAR`/`${VAR}` from the file's own
//! variables (last occurrence wins) unless `raw`.

use serde::Serialize;

use super::dispatch::{fields, table, Fields};
use super::dockerfile::expand_env_value;
use super::objects::*;
use super::{file_op, leaf, paths, resolved, Api, Object};
use crate::dagger::ApiError;
use tanto_gql::Resolved;

#[derive(Debug, Clone, Default, Serialize)]
pub struct EnvFileObj {
    /// `(name, value as written)` in file order; names may repeat.
    pub vars: Vec<(String, String)>,
}

impl EnvFileObj {
    /// Parses dotenv text: `NAME=value`, optional `export `, `#` comments, blank lines.
    pub fn parse(text: &str) -> Result<EnvFileObj, String> {
        let mut vars = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let l = line.trim();
            if l.is_empty() || l.starts_with('#') {
                continue;
            }
            let l = l.strip_prefix("export ").map(str::trim_start).unwrap_or(l);
            let (k, v) = l.split_once('=').ok_or_else(|| format!("line {}: `{l}` is not NAME=value", i + 1))?;
            let k = k.trim();
            if k.is_empty() || k.contains(char::is_whitespace) {
                return Err(format!("line {}: `{k}` is not a variable name", i + 1));
            }
            vars.push((k.to_string(), v.trim().to_string()));
        }
        Ok(EnvFileObj { vars })
    }

    fn raw(&self, name: &str) -> Option<&str> {
        self.vars.iter().rev().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// The value with quotes removed and variables expanded (unquoted
    /// values lose a trailing ` # comment`; single quotes keep `$` literal).
    pub fn value(&self, name: &str) -> Option<String> {
        self.raw(name).map(|v| self.expand(v, 0))
    }

    fn expand(&self, v: &str, depth: usize) -> String {
        let v = if v.starts_with(['"', '\'']) { v } else { v.split(" #").next().unwrap_or(v).trim_end() };
        let lookup = |n: &str| if depth < 8 { self.raw(n).map(|r| self.expand(r, depth + 1)) } else { None };
        expand_env_value(v, &lookup).unwrap_or_else(|_| v.to_string())
    }

    /// All variables, the last occurrence of each name in the place of its first.
    fn pairs(&self, raw: bool) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = Vec::new();
        for (k, _) in &self.vars {
            if out.iter().any(|(n, _)| n == k) {
                continue;
            }
            let v = if raw { self.raw(k).unwrap_or("").to_string() } else { self.value(k).unwrap_or_default() };
            out.push((k.clone(), v));
        }
        out
    }

    /// The processed variables, for `withEnvFileVariables`.
    pub fn variables(&self) -> Vec<(String, String)> {
        self.pairs(false)
    }

    fn text(&self) -> String {
        self.vars.iter().map(|(k, v)| format!("{k}={v}\n")).collect()
    }
}

table!(pub(super) ENV_FILE: EnvFileObj = "EnvFile", Object::EnvFile(v) => v, &[ENV_FILE_FIELDS], &[]);

static ENV_FILE_FIELDS: Fields<EnvFileObj> = fields! { |api, e, call, a|
    let env = |e: EnvFileObj| -> Result<Resolved, ApiError> { Ok(resolved(Object::EnvFile(e))) };
    "exists" => Ok(leaf(e.raw(a.string("name")?).is_some())),
    "get" => {
        let name = a.string("name")?;
        let v =
            if a.opt_bool("raw")?.unwrap_or(false) { e.raw(name).map(str::to_string) } else { e.value(name) };
        Ok(leaf(v.unwrap_or_default()))
    },
    "variables" => Ok(Resolved::List(
        e.pairs(a.opt_bool("raw")?.unwrap_or(false))
            .into_iter()
            .map(|(name, value)| resolved(Object::EnvVariable(EnvVariableObj { name, value })))
            .collect(),
    )),
    "withVariable" => {
        let mut n = e.clone();
        n.vars.push((a.string("name")?.to_string(), a.string("value")?.to_string()));
        env(n)
    },
    "withoutVariable" => {
        let name = a.string("name")?;
        let mut n = e.clone();
        n.vars.retain(|(k, _)| k != name);
        env(n)
    },
    "namespace" => {
        let prefix = a.string("prefix")?;
        let vars = e
            .vars
            .iter()
            .filter_map(|(k, v)| {
                k.strip_prefix(prefix).filter(|r| !r.is_empty()).map(|r| (r.to_string(), v.clone()))
            })
            .collect();
        env(EnvFileObj { vars })
    },
    "asFile" => {
        let path = paths::clean_abs(".env");
        let action =
            tanto_model::FileAction::Mkfile { path: path.clone(), data: e.text(), mode: 0o644, owner: None };
        Ok(resolved(Object::File(FileObj { root: Some(file_op(None, action, vec![])), path })))
    },
};

impl Api {
    /// `File.asEnvFile`: reads and parses the file (so it is evaluated here).
    pub(super) async fn file_as_env_file(&self, f: &FileObj) -> Result<Resolved, ApiError> {
        let data = self.engine.solve.read_file(f.root.as_ref(), &f.path).await?;
        let text =
            String::from_utf8(data).map_err(|_| format!("`{}` is not UTF-8 text, so not an env file", f.path))?;
        let e = EnvFileObj::parse(&text).map_err(|m| format!("`{}` is not an env file: {m}", f.path))?;
        Ok(resolved(Object::EnvFile(e)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_values() {
        let e = EnvFileObj::parse(
            "# comment\nA=1\nexport B = two words \nC=\"quoted $A\\n\"\nD='$A'\nE=${A}x # note\nA=3\n\n",
        )
        .unwrap();
        // (name, raw, processed)
        for (name, raw, value) in [
            ("A", Some("3"), Some("3")),
            ("B", Some("two words"), Some("two words")),
            ("C", Some("\"quoted $A\\n\""), Some("quoted 3\\n")),
            ("D", Some("'$A'"), Some("$A")),
            ("E", Some("${A}x # note"), Some("3x")),
            ("F", None, None),
        ] {
            assert_eq!(e.raw(name), raw, "{name}");
            assert_eq!(e.value(name).as_deref(), value, "{name}");
        }
        assert_eq!(e.pairs(false).iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>(), vec!["A", "B", "C", "D", "E"]);
        assert!(EnvFileObj::parse("novalue").unwrap_err().contains("line 1"));
    }
}
