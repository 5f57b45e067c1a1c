//! Progress on stderr, in one of Dagger's modes (`--progress`):
//!
//! - `plain`: one numbered line per step event and the output of execs,
//!   prefixed with the step's number (CI logs, pipes, SDK sessions);
//! - `tty`: a live view redrawn in place ([`tty`]): the steps in flight as a
//!   tree (a step waiting for its inputs above them), with their state, time
//!   and last lines of output; finished steps scroll above it;
//! - `dots`: one character per finished step;
//! - `quiet`: nothing.
//!
//! Every mode keeps each step's state and (bounded) output, so that the end of
//! a run prints the full output of the steps that failed and a one-line
//! summary ([`Progress::finish`]). Exec output reaches progress already
//! scrubbed of secrets: an exec that uses secrets has no live sink, its
//! output comes through [`Progress::output`] after the scrubbing.

mod tty;

use std::collections::{HashMap, VecDeque};
use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use tanto_exec::{OutputSink, OutputStream};
use tanto_model::Digest;
use tanto_solver::Event;

/// How progress is shown (`--progress`, `TANTO_PROGRESS`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ProgressMode {
    #[default]
    Plain,
    Tty,
    Dots,
    Quiet,
}

impl ProgressMode {
    /// `auto|tty|plain|dots|quiet` (`auto` resolved with [`ProgressMode::auto`]).
    pub fn parse(s: &str) -> Result<ProgressMode, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "" | "auto" => Ok(ProgressMode::auto()),
            "tty" => Ok(ProgressMode::Tty),
            "plain" | "logs" => Ok(ProgressMode::Plain),
            "dots" => Ok(ProgressMode::Dots),
            "quiet" | "none" => Ok(ProgressMode::Quiet),
            other => Err(format!("unknown progress mode `{other}`: use auto, tty, plain, dots or quiet")),
        }
    }

    /// `tty` when stderr is a terminal and this is not CI (`CI` set) nor a dumb
    /// terminal; `plain` otherwise.
    pub fn auto() -> ProgressMode {
        let env = |k: &str| std::env::var(k).ok();
        Self::auto_from(std::io::IsTerminal::is_terminal(&std::io::stderr()), env("CI"), env("TERM"))
    }

    fn auto_from(stderr_tty: bool, ci: Option<String>, term: Option<String>) -> ProgressMode {
        let ci = ci.is_some_and(|v| !v.is_empty() && v != "0" && !v.eq_ignore_ascii_case("false"));
        if stderr_tty && !ci && term.as_deref() != Some("dumb") {
            ProgressMode::Tty
        } else {
            ProgressMode::Plain
        }
    }
}

/// The most output kept per step (its tail), for the end of a failed run.
const KEPT_OUTPUT: usize = 1 << 20;
/// The most of an unfinished line kept for the live view.
const PARTIAL_MAX: usize = 512;
/// Plain mode prints a line with no end yet once this much of it came.
const UNPRINTED_MAX: usize = 8 << 10;
/// Lines of a running step shown under it in the live view.
const TAIL_LINES: usize = 3;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    /// Not in the cache, its inputs being solved.
    Waiting,
    Running,
    Cached,
    Done,
    Failed,
    /// Dropped before it ended: not shown, not counted.
    Cancelled,
}

#[derive(Debug)]
struct Step {
    n: u64,
    label: String,
    status: Status,
    /// When it started running.
    started: Option<Instant>,
    duration: Option<Duration>,
    inputs: Vec<Digest>,
    /// The last lines of output (a partial last line included).
    tail: VecDeque<String>,
    partial: String,
    /// Plain mode: what came after the last newline on stdout and stderr,
    /// printed when the line ends (a tool writing a line in pieces gives one
    /// line) or when the step does.
    unprinted: [Vec<u8>; 2],
    /// Its output, the last [`KEPT_OUTPUT`] bytes.
    output: VecDeque<u8>,
    error: Option<String>,
    /// It ran because a prune had removed its result.
    evicted: bool,
}

impl Step {
    fn new(n: u64, label: String) -> Step {
        Step {
            n,
            label,
            status: Status::Waiting,
            started: None,
            duration: None,
            inputs: Vec::new(),
            tail: VecDeque::new(),
            partial: String::new(),
            unprinted: [Vec::new(), Vec::new()],
            output: VecDeque::new(),
            error: None,
            evicted: false,
        }
    }

    fn push_output(&mut self, data: &[u8]) {
        self.output.extend(data);
        let excess = self.output.len().saturating_sub(KEPT_OUTPUT);
        self.output.drain(..excess);
        for ch in String::from_utf8_lossy(data).chars() {
            match ch {
                '\n' => {
                    let line = std::mem::take(&mut self.partial);
                    self.tail.push_back(line);
                    if self.tail.len() > TAIL_LINES {
                        self.tail.pop_front();
                    }
                }
                '\r' => self.partial.clear(),
                // A line without end is shown by its start (it only feeds the view).
                c if self.partial.len() < PARTIAL_MAX => self.partial.push(c),
                _ => {}
            }
        }
    }

