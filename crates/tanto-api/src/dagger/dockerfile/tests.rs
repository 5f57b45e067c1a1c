//! The planner against a fake engine: which ops a Dockerfile becomes.

use std::sync::Arc;

use parking_lot::Mutex;
use serde_json::json;
use tanto_model::{BlobSource, Digest, ExecMountKind, ExecOp, FileAction, Op, Ref};

use tanto_contract::fs::{ChangeLists, EntryKind, EntryStat, ExecOutput, SearchMatch, SearchOptions};
use tanto_contract::image::{ImageOptions, ImageVariant, ResolvedImage};
use tanto_contract::{Engine, EngineError, EngineResult, Images, Refusing, Solve};

use super::super::objects::*;
use super::super::{file_op, Api, Objects};
use tanto_gql::Args;

/// Resolves any image except `missing*`; reads files from the Mkfile actions
/// of the op graph (contexts here are made of `withNewFile`s).
#[derive(Default)]
struct Fake {
    resolved: Mutex<Vec<String>>,
}

fn find_file(r: &Ref, path: &str) -> Option<String> {
    if let Op::File(f) = &r.vertex.op {
        for a in f.actions.iter().rev() {
            if let FileAction::Mkfile { path: p, data, .. } = a {
                if p == path {
                    return Some(data.clone());
                }
            }
        }
    }
    r.vertex.inputs.iter().find_map(|i| find_file(i, path))
}

fn refused<T>() -> EngineResult<T> {
    Err(EngineError::environment("fake"))
}

#[async_trait::async_trait]
impl Images for Fake {
    fn default_platform(&self) -> String {
        "linux/amd64".into()
    }
    async fn resolve_image(&self, address: &str, platform: &str) -> EngineResult<ResolvedImage> {
        if address.starts_with("missing") {
            return Err(EngineError::not_found(format!("image `{address}` not found")));
        }
        self.resolved.lock().push(address.to_string());
        Ok(ResolvedImage {
            reference: format!("{address}@sha256:00"),
            platform: platform.into(),
            config: ImageConfig { env: vec!["PATH=/bin".into()], cmd: vec!["sh".into()], ..Default::default() },
            layers: vec![(
                Digest::of(address.as_bytes()),
                BlobSource {
                    digest: Digest::of(address.as_bytes()),
                    media_type: String::new(),
                    size: 0,
                    repo: Default::default(),
                },
            )],
        })
    }
    async fn export_image(&self, _: &[ImageVariant], _: &str, _: &ImageOptions) -> EngineResult<String> {
        refused()
    }
    async fn image_tarball(&self, _: &[ImageVariant], _: &ImageOptions) -> EngineResult<(Ref, String)> {
        refused()
    }
    async fn publish(&self, _: &str, _: &[ImageVariant], _: &ImageOptions) -> EngineResult<String> {
        refused()
    }
    async fn import_image(&self, _: Option<&Ref>, _: &str, _: &str, _: &str) -> EngineResult<ResolvedImage> {
        refused()
    }
    async fn add_registry_auth(&self, _: &str, _: &str, _: &str) -> EngineResult<()> {
        refused()
    }
    fn remove_registry_auth(&self, _: &str) {}
    async fn host_container_image(&self, _: &str, _: &str) -> EngineResult<ResolvedImage> {
        refused()
    }
    async fn load_host_image(&self, _: &str, _: &[ImageVariant], _: &ImageOptions) -> EngineResult<()> {
        refused()
    }
}

