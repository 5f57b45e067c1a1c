//! tanto-solver: evaluates the op graph. For each vertex it computes the cache
//! key, answers from memory or from the worker's persistent cache, and
//! otherwise solves the inputs and asks the worker to compute the vertex.
//!
//! Invariants:
//! - Identical vertices (same key) requested at the same time are computed
//!   once: later callers join the in-flight computation.
//! - In-flight work is cancelled when its last waiter goes away (the map of
//!   in-flight work holds only weak handles).
//! - Failures are never cached; a failed vertex is retried by the next caller.
//! - The solver knows nothing of Linux, OCI or GraphQL: what an op does is the
//!   worker's business.
//!
//! Tracing: each [`Solver::solve`] is a `solve` span, and each vertex it
//! answers a `vertex` span inside it (inputs nest under the vertex that needs
//! them), with the fields `digest` (the cache key), `op` (its kind), `label`
//! and `cache`: how it was answered ([`CacheStatus`]). Values are fields, never
//! text in a message, so a progress UI or an OpenTelemetry exporter reads them.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use dashmap::DashMap;
use futures::future::{BoxFuture, FutureExt, Shared, WeakShared};
use parking_lot::Mutex;
use tanto_model::{Digest, Vertex};
use tracing::{field, Instrument, Span};

/// What computes and stores vertex results.
#[async_trait::async_trait]
pub trait Worker: Send + Sync + 'static {
    /// All outputs of one vertex.
    type Output: Clone + Send + Sync + 'static;
    type Error: Clone + Send + Sync + std::fmt::Display + 'static;

    /// The persistent cache: `Ok(None)` is a miss.
    async fn lookup(&self, vertex: &Arc<Vertex>, key: Digest) -> Result<Option<Self::Output>, Self::Error>;

    /// Computes a vertex from its solved inputs (in input order) and records it.
    async fn compute(
        &self,
        vertex: &Arc<Vertex>,
        key: Digest,
        inputs: Vec<Self::Output>,
    ) -> Result<Self::Output, Self::Error>;

    /// A result remembered in memory, held again for one more use; `None`
    /// when it no longer exists (a cache prune may have removed it since),
    /// and it is solved again.
    fn reuse(&self, out: &Self::Output) -> Option<Self::Output> {
        Some(out.clone())
    }

    /// What the solver's memory keeps of a result (without what holds it for one use).
    fn remember(&self, out: &Self::Output) -> Self::Output {
        out.clone()
    }
}

/// Progress of one vertex.
#[derive(Debug, Clone)]
pub enum Event {
    Started { key: Digest, label: String },
    Cached { key: Digest, label: String },
    Done { key: Digest, label: String, duration: Duration },
    Failed { key: Digest, label: String, error: String },
}

pub type EventSink = Arc<dyn Fn(&Event) + Send + Sync>;

/// How a vertex was answered: the `cache` field of its `vertex` span.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheStatus {
    /// Remembered by this solver.
    Memory,
    /// Found in the worker's persistent cache.
    Store,
    /// Computed by the worker.
    Computed,
    /// Its lookup, an input or its computation failed.
    Failed,
}

impl CacheStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            CacheStatus::Memory => "memory",
            CacheStatus::Store => "store",
            CacheStatus::Computed => "computed",
            CacheStatus::Failed => "failed",
        }
    }
}

/// The span of one vertex; `cache` is recorded when the answer is known.
fn vertex_span(vertex: &Vertex, key: Digest) -> Span {
    tracing::info_span!("vertex", digest = %key, op = vertex.kind(), label = %vertex.label(), cache = field::Empty)
}

type SharedResult<W> = Shared<BoxFuture<'static, Result<<W as Worker>::Output, <W as Worker>::Error>>>;
type WeakResult<W> = WeakShared<BoxFuture<'static, Result<<W as Worker>::Output, <W as Worker>::Error>>>;

/// Counts of what the solver did, for tests and benchmarks.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Stats {
    pub computed: u64,
    pub cache_hits: u64,
    pub memory_hits: u64,
}

pub struct Solver<W: Worker> {
    worker: Arc<W>,
    done: DashMap<Digest, W::Output>,
    inflight: Mutex<HashMap<Digest, WeakResult<W>>>,
    events: Mutex<Vec<EventSink>>,
    stats: Mutex<Stats>,
}

impl<W: Worker> Solver<W> {
    pub fn new(worker: Arc<W>) -> Arc<Self> {
        Arc::new(Solver {
            worker,
            done: DashMap::new(),
            inflight: Mutex::new(HashMap::new()),
            events: Mutex::new(Vec::new()),
            stats: Mutex::new(Stats::default()),
        })
    }

    pub fn worker(&self) -> &Arc<W> {
        &self.worker
    }

    pub fn subscribe(&self, sink: EventSink) {
        self.events.lock().push(sink);
    }

    pub fn stats(&self) -> Stats {
        *self.stats.lock()
    }

