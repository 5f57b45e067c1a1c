//! `tanto call` and `tanto functions`: Dagger's CLI verbs for a module's
//! functions. The module is loaded, served and called through GraphQL
//! only, each round-trip behind [`Transport`]; reading the command line
//! (`chain`, `flags`, `catalog`), building queries (`query`) and printing
//! (`print`) are pure functions.

pub mod catalog;
pub mod chain;
pub mod flags;
pub mod print;
pub mod query;

use std::collections::BTreeSet;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

use serde_json::Value as Json;
use tanto_module::types::{Function, Kind, ModuleTypes};

use catalog::{object_name, Catalog};
use chain::{absolute, Walk};
use print::Output;

/// One GraphQL round-trip: the answer's `data`, or its `errors`.
pub(crate) trait Transport {
    async fn query(&self, query: String) -> Result<Json, Vec<Json>>;
}

/// The in-process engine of this CLI run.
pub(crate) struct EngineTransport<'a>(pub &'a tanto_engine::Engine);

/// A remote engine's session (`TANTO_HOST`).
pub(crate) struct RemoteTransport<'a>(pub &'a tanto_engine::remote::Attached);

impl Transport for RemoteTransport<'_> {
    async fn query(&self, query: String) -> Result<Json, Vec<Json>> {
        let mut result = self.0.execute(&tanto_gql::Request { query, variables: None, operation_name: None }).await;
        if let Some(errors) = result.get("errors").and_then(Json::as_array).filter(|e| !e.is_empty()) {
            return Err(errors.clone());
        }
        Ok(result.get_mut("data").map(Json::take).unwrap_or(Json::Null))
    }
}

impl Transport for EngineTransport<'_> {
    async fn query(&self, query: String) -> Result<Json, Vec<Json>> {
        tracing::debug!(query = %query, "call: executing query");
        let mut result = self.0.execute(tanto_gql::Request { query, variables: None, operation_name: None }).await;
        if let Some(errors) = result.get("errors").and_then(Json::as_array).filter(|e| !e.is_empty()) {
            return Err(errors.clone());
        }
        Ok(result.get_mut("data").map(Json::take).unwrap_or(Json::Null))
    }
}

/// The module to load: `-m` (a local path made absolute against `cwd`, or
/// a remote reference as given), else the nearest directory from `cwd`
/// up that holds a `dagger.json`.
pub fn module_ref(flag: Option<&str>, cwd: &Path) -> Result<String, String> {
    match flag {
        Some("") => Err("`-m` needs a module: a local directory or a git reference".into()),
        Some(m) if cwd.join(m).exists() => Ok(absolute(cwd, m)),
        // as Dagger: a URL, `git@host:...`, or a dotted name that is not a
        // local directory (`github.com/org/repo/sub@v1`) is a git reference
        Some(m) if m.contains("://") || m.starts_with("git@") => Ok(m.to_string()),
        Some(m) => match tanto_module::context::fast_kind(m, None) {
            Some(tanto_module::context::SourceKind::Local) => Ok(absolute(cwd, m)),
            _ => Ok(m.to_string()),
        },
        None => cwd
            .ancestors()
            .find(|d| d.join("dagger.json").is_file())
            .map(|d| d.to_string_lossy().into_owned())
            .ok_or_else(|| {
                format!(
                    "no dagger.json in `{}` or any parent directory: run this in a module, or give one with -m DIR",
                    cwd.display()
                )
            }),
    }
}

async fn load_types<T: Transport>(t: &T, module_ref: &str) -> Result<Catalog, Output> {
    let data = t.query(query::types_query(module_ref)).await.map_err(|e| print::query_errors(&e))?;
    let types = query::read_types(&data)
        .filter(|v| !v.is_null())
        .ok_or_else(|| Output::error(&format!("the engine returned no module for `{module_ref}`")))?;
    let types: ModuleTypes = serde_json::from_value(types.clone())
        .map_err(|e| Output::error(&format!("reading the type definitions of `{module_ref}`: {e}")))?;
    Ok(Catalog::new(types).with_schema(tanto_api::schema::dagger_v021()))
}

