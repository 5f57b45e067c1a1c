//! `Directory.dockerBuild`: a Dockerfile turned into tanto ops.
//!
//! The Dockerfile is read from the context and parsed ([`parse`]); then only
//! the stages the target needs are planned, each instruction becoming what
//! the API's own builders make — `FROM` the image layers of `from`, `RUN` an
//! exec (`withExec`), `COPY`/`ADD`/`WORKDIR` file actions, the rest image
//! configuration — so every step is cached like any other. Planning runs
//! nothing: the returned container is lazy, and a stage the target does not
//! need is never even planned.
//!
//! Expansion follows BuildKit: `FROM` sees the global `ARG`s (before the
//! first `FROM`, overridden by build args, plus `TARGETPLATFORM` & co.);
//! inside a stage, `ENV` wins over `ARG`; `RUN` gets the stage's `ARG`s as
//! environment variables (so they enter its cache key) but the image does not.
//!
//! Files: `lex.rs` (words and expansion), `parse.rs` (instructions), this
//! file (options, stages, config instructions), `steps.rs` (`COPY`/`ADD`, `RUN`).

mod lex;
mod parse;
mod steps;

use std::collections::BTreeMap;

use futures::future::BoxFuture;
use serde_json::{json, Value as Json};
use tanto_model::{CacheSharing, DigestError, FileAction, HttpOp, Op, Owner, Ref, Vertex};

use self::lex::Expander;
use self::parse::{Cmd, Dockerfile, Flag, Instr, Src};
use super::objects::*;
use super::{file_op, paths, Api};
use crate::dagger::ApiError;
use tanto_gql::Args;

/// What can be wrong with a Dockerfile itself.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum DockerfileError {
    #[error("line {line}: {msg}")]
    Parse { line: usize, msg: String },
    #[error("{0}")]
    Expand(String),
}

/// The options of one `dockerBuild` call.
struct Options {
    dockerfile: String,
    platform: String,
    build_args: BTreeMap<String, String>,
    target: String,
    secrets: Vec<SecretObj>,
    no_init: bool,
}

impl Api {
    pub(super) async fn docker_build(&self, ctx: &DirectoryObj, a: &Args) -> Result<ContainerObj, ApiError> {
        if a.get("ssh").is_some_and(|v| !v.is_null()) {
            return Err(
                "`dockerBuild(ssh:)` is not supported yet: pass what the build needs as a secret instead".into()
            );
        }
        let mut build_args = BTreeMap::new();
        for v in a.opt_list("buildArgs")?.unwrap_or_default() {
            let (Some(name), Some(value)) =
                (v.get("name").and_then(Json::as_str), v.get("value").and_then(Json::as_str))
            else {
                return Err("each build arg needs a `name` and a `value`".into());
            };
            build_args.insert(name.to_string(), value.to_string());
        }
        let mut secrets = Vec::new();
        for id in a.opt_list("secrets")?.unwrap_or_default() {
            secrets.push(self.load_secret(id)?);
        }
        let opts = Options {
            dockerfile: a.opt_string("dockerfile")?.filter(|s| !s.is_empty()).unwrap_or("Dockerfile").to_string(),
            platform: a
                .opt_string("platform")?
                .map(str::to_string)
                .unwrap_or_else(|| self.engine.images.default_platform()),
            build_args,
            target: a.opt_string("target")?.unwrap_or("").to_string(),
            secrets,
            no_init: a.opt_bool("noInit")?.unwrap_or(false),
        };

        let path = paths::within(&ctx.path, &opts.dockerfile);
        let text = self.engine.solve.read_file(ctx.root.as_ref(), &path).await.map_err(|e| {
            ApiError::from(format!("cannot read the Dockerfile `{}` in the build context: {}", opts.dockerfile, e))
        })?;
        let text =
            String::from_utf8(text).map_err(|_| format!("dockerfile `{}` is not UTF-8 text", opts.dockerfile))?;
        let df = parse::parse(&text).map_err(|e| format!("dockerfile `{}` {e}", opts.dockerfile))?;
        let context = self.filtered_context(ctx, &opts.dockerfile).await?;
        let target = match opts.target.as_str() {
            "" => df.stages.len() - 1,
            t => stage_index(&df, t, df.stages.len()).ok_or_else(|| {
                let names: Vec<&str> = df.stages.iter().filter_map(|s| s.name.as_deref()).collect();
                format!(
                    "target stage `{t}` is not in dockerfile `{}`: its named stages are {}",
                    opts.dockerfile,
                    if names.is_empty() { "none".to_string() } else { names.join(", ") }
                )
            })?,
        };
        let meta = meta_args(&df, &opts)?;
        let n = df.stages.len();
        let mut b = Builder { api: self, df, opts, context, meta, done: vec![None; n], active: vec![false; n] };
        let mut c = b.stage(target).await?;
        c.exec = None;
        c.mounts.clear();
        c.secret_env.clear();
        Ok(c)
    }

