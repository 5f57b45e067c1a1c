//! Container fields.

use serde_json::Value as Json;
use tanto_model::{
    CacheSharing, CacheSource, ExecMount, ExecMountKind, ExecOp, Expect, FileAction, ImageLayerOp, Op, Ref, Vertex,
};

use super::dispatch::{fields, table, Fields};
use super::objects::*;
use super::{file_op, leaf, paths, resolved, Api, Object};
use crate::dagger::ApiError;
use tanto_gql::{Args, Resolved};

/// A container as a field's value.
pub(super) fn ctr(c: ContainerObj) -> Result<Resolved, ApiError> {
    Ok(resolved(Object::Container(c)))
}

fn strings(v: &[String]) -> Resolved {
    leaf(Json::Array(v.iter().cloned().map(Json::String).collect()))
}

fn parse_expect(s: &str) -> Result<Expect, ApiError> {
    match s {
        "SUCCESS" => Ok(Expect::Success),
        "FAILURE" => Ok(Expect::Failure),
        "ANY" => Ok(Expect::Any),
        other => Err(format!("`expect` must be SUCCESS, FAILURE or ANY, not `{other}`").into()),
    }
}

fn parse_protocol(a: &Args) -> Result<String, ApiError> {
    match a.opt_enum_value("protocol")?.unwrap_or("TCP") {
        p @ ("TCP" | "UDP") => Ok(p.to_string()),
        other => Err(format!("`protocol` must be TCP or UDP, not `{other}`").into()),
    }
}

fn parse_sharing(a: &Args) -> Result<CacheSharing, ApiError> {
    match a.opt_enum_value("sharing")? {
        None => Ok(CacheSharing::Shared),
        Some(s @ ("SHARED" | "PRIVATE" | "LOCKED")) => Ok(s.parse().expect("a known sharing mode")),
        Some(other) => Err(format!("`sharing` must be SHARED, PRIVATE or LOCKED, not `{other}`").into()),
    }
}

impl ContainerObj {
    fn workdir(&self) -> &str {
        if self.config.workdir.is_empty() {
            "/"
        } else {
            &self.config.workdir
        }
    }

    /// A path argument made absolute (expanding env vars when asked).
    pub(super) fn path_arg(&self, a: &Args, name: &str) -> Result<String, ApiError> {
        let raw = a.string(name)?;
        let raw =
            if a.opt_bool("expand")?.unwrap_or(false) { paths::expand(raw, &self.config.env) } else { raw.to_string() };
        Ok(paths::resolve(self.workdir(), &raw))
    }

    pub(super) fn set_mount(&mut self, target: String, source: CtrMountSource) {
        self.mounts.retain(|m| m.target != target);
        self.mounts.push(CtrMount { target, source });
    }

    /// The mount that holds `path`, if any (the deepest one).
    fn mount_for(&self, path: &str) -> Option<(&CtrMount, String)> {
        self.mounts
            .iter()
            .filter_map(|m| paths::strip_dir_prefix(path, &m.target).map(|rest| (m, rest.to_string())))
            .max_by_key(|(m, _)| m.target.len())
    }

    pub(super) fn with_rootfs_action(&self, action: FileAction, sources: Vec<Ref>) -> ContainerObj {
        let mut c = self.clone();
        c.rootfs = Some(file_op(self.rootfs.as_ref(), action, sources));
        c
    }
}

// Container: its fields come from here (configuration, filesystem, exec)
// and from the files of the other parts (`surface`, `export`, `service`, `socket`).
table!(
    pub(super) CONTAINER: ContainerObj = "Container",
    Object::Container(c) => c,
    &[
        FIELDS,
        super::surface::CONTAINER_FIELDS,
        super::export::CONTAINER_FIELDS,
        super::service::CONTAINER_FIELDS,
        super::socket::CONTAINER_FIELDS,
    ],
    &[],
);

