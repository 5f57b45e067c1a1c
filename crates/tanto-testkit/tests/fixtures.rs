//! The fixtures themselves: the busybox image matches the conformance suite's,
//! the registry starts, serves what we push and stops, and `tanto-fixtures`
//! works from a shell.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use tanto_testkit::{busybox_image, get_manifest, sha256_digest, Registry};

tanto_testkit::tests! {
    // test                                                prerequisites                      kind
    busybox_image_has_the_conformance_fixtures_layout:     [Busybox]                          sync;
    busybox_image_matches_fixtures_py:                     [Busybox, ConformanceFixtures]     sync;
    busybox_arm64_image_has_the_same_layout:               [Busybox, BusyboxArm64]            sync;
    registry_serves_what_we_push_and_stops:                [Registry, Busybox]                sync;
    fixtures_binary_serves_detached_and_stops:             [Registry, Busybox]                sync;
    debian_images_by_name_and_cached_blobs_reassemble:     [Busybox]                          sync;
}

fn pid_alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| s.rsplit_once(')').map(|(_, r)| r.split_whitespace().next().unwrap_or("").to_string()))
        .is_some_and(|state| state != "Z" && state != "X")
}

fn busybox_image_has_the_conformance_fixtures_layout() {
    let t = Instant::now();
    let image = busybox_image().expect("building busybox");
    eprintln!("built busybox in {:?}: layer {} bytes", t.elapsed(), image.layer.len());

    // what the image must contain
    let tar = flate2::read::GzDecoder::new(&image.layer[..]);
    let mut archive = tar::Archive::new(tar);
    let mut names = Vec::new();
    for e in archive.entries().unwrap() {
        let e = e.unwrap();
        let h = e.header();
        names.push((
            e.path().unwrap().to_string_lossy().into_owned(),
            h.mode().unwrap(),
            h.entry_type(),
            h.mtime().unwrap(),
        ));
    }
    let find = |n: &str| {
        names.iter().find(|(name, ..)| name.trim_end_matches('/') == n).unwrap_or_else(|| panic!("{n} missing"))
    };
    assert_eq!(find("tmp").1, 0o1777);
    assert_eq!(find("root").1, 0o700);
    assert_eq!(find("bin/busybox").2, tar::EntryType::Regular);
    assert_eq!(find("bin/sh").2, tar::EntryType::Symlink);
    assert!(names.iter().all(|n| n.3 == 0), "mtime 0 everywhere");
    let sorted = {
        let mut s = names.clone();
        s.sort_by(|a, b| a.0.trim_end_matches('/').cmp(b.0.trim_end_matches('/')));
        s
    };
    assert_eq!(names, sorted, "entries sorted by name");
    let config: serde_json::Value = serde_json::from_slice(&image.config).unwrap();
    assert_eq!(config["config"]["Cmd"], serde_json::json!(["sh"]));
    assert_eq!(config["history"].as_array().unwrap().len(), 1);
    assert_eq!(config["rootfs"]["diff_ids"][0], serde_json::json!(image.diff_id));
    let manifest: serde_json::Value = serde_json::from_slice(&image.manifest).unwrap();
    assert_eq!(manifest["layers"][0]["digest"], serde_json::json!(image.layer_digest()));
    assert_eq!(manifest["config"]["size"], serde_json::json!(image.config.len()));
}

/// (path, mode, entry type, data of regular files) of a gzip layer's entries.
fn entries(layer: &[u8]) -> Vec<(String, u32, tar::EntryType, Vec<u8>)> {
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(layer));
    let mut out = Vec::new();
    for e in archive.entries().unwrap() {
        let mut e = e.unwrap();
        let mut data = Vec::new();
        std::io::Read::read_to_end(&mut e, &mut data).unwrap();
        let h = e.header();
        out.push((e.path().unwrap().to_string_lossy().into_owned(), h.mode().unwrap(), h.entry_type(), data));
    }
    out
}

