//! Images as registries serve them, pulled by a real engine from a real
//! registry and run in real containers: layers over layers (implied parent
//! directories keep what the layers below have, hard links to files of lower
//! layers), and platforms — other CPUs' images run through QEMU (binfmt_misc),
//! an image without the platform asked for is refused naming the ones it has,
//! and multi-platform images go out (publish, export) and come back per platform.

use std::path::Path;

use serde_json::{json, Value};
use tanto_testkit::image::{gzip, PyTar};
use tanto_testkit::{push_blob, push_manifest, sha256_digest, Image};

mod common;

use common::{ask, ask_err, engine, engine_at, fixture};

tanto_testkit::tests! {
    // test                                                prerequisites                                                  kind
    layers_keep_lower_directories_and_link_lower_files:    [Root, Registry, Busybox, OciRuntime]                          async;
    platforms_run_for_real_or_fail_naming_what_is_there:   [Root, Registry, Busybox, BusyboxArm64, QemuArm64, OciRuntime] async;
    two_real_platforms_publish_export_and_come_back:       [Root, Registry, Busybox, BusyboxArm64, QemuArm64, OciRuntime] async;
}

/// `uname -m` of this machine.
fn host_machine() -> String {
    String::from_utf8(std::process::Command::new("uname").arg("-m").output().unwrap().stdout).unwrap()
}

async fn platforms_run_for_real_or_fail_naming_what_is_there() {
    let fx = fixture();
    let state = tempfile::tempdir().unwrap();
    let e = engine(&fx, state.path()).await;
    let host = format!("linux/{}", tanto_testkit::host_arch());
    let arm64 = "linux/arm64/v8";

    // (platform, image, what `uname -m` prints, or what the error says)
    let cases: Vec<(&str, &str, Result<String, String>)> = vec![
        (&host, "busybox", Ok(host_machine())),
        ("linux/arm64", "busybox", Ok("aarch64\n".into())),
        ("linux/arm64/v8", "busybox:latest", Ok("aarch64\n".into())),
        (
            "linux/arm64",
            "busybox:1.36",
            Err(format!("`docker.io/library/busybox:1.36` has no image for platform `{arm64}` (it has: {host})")),
        ),
        (
            "linux/s390x",
            "busybox",
            Err(format!(
                "`docker.io/library/busybox:latest` has no image for platform `linux/s390x` (it has: {host}, {arm64})"
            )),
        ),
    ];
    for (platform, image, want) in cases {
        let q = format!(
            r#"{{ container(platform: "{platform}") {{ from(address: "{image}") {{ withExec(args: ["uname", "-m"]) {{ stdout }} }} }} }}"#
        );
        match want {
            Ok(machine) => {
                assert_eq!(ask(&e, &q, "container.from.withExec.stdout").await, json!(machine), "{platform} {image}")
            }
            Err(fragment) => {
                let err = ask_err(&e, &q).await;
                assert!(err.contains(&fragment), "{platform} {image}: {err}");
            }
        }
    }
    // the container knows its platform; its binaries are the platform's
    let q = r#"{ container(platform: "linux/arm64") { from(address: "busybox") { platform file(path: "/bin/busybox") { size } } } }"#;
    let got = ask(&e, q, "container.from").await;
    assert_eq!(got["platform"], json!(arm64));
    let arm64_busybox = std::fs::metadata(tanto_testkit::image::BUSYBOX_ARM64_BIN).unwrap().len();
    assert_eq!(got["file"]["size"], json!(arm64_busybox));

    // a platform nothing here runs: a clear error when it would run, not before
    let q = r#"{ container(platform: "linux/sparc64") { withNewFile(path: "/x", contents: "x") { withExec(args: ["/x"]) { stdout } } } }"#;
    let err = ask_err(&e, q).await;
    assert!(
        err.contains("cannot run `linux/sparc64` containers on this")
            && err.contains("tanto knows no QEMU emulator for the `sparc64` architecture"),
        "{err}"
    );
}

