use super::*;

/// An NVIDIA-like spec in YAML, as `nvidia-ctk cdi generate` writes them, over
/// real host nodes (/dev/null as GPU 0, /dev/zero as GPU 1).
const NVIDIA_YAML: &str = r#"
cdiVersion: 0.5.0
kind: nvidia.com/gpu
devices:
- name: "0"
  containerEdits:
    deviceNodes:
    - path: /dev/nvidia0
      hostPath: /dev/null
- name: "1"
  containerEdits:
    deviceNodes:
    - path: /dev/nvidia1
      hostPath: /dev/zero
      permissions: rw
      fileMode: 0o600
- name: GPU-6a4e3c2d-0000-1111-2222-333344445555
  containerEdits:
    deviceNodes:
    - path: /dev/nvidia0
      hostPath: /dev/null
- name: all
  containerEdits:
    deviceNodes:
    - path: /dev/nvidia0
      hostPath: /dev/null
    - path: /dev/nvidia1
      hostPath: /dev/zero
containerEdits:
  env:
  - NVIDIA_VISIBLE_DEVICES=void
  deviceNodes:
  - path: /dev/nvidiactl
    hostPath: /dev/full
  mounts:
  - hostPath: /usr/lib/libcuda.so.550
    containerPath: /usr/lib/libcuda.so.550
    options: [ro, nosuid, nodev, bind]
  hooks:
  - hookName: createContainer
    path: /usr/bin/nvidia-cdi-hook
    args: [nvidia-cdi-hook, update-ldcache, --folder, /usr/lib]
    env: null
  additionalGids: [44]
"#;

fn write(dir: &Path, name: &str, text: &str) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join(name), text).unwrap();
}

fn dev_numbers(p: &str) -> (i64, i64) {
    let st = rustix::fs::stat(p).unwrap();
    (rustix::fs::major(st.st_rdev) as i64, rustix::fs::minor(st.st_rdev) as i64)
}

#[test]
fn names_are_qualified_and_checked() {
    // (input, Ok(qualified) or Err(fragment))
    let cases: &[(&str, Result<&str, &str>)] = &[
        ("0", Ok("nvidia.com/gpu=0")),
        ("all", Ok("nvidia.com/gpu=all")),
        ("GPU-6a4e3c2d-0000", Ok("nvidia.com/gpu=GPU-6a4e3c2d-0000")),
        ("MIG-GPU-1/0/0", Err("is not a device name")),
        ("nvidia.com/gpu=1", Ok("nvidia.com/gpu=1")),
        ("amd.com/gpu=renderD128", Ok("amd.com/gpu=renderD128")),
        ("vendor.example/fpga_x.1=a:b", Ok("vendor.example/fpga_x.1=a:b")),
        ("", Err("is not a device name")),
        ("-0", Err("is not a device name")),
        ("gpu=0", Err("is not a kind of the form")),
        ("nvidia.com/=0", Err("the class ``")),
        ("nvidia..com/gpu=0", Err("domain-like")),
        ("nvidia.com/gpu/x=0", Err("the class `gpu/x`")),
        ("nvidia.com/gpu=", Err("is not a device name")),
    ];
    for (input, want) in cases {
        let got = qualify(input, NVIDIA_GPU_KIND);
        match (want, &got) {
            (Ok(w), Ok(g)) => assert_eq!(g, w, "{input}"),
            (Err(w), Err(g)) => assert!(g.contains(w), "{input}: {g}"),
            _ => panic!("{input}: want {want:?}, got {got:?}"),
        }
    }
}