    /// The context with `.dockerignore` applied (`<dockerfile>.dockerignore` first, as BuildKit does).
    async fn filtered_context(&self, ctx: &DirectoryObj, dockerfile: &str) -> Result<DirectoryObj, ApiError> {
        let mut patterns = None;
        for name in [format!("{dockerfile}.dockerignore"), ".dockerignore".to_string()] {
            let p = paths::within(&ctx.path, &name);
            if self.engine.solve.stat(ctx.root.as_ref(), &p, false).await?.is_some() {
                let data = self.engine.solve.read_file(ctx.root.as_ref(), &p).await?;
                patterns = Some(dockerignore_patterns(&String::from_utf8_lossy(&data)));
                break;
            }
        }
        match patterns {
            Some(exclude) if !exclude.is_empty() => {
                let action = FileAction::Copy {
                    src: ctx.root.as_ref().map(|_| 0),
                    src_path: ctx.path.clone(),
                    dest: "/".into(),
                    include: vec![],
                    exclude,
                    mode: None,
                    owner: None,
                    gitignore: false,
                };
                Ok(DirectoryObj {
                    root: Some(file_op(None, action, ctx.root.clone().into_iter().collect())),
                    path: "/".into(),
                })
            }
            _ => Ok(ctx.clone()),
        }
    }
}

/// `.dockerignore` lines: patterns relative to the context root, `!` re-includes.
fn dockerignore_patterns(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            let (neg, p) = match l.strip_prefix('!') {
                Some(p) => ("!", p.trim()),
                None => ("", l),
            };
            let p = paths::clean_abs(p);
            format!("{neg}{}", p.trim_start_matches('/'))
        })
        .filter(|p| !p.is_empty() && p != "!")
        .collect()
}

/// A stage by name (case-insensitive) or index, among the first `before` stages.
fn stage_index(df: &Dockerfile, name: &str, before: usize) -> Option<usize> {
    let lower = name.to_ascii_lowercase();
    df.stages[..before]
        .iter()
        .position(|s| s.name.as_deref() == Some(lower.as_str()))
        .or_else(|| name.parse::<usize>().ok().filter(|i| *i < before))
}

/// The global scope: automatic platform args, then the `ARG`s before the first `FROM`.
fn meta_args(df: &Dockerfile, opts: &Options) -> Result<BTreeMap<String, String>, ApiError> {
    let mut meta = BTreeMap::new();
    for (prefix, platform) in [("TARGET", &opts.platform), ("BUILD", &opts.platform)] {
        let mut parts = platform.splitn(3, '/');
        let (os, arch, variant) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""), parts.next().unwrap_or(""));
        meta.insert(format!("{prefix}PLATFORM"), platform.to_string());
        meta.insert(format!("{prefix}OS"), os.to_string());
        meta.insert(format!("{prefix}ARCH"), arch.to_string());
        meta.insert(format!("{prefix}VARIANT"), variant.to_string());
    }
    for decl in &df.meta_args {
        let value = match opts.build_args.get(&decl.name) {
            Some(v) => Some(v.clone()),
            None => match &decl.default {
                Some(d) => {
                    let lookup = |n: &str| meta.get(n).cloned();
                    Some(
                        Expander { escape: df.escape, lookup: &lookup, raw: false }
                            .word(d)
                            .map_err(|e| format!("dockerfile `{}` ARG {}: {e}", opts.dockerfile, decl.name))?,
                    )
                }
                None => None,
            },
        };
        if let Some(v) = value {
            meta.insert(decl.name.clone(), v);
        }
    }
    Ok(meta)
}

