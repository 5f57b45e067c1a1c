use super::*;
use std::sync::atomic::{AtomicUsize, Ordering};
use tanto_model::{FileAction, FileOp, Op, Ref};

/// A fake worker: outputs are the list of keys computed so far on the path.
#[derive(Default)]
struct Fake {
    computed: AtomicUsize,
    persisted: DashMap<Digest, Vec<String>>,
    fail_on: Option<String>,
    delay_ms: u64,
    /// Labels whose results are gone (as after a cache prune).
    pruned: Mutex<Vec<String>>,
}

#[async_trait::async_trait]
impl Worker for Fake {
    type Output = Vec<String>;
    type Error = String;
    async fn lookup(&self, _v: &Arc<Vertex>, key: Digest) -> Result<Option<Vec<String>>, String> {
        Ok(self.persisted.get(&key).map(|v| v.clone()))
    }
    async fn compute(&self, v: &Arc<Vertex>, key: Digest, inputs: Vec<Vec<String>>) -> Result<Vec<String>, String> {
        tokio::time::sleep(Duration::from_millis(self.delay_ms)).await;
        self.computed.fetch_add(1, Ordering::SeqCst);
        let label = v.label();
        if self.fail_on.as_deref() == Some(label.as_str()) {
            return Err(format!("{label} failed"));
        }
        let mut out: Vec<String> = inputs.into_iter().flatten().collect();
        out.push(label);
        self.persisted.insert(key, out.clone());
        Ok(out)
    }
    fn reuse(&self, out: &Vec<String>) -> Option<Vec<String>> {
        (!out.last().is_some_and(|l| self.pruned.lock().contains(l))).then(|| out.clone())
    }
}

fn mk(path: &str, input: Option<Arc<Vertex>>) -> Arc<Vertex> {
    let base = input.as_ref().map(|_| 0);
    Vertex::new(
        Op::File(FileOp { base, actions: vec![FileAction::Mkdir { path: path.into(), mode: 0o755, owner: None }] }),
        input.map(|v| vec![Ref::new(v, 0)]).unwrap_or_default(),
    )
}

fn chain(n: usize) -> Arc<Vertex> {
    (0..n).fold(None, |acc, i| Some(mk(&format!("/d{i}"), acc))).unwrap()
}

#[tokio::test]
async fn cases() {
    // (name, vertex, worker, runs, expected computed on first solve, expected computed after a second solve)
    struct Case {
        name: &'static str,
        concurrent: usize,
        vertex: Arc<Vertex>,
        worker: Fake,
        want_ok: bool,
        want_computed: usize,
    }
    let cases = vec![
        Case {
            name: "chain computes each vertex once",
            concurrent: 1,
            vertex: chain(5),
            worker: Fake::default(),
            want_ok: true,
            want_computed: 5,
        },
        Case {
            name: "concurrent identical requests run once",
            concurrent: 8,
            vertex: chain(3),
            worker: Fake { delay_ms: 20, ..Default::default() },
            want_ok: true,
            want_computed: 3,
        },
        Case {
            name: "failures surface and are not cached",
            concurrent: 1,
            vertex: chain(3),
            worker: Fake { fail_on: Some("mkdir /d1".into()), ..Default::default() },
            want_ok: false,
            want_computed: 2,
        },
    ];
    for c in cases {
        let solver = Solver::new(Arc::new(c.worker));
        let results = futures::future::join_all((0..c.concurrent).map(|_| solver.solve(c.vertex.clone()))).await;
        for r in &results {
            assert_eq!(r.is_ok(), c.want_ok, "{}: {r:?}", c.name);
        }
        assert_eq!(solver.worker().computed.load(Ordering::SeqCst), c.want_computed, "{}", c.name);
        // a second solve never recomputes successes; failures retry
        let again = solver.solve(c.vertex.clone()).await;
        assert_eq!(again.is_ok(), c.want_ok, "{}", c.name);
        let extra = if c.want_ok { 0 } else { 1 };
        assert_eq!(solver.worker().computed.load(Ordering::SeqCst), c.want_computed + extra, "{}", c.name);
    }
}

