//! `dagger.json` as Dagger v0.21 reads and writes it (`core/modules/config.go`):
//! read leniently where Dagger is lenient (the legacy string forms of `sdk`
//! and of a dependency, unknown keys kept), refused with an error naming the
//! file and the key where it is not, and written back the way Dagger writes
//! it (`json.MarshalIndent(cfg, "", "  ")` plus a newline: Dagger's key
//! order, empty fields left out, `<`, `>` and `&` escaped as Go does).

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

/// The name of a module's config file.
pub const FILENAME: &str = "dagger.json";

/// The SDKs tanto runs modules of.
pub const SUPPORTED_SDKS: &[&str] = &["python"];

/// Why a `dagger.json` cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("`{}` is not valid JSON: {message} (line {line}, column {column})", path.display())]
    Json { path: PathBuf, line: usize, column: usize, message: String },
    #[error("`{}` must hold a JSON object, not {found}", path.display())]
    NotAnObject { path: PathBuf, found: &'static str },
    #[error("`{}` has no `name`: a module needs one (e.g. \"name\": \"my-module\")", path.display())]
    MissingName { path: PathBuf },
    #[error("`{}`: `{key}` must be {expected}, not {found}", path.display())]
    WrongType { path: PathBuf, key: String, expected: &'static str, found: String },
    #[error("`{}`: sdk `{sdk}` is not supported by tanto yet; supported: {}", path.display(), SUPPORTED_SDKS.join(", "))]
    UnsupportedSdk { path: PathBuf, sdk: String },
}

/// The `sdk` of a module.
#[derive(Debug, Clone, PartialEq)]
pub struct Sdk {
    pub source: String,
    /// `config` (SDK specific), kept as written.
    pub config: Option<Map<String, Value>>,
    pub debug: bool,
    /// `experimental` features, kept as written.
    pub experimental: Option<Map<String, Value>>,
}

impl Sdk {
    pub fn new(source: &str) -> Sdk {
        Sdk { source: source.to_string(), config: None, debug: false, experimental: None }
    }
}

/// One entry of `dependencies`.
#[derive(Debug, Clone, PartialEq)]
pub struct Dependency {
    /// The name the module calls it by (empty in the legacy string form).
    pub name: String,
    /// A path relative to the module's root, or a git ref.
    pub source: String,
    /// The pinned commit of a git dependency.
    pub pin: Option<String>,
    /// Keys tanto does not use (`customizations`, `ignoreChecks`, ...), kept in order.
    pub other: Map<String, Value>,
}

impl Dependency {
    pub fn local(name: &str, source: &str) -> Dependency {
        Dependency { name: name.into(), source: source.into(), pin: None, other: Map::new() }
    }
}

/// A module's `dagger.json`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ModuleConfig {
    /// `$schema`.
    pub schema: Option<String>,
    pub name: String,
    /// `engineVersion` (`vX.Y.Z`, or `latest` before `init` fills it in).
    pub engine_version: String,
    pub sdk: Option<Sdk>,
    /// `blueprint` and `toolchains`, kept as written (tanto does not use them yet).
    pub blueprint: Option<Value>,
    pub toolchains: Option<Value>,
    pub include: Vec<String>,
    pub dependencies: Vec<Dependency>,
    /// The source directory relative to the root; `None` is the root itself
    /// (`"."` is never written).
    pub source: Option<String>,
    pub codegen: Option<Map<String, Value>>,
    /// Deprecated in Dagger (read as `!pattern` includes); kept as written.
    pub exclude: Vec<String>,
    pub clients: Option<Value>,
    pub disable_default_function_caching: Option<bool>,
    /// Keys Dagger does not know, kept (written after the known ones).
    pub other: Map<String, Value>,
}

/// Dagger's key order (the field order of `ModuleConfig`).
const KNOWN_KEYS: &[&str] = &[
    "$schema",
    "name",
    "engineVersion",
    "sdk",
    "blueprint",
    "toolchains",
    "include",
    "dependencies",
    "source",
    "codegen",
    "exclude",
    "clients",
    "disableDefaultFunctionCaching",
];

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

