//! Plain-text progress on stderr: one numbered line per vertex event and the
//! output of execs, prefixed with the vertex number. SDKs relay stderr to
//! their users as is; secrets never reach it unscrubbed.

use std::collections::HashMap;
use std::io::Write;
use std::sync::Arc;

use parking_lot::Mutex;
use tanto_exec::{OutputSink, OutputStream};
use tanto_model::Digest;
use tanto_solver::Event;

#[derive(Clone, Default)]
pub struct Progress {
    inner: Arc<Mutex<State>>,
}

#[derive(Default)]
struct State {
    numbers: HashMap<Digest, u64>,
    next: u64,
    quiet: bool,
}

impl State {
    fn number(&mut self, key: Digest) -> u64 {
        let next = &mut self.next;
        *self.numbers.entry(key).or_insert_with(|| {
            *next += 1;
            *next
        })
    }
}

fn write_lines(prefix: &str, data: &[u8]) {
    let mut err = std::io::stderr().lock();
    for line in data.split_inclusive(|b| *b == b'\n') {
        let _ = err.write_all(prefix.as_bytes());
        let _ = err.write_all(line);
        if !line.ends_with(b"\n") {
            let _ = err.write_all(b"\n");
        }
    }
}

impl Progress {
    pub fn new(quiet: bool) -> Progress {
        Progress { inner: Arc::new(Mutex::new(State { quiet, ..Default::default() })) }
    }

    pub fn on_event(&self, e: &Event) {
        let mut st = self.inner.lock();
        if st.quiet {
            return;
        }
        let line = match e {
            Event::Started { key, label } => format!("#{} {label}", st.number(*key)),
            Event::Cached { key, label } => format!("#{} {label} CACHED", st.number(*key)),
            Event::Done { key, label: _, duration } => {
                format!("#{} DONE {:.3}s", st.number(*key), duration.as_secs_f64())
            }
            Event::Failed { key, label: _, error } => {
                let first = error.lines().next().unwrap_or("");
                format!("#{} ERROR {first}", st.number(*key))
            }
        };
        drop(st);
        let _ = writeln!(std::io::stderr().lock(), "{line}");
    }

    /// A line about step `key` (`#N text`).
    pub fn note(&self, key: Digest, text: &str) {
        let mut st = self.inner.lock();
        if st.quiet {
            return;
        }
        let n = st.number(key);
        drop(st);
        let _ = writeln!(std::io::stderr().lock(), "#{n} {text}");
    }

    /// A live output sink for an exec, or `None` when its output must be
    /// scrubbed first (then the worker prints it with [`Progress::output`]).
    pub fn exec_sink(&self, key: Digest, secrets: Vec<Arc<Vec<u8>>>) -> Option<OutputSink> {
        let mut st = self.inner.lock();
        if st.quiet || !secrets.is_empty() {
            return None;
        }
        let n = st.number(key);
        Some(Arc::new(move |stream, data: &[u8]| {
            let tag = if matches!(stream, OutputStream::Stdout) { "" } else { "stderr " };
            write_lines(&format!("#{n} {tag}| "), data);
        }))
    }

    /// Prints an exec's (scrubbed) output after the fact.
    pub fn output(&self, key: Digest, combined: &[u8]) {
        let mut st = self.inner.lock();
        if st.quiet || combined.is_empty() {
            return;
        }
        let n = st.number(key);
        drop(st);
        write_lines(&format!("#{n} | "), combined);
    }
}
