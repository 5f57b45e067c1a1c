use std::sync::Arc;

use tanto_model::{Digest, ExecMount, ExecMountKind, ExecOp, Expect, LocalOp, Op, Ref, Vertex};

use super::*;

fn upload(content: &str) -> Arc<Vertex> {
    Vertex::new(
        Op::Local(LocalOp {
            digest: Digest::of(content.as_bytes()),
            path: "/src".into(),
            include: vec![],
            exclude: vec![],
            gitignore: false,
        }),
        vec![],
    )
}

fn exec(args: &[&str], env: &[&str], secret: Option<&str>, src: Arc<Vertex>) -> Arc<Vertex> {
    let op = ExecOp {
        args: args.iter().map(|s| s.to_string()).collect(),
        env: env.iter().map(|s| s.to_string()).collect(),
        secret_env: secret.map(|s| vec![("TOKEN".to_string(), s.to_string())]).unwrap_or_default(),
        volatile_env: vec![],
        no_network: false,
        devices: vec![],
        cwd: "/".into(),
        user: String::new(),
        rootfs: None,
        mounts: vec![ExecMount {
            target: "/src".into(),
            kind: ExecMountKind::Dir { input: Some(0), selector: "/".into(), readonly: true, owner: None },
        }],
        stdin: None,
        redirect_stdin: None,
        redirect_stdout: None,
        redirect_stderr: None,
        expect: Expect::Success,
        privileged: false,
        nesting: false,
        no_init: false,
        platform: "linux/amd64".into(),
        services: vec![],
    };
    Vertex::new(Op::Exec(op), vec![Ref::new(src, 0)])
}

fn step(v: &Arc<Vertex>, status: Status) -> StepRow {
    StepRow {
        key: v.key().to_string(),
        identity: manifest::identity(v),
        status,
        evicted: None,
        manifest: Some(manifest(v)),
    }
}

fn run(id: i64, steps: Vec<StepRow>) -> RunRows {
    RunRows { id, name: Default::default(), started_ms: 0, finished_ms: 0, steps }
}

/// The reasons of the steps of the last of `runs` that ran, as one line
/// each: `reason: change, change`.
fn check(runs: Vec<RunRows>, want: &[&str]) {
    let mut runs = runs;
    let last = runs.pop().unwrap();
    runs.reverse();
    let uploads = |new: &str, old: &str| {
        (new == Digest::of(b"b").to_string() && old == Digest::of(b"a").to_string())
            .then(|| PathChanges { changed: vec!["main.c".into()], ..Default::default() })
    };
    let e = explain(&last, &runs, &uploads);
    let got: Vec<String> = e
        .executed
        .iter()
        .map(|s| match &s.reason {
            Reason::InputChanged { changes, .. } => {
                let cs: Vec<String> = changes
                    .iter()
                    .map(|c| {
                        let paths = c.paths.as_ref().map(|p| format!(" {:?}", p.changed)).unwrap_or_default();
                        let step = c.step.map(|n| format!(" #{n}")).unwrap_or_default();
                        format!("{} {} {}{paths}{step}", c.what, c.name, c.change)
                    })
                    .collect();
                format!("changed: {}", cs.join(", "))
            }
            r => serde_json::to_value(r).unwrap()["reason"].as_str().unwrap().to_string(),
        })
        .collect();
    assert_eq!(got, want);
}

