//! `Registry::resolve` / `fetch_blob` and `apply_layer` against a real local
//! registry (Debian's docker-registry, started by tanto-testkit), plus a
//! scripted fake registry for the auth paths. The tests with the real registry
//! need /usr/bin/docker-registry (skipped without it, failed under CI).

#![allow(clippy::type_complexity)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use tanto_oci::config::EngineConfig;
use tanto_oci::registry::{BlobRepo, Credential, Registry, RegistryAuth};
use tanto_oci::{apply_layer, ImageRef, Platform};
use tanto_testkit::Image;

tanto_testkit::tests! {
    // test                                prerequisites          kind
    resolve_table:                         [Registry, Busybox]    async;
    resolve_errors_table:                  [Registry, Busybox]    async;
    fetch_and_apply_busybox:               [Registry, Busybox]    async;
    fetch_blob_errors_leave_nothing:       [Registry, Busybox]    async;
    bearer_token_flow_and_cache:           []                     async;
    basic_auth_and_unauthorized_errors:    []                     async;
}

struct Fixture {
    _registry: tanto_testkit::Registry,
    addr: String,
    busybox: Image,
    multi_index_digest: String,
    other_arch: Image,
    published: tanto_testkit::PublishedBusybox,
}

/// One registry for the whole test binary (it dies with the process).
fn fixture() -> &'static Fixture {
    static FX: OnceLock<Fixture> = OnceLock::new();
    FX.get_or_init(|| {
        let dir = Box::leak(Box::new(tempfile::tempdir().unwrap()));
        let registry = tanto_testkit::Registry::start(&dir.path().join("registry")).expect("starting docker-registry");
        let addr = registry.address();
        let busybox = tanto_testkit::busybox_image().expect("building busybox");
        let published = tanto_testkit::publish_busybox(&addr).expect("pushing busybox");
        tanto_testkit::push_image(&addr, "docker/busybox", &["v2"], &busybox.to_docker()).unwrap();
        // a two-platform index: the host's and another architecture
        let other = if tanto_testkit::host_arch() == "arm64" { "amd64" } else { "arm64" };
        let other_arch = busybox.with_architecture(other).unwrap();
        tanto_testkit::push_image(&addr, "multi/busybox", &[], &busybox).unwrap();
        tanto_testkit::push_image(&addr, "multi/busybox", &[], &other_arch).unwrap();
        let index = tanto_testkit::image_index(&[
            (&other_arch, "linux", other, if other == "arm64" { Some("v8") } else { None }),
            (&busybox, "linux", tanto_testkit::host_arch(), None),
        ]);
        let multi_index_digest = tanto_testkit::push_manifest(
            &addr,
            "multi/busybox",
            "latest",
            "application/vnd.oci.image.index.v1+json",
            &index,
        )
        .unwrap();
        Fixture { _registry: registry, addr, busybox, multi_index_digest, other_arch, published }
    })
}

/// A registry client; `mirror` makes docker.io go to the local registry.
fn client(fx: &Fixture, mirror: bool) -> Registry {
    let text = if mirror {
        tanto_testkit::engine_config(&fx.addr)
    } else {
        format!("[registry.\"{}\"]\nhttp = true\n", fx.addr)
    };
    Registry::new(Arc::new(EngineConfig::from_toml_str(&text).unwrap()))
}

fn host() -> Platform {
    Platform::host()
}

