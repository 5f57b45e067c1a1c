//! Images as registries serve them: layers over layers (implied parent
//! directories keep what the layers below have, hard links to files of lower
//! layers), pulled by a real engine from a real registry and run in real
//! containers.

use std::path::Path;

use serde_json::{json, Value};
use tanto_testkit::image::{gzip, PyTar};
use tanto_testkit::{push_blob, push_manifest, sha256_digest, Image};

mod common;

use common::{ask, engine, fixture};

tanto_testkit::tests! {
    // test                                                prerequisites                            kind
    layers_keep_lower_directories_and_link_lower_files:    [Root, Registry, Busybox, OciRuntime]    async;
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
