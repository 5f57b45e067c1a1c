//! Walking a `call` command line through the module's types, the way
//! Dagger's `FuncCommand.traverse`/`cobraBuilder` do: the constructor's
//! flags, then a function and its flags, then a function of what it
//! returns, ... Each level parses its flags (stopping at the first
//! positional argument), checks required ones, and selects its function.
//! Pure: a core type the catalog lacks comes back as [`Walk::Missing`].

use std::path::Path;

use tanto_module::names::cli_name;
use tanto_module::types::{Function, FunctionArg, Kind, ObjectDef, TypeDef};

use super::catalog::{self, flag_type, object_name, required, Catalog, Custom, FlagType, Missing};
use super::flags::{self, Arity, FlagSpec, Parsed};

/// The flags every level of `call` takes (Dagger's persistent flags).
pub fn global_specs() -> Vec<FlagSpec> {
    vec![
        FlagSpec::new("mod", Arity::Value).short('m'),
        FlagSpec::new("output", Arity::Value).short('o'),
        FlagSpec::new("json", Arity::Bool).short('j'),
        FlagSpec::new("help", Arity::Bool).short('h'),
        FlagSpec::new("progress", Arity::Value),
        FlagSpec::new("interactive", Arity::Bool).short('i'),
    ]
}

/// `-i`/`--interactive` among `call`'s arguments (before `--`).
pub fn interactive_flag(args: &[String]) -> bool {
    flags::parse(&global_specs(), args, true)
        .ok()
        .and_then(|p| p.last("interactive").and_then(flags::parse_bool))
        .unwrap_or(false)
}

/// `--progress MODE` among `call`'s arguments (before `--`).
pub fn progress_flag(args: &[String]) -> Option<String> {
    flags::parse(&global_specs(), args, true).ok()?.last("progress").map(str::to_string)
}

/// What `call` reads before the module is loaded: `-m` (at the `call`
/// level, unknown flags skipped) and whether `--help` is anywhere.
pub fn prescan(args: &[String]) -> Result<(Option<String>, bool), String> {
    let parsed = flags::parse(&global_specs(), args, true)?;
    let end = args.iter().position(|a| a == "--").unwrap_or(args.len());
    let help = args[..end].iter().any(|a| a == "--help" || a == "-h");
    Ok((parsed.last("mod").map(str::to_string), help))
}

/// An argument's value in the query.
#[derive(Debug, Clone, PartialEq)]
pub enum ArgValue {
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    Enum(String),
    List(Vec<ArgValue>),
    /// An input object literal (`PortForward`, `BuildArg`).
    Object(Vec<(String, ArgValue)>),
    /// The ID from lookup number N of the plan (a host directory, a secret, ...).
    Lookup(usize),
}

/// An object the CLI makes from a flag's text before the call
/// (`address(value:)` and friends).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lookup {
    pub kind: Custom,
    pub value: String,
    /// A directory argument's `ignore` patterns.
    pub exclude: Vec<String>,
}

/// One field of the chain and its arguments.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub field: String,
    pub args: Vec<(String, ArgValue)>,
}

/// What to select under the last field (Dagger's `handleObjectLeaf`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeafSelection {
    /// A scalar, a list of scalars, an enum or void: nothing.
    None,
    /// An object: its ID (`id: sync` when it has `sync`).
    Id { sync: bool },
    /// `-o PATH` on an object with `export(path:)`.
    Export { path: String, allow_parent_dir_path: bool },
}

/// A command line read into a query.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// `steps[0]` is the module's constructor on `Query`.
    pub steps: Vec<Step>,
    pub lookups: Vec<Lookup>,
    pub leaf: TypeDef,
    pub leaf_selection: LeafSelection,
    pub json: bool,
    pub output: Option<String>,
}

