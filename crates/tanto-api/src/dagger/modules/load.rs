//! Finding a module (`moduleSource`) and loading it (`asModule`): its
//! dependencies first, then its runtime container, then the registration
//! call in which its SDK declares its types.

use std::sync::Arc;

use serde_json::Value as Json;
use tanto_contract::fs::EntryKind;
use tanto_contract::EngineError;

use super::{FunctionCallObj, GitSource, Loaded, ModuleSourceObj};
use crate::dagger::objects::DirectoryObj;
use crate::dagger::paths;
use crate::dagger::typedefs::{DefObj, ModuleObj, TypeDefObj};
use crate::dagger::Object;
use crate::{Api, ApiError, ApiResult};
use tanto_module::context::{fast_kind, resolve_dependency, Location, SourceKind};

/// What a module's upload leaves out: what its SDK rebuilds, and VCS data.
const UPLOAD_EXCLUDES: &[&str] = &[".git", ".venv", "**/__pycache__", "**/node_modules"];

impl Api {
    /// `Query.moduleSource(refString:)` for a local path (relative to the
    /// session's working directory): the directory with `dagger.json`, found
    /// upward unless `find_up` is off; a git reference at commit `pin`.
    pub(crate) async fn module_source(
        &self,
        ref_string: &str,
        find_up: bool,
        pin: Option<&str>,
    ) -> ApiResult<ModuleSourceObj> {
        let host = &self.engine.host;
        // `Some(stat)` for a local path (the stat `None` when it does not exist), `None` for git
        let local = match fast_kind(ref_string, pin) {
            Some(SourceKind::Git) => None,
            Some(SourceKind::Local) => Some(host.host_path(ref_string).await?),
            // a dotted name: a local directory if there is one, else a git reference
            None => host.host_path(ref_string).await?.map(Some),
        };
        let Some(found) = local else {
            return self.git_module_source(ref_string, pin).await;
        };
        let (abs, kind) = found.ok_or_else(|| {
            ApiError::from(EngineError::not_found(format!("module source `{ref_string}`: no such directory")))
        })?;
        if kind != EntryKind::Dir {
            return Err(EngineError::input(format!("module source `{ref_string}` is not a directory")).into());
        }
        let mut root = abs.clone();
        loop {
            if host.host_path(&format!("{root}/dagger.json")).await?.is_some() {
                break;
            }
            match parent(&root) {
                Some(p) if find_up => root = p,
                _ => {
                    return Err(EngineError::not_found(format!(
                        "no `dagger.json` in `{abs}`{}: create a module there with `tanto init --sdk=python`",
                        if find_up { " or above it" } else { "" }
                    ))
                    .into())
                }
            }
        }
        let mut context = root.clone();
        let mut dir = Some(root.clone());
        while let Some(d) = dir {
            if host.host_path(&format!("{d}/.git")).await?.is_some() {
                context = d;
                break;
            }
            dir = parent(&d);
        }
        let root_subpath = match root.strip_prefix(&context) {
            Some("") => ".".to_string(),
            Some(rest) => rest.trim_start_matches('/').to_string(),
            None => ".".to_string(),
        };
        let (file, file_path) = host.host_file(&format!("{root}/dagger.json")).await?;
        let config_bytes = self.engine.solve.read_file(Some(&file), &file_path).await?;
        let parsed = parse_module_config(&format!("{root}/dagger.json"), &config_bytes)?;
        // As Dagger: what git ignores is not uploaded, nor what `dagger.json`
        // excludes (`!pattern` in `include`, or `exclude`). Positive `include`
        // patterns add nothing: the whole root is uploaded.
        let excludes = UPLOAD_EXCLUDES.iter().map(|s| s.to_string()).chain(parsed.exclude_patterns()).collect();
        let config = parsed.to_value();
        let uploaded = host.host_directory(&root, vec![], excludes, true).await?;
        let digest = self.engine.solve.digest(Some(&uploaded), "/", false).await?;
        Ok(ModuleSourceObj {
            root_host_path: root,
            context_host_path: context,
            context: None,
            git: None,
            root_subpath,
            config,
            root: DirectoryObj { root: Some(uploaded), path: "/".into() },
            digest,
            name_override: None,
        })
    }

