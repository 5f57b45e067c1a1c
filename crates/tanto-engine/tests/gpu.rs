//! GPUs through CDI (`experimentalWithGPU`, `experimentalWithAllGPUs`).
//!
//! This machine has no GPU: the test writes a synthetic CDI spec for
//! `nvidia.com/gpu` whose device nodes are real host nodes (/dev/null as
//! `/dev/nvidia0`, /dev/zero as `/dev/nvidia1`), with env, a bind mount of a
//! host file and a hook, and points the engine at it with `[cdi] spec_dirs`.
//! Real busybox containers then look at what they got.

mod common;

use std::path::Path;

use common::*;
use serde_json::Value;

tanto_testkit::tests! {
    // test                         prerequisites                          kind
    gpus_from_a_synthetic_cdi_spec: [Root, Registry, Busybox, OciRuntime]  async;
}

async fn ok(e: &tanto_engine::Engine, q: &str) -> Value {
    let v = query(e, q).await;
    assert!(v.get("errors").is_none(), "{q}: {v}");
    v["data"].clone()
}

/// stdout of `sh -c script` in busybox after `chain` (e.g. `experimentalWithAllGPUs`).
async fn run(e: &tanto_engine::Engine, chain: &str, script: &str) -> Result<String, String> {
    // `chain` may open more selections (`a { b`): close them too.
    let close = " }".repeat(chain.matches('{').count());
    let q = format!(
        r#"{{ container {{ from(address: "busybox") {{ {chain} {{ withExec(args: ["sh", "-c", {script:?}]) {{ stdout }} }}{close} }} }} }}"#,
    );
    let v = query(e, &q).await;
    match v.get("errors") {
        Some(_) => Err(first_error(&v)),
        None => Ok(find_stdout(&v["data"]).unwrap_or_else(|| panic!("no stdout in {v}"))),
    }
}

fn find_stdout(v: &Value) -> Option<String> {
    match v {
        Value::Object(m) => {
            m.get("stdout").and_then(|s| s.as_str().map(str::to_string)).or_else(|| m.values().find_map(find_stdout))
        }
        _ => None,
    }
}

fn spec_yaml(lib: &Path, hook_log: &Path) -> String {
    format!(
        r#"cdiVersion: 0.6.0
kind: nvidia.com/gpu
devices:
- name: "0"
  containerEdits:
    env: [GPU_TEST_DEVICE=0]
    deviceNodes:
    - path: /dev/nvidia0
      hostPath: /dev/null
- name: "1"
  containerEdits:
    env: [GPU_TEST_DEVICE=1]
    deviceNodes:
    - path: /dev/nvidia1
      hostPath: /dev/zero
      fileMode: 0o600
- name: all
  containerEdits:
    env: [GPU_TEST_DEVICE=all]
    deviceNodes:
    - path: /dev/nvidia0
      hostPath: /dev/null
    - path: /dev/nvidia1
      hostPath: /dev/zero
      fileMode: 0o600
containerEdits:
  env: [NVIDIA_TEST_VISIBLE=cdi]
  mounts:
  - hostPath: {lib}
    containerPath: /opt/fakecuda/lib/libcuda.so.1
    options: [ro, nosuid, nodev, bind]
  hooks:
  - hookName: createRuntime
    path: /bin/sh
    args: [sh, -c, "cat > /dev/null; echo createRuntime >> {log}"]
"#,
        lib = lib.display(),
        log = hook_log.display(),
    )
}