struct Reader<'a> {
    path: &'a Path,
}

impl Reader<'_> {
    fn wrong(&self, key: &str, expected: &'static str, v: &Value) -> ConfigError {
        ConfigError::WrongType { path: self.path.into(), key: key.into(), expected, found: kind(v).into() }
    }

    fn string(&self, key: &str, v: &Value) -> Result<String, ConfigError> {
        match v {
            Value::String(s) => Ok(s.clone()),
            _ => Err(self.wrong(key, "a string", v)),
        }
    }

    fn opt_string(&self, key: &str, v: Option<&Value>) -> Result<Option<String>, ConfigError> {
        match v {
            None | Some(Value::Null) => Ok(None),
            Some(v) => self.string(key, v).map(Some),
        }
    }

    fn strings(&self, key: &str, v: Option<&Value>) -> Result<Vec<String>, ConfigError> {
        match v {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(Value::Array(items)) => {
                items.iter().enumerate().map(|(i, item)| self.string(&format!("{key}[{i}]"), item)).collect()
            }
            Some(v) => Err(self.wrong(key, "a list of strings", v)),
        }
    }

    fn object(&self, key: &str, v: Option<&Value>) -> Result<Option<Map<String, Value>>, ConfigError> {
        match v {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Object(m)) => Ok(Some(m.clone())),
            Some(v) => Err(self.wrong(key, "an object", v)),
        }
    }

    fn bool(&self, key: &str, v: Option<&Value>) -> Result<Option<bool>, ConfigError> {
        match v {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(v) => Err(self.wrong(key, "true or false", v)),
        }
    }

    fn sdk(&self, v: &Value) -> Result<Option<Sdk>, ConfigError> {
        match v {
            Value::Null => Ok(None),
            // the legacy form: "sdk": "python"
            Value::String(s) => Ok(Some(Sdk::new(s))),
            Value::Object(m) => {
                let source = match m.get("source") {
                    None | Some(Value::Null) => String::new(),
                    Some(v) => self.string("sdk.source", v)?,
                };
                Ok(Some(Sdk {
                    source,
                    config: self.object("sdk.config", m.get("config"))?,
                    debug: self.bool("sdk.debug", m.get("debug"))?.unwrap_or(false),
                    experimental: self.object("sdk.experimental", m.get("experimental"))?,
                }))
            }
            v => Err(self.wrong("sdk", "an object with a `source` (e.g. {\"source\": \"python\"})", v)),
        }
    }

    fn dependencies(&self, v: Option<&Value>) -> Result<Vec<Dependency>, ConfigError> {
        let items = match v {
            None | Some(Value::Null) => return Ok(Vec::new()),
            Some(Value::Array(items)) => items,
            Some(v) => return Err(self.wrong("dependencies", "a list", v)),
        };
        let mut deps = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let key = format!("dependencies[{i}]");
            let dep = match item {
                // the legacy form: a list of ref strings
                Value::String(s) => Dependency { name: String::new(), source: s.clone(), pin: None, other: Map::new() },
                Value::Object(m) => {
                    let name = self.opt_string(&format!("{key}.name"), m.get("name"))?.unwrap_or_default();
                    let source = match m.get("source") {
                        Some(v) => self.string(&format!("{key}.source"), v)?,
                        None => {
                            return Err(ConfigError::WrongType {
                                path: self.path.into(),
                                key: format!("{key}.source"),
                                expected: "a string (a path relative to the module, or a git ref)",
                                found: "nothing".into(),
                            })
                        }
                    };
                    let pin = self.opt_string(&format!("{key}.pin"), m.get("pin"))?.filter(|p| !p.is_empty());
                    let other = m
                        .iter()
                        .filter(|(k, _)| !matches!(k.as_str(), "name" | "source" | "pin"))
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect();
                    Dependency { name, source, pin, other }
                }
                v => return Err(self.wrong(&key, "an object ({\"name\": ..., \"source\": ...})", v)),
            };
            deps.push(dep);
        }
        Ok(deps)
    }
}