    fn emit(&self, e: Event) {
        for sink in self.events.lock().iter() {
            sink(&e);
        }
    }

    /// Solves a vertex: its outputs, from memory, the cache or computation.
    pub fn solve(self: &Arc<Self>, vertex: Arc<Vertex>) -> BoxFuture<'static, Result<W::Output, W::Error>> {
        let key = vertex.key();
        let span = tracing::info_span!("solve", digest = %key, op = vertex.kind());
        // The vertex span is made now: in the solve span, not in the caller's.
        span.in_scope(|| self.solve_vertex(vertex, key)).instrument(span).boxed()
    }

    /// [`Solver::solve`] without its `solve` span: the vertex and, recursively, its inputs.
    fn solve_vertex(
        self: &Arc<Self>,
        vertex: Arc<Vertex>,
        key: Digest,
    ) -> BoxFuture<'static, Result<W::Output, W::Error>> {
        let remembered = self.done.get(&key).map(|o| o.clone());
        if let Some(out) = remembered {
            if let Some(out) = self.worker.reuse(&out) {
                self.stats.lock().memory_hits += 1;
                vertex_span(&vertex, key).record("cache", CacheStatus::Memory.as_str());
                return async move { Ok(out) }.boxed();
            }
            self.done.remove(&key);
        }
        let shared: SharedResult<W> = {
            let mut inflight = self.inflight.lock();
            match inflight.get(&key).and_then(|w| w.upgrade()) {
                Some(s) => s,
                None => {
                    let this = self.clone();
                    let span = vertex_span(&vertex, key);
                    let fut = async move { this.run(vertex, key).await }.instrument(span).boxed().shared();
                    inflight.insert(key, fut.downgrade().expect("a fresh shared future has a strong handle"));
                    fut
                }
            }
        };
        let this = self.clone();
        async move {
            let res = shared.await;
            let mut inflight = this.inflight.lock();
            if inflight.get(&key).is_some_and(|w| w.upgrade().is_none()) {
                inflight.remove(&key);
            }
            res
        }
        .boxed()
    }

    /// Answers a vertex from the worker's cache or by computing it; runs in its `vertex` span.
    async fn run(self: Arc<Self>, vertex: Arc<Vertex>, key: Digest) -> Result<W::Output, W::Error> {
        let label = vertex.label();
        let result = self.run_inner(&vertex, key, &label).await;
        self.inflight.lock().remove(&key);
        let status = match &result {
            Ok((_, status)) => *status,
            Err(e) => {
                self.emit(Event::Failed { key, label, error: e.to_string() });
                CacheStatus::Failed
            }
        };
        Span::current().record("cache", status.as_str());
        result.map(|(out, _)| out)
    }

    async fn run_inner(
        self: &Arc<Self>,
        vertex: &Arc<Vertex>,
        key: Digest,
        label: &str,
    ) -> Result<(W::Output, CacheStatus), W::Error> {
        if let Some(out) = self.worker.lookup(vertex, key).await? {
            self.stats.lock().cache_hits += 1;
            self.emit(Event::Cached { key, label: label.to_string() });
            self.done.insert(key, self.worker.remember(&out));
            return Ok((out, CacheStatus::Store));
        }
        // Each input is solved in a task of its own: a chain of ten thousand
        // vertices is ten thousand tasks, not ten thousand nested polls on one
        // stack. Dropping this future aborts them, so cancellation still
        // reaches in-flight work when its last waiter leaves.
        let inputs = futures::future::try_join_all(
            vertex.inputs.iter().map(|i| Spawned::new(self.solve_vertex(i.vertex.clone(), i.vertex.key()))),
        )
        .await?;
        self.emit(Event::Started { key, label: label.to_string() });
        let started = Instant::now();
        let out = self.worker.compute(vertex, key, inputs).await?;
        self.stats.lock().computed += 1;
        self.emit(Event::Done { key, label: label.to_string(), duration: started.elapsed() });
        self.done.insert(key, self.worker.remember(&out));
        Ok((out, CacheStatus::Computed))
    }
}

/// A future run as a task of its own, aborted when dropped.
struct Spawned<T>(tokio::task::JoinHandle<T>);

impl<T: Send + 'static> Spawned<T> {
    fn new(fut: impl Future<Output = T> + Send + 'static) -> Spawned<T> {
        Spawned(tokio::spawn(fut))
    }
}

impl<T> Drop for Spawned<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl<T> Future for Spawned<T> {
    type Output = T;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        match Pin::new(&mut self.0).poll(cx) {
            Poll::Ready(Ok(v)) => Poll::Ready(v),
            // A panic in the task is a panic here, as it was when awaited inline.
            Poll::Ready(Err(e)) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            // Cancelled: only by our own drop, or a runtime shutting down, which
            // drops this future too.
            Poll::Ready(Err(_)) | Poll::Pending => Poll::Pending,
        }
    }
}

#[cfg(test)]
mod tests {
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
}