/// `--help` somewhere on the line: the command it applies to.
#[derive(Debug, Clone, PartialEq)]
pub struct Help {
    /// CLI names below `call` (`["build", "with-exec"]`).
    pub path: Vec<String>,
    pub function: Function,
    /// The functions of what it returns, sorted, and the names skipped.
    pub functions: Vec<Function>,
    pub skipped: Vec<String>,
    pub core_object: bool,
    /// The values of the enums its arguments take, by enum name (help shows
    /// an enum flag's type as its values, as Dagger's does).
    pub enum_values: std::collections::BTreeMap<String, Vec<String>>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Walk {
    Run(Box<Plan>),
    Help(Box<Help>),
    /// A type to introspect before walking again.
    Missing(String),
    /// A usage error on the command `tanto call PATH`.
    Usage {
        path: Vec<String>,
        message: String,
    },
}

impl From<Missing> for Walk {
    fn from(m: Missing) -> Walk {
        Walk::Missing(m.0)
    }
}

/// The command path of a level, for messages: `tanto call greet`.
pub fn command_path(path: &[String]) -> String {
    let mut s = format!("{} call", crate::program_name());
    for p in path {
        s.push(' ');
        s.push_str(p);
    }
    s
}

/// The constructor as a function on `Query`: the module's field, the main
/// object's constructor arguments.
pub fn constructor(catalog: &Catalog) -> Result<Function, String> {
    let name = &catalog.module.name;
    let main = catalog
        .module
        .main_object()
        .ok_or_else(|| format!("module `{name}` has no main object `{}`", tanto_module::names::camel(name)))?;
    Ok(Function {
        name: catalog::constructor_field(name),
        original_name: None,
        description: main.description.clone(),
        args: main.constructor.as_ref().map(|c| c.args.clone()).unwrap_or_default(),
        return_type: catalog::object(&main.name, false),
    })
}

/// Walks `args` (what follows `call`, global flags included) from the
/// module's constructor. `cwd` makes `-o PATH` absolute.
pub fn walk(catalog: &Catalog, args: &[String], cwd: &Path) -> Walk {
    let (_, help) = match prescan(args) {
        Ok(p) => p,
        Err(message) => return Walk::Usage { path: Vec::new(), message },
    };
    let mut function = match constructor(catalog) {
        Ok(f) => f,
        Err(message) => return Walk::Usage { path: Vec::new(), message },
    };
    let mut owner_is_core = false;
    // The object the current function is on (empty for the constructor).
    let mut owner = String::new();
    let mut path: Vec<String> = Vec::new();
    let mut args: Vec<String> = args.to_vec();
    let mut steps = Vec::new();
    let mut lookups = Vec::new();
    let (mut json, mut output) = (false, None::<String>);
    loop {
        let usage = |path: &Vec<String>, message: String| Walk::Usage { path: path.clone(), message };
        let supported: Vec<(&FunctionArg, FlagType)> =
            function.args.iter().filter_map(|a| flag_type(a, owner_is_core).map(|t| (a, t))).collect();
        let mut specs: Vec<FlagSpec> = supported
            .iter()
            .map(|(a, t)| {
                FlagSpec::new(cli_name(&a.name), if *t == FlagType::Bool { Arity::Bool } else { Arity::Value })
            })
            .collect();
        for g in global_specs() {
            if !specs.iter().any(|s| s.name == g.name) {
                specs.push(g);
            }
        }
        let parsed = match flags::parse(&specs, &args, false) {
            Ok(p) => p,
            Err(m) => return usage(&path, m),
        };
        if parsed.changed("json") && !supported.iter().any(|(a, _)| cli_name(&a.name) == "json") {
            json = parsed.last("json").and_then(flags::parse_bool).unwrap_or(true);
        }
        if parsed.changed("output") && !supported.iter().any(|(a, _)| cli_name(&a.name) == "output") {
            output = parsed.last("output").map(str::to_string);
        }
        // The object this level returns, and the functions offered on it.
        let returned: Option<&ObjectDef> = match object_name(&function.return_type) {
            Some(name) => match catalog.object(&name) {
                Ok(o) => Some(o),
                Err(m) => return m.into(),
            },
            None => None,
        };
        let mut step = Step { field: function.name.clone(), args: Vec::new() };
        let mut missing: Vec<String> = Vec::new();
        for (arg, t) in &supported {
            let flag = cli_name(&arg.name);
            if !parsed.changed(&flag) {
                if required(arg) {
                    missing.push(flag);
                }
                continue;
            }
            match value(catalog, arg, t, &parsed, &flag, &mut lookups) {
                Ok(v) => step.args.push((arg.name.clone(), v)),
                Err(Value::Missing(m)) => return m.into(),
                Err(Value::Invalid(m)) => return usage(&path, m),
            }
        }
        if !help && !missing.is_empty() {
            return usage(&path, format!("required flag(s) \"{}\" not set", missing.join("\", \"")));
        }
        steps.push(step);
        let Some(next) = parsed.rest.first() else {
            if help {
                let (mut functions, skipped) = match returned {
                    Some(o) => catalog.functions_split(o),
                    None => (Vec::new(), Vec::new()),
                };
                functions.sort_by(|a, b| a.name.cmp(&b.name));
                let core_object = returned.is_some_and(|o| !catalog.is_module_type(&o.name));
                let mut enum_values = std::collections::BTreeMap::new();
                for a in &function.args {
                    let mut t = catalog::flag_type(a, false);
                    while let Some(FlagType::List(e)) = t {
                        t = Some(*e);
                    }
                    if let Some(FlagType::Enum(name)) = t {
                        if let Ok(def) = catalog.enum_def(&name) {
                            enum_values.insert(name, def.members.iter().map(|m| m.name.clone()).collect());
                        }
                    }
                }
                return Walk::Help(Box::new(Help { path, function, functions, skipped, core_object, enum_values }));
            }
            let leaf_selection = match returned {
                // An ID scalar (`sync`, `Service.start`): printed as it is.
                Some(_) if catalog.returns_id(&owner, &function.name) => LeafSelection::None,
                Some(o) => leaf_selection(catalog, o, output.as_deref(), cwd),
                None => LeafSelection::None,
            };
            return Walk::Run(Box::new(Plan {
                steps,
                lookups,
                leaf: function.return_type,
                leaf_selection,
                json,
                output,
            }));
        };
        if catalog.returns_id(&owner, &function.name) {
            return usage(
                &path,
                format!(
                    "\"{}\" returns an ID, not an object: nothing can follow it (drop \"{next}\" and what comes after)",
                    command_path(&path)
                ),
            );
        }
        let Some(next_fn) = returned.and_then(|o| catalog.function(o, next)) else {
            return usage(&path, format!("unknown command \"{next}\" for \"{}\"", command_path(&path)));
        };
        owner_is_core = returned.is_some_and(|o| !catalog.is_module_type(&o.name));
        owner = returned.map(|o| o.name.clone()).unwrap_or_default();
        path.push(cli_name(&next_fn.name));
        args = parsed.rest[1..].to_vec();
        function = next_fn;
    }
}

/// Dagger's `handleObjectLeaf`: `export` for `-o` where the object has one,
/// else its ID (through `sync` where it has one).
fn leaf_selection(catalog: &Catalog, obj: &ObjectDef, output: Option<&str>, cwd: &Path) -> LeafSelection {
    let core = !catalog.is_module_type(&obj.name);
    let functions = catalog.functions(obj);
    let supported = |f: &Function| f.args.iter().filter(|a| flag_type(a, core).is_some()).count();
    let has_sync = functions.iter().any(|f| f.name == "sync" && supported(f) == 0);
    let export = functions.iter().find(|f| f.name == "export" && f.args.iter().any(|a| a.name == "path"));
    if let (Some(out), Some(export)) = (output, export) {
        let allow = export.args.iter().any(|a| a.name == "allowParentDirPath");
        return LeafSelection::Export { path: absolute(cwd, out), allow_parent_dir_path: allow };
    }
    LeafSelection::Id { sync: has_sync }
}

/// `p` made absolute against `cwd`, lexically.
pub fn absolute(cwd: &Path, p: &str) -> String {
    let joined = cwd.join(p);
    let mut out = std::path::PathBuf::new();
    for c in joined.components() {
        match c {
            std::path::Component::ParentDir => {
                out.pop();
            }
            std::path::Component::CurDir => {}
            c => out.push(c),
        }
    }
    out.to_string_lossy().into_owned()
}

enum Value {
    Missing(Missing),
    Invalid(String),
}

fn invalid(raw: &str, flag: &str, why: impl std::fmt::Display) -> Value {
    Value::Invalid(format!("invalid argument \"{raw}\" for \"--{flag}\" flag: {why}"))
}

/// The value of a flag that was set, from its raw values.
fn value(
    catalog: &Catalog,
    arg: &FunctionArg,
    t: &FlagType,
    parsed: &Parsed,
    flag: &str,
    lookups: &mut Vec<Lookup>,
) -> Result<ArgValue, Value> {
    let raws: Vec<&str> = parsed.values(flag).collect();
    let last = *raws.last().expect("a changed flag has a value");
    match t {
        FlagType::List(element) => {
            let mut out = Vec::new();
            for raw in &raws {
                for item in split_list(element, raw).map_err(|e| invalid(raw, flag, e))? {
                    out.push(scalar(catalog, arg, element, &item, flag, lookups)?);
                }
            }
            Ok(ArgValue::List(out))
        }
        t => scalar(catalog, arg, t, last, flag, lookups),
    }
}

/// A list flag's items, the way each pflag slice type splits its text.
fn split_list(element: &FlagType, raw: &str) -> Result<Vec<String>, String> {
    match element {
        FlagType::String | FlagType::Bool => flags::read_csv(raw),
        FlagType::Int | FlagType::Float => Ok(raw.split(',').map(str::to_string).collect()),
        FlagType::Enum(_) | FlagType::Custom(_) => {
            let unquoted: String = raw.chars().filter(|c| !matches!(c, '"' | '\'' | '`')).collect();
            Ok(flags::read_csv(&unquoted)?.into_iter().map(|s| s.trim().to_string()).collect())
        }
        FlagType::List(_) => Err("lists of lists are not supported".into()),
    }
}

fn scalar(
    catalog: &Catalog,
    arg: &FunctionArg,
    t: &FlagType,
    raw: &str,
    flag: &str,
    lookups: &mut Vec<Lookup>,
) -> Result<ArgValue, Value> {
    Ok(match t {
        FlagType::String => ArgValue::Str(raw.to_string()),
        FlagType::Int => ArgValue::Int(
            flags::parse_int(raw)
                .ok_or_else(|| invalid(raw, flag, format!("strconv.ParseInt: parsing \"{raw}\": invalid syntax")))?,
        ),
        FlagType::Float => {
            ArgValue::Float(
                raw.trim().parse::<f64>().ok().filter(|f| f.is_finite()).ok_or_else(|| {
                    invalid(raw, flag, format!("strconv.ParseFloat: parsing \"{raw}\": invalid syntax"))
                })?,
            )
        }
        FlagType::Bool => ArgValue::Bool(
            flags::parse_bool(raw)
                .ok_or_else(|| invalid(raw, flag, format!("strconv.ParseBool: parsing \"{raw}\": invalid syntax")))?,
        ),
        FlagType::Enum(name) => {
            let def = catalog.enum_def(name).map_err(Value::Missing)?;
            match def.members.iter().find(|m| m.name.eq_ignore_ascii_case(raw)) {
                Some(m) => ArgValue::Enum(m.name.clone()),
                None => {
                    let mut names: Vec<&str> = def.members.iter().map(|m| m.name.as_str()).collect();
                    names.sort_unstable();
                    return Err(invalid(raw, flag, format!("value should be one of {}", names.join(","))));
                }
            }
        }
        FlagType::Custom(c) => custom(*c, arg, raw).map_err(|e| invalid(raw, flag, e))?.into_value(lookups),
        FlagType::List(_) => return Err(invalid(raw, flag, "lists of lists are not supported")),
    })
}

enum CustomValue {
    Literal(ArgValue),
    Lookup(Lookup),
}

impl CustomValue {
    fn into_value(self, lookups: &mut Vec<Lookup>) -> ArgValue {
        match self {
            CustomValue::Literal(v) => v,
            CustomValue::Lookup(l) => {
                lookups.push(l);
                ArgValue::Lookup(lookups.len() - 1)
            }
        }
    }
}

/// Dagger's custom flag values (`flags.go`): what each one's text means.
fn custom(c: Custom, arg: &FunctionArg, raw: &str) -> Result<CustomValue, String> {
    let lookup = |exclude: Vec<String>| CustomValue::Lookup(Lookup { kind: c, value: raw.to_string(), exclude });
    Ok(match c {
        Custom::Platform => {
            if raw.is_empty() {
                return Err("platform cannot be empty".into());
            }
            let p = if raw == "current" { current_platform() } else { raw.to_string() };
            CustomValue::Literal(ArgValue::Str(p))
        }
        Custom::PortForward => {
            let (f, b) = raw.split_once(':').ok_or_else(|| {
                if raw.is_empty() {
                    "portForward setting cannot be empty".to_string()
                } else {
                    format!("portForward setting not in the form of frontend:backend: {raw:?}")
                }
            })?;
            let port = |s: &str, what: &str| {
                s.parse::<i64>().map_err(|_| format!("portForward {what} not a valid integer: {s:?}"))
            };
            CustomValue::Literal(ArgValue::Object(vec![
                ("frontend".into(), ArgValue::Int(port(f, "frontend")?)),
                ("backend".into(), ArgValue::Int(port(b, "backend")?)),
            ]))
        }
        Custom::BuildArg => {
            let pair = raw.trim_matches('"');
            let (name, value) = pair.split_once('=').ok_or_else(|| format!("{raw} must be formatted as name=value"))?;
            if name.is_empty() {
                return Err(format!("{pair} cannot have an empty name"));
            }
            CustomValue::Literal(ArgValue::Object(vec![
                ("name".into(), ArgValue::Str(name.into())),
                ("value".into(), ArgValue::Str(value.into())),
            ]))
        }
        Custom::CacheVolume | Custom::Module | Custom::ModuleSource if raw.is_empty() => {
            return Err(match c {
                Custom::CacheVolume => "cacheVolume name cannot be empty".into(),
                Custom::Module => "module ref cannot be empty".into(),
                _ => "module source ref cannot be empty".into(),
            })
        }
        Custom::Directory => lookup(arg.ignore.clone().unwrap_or_default()),
        _ => lookup(Vec::new()),
    })
}

/// containerd's `platforms.DefaultString()` for this host.
fn current_platform() -> String {
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64le",
        a => a,
    };
    format!("linux/{arch}")
}

/// Whether a type is `Void` (nothing to print).
pub fn is_void(t: &TypeDef) -> bool {
    t.kind == Kind::Void
}

#[cfg(test)]
mod tests;