impl ModuleConfig {
    /// A new module's config, as `init` writes it.
    pub fn new(name: &str, engine_version: &str, sdk: Option<&str>) -> ModuleConfig {
        ModuleConfig {
            name: name.into(),
            engine_version: engine_version.into(),
            sdk: sdk.map(Sdk::new),
            ..ModuleConfig::default()
        }
    }

    /// Reads `dir/dagger.json`: an IO error, or the config or why it is unusable.
    pub fn read(dir: &Path) -> std::io::Result<Result<ModuleConfig, ConfigError>> {
        let path = dir.join(FILENAME);
        let text = std::fs::read(&path)?;
        Ok(ModuleConfig::parse(&path, &text))
    }

    /// Parses the text of a `dagger.json`; `path` names it in errors.
    pub fn parse(path: &Path, text: &[u8]) -> Result<ModuleConfig, ConfigError> {
        let value: Value = serde_json::from_slice(text).map_err(|e| ConfigError::Json {
            path: path.into(),
            line: e.line(),
            column: e.column(),
            message: json_message(&e),
        })?;
        let Value::Object(map) = value else {
            return Err(ConfigError::NotAnObject { path: path.into(), found: kind(&value) });
        };
        let r = Reader { path };
        let name = match map.get("name") {
            None | Some(Value::Null) => return Err(ConfigError::MissingName { path: path.into() }),
            Some(v) => r.string("name", v)?,
        };
        if name.trim().is_empty() {
            return Err(ConfigError::MissingName { path: path.into() });
        }
        let sdk = match map.get("sdk") {
            None => None,
            Some(v) => r.sdk(v)?,
        };
        if let Some(sdk) = &sdk {
            if !sdk.source.is_empty() && !SUPPORTED_SDKS.contains(&sdk.source.as_str()) {
                return Err(ConfigError::UnsupportedSdk { path: path.into(), sdk: sdk.source.clone() });
            }
        }
        let source = r.opt_string("source", map.get("source"))?.filter(|s| !s.is_empty() && s != ".");
        Ok(ModuleConfig {
            schema: r.opt_string("$schema", map.get("$schema"))?,
            name,
            engine_version: r.opt_string("engineVersion", map.get("engineVersion"))?.unwrap_or_default(),
            sdk,
            blueprint: map.get("blueprint").filter(|v| !v.is_null()).cloned(),
            toolchains: map.get("toolchains").filter(|v| !v.is_null()).cloned(),
            include: r.strings("include", map.get("include"))?,
            dependencies: r.dependencies(map.get("dependencies"))?,
            source,
            codegen: r.object("codegen", map.get("codegen"))?,
            exclude: r.strings("exclude", map.get("exclude"))?,
            clients: map.get("clients").filter(|v| !v.is_null()).cloned(),
            disable_default_function_caching: r
                .bool("disableDefaultFunctionCaching", map.get("disableDefaultFunctionCaching"))?,
            other: map
                .iter()
                .filter(|(k, _)| !KNOWN_KEYS.contains(&k.as_str()))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        })
    }

    /// The source directory relative to the module's root (`.` for the root).
    pub fn source_dir(&self) -> &str {
        self.source.as_deref().unwrap_or(".")
    }

    /// The include patterns as Dagger reads them: `include`, then each
    /// `exclude` pattern negated (`x` → `!x`, `!x` → `x`).
    pub fn include_patterns(&self) -> Vec<String> {
        let mut out = self.include.clone();
        for e in self.exclude.iter().filter(|e| !e.is_empty()) {
            out.push(match e.strip_prefix('!') {
                Some(rest) => rest.to_string(),
                None => format!("!{e}"),
            });
        }
        out
    }

