//! The live view (`--progress=tty`): a thread redraws, ten times a second, a
//! region at the bottom of the terminal with the steps in flight as a tree —
//! a step waiting for its inputs above those of them that are in flight, a
//! running step with its time and last lines of output — while finished steps
//! are written above it once and scroll away. crossterm moves the cursor,
//! clears and measures the terminal; lines are cut to its width so that the
//! region never wraps (its height is what the next redraw moves up by).

use std::collections::HashSet;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossterm::style::Stylize;
use parking_lot::Mutex;
use tanto_model::Digest;

use super::{duration, State, Status, Step};

const FRAME: Duration = Duration::from_millis(100);
const SPINNER: [char; 10] = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];
/// Deepest level of the tree shown.
const MAX_DEPTH: usize = 6;
pub(super) const BOLD: u8 = 1;

/// Whether to colour: `NO_COLOR` unset (any value turns colour off).
pub(super) fn color() -> bool {
    std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// `text` in SGR `code` when `color`.
pub(super) fn paint(text: &str, code: u8, color: bool) -> String {
    if color {
        format!("\x1b[{code}m{text}\x1b[0m")
    } else {
        text.to_string()
    }
}

/// The line a finished step leaves above the live view.
pub(super) fn finished_line(s: &Step, color: bool) -> String {
    let took = s.duration.map(|d| format!(" {}", duration(d))).unwrap_or_default();
    let (mark, label) = match s.status {
        Status::Cached => ("●", format!("{} {}", s.label, "CACHED")),
        Status::Failed => ("✘", format!("{}{took} ERROR", s.label)),
        _ => ("✔", format!("{}{took}", s.label)),
    };
    if !color {
        return format!("{mark} #{} {label}", s.n);
    }
    let mark = match s.status {
        Status::Cached => mark.blue().to_string(),
        Status::Failed => mark.red().bold().to_string(),
        _ => mark.green().to_string(),
    };
    let label = if s.status == Status::Cached { label.dim().to_string() } else { label };
    format!("{mark} {} {label}", format!("#{}", s.n).dim())
}

/// What the end of a run prints for a failed step: its error and all its
/// (kept) output.
pub(super) fn failed_block(s: &Step, color: bool) -> String {
    let title = format!("✘ #{} {} failed", s.n, s.label);
    let mut out = format!("\n{}\n", if color { title.red().bold().to_string() } else { title });
    let output = s.output.iter().copied().collect::<Vec<u8>>();
    let output = String::from_utf8_lossy(&output);
    for line in output.lines() {
        out.push_str("│ ");
        out.push_str(line);
        out.push('\n');
    }
    if let Some(e) = &s.error {
        out.push_str(&format!("{}\n", if color { e.clone().red().to_string() } else { e.clone() }));
    }
    out
}

/// `s` without control characters, at most `width` columns (one column per
/// character: output of wide characters may end a little early).
pub(super) fn fit(s: &str, width: usize) -> String {
    use unicode_width::{UnicodeWidthChar as _, UnicodeWidthStr as _};
    let clean: String = s.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    if clean.width() <= width {
        return clean;
    }
    // terminal columns, not chars: a wide character (CJK, emoji) takes two,
    // and a line longer than the terminal would wrap and break the region
    let mut cut = String::new();
    let mut used = 0;
    for c in clean.chars() {
        let w = c.width().unwrap_or(0);
        if used + w > width.saturating_sub(1) {
            break;
        }
        used += w;
        cut.push(c);
    }
    cut.push('…');
    cut
}

/// The live region's lines: the steps in flight as a tree.
pub(super) fn live_lines(st: &State, width: usize, max_lines: usize, tick: usize, color: bool) -> Vec<String> {
    // (a step known only by its output, never started, is not shown)
    let in_flight = |s: &Step| matches!(s.status, Status::Waiting | Status::Running) && !s.label.is_empty();
    // A step is under another when it is an input of a waiting step in flight.
    let mut children: HashSet<Digest> = HashSet::new();
    for s in st.steps.values().filter(|s| s.status == Status::Waiting) {
        children.extend(s.inputs.iter().copied());
    }
    let mut roots: Vec<(&Digest, &Step)> =
        st.steps.iter().filter(|(k, s)| in_flight(s) && !children.contains(k)).collect();
    roots.sort_by_key(|(_, s)| s.n);
    let mut lines = Vec::new();
    let mut seen = HashSet::new();
    let now = Instant::now();
    for (key, _) in roots {
        walk(st, key, 0, &mut lines, &mut seen, width, tick, now, color);
    }
    // A running step deeper than the tree shows is shown on its own.
    let mut deep: Vec<(&Digest, &Step)> = st
        .steps
        .iter()
        .filter(|(k, s)| s.status == Status::Running && !s.label.is_empty() && !seen.contains(*k))
        .collect();
    deep.sort_by_key(|(_, s)| s.n);
    for (key, _) in deep {
        walk(st, key, 0, &mut lines, &mut seen, width, tick, now, color);
    }
    if lines.len() > max_lines {
        let hidden = lines.len() - max_lines + 1;
        lines.truncate(max_lines - 1);
        lines.push(fit(&format!("  … {hidden} more lines"), width));
    }
    lines
}

#[allow(clippy::too_many_arguments)]
fn walk(
    st: &State,
    key: &Digest,
    depth: usize,
    lines: &mut Vec<String>,
    seen: &mut HashSet<Digest>,
    width: usize,
    tick: usize,
    now: Instant,
    color: bool,
) {
    let Some(s) = st.steps.get(key) else { return };
    if !matches!(s.status, Status::Waiting | Status::Running) || depth > MAX_DEPTH || !seen.insert(*key) {
        return;
    }
    let indent = "  ".repeat(depth);
    let head = match s.status {
        Status::Running => {
            let took = s.started.map(|t| duration(now.duration_since(t))).unwrap_or_default();
            let spin = SPINNER[tick % SPINNER.len()];
            let text = fit(&format!("{indent}{spin} #{} {} {took}", s.n, s.label), width);
            if color {
                text.yellow().to_string()
            } else {
                text
            }
        }
        _ => {
            let text = fit(&format!("{indent}◦ #{} {} (waiting for inputs)", s.n, s.label), width);
            if color {
                text.dim().to_string()
            } else {
                text
            }
        }
    };
    lines.push(head);
    if s.status == Status::Running {
        for l in s.last_lines() {
            let text = fit(&format!("{indent}  │ {l}"), width);
            lines.push(if color { text.dim().to_string() } else { text });
        }
    }
    let mut inputs: Vec<&Digest> = s.inputs.iter().collect();
    inputs.sort_by_key(|k| st.steps.get(k).map(|s| s.n).unwrap_or(u64::MAX));
    for k in inputs {
        walk(st, k, depth + 1, lines, seen, width, tick, now, color);
    }
}

/// The live view's thread and what is on the screen.
pub(super) struct Live {
    state: Arc<Mutex<State>>,
    /// Lines of the live region now on the screen; held while writing.
    drawn: Mutex<usize>,
    stopped: AtomicBool,
    /// While a terminal has the screen: nothing drawn.
    /// Terminals holding the screen: nothing is drawn while any is.
    paused: std::sync::atomic::AtomicUsize,
    /// A command's output that came while paused, written on resume.
    held: Mutex<Vec<(bool, Vec<u8>)>>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl Live {
    pub(super) fn start(state: Arc<Mutex<State>>) -> Arc<Live> {
        let live = Arc::new(Live {
            state,
            drawn: Mutex::new(0),
            stopped: AtomicBool::new(false),
            paused: std::sync::atomic::AtomicUsize::new(0),
            held: Mutex::new(Vec::new()),
            thread: Mutex::new(None),
        });
        let weak = Arc::downgrade(&live);
        let thread = std::thread::Builder::new().name("tanto-progress".into()).spawn(move || {
            let mut tick = 0usize;
            loop {
                std::thread::sleep(FRAME);
                let Some(live) = weak.upgrade() else { return };
                if live.stopped.load(Ordering::Acquire) {
                    return;
                }
                live.redraw(tick, false);
                tick += 1;
            }
        });
        match thread {
            Ok(t) => *live.thread.lock() = Some(t),
            Err(e) => tracing::warn!(error = %e, "the live progress view could not start"),
        }
        live
    }

    /// Clears the region, writes what finished (and `extra`) above it, and
    /// draws it again unless `last`.
    fn redraw_with(&self, tick: usize, last: bool, extra: Option<(bool, &[u8])>) {
        let mut drawn = self.drawn.lock();
        // Checked under the lock `pause` takes: no frame lands on a terminal.
        if self.paused.load(Ordering::Acquire) > 0 {
            if let Some((stderr, data)) = extra {
                self.held.lock().push((stderr, data.to_vec()));
            }
            return;
        }
        let held = std::mem::take(&mut *self.held.lock());
        for (stderr, data) in held {
            let mut out: Box<dyn Write> =
                if stderr { Box::new(std::io::stderr().lock()) } else { Box::new(std::io::stdout().lock()) };
            let _ = out.write_all(&data);
            let _ = out.flush();
        }
        let (cols, rows) = crossterm::terminal::size().unwrap_or((80, 24));
        let width = (cols as usize).saturating_sub(1).max(20);
        let max_lines = (rows as usize).saturating_sub(2).clamp(3, 30);
        let color = color();
        let (pending, live) = {
            let mut st = self.state.lock();
            let pending = std::mem::take(&mut st.pending);
            let live = if last { Vec::new() } else { live_lines(&st, width, max_lines, tick, color) };
            (pending, live)
        };
        if pending.is_empty() && live.is_empty() && *drawn == 0 && extra.is_none() {
            return;
        }
        let mut buf: Vec<u8> = Vec::new();
        if *drawn > 0 {
            let _ = crossterm::queue!(
                buf,
                crossterm::cursor::MoveUp(*drawn as u16),
                crossterm::cursor::MoveToColumn(0),
                crossterm::terminal::Clear(crossterm::terminal::ClearType::FromCursorDown)
            );
        }
        for line in &pending {
            buf.extend_from_slice(line.as_bytes());
            buf.push(b'\n');
        }
        let mut err = std::io::stderr().lock();
        if let Some((stderr, data)) = extra {
            let _ = err.write_all(&buf);
            buf.clear();
            let _ = err.flush();
            if stderr {
                let _ = err.write_all(data);
                let _ = err.flush();
            } else {
                let mut out = std::io::stdout().lock();
                let _ = out.write_all(data);
                let _ = out.flush();
            }
        }
        for line in &live {
            buf.extend_from_slice(line.as_bytes());
            buf.push(b'\n');
        }
        let _ = err.write_all(&buf);
        let _ = err.flush();
        *drawn = live.len();
    }

    fn redraw(&self, tick: usize, last: bool) {
        self.redraw_with(tick, last, None);
    }

    /// Writes `data` (a command's output) above the region.
    pub(super) fn print_above(&self, stderr: bool, data: &[u8]) {
        self.redraw_with(0, self.stopped.load(Ordering::Acquire), Some((stderr, data)));
    }

    /// Clears the region and draws nothing until [`Live::resume`].
    pub(super) fn pause(&self) {
        self.redraw(0, true);
        let _drawn = self.drawn.lock();
        self.paused.fetch_add(1, Ordering::AcqRel);
    }

    pub(super) fn resume(&self) {
        let _ = self.paused.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1));
    }

    /// Stops the thread and leaves the finished lines on the screen.
    pub(super) fn stop(&self) {
        if self.stopped.swap(true, Ordering::AcqRel) {
            return;
        }
        if let Some(t) = self.thread.lock().take() {
            let _ = t.join();
        }
        self.redraw(0, true);
    }
}
