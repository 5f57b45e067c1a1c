//! Directory and File fields.

use serde_json::Value as Json;
use tanto_model::{FileAction, Ref};

use super::container::copy_dir_action;
use super::dispatch::{fields, table, Fields};
use super::objects::*;
use super::{file_op, leaf, paths, resolved, Api, Object};
use crate::dagger::ApiError;
use tanto_contract::fs::EntryKind;
use tanto_gql::{Args, Resolved};

impl DirectoryObj {
    pub(super) fn with_action(&self, action: FileAction, sources: Vec<Ref>) -> DirectoryObj {
        DirectoryObj { root: Some(file_op(self.root.as_ref(), action, sources)), path: self.path.clone() }
    }
}

/// `exists(path, expectedType, doNotFollowSymlinks)` on any filesystem.
pub(super) async fn exists(api: &Api, root: Option<&Ref>, path: &str, a: &Args) -> Result<Resolved, ApiError> {
    let no_follow = a.opt_bool("doNotFollowSymlinks")?.unwrap_or(false);
    let st = api.engine.solve.stat(root, path, no_follow).await?;
    let want = a.opt_enum_value("expectedType")?;
    Ok(leaf(match (st, want) {
        (None, _) => false,
        (Some(_), None) => true,
        (Some(s), Some(t)) => matches!(
            (s.kind, t),
            (EntryKind::File, "REGULAR_TYPE" | "REGULAR")
                | (EntryKind::Dir, "DIRECTORY_TYPE" | "DIRECTORY")
                | (EntryKind::Symlink, "SYMLINK_TYPE" | "SYMLINK")
        ),
    }))
}

/// A directory as a field's value.
pub(super) fn dir(d: DirectoryObj) -> Result<Resolved, ApiError> {
    Ok(resolved(Object::Directory(d)))
}

// Directory: its fields come from here and from `surface`.
table!(
    pub(super) DIRECTORY: DirectoryObj = "Directory",
    Object::Directory(d) => d,
    &[DIRECTORY_FIELDS, super::surface::DIRECTORY_FIELDS],
    &[],
);

// File: its fields come from here and from `surface`.
table!(pub(super) FILE: FileObj = "File", Object::File(f) => f, &[FILE_FIELDS, super::surface::FILE_FIELDS], &[]);

static DIRECTORY_FIELDS: Fields<DirectoryObj> = fields! { |api, d, call, a|
    "entries" => {
        let path = match a.opt_string("path")? {
            Some(p) => paths::within(&d.path, p),
            None => d.path.clone(),
        };
        let entries = api.engine.solve.read_dir(d.root.as_ref(), &path).await?;
        Ok(leaf(Json::Array(
            entries
                .into_iter()
                .map(|e| Json::String(if e.kind == EntryKind::Dir { format!("{}/", e.name) } else { e.name }))
                .collect(),
        )))
    },
    "glob" => {
        let found = api.engine.solve.glob(d.root.as_ref(), &d.path, a.string("pattern")?).await?;
        Ok(leaf(Json::Array(found.into_iter().map(Json::String).collect())))
    },
    "digest" => Ok(leaf(api.engine.solve.digest(d.root.as_ref(), &d.path, true).await?)),
    "name" => Ok(leaf(if d.path == "/" { "/".to_string() } else { format!("{}/", paths::base_name(&d.path)) })),
    "file" => Ok(resolved(Object::File(FileObj {
        root: d.root.clone(),
        path: paths::within(&d.path, a.string("path")?),
    }))),
    "directory" => dir(DirectoryObj { root: d.root.clone(), path: paths::within(&d.path, a.string("path")?) }),
    "withNewFile" => dir(d.with_action(
        FileAction::Mkfile {
            path: paths::within(&d.path, a.string("path")?),
            data: a.string("contents")?.to_string(),
            mode: a.opt_int("permissions")?.unwrap_or(0o644) as u32,
            owner: None,
        },
        vec![],
    )),
    "withNewDirectory" => dir(d.with_action(
        FileAction::Mkdir {
            path: paths::within(&d.path, a.string("path")?),
            mode: a.opt_int("permissions")?.unwrap_or(0o755) as u32,
            owner: None,
        },
        vec![],
    )),
    "withFile" => {
        let src = api.load_file(a.get("source").unwrap_or(&Json::Null))?;
        dir(d.with_action(
            FileAction::Copy {
                src: src.root.as_ref().map(|_| 0),
                src_path: src.path.clone(),
                dest: paths::within(&d.path, a.string("path")?),
                include: vec![],
                exclude: vec![],
                mode: a.opt_int("permissions")?.map(|m| m as u32),
                owner: opt_owner(a)?,
                gitignore: false,
            },
            src.root.into_iter().collect(),
        ))
    },
    "withFiles" => {
        let dest = paths::within(&d.path, a.string("path")?);
        let mut n = d.clone();
        for id in a.list("sources")? {
            let src = api.load_file(id)?;
            let target = paths::within(&dest, &paths::base_name(&src.path));
            n = n.with_action(
                FileAction::Copy {
                    src: src.root.as_ref().map(|_| 0),
                    src_path: src.path.clone(),
                    dest: target,
                    include: vec![],
                    exclude: vec![],
                    mode: a.opt_int("permissions")?.map(|m| m as u32),
                    owner: None,
                    gitignore: false,
                },
                src.root.into_iter().collect(),
            );
        }
        dir(n)
    },
    "withDirectory" => {
        let src = api.load_directory(a.get("source").or(a.get("directory")).unwrap_or(&Json::Null))?;
        let dest = paths::within(&d.path, a.string("path")?);
        dir(d.with_action(copy_dir_action(&src, dest, a)?, src.root.into_iter().collect()))
    },
    "asModuleSource" => {
        let src = api.dir_module_source(d, a.opt_string("sourceRootPath")?.unwrap_or(".")).await?;
        Ok(resolved(Object::ModuleSource(src)))
    },
    "asModule" => {
        let src = api.dir_module_source(d, a.opt_string("sourceRootPath")?.unwrap_or(".")).await?;
        let loaded = api.load_module(&src).await?;
        Ok(resolved(Object::Def(super::typedefs::DefObj::Module(loaded.module_obj()))))
    },
    "withoutFile" | "withoutDirectory" => dir(d.with_action(
        FileAction::Rm { path: paths::within(&d.path, a.string("path")?), allow_not_found: true },
        vec![],
    )),
    "withoutFiles" => {
        let mut n = d.clone();
        for p in a.string_list("paths")? {
            n = n.with_action(
                FileAction::Rm { path: paths::within(&d.path, &p), allow_not_found: true },
                vec![],
            );
        }
        dir(n)
    },
    "withSymlink" => dir(d.with_action(
        FileAction::Symlink {
            target: a.string("target")?.to_string(),
            link: paths::within(&d.path, a.string("linkName")?),
        },
        vec![],
    )),
    "exists" => exists(api, d.root.as_ref(), &paths::within(&d.path, a.string("path")?), a).await,
    "dockerBuild" => Ok(resolved(Object::Container(api.docker_build(d, a).await?))),
    "export" => api.directory_export(d, a).await,
    "asGit" => api.directory_as_git(d).await,
    "terminal" => {
        // As Dagger: the directory read-only at /src (the working directory) of
        // `container`, else of its default terminal image.
        let mut c = match a.get("container") {
            Some(j) if !j.is_null() => api.load_container(j)?,
            _ => {
                let base = ContainerObj::scratch(api.engine.images.default_platform());
                api.container_from(&base, DEFAULT_TERMINAL_IMAGE).await?
            }
        };
        c.config.workdir = "/src".into();
        c.set_mount("/src".into(), CtrMountSource::Dir { dir: d.clone(), readonly: true, owner: None });
        api.container_terminal(&c, a).await?;
        dir(d.clone())
    },
};