async fn two_real_platforms_publish_export_and_come_back() {
    let fx = fixture();
    let tmp = tempfile::tempdir().unwrap();
    let work = tmp.path().join("work");
    std::fs::create_dir(&work).unwrap();
    let e = engine_at(&fx, &work, &tmp.path().join("state")).await;
    let host = format!("linux/{}", tanto_testkit::host_arch());

    // each platform's container records what its CPU says it is
    let variant = |platform: &str| {
        format!(
            r#"container(platform: "{platform}") {{ from(address: "busybox") {{ withExec(args: ["sh", "-c", "uname -m > /built-on"]) {{ id }} }} }}"#
        )
    };
    let arm = ask(&e, &format!("{{ {} }}", variant("linux/arm64")), "container.from.withExec.id").await;
    let arm = arm.as_str().unwrap();
    let tag = format!("{}/tanto/two-platforms:v1", fx.addr);
    let published = ask(
        &e,
        &format!(
            r#"{{ {} }}"#,
            variant(&host)
                .replace("{ id }", &format!(r#"{{ publish(address: "{tag}", platformVariants: ["{arm}"]) }}"#))
        ),
        "container.from.withExec.publish",
    )
    .await;
    let digest = published.as_str().unwrap().rsplit_once('@').unwrap().1.to_string();
    let index: Value =
        serde_json::from_slice(&tanto_testkit::get_manifest(&fx.addr, "tanto/two-platforms", &digest).unwrap().body)
            .unwrap();
    let platforms: Vec<String> = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            format!("{}/{}", m["platform"]["os"].as_str().unwrap(), m["platform"]["architecture"].as_str().unwrap())
        })
        .collect();
    assert_eq!(platforms, [host.clone(), "linux/arm64".into()], "{index}");

    // the same two variants exported as an OCI tarball
    let exported = ask(
        &e,
        &format!(
            r#"{{ {} }}"#,
            variant(&host).replace("{ id }", &format!(r#"{{ export(path: "two.tar", platformVariants: ["{arm}"]) }}"#))
        ),
        "container.from.withExec.export",
    )
    .await;
    assert!(exported.as_str().unwrap().ends_with("two.tar"), "{exported}");

    // pulled back per platform (published, and imported from the tarball),
    // each runs on its CPU and was built on it
    let from_registry = format!(r#"from(address: "{tag}")"#);
    let from_tarball = r#"import(source: HOST_FILE)"#.to_string();
    let tarball = ask(&e, r#"{ host { file(path: "two.tar") { id } } }"#, "host.file.id").await;
    let from_tarball = from_tarball.replace("HOST_FILE", &format!("\"{}\"", tarball.as_str().unwrap()));
    // (platform, machine)
    let cases = [(host.as_str(), host_machine()), ("linux/arm64", "aarch64\n".to_string())];
    for source in [&from_registry, &from_tarball] {
        for (platform, machine) in &cases {
            let q = format!(
                r#"{{ container(platform: "{platform}") {{ {source} {{ withExec(args: ["sh", "-c", "uname -m; cat /built-on"]) {{ stdout }} }} }} }}"#
            );
            let field = if source.starts_with("from") {
                "container.from.withExec.stdout"
            } else {
                "container.import.withExec.stdout"
            };
            assert_eq!(ask(&e, &q, field).await, json!(format!("{machine}{machine}")), "{platform} {source}");
        }
    }
}

/// Pushes `base` with `layers` (uncompressed tars) on top as `repository:tag`.
fn push_layered(addr: &str, repository: &str, tag: &str, base: &Image, layers: &[Vec<u8>]) {
    let mut config: Value = serde_json::from_slice(&base.config).unwrap();
    let mut descriptors = vec![
        json!({"mediaType": tanto_testkit::image::OCI_LAYER_GZIP, "digest": base.layer_digest(), "size": base.layer.len()}),
    ];
    push_blob(addr, repository, &base.layer_digest(), &base.layer).unwrap();
    for (i, tar) in layers.iter().enumerate() {
        let blob = gzip(tar).unwrap();
        let digest = sha256_digest(&blob);
        push_blob(addr, repository, &digest, &blob).unwrap();
        config["rootfs"]["diff_ids"].as_array_mut().unwrap().push(json!(sha256_digest(tar)));
        config["history"].as_array_mut().unwrap().push(json!({"created_by": format!("layer {}", i + 1)}));
        descriptors
            .push(json!({"mediaType": tanto_testkit::image::OCI_LAYER_GZIP, "digest": digest, "size": blob.len()}));
    }
    let config = serde_json::to_vec(&config).unwrap();
    push_blob(addr, repository, &sha256_digest(&config), &config).unwrap();
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": tanto_testkit::image::OCI_MANIFEST,
        "config": {"mediaType": tanto_testkit::image::OCI_CONFIG, "digest": sha256_digest(&config), "size": config.len()},
        "layers": descriptors,
    }))
    .unwrap();
    push_manifest(addr, repository, tag, tanto_testkit::image::OCI_MANIFEST, &manifest).unwrap();
}

/// A layer tar of `(name, kind, mode, data, link target)` entries (kinds as in tar: `0` file, `1` hard link).
fn layer(entries: &[(&str, u8, u32, &str, &str)]) -> Vec<u8> {
    let mut tar = PyTar::new();
    for (name, kind, mode, data, link) in entries {
        tar.entry(name, *kind, *mode, data.as_bytes(), link);
    }
    tar.finish()
}

async fn layers_keep_lower_directories_and_link_lower_files() {
    let fx = fixture();
    let state = tempfile::tempdir().unwrap();
    let e = engine(&fx, state.path()).await;
    let busybox = tanto_testkit::busybox_image_from(Path::new(tanto_testkit::image::BUSYBOX_BIN)).unwrap();

    // Over busybox (where /tmp is 1777 and /root 0700), layers that list
    // files but not their directories, and hard links to busybox's files.
    push_layered(
        &fx.addr,
        "tanto/implied",
        "v1",
        &busybox,
        &[layer(&[
            ("tmp/x", b'0', 0o644, "x", ""),
            ("root/.profile", b'0', 0o644, "p", ""),
            ("usr/local/bin/tool", b'0', 0o755, "#!/bin/sh\necho tool\n", ""),
        ])],
    );
    push_layered(
        &fx.addr,
        "tanto/linked",
        "v1",
        &busybox,
        &[
            layer(&[("etc/motd", b'0', 0o640, "hello\n", "")]),
            layer(&[
                ("etc/passwd.link", b'1', 0o644, "", "etc/passwd"),
                ("bin/busybox-linked", b'1', 0o755, "", "bin/busybox"),
                ("home/motd", b'1', 0o640, "", "etc/motd"),
            ]),
        ],
    );

    // (image, command, expected stdout)
    let same_inode = |a: &str, b: &str| format!("test $(stat -c %i {a}) = $(stat -c %i {b}) && stat -c %h {a}");
    let cases: Vec<(&str, &str, String, &str)> = vec![
        ("implied", "root", "stat -c %a /tmp /root /usr/local /usr/local/bin".into(), "1777\n700\n755\n755\n"),
        ("implied", "nobody", "touch /tmp/by-nobody && echo ok".into(), "ok\n"),
        ("implied", "root", "cat /tmp/x /root/.profile && tool".into(), "xptool\n"),
        ("linked", "root", "cat /etc/passwd.link | head -1".into(), "root:x:0:0:root:/root:/bin/sh\n"),
        ("linked", "root", same_inode("/etc/passwd", "/etc/passwd.link"), "2\n"),
        ("linked", "root", "/bin/busybox-linked echo run through a link".into(), "run through a link\n"),
        ("linked", "root", same_inode("/bin/busybox", "/bin/busybox-linked"), "2\n"),
        (
            "linked",
            "root",
            format!("{} && cat /home/motd && stat -c %a /home/motd", same_inode("/etc/motd", "/home/motd")),
            "2\nhello\n640\n",
        ),
    ];
    for (image, user, script, want) in cases {
        let q = format!(
            r#"{{ container {{ from(address: "{}/tanto/{image}:v1") {{ withUser(name: "{user}") {{ withExec(args: ["sh", "-c", {}]) {{ stdout }} }} }} }} }}"#,
            fx.addr,
            serde_json::to_string(&script).unwrap()
        );
        let got = ask(&e, &q, "container.from.withUser.withExec.stdout").await;
        assert_eq!(got, json!(want), "{image} as {user}: {script}");
    }
}
