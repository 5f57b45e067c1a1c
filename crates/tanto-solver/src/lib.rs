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
//! and `cache`: how it was answered ([`CacheStatus`]); a failed one also has
//! `otel.status_code = "ERROR"`. Values are fields, never text in a message,
//! so a progress UI or an OpenTelemetry exporter reads them.

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

    /// Whether the last [`Worker::compute`] of `key` found its result in a
    /// cache rather than running it (a cache that needs the inputs first):
    /// reported as cached.
    fn computed_from_cache(&self, _key: Digest) -> bool {
        false
    }
}

/// Progress of one vertex.
#[derive(Debug, Clone)]
pub enum Event {
    /// Not in the cache: its inputs are solved first (they may run).
    Waiting {
        key: Digest,
        label: String,
        inputs: Vec<Digest>,
    },
    Started {
        key: Digest,
        label: String,
    },
    Cached {
        key: Digest,
        label: String,
    },
    Done {
        key: Digest,
        label: String,
        duration: Duration,
    },
    Failed {
        key: Digest,
        label: String,
        error: String,
    },
    /// Dropped before it ended (its last waiter went away).
    Cancelled {
        key: Digest,
        label: String,
    },
}

impl Event {
    /// The vertex's label (`exec make test`, `pull layer ...`).
    pub fn label(&self) -> &str {
        match self {
            Event::Waiting { label, .. }
            | Event::Started { label, .. }
            | Event::Cached { label, .. }
            | Event::Done { label, .. }
            | Event::Failed { label, .. }
            | Event::Cancelled { label, .. } => label,
        }
    }

    /// The same event under another label.
    pub fn with_label(&self, new: String) -> Event {
        let mut e = self.clone();
        match &mut e {
            Event::Waiting { label, .. }
            | Event::Started { label, .. }
            | Event::Cached { label, .. }
            | Event::Done { label, .. }
            | Event::Failed { label, .. }
            | Event::Cancelled { label, .. } => *label = new,
        }
        e
    }
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
    tracing::info_span!(
        "vertex",
        digest = %key,
        op = vertex.kind(),
        label = %vertex.label(),
        cache = field::Empty,
        otel.status_code = field::Empty,
    )
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
        // Says `Cancelled` if this future is dropped before the end.
        let mut pending = Pending { solver: &*self, key, label: Some(label.clone()) };
        let result = self.run_inner(&vertex, key, &label).await;
        pending.label = None;
        self.inflight.lock().remove(&key);
        let status = match &result {
            Ok((_, status)) => *status,
            Err(e) => {
                self.emit(Event::Failed { key, label, error: e.to_string() });
                Span::current().record("otel.status_code", "ERROR");
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
        if !vertex.inputs.is_empty() {
            let inputs = vertex.inputs.iter().map(|i| i.vertex.key()).collect();
            self.emit(Event::Waiting { key, label: label.to_string(), inputs });
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
        if self.worker.computed_from_cache(key) {
            self.stats.lock().cache_hits += 1;
            self.emit(Event::Cached { key, label: label.to_string() });
            self.done.insert(key, self.worker.remember(&out));
            return Ok((out, CacheStatus::Store));
        }
        self.stats.lock().computed += 1;
        self.emit(Event::Done { key, label: label.to_string(), duration: started.elapsed() });
        self.done.insert(key, self.worker.remember(&out));
        Ok((out, CacheStatus::Computed))
    }
}

/// Emits [`Event::Cancelled`] when dropped with its label still set.
struct Pending<'a, W: Worker> {
    solver: &'a Solver<W>,
    key: Digest,
    label: Option<String>,
}

impl<W: Worker> Drop for Pending<'_, W> {
    fn drop(&mut self) {
        if let Some(label) = self.label.take() {
            self.solver.emit(Event::Cancelled { key: self.key, label });
        }
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
mod tests;
