//! The rest of the Container, Directory and File surface: `stat`, `filter`,
//! `diff`, `chown`, `withTimestamps`, `withReplaced`, `findUp`, `withFiles`
//! on containers, annotations. Chain fields add file actions (so they are
//! cached like any step); `stat` and `findUp` ask the backend.

use serde_json::Value as Json;
use tanto_model::{FileAction, PatchSource, Ref};

use super::container::ctr;
use super::directory::dir;
use super::dispatch::{fields, table, Fields};
use super::objects::*;
use super::{file_op, leaf, paths, resolved, Api, Object};
use crate::dagger::ApiError;
use tanto_contract::fs::{EntryKind, EntryStat};
use tanto_gql::{Args, Resolved};

/// A `Stat` of `path`, or a typed "not found" error.
async fn stat(api: &Api, root: Option<&Ref>, path: &str, a: &Args) -> Result<Resolved, ApiError> {
    let no_follow = a.opt_bool("doNotFollowSymlinks")?.unwrap_or(false);
    match api.engine.solve.stat(root, path, no_follow).await? {
        Some(st) => Ok(resolved(Object::Stat(StatObj::from_entry(path, &st)))),
        None => Err(tanto_contract::EngineError::not_found(format!("{path}: no such file or directory")).into()),
    }
}

impl StatObj {
    pub fn from_entry(path: &str, st: &EntryStat) -> StatObj {
        StatObj {
            name: paths::base_name(path),
            size: st.size as i64,
            permissions: (st.mode & 0o7777) as i64,
            file_type: match st.kind {
                EntryKind::File => "REGULAR",
                EntryKind::Dir => "DIRECTORY",
                EntryKind::Symlink => "SYMLINK",
                EntryKind::Other => "UNKNOWN",
            }
            .to_string(),
        }
    }
}

/// `f` with `action` applied.
fn file_with(f: &FileObj, action: FileAction) -> Result<Resolved, ApiError> {
    Ok(resolved(Object::File(FileObj { root: Some(file_op(f.root.as_ref(), action, vec![])), path: f.path.clone() })))
}

fn timestamp(a: &Args) -> Result<i64, ApiError> {
    Ok(a.int("timestamp")?)
}