async fn gpus_from_a_synthetic_cdi_spec() {
    let fx = fixture();
    let tmp = tempfile::tempdir().unwrap();
    let cdi_dir = tmp.path().join("cdi");
    std::fs::create_dir_all(&cdi_dir).unwrap();
    let lib = tmp.path().join("libcuda.so.1");
    std::fs::write(&lib, "fake cuda library\n").unwrap();
    let hook_log = tmp.path().join("hook.log");
    std::fs::write(cdi_dir.join("nvidia.yaml"), spec_yaml(&lib, &hook_log)).unwrap();
    let config = tmp.path().join("engine.toml");
    let mut text = std::fs::read_to_string(&fx.config).unwrap();
    text.push_str(&format!("\n[cdi]\nspec_dirs = [\"{}\"]\n", cdi_dir.display()));
    std::fs::write(&config, text).unwrap();
    let mut opts = tanto_engine::EngineOptions::from_env(Some(tmp.path().to_path_buf())).unwrap();
    opts.state_dir = tmp.path().join("state");
    opts.config = Some(config);
    opts.quiet = true;
    let e = tanto_engine::Engine::start(opts).await.expect("starting the engine");

    let null = std::fs::metadata("/dev/null").unwrap();
    let zero = std::fs::metadata("/dev/zero").unwrap();
    use std::os::unix::fs::MetadataExt;
    let nums = |m: &std::fs::Metadata| format!("{}, {}", rustix::fs::major(m.rdev()), rustix::fs::minor(m.rdev()));
    let (null_nums, zero_nums) = (nums(&null), nums(&zero));

    // One GPU: its node, the spec-wide env and mount, the device's env; the hook ran on the host.
    let script = "ls -l /dev/nvidia* | sed 's/  */ /g'; echo \"visible=$NVIDIA_TEST_VISIBLE device=$GPU_TEST_DEVICE\"; cat /opt/fakecuda/lib/libcuda.so.1; echo ok > /dev/nvidia0 && echo wrote";
    let out = run(&e, r#"experimentalWithGPU(devices: ["0"])"#, script).await.unwrap();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 4, "{out}");
    assert!(
        lines[0].starts_with("crw-rw-rw- 1 root root")
            && lines[0].contains(&null_nums)
            && lines[0].ends_with("/dev/nvidia0"),
        "{out}"
    );
    assert_eq!(&lines[1..], ["visible=cdi device=0", "fake cuda library", "wrote"], "{out}");
    assert_eq!(std::fs::read_to_string(&hook_log).unwrap(), "createRuntime\n");

    // All GPUs, as a non-root user: both nodes, owned by that user (the spec gives no owner).
    let script = "ls -l /dev/nvidia* | sed 's/  */ /g'; echo device=$GPU_TEST_DEVICE; head -c 3 /dev/nvidia1 | od -An -tx1 | tr -d ' '";
    let out = run(&e, r#"experimentalWithAllGPUs { withUser(name: "1000:1000")"#, script).await.unwrap();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 4, "{out}");
    assert!(
        lines[0].starts_with("crw-rw-rw- 1 1000 1000")
            && lines[0].contains(&null_nums)
            && lines[0].ends_with("/dev/nvidia0"),
        "{out}"
    );
    assert!(
        lines[1].starts_with("crw------- 1 1000 1000")
            && lines[1].contains(&zero_nums)
            && lines[1].ends_with("/dev/nvidia1"),
        "{out}"
    );
    assert_eq!(&lines[2..], ["device=all", "000000"], "{out}");

    // Nothing of the devices is left in the container's filesystem: the mount
    // target (and its parents) was a stub.
    let v = ok(
        &e,
        r#"{ container { from(address: "busybox") { experimentalWithGPU(devices: ["0"]) { withExec(args: ["true"]) { rootfs { entries } } } } } }"#,
    )
    .await;
    let root = &v["container"]["from"]["experimentalWithGPU"]["withExec"];
    assert!(!root["rootfs"]["entries"].as_array().unwrap().iter().any(|x| x == "opt" || x == "opt/"), "{root}");

    // Cache keys: which devices, however named; not the host's nodes.
    let stamp = "cat /proc/sys/kernel/random/uuid";
    let a = run(&e, r#"experimentalWithGPU(devices: ["0"])"#, stamp).await.unwrap();
    let b = run(&e, r#"experimentalWithGPU(devices: ["nvidia.com/gpu=0", "0"])"#, stamp).await.unwrap();
    let c = run(&e, r#"experimentalWithGPU(devices: ["1"])"#, stamp).await.unwrap();
    let d = run(&e, "experimentalWithAllGPUs", stamp).await.unwrap();
    let plain = run(&e, "withEnvVariable(name: \"X\", value: \"1\")", stamp).await.unwrap();
    assert_eq!(a, b, "same device, same key");
    assert_ne!(a, c);
    assert_ne!(a, d);
    assert_ne!(a, plain);
    // GPU 0 moves to another host node: the cached result stands.
    std::fs::write(
        cdi_dir.join("nvidia.yaml"),
        spec_yaml(&lib, &hook_log).replacen("hostPath: /dev/null", "hostPath: /dev/full", 1),
    )
    .unwrap();
    assert_eq!(run(&e, r#"experimentalWithGPU(devices: ["0"])"#, stamp).await.unwrap(), a);

    // Errors, at exec time against the host's specs.
    let err = run(&e, r#"experimentalWithGPU(devices: ["7"])"#, "true").await.unwrap_err();
    assert!(
        err.contains("unknown cdi device `nvidia.com/gpu=7`")
            && err.contains("define 0, 1, all")
            && err.contains("nvidia.yaml"),
        "{err}"
    );
    std::fs::write(cdi_dir.join("zz-broken.yaml"), "cdiVersion: 0.6.0\nkind: nvidia.com/gpu\ndevices:\n- name: \"9\"\n  containerEdits:\n    hooks: [{hookName: whenever, path: /bin/true}]\n").unwrap();
    let err = run(&e, r#"experimentalWithGPU(devices: ["0"])"#, "echo again").await.unwrap_err();
    assert!(
        err.contains("zz-broken.yaml") && err.contains("hookName `whenever`") && err.contains("fix or remove it"),
        "{err}"
    );
    std::fs::remove_file(cdi_dir.join("zz-broken.yaml")).unwrap();
    std::fs::rename(cdi_dir.join("nvidia.yaml"), cdi_dir.join("nvidia.yaml.off")).unwrap();
    let err = run(&e, r#"experimentalWithGPU(devices: ["0"])"#, "echo once more").await.unwrap_err();
    assert!(
        err.contains("no cdi spec for `nvidia.com/gpu`")
            && err.contains("nvidia-ctk cdi generate --output=/etc/cdi/nvidia.yaml"),
        "{err}"
    );
    std::fs::remove_dir_all(&cdi_dir).unwrap();
    let err = run(&e, "experimentalWithAllGPUs", "echo and again").await.unwrap_err();
    assert!(err.contains("no cdi spec directory exists") && err.contains(&cdi_dir.display().to_string()), "{err}");

    // Errors in the API, before anything runs.
    let err = run(&e, r#"experimentalWithGPU(devices: [])"#, "true").await.unwrap_err();
    assert!(err.contains("needs at least one device"), "{err}");
    let err = run(&e, r#"experimentalWithGPU(devices: ["0 1"])"#, "true").await.unwrap_err();
    assert!(err.contains("`0 1` is not a device name"), "{err}");
}
