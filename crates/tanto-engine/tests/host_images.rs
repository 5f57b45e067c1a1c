//! Host files in, artifacts and images out: real engines (in-process) against
//! a real local registry, as tables of cases.
//! What each test needs is in the table below (skipped when missing, failed
//! under CI).

use std::collections::BTreeSet;
use std::io::Read;
use std::os::unix::fs::symlink;
use std::path::Path;
use std::sync::Arc;

use serde_json::{json, Value};
use tanto_engine::Engine;
use tanto_store::upload::{upload, UploadSpec, MAX_DEPTH};

mod common;

use common::{ask, ask_err, fixture, query, Fixture};

tanto_testkit::tests! {
    // test                                               prerequisites                                        kind
    host_directories_in_and_exports_out:                  [Root, Registry, Busybox, OciRuntime]                async;
    uploads_are_incremental:                              [Root]                                               sync;
    images_out_and_back_in:                               [Root, Registry, Busybox, OciRuntime, Podman]        async;
    registry_credentials_for_publish_and_pull:            [Root, Registry, Busybox, OciRuntime, PythonBcrypt]  async;
    imports_of_skopeo_tarballs:                           [Root, Registry, Busybox, OciRuntime, Skopeo]        async;
    imports_of_bad_tarballs_and_multi_platform_publish:   [Root, Registry, Busybox, OciRuntime]                async;
}

/// An engine whose client works in `workdir`, with its state in `state`.
async fn engine(fx: &Fixture, workdir: &Path, state: &Path) -> Arc<Engine> {
    common::engine_at(fx, workdir, state).await
}

fn write(root: &Path, files: &[(&str, &str)]) {
    for (p, data) in files {
        let path = root.join(p);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, data).unwrap();
    }
}

fn gql_list(v: &[&str]) -> String {
    serde_json::to_string(v).unwrap()
}

/// Every file below `dir`, relative, sorted.
fn files_below(dir: &Path) -> BTreeSet<String> {
    fn walk(d: &Path, prefix: &str, out: &mut BTreeSet<String>) {
        for e in std::fs::read_dir(d).unwrap() {
            let e = e.unwrap();
            let name = format!("{prefix}{}", e.file_name().to_string_lossy());
            if e.file_type().unwrap().is_dir() {
                walk(&e.path(), &format!("{name}/"), out);
            } else {
                out.insert(name);
            }
        }
    }
    let mut out = BTreeSet::new();
    walk(dir, "", &mut out);
    out
}