/// Container fields: `stat`, `withFiles`, annotations, env files, GPUs, healthchecks, volatile variables.
pub(super) static CONTAINER_FIELDS: Fields<ContainerObj> = fields! { |api, c, call, a|
    "stat" => {
        let path = c.path_arg(a, "path")?;
        let d = api.container_subpath(c, &path, false)?;
        stat(api, d.root.as_ref(), &d.path, a).await
    },
    "withFiles" => {
        let dest = c.path_arg(a, "path")?;
        let mut n = c.clone();
        for id in a.list("sources")? {
            let src = api.load_file(id)?;
            let action = FileAction::Copy {
                src: src.root.as_ref().map(|_| 0),
                src_path: src.path.clone(),
                dest: paths::within(&dest, &paths::base_name(&src.path)),
                include: vec![],
                exclude: vec![],
                mode: a.opt_int("permissions")?.map(|m| m as u32),
                owner: opt_owner(a)?,
                gitignore: false,
            };
            n = n.with_rootfs_action(action, src.root.into_iter().collect());
        }
        ctr(n)
    },
    "withAnnotation" => {
        let mut n = c.clone();
        n.annotations.insert(a.string("name")?.to_string(), a.string("value")?.to_string());
        ctr(n)
    },
    "withEnvFileVariables" => {
        let env = match &*api.load(a.get("source").unwrap_or(&Json::Null), Some("EnvFile"))? {
            Object::EnvFile(e) => e.clone(),
            _ => unreachable!("type checked by load"),
        };
        let mut n = c.clone();
        for (k, v) in env.variables() {
            n.config.env_set(&k, &v);
        }
        ctr(n)
    },
    "experimentalWithGPU" => {
        let devices = a.string_list("devices")?;
        if devices.is_empty() {
            return Err("`experimentalWithGPU` needs at least one device, such as \"0\" or a GPU UUID; use `experimentalWithAllGPUs` for all of them".into());
        }
        let mut n = c.clone();
        for d in devices {
            let name = tanto_model::cdi::qualify(&d, tanto_model::cdi::NVIDIA_GPU_KIND).map_err(|e| {
                ApiError::from(format!(
                    "`experimentalWithGPU`: {e}; or name a device fully, such as `nvidia.com/gpu=0`"
                ))
            })?;
            n.gpus.push(name);
        }
        n.gpus.sort();
        n.gpus.dedup();
        ctr(n)
    },
    "experimentalWithAllGPUs" => {
        let mut n = c.clone();
        n.gpus.push(format!("{}=all", tanto_model::cdi::NVIDIA_GPU_KIND));
        n.gpus.sort();
        n.gpus.dedup();
        ctr(n)
    },
    "withError" => Err(ApiError::from(a.string("err")?.to_string())),
    "withDockerHealthcheck" => {
        let dur = |k: &str| -> Result<String, ApiError> { Ok(a.opt_string(k)?.unwrap_or("").to_string()) };
        let h = Healthcheck {
            args: a.string_list("args")?,
            shell: a.opt_bool("shell")?.unwrap_or(false),
            interval: dur("interval")?,
            timeout: dur("timeout")?,
            start_period: dur("startPeriod")?,
            start_interval: dur("startInterval")?,
            retries: a.opt_int("retries")?.unwrap_or(0),
        };
        if h.args.is_empty() {
            return Err("`withDockerHealthcheck` needs the command in `args`".into());
        }
        h.validate()?;
        let mut n = c.clone();
        n.config.healthcheck = Some(h);
        ctr(n)
    },
    "withoutDockerHealthcheck" => {
        let mut n = c.clone();
        n.config.healthcheck = None;
        ctr(n)
    },
    "dockerHealthcheck" => Ok(match &c.config.healthcheck {
        Some(h) if h.args != ["NONE"] => resolved(Object::Healthcheck(h.clone())),
        _ => Resolved::Null,
    }),
    "withVolatileVariable" => {
        let name = a.string("name")?.to_string();
        let mut n = c.clone();
        n.volatile_env.retain(|(k, _)| *k != name);
        n.volatile_env.push((name, a.string("value")?.to_string()));
        ctr(n)
    },
    "withoutVolatileVariable" => {
        let name = a.string("name")?;
        let mut n = c.clone();
        n.volatile_env.retain(|(k, _)| k != name);
        ctr(n)
    },
    "withoutAnnotation" => {
        let mut n = c.clone();
        n.annotations.remove(a.string("name")?);
        ctr(n)
    },
};