#[async_trait::async_trait]
impl Solve for Fake {
    async fn sync(&self, _: &Ref) -> EngineResult<()> {
        refused()
    }
    async fn exec_output(&self, _: &Ref) -> EngineResult<ExecOutput> {
        refused()
    }
    async fn read_file(&self, root: Option<&Ref>, path: &str) -> EngineResult<Vec<u8>> {
        root.and_then(|r| find_file(r, path))
            .map(String::into_bytes)
            .ok_or_else(|| EngineError::not_found(format!("`{path}`: no such file or directory")))
    }
    async fn read_dir(&self, _: Option<&Ref>, _: &str) -> EngineResult<Vec<EntryStat>> {
        refused()
    }
    async fn stat(&self, root: Option<&Ref>, path: &str, _: bool) -> EngineResult<Option<EntryStat>> {
        Ok(root.and_then(|r| find_file(r, path)).map(|d| EntryStat {
            name: path.into(),
            kind: EntryKind::File,
            size: d.len() as u64,
            mode: 0o644,
        }))
    }
    async fn glob(&self, _: Option<&Ref>, _: &str, _: &str) -> EngineResult<Vec<String>> {
        refused()
    }
    async fn digest(&self, _: Option<&Ref>, _: &str, _: bool) -> EngineResult<String> {
        refused()
    }
    async fn changes(&self, _: Option<&Ref>, _: &str, _: Option<&Ref>, _: &str) -> EngineResult<ChangeLists> {
        refused()
    }
    async fn search(&self, _: Option<&Ref>, _: &str, _: &SearchOptions) -> EngineResult<Vec<SearchMatch>> {
        refused()
    }
    async fn run_nested(
        &self,
        _: &Ref,
        _: std::sync::Arc<dyn tanto_contract::QueryHandler>,
        _: &str,
    ) -> EngineResult<ExecOutput> {
        refused()
    }
    async fn run_terminal(&self, _: &Ref) -> EngineResult<i32> {
        refused()
    }
}

fn context(files: &[(&str, &str)]) -> DirectoryObj {
    let mut root: Option<Ref> = None;
    for (path, data) in files {
        let a = FileAction::Mkfile { path: format!("/{path}"), data: data.to_string(), mode: 0o644, owner: None };
        root = Some(file_op(root.as_ref(), a, vec![]));
    }
    DirectoryObj { root, path: "/".into() }
}

fn api() -> (Api, Arc<Fake>) {
    let fake = Arc::new(Fake::default());
    let mut engine = Engine::new(Arc::new(Refusing { message: "fake", platform: "linux/amd64" }));
    engine.images = fake.clone();
    engine.solve = fake.clone();
    (Api::new(engine, Arc::new(Objects::default())), fake)
}

async fn build(files: &[(&str, &str)], args: Args) -> Result<(ContainerObj, Vec<String>), String> {
    let (api, fake) = api();
    let c = api.docker_build(&context(files), &args).await.map_err(|e| e.to_string())?;
    let resolved = fake.resolved.lock().clone();
    Ok((c, resolved))
}

fn args() -> Args {
    Args::new("Directory", "dockerBuild")
}

/// Every exec in the graph below `r`, bottom first.
fn execs(r: &Ref) -> Vec<ExecOp> {
    let mut out = Vec::new();
    for i in &r.vertex.inputs {
        for e in execs(i) {
            if !out.iter().any(|x: &ExecOp| x.args == e.args) {
                out.push(e);
            }
        }
    }
    if let Op::Exec(e) = &r.vertex.op {
        out.push(e.clone());
    }
    out
}

fn actions(r: &Ref) -> Vec<FileAction> {
    let mut out = Vec::new();
    for i in &r.vertex.inputs {
        out.extend(actions(i));
    }
    if let Op::File(f) = &r.vertex.op {
        out.extend(f.actions.iter().cloned());
    }
    out
}

fn sh(cmd: &str) -> Vec<String> {
    vec!["/bin/sh".into(), "-c".into(), cmd.into()]
}

#[tokio::test]
async fn build_arg_run_and_cmd() {
    let df = "FROM busybox:1.36\nARG MSG\nRUN echo $MSG > /built\nCMD [\"cat\",\"/built\"]\n";
    let (c, resolved) =
        build(&[("Dockerfile", df)], args().with("buildArgs", json!([{"name": "MSG", "value": "hi"}]))).await.unwrap();
    assert_eq!(resolved, vec!["busybox:1.36"]);
    assert_eq!(c.config.cmd, vec!["cat", "/built"]);
    assert_eq!(c.config.env, vec!["PATH=/bin"], "build args stay out of the image");
    let runs = execs(c.rootfs.as_ref().unwrap());
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].args, sh("echo $MSG > /built"));
    assert_eq!(runs[0].env, vec!["PATH=/bin", "MSG=hi"], "the RUN sees the build arg");
    assert!(c.exec.is_none() && c.mounts.is_empty());
}