    /// A module in a git repository (`tanto_module::gitref`): the repository's
    /// tree at the commit `pin` names, else at the version asked for (its
    /// default branch without one), is the module's context.
    async fn git_module_source(&self, ref_string: &str, pin: Option<&str>) -> ApiResult<ModuleSourceObj> {
        let r = tanto_module::gitref::parse(ref_string).map_err(|e| ApiError::from(EngineError::input(e)))?;
        let what = format!("fetching module `{ref_string}`");
        let (q, version) = match (pin, &r.version) {
            (Some(p), _) => (
                "query($url: String!, $v: String!) { git(url: $url) { commit(id: $v) { commit tree { id } } } }",
                p.to_string(),
            ),
            (None, Some(v)) => (
                "query($url: String!, $v: String!) { git(url: $url) { ref(name: $v) { commit tree { id } } } }",
                v.clone(),
            ),
            (None, None) => {
                ("query($url: String!, $v: String!) { git(url: $url) { head { commit tree { id } } } }", String::new())
            }
        };
        let mut vars = serde_json::Map::new();
        vars.insert("url".into(), Json::String(r.clone_url.clone()));
        vars.insert("v".into(), Json::String(version));
        let data = self.eval(q, vars, &what).await?;
        let at = data["git"].as_object().and_then(|o| o.values().next()).cloned().unwrap_or(Json::Null);
        let tree = self.load_directory(&at["tree"]["id"])?;
        let mut src = self.dir_module_source(&tree, &r.subpath).await?;
        src.git = Some(GitSource {
            reference: ref_string.to_string(),
            clone_url: r.clone_url,
            version: r.version,
            commit: at["commit"].as_str().unwrap_or_default().to_string(),
            pin: pin.map(str::to_string),
        });
        Ok(src)
    }

    /// `Directory.asModuleSource(sourceRootPath:)`: the module at
    /// `root_subpath` of `ctx`, which is its context.
    pub(crate) async fn dir_module_source(&self, ctx: &DirectoryObj, root_subpath: &str) -> ApiResult<ModuleSourceObj> {
        let top = Location { context: "/".into(), subpath: ".".into(), git: false };
        let sub = match resolve_dependency(&top, root_subpath) {
            Ok(s) if s == "." => String::new(),
            Ok(s) => s,
            Err(_) => {
                return Err(EngineError::input(format!(
                    "module source root `{root_subpath}` leaves its directory: give a path inside it"
                ))
                .into())
            }
        };
        let root = DirectoryObj { root: ctx.root.clone(), path: crate::dagger::paths::within(&ctx.path, &sub) };
        let config_path = crate::dagger::paths::within(&root.path, "dagger.json");
        let config_bytes = match self.engine.solve.stat(root.root.as_ref(), &config_path, false).await? {
            Some(_) => self.engine.solve.read_file(root.root.as_ref(), &config_path).await?,
            None => {
                return Err(EngineError::not_found(format!(
                    "no `dagger.json` at `{sub}` of the directory: create a module with `tanto init --sdk=python`"
                ))
                .into())
            }
        };
        let config = parse_module_config(&format!("{sub}/dagger.json (in a directory)"), &config_bytes)?.to_value();
        let digest = self.engine.solve.digest(root.root.as_ref(), &root.path, false).await?;
        Ok(ModuleSourceObj {
            root_host_path: String::new(),
            context_host_path: String::new(),
            context: Some(ctx.clone()),
            git: None,
            root_subpath: if sub.is_empty() { ".".into() } else { sub },
            config,
            root,
            digest,
            name_override: None,
        })
    }

    /// A dependency's source: a host path relative to a host module, or a
    /// subpath of a directory module's context; it must stay inside the
    /// dependent's context (`tanto_module::context`).
    async fn dependency_source(
        &self,
        src: &ModuleSourceObj,
        dep_src: &str,
        pin: Option<&str>,
    ) -> ApiResult<ModuleSourceObj> {
        if fast_kind(dep_src, pin) == Some(SourceKind::Git)
            || (fast_kind(dep_src, pin).is_none() && src.context.is_some())
        {
            return self.git_module_source(dep_src, pin).await;
        }
        let context = if src.context.is_some() { "/" } else { &src.context_host_path };
        let at = Location { context: context.into(), subpath: src.root_subpath.clone(), git: false };
        let rel = resolve_dependency(&at, dep_src)
            .map_err(|e| ApiError::from(EngineError::input(format!("module `{}`: {e}", src.name()))))?;
        match &src.context {
            Some(ctx) => self.dir_module_source(ctx, &rel).await,
            None => self.module_source(&paths::within(&src.context_host_path, &rel), false, None).await,
        }
    }