/// Introspects a core type into the catalog (once per type).
async fn fetch_type<T: Transport>(
    t: &T,
    catalog: &mut Catalog,
    fetched: &mut BTreeSet<String>,
    name: &str,
) -> Result<(), Output> {
    if !fetched.insert(name.to_string()) {
        return Err(Output::error(&format!("type `{name}` is not in the schema")));
    }
    let data = t.query(catalog::introspection_query(name)).await.map_err(|e| print::query_errors(&e))?;
    let ty = data.get("__type").filter(|v| !v.is_null());
    let ty = ty.ok_or_else(|| Output::error(&format!("type `{name}` is not in the schema")))?;
    catalog.add_introspected(name, ty).map_err(|e| Output::error(&e))
}

/// `tanto call ARGS` against `module_ref`, from directory `cwd`.
pub(crate) async fn call<T: Transport>(t: &T, module_ref: &str, args: &[String], cwd: &Path, tty: bool) -> Output {
    let mut catalog = match load_types(t, module_ref).await {
        Ok(c) => c,
        Err(o) => return o,
    };
    let mut fetched = BTreeSet::new();
    let plan = loop {
        match chain::walk(&catalog, args, cwd) {
            Walk::Missing(name) => {
                if let Err(o) = fetch_type(t, &mut catalog, &mut fetched, &name).await {
                    return o;
                }
            }
            Walk::Usage { path, message } => return Output::usage(&path, &message),
            Walk::Help(h) => return print::help(&h, catalog.module.description.as_deref()),
            Walk::Run(plan) => break *plan,
        }
    };
    if let Err(e) = t.query(query::serve_query(module_ref)).await {
        return print::query_errors(&e);
    }
    let ids = match query::lookups_query(&plan.lookups) {
        None => Vec::new(),
        Some(q) => match t.query(q).await {
            Ok(data) => match query::read_lookups(&plan.lookups, &data) {
                Ok(ids) => ids,
                Err(e) => return Output::error(&e),
            },
            Err(e) => return print::query_errors(&e),
        },
    };
    let data = match t.query(query::call_query(&plan, &ids)).await {
        Ok(data) => data,
        Err(e) => return print::query_errors(&e),
    };
    let result = query::read_result(&plan, &data);
    let output_abs = plan.output.as_deref().map(|o| absolute(cwd, o));
    print::response(&plan, &result, tty, output_abs.as_deref())
}

/// Where `functions FN...` leads: the object at the end of that chain.
enum Listing {
    Functions(Vec<Function>, Vec<String>),
    Missing(String),
    Error(String),
}

/// Dagger's `functions` walk: each name a function of the object before,
/// returning an object.
fn listing(catalog: &Catalog, names: &[String]) -> Listing {
    let Ok(first) = chain::constructor(catalog) else {
        return Listing::Error(format!("module `{}` has no main object", catalog.module.name));
    };
    let mut type_name = object_name(&first.return_type).expect("a constructor returns its object");
    for name in names {
        let obj = match catalog.object(&type_name) {
            Ok(o) => o,
            Err(m) => return Listing::Missing(m.0),
        };
        let Some(f) = catalog.function(obj, name) else {
            let (_, skipped) = catalog.functions_split(obj);
            return Listing::Error(if skipped.iter().any(|s| s == name) {
                format!("function \"{name}\" in type \"{type_name}\" is not supported")
            } else {
                format!("no function \"{name}\" in type \"{type_name}\"")
            });
        };
        match object_name(&f.return_type) {
            Some(next) => type_name = next,
            None => {
                let kind = serde_json::to_value(f.return_type.kind).ok();
                let kind = kind.as_ref().and_then(Json::as_str).unwrap_or("VOID_KIND").to_string();
                let kind = if f.return_type.kind == Kind::List { "LIST_KIND".to_string() } else { kind };
                return Listing::Error(format!(
                    "function \"{name}\" returns type \"{kind}\" with no further functions available"
                ));
            }
        }
    }
    match catalog.object(&type_name) {
        Ok(o) => {
            let (functions, skipped) = catalog.functions_split(o);
            Listing::Functions(functions, skipped)
        }
        Err(m) => Listing::Missing(m.0),
    }
}

/// `tanto functions [FN...]` against `module_ref`.
pub(crate) async fn functions<T: Transport>(t: &T, module_ref: &str, names: &[String], tty: bool) -> Output {
    let mut catalog = match load_types(t, module_ref).await {
        Ok(c) => c,
        Err(o) => return o,
    };
    let mut fetched = BTreeSet::new();
    loop {
        match listing(&catalog, names) {
            Listing::Functions(functions, skipped) => return print::functions_list(&functions, &skipped, tty),
            Listing::Error(e) => return Output::error(&e),
            Listing::Missing(name) => {
                if let Err(o) = fetch_type(t, &mut catalog, &mut fetched, &name).await {
                    return o;
                }
            }
        }
    }
}