    /// What `include_patterns` leaves out (its negated patterns, `!` taken
    /// off), relative to the module's root.
    pub fn exclude_patterns(&self) -> Vec<String> {
        self.include_patterns().iter().filter_map(|p| p.strip_prefix('!')).map(str::to_string).collect()
    }

    /// Whether the module has an SDK (else it only bundles dependencies).
    pub fn sdk_source(&self) -> Option<&str> {
        self.sdk.as_ref().map(|s| s.source.as_str()).filter(|s| !s.is_empty())
    }

    /// The JSON object Dagger would write.
    pub fn to_value(&self) -> Value {
        let mut m = Map::new();
        if let Some(s) = &self.schema {
            if !s.is_empty() {
                m.insert("$schema".into(), s.clone().into());
            }
        }
        m.insert("name".into(), self.name.clone().into());
        m.insert("engineVersion".into(), self.engine_version.clone().into());
        if let Some(sdk) = &self.sdk {
            let mut s = Map::new();
            s.insert("source".into(), sdk.source.clone().into());
            if let Some(c) = sdk.config.as_ref().filter(|c| !c.is_empty()) {
                s.insert("config".into(), Value::Object(c.clone()));
            }
            if sdk.debug {
                s.insert("debug".into(), true.into());
            }
            if let Some(e) = sdk.experimental.as_ref().filter(|e| !e.is_empty()) {
                s.insert("experimental".into(), Value::Object(e.clone()));
            }
            m.insert("sdk".into(), Value::Object(s));
        }
        if let Some(b) = &self.blueprint {
            m.insert("blueprint".into(), b.clone());
        }
        if let Some(t) = self.toolchains.as_ref().filter(|t| !is_empty_list(t)) {
            m.insert("toolchains".into(), t.clone());
        }
        if !self.include.is_empty() {
            m.insert("include".into(), self.include.clone().into());
        }
        if !self.dependencies.is_empty() {
            let deps = self
                .dependencies
                .iter()
                .map(|d| {
                    let mut o = Map::new();
                    o.insert("name".into(), d.name.clone().into());
                    o.insert("source".into(), d.source.clone().into());
                    if let Some(p) = &d.pin {
                        o.insert("pin".into(), p.clone().into());
                    }
                    o.extend(d.other.iter().map(|(k, v)| (k.clone(), v.clone())));
                    Value::Object(o)
                })
                .collect();
            m.insert("dependencies".into(), Value::Array(deps));
        }
        if let Some(s) = self.source.as_ref().filter(|s| !s.is_empty() && *s != ".") {
            m.insert("source".into(), s.clone().into());
        }
        if let Some(c) = &self.codegen {
            m.insert("codegen".into(), Value::Object(c.clone()));
        }
        if !self.exclude.is_empty() {
            m.insert("exclude".into(), self.exclude.clone().into());
        }
        if let Some(c) = self.clients.as_ref().filter(|c| !is_empty_list(c)) {
            m.insert("clients".into(), c.clone());
        }
        if let Some(d) = self.disable_default_function_caching {
            m.insert("disableDefaultFunctionCaching".into(), d.into());
        }
        m.extend(self.other.iter().map(|(k, v)| (k.clone(), v.clone())));
        Value::Object(m)
    }

    /// The file's text as Dagger writes it: two-space indent, a final
    /// newline, and Go's escaping of `<`, `>`, `&`, U+2028 and U+2029.
    pub fn to_json(&self) -> String {
        let text = serde_json::to_string_pretty(&self.to_value()).expect("a JSON value always serializes");
        let mut out = go_escape(&text);
        out.push('\n');
        out
    }
}

fn is_empty_list(v: &Value) -> bool {
    matches!(v, Value::Array(a) if a.is_empty())
}