/// Directory fields: `stat`, `filter`, `diff`, changes and patches, `withTimestamps`, `chown`, `findUp`.
pub(super) static DIRECTORY_FIELDS: Fields<DirectoryObj> = fields! { |api, d, call, a|
    "stat" => stat(api, d.root.as_ref(), &paths::within(&d.path, a.string("path")?), a).await,
    "filter" => {
        let action = FileAction::Copy {
            src: d.root.as_ref().map(|_| 0),
            src_path: d.path.clone(),
            dest: "/".into(),
            include: a.opt_string_list("include")?.unwrap_or_default(),
            exclude: a.opt_string_list("exclude")?.unwrap_or_default(),
            mode: None,
            owner: None,
            gitignore: a.opt_bool("gitignore")?.unwrap_or(false),
        };
        dir(DirectoryObj {
            root: Some(file_op(None, action, d.root.clone().into_iter().collect())),
            path: "/".into(),
        })
    },
    "diff" => {
        let other = api.load_directory(a.get("other").unwrap_or(&Json::Null))?;
        let mut sources = Vec::new();
        let mut idx = |r: &Option<Ref>| {
            r.as_ref().map(|r| {
                sources.push(r.clone());
                (sources.len() - 1) as u32
            })
        };
        let action = FileAction::Diff {
            lower: idx(&d.root),
            lower_path: d.path.clone(),
            upper: idx(&other.root),
            upper_path: other.path.clone(),
            dest: "/".into(),
        };
        dir(DirectoryObj { root: Some(file_op(None, action, sources)), path: "/".into() })
    },
    "withError" => Err(ApiError::from(a.string("err")?.to_string())),
    "search" => api.search_in(d.root.as_ref(), &d.path, super::search::search_options(a)?).await,
    "changes" => {
        let from = api.load_directory(a.get("from").unwrap_or(&Json::Null))?;
        Ok(resolved(Object::Changeset(super::changeset::ChangesetObj { before: from, after: d.clone() })))
    },
    "withChanges" => {
        let c = api.load_changeset(a.get("changes").unwrap_or(&Json::Null))?;
        let (action, sources) = c.apply_action(&d.path);
        dir(d.with_action(action, sources))
    },
    "withPatch" => dir(d.with_action(
        FileAction::Patch { dir: d.path.clone(), patch: PatchSource::Text(a.string("patch")?.to_string()) },
        vec![],
    )),
    "withPatchFile" => {
        let f = api.load_file(a.get("patch").unwrap_or(&Json::Null))?;
        let Some(root) = f.root else { return Err(format!("patch file `{}` does not exist", f.path).into()) };
        dir(d.with_action(
            FileAction::Patch { dir: d.path.clone(), patch: PatchSource::File { src: 0, path: f.path } },
            vec![root],
        ))
    },
    "withTimestamps" => {
        dir(d.with_action(FileAction::Timestamps { path: d.path.clone(), timestamp: timestamp(a)? }, vec![]))
    },
    "chown" => {
        dir(d.with_action(FileAction::Chown { path: paths::within(&d.path, a.string("path")?), owner: owner(a)? }, vec![]))
    },
    "findUp" => {
        let name = a.string("name")?;
        if name.is_empty() || name.contains('/') {
            return Err(format!("`findUp` name `{name}` must be a plain name without `/`").into());
        }
        let mut cur = paths::within(&d.path, a.string("start")?);
        loop {
            let candidate = paths::within(&cur, name);
            if api.engine.solve.stat(d.root.as_ref(), &candidate, true).await?.is_some() {
                let rel = paths::strip_dir_prefix(&candidate, &d.path).unwrap_or(&candidate).to_string();
                return Ok(leaf(rel));
            }
            if cur == d.path || cur == "/" {
                return Ok(Resolved::Null);
            }
            cur = cur
                .rsplit_once('/')
                .map(|(p, _)| if p.is_empty() { "/".to_string() } else { p.to_string() })
                .unwrap_or_else(|| "/".into());
        }
    },
};

/// File fields: `stat`, `asEnvFile`, `search`, `asJSON`, `withTimestamps`, `chown`, `withReplaced`.
pub(super) static FILE_FIELDS: Fields<FileObj> = fields! { |api, f, call, a|
    "stat" => stat(api, f.root.as_ref(), &f.path, a).await,
    "asEnvFile" => api.file_as_env_file(f).await,
    "search" => api.file_search(f, a).await,
    "asJSON" => api.file_as_json(f).await,
    "withTimestamps" => file_with(f, FileAction::Timestamps { path: f.path.clone(), timestamp: timestamp(a)? }),
    "chown" => file_with(f, FileAction::Chown { path: f.path.clone(), owner: owner(a)? }),
    "withReplaced" => {
        let search = a.string("search")?;
        if search.is_empty() {
            return Err("`withReplaced` needs a non-empty `search` string".into());
        }
        let first_from = match a.opt_int("firstFrom")? {
            Some(n) if n < 1 => return Err(format!("`firstFrom` is a 1-based line number, not {n}").into()),
            n => n.map(|n| n as u64),
        };
        file_with(f, FileAction::Replace {
            path: f.path.clone(),
            search: search.to_string(),
            replacement: a.string("replacement")?.to_string(),
            all: a.opt_bool("all")?.unwrap_or(false),
            first_from,
        })
    },
};

table!(pub(super) STAT: StatObj = "Stat", Object::Stat(s) => s, &[STAT_FIELDS], &[]);

static STAT_FIELDS: Fields<StatObj> = fields! { |api, s, call, a|
    "name" => Ok(leaf(s.name.clone())),
    "size" => Ok(leaf(s.size)),
    "permissions" => Ok(leaf(s.permissions)),
    "fileType" => Ok(leaf(s.file_type.clone())),
};

impl Api {}