    /// Failed when it ran, not only because an input failed.
    fn failed_itself(&self) -> bool {
        self.status == Status::Failed && (self.started.is_some() || self.inputs.is_empty())
    }

    /// Only a failed step's output is kept past its end.
    fn forget_output(&mut self) {
        self.output = VecDeque::new();
        self.tail = VecDeque::new();
        self.partial = String::new();
    }

    /// The last lines to show under the step.
    fn last_lines(&self) -> Vec<&str> {
        let mut lines: Vec<&str> = self.tail.iter().map(String::as_str).collect();
        if !self.partial.is_empty() {
            lines.push(&self.partial);
        }
        let skip = lines.len().saturating_sub(TAIL_LINES);
        lines.split_off(skip)
    }
}

#[derive(Default)]
struct State {
    mode: ProgressMode,
    steps: HashMap<Digest, Step>,
    next: u64,
    /// When the first step was seen.
    began: Option<Instant>,
    /// Lines for the scrolling part of the terminal, not yet written (tty mode).
    pending: Vec<String>,
}

impl State {
    fn step(&mut self, key: Digest, label: &str) -> &mut Step {
        self.began.get_or_insert_with(Instant::now);
        let next = &mut self.next;
        let step = self.steps.entry(key).or_insert_with(|| {
            *next += 1;
            Step::new(*next, label.to_string())
        });
        if step.label.is_empty() && !label.is_empty() {
            step.label = label.to_string();
        }
        step
    }

    fn number(&mut self, key: Digest) -> u64 {
        self.step(key, "").n
    }

    /// How many steps ended each way: (cached, executed, failed).
    fn counts(&self) -> (usize, usize, usize) {
        let count = |s: Status| self.steps.values().filter(|st| st.status == s).count();
        let failed = self.steps.values().filter(|st| st.failed_itself()).count();
        (count(Status::Cached), count(Status::Done), failed)
    }
}

/// The summary line: `5 steps: 3 cached, 2 executed in 1.2s`.
fn summary(cached: usize, executed: usize, failed: usize, elapsed: Duration) -> String {
    let steps = cached + executed + failed;
    let mut s = format!("{steps} step{}: {cached} cached, {executed} executed", if steps == 1 { "" } else { "s" });
    if failed > 0 {
        s.push_str(&format!(", {failed} failed"));
    }
    s.push_str(&format!(" in {}", duration(elapsed)));
    s
}

/// `0.8s`, `12.3s`, `2m05s`.
fn duration(d: Duration) -> String {
    let secs = d.as_secs_f64();
    if secs < 60.0 {
        format!("{secs:.1}s")
    } else {
        format!("{}m{:02}s", d.as_secs() / 60, d.as_secs() % 60)
    }
}