/// Configuration, filesystem and exec fields of Container.
static FIELDS: Fields<ContainerObj> = fields! { |api, c, call, a|
    "from" => ctr(api.container_from(c, a.string("address")?).await?),
    "withExec" => ctr(api.with_exec(c, a)?),
    "terminal" => {
        api.container_terminal(c, a).await?;
        ctr(c.clone())
    },
    "withDefaultTerminalCmd" => {
        let mut out = c.clone();
        out.terminal_cmd = Some(super::objects::TerminalCmd {
            args: a.string_list("args")?,
            nesting: a.opt_bool("experimentalPrivilegedNesting")?.unwrap_or(false),
            insecure_root_capabilities: a.opt_bool("insecureRootCapabilities")?.unwrap_or(false),
        });
        ctr(out)
    },
    "stdout" | "stderr" | "combinedOutput" | "exitCode" => {
        let Some(exec) = &c.exec else {
            return Err(format!(
                "`{}` needs a command: this container has not run one yet; call `withExec` first",
                call.field
            )
            .into());
        };
        let out = api.engine.solve.exec_output(exec).await?;
        Ok(match call.field {
            "stdout" => leaf(String::from_utf8_lossy(&out.stdout).into_owned()),
            "stderr" => leaf(String::from_utf8_lossy(&out.stderr).into_owned()),
            "combinedOutput" => leaf(String::from_utf8_lossy(&out.combined).into_owned()),
            _ => leaf(out.exit_code),
        })
    },
    "platform" => Ok(leaf(c.platform.clone())),
    "imageRef" => match &c.image_ref {
        Some(r) => Ok(leaf(r.clone())),
        None => Err("this container has no image reference: it was not created with `from`".into()),
    },
    // --- configuration
    "withEnvVariable" => {
        let mut n = c.clone();
        let name = a.string("name")?;
        refuse_nul(&format!("`withEnvVariable`: the name `{}`", shown_nul(name)), name)?;
        let value = a.string("value")?;
        refuse_nul(&format!("`withEnvVariable`: the value of `{name}`"), value)?;
        let value = if a.opt_bool("expand")?.unwrap_or(false) {
            paths::expand(value, &c.config.env)
        } else {
            value.to_string()
        };
        n.config.env_set(name, &value);
        ctr(n)
    },
    "withoutEnvVariable" => {
        let mut n = c.clone();
        n.config.env_remove(a.string("name")?);
        ctr(n)
    },
    "envVariable" => {
        Ok(c.config.env_get(a.string("name")?).map(|v| leaf(v.to_string())).unwrap_or(Resolved::Null))
    },
    "envVariables" => Ok(Resolved::List(
        c.config
            .env
            .iter()
            .map(|kv| {
                let (name, value) = kv.split_once('=').unwrap_or((kv, ""));
                resolved(Object::EnvVariable(EnvVariableObj { name: name.into(), value: value.into() }))
            })
            .collect(),
    )),
    "withWorkdir" => {
        let mut n = c.clone();
        n.config.workdir = c.path_arg(a, "path")?;
        refuse_nul(&format!("`withWorkdir`: the path `{}`", shown_nul(&n.config.workdir)), &n.config.workdir)?;
        ctr(n)
    },
    "withoutWorkdir" => {
        let mut n = c.clone();
        n.config.workdir = String::new();
        ctr(n)
    },
    "workdir" => Ok(leaf(c.config.workdir.clone())),
    "withUser" => {
        let mut n = c.clone();
        n.config.user = a.string("name")?.to_string();
        refuse_nul(&format!("`withUser`: the user `{}`", shown_nul(&n.config.user)), &n.config.user)?;
        ctr(n)
    },
    "withoutUser" => {
        let mut n = c.clone();
        n.config.user = String::new();
        ctr(n)
    },
    "user" => Ok(leaf(c.config.user.clone())),
    "withEntrypoint" => {
        let mut n = c.clone();
        n.config.entrypoint = a.string_list("args")?;
        if !a.opt_bool("keepDefaultArgs")?.unwrap_or(false) {
            n.config.cmd.clear();
        }
        ctr(n)
    },
    "withoutEntrypoint" => {
        let mut n = c.clone();
        n.config.entrypoint.clear();
        if !a.opt_bool("keepDefaultArgs")?.unwrap_or(false) {
            n.config.cmd.clear();
        }
        ctr(n)
    },
    "entrypoint" => Ok(strings(&c.config.entrypoint)),
    "withDefaultArgs" => {
        let mut n = c.clone();
        n.config.cmd = a.string_list("args")?;
        ctr(n)
    },
    "withoutDefaultArgs" => {
        let mut n = c.clone();
        n.config.cmd.clear();
        ctr(n)
    },
    "defaultArgs" => Ok(strings(&c.config.cmd)),
    "withLabel" => {
        let mut n = c.clone();
        n.config.labels.insert(a.string("name")?.to_string(), a.string("value")?.to_string());
        ctr(n)
    },
    "withoutLabel" => {
        let mut n = c.clone();
        n.config.labels.remove(a.string("name")?);
        ctr(n)
    },
    "label" => Ok(c.config.labels.get(a.string("name")?).map(|v| leaf(v.clone())).unwrap_or(Resolved::Null)),
    "labels" => Ok(Resolved::List(
        c.config
            .labels
            .iter()
            .map(|(k, v)| resolved(Object::Label(LabelObj { name: k.clone(), value: v.clone() })))
            .collect(),
    )),
    "withExposedPort" => {
        let mut n = c.clone();
        let port = a.int("port")?;
        if !(1..=65535).contains(&port) {
            return Err(format!("port {port} is out of range 1-65535").into());
        }
        let protocol = parse_protocol(a)?;
        n.config.exposed_ports.retain(|p| !(p.port == port && p.protocol == protocol));
        n.config.exposed_ports.push(Port {
            port,
            protocol,
            description: a.opt_string("description")?.map(str::to_string),
            skip_healthcheck: a.opt_bool("experimentalSkipHealthcheck")?.unwrap_or(false),
        });
        ctr(n)
    },
    "withoutExposedPort" => {
        let mut n = c.clone();
        let port = a.int("port")?;
        let protocol = parse_protocol(a)?;
        n.config.exposed_ports.retain(|p| !(p.port == port && p.protocol == protocol));
        ctr(n)
    },
    "exposedPorts" => {
        Ok(Resolved::List(c.config.exposed_ports.iter().map(|p| resolved(Object::Port(p.clone()))).collect()))
    },
    // --- filesystem
    "withNewFile" => {
        let path = c.path_arg(a, "path")?;
        ctr(c.with_rootfs_action(
            FileAction::Mkfile {
                path,
                data: a.string("contents")?.to_string(),
                mode: a.opt_int("permissions")?.unwrap_or(0o644) as u32,
                owner: opt_owner(a)?,
            },
            vec![],
        ))
    },
    "withFile" => {
        let path = c.path_arg(a, "path")?;
        let src = api.load_file(a.get("source").unwrap_or(&Json::Null))?;
        let (src_idx, sources) = match src.root {
            Some(r) => (Some(0), vec![r]),
            None => (None, vec![]),
        };
        ctr(c.with_rootfs_action(
            FileAction::Copy {
                src: src_idx,
                src_path: src.path,
                dest: path,
                include: vec![],
                exclude: vec![],
                mode: a.opt_int("permissions")?.map(|m| m as u32),
                owner: opt_owner(a)?,
                gitignore: false,
            },
            sources,
        ))
    },
    "withDirectory" => {
        let path = c.path_arg(a, "path")?;
        let src = api.load_directory(a.get("source").or(a.get("directory")).unwrap_or(&Json::Null))?;
        ctr(c.with_rootfs_action(copy_dir_action(&src, path, a)?, src.root.into_iter().collect()))
    },
    "withoutFile" | "withoutDirectory" => {
        let path = c.path_arg(a, "path")?;
        ctr(c.with_rootfs_action(FileAction::Rm { path, allow_not_found: true }, vec![]))
    },
    "withoutFiles" => {
        let mut n = c.clone();
        for p in a.string_list("paths")? {
            let path = paths::resolve(c.workdir(), &p);
            n = n.with_rootfs_action(FileAction::Rm { path, allow_not_found: true }, vec![]);
        }
        ctr(n)
    },
    "withSymlink" => {
        let link = c.path_arg(a, "linkName")?;
        ctr(c.with_rootfs_action(FileAction::Symlink { target: a.string("target")?.to_string(), link }, vec![]))
    },
    "withMountedDirectory" => {
        let path = c.path_arg(a, "path")?;
        let dir = api.load_directory(a.get("source").unwrap_or(&Json::Null))?;
        let mut n = c.clone();
        n.set_mount(
            path,
            CtrMountSource::Dir { dir, readonly: a.opt_bool("readOnly")?.unwrap_or(false), owner: opt_owner(a)? },
        );
        ctr(n)
    },
    "withMountedFile" => {
        let path = c.path_arg(a, "path")?;
        let file = api.load_file(a.get("source").unwrap_or(&Json::Null))?;
        let mut n = c.clone();
        n.set_mount(path, CtrMountSource::File { file, owner: opt_owner(a)? });
        ctr(n)
    },
    "withMountedCache" => {
        let path = c.path_arg(a, "path")?;
        let volume = api.load_cache_volume(a.get("cache").unwrap_or(&Json::Null))?;
        let source = match a.get("source") {
            Some(id) => Some(api.load_directory(id)?),
            None => None,
        };
        let mut n = c.clone();
        n.set_mount(
            path,
            CtrMountSource::Cache { volume, sharing: parse_sharing(a)?, source, owner: opt_owner(a)? },
        );
        ctr(n)
    },
    "withMountedTemp" => {
        let path = c.path_arg(a, "path")?;
        let mut n = c.clone();
        n.set_mount(path, CtrMountSource::Tmp { size: a.opt_int("size")?.filter(|s| *s > 0).map(|s| s as u64) });
        ctr(n)
    },
    "withMountedSecret" => {
        let path = c.path_arg(a, "path")?;
        let secret = api.load_secret(a.get("source").unwrap_or(&Json::Null))?;
        let mut n = c.clone();
        n.set_mount(
            path,
            CtrMountSource::Secret {
                secret,
                mode: a.opt_int("mode")?.unwrap_or(0o400) as u32,
                owner: opt_owner(a)?,
            },
        );
        ctr(n)
    },
    "withoutMount" => {
        let path = c.path_arg(a, "path")?;
        let mut n = c.clone();
        n.mounts.retain(|m| m.target != path || matches!(m.source, CtrMountSource::Socket { .. }));
        ctr(n)
    },
    // Sockets are not mounts in Dagger's sense (`withoutMount` leaves them too).
    "mounts" => Ok(strings(
        &c.mounts
            .iter()
            .filter(|m| !matches!(m.source, CtrMountSource::Socket { .. }))
            .map(|m| m.target.clone())
            .collect::<Vec<_>>(),
    )),
    "withSecretVariable" => {
        let name = a.string("name")?.to_string();
        let secret = api.load_secret(a.get("secret").unwrap_or(&Json::Null))?;
        let mut n = c.clone();
        n.secret_env.retain(|(k, _)| *k != name);
        n.secret_env.push((name, secret));
        ctr(n)
    },
    "withoutSecretVariable" => {
        let name = a.string("name")?;
        let mut n = c.clone();
        n.secret_env.retain(|(k, _)| k != name);
        ctr(n)
    },
    "rootfs" => Ok(resolved(Object::Directory(DirectoryObj { root: c.rootfs.clone(), path: "/".into() }))),
    "withRootfs" => {
        let dir = api.load_directory(a.get("directory").unwrap_or(&Json::Null))?;
        let mut n = c.clone();
        n.rootfs = if dir.path == "/" {
            dir.root
        } else {
            Some(file_op(
                None,
                copy_dir_action(&dir, "/".into(), &Args::new("Container", "withRootfs"))?,
                dir.root.into_iter().collect(),
            ))
        };
        n.exec = None;
        ctr(n)
    },
    "directory" => {
        let path = c.path_arg(a, "path")?;
        Ok(resolved(Object::Directory(api.container_subpath(c, &path, true)?)))
    },
    "file" => {
        let path = c.path_arg(a, "path")?;
        let d = api.container_subpath(c, &path, false)?;
        Ok(resolved(Object::File(FileObj { root: d.root, path: d.path })))
    },
    "exists" => {
        let path = c.path_arg(a, "path")?;
        let d = api.container_subpath(c, &path, false)?;
        super::directory::exists(api, d.root.as_ref(), &d.path, a).await
    },
};