#[tokio::test]
async fn only_the_target_and_its_dependencies_are_planned() {
    let df = "FROM busybox:1.36 AS base\nWORKDIR /app\nCOPY greeting.txt ./\nENV GREETING_FILE=/app/greeting.txt\n\n\
              FROM base AS final\nARG SUFFIX=default\nRUN cat \"$GREETING_FILE\" > out.txt && echo \"-$SUFFIX\" >> out.txt\n\n\
              FROM missing-image AS broken\nRUN exit 1\n";
    let files = [("greeting.txt", "hi"), ("build/Custom.Dockerfile", df)];
    let (c, resolved) =
        build(&files, args().with("dockerfile", json!("build/Custom.Dockerfile")).with("target", json!("final")))
            .await
            .unwrap();
    assert_eq!(resolved, vec!["busybox:1.36"], "the broken stage's image is never resolved");
    assert_eq!(c.config.workdir, "/app");
    assert_eq!(c.config.env_get("GREETING_FILE"), Some("/app/greeting.txt"));
    let runs = execs(c.rootfs.as_ref().unwrap());
    assert_eq!(
        runs.iter().map(|e| e.args.clone()).collect::<Vec<_>>(),
        vec![sh("cat \"$GREETING_FILE\" > out.txt && echo \"-$SUFFIX\" >> out.txt")]
    );
    assert_eq!(runs[0].cwd, "/app");
    assert!(runs[0].env.contains(&"SUFFIX=default".to_string()));
    let acts = actions(c.rootfs.as_ref().unwrap());
    assert!(acts.iter().any(|a| matches!(a, FileAction::EnsureDir { path, .. } if path == "/app")), "{acts:?}");
    assert!(
        acts.iter().any(
            |a| matches!(a, FileAction::Copy { src_path, dest, .. } if src_path == "/greeting.txt" && dest == "/app/")
        ),
        "{acts:?}"
    );
}

#[tokio::test]
async fn arg_scoping_and_expansion() {
    // (build args, Dockerfile, expected env of the final image, expected RUN env additions)
    let cases: Vec<(serde_json::Value, &str, Vec<&str>)> = vec![
        // A global ARG feeds FROM; a stage must redeclare it to see it.
        (
            json!([]),
            "ARG IMG=busybox\nARG V=global\nFROM $IMG\nENV A=${V:-unset}\nARG V\nENV B=$V",
            vec!["PATH=/bin", "A=unset", "B=global"],
        ),
        // A build arg overrides both defaults.
        (
            json!([{"name": "V", "value": "cli"}]),
            "ARG V=global\nFROM busybox\nARG V=stage\nENV B=$V",
            vec!["PATH=/bin", "B=cli"],
        ),
        // ENV wins over ARG of the same name; ENV pairs see the old values.
        (
            json!([]),
            "FROM busybox\nARG X=arg\nENV X=env\nENV Y=$X X=new Z=$X",
            vec!["PATH=/bin", "X=new", "Y=env", "Z=env"],
        ),
        // Automatic platform args.
        (
            json!([]),
            "FROM busybox\nARG TARGETARCH\nENV ARCH=$TARGETARCH OS=${TARGETOS:-none}",
            vec!["PATH=/bin", "ARCH=amd64", "OS=none"],
        ),
        // Quotes, escapes and legacy ENV form.
        (
            json!([]),
            "FROM busybox\nENV A=\"two words\" B='$x' C=a\\ b\nENV D legacy value",
            vec!["PATH=/bin", "A=two words", "B=$x", "C=a b", "D=legacy value"],
        ),
    ];
    for (bargs, df, want) in cases {
        let (c, _) = build(&[("Dockerfile", df)], args().with("buildArgs", bargs))
            .await
            .unwrap_or_else(|e| panic!("{df:?}: {e}"));
        assert_eq!(c.config.env, want, "{df:?}");
    }
}