async fn host_directories_in_and_exports_out() {
    let fx = fixture();
    let tmp = tempfile::tempdir().unwrap();
    let work = tmp.path().join("work");
    std::fs::create_dir(&work).unwrap();
    write(
        &work,
        &[
            ("src/a.txt", "a"),
            ("src/b.log", "b"),
            ("src/sub/c.txt", "c"),
            ("src/sub/d.log", "d"),
            ("src/node_modules/x.js", "x"),
            ("src/.gitignore", "*.log\nnode_modules/\n!keep.log\n"),
            ("src/keep.log", "k"),
            ("marker.toml", ""),
        ],
    );
    let e = engine(&fx, &work, &tmp.path().join("state")).await;

    // (arguments of host.directory, expected paths of the upload)
    let cases: &[(String, &[&str])] = &[
        (
            r#"path: "src""#.into(),
            &[
                ".gitignore",
                "a.txt",
                "b.log",
                "keep.log",
                "node_modules",
                "node_modules/x.js",
                "sub",
                "sub/c.txt",
                "sub/d.log",
            ],
        ),
        (
            format!(r#"path: "src", exclude: {}"#, gql_list(&["*.log", "node_modules"])),
            &[".gitignore", "a.txt", "sub", "sub/c.txt", "sub/d.log"],
        ),
        (format!(r#"path: "src", include: {}"#, gql_list(&["sub/*.txt", "a.txt"])), &["a.txt", "sub", "sub/c.txt"]),
        (
            format!(r#"path: "src", include: {}, exclude: {}"#, gql_list(&["sub"]), gql_list(&["**/*.log"])),
            &["sub", "sub/c.txt"],
        ),
        (r#"path: "src", gitignore: true"#.into(), &[".gitignore", "a.txt", "keep.log", "sub", "sub/c.txt"]),
        (format!(r#"path: "{}", exclude: {}"#, work.join("src").display(), gql_list(&["*"])), &[]),
    ];
    for (args, want) in cases {
        let got =
            ask(&e, &format!(r#"{{ host {{ directory({args}) {{ glob(pattern: "**") }} }} }}"#), "host.directory.glob")
                .await;
        let got: BTreeSet<String> = got.as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_string()).collect();
        let want: BTreeSet<String> = want.iter().map(|s| s.to_string()).collect();
        assert_eq!(got, want, "host.directory({args})");
    }

    // host.file, findUp and relative paths
    assert_eq!(
        ask(&e, r#"{ host { file(path: "src/sub/c.txt") { contents } } }"#, "host.file.contents").await,
        json!("c")
    );
    assert_eq!(ask(&e, r#"{ host { file(path: "src/sub/c.txt") { name } } }"#, "host.file.name").await, json!("c.txt"));
    assert_eq!(ask(&e, r#"{ host { findUp(name: "marker.toml") } }"#, "host.findUp").await, json!("marker.toml"));
    assert_eq!(ask(&e, r#"{ host { findUp(name: "no-such-file-anywhere.xyz") } }"#, "host.findUp").await, Value::Null);
    for (q, needle) in [
        (r#"{ host { directory(path: "nope") { entries } } }"#, "does not exist"),
        (r#"{ host { directory(path: "marker.toml") { entries } } }"#, "not a directory"),
        (r#"{ host { file(path: "src") { contents } } }"#, "is a directory"),
        (r#"{ host { file(path: "nope.txt") { contents } } }"#, "does not exist"),
    ] {
        let err = ask_err(&e, q).await;
        assert!(err.contains(needle), "{q}: {err}");
    }

    // An unchanged tree is the same object; a change makes a new one.
    let id_q = r#"{ host { directory(path: "src") { id } } }"#;
    let id1 = ask(&e, id_q, "host.directory.id").await;
    assert_eq!(ask(&e, id_q, "host.directory.id").await, id1);
    write(&work, &[("src/a.txt", "a2")]);
    let id2 = ask(&e, id_q, "host.directory.id").await;
    assert_ne!(id2, id1);
    assert_eq!(
        ask(
            &e,
            r#"{ host { directory(path: "src") { file(path: "a.txt") { contents } } } }"#,
            "host.directory.file.contents"
        )
        .await,
        json!("a2")
    );
    std::fs::remove_file(work.join("src/sub/c.txt")).unwrap();
    assert_eq!(
        ask(&e, r#"{ host { directory(path: "src") { entries(path: "sub") } } }"#, "host.directory.entries").await,
        json!(["d.log"])
    );

    // Exports: paths relative to the workdir, absolute answers, wipe.
    let out_dir = work.join("out");
    write(&out_dir, &[("stale.txt", "old")]);
    let dir_q = |wipe: bool| {
        format!(
            r#"{{ directory {{ withNewFile(path: "n/new.txt", contents: "new") {{ export(path: "out", wipe: {wipe}) }} }} }}"#
        )
    };
    assert_eq!(ask(&e, &dir_q(false), "directory.withNewFile.export").await, json!(out_dir.to_string_lossy()));
    assert_eq!(files_below(&out_dir), ["n/new.txt", "stale.txt"].iter().map(|s| s.to_string()).collect());
    ask(&e, &dir_q(true), "directory.withNewFile.export").await;
    assert_eq!(files_below(&out_dir), ["n/new.txt"].iter().map(|s| s.to_string()).collect());

    // File.export: to a path, into a directory only when allowed.
    let file_q = |path: &str, allow: bool| {
        format!(
            r#"{{ directory {{ withNewFile(path: "f.txt", contents: "F") {{ file(path: "f.txt") {{ export(path: "{path}", allowParentDirPath: {allow}) }} }} }} }}"#
        )
    };
    assert_eq!(
        ask(&e, &file_q("deep/er/g.txt", false), "directory.withNewFile.file.export").await,
        json!(work.join("deep/er/g.txt").to_string_lossy())
    );
    assert_eq!(std::fs::read_to_string(work.join("deep/er/g.txt")).unwrap(), "F");
    assert!(ask_err(&e, &file_q("deep", false)).await.contains("allowParentDirPath"));
    assert_eq!(
        ask(&e, &file_q("deep", true), "directory.withNewFile.file.export").await,
        json!(work.join("deep/f.txt").to_string_lossy())
    );

    // Exports never follow a symlink out of the target.
    let outside = tmp.path().join("outside");
    write(&outside, &[("victim.txt", "untouched")]);
    let target = work.join("target");
    std::fs::create_dir(&target).unwrap();
    symlink(&outside, target.join("link")).unwrap();
    symlink(outside.join("victim.txt"), target.join("file-link")).unwrap();
    symlink(outside.join("victim.txt"), work.join("top-link")).unwrap();
    ask(
        &e,
        r#"{ directory { withNewFile(path: "link/victim.txt", contents: "pwned") { withNewFile(path: "file-link", contents: "pwned") { export(path: "target") } } } }"#,
        "directory.withNewFile.withNewFile.export",
    )
    .await;
    ask(&e, &file_q("top-link", false), "directory.withNewFile.file.export").await;
    assert_eq!(std::fs::read_to_string(outside.join("victim.txt")).unwrap(), "untouched");
    assert_eq!(files_below(&outside), ["victim.txt"].iter().map(|s| s.to_string()).collect());
    assert_eq!(std::fs::read_to_string(target.join("link/victim.txt")).unwrap(), "pwned");
    assert!(!std::fs::symlink_metadata(work.join("top-link")).unwrap().file_type().is_symlink());
}

/// Incremental uploads, uploading right after each change and again with a
/// pause longer than the racy window (100 ms) before each upload. A file
/// modified close to the scan that recorded it is hashed again at the next
/// one, so timing decides whether unchanged files are hashed: `hashed` is
/// checked as a lower bound (the files that are new or changed size), what is
/// written and removed exactly.
fn uploads_are_incremental() {
    for pause in [std::time::Duration::ZERO, std::time::Duration::from_millis(150)] {
        incremental_uploads(pause);
    }
}

fn incremental_uploads(pause: std::time::Duration) {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    write(&src, &[("a/1.txt", "1"), ("a/2.txt", "2"), ("b/3.txt", "3"), ("top.txt", "t")]);
    // modified long enough ago that their stat is trusted
    let old = std::time::SystemTime::now() - std::time::Duration::from_secs(10);
    for p in ["a/1.txt", "a/2.txt", "b/3.txt", "top.txt"] {
        std::fs::File::options().write(true).open(src.join(p)).unwrap().set_modified(old).unwrap();
    }
    let store = tanto_store::Store::open(&tmp.path().join("state")).unwrap();
    let spec = UploadSpec { path: src.clone(), include: vec![], exclude: vec![], gitignore: false };
    let first = upload(&store, &spec).unwrap();
    assert!(first.stats.full && !first.stats.cached, "{:?}", first.stats);

    // (change, expected (hashed at least, written, removed, cached))
    type Change = Box<dyn Fn(&Path)>;
    type Expected = (usize, usize, usize, bool);
    let cases: Vec<(&str, Change, Expected)> = vec![
        ("nothing", Box::new(|_| {}), (0, 0, 0, true)),
        ("one file", Box::new(|s| std::fs::write(s.join("a/1.txt"), "one").unwrap()), (1, 1, 0, false)),
        ("one added", Box::new(|s| std::fs::write(s.join("b/new.txt"), "n").unwrap()), (1, 1, 0, false)),
        ("one removed", Box::new(|s| std::fs::remove_file(s.join("a/2.txt")).unwrap()), (0, 0, 1, false)),
        // one whiteout for `b`, none for the files in it
        ("a directory removed", Box::new(|s| std::fs::remove_dir_all(s.join("b")).unwrap()), (0, 0, 1, false)),
        // the tree of "one added" again: its snapshot is reused
        (
            "back to an earlier tree",
            Box::new(|s| write(s, &[("a/2.txt", "2"), ("b/3.txt", "3"), ("b/new.txt", "n")])),
            (3, 0, 0, true),
        ),
    ];
    let mut prev = first.vertex.key();
    for (what, change, (hashed, written, removed, cached)) in cases {
        change(&src);
        std::thread::sleep(pause);
        let up = upload(&store, &spec).unwrap();
        let s = &up.stats;
        let what = format!("{what} (pause {pause:?})");
        assert!(s.hashed >= hashed, "{what}: {s:?}");
        assert_eq!((s.written, s.removed, s.cached), (written, removed, cached), "{what}: {s:?}");
        assert!(!s.full, "{what}: {s:?}");
        assert_eq!(up.vertex.key() == prev, what.starts_with("nothing "), "{what}");
        prev = up.vertex.key();
        // the snapshot holds exactly the host tree
        let view = store.view(Some(up.snapshot), "/").unwrap();
        assert_eq!(files_below(view.path()), files_below(&src), "{what}");
        for f in files_below(&src) {
            assert_eq!(
                std::fs::read(view.path().join(&f)).unwrap(),
                std::fs::read(src.join(&f)).unwrap(),
                "{what}: {f}"
            );
        }
    }

    // Chains stay short: after MAX_DEPTH layers the next change is a full copy.
    let mut full_copies = 0;
    for i in 0..(2 * MAX_DEPTH) {
        std::fs::write(src.join("top.txt"), format!("round {i}")).unwrap();
        let up = upload(&store, &spec).unwrap();
        full_copies += up.stats.full as u32;
        let mut depth = 1;
        let mut cur = up.snapshot;
        while let Some((p, _)) = store.snapshot_parent(cur).unwrap() {
            depth += 1;
            cur = p;
        }
        assert!(depth <= MAX_DEPTH, "chain of {depth} snapshots");
        let view = store.view(Some(up.snapshot), "/").unwrap();
        assert_eq!(std::fs::read_to_string(view.path().join("top.txt")).unwrap(), format!("round {i}"));
        assert_eq!(files_below(view.path()), files_below(&src), "round {i}");
    }
    assert!(full_copies >= 1, "the chain was never squashed");
}

/// All bytes of every blob of an OCI layout tarball, layers decompressed.
fn tarball_contents(path: &Path) -> Vec<u8> {
    let mut out = Vec::new();
    let mut a = tar::Archive::new(std::fs::File::open(path).unwrap());
    for e in a.entries().unwrap() {
        let mut e = e.unwrap();
        let mut data = Vec::new();
        e.read_to_end(&mut data).unwrap();
        out.extend_from_slice(&decompressed(&data));
    }
    out
}

fn decompressed(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    if data.starts_with(&[0x1f, 0x8b]) {
        flate2::read::MultiGzDecoder::new(data).read_to_end(&mut out).unwrap();
    } else if data.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        zstd::stream::read::Decoder::new(data).unwrap().read_to_end(&mut out).unwrap();
    } else {
        out.extend_from_slice(data);
    }
    out
}

fn tar_json(path: &Path, name: &str) -> Value {
    let mut a = tar::Archive::new(std::fs::File::open(path).unwrap());
    for e in a.entries().unwrap() {
        let mut e = e.unwrap();
        if e.path().unwrap().to_string_lossy() == name {
            let mut s = String::new();
            e.read_to_string(&mut s).unwrap();
            return serde_json::from_str(&s).unwrap();
        }
    }
    panic!("{name} not in {}", path.display());
}

fn blob_name(digest: &Value) -> String {
    format!("blobs/{}", digest.as_str().unwrap().replace(':', "/"))
}

const SECRET: &str = "s3cr3t-plaintext-4f9a";

/// A busybox container with a secret env var and a secret mount, and a file.
fn secret_container(extra: &str) -> String {
    format!(
        r#"container {{ from(address: "busybox") {{ withSecretVariable(name: "TOK", secret: "SECRET_ID") {{ withMountedSecret(path: "/run/tok", source: "SECRET_ID") {{ withExec(args: ["sh", "-c", "test -n \"$TOK\" && cat /run/tok >/dev/null && echo built > /built.txt"]) {{ withEnvVariable(name: "MODE", value: "prod") {{ withWorkdir(path: "/srv") {{ withUser(name: "nobody") {{ withLabel(name: "org.test", value: "yes") {{ withExposedPort(port: 8080) {{ withEntrypoint(args: ["cat", "/built.txt"]) {{ {extra} }} }} }} }} }} }} }} }} }} }} }}"#
    )
}

async fn images_out_and_back_in() {
    let fx = fixture();
    let tmp = tempfile::tempdir().unwrap();
    let e = engine(&fx, tmp.path(), &tmp.path().join("state")).await;
    let sid =
        ask(&e, &format!(r#"{{ setSecret(name: "tok", plaintext: "{SECRET}") {{ id }} }}"#), "setSecret.id").await;
    let ctr = |extra: &str| secret_container(extra).replace("SECRET_ID", sid.as_str().unwrap());
    let answer = |v: &Value| -> Value {
        let mut cur = &v["data"];
        while let Some(obj) = cur.as_object() {
            match obj.values().next() {
                Some(next) => cur = next,
                None => break,
            }
        }
        cur.clone()
    };
    let run = |extra: String| {
        let e = e.clone();
        let q = format!("{{ {} }}", ctr(&extra));
        async move {
            let got = query(&e, &q).await;
            assert!(got.get("errors").is_none(), "{q}: {got}");
            answer(&got)
        }
    };

    // Container.export: an OCI layout (and docker manifest.json) with every blob.
    let tar_path = tmp.path().join("img.tar");
    let written = run(format!(r#"export(path: "{}")"#, tar_path.display())).await;
    assert_eq!(written, json!(tar_path.to_string_lossy()));
    let index = tar_json(&tar_path, "index.json");
    let manifest = tar_json(&tar_path, &blob_name(&index["manifests"][0]["digest"]));
    assert_eq!(manifest["mediaType"], "application/vnd.oci.image.manifest.v1+json");
    let config = tar_json(&tar_path, &blob_name(&manifest["config"]["digest"]));
    let c = &config["config"];
    assert_eq!(
        (c["Entrypoint"].clone(), c["User"].clone(), c["WorkingDir"].clone()),
        (json!(["cat", "/built.txt"]), json!("nobody"), json!("/srv"))
    );
    assert_eq!((c["Labels"]["org.test"].clone(), c["ExposedPorts"].clone()), (json!("yes"), json!({"8080/tcp": {}})));
    assert!(c["Env"].as_array().unwrap().contains(&json!("MODE=prod")), "{c}");
    assert!(!c.to_string().contains("TOK"), "secret variables are not image config: {c}");
    let layers = manifest["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 2, "busybox's layer and the exec's: {manifest}");
    assert_eq!(config["rootfs"]["diff_ids"].as_array().unwrap().len(), layers.len());
    assert_eq!(
        config["history"].as_array().unwrap().iter().filter(|h| h["empty_layer"] != json!(true)).count(),
        layers.len()
    );
    let docker = tar_json(&tar_path, "manifest.json");
    assert_eq!(docker[0]["Layers"].as_array().unwrap().len(), layers.len());

    // No secret plaintext in any blob of the exported image.
    let all = tarball_contents(&tar_path);
    assert!(!all.windows(SECRET.len()).any(|w| w == SECRET.as_bytes()), "secret found in the exported image");
    assert!(all.windows(b"built\n".len()).any(|w| w == b"built\n"), "the exec's file is in the image");

    // Forced compression and Docker media types.
    for (args, layer_type, manifest_type) in [
        (
            "forcedCompression: Zstd",
            "application/vnd.oci.image.layer.v1.tar+zstd",
            "application/vnd.oci.image.manifest.v1+json",
        ),
        (
            "forcedCompression: Uncompressed, mediaTypes: DockerMediaTypes",
            "application/vnd.docker.image.rootfs.diff.tar",
            "application/vnd.docker.distribution.manifest.v2+json",
        ),
        (
            "mediaTypes: DockerMediaTypes",
            "application/vnd.docker.image.rootfs.diff.tar.gzip",
            "application/vnd.docker.distribution.manifest.v2+json",
        ),
    ] {
        let p = tmp.path().join("variant.tar");
        run(format!(r#"export(path: "{}", {args})"#, p.display())).await;
        let index = tar_json(&p, "index.json");
        let m = tar_json(&p, &blob_name(&index["manifests"][0]["digest"]));
        assert_eq!(m["mediaType"], manifest_type, "{args}");
        for l in m["layers"].as_array().unwrap() {
            assert_eq!(l["mediaType"], layer_type, "{args}");
        }
        let cfg = tar_json(&p, &blob_name(&m["config"]["digest"]));
        assert_eq!(cfg["rootfs"]["diff_ids"], config["rootfs"]["diff_ids"], "{args}: same content, same diff_ids");
    }

    // asTarball, then import: the same filesystem and config come back.
    let imported = run(r#"asTarball { id }"#.into()).await;
    let back = format!(
        r#"{{ container {{ import(source: "{}") {{ withExec(args: [], useEntrypoint: true) {{ stdout }} }} }} }}"#,
        imported.as_str().unwrap()
    );
    assert_eq!(ask(&e, &back, "container.import.withExec.stdout").await, json!("built\n"));
    let back_user = format!(r#"{{ container {{ import(source: "{}") {{ user }} }} }}"#, imported.as_str().unwrap());
    assert_eq!(ask(&e, &back_user, "container.import.user").await, json!("nobody"));

    // Publish, pull back by digest and by tag, run the entrypoint.
    let tag = format!("{}/e2e/secret-free:v1", fx.addr);
    let published = run(format!(r#"publish(address: "{tag}")"#)).await;
    let published = published.as_str().unwrap().to_string();
    assert!(published.starts_with(&format!("{tag}@sha256:")), "{published}");
    for reference in [published.as_str(), tag.as_str()] {
        let q = format!(
            r#"{{ container {{ from(address: "{reference}") {{ withExec(args: [], useEntrypoint: true) {{ stdout }} }} }} }}"#
        );
        assert_eq!(ask(&e, &q, "container.from.withExec.stdout").await, json!("built\n"), "{reference}");
    }
    // the registry holds it under that digest, with no secret in any blob
    let digest = published.rsplit_once('@').unwrap().1;
    let m = tanto_testkit::get_manifest(&fx.addr, "e2e/secret-free", digest).unwrap();
    assert_eq!(tanto_testkit::sha256_digest(&m.body), digest);
    let manifest: Value = serde_json::from_slice(&m.body).unwrap();
    for blob in manifest["layers"].as_array().unwrap().iter().chain([&manifest["config"]]) {
        let url = format!("http://{}/v2/e2e/secret-free/blobs/{}", fx.addr, blob["digest"].as_str().unwrap());
        let data = decompressed(&tanto_testkit::http::get_ok(&url).unwrap().body);
        assert!(
            !data.windows(SECRET.len()).any(|w| w == SECRET.as_bytes()),
            "secret in published blob {}",
            blob["digest"]
        );
    }
    // publishing again is the same digest (layers are made once and reproducibly)
    assert_eq!(run(format!(r#"publish(address: "{tag}")"#)).await, json!(published));
    let err = ask_err(
        &e,
        &format!(
            r#"{{ container {{ from(address: "busybox") {{ publish(address: "{}/e2e/x@sha256:{}") }} }} }}"#,
            fx.addr,
            "a".repeat(64)
        ),
    )
    .await;
    assert!(err.contains("give a tag"), "{err}");

    // Podman (Debian's) pulls and runs what tanto published, unchanged.
    assert_eq!(podman_run(&published), "built\n");
}

/// Runs `reference`'s entrypoint with podman (ulimits as environment.md §5 says).
fn podman_run(reference: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("containers.conf");
    std::fs::write(&conf, "[containers]\ndefault_ulimits = [\"nofile=20000:20000\", \"nproc=32768:32768\"]\n").unwrap();
    let out = std::process::Command::new("podman")
        .env("CONTAINERS_CONF", &conf)
        .args([
            "--root",
            &dir.path().join("root").to_string_lossy(),
            "--runroot",
            &dir.path().join("runroot").to_string_lossy(),
        ])
        .args(["run", "--rm", "--network=none", "--tls-verify=false", reference])
        .output()
        .expect("starting podman");
    assert!(out.status.success(), "podman could not run {reference}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// docker-registry with htpasswd auth (user `tanto`, password `pw`), stopped on drop.
struct AuthRegistry {
    child: std::process::Child,
    addr: String,
    _dir: tempfile::TempDir,
}

impl Drop for AuthRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts the registry (a bcrypt hash needs python3's `crypt`: `Need::PythonBcrypt`).
fn auth_registry() -> AuthRegistry {
    let hash = std::process::Command::new("python3")
        .args(["-W", "ignore", "-c", "import crypt; print(crypt.crypt('pw', crypt.mksalt(crypt.METHOD_BLOWFISH)))"])
        .output()
        .expect("running python3 to make a bcrypt hash");
    let hash = String::from_utf8_lossy(&hash.stdout).trim().to_string();
    assert!(hash.starts_with("$2"), "python3's `crypt` made no bcrypt hash: {hash}");
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("htpasswd"), format!("tanto:{hash}\n")).unwrap();
    let port = tanto_testkit::registry::free_port().unwrap();
    let config = dir.path().join("config.yml");
    std::fs::write(
        &config,
        format!(
            "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\nauth:\n  htpasswd:\n    realm: tanto-test\n    path: {}\nhttp:\n  addr: 127.0.0.1:{port}\n",
            dir.path().join("data").display(),
            dir.path().join("htpasswd").display()
        ),
    )
    .unwrap();
    let log = std::fs::File::create(dir.path().join("log")).unwrap();
    let child = std::process::Command::new("/usr/bin/docker-registry")
        .arg("serve")
        .arg(&config)
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .expect("starting docker-registry");
    let r = AuthRegistry { child, addr: format!("127.0.0.1:{port}"), _dir: dir };
    for _ in 0..200 {
        if std::net::TcpStream::connect(&r.addr).is_ok() {
            return r;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    panic!("the htpasswd registry did not come up")
}

async fn registry_credentials_for_publish_and_pull() {
    let reg = auth_registry();
    let fx = fixture();
    let tmp = tempfile::tempdir().unwrap();
    let tag = format!("{}/private/app:v1", reg.addr);
    // `{ container { [withRegistryAuth(...) {] INNER [}] } }`
    let wrap = |auth: Option<&str>, inner: &str| match auth {
        None => format!("{{ container {{ {inner} }} }}"),
        Some(a) => format!("{{ container {{ {a} {{ {inner} }} }} }}"),
    };
    let registry_auth = |secret: &Value| {
        format!(
            r#"withRegistryAuth(address: "{}", username: "tanto", secret: "{}")"#,
            reg.addr,
            secret.as_str().unwrap()
        )
    };
    let publish = format!(
        r#"from(address: "busybox") {{ withNewFile(path: "/secret-app.txt", contents: "private") {{ publish(address: "{tag}") }} }}"#
    );

    let e = engine(&fx, tmp.path(), &tmp.path().join("state1")).await;
    // anonymous: refused, with a hint
    let err = ask_err(&e, &wrap(None, &publish)).await;
    assert!(err.contains("withRegistryAuth"), "{err}");
    // with the session's credentials (kept for the session, as Dagger does)
    let sid = ask(&e, r#"{ setSecret(name: "regpass", plaintext: "pw") { id } }"#, "setSecret.id").await;
    let published =
        ask(&e, &wrap(Some(&registry_auth(&sid)), &publish), "container.withRegistryAuth.from.withNewFile.publish")
            .await;
    let published = published.as_str().unwrap().to_string();
    assert!(published.starts_with(&format!("{tag}@sha256:")), "{published}");

    // pulling it back into a fresh state: refused without credentials...
    let pull = format!(r#"from(address: "{published}") {{ file(path: "/secret-app.txt") {{ contents }} }}"#);
    let e2 = engine(&fx, tmp.path(), &tmp.path().join("state2")).await;
    let err = ask_err(&e2, &wrap(None, &pull)).await;
    assert!(err.contains("access denied") && err.contains("withRegistryAuth"), "{err}");
    // ...fine with withRegistryAuth (resolve and blob fetches)
    let sid2 = ask(&e2, r#"{ setSecret(name: "regpass", plaintext: "pw") { id } }"#, "setSecret.id").await;
    let got =
        ask(&e2, &wrap(Some(&registry_auth(&sid2)), &pull), "container.withRegistryAuth.from.file.contents").await;
    assert_eq!(got, json!("private"));

    // ...and with docker's config.json credentials
    use base64::Engine as _;
    let docker = tmp.path().join("docker");
    std::fs::create_dir(&docker).unwrap();
    let auth = base64::engine::general_purpose::STANDARD.encode("tanto:pw");
    std::fs::write(docker.join("config.json"), format!(r#"{{"auths": {{"{}": {{"auth": "{auth}"}}}}}}"#, reg.addr))
        .unwrap();
    std::env::set_var("DOCKER_CONFIG", &docker);
    let e3 = engine(&fx, tmp.path(), &tmp.path().join("state3")).await;
    let got = query(&e3, &wrap(None, &pull)).await;
    std::env::remove_var("DOCKER_CONFIG");
    assert_eq!(got["data"]["container"]["from"]["file"]["contents"], json!("private"), "{got}");
}

/// Tarballs written by skopeo (docker save format and OCI layout) import and run.
async fn imports_of_skopeo_tarballs() {
    let fx = fixture();
    let tmp = tempfile::tempdir().unwrap();
    let e = engine(&fx, tmp.path(), &tmp.path().join("state")).await;
    for (name, dest) in [("docker.tar", "docker-archive"), ("oci.tar", "oci-archive")] {
        let path = tmp.path().join(name);
        let out = std::process::Command::new("skopeo")
            .args(["copy", "--src-tls-verify=false", &format!("docker://{}/library/busybox:1.36", fx.addr)])
            .arg(format!("{dest}:{}", path.display()))
            .output()
            .unwrap();
        assert!(out.status.success(), "skopeo: {}", String::from_utf8_lossy(&out.stderr));
        let q = format!(
            r#"{{ container {{ import(source: "FILE") {{ withExec(args: ["sh", "-c", "echo imported from {dest}"]) {{ stdout }} }} }} }}"#
        );
        let file = ask(&e, &format!(r#"{{ host {{ file(path: "{name}") {{ id }} }} }}"#), "host.file.id").await;
        let got = ask(&e, &q.replace("FILE", file.as_str().unwrap()), "container.import.withExec.stdout").await;
        assert_eq!(got, json!(format!("imported from {dest}\n")));
    }
}

async fn imports_of_bad_tarballs_and_multi_platform_publish() {
    let fx = fixture();
    let tmp = tempfile::tempdir().unwrap();
    let e = engine(&fx, tmp.path(), &tmp.path().join("state")).await;

    let err =
        ask_err(&e, r#"{ container { import(source: "FILE") { sync } } }"#.replace("FILE", "nope").as_str()).await;
    assert!(err.contains("nope"), "{err}");

    // platformVariants make an index with one manifest per platform.
    let arm = ask(
        &e,
        r#"{ container(platform: "linux/arm64") { withNewFile(path: "/arch", contents: "arm64") { id } } }"#,
        "container.withNewFile.id",
    )
    .await;
    let tag = format!("{}/e2e/multi:v1", fx.addr);
    let q = format!(
        r#"{{ container {{ withNewFile(path: "/arch", contents: "native") {{ publish(address: "{tag}", platformVariants: ["{}"]) }} }} }}"#,
        arm.as_str().unwrap()
    );
    let published = ask(&e, &q, "container.withNewFile.publish").await;
    let digest = published.as_str().unwrap().rsplit_once('@').unwrap().1.to_string();
    let index: Value =
        serde_json::from_slice(&tanto_testkit::get_manifest(&fx.addr, "e2e/multi", &digest).unwrap().body).unwrap();
    assert_eq!(index["mediaType"], "application/vnd.oci.image.index.v1+json", "{index}");
    let platforms: BTreeSet<String> = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            format!("{}/{}", m["platform"]["os"].as_str().unwrap(), m["platform"]["architecture"].as_str().unwrap())
        })
        .collect();
    let host_platform = format!("linux/{}", tanto_testkit::host_arch());
    assert_eq!(platforms, [host_platform, "linux/arm64".to_string()].into_iter().collect::<BTreeSet<_>>());
    // pulling the index picks this machine's platform
    let q = format!(r#"{{ container {{ from(address: "{tag}") {{ file(path: "/arch") {{ contents }} }} }} }}"#);
    assert_eq!(ask(&e, &q, "container.from.file.contents").await, json!("native"));
    let q = format!(
        r#"{{ container(platform: "linux/arm64") {{ from(address: "{tag}") {{ file(path: "/arch") {{ contents }} }} }} }}"#
    );
    assert_eq!(ask(&e, &q, "container.from.file.contents").await, json!("arm64"));
}
