//! The steps of a stage that make filesystem changes: `COPY`/`ADD` (local
//! sources, other stages and images, downloads, archives) and `RUN` with its
//! mounts, heredocs and network mode.

use super::*;

impl Builder<'_> {
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn copy(
        &mut self,
        i: usize,
        st: &mut StageState,
        line: usize,
        add: bool,
        flags: &[Flag],
        srcs: &[Src],
        dest: &str,
    ) -> Result<(), ApiError> {
        let kw = if add { "ADD" } else { "COPY" };
        let escape = self.df.escape;
        let file = self.opts.dockerfile.clone();
        let word = |st: &StageState, w: &str, raw: bool| expand(escape, st, w, raw).map_err(|e| at(&file, line, e));
        let mut from = None;
        let mut owner = None;
        let mut mode = None;
        let mut exclude = Vec::new();
        let mut checksum = None;
        for f in flags {
            let v = f.value.as_deref().unwrap_or("");
            match f.name.as_str() {
                "from" => from = Some(word(st, v, false)?),
                "chown" => owner = Owner::parse(&word(st, v, false)?),
                "chmod" => mode = Some(parse_mode(&word(st, v, false)?).map_err(|e| self.err(line, e))?),
                "exclude" => exclude.push(word(st, v, false)?),
                "link" => {}
                "checksum" if add => checksum = Some(word(st, v, false)?),
                other => return Err(self.err(line, format!("`{kw} --{other}` is not supported yet"))),
            }
        }
        let source = match &from {
            Some(f) => self.source(i, line, f).await?,
            None => self.context.clone(),
        };
        let raw_dest = word(st, dest, false)?;
        let dir_like = raw_dest.is_empty() || raw_dest == "." || raw_dest.ends_with('/');
        if srcs.len() > 1 && !dir_like {
            return Err(self.err(
                line,
                format!("{kw} with more than one source needs a destination directory ending in `/`, not `{raw_dest}`"),
            ));
        }
        let workdir = if st.ctr.config.workdir.is_empty() { "/".to_string() } else { st.ctr.config.workdir.clone() };
        let mut dest = paths::resolve(&workdir, &raw_dest);
        if dir_like && !dest.ends_with('/') {
            dest.push('/');
        }
        for src in srcs {
            let (action, sources) = match src {
                Src::Heredoc(h) => {
                    let body = if h.expand { word(st, &h.body(), true)? } else { h.body() };
                    let name = paths::clean_abs(&h.name);
                    let file = file_op(
                        None,
                        FileAction::Mkfile { path: name.clone(), data: body, mode: 0o644, owner: None },
                        vec![],
                    );
                    let action = FileAction::Copy {
                        src: Some(0),
                        src_path: name,
                        dest: dest.clone(),
                        include: vec![],
                        exclude: vec![],
                        mode,
                        owner: owner.clone(),
                        gitignore: false,
                    };
                    (action, vec![file])
                }
                Src::Path(p) => {
                    let p = word(st, p, false)?;
                    let http = p.starts_with("http://") || p.starts_with("https://");
                    let git = p.starts_with("git@") || p.ends_with(".git") || p.contains(".git#");
                    if add && http && !git {
                        let (file, name) = self.download(line, &p, checksum.as_deref()).await?;
                        let action = FileAction::Copy {
                            src: Some(0),
                            src_path: format!("/{name}"),
                            dest: dest.clone(),
                            include: vec![],
                            exclude: vec![],
                            mode,
                            owner: owner.clone(),
                            gitignore: false,
                        };
                        st.ctr.rootfs = Some(file_op(st.ctr.rootfs.as_ref(), action, vec![file]));
                        continue;
                    }
                    if p.contains("://") || p.starts_with("git@") {
                        let hint =
                            if add { "add git sources with `git(url)` and `COPY --from`" } else { "use ADD for URLs" };
                        return Err(self.err(line, format!("{kw} of `{p}` is not supported: {hint}")));
                    }
                    let full = paths::within(&source.path, &p);
                    let (parent, base) = full.rsplit_once('/').unwrap_or(("", &full));
                    let (src_path, include) = if base.contains(['*', '?', '[']) {
                        if parent.contains(['*', '?', '[']) {
                            return Err(self.err(
                                line,
                                format!("{kw} source `{p}`: wildcards are supported in the last path component only"),
                            ));
                        }
                        (if parent.is_empty() { "/".to_string() } else { parent.to_string() }, vec![base.to_string()])
                    } else {
                        (full.clone(), vec![])
                    };
                    let src = source.root.as_ref().map(|_| 0);
                    let action = if add && include.is_empty() && exclude.is_empty() {
                        FileAction::Unpack { src, src_path, dest: dest.clone(), mode, owner: owner.clone() }
                    } else {
                        FileAction::Copy {
                            src,
                            src_path,
                            dest: dest.clone(),
                            include,
                            exclude: exclude.clone(),
                            mode,
                            owner: owner.clone(),
                            gitignore: false,
                        }
                    };
                    (action, source.root.clone().into_iter().collect::<Vec<Ref>>())
                }
            };
            st.ctr.rootfs = Some(file_op(st.ctr.rootfs.as_ref(), action, sources));
        }
        Ok(())
    }

    /// `ADD <url>`: the file fetched now (its digest is its key), like `Query.http`;
    /// BuildKit gives downloads mode 0600.
    async fn download(&self, line: usize, url: &str, checksum: Option<&str>) -> Result<(Ref, String), ApiError> {
        let path = url.split(['?', '#']).next().unwrap_or("");
        let name = match path.splitn(4, '/').nth(3).unwrap_or("").rsplit('/').next() {
            Some(n) if !n.is_empty() => n.to_string(),
            _ => "index.html".to_string(),
        };
        let digest = match checksum {
            Some(c) => {
                c.parse().map_err(|_| self.err(line, format!("ADD --checksum `{c}` must be a sha256:<hex> digest")))?
            }
            None => {
                let fetched =
                    self.api.engine.sources.http_fetch(url, None).await.map_err(|e| self.err(line, e.to_string()))?;
                fetched.parse().map_err(|e: DigestError| self.err(line, e.to_string()))?
            }
        };
        let op = HttpOp { digest, name: name.clone(), permissions: 0o600, url: url.to_string(), auth_header: None };
        Ok((Ref::new(Vertex::new(Op::Http(op), vec![]), 0), name))
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) async fn run(
        &mut self,
        i: usize,
        st: &mut StageState,
        line: usize,
        flags: &[Flag],
        cmd: &Cmd,
        heredocs: &[parse::Heredoc],
    ) -> Result<(), ApiError> {
        let mut c = st.ctr.clone();
        c.mounts.clear();
        c.secret_env.clear();
        c.exec = None;
        c.config.env = st.run_env();
        let mut privileged = false;
        let mut no_network = false;
        for f in flags {
            let v = f.value.as_deref().unwrap_or("");
            match f.name.as_str() {
                "mount" => self.run_mount(i, st, &mut c, line, v).await?,
                "network" => match v {
                    "default" | "host" => {}
                    "none" => no_network = true,
                    other => {
                        return Err(self.err(line, format!("`RUN --network={other}` is not one of default, none, host")))
                    }
                },
                "security" => match v {
                    "insecure" => privileged = true,
                    "sandbox" => {}
                    other => {
                        return Err(self.err(line, format!("`RUN --security={other}` is not one of sandbox, insecure")))
                    }
                },
                other => return Err(self.err(line, format!("`RUN --{other}` is not supported yet"))),
            }
        }
        let args = match cmd {
            Cmd::Exec(v) => v.clone(),
            Cmd::Shell(s) if heredocs.is_empty() => self.command(st, &Cmd::Shell(s.clone())),
            Cmd::Shell(s) => {
                let standalone = heredocs.len() == 1 && lex::split_words(s, self.df.escape).len() == 1;
                let script = if standalone {
                    let body = heredocs[0].body();
                    if body.starts_with("#!") {
                        // A script with its own interpreter: run it as a file.
                        let name = paths::clean_abs(&heredocs[0].name);
                        let file = file_op(
                            None,
                            FileAction::Mkfile { path: name.clone(), data: body, mode: 0o755, owner: None },
                            vec![],
                        );
                        let dir = DirectoryObj { root: Some(file), path: "/".into() };
                        c.mounts.push(CtrMount {
                            target: "/dev/pipes".into(),
                            source: CtrMountSource::Dir { dir, readonly: true, owner: None },
                        });
                        vec![format!("/dev/pipes{name}")]
                    } else {
                        vec![body]
                    }
                } else {
                    let mut full = s.clone();
                    for h in heredocs {
                        full.push('\n');
                        full.push_str(&h.content);
                        full.push_str(&h.name);
                    }
                    vec![full]
                };
                if script.len() == 1 && script[0].starts_with("/dev/pipes/") {
                    script
                } else {
                    self.command(st, &Cmd::Shell(script.into_iter().next().unwrap_or_default()))
                }
            }
        };
        let a = Args::new("Container", "withExec")
            .with("args", json!(args))
            .with("noInit", json!(self.opts.no_init))
            .with("insecureRootCapabilities", json!(privileged));
        let n = self.api.with_exec(&c, &a).map_err(|e| self.err(line, e.to_string()))?;
        st.ctr.rootfs = match (&n.rootfs, no_network) {
            (Some(r), true) => {
                let mut op = r
                    .vertex
                    .exec()
                    .cloned()
                    .ok_or_else(|| self.err(line, "internal error: RUN did not make an exec"))?;
                op.no_network = true;
                Some(Ref::new(Vertex::new(Op::Exec(op), r.vertex.inputs.clone()), 0))
            }
            _ => n.rootfs,
        };
        st.ctr.exec = None;
        Ok(())
    }

    /// One `RUN --mount=...`: secret, cache, bind or tmpfs.
    async fn run_mount(
        &mut self,
        i: usize,
        st: &StageState,
        c: &mut ContainerObj,
        line: usize,
        spec: &str,
    ) -> Result<(), ApiError> {
        let mut kv: BTreeMap<String, String> = BTreeMap::new();
        for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (k, v) = part.split_once('=').unwrap_or((part, "true"));
            kv.insert(k.to_ascii_lowercase(), v.trim_matches('"').to_string());
        }
        let get = |keys: &[&str]| keys.iter().find_map(|k| kv.get(*k).cloned());
        let truthy = |keys: &[&str]| get(keys).is_some_and(|v| v != "false");
        let target = get(&["target", "dst", "destination"]);
        // `uid`/`gid` of cache and secret mounts (BuildKit ignores them on bind mounts).
        let owner = match (get(&["uid"]), get(&["gid"])) {
            (None, None) => None,
            (u, g) => Owner::parse(&format!("{}:{}", u.unwrap_or_else(|| "0".into()), g.unwrap_or_else(|| "0".into()))),
        };
        let workdir = if st.ctr.config.workdir.is_empty() { "/".to_string() } else { st.ctr.config.workdir.clone() };
        let kind = get(&["type"]).unwrap_or_else(|| "bind".into());
        match kind.as_str() {
            "secret" => {
                let id = match (get(&["id"]), &target) {
                    (Some(id), _) => id,
                    (None, Some(t)) => paths::base_name(t),
                    (None, None) => return Err(self.err(line, "a secret mount needs `id=` or `target=`")),
                };
                let Some(secret) = self.opts.secrets.iter().find(|s| s.name == id).cloned() else {
                    if truthy(&["required"]) {
                        return Err(self.err(
                            line,
                            format!("secret `{id}` is required but was not passed: add it to `dockerBuild(secrets:)`"),
                        ));
                    }
                    return Ok(());
                };
                if let Some(var) = get(&["env"]) {
                    c.secret_env.retain(|(k, _)| *k != var);
                    c.secret_env.push((var, secret.clone()));
                    if target.is_none() {
                        return Ok(());
                    }
                }
                let path = paths::resolve(&workdir, &target.unwrap_or_else(|| format!("/run/secrets/{id}")));
                let mode = match get(&["mode"]) {
                    Some(m) => parse_mode(&m).map_err(|e| self.err(line, e))?,
                    None => 0o400,
                };
                c.mounts.push(CtrMount { target: path, source: CtrMountSource::Secret { secret, mode, owner } });
            }
            "cache" => {
                let target = target.ok_or_else(|| self.err(line, "a cache mount needs `target=`"))?;
                let path = paths::resolve(&workdir, &target);
                let key = get(&["id"]).unwrap_or_else(|| path.clone());
                let sharing = match get(&["sharing"]) {
                    None => CacheSharing::Shared,
                    Some(s) => s.parse().map_err(|_| {
                        self.err(line, format!("cache mount sharing `{s}` is not shared, private or locked"))
                    })?,
                };
                let source = match get(&["from"]) {
                    Some(f) => {
                        let d = self.source(i, line, &f).await?;
                        Some(DirectoryObj {
                            root: d.root,
                            path: paths::within("/", &get(&["source", "src"]).unwrap_or_default()),
                        })
                    }
                    None => None,
                };
                c.mounts.push(CtrMount {
                    target: path,
                    source: CtrMountSource::Cache { volume: CacheVolumeObj { key }, sharing, source, owner },
                });
            }
            "bind" => {
                let target = target.ok_or_else(|| self.err(line, "a bind mount needs `target=`"))?;
                let from = match get(&["from"]) {
                    Some(f) => self.source(i, line, &f).await?,
                    None => self.context.clone(),
                };
                let dir = DirectoryObj {
                    root: from.root,
                    path: paths::within(&from.path, &get(&["source", "src"]).unwrap_or_default()),
                };
                let readonly = !truthy(&["rw", "readwrite"]);
                c.mounts.push(CtrMount {
                    target: paths::resolve(&workdir, &target),
                    source: CtrMountSource::Dir { dir, readonly, owner: None },
                });
            }
            "tmpfs" => {
                let target = target.ok_or_else(|| self.err(line, "a tmpfs mount needs `target=`"))?;
                let size = get(&["size"]).and_then(|s| s.parse::<u64>().ok());
                c.mounts
                    .push(CtrMount { target: paths::resolve(&workdir, &target), source: CtrMountSource::Tmp { size } });
            }
            other => return Err(self.err(line, format!("`RUN --mount=type={other}` is not supported yet"))),
        }
        Ok(())
    }
}