    /// The sources of the dependencies `src`'s `dagger.json` lists, each
    /// known by the name given there (`ModuleSource.dependencies`).
    pub(crate) async fn dependency_sources(&self, src: &ModuleSourceObj) -> ApiResult<Vec<ModuleSourceObj>> {
        let mut out = Vec::new();
        if let Some(Json::Array(list)) = src.config.get("dependencies") {
            for d in list {
                let dep_src = d.get("source").and_then(Json::as_str).unwrap_or_default();
                let pin = d.get("pin").and_then(Json::as_str).filter(|p| !p.is_empty());
                let dep = Box::pin(self.dependency_source(src, dep_src, pin)).await?;
                // the dependent's name for it is the one it is served by
                out.push(dep.with_name(d.get("name").and_then(Json::as_str).unwrap_or_default()));
            }
        }
        Ok(out)
    }

    /// Loads a module (once per engine): dependencies, runtime, registration.
    pub(crate) async fn load_module(&self, src: &ModuleSourceObj) -> ApiResult<Arc<Loaded>> {
        self.load_module_in(src, &[]).await
    }

    /// [`Api::load_module`] below the modules `stack` (the dependents), which
    /// it must not be one of.
    async fn load_module_in(&self, src: &ModuleSourceObj, stack: &[String]) -> ApiResult<Arc<Loaded>> {
        let me = src.label();
        if let Some(i) = stack.iter().position(|s| *s == me) {
            let mut cycle: Vec<&str> = stack[i..].iter().map(String::as_str).collect();
            cycle.push(&me);
            return Err(EngineError::input(format!(
                "module dependency cycle: {}; remove one of these dependencies",
                cycle.join(" → ")
            ))
            .into());
        }
        let mut below = stack.to_vec();
        below.push(me);
        let mut deps = Vec::new();
        for dep in self.dependency_sources(src).await? {
            deps.push(Box::pin(self.load_module_in(&dep, &below)).await?);
        }
        let mut h = tanto_model::StableHasher::new();
        h.str("module").str(&src.digest).json(&src.config).str(src.name_override.as_deref().unwrap_or_default());
        for d in &deps {
            h.str(&d.digest);
        }
        let digest = h.finish().hex();
        if let Some(m) = self.objects.module(&digest) {
            return Ok(m);
        }
        let (name, original) = (src.module_name(), src.name());
        if src.sdk().is_empty() {
            return Err(EngineError::input(format!(
                "module `{name}` ({}) has no SDK (`sdk` in its dagger.json), so it has no functions to run: add one with `tanto develop --sdk=python`",
                src.label()
            ))
            .into());
        }
        let runtime = self.module_runtime(src, &deps).await?;
        let mut loaded = Loaded {
            name: name.clone(),
            digest: digest.clone(),
            source: src.clone(),
            types: ModuleObj::default(),
            runtime,
            deps,
            source_label: src.root_host_path.clone(),
        };
        let registration = FunctionCallObj {
            name: String::new(),
            parent_name: String::new(),
            parent: Json::Object(Default::default()),
            input_args: vec![],
        };
        // What the SDK registers depends on the module and its runtime only:
        // kept across engines (the registration runs the SDK once).
        let runtime_id = self.objects.register(&Object::Container(loaded.runtime.clone()));
        let mut h = tanto_model::StableHasher::new();
        h.str("module-registration/v1").str(&digest).str(&runtime_id);
        let memo_key = h.finish().hex();
        let kept = match self.engine.cache.memo(&memo_key).await? {
            Some((bytes, _)) => serde_json::from_slice::<ModuleObj>(&bytes).ok(),
            None => None,
        };
        let registered = match kept {
            Some(types) => types,
            None => {
                let skeleton = Arc::new(Loaded { types: ModuleObj::default(), ..clone_loaded(&loaded) });
                let id = self.run_function(skeleton, registration).await?;
                let registered = match &*self.load(&id, Some("Module"))? {
                    Object::Def(DefObj::Module(m)) => m.clone(),
                    _ => unreachable!("type checked by load"),
                };
                if let Ok(bytes) = serde_json::to_vec(&registered) {
                    self.engine.cache.set_memo(&memo_key, &bytes).await?;
                }
                registered
            }
        };
        loaded.types = namespaced(registered, &name, &original);
        let loaded = Arc::new(loaded);
        self.objects.keep_module(loaded.clone());
        Ok(loaded)
    }
}

fn clone_loaded(l: &Loaded) -> Loaded {
    Loaded {
        name: l.name.clone(),
        digest: l.digest.clone(),
        source: l.source.clone(),
        types: l.types.clone(),
        runtime: l.runtime.clone(),
        deps: l.deps.clone(),
        source_label: l.source_label.clone(),
    }
}

