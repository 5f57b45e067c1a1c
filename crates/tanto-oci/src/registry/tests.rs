use super::*;

fn index(entries: &[(&str, &str, Option<&str>, bool)]) -> ImageIndex {
    let manifests: Vec<serde_json::Value> = entries
        .iter()
        .enumerate()
        .map(|(i, (os, arch, variant, attestation))| {
            let mut p = serde_json::json!({"os": os, "architecture": arch});
            if let Some(v) = variant {
                p["variant"] = serde_json::json!(v);
            }
            let mut d = serde_json::json!({
                "mediaType": media::OCI_MANIFEST,
                "digest": format!("sha256:{:064x}", i + 1),
                "size": 100,
                "platform": p,
            });
            if *attestation {
                d["annotations"] = serde_json::json!({"vnd.docker.reference.type": "attestation-manifest"});
            }
            d
        })
        .collect();
    serde_json::from_value(
        serde_json::json!({"schemaVersion": 2, "mediaType": media::OCI_INDEX, "manifests": manifests}),
    )
    .unwrap()
}

#[test]
fn platform_choice() {
    let idx = index(&[
        ("linux", "amd64", None, false),
        ("linux", "arm64", Some("v8"), false),
        ("linux", "arm", Some("v7"), false),
        ("unknown", "unknown", None, true),
        ("linux", "amd64", None, true),
    ]);
    let cases = [
        ("linux/amd64", Some(1)),
        ("linux/arm64", Some(2)),
        ("linux/arm64/v8", Some(2)),
        ("linux/arm/v7", Some(3)),
        ("linux/arm/v6", None),
        ("linux/s390x", None),
    ];
    for (want, pick) in cases {
        let got = choose_platform(&idx, &Platform::parse(want).unwrap());
        assert_eq!(got, pick.map(|i: u32| format!("sha256:{i:064x}")), "{want}");
    }
    assert_eq!(available_platforms(&idx), "linux/amd64, linux/arm64/v8, linux/arm/v7");
}

#[test]
fn media_type_detection() {
    let cases = [
        (
            r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}"#,
            None,
            media::OCI_INDEX,
        ),
        (
            r#"{"schemaVersion":2,"manifests":[]}"#,
            Some("application/vnd.docker.distribution.manifest.list.v2+json"),
            media::DOCKER_MANIFEST_LIST,
        ),
        (r#"{"schemaVersion":2,"manifests":[]}"#, Some("application/json"), media::OCI_INDEX),
        (r#"{"schemaVersion":2,"config":{},"layers":[]}"#, None, media::OCI_MANIFEST),
        (r#"{"schemaVersion":1,"fsLayers":[]}"#, None, media::DOCKER_MANIFEST_V1),
    ];
    for (body, ct, want) in cases {
        assert_eq!(manifest_media_type(body.as_bytes(), ct), want, "{body}");
    }
}