impl Api {
    /// `c` with its filesystem and configuration replaced by an image's.
    pub(super) async fn container_from(&self, c: &ContainerObj, address: &str) -> Result<ContainerObj, ApiError> {
        let img = self.engine.images.resolve_image(address, &c.platform).await?;
        let mut top: Option<Ref> = None;
        for (diff_id, blob) in img.layers {
            let v = Vertex::new(Op::ImageLayer(ImageLayerOp { diff_id, blob }), top.into_iter().collect());
            top = Some(Ref::new(v, 0));
        }
        let mut n = c.clone();
        n.rootfs = top;
        n.config = img.config;
        n.platform = img.platform;
        n.image_ref = Some(img.reference);
        n.exec = None;
        Ok(n)
    }

    /// Where `path` of a container lives: in a mounted directory or the rootfs.
    pub(super) fn container_subpath(&self, c: &ContainerObj, path: &str, _dir: bool) -> Result<DirectoryObj, ApiError> {
        if let Some((m, rest)) = c.mount_for(path) {
            return match &m.source {
                CtrMountSource::Dir { dir, .. } => {
                    Ok(DirectoryObj { root: dir.root.clone(), path: paths::within(&dir.path, &rest) })
                }
                CtrMountSource::File { file, .. } if rest.is_empty() => {
                    Ok(DirectoryObj { root: file.root.clone(), path: file.path.clone() })
                }
                _ => Err(format!(
                    "`{path}` is inside the mount at `{}`, whose contents are not part of the container",
                    m.target
                )
                .into()),
            };
        }
        Ok(DirectoryObj { root: c.rootfs.clone(), path: path.to_string() })
    }