fn parent(p: &str) -> Option<String> {
    let p = p.trim_end_matches('/');
    let i = p.rfind('/')?;
    if p.is_empty() {
        None
    } else {
        Some(if i == 0 { "/".to_string() } else { p[..i].to_string() })
    }
}

/// `dagger.json` read as Dagger reads it (`tanto_module::config`); the API
/// keeps its normalised JSON form (`to_value`).
fn parse_module_config(file: &str, bytes: &[u8]) -> Result<tanto_module::config::ModuleConfig, EngineError> {
    tanto_module::config::ModuleConfig::parse(std::path::Path::new(file), bytes)
        .map_err(|e| EngineError::input(e.to_string()))
}

/// The SDK's types with Dagger's namespacing: every object, interface and
/// enum of the module other than the main object is prefixed with the
/// module's name (`Info` in `hello` → `HelloInfo`) unless it already is.
fn namespaced(mut m: ModuleObj, module_name: &str, original_name: &str) -> ModuleObj {
    let prefix = tanto_module::names::camel(module_name);
    let main = tanto_module::names::camel(original_name);
    let mut renames = std::collections::HashMap::new();
    for t in m.objects.iter().chain(m.interfaces.iter()).chain(m.enums.iter()) {
        let n = t.name();
        if n == main && main != prefix {
            // a dependency its dependent names otherwise: the main object takes that name
            renames.insert(n.clone(), prefix.clone());
        } else if n != prefix && !n.starts_with(&prefix) {
            renames.insert(n.clone(), format!("{prefix}{n}"));
        }
    }
    if renames.is_empty() {
        return m;
    }
    for t in m.objects.iter_mut().chain(m.interfaces.iter_mut()).chain(m.enums.iter_mut()) {
        rename(t, &renames);
    }
    m
}

fn rename(t: &mut TypeDefObj, renames: &std::collections::HashMap<String, String>) {
    let re = |n: &mut String| {
        if let Some(new) = renames.get(n.as_str()) {
            *n = new.clone();
        }
    };
    if let Some(l) = t.list.as_deref_mut() {
        rename(l, renames);
    }
    if let Some(o) = t.object.as_deref_mut() {
        re(&mut o.name);
        for f in &mut o.fields {
            rename(&mut f.type_def, renames);
        }
        for f in o.functions.iter_mut().chain(o.constructor.as_deref_mut()) {
            rename(&mut f.return_type, renames);
            for a in &mut f.args {
                rename(&mut a.type_def, renames);
            }
        }
    }
    if let Some(i) = t.interface.as_deref_mut() {
        re(&mut i.name);
        for f in &mut i.functions {
            rename(&mut f.return_type, renames);
            for a in &mut f.args {
                rename(&mut a.type_def, renames);
            }
        }
    }
    if let Some(e) = t.enum_.as_deref_mut() {
        re(&mut e.name);
    }
}

#[cfg(test)]
mod tests {
    use super::namespaced;

    use crate::dagger::typedefs::{Kind, ModuleObj, ObjectTypeDefObj, TypeDefObj};

    fn object(name: &str) -> TypeDefObj {
        TypeDefObj {
            kind: Some(Kind::Object),
            object: Some(Box::new(ObjectTypeDefObj {
                name: name.into(),
                original_name: name.into(),
                ..Default::default()
            })),
            ..Default::default()
        }
    }

    #[test]
    fn module_types_are_namespaced_by_the_name_the_dependent_uses() {
        // (module name, its own name, types the SDK registered, names served)
        let cases: &[(&str, &str, &[&str], &[&str])] = &[
            ("hello", "hello", &["Hello", "Info"], &["Hello", "HelloInfo"]),
            ("hello", "hello", &["Hello", "HelloInfo"], &["Hello", "HelloInfo"]),
            ("my-mod", "my-mod", &["MyMod", "Item"], &["MyMod", "MyModItem"]),
            ("greet", "hello", &["Hello", "Info"], &["Greet", "GreetInfo"]),
        ];
        for (name, original, registered, want) in cases {
            let m = ModuleObj { objects: registered.iter().map(|n| object(n)).collect(), ..Default::default() };
            let got: Vec<String> = namespaced(m, name, original).objects.iter().map(TypeDefObj::name).collect();
            assert_eq!(got, *want, "module {name} (own name {original})");
            let m = ModuleObj { objects: registered.iter().map(|n| object(n)).collect(), ..Default::default() };
            let kept: Vec<String> = namespaced(m, name, original)
                .objects
                .iter()
                .map(|t| t.object.as_ref().unwrap().original_name.clone())
                .collect();
            assert_eq!(kept, registered.to_vec(), "the SDK's names stay for calls into it");
        }
    }
}