fn emit(out: Output) -> anyhow::Result<u8> {
    let mut out = out;
    if let Some((path, bytes)) = out.file.take() {
        let path = PathBuf::from(path);
        let written =
            path.parent().map_or(Ok(()), std::fs::create_dir_all).and_then(|()| std::fs::write(&path, &bytes));
        if let Err(e) = written {
            out = Output::error(&format!("couldn't write output to file: {e}"));
        }
    }
    std::io::stdout().write_all(&out.stdout)?;
    std::io::stdout().flush()?;
    std::io::stderr().write_all(&out.stderr)?;
    Ok(out.code)
}

/// The `call` verb: `args` is everything after `call`.
pub async fn run_call(remote: Option<tanto_engine::remote::Remote>, args: Vec<String>) -> anyhow::Result<u8> {
    let (args, explain, fail_on_miss) = explain_flags(args);
    let cwd = std::env::current_dir()?;
    let module = match chain::prescan(&args) {
        Ok((m, _)) => m,
        Err(e) => return emit(Output::usage(&[], &e)),
    };
    let module = match module_ref(module.as_deref(), &cwd) {
        Ok(m) => m,
        Err(e) => return emit(Output::error(&e)),
    };
    if let Some(p) = chain::progress_flag(&args) {
        crate::set_progress(&p);
    }
    if chain::interactive_flag(&args) {
        crate::set_interactive();
    }
    let tty = std::io::stdout().is_terminal();
    if let Some(remote) = remote {
        if explain || fail_on_miss {
            anyhow::bail!("--explain and --fail-on-miss need an engine in this process: set TANTO_HOST=local");
        }
        let attached = crate::attach(&remote, None).await?;
        return emit(call(&RemoteTransport(&attached), &module, &args, &cwd, tty).await);
    }
    let engine = crate::start_engine(None).await?;
    let out = call(&EngineTransport(&engine), &module, &args, &cwd, tty).await;
    engine.shutdown().await;
    engine.progress().finish(true);
    let code = emit(out)?;
    let missed = crate::explain::after_run(&engine, explain, fail_on_miss).await?;
    Ok(if code == 0 { missed } else { code })
}

/// Takes tanto's own `--explain` and `--fail-on-miss` out of a `call`
/// command line: before the first function name only, so a function's
/// argument of that name stays the function's.
fn explain_flags(args: Vec<String>) -> (Vec<String>, bool, bool) {
    let (mut explain, mut fail_on_miss) = (false, false);
    let mut out = Vec::with_capacity(args.len());
    let mut before_function = true;
    let mut it = args.into_iter();
    while let Some(a) = it.next() {
        if before_function {
            match a.as_str() {
                "--explain" => {
                    explain = true;
                    continue;
                }
                "--fail-on-miss" => {
                    fail_on_miss = true;
                    continue;
                }
                "-m" | "--mod" => {
                    out.push(a);
                    out.extend(it.next());
                    continue;
                }
                s if !s.starts_with('-') => before_function = false,
                _ => {}
            }
        }
        out.push(a);
    }
    (out, explain, fail_on_miss)
}

/// The `functions` verb.
pub async fn run_functions(
    remote: Option<tanto_engine::remote::Remote>,
    module: Option<String>,
    names: Vec<String>,
) -> anyhow::Result<u8> {
    let cwd = std::env::current_dir()?;
    let module = match module_ref(module.as_deref(), &cwd) {
        Ok(m) => m,
        Err(e) => return emit(Output::error(&e)),
    };
    let tty = std::io::stdout().is_terminal();
    if let Some(remote) = remote {
        let attached = crate::attach(&remote, None).await?;
        return emit(functions(&RemoteTransport(&attached), &module, &names, tty).await);
    }
    let engine = crate::start_engine(None).await?;
    let out = functions(&EngineTransport(&engine), &module, &names, tty).await;
    engine.shutdown().await;
    engine.progress().finish(false);
    emit(out)
}

#[cfg(test)]
mod tests;