    /// `Container.terminal`: the command (`cmd`, else `withDefaultTerminalCmd`'s,
    /// else `sh`) in this container's state, attached to the user's terminal.
    pub(super) async fn container_terminal(&self, c: &ContainerObj, a: &Args) -> Result<i32, ApiError> {
        let default = c
            .terminal_cmd
            .clone()
            .unwrap_or_else(|| super::objects::TerminalCmd { args: vec!["sh".into()], ..Default::default() });
        let cmd = a.string_list("cmd")?;
        let args = if cmd.is_empty() { default.args } else { cmd };
        let nesting = a.opt_bool("experimentalPrivilegedNesting")?.unwrap_or(default.nesting);
        if nesting {
            return Err("not implemented yet: Container.terminal(experimentalPrivilegedNesting: true)".into());
        }
        let insecure = a.opt_bool("insecureRootCapabilities")?.unwrap_or(default.insecure_root_capabilities);
        let exec_args = tanto_gql::Args::new("Container", "withExec")
            .with("args", serde_json::json!(args))
            .with("insecureRootCapabilities", serde_json::json!(insecure));
        let ran = self.with_exec(c, &exec_args)?;
        let exec = ran.exec.ok_or_else(|| ApiError::from("internal error: `terminal` built no exec"))?;
        Ok(self.engine.solve.run_terminal(&exec).await?)
    }