#[tokio::test]
async fn persisted_results_are_reused_by_a_new_solver() {
    let worker = Arc::new(Fake::default());
    let v = chain(4);
    Solver::new(worker.clone()).solve(v.clone()).await.unwrap();
    let fresh = Solver::new(worker.clone());
    let out = fresh.solve(v).await.unwrap();
    assert_eq!(out.len(), 4);
    assert_eq!(worker.computed.load(Ordering::SeqCst), 4);
    assert_eq!(fresh.stats(), Stats { computed: 0, cache_hits: 1, memory_hits: 0 });
}

#[tokio::test]
async fn results_gone_from_the_cache_are_solved_again() {
    let worker = Arc::new(Fake::default());
    let solver = Solver::new(worker.clone());
    let v = chain(2);
    solver.solve(v.clone()).await.unwrap();
    solver.solve(v.clone()).await.unwrap();
    assert_eq!(solver.stats(), Stats { computed: 2, cache_hits: 0, memory_hits: 1 });
    // The top result is pruned: memory no longer answers; the worker's cache is asked.
    worker.pruned.lock().push(v.label());
    worker.persisted.clear();
    let out = solver.solve(v.clone()).await.unwrap();
    assert_eq!(out.len(), 2);
    assert_eq!(
        solver.stats(),
        Stats { computed: 3, cache_hits: 0, memory_hits: 2 },
        "the input from memory, the top computed again"
    );
}

#[tokio::test]
async fn dropping_the_last_waiter_cancels() {
    let worker = Arc::new(Fake { delay_ms: 200, ..Default::default() });
    let solver = Solver::new(worker.clone());
    let v = chain(1);
    let fut = solver.solve(v.clone());
    let _ = tokio::time::timeout(Duration::from_millis(20), fut).await;
    tokio::time::sleep(Duration::from_millis(250)).await;
    assert_eq!(worker.computed.load(Ordering::SeqCst), 0, "cancelled work must not finish");
    solver.solve(v).await.unwrap();
    assert_eq!(worker.computed.load(Ordering::SeqCst), 1);
}
/// What a capturing subscriber saw of one span.
struct Captured {
    id: u64,
    parent: Option<u64>,
    name: &'static str,
    fields: std::collections::BTreeMap<String, String>,
}

/// A layer that records every span with its parent and fields.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<Captured>>>);

struct Fields<'a>(&'a mut std::collections::BTreeMap<String, String>);

impl tracing::field::Visit for Fields<'_> {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().to_string(), format!("{value:?}"));
    }
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        self.0.insert(field.name().to_string(), value.to_string());
    }
}

impl<S> tracing_subscriber::Layer<S> for Capture
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    fn on_new_span(
        &self,
        attrs: &tracing::span::Attributes<'_>,
        id: &tracing::span::Id,
        ctx: tracing_subscriber::layer::Context<'_, S>,
    ) {
        let parent = ctx.span(id).and_then(|s| s.parent()).map(|p| p.id().into_u64());
        let mut fields = std::collections::BTreeMap::new();
        attrs.record(&mut Fields(&mut fields));
        self.0.lock().push(Captured { id: id.into_u64(), parent, name: attrs.metadata().name(), fields });
    }

    fn on_record(
        &self,
        id: &tracing::span::Id,
        values: &tracing::span::Record<'_>,
        _: tracing_subscriber::layer::Context<'_, S>,
    ) {
        // ids are reused once a span closes: the newest span with this id is the live one
        let mut all = self.0.lock();
        if let Some(c) = all.iter_mut().rev().find(|c| c.id == id.into_u64()) {
            values.record(&mut Fields(&mut c.fields));
        }
    }
}