/// The arm64 half of the multi-platform image: the same tree with Debian's
/// arm64 busybox, and an arm64 config.
fn busybox_arm64_image_has_the_same_layout() {
    let host = busybox_image().unwrap();
    let arm64 = tanto_testkit::busybox_arm64_image().unwrap();
    let (h, a) = (entries(&host.layer), entries(&arm64.layer));
    let shape = |v: &[(String, u32, tar::EntryType, Vec<u8>)]| -> Vec<(String, u32, tar::EntryType)> {
        v.iter().map(|(p, m, t, _)| (p.clone(), *m, *t)).collect()
    };
    assert_eq!(shape(&h), shape(&a), "the same entries, modes and types");
    let busybox =
        |v: &[(String, u32, tar::EntryType, Vec<u8>)]| v.iter().find(|e| e.0 == "bin/busybox").unwrap().3.clone();
    assert_eq!(tanto_testkit::image::elf_machine(&busybox(&a)), Some(0xb7), "aarch64");
    assert_eq!(busybox(&a), std::fs::read(tanto_testkit::image::BUSYBOX_ARM64_BIN).unwrap());
    let config: serde_json::Value = serde_json::from_slice(&arm64.config).unwrap();
    assert_eq!((config["os"].as_str(), config["architecture"].as_str()), (Some("linux"), Some("arm64")));
    assert_ne!(arm64.manifest_digest(), host.manifest_digest());
}

/// The same bytes as Python's fixture (uncompressed layer and config).
fn busybox_image_matches_fixtures_py() {
    let image = busybox_image().expect("building busybox");
    let py = tanto_testkit::prereq::conformance_fixtures();
    let script = format!(
        "import sys, json, hashlib; sys.path.insert(0, {dir:?}); import fixtures as f\n\
         t = f.build_rootfs_tar(); i = f.build_busybox_image()\n\
         print(json.dumps({{'diff_id': f.sha256_digest(t), 'config': i.config_digest}}))",
        dir = py.parent().unwrap()
    );
    let out = Command::new("python3").arg("-c").arg(&script).output().expect("running python3");
    assert!(out.status.success(), "fixtures.py: {}", String::from_utf8_lossy(&out.stderr));
    let py: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(py["diff_id"], serde_json::json!(image.diff_id), "uncompressed layer differs from fixtures.py's");
    assert_eq!(py["config"], serde_json::json!(image.config_digest()), "config differs from fixtures.py's");
}

fn registry_serves_what_we_push_and_stops() {
    let dir = tempfile::tempdir().unwrap();
    let t = Instant::now();
    let reg = Registry::start(&dir.path().join("reg")).expect("starting the registry");
    eprintln!("registry ready in {:?}", t.elapsed());
    let addr = reg.address();
    let pid = reg.pid();
    assert!(pid_alive(pid));
    let image = busybox_image().unwrap();
    let t = Instant::now();
    let published = tanto_testkit::publish_busybox(&addr).unwrap();
    eprintln!("pushed in {:?}", t.elapsed());
    assert_eq!(published.manifest_digest, image.manifest_digest());
    // pushing again is fine (blobs exist)
    assert_eq!(tanto_testkit::publish_busybox(&addr).unwrap(), published);
    let index_type = "application/vnd.oci.image.index.v1+json";
    // (tag, served digest, content type): `latest` is a two-platform index when the arm64 busybox is here
    let latest = match &published.index_digest {
        Some(index) => (index.clone(), index_type),
        None => (image.manifest_digest(), "application/vnd.oci.image.manifest.v1+json"),
    };
    let cases = [("1.36", (image.manifest_digest(), "application/vnd.oci.image.manifest.v1+json")), ("latest", latest)];
    for (tag, (digest, content_type)) in cases {
        let r = get_manifest(&addr, "library/busybox", tag).unwrap();
        assert_eq!(r.status, 200);
        assert_eq!(sha256_digest(&r.body), digest, "{tag}");
        assert_eq!(r.header("content-type"), Some(content_type), "{tag}");
    }
    if tanto_testkit::prereq::Need::BusyboxArm64.missing().is_none() {
        let index: serde_json::Value =
            serde_json::from_slice(&get_manifest(&addr, "library/busybox", "latest").unwrap().body).unwrap();
        let platforms: Vec<String> = index["manifests"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| {
                format!("{}/{}", m["platform"]["os"].as_str().unwrap(), m["platform"]["architecture"].as_str().unwrap())
            })
            .collect();
        assert_eq!(platforms, [format!("linux/{}", tanto_testkit::host_arch()), "linux/arm64".to_string()]);
        let arm64 = published.arm64_manifest_digest.as_deref().unwrap();
        assert_eq!(get_manifest(&addr, "library/busybox", arm64).unwrap().status, 200);
    }
    let r = get_manifest(&addr, "library/busybox", "nosuch").unwrap();
    assert_eq!(r.status, 404);
    let blob = tanto_testkit::http::get_ok(&format!("http://{addr}/v2/library/busybox/blobs/{}", image.layer_digest()))
        .unwrap();
    assert_eq!(blob.body, image.layer);
    // a Docker schema 2 copy under another name
    let docker = image.to_docker();
    tanto_testkit::push_image(&addr, "docker/busybox", &["v2"], &docker).unwrap();
    let r = get_manifest(&addr, "docker/busybox", "v2").unwrap();
    assert_eq!(r.header("content-type"), Some("application/vnd.docker.distribution.manifest.v2+json"));

    drop(reg);
    assert!(!pid_alive(pid), "dropping the registry stops it");
    assert!(tanto_testkit::http::request(
        "GET",
        &format!("http://{addr}/v2/"),
        &[],
        &[],
        std::time::Duration::from_secs(1)
    )
    .is_err());
}