async fn resolve_table() {
    let fx = fixture();
    let a = &fx.addr;
    let bb = &fx.busybox;
    // `latest` is a two-platform index when the arm64 busybox is here
    let latest = fx.published.index_digest.clone();
    // (reference, through the docker.io mirror?, expected manifest digest, expected index digest, source host)
    let cases: Vec<(String, bool, String, Option<String>, String)> = vec![
        (format!("{a}/library/busybox:1.36"), false, bb.manifest_digest(), None, a.clone()),
        (format!("{a}/library/busybox"), false, bb.manifest_digest(), latest.clone(), a.clone()),
        (format!("{a}/library/busybox@{}", bb.manifest_digest()), false, bb.manifest_digest(), None, a.clone()),
        (format!("{a}/library/busybox:1.36@{}", bb.manifest_digest()), false, bb.manifest_digest(), None, a.clone()),
        ("busybox:1.36".into(), true, bb.manifest_digest(), None, a.clone()),
        ("busybox".into(), true, bb.manifest_digest(), latest.clone(), a.clone()),
        ("docker.io/library/busybox:latest".into(), true, bb.manifest_digest(), latest.clone(), a.clone()),
        (format!("busybox@{}", bb.manifest_digest()), true, bb.manifest_digest(), None, a.clone()),
        (format!("{a}/docker/busybox:v2"), false, bb.to_docker().manifest_digest(), None, a.clone()),
        (format!("{a}/multi/busybox"), false, bb.manifest_digest(), Some(fx.multi_index_digest.clone()), a.clone()),
        (
            format!("{a}/multi/busybox@{}", fx.multi_index_digest),
            false,
            bb.manifest_digest(),
            Some(fx.multi_index_digest.clone()),
            a.clone(),
        ),
    ];
    for (reference, mirror, manifest_digest, index_digest, source_host) in cases {
        let r = ImageRef::parse(&reference).unwrap();
        let t = Instant::now();
        let img = client(fx, mirror).resolve(&r, &host()).await.unwrap_or_else(|e| panic!("{reference}: {e}"));
        eprintln!("resolved {reference} in {:?}", t.elapsed());
        assert_eq!(img.manifest_digest, manifest_digest, "{reference}");
        assert_eq!(img.index_digest, index_digest, "{reference}");
        assert_eq!(
            img.source,
            BlobRepo { host: source_host, repository: r.repository().into(), http: true },
            "{reference}"
        );
        assert_eq!(img.config_digest, bb.config_digest(), "{reference}");
        assert_eq!(img.config_bytes, bb.config, "{reference}");
        assert_eq!(img.layers.len(), 1, "{reference}");
        assert_eq!(img.layers[0].size, bb.layer.len() as u64, "{reference}");
        assert_eq!(img.diff_ids(), std::slice::from_ref(&bb.diff_id), "{reference}");
        assert_eq!(img.image_config.config.cmd.as_deref(), Some(&["sh".to_string()][..]), "{reference}");
        assert_eq!(img.config.config().as_ref().unwrap().cmd().as_ref().unwrap()[0], "sh");
        assert_eq!(img.reference, r);
    }

    // the index's other platform
    let other =
        Platform::parse(&format!("linux/{}", if tanto_testkit::host_arch() == "arm64" { "amd64" } else { "arm64" }))
            .unwrap();
    let img =
        client(fx, false).resolve(&ImageRef::parse(&format!("{a}/multi/busybox")).unwrap(), &other).await.unwrap();
    assert_eq!(img.manifest_digest, fx.other_arch.manifest_digest());
    assert_eq!(img.image_config.platform().architecture, other.architecture);
    assert_eq!(img.pinned().digest(), Some(fx.multi_index_digest.as_str()));
}