/// A stage being built: the container so far and what is in scope.
struct StageState {
    ctr: ContainerObj,
    /// The stage's `ARG`s in declaration order (`None` = declared, no value).
    args: Vec<(String, Option<String>)>,
    shell: Vec<String>,
    cmd_set: bool,
}

impl StageState {
    fn lookup(&self, name: &str) -> Option<String> {
        if let Some(v) = self.ctr.config.env_get(name) {
            return Some(v.to_string());
        }
        self.args.iter().rev().find(|(n, _)| n == name).and_then(|(_, v)| v.clone())
    }

    /// The environment of a `RUN`: the image's plus the stage's `ARG`s (`ENV` wins).
    fn run_env(&self) -> Vec<String> {
        let mut env = self.ctr.config.env.clone();
        let mut seen = std::collections::BTreeSet::new();
        for (name, value) in self.args.iter().rev() {
            if let Some(v) = value {
                if seen.insert(name.clone()) && self.ctr.config.env_get(name).is_none() {
                    env.push(format!("{name}={v}"));
                }
            }
        }
        env
    }
}

struct Builder<'a> {
    api: &'a Api,
    df: Dockerfile,
    opts: Options,
    context: DirectoryObj,
    meta: BTreeMap<String, String>,
    done: Vec<Option<ContainerObj>>,
    active: Vec<bool>,
}

fn parse_mode(s: &str) -> Result<u32, String> {
    u32::from_str_radix(s, 8)
        .map_err(|_| format!("mode `{s}` is not an octal number such as 0755 (symbolic modes are not supported yet)"))
}

impl<'a> Builder<'a> {
    fn err(&self, line: usize, msg: impl std::fmt::Display) -> ApiError {
        at(&self.opts.dockerfile, line, msg)
    }