/// The plain-mode tag of stdout (0) or stderr (1).
fn stream_tag(i: usize) -> &'static str {
    if i == 0 {
        ""
    } else {
        "stderr "
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

/// While alive, the live view draws nothing ([`Progress::pause`]).
pub struct Paused(Option<Arc<tty::Live>>);

impl Drop for Paused {
    fn drop(&mut self) {
        if let Some(live) = &self.0 {
            live.resume();
        }
    }
}

/// The engine's progress: shared by every session and step of the engine.
#[derive(Clone, Default)]
pub struct Progress {
    inner: Arc<Mutex<State>>,
    live: Option<Arc<tty::Live>>,
    /// Step labels are shown with these secrets' values replaced.
    secrets: Option<Arc<crate::secrets::Secrets>>,
}

impl Progress {
    pub fn new(mode: ProgressMode) -> Progress {
        // A live view needs a terminal to draw on (asked for one without: plain lines).
        let mode = if mode == ProgressMode::Tty && !std::io::IsTerminal::is_terminal(&std::io::stderr()) {
            ProgressMode::Plain
        } else {
            mode
        };
        let inner = Arc::new(Mutex::new(State { mode, ..Default::default() }));
        let live = (mode == ProgressMode::Tty).then(|| tty::Live::start(inner.clone()));
        if let Some(live) = &live {
            *LOG_ABOVE.lock() = Some(Arc::downgrade(live));
        }
        Progress { inner, live, secrets: None }
    }

    /// Shows step labels with the values of `secrets` replaced (a command
    /// line may name a value the client also set as a secret).
    pub(crate) fn scrubbing(mut self, secrets: Arc<crate::secrets::Secrets>) -> Progress {
        self.secrets = Some(secrets);
        self
    }

    pub fn mode(&self) -> ProgressMode {
        self.inner.lock().mode
    }

    pub fn on_event(&self, e: &Event) {
        let scrubbed = self.secrets.as_ref().and_then(|s| s.scrub_if_known(e.label())).map(|l| e.with_label(l));
        let e = scrubbed.as_ref().unwrap_or(e);
        let mut st = self.inner.lock();
        let mode = st.mode;
        let line = match e {
            Event::Waiting { key, label, inputs } => {
                let step = st.step(*key, label);
                step.inputs = inputs.clone();
                None
            }
            Event::Started { key, label } => {
                let step = st.step(*key, label);
                step.status = Status::Running;
                step.started = Some(Instant::now());
                Some(format!("#{} {label}", step.n))
            }
            Event::Cached { key, label } => {
                let step = st.step(*key, label);
                step.status = Status::Cached;
                step.forget_output();
                Some(format!("#{} {label} CACHED", step.n))
            }
            Event::Done { key, label, duration } => {
                let step = st.step(*key, label);
                step.status = Status::Done;
                step.duration = Some(*duration);
                step.forget_output();
                Some(format!("#{} DONE {:.3}s", step.n, duration.as_secs_f64()))
            }
            Event::Failed { key, label, error } => {
                let step = st.step(*key, label);
                step.status = Status::Failed;
                step.duration = step.started.map(|t| t.elapsed());
                step.error = Some(error.clone());
                let first = error.lines().next().unwrap_or("");
                Some(format!("#{} ERROR {first}", step.n))
            }
            Event::Cancelled { key, label } => {
                let step = st.step(*key, label);
                step.status = Status::Cancelled;
                step.forget_output();
                None
            }
        };
        match mode {
            ProgressMode::Plain => {
                // The end of a step ends its unfinished output lines.
                let held = match e {
                    Event::Done { key, .. } | Event::Failed { key, .. } | Event::Cancelled { key, .. } => {
                        st.steps.get_mut(key).map(|s| (s.n, std::mem::take(&mut s.unprinted)))
                    }
                    _ => None,
                };
                drop(st);
                if let Some((n, held)) = held {
                    for (i, h) in held.iter().enumerate().filter(|(_, h)| !h.is_empty()) {
                        write_lines(&format!("#{n} {}| ", stream_tag(i)), h);
                    }
                }
                if let Some(line) = line {
                    let _ = writeln!(std::io::stderr().lock(), "{line}");
                }
            }
            ProgressMode::Tty => {
                let key = match e {
                    Event::Cached { key, .. } | Event::Done { key, .. } | Event::Failed { key, .. } => Some(*key),
                    _ => None,
                };
                let finished =
                    key.and_then(|k| st.steps.get(&k)).filter(|s| s.status != Status::Failed || s.failed_itself());
                if let Some(line) = finished.map(|s| tty::finished_line(s, tty::color())) {
                    st.pending.push(line);
                }
            }
            ProgressMode::Dots => {
                let dot = match e {
                    Event::Cached { .. } | Event::Done { .. } => Some("."),
                    Event::Failed { key, .. } if st.steps.get(key).is_some_and(Step::failed_itself) => Some("X"),
                    _ => None,
                };
                drop(st);
                if let Some(dot) = dot {
                    let mut err = std::io::stderr().lock();
                    let _ = err.write_all(dot.as_bytes());
                    let _ = err.flush();
                }
            }
            ProgressMode::Quiet => {}
        }
    }

    /// The step runs because a prune removed its result: `text` says so at
    /// once (`#N text`), and the summary counts it.
    pub fn evicted(&self, key: Digest, text: &str) {
        let mut st = self.inner.lock();
        let mode = st.mode;
        let step = st.step(key, "");
        step.evicted = true;
        let line = format!("#{} {text}", step.n);
        match mode {
            ProgressMode::Plain => {
                drop(st);
                let _ = writeln!(std::io::stderr().lock(), "{line}");
            }
            ProgressMode::Tty => st.pending.push(line),
            ProgressMode::Dots | ProgressMode::Quiet => {}
        }
    }

    /// A live output sink for an exec, or `None` when its output must be
    /// scrubbed first (then the worker passes it to [`Progress::output`]).
    pub fn exec_sink(&self, key: Digest, secrets: Vec<Arc<Vec<u8>>>) -> Option<OutputSink> {
        let mut st = self.inner.lock();
        if st.mode == ProgressMode::Quiet || !secrets.is_empty() {
            return None;
        }
        let n = st.number(key);
        let mode = st.mode;
        let inner = self.inner.clone();
        Some(Arc::new(move |stream, data: &[u8]| {
            let mut st = inner.lock();
            let Some(step) = st.steps.get_mut(&key) else { return };
            if mode != ProgressMode::Plain {
                // Plain mode prints it now and never again: nothing to keep.
                step.push_output(data);
            }
            if mode == ProgressMode::Plain {
                let i = usize::from(!matches!(stream, OutputStream::Stdout));
                let held = &mut step.unprinted[i];
                held.extend_from_slice(data);
                let end = match held.iter().rposition(|b| *b == b'\n') {
                    Some(end) => end + 1,
                    None if held.len() >= UNPRINTED_MAX => held.len(),
                    None => return,
                };
                let rest = held.split_off(end);
                let lines = std::mem::replace(held, rest);
                drop(st);
                write_lines(&format!("#{n} {}| ", stream_tag(i)), &lines);
            }
        }))
    }

    /// An exec's (scrubbed) output, after the fact.
    pub fn output(&self, key: Digest, combined: &[u8]) {
        let mut st = self.inner.lock();
        if st.mode == ProgressMode::Quiet || combined.is_empty() {
            return;
        }
        let mode = st.mode;
        let step = st.step(key, "");
        if mode != ProgressMode::Plain {
            step.push_output(combined);
        }
        let n = step.n;
        drop(st);
        if mode == ProgressMode::Plain {
            write_lines(&format!("#{n} | "), combined);
        }
    }

    /// Writes `data` to stdout or stderr of the user's terminal without
    /// breaking the live view (the output of the command `tanto run` runs).
    pub fn passthrough(&self, stderr: bool, data: &[u8]) {
        match &self.live {
            Some(live) => live.print_above(stderr, data),
            None => {
                let _ = if stderr {
                    std::io::stderr().lock().write_all(data)
                } else {
                    std::io::stdout().lock().write_all(data)
                };
            }
        }
    }

    /// Gives the screen to something else (a terminal into a container): the
    /// live view clears its region and draws nothing (a command's output is
    /// held) until the guard is dropped.
    pub fn pause(&self) -> Paused {
        if let Some(live) = &self.live {
            live.pause();
        }
        Paused(self.live.clone())
    }

    /// Stops the live view (its finished lines stay on the screen).
    pub fn stop_live(&self) {
        if let Some(live) = &self.live {
            live.stop();
        }
    }

    /// Ends the run's progress: stops the live view, prints the full output
    /// of the steps that failed (not in plain mode, where it was printed as it
    /// came) and, when `summary`, the one-line summary.
    pub fn finish(&self, summary_line: bool) {
        if let Some(live) = &self.live {
            live.stop();
        }
        let st = self.inner.lock();
        if st.mode == ProgressMode::Quiet {
            return;
        }
        let color = tty::color() && st.mode == ProgressMode::Tty;
        let mut out = String::new();
        if st.mode == ProgressMode::Dots && !st.steps.is_empty() {
            out.push('\n');
        }
        if st.mode != ProgressMode::Plain {
            let mut failed: Vec<&Step> = st.steps.values().filter(|s| s.failed_itself()).collect();
            failed.sort_by_key(|s| s.n);
            for s in failed {
                out.push_str(&tty::failed_block(s, color));
            }
        }
        if summary_line && st.began.is_some() {
            let (cached, executed, failed) = st.counts();
            let elapsed = st.began.map(|t| t.elapsed()).unwrap_or_default();
            let mut line = summary(cached, executed, failed, elapsed);
            let evicted = st.steps.values().filter(|s| s.evicted).count();
            if evicted > 0 {
                line.push_str(&format!(" ({evicted} run again after GC evicted them)"));
            }
            if st.mode == ProgressMode::Plain {
                out.push_str(&format!("# {line}\n"));
            } else {
                out.push_str(&format!("{}\n", tty::paint(&line, tty::BOLD, color)));
            }
        }
        drop(st);
        let _ = std::io::stderr().lock().write_all(out.as_bytes());
    }
}

#[cfg(test)]
mod tests;

/// The live view log lines go above, while there is one.
static LOG_ABOVE: Mutex<Option<std::sync::Weak<tty::Live>>> = Mutex::new(None);

/// Where log lines (`tracing`'s) go: above the live view while one is drawn
/// — they and the view would overwrite each other — else stderr. A
/// `tracing_subscriber` writer: `fmt::layer().with_writer(log_writer)`.
pub fn log_writer() -> LogWriter {
    LogWriter
}

/// See [`log_writer`].
pub struct LogWriter;

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let live = LOG_ABOVE.lock().as_ref().and_then(std::sync::Weak::upgrade);
        match live {
            // an event is formatted whole and written at once: one line (or a few)
            Some(live) => {
                live.print_above(true, buf);
                Ok(buf.len())
            }
            None => std::io::stderr().lock().write(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}