async fn resolve_errors_table() {
    let fx = fixture();
    let a = &fx.addr;
    let down = format!("127.0.0.1:{}", tanto_testkit::registry::free_port().unwrap());
    let zero = format!("sha256:{}", "0".repeat(64));
    let other_platform = if tanto_testkit::host_arch() == "arm64" { "linux/amd64" } else { "linux/arm64" };
    // (reference, mirror?, platform, classification, fragments the message must contain)
    #[derive(Debug, PartialEq)]
    enum Kind {
        NotFound,
        Unreachable,
        Other,
    }
    let cases: Vec<(String, bool, &str, Kind, Vec<String>)> = vec![
        (
            format!("{a}/library/busybox:nosuch"),
            false,
            "",
            Kind::NotFound,
            vec![format!("`{a}/library/busybox:nosuch` not found: {a} says manifest unknown")],
        ),
        (
            "busybox:nosuch".into(),
            true,
            "",
            Kind::NotFound,
            vec![format!(
                "`docker.io/library/busybox:nosuch` not found: mirror {a} says manifest unknown; registry-1.docker.io unreachable: "
            )],
        ),
        (
            format!("{a}/nosuch/repo:1"),
            false,
            "",
            Kind::NotFound,
            vec![format!("`{a}/nosuch/repo:1` not found: {a} says ")],
        ),
        (format!("{a}/library/busybox@{zero}"), false, "", Kind::NotFound, vec![format!("`{a}/library/busybox@{zero}` not found")]),
        (
            format!("{down}/library/busybox:1.36"),
            false,
            "",
            Kind::Unreachable,
            vec![format!("cannot pull `{down}/library/busybox:1.36`"), format!("{down} unreachable"), "Connection refused".into()],
        ),
        (
            format!("{a}/multi/busybox"),
            false,
            "linux/s390x",
            Kind::Other,
            vec![format!("`{a}/multi/busybox:latest` has no image for platform `linux/s390x`"), "linux/amd64".into()],
        ),
        (
            // a single image for another CPU: refused, naming the platform it has
            format!("{a}/library/busybox:1.36"),
            false,
            other_platform,
            Kind::Other,
            vec![format!(
                "`{a}/library/busybox:1.36` has no image for platform `{}` (it has: linux/{}); choose one of those platforms",
                Platform::parse(other_platform).unwrap(),
                tanto_testkit::host_arch()
            )],
        ),
    ];
    for (reference, mirror, platform, kind, fragments) in cases {
        let r = ImageRef::parse(&reference).unwrap();
        let p = if platform.is_empty() { host() } else { Platform::parse(platform).unwrap() };
        let t = Instant::now();
        let err = client(fx, mirror).resolve(&r, &p).await.err().unwrap_or_else(|| panic!("{reference} should fail"));
        let msg = err.to_string();
        eprintln!("{reference} failed in {:?}: {msg}", t.elapsed());
        let got = if err.is_not_found() {
            Kind::NotFound
        } else if err.is_unreachable() {
            Kind::Unreachable
        } else {
            Kind::Other
        };
        assert_eq!(got, kind, "{reference}: {msg}");
        for f in fragments {
            assert!(msg.contains(&f), "{reference}: {msg:?} should contain {f:?}");
        }
    }

    // invalid references never reach a registry
    let err = ImageRef::parse("invalid!!ref").unwrap_err();
    assert!(err.to_string().starts_with("invalid image reference `invalid!!ref`"), "{err}");
    let err: tanto_oci::OciError = err.into();
    assert_eq!(tanto_model::Tiered::tier(&err), tanto_model::Tier::Input);
}