#[test]
fn spec_files_parse_or_say_what_is_wrong() {
    let min = |extra: &str| format!("cdiVersion: 0.6.0\nkind: nvidia.com/gpu\ndevices:\n- name: \"0\"\n{extra}");
    // (text, json, Ok(device names) or Err(fragment))
    let cases: Vec<(String, bool, Result<&str, &str>)> = vec![
        (NVIDIA_YAML.into(), false, Ok("0,1,GPU-6a4e3c2d-0000-1111-2222-333344445555,all")),
        (
            r#"{"cdiVersion":"0.8.0","kind":"nvidia.com/gpu","devices":[{"name":"0","containerEdits":{"env":["A=1"]}}],"containerEdits":null}"#.into(),
            true,
            Ok("0"),
        ),
        // YAML is a superset: a JSON text in a .yaml file parses too.
        (r#"{"cdiVersion":"1.0.0","kind":"nvidia.com/gpu","devices":[{"name":"0"}]}"#.into(), false, Ok("0")),
        (min("  containerEdits:\n    additionalGIDs: [5]\n"), false, Ok("0")),
        ("cdiVersion: 0.6.0\nkind: nvidia.com/gpu\ndevices: []\n".into(), false, Err("defines no `devices`")),
        ("kind: nvidia.com/gpu\ndevices:\n- name: a\n".into(), false, Err("cdiVersion")),
        ("cdiVersion: 0.6\nkind: nvidia.com/gpu\ndevices:\n- name: a\n".into(), false, Err("is not a version")),
        ("cdiVersion: 2.0.0\nkind: nvidia.com/gpu\ndevices:\n- name: a\n".into(), false, Err("newer than this engine")),
        ("cdiVersion: 0.6.0\nkind: gpu\ndevices:\n- name: a\n".into(), false, Err("not a kind")),
        ("cdiVersion: 0.6.0\nkind: nvidia.com/gpu\ndevices:\n- name: a\n- name: a\n".into(), false, Err("defined twice")),
        ("cdiVersion: 0.6.0\nkind: nvidia.com/gpu\ndevices:\n- name: a b\n".into(), false, Err("is not a device name")),
        (min("  containerEdits:\n    env: [NOEQUALS]\n"), false, Err("env entry `NOEQUALS`")),
        (min("  containerEdits:\n    deviceNodes: [{path: dev/x}]\n"), false, Err("not absolute")),
        (min("  containerEdits:\n    deviceNodes: [{path: /dev/x, type: z}]\n"), false, Err("type `z`")),
        (min("  containerEdits:\n    deviceNodes: [{path: /dev/x, permissions: rx}]\n"), false, Err("permissions `rx`")),
        (min("  containerEdits:\n    mounts: [{hostPath: /a, containerPath: b}]\n"), false, Err("containerPath `b`")),
        (min("  containerEdits:\n    hooks: [{hookName: onStart, path: /bin/true}]\n"), false, Err("hookName `onStart`")),
        (min("  containerEdits:\n    hooks: [{hookName: poststop, path: true}]\n"), false, Err("hook path `true`")),
        (min("  containerEdits:\n    hooks: [{hookName: poststop, path: /bin/true, timeout: 0}]\n"), false, Err("not positive")),
        ("cdiVersion: 0.6.0\nkind: [oops\n".into(), false, Err("")),
        ("{\"cdiVersion\": \"0.6.0\",".into(), true, Err("EOF")),
    ];
    for (text, json, want) in cases {
        let got =
            parse_spec(&text, json).map(|s| s.devices.iter().map(|d| d.name.clone()).collect::<Vec<_>>().join(","));
        match (want, &got) {
            (Ok(w), Ok(g)) => assert_eq!(g, w, "{text}"),
            (Err(w), Err(g)) => assert!(g.contains(w), "{text}: {g}"),
            _ => panic!("{text}: want {want:?}, got {got:?}"),
        }
    }
}

/// Renders resolved edits compactly for the table below.
fn summary(e: &DeviceEdits) -> String {
    let nodes: Vec<String> = e
        .devices
        .iter()
        .map(|d| {
            format!("{} {}:{}:{} {:o} {}", d.path, d.typ, d.major, d.minor, d.file_mode.unwrap_or(0), d.permissions)
        })
        .collect();
    let mounts: Vec<String> =
        e.mounts.iter().map(|m| format!("{}<-{}[{}]", m.target, m.source.display(), m.options.join(","))).collect();
    let hooks: Vec<String> = e.hooks.iter().map(|h| format!("{}:{}", h.hook_name, h.path)).collect();
    format!(
        "names={} env={} nodes=[{}] mounts=[{}] hooks=[{}] gids={:?}",
        e.names.join(","),
        e.env.join(","),
        nodes.join("; "),
        mounts.join("; "),
        hooks.join("; "),
        e.additional_gids
    )
}

#[test]
fn resolve_merges_spec_and_device_edits() {
    let tmp = tempfile::tempdir().unwrap();
    let etc = tmp.path().join("etc");
    let run = tmp.path().join("run");
    write(&etc, "nvidia.yaml", NVIDIA_YAML);
    // Another vendor, valid and invalid, must not disturb nvidia lookups.
    write(
        &etc,
        "other.json",
        r#"{"cdiVersion":"0.6.0","kind":"example.com/fpga","devices":[{"name":"f0","containerEdits":{"env":["FPGA=1"]}}]}"#,
    );
    write(&etc, "broken-other.yaml", "cdiVersion: 0.6.0\nkind: broken.com/thing\ndevices: []\n");
    write(&etc, "README.txt", "not a spec");
    let dirs = vec![etc.clone(), run.clone()];
    let (null, zero, full) = (dev_numbers("/dev/null"), dev_numbers("/dev/zero"), dev_numbers("/dev/full"));
    let common = format!("env=NVIDIA_VISIBLE_DEVICES=void nodes=[/dev/nvidiactl c:{}:{} 666 rwm; ", full.0, full.1);
    let tail = "mounts=[/usr/lib/libcuda.so.550<-/usr/lib/libcuda.so.550[ro,nosuid,nodev,bind]] hooks=[createContainer:/usr/bin/nvidia-cdi-hook] gids=[44]";
    // (names, expected summary)
    let cases: Vec<(Vec<&str>, String)> = vec![
        (
            vec!["nvidia.com/gpu=0"],
            format!("names=nvidia.com/gpu=0 {common}/dev/nvidia0 c:{}:{} 666 rwm] {tail}", null.0, null.1),
        ),
        (
            vec!["nvidia.com/gpu=1", "nvidia.com/gpu=0", "nvidia.com/gpu=1"],
            format!(
                "names=nvidia.com/gpu=1,nvidia.com/gpu=0 {common}/dev/nvidia1 c:{}:{} 600 rw; /dev/nvidia0 c:{}:{} 666 rwm] {tail}",
                zero.0, zero.1, null.0, null.1
            ),
        ),
        (
            vec!["nvidia.com/gpu=all"],
            format!(
                "names=nvidia.com/gpu=all {common}/dev/nvidia0 c:{}:{} 666 rwm; /dev/nvidia1 c:{}:{} 666 rwm] {tail}",
                null.0, null.1, zero.0, zero.1
            ),
        ),
        (
            vec!["example.com/fpga=f0"],
            "names=example.com/fpga=f0 env=FPGA=1 nodes=[] mounts=[] hooks=[] gids=[]".into(),
        ),
    ];
    for (names, want) in cases {
        let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
        let got = resolve(&dirs, &names).map(|e| summary(&e));
        assert_eq!(got, Ok(want), "{names:?}");
    }
    assert_eq!(resolve(&dirs, &[]).unwrap(), DeviceEdits::default());

    // A spec in a later dir wins for the devices it defines.
    write(
        &run,
        "nvidia-override.json",
        r#"{"cdiVersion":"0.6.0","kind":"nvidia.com/gpu","devices":[{"name":"0","containerEdits":{"env":["WHICH=run"]}}]}"#,
    );
    let got = summary(&resolve(&dirs, &["nvidia.com/gpu=0".into()]).unwrap());
    assert_eq!(got, "names=nvidia.com/gpu=0 env=WHICH=run nodes=[] mounts=[] hooks=[] gids=[]");
    // ... and the earlier one still serves the rest.
    let got = summary(&resolve(&dirs, &["nvidia.com/gpu=1".into()]).unwrap());
    assert!(got.contains("/dev/nvidia1"), "{got}");
}

#[test]
fn resolve_errors_name_the_problem() {
    let tmp = tempfile::tempdir().unwrap();
    let etc = tmp.path().join("etc");
    let dirs = vec![etc.clone(), tmp.path().join("run")];
    let gpu0 = vec!["nvidia.com/gpu=0".to_string()];
    let fails = |names: &[String], want: &[&str]| {
        let e = resolve(&dirs, names).unwrap_err().to_string();
        for w in want {
            assert!(e.contains(w), "want `{w}` in: {e}");
        }
        assert!(!e.starts_with(|c: char| c.is_uppercase()), "{e}");
    };
    fails(&gpu0, &["no cdi spec directory exists", "etc", "nvidia-ctk cdi generate --output=/etc/cdi/nvidia.yaml"]);
    std::fs::create_dir_all(&etc).unwrap();
    fails(&gpu0, &["no cdi spec for `nvidia.com/gpu`", "nvidia-ctk cdi generate"]);
    fails(&["amd.com/gpu=0".into()], &["no cdi spec for `amd.com/gpu`", "install the CDI spec of the vendor"]);
    write(&etc, "nvidia.yaml", NVIDIA_YAML);
    fails(
        &["nvidia.com/gpu=7".into()],
        &[
            "unknown cdi device `nvidia.com/gpu=7`",
            "nvidia.yaml",
            "define 0, 1, GPU-6a4e3c2d-0000-1111-2222-333344445555, all",
        ],
    );
    fails(&["nvidia.com/gpu".into()], &["is not a cdi device name"]);
    // Same device in two files of one dir.
    write(&etc, "nvidia2.json", r#"{"cdiVersion":"0.6.0","kind":"nvidia.com/gpu","devices":[{"name":"0"}]}"#);
    fails(&gpu0, &["defined by both", "nvidia.yaml", "nvidia2.json", "remove one"]);
    std::fs::remove_file(etc.join("nvidia2.json")).unwrap();
    // An invalid spec of the asked-for kind, or of no readable kind.
    write(
        &etc,
        "zz-bad.yaml",
        "cdiVersion: 0.6.0\nkind: nvidia.com/gpu\ndevices:\n- name: \"2\"\n  containerEdits:\n    env: [BAD]\n",
    );
    fails(&gpu0, &["cdi spec file", "zz-bad.yaml", "is invalid", "env entry `BAD`", "fix or remove it"]);
    write(&etc, "zz-bad.yaml", "{{{ not yaml");
    fails(&gpu0, &["zz-bad.yaml", "is invalid"]);
    std::fs::remove_file(etc.join("zz-bad.yaml")).unwrap();
    // Nodes the host lacks, or that are not device nodes, or outside /dev.
    let tmpfile = tmp.path().join("plain");
    std::fs::write(&tmpfile, "x").unwrap();
    write(
        &etc,
        "x.yaml",
        &format!(
            "cdiVersion: 0.6.0\nkind: example.com/x\ndevices:\n- name: gone\n  containerEdits:\n    deviceNodes: [{{path: /dev/nvidia-gone}}]\n- name: plain\n  containerEdits:\n    deviceNodes: [{{path: /dev/p, hostPath: {}}}]\n- name: outside\n  containerEdits:\n    deviceNodes: [{{path: /opt/n, hostPath: /dev/null}}]\n- name: up\n  containerEdits:\n    deviceNodes: [{{path: /dev/../etc/n, hostPath: /dev/null}}]\n- name: wrongtype\n  containerEdits:\n    deviceNodes: [{{path: /dev/n, hostPath: /dev/null, type: b}}]\n- name: given\n  containerEdits:\n    deviceNodes: [{{path: /dev/gone, type: c, major: 195, minor: 255}}]\n- name: rdt\n  containerEdits:\n    intelRdt: {{closID: x}}\n",
            tmpfile.display()
        ),
    );
    fails(
        &["example.com/x=gone".into()],
        &["cdi device `example.com/x=gone`", "`/dev/nvidia-gone`", "is the driver loaded"],
    );
    fails(&["example.com/x=plain".into()], &["is not a device node"]);
    fails(&["example.com/x=outside".into()], &["`/opt/n` is not a path under /dev"]);
    fails(&["example.com/x=up".into()], &["is not a path under /dev"]);
    fails(&["example.com/x=wrongtype".into()], &["the spec says type `b`", "of type `c`"]);
    fails(&["example.com/x=rdt".into()], &["intelRdt"]);
    // A node the spec describes fully needs no host node.
    let got = summary(&resolve(&dirs, &["example.com/x=given".into()]).unwrap());
    assert_eq!(got, "names=example.com/x=given env= nodes=[/dev/gone c:195:255 0 rwm] mounts=[] hooks=[] gids=[]");
}

#[test]
fn mounts_default_to_binds_and_env_replaces() {
    let mut out = DeviceEdits::default();
    let e = ContainerEdits {
        env: vec!["A=2".into(), "B=1".into()],
        mounts: vec![
            CdiMount { host_path: "/h/lib".into(), container_path: "/lib/x".into(), typ: None, options: vec![] },
            CdiMount {
                host_path: "/h/ro".into(),
                container_path: "/ro".into(),
                typ: Some("none".into()),
                options: vec!["ro".into(), "bind".into()],
            },
            CdiMount {
                host_path: "tmpfs".into(),
                container_path: "/t".into(),
                typ: Some("tmpfs".into()),
                options: vec!["size=1m".into()],
            },
        ],
        ..Default::default()
    };
    apply(&mut out, "t", &e).unwrap();
    let got: Vec<String> = out
        .mounts
        .iter()
        .map(|m| format!("{}:{}:{}:{}:{}", m.target, m.typ, m.options.join(","), m.is_bind(), m.readonly()))
        .collect();
    assert_eq!(got, ["/lib/x:bind:rbind:true:false", "/ro:bind:ro,bind:true:true", "/t:tmpfs:size=1m:false:false"]);
    let mut env = vec!["A=1".to_string(), "PATH=/bin".to_string()];
    merge_env(&mut env, &out.env);
    assert_eq!(env, ["PATH=/bin", "A=2", "B=1"]);
}