fn fixtures_binary_serves_detached_and_stops() {
    let bin = env!("CARGO_BIN_EXE_tanto-fixtures");
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("fx");
    let t = Instant::now();
    let out = Command::new(bin).args(["serve", "--dir"]).arg(&d).output().unwrap();
    eprintln!("serve took {:?}: {}", t.elapsed(), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success());
    let stdout = String::from_utf8(out.stdout).unwrap();
    let vars: std::collections::HashMap<&str, &str> = stdout.lines().filter_map(|l| l.split_once('=')).collect();
    let addr = vars["REGISTRY"].to_string();
    let pid: u32 = vars["REGISTRY_PID"].parse().unwrap();
    assert!(addr.starts_with("127.0.0.1:"));
    assert_eq!(Path::new(vars["TANTO_CONFIG"]), d.join("engine.toml"));
    let config = std::fs::read_to_string(d.join("engine.toml")).unwrap();
    assert!(config.contains(&format!("mirrors = [\"{addr}\"]")) && config.contains("http = true"), "{config}");
    // the registry outlived the command
    assert!(pid_alive(pid));
    assert_eq!(get_manifest(&addr, "library/busybox", "1.36").unwrap().status, 200);

    // a second serve reuses it
    let out = Command::new(bin)
        .args(["serve", "--dir"])
        .arg(&d)
        .arg("--engine-config")
        .arg(dir.path().join("other.toml"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains(&format!("REGISTRY={addr}")));
    assert!(dir.path().join("other.toml").exists());

    let out = Command::new(bin).args(["stop", "--dir"]).arg(&d).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // the registry was re-parented; wait until init reaps it
    let t = Instant::now();
    while pid_alive(pid) && t.elapsed().as_secs() < 5 {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(!pid_alive(pid), "stop stops it");
    assert!(!d.join("registry.pid").exists());

    let out = Command::new(bin).args(["bogus"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown command `bogus`"));
}

fn debian_images_by_name_and_cached_blobs_reassemble() {
    for image in tanto_testkit::DEBIAN_IMAGES {
        let found = tanto_testkit::DebianImage::by_name(image.name).expect("listed image by name");
        assert_eq!(found.repository(), format!("library/{}", image.name));
        // the Python ones have Python; the plain base (tanto's own image) has CA certificates
        let want = if image.name.starts_with("debian-python") { "python3" } else { "ca-certificates" };
        assert!(found.packages.contains(&want), "{}", image.name);
    }
    assert!(tanto_testkit::DebianImage::by_name("debian-nothing").is_none());
    // what `DebianImage::build` does with its cached config and layer
    let busybox = tanto_testkit::busybox_image().expect("busybox image");
    let again = tanto_testkit::Image::from_blobs(busybox.config.clone(), busybox.layer.clone()).expect("reassembling");
    assert_eq!(again, busybox);
    assert!(tanto_testkit::Image::from_blobs(b"{}".to_vec(), busybox.layer.clone()).is_err());
}