    fn stage(&mut self, i: usize) -> BoxFuture<'_, Result<ContainerObj, ApiError>> {
        Box::pin(async move {
            if let Some(c) = &self.done[i] {
                return Ok(c.clone());
            }
            if self.active[i] {
                return Err(self.err(self.df.stages[i].line, "stages refer to each other in a cycle"));
            }
            self.active[i] = true;
            let c = self.build_stage(i).await;
            self.active[i] = false;
            let c = c?;
            self.done[i] = Some(c.clone());
            Ok(c)
        })
    }

    async fn build_stage(&mut self, i: usize) -> Result<ContainerObj, ApiError> {
        let stage = self.df.stages[i].clone();
        let (base, platform) = {
            let lookup = |n: &str| self.meta.get(n).cloned();
            let x = Expander { escape: self.df.escape, lookup: &lookup, raw: false };
            let base = x.word(&stage.base).map_err(|e| self.err(stage.line, e))?;
            let platform = match &stage.platform {
                Some(p) => x.word(p).map_err(|e| self.err(stage.line, e))?,
                None => self.opts.platform.clone(),
            };
            (base, platform)
        };
        let ctr = if base.is_empty() {
            return Err(self.err(stage.line, format!("FROM `{}` expands to an empty image name", stage.base)));
        } else if let Some(j) = stage_index_by_name(&self.df, &base, i) {
            self.stage(j).await?
        } else if base.eq_ignore_ascii_case("scratch") {
            ContainerObj::scratch(platform)
        } else {
            self.api
                .container_from(&ContainerObj::scratch(platform), &base)
                .await
                .map_err(|e| self.err(stage.line, e.to_string()))?
        };
        let mut st = StageState { ctr, args: Vec::new(), shell: vec!["/bin/sh".into(), "-c".into()], cmd_set: false };
        for line in &stage.instrs {
            self.apply(i, &mut st, line.line, &line.instr).await?;
        }
        Ok(st.ctr)
    }

    async fn apply(&mut self, i: usize, st: &mut StageState, line: usize, instr: &Instr) -> Result<(), ApiError> {
        let escape = self.df.escape;
        let file = self.opts.dockerfile.clone();
        let word = |st: &StageState, w: &str| expand(escape, st, w, false).map_err(|e| at(&file, line, e));
        match instr {
            Instr::Env(pairs) => {
                let mut out = Vec::new();
                for (k, v) in pairs {
                    out.push((word(st, k)?, word(st, v)?));
                }
                for (k, v) in out {
                    st.ctr.config.env_set(&k, &v);
                }
            }
            Instr::Label(pairs) => {
                let mut out = Vec::new();
                for (k, v) in pairs {
                    out.push((word(st, k)?, word(st, v)?));
                }
                st.ctr.config.labels.extend(out);
            }
            Instr::Arg(decls) => {
                for d in decls {
                    let value = match self.opts.build_args.get(&d.name) {
                        Some(v) => Some(v.clone()),
                        None => match &d.default {
                            Some(dflt) => Some(word(st, dflt)?),
                            None => self.meta.get(&d.name).cloned(),
                        },
                    };
                    st.args.push((d.name.clone(), value));
                }
            }
            Instr::Workdir(w) => {
                let w = word(st, w)?;
                let dir =
                    paths::resolve(if st.ctr.config.workdir.is_empty() { "/" } else { &st.ctr.config.workdir }, &w);
                st.ctr.config.workdir = dir.clone();
                let owner = Owner::parse(&st.ctr.config.user);
                st.ctr.rootfs = Some(file_op(
                    st.ctr.rootfs.as_ref(),
                    FileAction::EnsureDir { path: dir, mode: 0o755, owner },
                    vec![],
                ));
            }
            Instr::User(u) => st.ctr.config.user = word(st, u)?,
            Instr::StopSignal(s) => st.ctr.config.stop_signal = word(st, s)?,
            Instr::Volume(vs) => {
                for v in vs {
                    let v = word(st, v)?;
                    if !st.ctr.config.volumes.contains(&v) {
                        st.ctr.config.volumes.push(v);
                    }
                }
            }
            Instr::Expose(ports) => {
                for p in ports {
                    let p = word(st, p)?;
                    let (port, proto) = p.split_once('/').unwrap_or((p.as_str(), "tcp"));
                    let port: i64 = port.parse().ok().filter(|n| (1..=65535).contains(n)).ok_or_else(|| {
                        self.err(line, format!("EXPOSE `{p}` is not a port number (ranges are not supported)"))
                    })?;
                    let protocol = match proto.to_ascii_lowercase().as_str() {
                        "tcp" => "TCP",
                        "udp" => "UDP",
                        other => return Err(self.err(line, format!("EXPOSE protocol `{other}` is not tcp or udp"))),
                    }
                    .to_string();
                    let ports = &mut st.ctr.config.exposed_ports;
                    if !ports.iter().any(|x| x.port == port && x.protocol == protocol) {
                        ports.push(Port { port, protocol, description: None, skip_healthcheck: false });
                    }
                }
            }
            Instr::Cmd(c) => {
                st.ctr.config.cmd = self.command(st, c);
                st.cmd_set = true;
            }
            Instr::Entrypoint(c) => {
                st.ctr.config.entrypoint = self.command(st, c);
                if !st.cmd_set {
                    st.ctr.config.cmd.clear();
                }
            }
            Instr::Shell(s) => st.shell = s.clone(),
            Instr::Healthcheck { flags, cmd } => {
                let mut h = match cmd {
                    None => Healthcheck { args: vec!["NONE".into()], ..Default::default() },
                    Some(Cmd::Exec(v)) => Healthcheck { args: v.clone(), ..Default::default() },
                    Some(Cmd::Shell(s)) => Healthcheck { args: vec![s.clone()], shell: true, ..Default::default() },
                };
                for f in flags {
                    let v = word(st, f.value.as_deref().unwrap_or(""))?;
                    match f.name.as_str() {
                        "interval" => h.interval = v,
                        "timeout" => h.timeout = v,
                        "start-period" => h.start_period = v,
                        "start-interval" => h.start_interval = v,
                        "retries" => {
                            h.retries = v
                                .parse()
                                .map_err(|_| self.err(line, format!("HEALTHCHECK --retries `{v}` is not a number")))?
                        }
                        other => return Err(self.err(line, format!("unknown flag `--{other}` for HEALTHCHECK"))),
                    }
                }
                h.validate().map_err(|e| self.err(line, e))?;
                st.ctr.config.healthcheck = Some(h);
            }
            Instr::Ignored(kw, _) => {
                tracing::debug!(
                    instruction = kw.as_str(),
                    line,
                    "dockerfile instruction not recorded in the image config"
                );
            }
            Instr::Run { flags, cmd, heredocs } => self.run(i, st, line, flags, cmd, heredocs).await?,
            Instr::Copy { add, flags, srcs, dest } => self.copy(i, st, line, *add, flags, srcs, dest).await?,
        }
        Ok(())
    }

    fn command(&self, st: &StageState, c: &Cmd) -> Vec<String> {
        match c {
            Cmd::Exec(v) => v.clone(),
            Cmd::Shell(s) => {
                let mut v = st.shell.clone();
                v.push(s.clone());
                v
            }
        }
    }

    /// The filesystem `--from=` names: a stage (by name or index) or an image.
    async fn source(&mut self, i: usize, line: usize, from: &str) -> Result<DirectoryObj, ApiError> {
        if let Some(j) = stage_index(&self.df, from, self.df.stages.len()) {
            if j == i {
                return Err(self.err(line, format!("`--from={from}` refers to the stage it is in")));
            }
            let c = self.stage(j).await?;
            return Ok(DirectoryObj { root: c.rootfs, path: "/".into() });
        }
        let c = self
            .api
            .container_from(&ContainerObj::scratch(self.opts.platform.clone()), from)
            .await
            .map_err(|e| self.err(line, e.to_string()))?;
        Ok(DirectoryObj { root: c.rootfs, path: "/".into() })
    }
}

/// A value with quotes removed and `$VAR`s expanded as in a Dockerfile word
/// (used for env files too).
pub(super) fn expand_env_value(
    v: &str,
    lookup: &(dyn Fn(&str) -> Option<String> + Sync),
) -> Result<String, DockerfileError> {
    Expander { escape: '\\', lookup, raw: false }.word(v)
}

fn at(dockerfile: &str, line: usize, msg: impl std::fmt::Display) -> ApiError {
    ApiError::from(format!("dockerfile `{dockerfile}` line {line}: {msg}"))
}

/// A word of the stage expanded with its `ENV` and `ARG`s.
fn expand(escape: char, st: &StageState, w: &str, raw: bool) -> Result<String, DockerfileError> {
    let lookup = |n: &str| st.lookup(n);
    Expander { escape, lookup: &lookup, raw }.word(w)
}

/// `FROM <name>` refers to an earlier stage only.
fn stage_index_by_name(df: &Dockerfile, name: &str, before: usize) -> Option<usize> {
    let lower = name.to_ascii_lowercase();
    df.stages[..before].iter().position(|s| s.name.as_deref() == Some(lower.as_str()))
}

#[cfg(test)]
mod tests;