    pub(super) fn with_exec(&self, c: &ContainerObj, a: &Args) -> Result<ContainerObj, ApiError> {
        let mut args = a.string_list("args")?;
        if args.is_empty() {
            args = c.config.cmd.clone();
        }
        if a.opt_bool("useEntrypoint")?.unwrap_or(false) {
            let mut full = c.config.entrypoint.clone();
            full.extend(args);
            args = full;
        }
        if args.is_empty() {
            return Err(
                "`withExec` has no command to run: pass `args`, or set default args (`withDefaultArgs`) first".into()
            );
        }
        if a.opt_bool("expand")?.unwrap_or(false) {
            args = args.iter().map(|s| paths::expand(s, &c.config.env)).collect();
        }
        for (i, arg) in args.iter().enumerate() {
            refuse_nul(&format!("`withExec`: argument {} (`{}`)", i + 1, shown_nul(arg)), arg)?;
        }
        for kv in &c.config.env {
            let (name, value) = kv.split_once('=').unwrap_or((kv, ""));
            refuse_nul(&format!("`withExec`: environment variable `{}`", shown_nul(name)), name)?;
            refuse_nul(&format!("`withExec`: the value of environment variable `{name}`"), value)?;
        }
        let mut inputs: Vec<Ref> = Vec::new();
        let mut push = |r: &Option<Ref>| -> Option<u32> {
            r.as_ref().map(|r| {
                inputs.push(r.clone());
                (inputs.len() - 1) as u32
            })
        };
        let rootfs = push(&c.rootfs);
        let mut mounts = Vec::with_capacity(c.mounts.len());
        for m in &c.mounts {
            let kind = match &m.source {
                CtrMountSource::Dir { dir, readonly, owner } => ExecMountKind::Dir {
                    input: push(&dir.root),
                    selector: dir.path.clone(),
                    readonly: *readonly,
                    owner: owner.clone(),
                },
                CtrMountSource::File { file, owner } => {
                    ExecMountKind::File { input: push(&file.root), selector: file.path.clone(), owner: owner.clone() }
                }
                CtrMountSource::Cache { volume, sharing, source, owner } => ExecMountKind::Cache {
                    volume: volume.key.clone(),
                    sharing: *sharing,
                    source: source
                        .as_ref()
                        .and_then(|s| push(&s.root).map(|input| CacheSource { input, selector: s.path.clone() })),
                    owner: owner.clone(),
                },
                CtrMountSource::Secret { secret, mode, owner } => {
                    ExecMountKind::Secret { secret: secret.identity.clone(), mode: *mode, owner: owner.clone() }
                }
                CtrMountSource::Tmp { size } => ExecMountKind::Tmpfs { size: *size },
                CtrMountSource::Socket { socket, owner } => {
                    ExecMountKind::Socket { host_path: socket.host_path.clone(), owner: owner.clone() }
                }
            };
            mounts.push(ExecMount { target: m.target.clone(), kind });
        }
        let op = ExecOp {
            args,
            env: c.config.env.clone(),
            secret_env: c.secret_env.iter().map(|(k, s)| (k.clone(), s.identity.clone())).collect(),
            cwd: c.workdir().to_string(),
            user: c.config.user.clone(),
            rootfs,
            mounts,
            stdin: non_empty(a, "stdin")?,
            redirect_stdin: non_empty(a, "redirectStdin")?,
            redirect_stdout: non_empty(a, "redirectStdout")?,
            redirect_stderr: non_empty(a, "redirectStderr")?,
            expect: parse_expect(a.opt_enum_value("expect")?.unwrap_or("SUCCESS"))?,
            privileged: a.opt_bool("insecureRootCapabilities")?.unwrap_or(false),
            nesting: a.opt_bool("experimentalPrivilegedNesting")?.unwrap_or(false),
            no_init: a.opt_bool("noInit")?.unwrap_or(false),
            platform: c.platform.clone(),
            services: super::service::exec_bindings(c),
            volatile_env: c.volatile_env.clone(),
            no_network: false,
            devices: c.gpus.clone(),
        };
        let vertex = Vertex::new(Op::Exec(op), inputs);
        let mut n = c.clone();
        n.rootfs = Some(Ref::new(vertex.clone(), 0));
        let mut output = 0;
        for m in &mut n.mounts {
            if let CtrMountSource::Dir { dir, readonly: false, .. } = &mut m.source {
                output += 1;
                *dir = DirectoryObj { root: Some(Ref::new(vertex.clone(), output)), path: "/".into() };
            }
        }
        n.exec = Some(Ref::new(vertex, 0));
        Ok(n)
    }
}