/// The image `Directory.terminal` runs in without a `container` (Dagger's
/// `distconsts.AlpineImage`).
const DEFAULT_TERMINAL_IMAGE: &str = "alpine:3.22.1";

static FILE_FIELDS: Fields<FileObj> = fields! { |api, f, call, a|
    "contents" => {
        let data = api.engine.solve.read_file(f.root.as_ref(), &f.path).await?;
        let text = String::from_utf8_lossy(&data).into_owned();
        let offset = a.opt_int("offsetLines")?.unwrap_or(0).max(0) as usize;
        let limit = a.opt_int("limitLines")?.filter(|l| *l > 0).map(|l| l as usize);
        if offset == 0 && limit.is_none() {
            return Ok(leaf(text));
        }
        let lines: Vec<&str> = text.split_inclusive('\n').skip(offset).collect();
        let lines = match limit {
            Some(l) => &lines[..l.min(lines.len())],
            None => &lines[..],
        };
        Ok(leaf(lines.concat()))
    },
    "size" => {
        let st = api.engine.solve.stat(f.root.as_ref(), &f.path, false).await?;
        match st {
            Some(s) if s.kind == EntryKind::File => Ok(leaf(s.size)),
            Some(_) => Err(format!("`{}` is not a regular file", f.path).into()),
            None => Err(format!("file `{}` not found", f.path).into()),
        }
    },
    "name" => Ok(leaf(paths::base_name(&f.path))),
    "digest" => {
        let exclude_metadata = a.opt_bool("excludeMetadata")?.unwrap_or(false);
        Ok(leaf(api.engine.solve.digest(f.root.as_ref(), &f.path, !exclude_metadata).await?))
    },
    "withName" => {
        let name = a.string("name")?;
        let parent = f.path.rsplit_once('/').map(|(p, _)| p).unwrap_or("");
        let dest = paths::within(parent, name);
        let root = file_op(
            None,
            FileAction::Copy {
                src: f.root.as_ref().map(|_| 0),
                src_path: f.path.clone(),
                dest: dest.clone(),
                include: vec![],
                exclude: vec![],
                mode: None,
                owner: None,
                gitignore: false,
            },
            f.root.clone().into_iter().collect(),
        );
        Ok(resolved(Object::File(FileObj { root: Some(root), path: dest })))
    },
    "export" => api.file_export(f, a).await,
};