#[tokio::test]
async fn image_config_instructions() {
    let df = "FROM busybox\nLABEL a=1 \"b c\"=2\nUSER 1000:1000\nEXPOSE 80 53/udp\nVOLUME /data\nSTOPSIGNAL SIGINT\nHEALTHCHECK --interval=5s --retries=2 CMD [\"true\"]\n\
              ENTRYPOINT [\"/bin/app\"]\nSHELL [\"/bin/ash\", \"-e\", \"-c\"]\nCMD serve now\n";
    let (c, _) = build(&[("Dockerfile", df)], args()).await.unwrap();
    let cfg = &c.config;
    assert_eq!(cfg.labels.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>(), vec!["a=1", "b c=2"]);
    assert_eq!(cfg.user, "1000:1000");
    assert_eq!(
        cfg.exposed_ports.iter().map(|p| format!("{}/{}", p.port, p.protocol)).collect::<Vec<_>>(),
        vec!["80/TCP", "53/UDP"]
    );
    assert_eq!(cfg.volumes, vec!["/data"]);
    assert_eq!(cfg.stop_signal, "SIGINT");
    let h = cfg.healthcheck.clone().unwrap();
    assert_eq!((h.args, h.shell, h.interval.as_str(), h.retries), (vec!["true".to_string()], false, "5s", 2));
    assert_eq!(cfg.entrypoint, vec!["/bin/app"]);
    assert_eq!(cfg.cmd, vec!["/bin/ash", "-e", "-c", "serve now"]);

    // ENTRYPOINT resets a CMD inherited from the base image, not one set in the stage.
    let (c, _) = build(&[("Dockerfile", "FROM busybox\nENTRYPOINT [\"x\"]")], args()).await.unwrap();
    assert!(c.config.cmd.is_empty());
    let (c, _) = build(&[("Dockerfile", "FROM busybox\nCMD [\"y\"]\nENTRYPOINT [\"x\"]")], args()).await.unwrap();
    assert_eq!(c.config.cmd, vec!["y"]);
}