/// Refuses a NUL byte in `value`, which becomes a C string of a process (its
/// arguments, environment, working directory or user): the runtime would
/// silently cut it short there. `what` names the value.
fn refuse_nul(what: &str, value: &str) -> Result<(), ApiError> {
    if value.contains('\0') {
        return Err(format!(
            "{what} contains a NUL byte (\\0), which a process's arguments, environment and paths cannot hold; remove it"
        )
        .into());
    }
    Ok(())
}

/// `s` with its NUL bytes shown as `\0`.
fn shown_nul(s: &str) -> String {
    s.replace('\0', "\\0")
}

/// An optional string argument; empty is the same as absent.
fn non_empty(a: &Args, name: &str) -> Result<Option<String>, ApiError> {
    Ok(a.opt_string(name)?.filter(|s| !s.is_empty()).map(str::to_string))
}

/// The copy action behind `withDirectory` (container and directory alike).
pub(super) fn copy_dir_action(src: &DirectoryObj, dest: String, a: &Args) -> Result<FileAction, ApiError> {
    Ok(FileAction::Copy {
        src: src.root.as_ref().map(|_| 0),
        src_path: src.path.clone(),
        dest,
        include: a.opt_string_list("include")?.unwrap_or_default(),
        exclude: a.opt_string_list("exclude")?.unwrap_or_default(),
        mode: a.opt_int("permissions")?.map(|m| m as u32),
        owner: opt_owner(a)?,
        gitignore: a.opt_bool("gitignore")?.unwrap_or(false),
    })
}