/// serde_json's message without its " at line L column C" tail (we say it ourselves).
fn json_message(e: &serde_json::Error) -> String {
    let s = e.to_string();
    match s.rfind(" at line ") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

/// Go's `encoding/json` HTML-safe escaping. These characters only occur
/// inside strings in JSON text, so replacing them everywhere is exact.
fn go_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<ModuleConfig, ConfigError> {
        ModuleConfig::parse(Path::new("/m/dagger.json"), text.as_bytes())
    }

    #[test]
    fn reads_what_dagger_writes() {
        let text = r#"{
  "name": "app",
  "engineVersion": "v0.21.8",
  "sdk": {
    "source": "python"
  },
  "include": [
    "extra/**"
  ],
  "dependencies": [
    {
      "name": "greeter",
      "source": "../greeter"
    },
    {
      "name": "lib",
      "source": "github.com/acme/lib@v1.2.0",
      "pin": "0123456789abcdef0123456789abcdef01234567"
    }
  ],
  "source": ".dagger",
  "disableDefaultFunctionCaching": true
}
"#;
        let cfg = parse(text).unwrap();
        assert_eq!(cfg.name, "app");
        assert_eq!(cfg.engine_version, "v0.21.8");
        assert_eq!(cfg.sdk_source(), Some("python"));
        assert_eq!(cfg.source_dir(), ".dagger");
        assert_eq!(cfg.dependencies[0], Dependency::local("greeter", "../greeter"));
        assert_eq!(cfg.dependencies[1].pin.as_deref(), Some("0123456789abcdef0123456789abcdef01234567"));
        assert_eq!(cfg.disable_default_function_caching, Some(true));
        // written back byte for byte
        assert_eq!(cfg.to_json(), text);
    }

    #[test]
    fn writes_like_dagger() {
        // (config, the text Dagger writes)
        let new = ModuleConfig::new("hello", "v0.21.8", Some("python"));
        let mut with_source = new.clone();
        with_source.source = Some(".dagger".into());
        let mut dot_source = new.clone();
        dot_source.source = Some(".".into());
        let mut escaped = ModuleConfig::new("a<b>&c", "v0.21.8", None);
        escaped.exclude = vec!["!x".into()];
        let cases = [
            (new, "{\n  \"name\": \"hello\",\n  \"engineVersion\": \"v0.21.8\",\n  \"sdk\": {\n    \"source\": \"python\"\n  }\n}\n"),
            (
                with_source,
                "{\n  \"name\": \"hello\",\n  \"engineVersion\": \"v0.21.8\",\n  \"sdk\": {\n    \"source\": \"python\"\n  },\n  \"source\": \".dagger\"\n}\n",
            ),
            (
                dot_source,
                "{\n  \"name\": \"hello\",\n  \"engineVersion\": \"v0.21.8\",\n  \"sdk\": {\n    \"source\": \"python\"\n  }\n}\n",
            ),
            (
                escaped,
                "{\n  \"name\": \"a\\u003cb\\u003e\\u0026c\",\n  \"engineVersion\": \"v0.21.8\",\n  \"exclude\": [\n    \"!x\"\n  ]\n}\n",
            ),
        ];
        for (cfg, want) in cases {
            assert_eq!(cfg.to_json(), want, "{cfg:?}");
            // and it reads back the same
            let back = parse(&cfg.to_json()).unwrap();
            assert_eq!(back.to_json(), want);
        }
    }

    #[test]
    fn dagger_json_excludes_leave_files_out_of_the_upload() {
        let cases: &[(&str, &[&str])] = &[
            (r#"{"name":"m"}"#, &[]),
            (r#"{"name":"m","include":["src/**","!.env","!**/*.log"]}"#, &[".env", "**/*.log"]),
            (r#"{"name":"m","exclude":["dist","!keep"]}"#, &["dist"]),
            (r#"{"name":"m","include":["!a"],"exclude":["b"]}"#, &["a", "b"]),
        ];
        for (text, want) in cases {
            let cfg = parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(cfg.exclude_patterns(), want.to_vec(), "{text}");
        }
    }

    #[test]
    fn legacy_and_lenient_forms() {
        // (text, sdk, source dir, dependencies (name, source), include patterns)
        type Case =
            (&'static str, Option<&'static str>, &'static str, Vec<(&'static str, &'static str)>, Vec<&'static str>);
        let cases: Vec<Case> = vec![
            (r#"{"name":"a","sdk":"python"}"#, Some("python"), ".", vec![], vec![]),
            (r#"{"name":"a","sdk":{"source":"python"},"source":"."}"#, Some("python"), ".", vec![], vec![]),
            (r#"{"name":"a","dependencies":["../b"]}"#, None, ".", vec![("", "../b")], vec![]),
            (r#"{"name":"a","include":["x"],"exclude":["y","!z"]}"#, None, ".", vec![], vec!["x", "!y", "z"]),
            (r#"{"name":"a","sdk":{"source":"python"},"futureKey":{"x":1}}"#, Some("python"), ".", vec![], vec![]),
        ];
        for (text, sdk, source, deps, include) in cases {
            let cfg = parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(cfg.sdk_source(), sdk, "{text}");
            assert_eq!(cfg.source_dir(), source, "{text}");
            let got: Vec<(&str, &str)> =
                cfg.dependencies.iter().map(|d| (d.name.as_str(), d.source.as_str())).collect();
            assert_eq!(got, deps, "{text}");
            assert_eq!(cfg.include_patterns(), include, "{text}");
        }
        // unknown keys survive a round trip, after the known ones
        let cfg = parse(r#"{"futureKey":1,"name":"a","engineVersion":"v0.21.8"}"#).unwrap();
        assert_eq!(cfg.to_json(), "{\n  \"name\": \"a\",\n  \"engineVersion\": \"v0.21.8\",\n  \"futureKey\": 1\n}\n");
    }

    #[test]
    fn errors_name_the_file_and_the_key() {
        // (text, the error's message)
        let cases = [
            ("{\"name\": \"a\",", "`/m/dagger.json` is not valid JSON: EOF while parsing a value (line 1, column 13)"),
            ("[1]", "`/m/dagger.json` must hold a JSON object, not a list"),
            ("{}", "`/m/dagger.json` has no `name`: a module needs one (e.g. \"name\": \"my-module\")"),
            ("{\"name\": \"  \"}", "`/m/dagger.json` has no `name`: a module needs one (e.g. \"name\": \"my-module\")"),
            ("{\"name\": 3}", "`/m/dagger.json`: `name` must be a string, not a number"),
            (
                r#"{"name":"a","sdk":{"source":"go"}}"#,
                "`/m/dagger.json`: sdk `go` is not supported by tanto yet; supported: python",
            ),
            (
                r#"{"name":"a","sdk":"typescript"}"#,
                "`/m/dagger.json`: sdk `typescript` is not supported by tanto yet; supported: python",
            ),
            (r#"{"name":"a","sdk":true}"#, "`/m/dagger.json`: `sdk` must be an object with a `source` (e.g. {\"source\": \"python\"}), not a boolean"),
            (r#"{"name":"a","dependencies":{}}"#, "`/m/dagger.json`: `dependencies` must be a list, not an object"),
            (
                r#"{"name":"a","dependencies":[{"name":"b"}]}"#,
                "`/m/dagger.json`: `dependencies[0].source` must be a string (a path relative to the module, or a git ref), not nothing",
            ),
            (
                r#"{"name":"a","dependencies":[{"name":"b","source":"../b"},{"name":"c","source":7}]}"#,
                "`/m/dagger.json`: `dependencies[1].source` must be a string, not a number",
            ),
            (r#"{"name":"a","include":["x",1]}"#, "`/m/dagger.json`: `include[1]` must be a string, not a number"),
            (r#"{"name":"a","source":["x"]}"#, "`/m/dagger.json`: `source` must be a string, not a list"),
            (
                r#"{"name":"a","disableDefaultFunctionCaching":"yes"}"#,
                "`/m/dagger.json`: `disableDefaultFunctionCaching` must be true or false, not a string",
            ),
        ];
        for (text, want) in cases {
            let err = parse(text).expect_err(text);
            assert_eq!(err.to_string(), want, "{text}");
        }
    }
}