async fn fetch_and_apply_busybox() {
    let fx = fixture();
    let dir = tempfile::tempdir().unwrap();
    let reg = client(fx, true);

    let t0 = Instant::now();
    let img = reg.resolve(&ImageRef::parse("busybox:1.36").unwrap(), &host()).await.unwrap();
    let t_resolve = t0.elapsed();
    let layer = &img.layers[0];
    let blob = dir.path().join("blobs/sha256").join(layer.digest.trim_start_matches("sha256:"));
    let t1 = Instant::now();
    reg.fetch_blob(&img.source, &layer.digest, Some(layer.size), &blob).await.unwrap();
    let t_fetch = t1.elapsed();
    assert_eq!(std::fs::read(&blob).unwrap(), fx.busybox.layer);
    let leftovers: Vec<_> =
        std::fs::read_dir(blob.parent().unwrap()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(leftovers.len(), 1, "no temp files left: {leftovers:?}");

    let root = dir.path().join("rootfs");
    std::fs::create_dir(&root).unwrap();
    let t2 = Instant::now();
    let (blob2, mt, root2) = (blob.clone(), layer.media_type.clone(), root.clone());
    let stats = tokio::task::spawn_blocking(move || apply_layer(&blob2, &mt, &root2, &[])).await.unwrap().unwrap();
    let t_apply = t2.elapsed();
    eprintln!(
        "busybox: resolve {t_resolve:?}, fetch {t_fetch:?} ({} bytes), apply {t_apply:?} ({} entries, {} bytes), total {:?}",
        layer.size,
        stats.files,
        stats.bytes,
        t0.elapsed()
    );
    assert_eq!(stats.diff_id, img.diff_ids()[0]);
    assert_eq!(std::fs::read_link(root.join("bin/sh")).unwrap(), Path::new("busybox"));
    assert!(std::fs::metadata(root.join("bin/sh")).unwrap().is_file(), "bin/sh resolves to busybox");
    let tmp = std::fs::metadata(root.join("tmp")).unwrap();
    assert_eq!(tmp.permissions().mode() & 0o7777, 0o1777);
    assert_eq!(std::fs::metadata(root.join("root")).unwrap().permissions().mode() & 0o7777, 0o700);
    let bb = std::fs::metadata(root.join("bin/busybox")).unwrap();
    assert_eq!((bb.permissions().mode() & 0o7777, bb.uid(), bb.mtime()), (0o755, 0, 0));
    assert!(std::fs::read_to_string(root.join("etc/passwd")).unwrap().contains("nobody:x:65534:65534"));

    // the config blob, into memory
    let cfg = reg.fetch_blob_bytes(&img.source, &img.config_digest, 1 << 20, &RegistryAuth::anonymous()).await.unwrap();
    assert_eq!(cfg, img.config_bytes);

    // fetching again replaces atomically
    reg.fetch_blob(&img.source, &layer.digest, None, &blob).await.unwrap();
}

async fn fetch_blob_errors_leave_nothing() {
    let fx = fixture();
    let dir = tempfile::tempdir().unwrap();
    let reg = client(fx, false);
    let src = BlobRepo { host: fx.addr.clone(), repository: "library/busybox".into(), http: true };
    let layer_digest = fx.busybox.layer_digest();
    let missing = format!("sha256:{}", "1".repeat(64));
    // (digest, size, fragments)
    let cases: Vec<(&str, Option<u64>, Vec<&str>)> = vec![
        (&missing, None, vec!["cannot fetch blob", "says blob unknown", "push the image again"]),
        (&layer_digest, Some(10), vec!["where the manifest says 10"]),
        ("md5:abc", None, vec!["not a sha256 digest"]),
    ];
    for (digest, size, fragments) in cases {
        let dest = dir.path().join("blob");
        let err =
            reg.fetch_blob(&src, digest, size, &dest).await.err().unwrap_or_else(|| panic!("{digest} should fail"));
        let msg = err.to_string();
        for f in fragments {
            assert!(msg.contains(f), "{digest}: {msg:?} should contain {f:?}");
        }
        let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert!(left.is_empty(), "{digest}: nothing may be left behind: {left:?}");
    }
    // content that does not match the digest: serve the config under the layer's name
    // (a fake registry, since docker-registry checks what it stores)
    let fake = FakeRegistry::start(|_req| (200, vec![], b"not the layer".to_vec()));
    let src = BlobRepo { host: fake.addr.clone(), repository: "x/y".into(), http: true };
    let err = reg.fetch_blob(&src, &layer_digest, None, &dir.path().join("blob")).await.unwrap_err();
    assert!(err.to_string().contains("the download was corrupted"), "{err}");
    assert!(std::fs::read_dir(dir.path()).unwrap().next().is_none());
}

// ---------------------------------------------------------------------------
// a scripted fake registry for auth

struct Req {
    path: String,
    headers: HashMap<String, String>,
}

type Handler = dyn Fn(&Req) -> (u16, Vec<(String, String)>, Vec<u8>) + Send + Sync;

struct FakeRegistry {
    addr: String,
    hits: Arc<AtomicUsize>,
}

impl FakeRegistry {
    fn start(handler: impl Fn(&Req) -> (u16, Vec<(String, String)>, Vec<u8>) + Send + Sync + 'static) -> FakeRegistry {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let handler: Arc<Handler> = Arc::new(handler);
        let hits = Arc::new(AtomicUsize::new(0));
        let h2 = hits.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let handler = handler.clone();
                let hits = h2.clone();
                std::thread::spawn(move || {
                    let mut reader = BufReader::new(stream.try_clone().unwrap());
                    loop {
                        let mut line = String::new();
                        if reader.read_line(&mut line).unwrap_or(0) == 0 {
                            return;
                        }
                        let path = line.split_whitespace().nth(1).unwrap_or("/").to_string();
                        let mut headers = HashMap::new();
                        loop {
                            let mut l = String::new();
                            reader.read_line(&mut l).unwrap();
                            let l = l.trim_end();
                            if l.is_empty() {
                                break;
                            }
                            if let Some((k, v)) = l.split_once(':') {
                                headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
                            }
                        }
                        hits.fetch_add(1, Ordering::SeqCst);
                        let (status, hdrs, body) = handler(&Req { path, headers });
                        let mut out = format!("HTTP/1.1 {status} X\r\nContent-Length: {}\r\n", body.len());
                        for (k, v) in hdrs {
                            out.push_str(&format!("{k}: {v}\r\n"));
                        }
                        out.push_str("\r\n");
                        let mut bytes = out.into_bytes();
                        bytes.extend_from_slice(&body);
                        if stream.write_all(&bytes).is_err() {
                            return;
                        }
                    }
                });
            }
        });
        FakeRegistry { addr, hits }
    }
}