#[tokio::test]
async fn copy_from_stage_with_owner_and_mode() {
    let df = "FROM busybox AS build\nRUN echo x > /out\nFROM scratch\nCOPY --from=build --chown=10:20 --chmod=0750 /out /bin/\nCOPY --from=0 /out /copy2\n";
    let (c, _) = build(&[("Dockerfile", df)], args()).await.unwrap();
    let root = c.rootfs.unwrap();
    let Op::File(f) = &root.vertex.op else { panic!("{:?}", root.vertex) };
    assert_eq!(f.base, None, "scratch has no base");
    match &f.actions[..] {
        [FileAction::Copy { src: Some(0), src_path, dest, owner, mode: Some(0o750), .. }, FileAction::Copy { src: Some(1), dest: d2, .. }] =>
        {
            assert_eq!(
                (src_path.as_str(), dest.as_str(), owner.as_ref().map(|o| o.to_string()).as_deref(), d2.as_str()),
                ("/out", "/bin/", Some("10:20"), "/copy2")
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(root.vertex.inputs[0].vertex.op, Op::Exec(_)), "copied from the build stage's RUN");
    assert_eq!(root.vertex.inputs[0].vertex.key(), root.vertex.inputs[1].vertex.key(), "the stage is planned once");
}

#[tokio::test]
async fn run_heredocs_and_mounts() {
    let (api, _) = api();
    let sec = SecretObj { name: "tok".into(), uri: String::new(), identity: "set:tok".into() };
    let id = api.objects.register(&super::super::Object::Secret(sec));
    let df = "FROM busybox\nRUN <<EOF\necho one\nEOF\n\
              RUN --mount=type=secret,id=tok --mount=type=cache,target=/cache,sharing=locked --mount=type=secret,id=tok,env=TOK,target=/t cat /run/secrets/tok\n\
              RUN python3 <<'PY'\nprint(1)\nPY\nRUN --network=none true\n";
    let c = api.docker_build(&context(&[("Dockerfile", df)]), &args().with("secrets", json!([id]))).await.unwrap();
    let runs = execs(c.rootfs.as_ref().unwrap());
    assert_eq!(runs[0].args, sh("echo one\n"));
    assert_eq!(runs[1].args, sh("cat /run/secrets/tok"));
    assert_eq!(runs[1].secret_env, vec![("TOK".to_string(), "set:tok".to_string())]);
    let mounts: Vec<String> = runs[1]
        .mounts
        .iter()
        .map(|m| match &m.kind {
            ExecMountKind::Secret { secret, mode, .. } => format!("{} secret {secret} {mode:o}", m.target),
            ExecMountKind::Cache { volume, sharing, .. } => format!("{} cache {volume} {sharing}", m.target),
            other => format!("{} {other:?}", m.target),
        })
        .collect();
    assert_eq!(
        mounts,
        vec!["/run/secrets/tok secret set:tok 400", "/cache cache /cache LOCKED", "/t secret set:tok 400"]
    );
    assert_eq!(runs[2].args, sh("python3 <<'PY'\nprint(1)\nPY"));
    assert!(runs[2].mounts.is_empty(), "mounts last for one RUN");
    assert_eq!((runs[2].no_network, runs[3].no_network), (false, true));
}

#[tokio::test]
async fn dockerignore_filters_the_context() {
    let files =
        [("Dockerfile", "FROM busybox\nCOPY . /src/\n"), (".dockerignore", "# comment\n*.log\n/tmp\n!keep.log\n")];
    let (c, _) = build(&files, args()).await.unwrap();
    let root = c.rootfs.unwrap();
    let Op::File(f) = &root.vertex.op else { panic!() };
    let ctx = &root.vertex.inputs[f.actions.len()];
    let Op::File(filter) = &ctx.vertex.op else { panic!("{:?}", ctx.vertex) };
    match &filter.actions[..] {
        [FileAction::Copy { exclude, dest, .. }] => {
            assert_eq!(dest, "/");
            assert_eq!(exclude, &vec!["*.log".to_string(), "tmp".into(), "!keep.log".into()]);
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn error_cases() {
    type Files<'a> = &'a [(&'a str, &'a str)];
    let cases: Vec<(Files, Args, &str)> = vec![
        (&[], args(), "cannot read the Dockerfile `Dockerfile` in the build context"),
        (
            &[("Dockerfile", "FROM a AS one\nFROM b AS two")],
            args().with("target", json!("three")),
            "target stage `three` is not in dockerfile `Dockerfile`: its named stages are one, two",
        ),
        (
            &[("Dockerfile", "FROM busybox\nBOGUS x")],
            args(),
            "dockerfile `Dockerfile` line 2: unknown instruction `BOGUS`",
        ),
        (&[("Dockerfile", "FROM missing-x")], args(), "dockerfile `Dockerfile` line 1: image `missing-x` not found"),
        (
            &[("Dockerfile", "FROM busybox\nRUN --mount=type=secret,id=nope,required cat")],
            args(),
            "line 2: secret `nope` is required but was not passed",
        ),
        (
            &[("Dockerfile", "FROM busybox\nCOPY a b /notdir")],
            args(),
            "line 2: COPY with more than one source needs a destination directory",
        ),
        (&[("Dockerfile", "FROM busybox\nADD https://example.com/x /x")], args(), "line 2: fake"),
        (
            &[("Dockerfile", "FROM busybox\nCOPY https://example.com/x /x")],
            args(),
            "line 2: COPY of `https://example.com/x` is not supported: use ADD for URLs",
        ),
        (
            &[("Dockerfile", "FROM busybox\nADD https://example.com/r.git /x")],
            args(),
            "line 2: ADD of `https://example.com/r.git` is not supported: add git sources",
        ),
        (&[("Dockerfile", "FROM busybox\nENV A=${B")], args(), "line 2: syntax error: missing '}'"),
        (
            &[("Dockerfile", "FROM busybox AS a\nCOPY --from=a /x /y")],
            args(),
            "line 2: `--from=a` refers to the stage it is in",
        ),
    ];
    for (files, a, want) in cases {
        let got = build(files, a).await.map(|_| ()).unwrap_err();
        assert!(got.contains(want), "want {want:?}, got {got:?}");
    }
}

#[tokio::test]
async fn add_unpacks_local_sources_and_downloads_urls() {
    const SUM: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
    let df = format!("FROM scratch\nADD app.tar.gz /opt/\nADD --checksum=sha256:{SUM} https://example.com/dl/tool?x=1 /bin/\nADD *.txt /txt/\n");
    let (c, _) = build(&[("Dockerfile", &df), ("app.tar.gz", "x"), ("a.txt", "a")], args()).await.unwrap();
    let root = c.rootfs.unwrap();
    let Op::File(f) = &root.vertex.op else { panic!() };
    match &f.actions[..] {
        [FileAction::Unpack { src_path, dest, .. }, FileAction::Copy { src: Some(i), src_path: dl, dest: d2, .. }, FileAction::Copy { include, dest: d3, .. }] =>
        {
            assert_eq!((src_path.as_str(), dest.as_str()), ("/app.tar.gz", "/opt/"));
            assert_eq!((dl.as_str(), d2.as_str()), ("/tool", "/bin/"));
            match &root.vertex.inputs[*i as usize].vertex.op {
                Op::Http(h) => {
                    assert_eq!(
                        (h.digest.to_string(), h.name.as_str(), h.permissions),
                        (format!("sha256:{SUM}"), "tool", 0o600)
                    )
                }
                other => panic!("{other:?}"),
            }
            assert_eq!((include.clone(), d3.as_str()), (vec!["*.txt".to_string()], "/txt/"));
        }
        other => panic!("{other:?}"),
    }
}