#[tokio::test]
async fn each_vertex_is_a_span_with_its_digest_and_cache_status() {
    use tracing_subscriber::layer::SubscriberExt;

    /// What happened before the solve that is watched.
    enum Before {
        Nothing,
        SolvedBySameSolver,
        PersistedByAnotherSolver,
    }
    struct Case {
        name: &'static str,
        before: Before,
        worker: Fake,
        /// The vertex spans in creation order: (label, cache, parent span's label or "solve").
        want: &'static [(&'static str, &'static str, &'static str)],
    }
    let cases = vec![
        Case {
            name: "a chain is computed",
            before: Before::Nothing,
            worker: Fake::default(),
            want: &[
                ("mkdir /d2", "computed", "solve"),
                ("mkdir /d1", "computed", "mkdir /d2"),
                ("mkdir /d0", "computed", "mkdir /d1"),
            ],
        },
        Case {
            name: "solved again: from memory",
            before: Before::SolvedBySameSolver,
            worker: Fake::default(),
            want: &[("mkdir /d2", "memory", "solve")],
        },
        Case {
            name: "a new solver: from the store",
            before: Before::PersistedByAnotherSolver,
            worker: Fake::default(),
            want: &[("mkdir /d2", "store", "solve")],
        },
        Case {
            name: "a failure fails the vertices above it",
            before: Before::Nothing,
            worker: Fake { fail_on: Some("mkdir /d1".into()), ..Default::default() },
            want: &[
                ("mkdir /d2", "failed", "solve"),
                ("mkdir /d1", "failed", "mkdir /d2"),
                ("mkdir /d0", "computed", "mkdir /d1"),
            ],
        },
    ];
    for Case { name: case, before, worker, want } in cases {
        let v = chain(3);
        let worker = Arc::new(worker);
        let solver = Solver::new(worker.clone());
        match before {
            Before::Nothing => {}
            Before::SolvedBySameSolver => {
                solver.solve(v.clone()).await.unwrap();
            }
            Before::PersistedByAnotherSolver => {
                Solver::new(worker.clone()).solve(v.clone()).await.unwrap();
            }
        }
        let capture = Capture::default();
        let _guard = tracing::subscriber::set_default(tracing_subscriber::registry().with(capture.clone()));
        let _ = solver.solve(v.clone()).await;

        let spans = capture.0.lock();
        let solves: Vec<&Captured> = spans.iter().filter(|s| s.name == "solve").collect();
        assert_eq!(solves.len(), 1, "{case}: one solve span");
        assert_eq!(solves[0].fields["digest"], v.key().to_string(), "{case}: the solve's digest");
        let label_of = |id: Option<u64>| match spans.iter().rev().find(|s| Some(s.id) == id) {
            Some(s) if s.name == "solve" => "solve".to_string(),
            Some(s) => s.fields["label"].clone(),
            None => "none".to_string(),
        };
        let got: Vec<(String, String, String)> = spans
            .iter()
            .filter(|s| s.name == "vertex")
            .map(|s| {
                (s.fields["label"].clone(), s.fields.get("cache").cloned().unwrap_or_default(), label_of(s.parent))
            })
            .collect();
        let want: Vec<(String, String, String)> =
            want.iter().map(|(l, c, p)| (l.to_string(), c.to_string(), p.to_string())).collect();
        assert_eq!(got, want, "{case}");
        // the digest field is the vertex's cache key
        let mut keys = std::collections::HashMap::new();
        let mut at = Some(v.clone());
        while let Some(x) = at {
            keys.insert(x.label(), x.key().to_string());
            at = x.inputs.first().map(|i| i.vertex.clone());
        }
        for s in spans.iter().filter(|s| s.name == "vertex") {
            assert_eq!(s.fields["digest"], keys[&s.fields["label"]], "{case}: digest of {}", s.fields["label"]);
            assert_eq!(s.fields["op"], "file", "{case}");
        }
    }
}

/// A worker whose output is how many vertices the result stands on.
struct Count;

#[async_trait::async_trait]
impl Worker for Count {
    type Output = usize;
    type Error = String;
    async fn lookup(&self, _v: &Arc<Vertex>, _key: Digest) -> Result<Option<usize>, String> {
        Ok(None)
    }
    async fn compute(&self, _v: &Arc<Vertex>, _key: Digest, inputs: Vec<usize>) -> Result<usize, String> {
        Ok(inputs.iter().sum::<usize>() + 1)
    }
}

#[test]
fn long_chains_need_no_stack_per_vertex() {
    // As a tokio worker would: a 2 MiB stack.
    let run = || {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        rt.block_on(async { Solver::new(Arc::new(Count)).solve(chain(10_000)).await })
    };
    let got = std::thread::Builder::new().stack_size(2 << 20).spawn(run).expect("spawn").join();
    assert_eq!(got.ok(), Some(Ok(10_000)), "solved, without overflowing the stack");
}