fn json_error(code: &str, message: &str) -> Vec<u8> {
    format!(r#"{{"errors":[{{"code":"{code}","message":"{message}"}}]}}"#).into_bytes()
}

async fn bearer_token_flow_and_cache() {
    let tokens = Arc::new(AtomicUsize::new(0));
    let t2 = tokens.clone();
    let realm = Arc::new(OnceLock::<String>::new());
    let r2 = realm.clone();
    let fake = FakeRegistry::start(move |req| {
        if req.path.starts_with("/token?") {
            t2.fetch_add(1, Ordering::SeqCst);
            assert!(req.path.contains("scope=repository%3Alib%2Fimg%3Apull"), "{}", req.path);
            assert!(req.path.contains("service=fake"), "{}", req.path);
            return (200, vec![], br#"{"token":"T0K","expires_in":300}"#.to_vec());
        }
        if req.headers.get("authorization").map(String::as_str) == Some("Bearer T0K") {
            return (404, vec![], json_error("MANIFEST_UNKNOWN", "manifest unknown"));
        }
        let challenge =
            format!(r#"Bearer realm="{}",service="fake",scope="repository:lib/img:pull""#, r2.get().unwrap());
        (401, vec![("WWW-Authenticate".into(), challenge)], json_error("UNAUTHORIZED", "authentication required"))
    });
    realm.set(format!("http://{}/token", fake.addr)).unwrap();
    let reg = Registry::new(Arc::new(EngineConfig::default()));
    let r = ImageRef::parse(&format!("{}/lib/img:1", fake.addr)).unwrap();
    for _ in 0..3 {
        let err = reg.resolve(&r, &host()).await.unwrap_err();
        // the token got us past the 401: the fake says the tag is unknown
        assert!(err.is_not_found(), "{err}");
    }
    assert_eq!(tokens.load(Ordering::SeqCst), 1, "the token is cached");
    // 1st: 401 + token + retry; then one request each
    assert_eq!(fake.hits.load(Ordering::SeqCst), 3 + 2);
}

async fn basic_auth_and_unauthorized_errors() {
    let fake = FakeRegistry::start(|req| match req.headers.get("authorization").map(String::as_str) {
        Some("Basic dTpw") => (404, vec![], json_error("MANIFEST_UNKNOWN", "manifest unknown")),
        _ => (
            401,
            vec![("WWW-Authenticate".into(), r#"Basic realm="Registry Realm""#.into())],
            json_error("UNAUTHORIZED", "authentication required"),
        ),
    });
    let reg = Registry::new(Arc::new(EngineConfig::default()));
    let r = ImageRef::parse(&format!("{}/private/img:1", fake.addr)).unwrap();

    let err = reg.resolve(&r, &host()).await.unwrap_err();
    let msg = err.to_string();
    assert!(err.is_unauthorized(), "{msg}");
    for f in [
        format!("cannot pull `{r}`"),
        "access denied".into(),
        "withRegistryAuth".into(),
        "docker login".into(),
        fake.addr.clone(),
    ] {
        assert!(msg.contains(&f), "{msg:?} should contain {f:?}");
    }

    let auth =
        RegistryAuth::anonymous().with(&fake.addr, Credential::Basic { username: "u".into(), password: "p".into() });
    let err = reg.resolve_with_auth(&r, &host(), &auth).await.unwrap_err();
    assert!(err.is_not_found(), "with credentials we get past the 401: {err}");

    let wrong = RegistryAuth::anonymous()
        .with(&fake.addr, Credential::Basic { username: "u".into(), password: "wrong".into() });
    let err = reg.resolve_with_auth(&r, &host(), &wrong).await.unwrap_err();
    assert!(err.is_unauthorized(), "{err}");
    assert!(!format!("{err:?}{err}").contains("wrong"), "secrets never appear in errors");
}

/// The engine runs these on a multi-threaded runtime: the futures must be `Send`.
#[allow(dead_code)]
fn futures_are_send(reg: &Registry, r: &ImageRef, p: &Platform, src: &BlobRepo, dest: &Path) {
    fn is_send<T: Send>(_: &T) {}
    is_send(&reg.resolve(r, p));
    is_send(&reg.fetch_blob(src, "sha256:x", None, dest));
    fn is_clone_sync<T: Clone + Send + Sync + 'static>() {}
    is_clone_sync::<Registry>();
}