#[test]
fn reasons_for_steps_that_ran() {
    use Status::*;
    let (a, b) = (upload("a"), upload("b"));
    let make = |src: &Arc<Vertex>, env: &[&str], secret: Option<&str>| exec(&["make"], env, secret, src.clone());
    let evicted = |mut s: StepRow| {
        s.evicted = Some(Tombstone { evicted_ms: 1, by: "gc".into() });
        s
    };
    // (case, runs oldest first, reasons of the last run's steps that ran)
    let cases: Vec<(&str, Vec<RunRows>, Vec<&str>)> = vec![
        ("first run", vec![run(1, vec![step(&a, Executed), step(&make(&a, &[], None), Executed)])], vec!["new", "new"]),
        (
            "unchanged rerun",
            vec![
                run(1, vec![step(&a, Executed), step(&make(&a, &[], None), Executed)]),
                run(2, vec![step(&a, Cached), step(&make(&a, &[], None), Cached)]),
            ],
            vec![],
        ),
        (
            "a host file changed",
            vec![
                run(1, vec![step(&a, Executed), step(&make(&a, &[], None), Executed)]),
                run(2, vec![step(&b, Executed), step(&make(&b, &[], None), Executed)]),
            ],
            vec!["changed: host /src changed [\"main.c\"]", "changed: input mount /src changed [\"main.c\"] #1"],
        ),
        (
            "compared with the most recent run that had the step",
            vec![
                run(1, vec![step(&make(&b, &["X=1"], None), Executed)]),
                run(2, vec![step(&make(&a, &[], None), Cached)]),
                run(3, vec![step(&a, Cached)]),
                run(4, vec![step(&make(&b, &[], None), Executed)]),
            ],
            vec!["changed: input mount /src changed [\"main.c\"]"],
        ),
        (
            "env and secret changes name the variable and the secret only",
            vec![
                run(1, vec![step(&make(&a, &["A=1", "B=2"], Some("set:tok@d1")), Executed)]),
                run(2, vec![step(&make(&a, &["A=9", "C=3"], Some("set:tok@d2")), Executed)]),
            ],
            vec!["changed: env A changed, env C added, secret tok changed, env B removed"],
        ),
        (
            "evicted",
            vec![
                run(1, vec![step(&make(&a, &[], None), Executed)]),
                run(2, vec![evicted(step(&make(&a, &[], None), Executed))]),
            ],
            vec!["evicted"],
        ),
        (
            "never cached",
            vec![run(1, vec![step(&make(&a, &[], None), Never)]), run(2, vec![step(&make(&a, &[], None), Never)])],
            vec!["never_cached"],
        ),
        (
            "failed before",
            vec![run(1, vec![step(&make(&a, &[], None), Failed)]), run(2, vec![step(&make(&a, &[], None), Executed)])],
            vec!["failed_before"],
        ),
        (
            "recorded before, gone without a tombstone",
            vec![
                run(1, vec![step(&make(&a, &[], None), Executed)]),
                run(2, vec![step(&make(&a, &[], None), Executed)]),
            ],
            vec!["lost"],
        ),
        (
            "another command is another step",
            vec![
                run(1, vec![step(&make(&a, &[], None), Executed)]),
                run(2, vec![step(&exec(&["make", "test"], &[], None, a.clone()), Executed)]),
            ],
            vec!["new"],
        ),
    ];
    for (name, runs, want) in cases {
        eprintln!("case: {name}");
        check(runs, &want);
    }
}

#[test]
fn secret_names_never_show_their_digest() {
    // (identity, name shown)
    let cases =
        [("set:token@abcdef", "token"), ("uri:env://GH_TOKEN@abcdef", "env://GH_TOKEN"), ("key:my-key", "my-key")];
    for (identity, want) in cases {
        assert_eq!(manifest::secret_name(identity), want, "{identity}");
    }
    // nor does a manifest hold the identity
    let v = exec(&["make"], &["A=plain"], Some("set:token@0123456789abcdef"), upload("a"));
    let text = serde_json::to_string(&manifest(&v)).unwrap();
    assert!(!text.contains("0123456789abcdef") && !text.contains("plain"), "{text}");
    assert!(text.contains("\"secret\":\"token\""), "{text}");
}

#[test]
fn path_changes_of_sorted_lists() {
    let e = |p: &'static str, d: u8| (p, [d; 32]);
    // (old, new, added, removed, changed)
    type Case = (
        Vec<(&'static str, [u8; 32])>,
        Vec<(&'static str, [u8; 32])>,
        Vec<&'static str>,
        Vec<&'static str>,
        Vec<&'static str>,
    );
    let cases: Vec<Case> = vec![
        (vec![e("a", 1)], vec![e("a", 1)], vec![], vec![], vec![]),
        (vec![e("a", 1), e("b", 1)], vec![e("a", 2), e("c", 1)], vec!["c"], vec!["b"], vec!["a"]),
        (vec![], vec![e("a", 1)], vec!["a"], vec![], vec![]),
        (vec![e("a", 1), e("z", 1)], vec![e("m", 1)], vec!["m"], vec!["a", "z"], vec![]),
    ];
    for (old, new, added, removed, changed) in cases {
        let c = path_changes(&old, &new);
        assert_eq!((c.added, c.removed, c.changed), (s(&added), s(&removed), s(&changed)));
    }
    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }
}

#[test]
fn runs_are_recorded_whole_and_bounded() {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open(tmp.path()).unwrap();
    let (a, b) = (upload("a"), upload("b"));
    let logged = |v: &Arc<Vertex>, status| LoggedStep { vertex: v.clone(), status, evicted: None };
    assert_eq!(store.record_run(&RunName::default(), 0, &[]).unwrap(), None, "a run without steps is not recorded");
    assert_eq!(store.explain_run(None).unwrap(), None);
    let first = store.record_run(&RunName::default(), 0, &[logged(&a, Status::Executed)]).unwrap().unwrap();
    store
        .save_upload_changes(
            &Digest::of(b"b").to_string(),
            &Digest::of(b"a").to_string(),
            &PathChanges { changed: vec!["x".into()], ..Default::default() },
        )
        .unwrap();
    let m = exec(&["make"], &[], None, b.clone());
    let second = store
        .record_run(&RunName::default(), 0, &[logged(&b, Status::Cached), logged(&m, Status::Executed)])
        .unwrap()
        .unwrap();
    let e = store.explain_run(None).unwrap().unwrap();
    assert_eq!((e.run, e.steps, e.cached, e.executed.len()), (second, 2, 1, 1));
    assert_eq!(e.executed[0].reason, Reason::New);
    assert!(store.explain_run(Some(first)).unwrap().is_some());
    for _ in 0..KEEP_RUNS {
        store.record_run(&RunName::default(), 0, &[logged(&a, Status::Cached)]).unwrap();
    }
    assert!(store.explain_run(Some(first)).unwrap().is_none(), "old runs are forgotten");
    let manifests: i64 =
        store.inner.db.lock().query_row("SELECT COUNT(*) FROM step_manifests", [], |r| r.get(0)).unwrap();
    assert_eq!(manifests, 1, "with the manifests only they named");
}

#[test]
fn prunes_leave_tombstones_saying_who_removed_what() {
    // (prune by, tombstone says)
    for by in ["gc", "prune"] {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::open(tmp.path()).unwrap();
        let p = store.prepare(None).unwrap();
        store.commit("sha256:k", &crate::CacheRecord { outputs: vec![p.id], meta: None }).unwrap();
        assert_eq!(store.tombstone("sha256:k").unwrap(), None);
        let report = store.prune_matching(&crate::PrunePolicy::default(), &Default::default(), by).unwrap();
        assert_eq!(report.records, 1);
        let t = store.tombstone("sha256:k").unwrap().expect("a tombstone");
        assert_eq!(t.by, by);
        assert!(t.evicted_ms > 0);
    }
}

#[test]
fn an_upload_remembers_which_paths_changed_since_the_last_one() {
    let (state, host) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let store = Store::open(state.path()).unwrap();
    let root = std::fs::canonicalize(host.path()).unwrap();
    std::fs::create_dir(root.join("d")).unwrap();
    for (p, text) in [("a", "1"), ("d/b", "2"), ("c", "3")] {
        std::fs::write(root.join(p), text).unwrap();
    }
    let spec = crate::upload::UploadSpec::directory(root.clone(), vec![], vec![], false);
    let mut previous = crate::upload::upload(&store, &spec).unwrap().tree();
    // (change, added, removed, changed)
    type Change = Box<dyn Fn(&std::path::Path)>;
    type Case<'a> = (Change, &'a [&'a str], &'a [&'a str], &'a [&'a str]);
    let cases: Vec<Case> = vec![
        (Box::new(|r| std::fs::write(r.join("d/b"), "22").unwrap()), &[], &[], &["d/b"]),
        (Box::new(|r| std::fs::write(r.join("e"), "5").unwrap()), &["e"], &[], &[]),
        (Box::new(|r| std::fs::remove_file(r.join("c")).unwrap()), &[], &["c"], &[]),
    ];
    for (change, added, removed, changed) in cases {
        change(&root);
        let tree = crate::upload::upload(&store, &spec).unwrap().tree();
        let got = store.upload_changes(&tree, &previous).unwrap().expect("changes remembered");
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert_eq!((got.added, got.removed, got.changed), (s(added), s(removed), s(changed)));
        previous = tree;
    }
}

#[test]
fn space_is_counted_per_pipeline_shared_once() {
    use crate::{disk_usage, CacheRecord};
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open(tmp.path()).unwrap();
    // a base both pipelines use, a step each on it, and a result no run names
    let (base, ci, lint, stray) = (upload("base"), upload("ci"), upload("lint"), upload("stray"));
    let commit = |v: &Arc<Vertex>, parent: Option<crate::SnapshotId>, len: usize| {
        let p = store.prepare(parent.map(|p| (p, "/"))).unwrap();
        std::fs::write(p.upper.join("data"), vec![7u8; len]).unwrap();
        store.commit(&v.key().to_string(), &CacheRecord { outputs: vec![p.id], meta: None }).unwrap();
        p.id
    };
    let b = commit(&base, None, 64 << 10);
    let c = commit(&ci, Some(b), 128 << 10);
    let l = commit(&lint, Some(b), 32 << 10);
    let s = commit(&stray, None, 16 << 10);
    let size = |id| disk_usage(&store.snapshot_dir(id));
    let logged = |v: &Arc<Vertex>| LoggedStep { vertex: v.clone(), status: Status::Executed, evicted: None };
    let name = |p: &str| RunName { pipeline: p.into(), workdir: "/src".into() };
    // `lint`'s step names only its own result: the base below it is still its
    store.record_run(&name("python3 ci.py"), 0, &[logged(&base), logged(&ci)]).unwrap();
    store.record_run(&name("lint"), 0, &[logged(&lint)]).unwrap();
    store.record_run(&name("python3 ci.py"), 0, &[logged(&base), logged(&ci)]).unwrap();
    let r = store.space().unwrap();
    // (pipeline, runs, records, bytes, exclusive), most bytes first
    let want = [("python3 ci.py", 2, 2, size(b) + size(c), size(c)), ("lint", 1, 1, size(b) + size(l), size(l))];
    let got: Vec<_> =
        r.pipelines.iter().map(|p| (p.pipeline.as_str(), p.runs, p.records, p.bytes, p.exclusive)).collect();
    assert_eq!(got, want);
    assert_eq!(r.unattributed, size(s), "only the result no run used");
    assert!(r.pipelines.iter().all(|p| p.workdir == "/src" && p.last_run_ms > 0));
}
