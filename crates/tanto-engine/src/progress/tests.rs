use super::tty::{fit, live_lines};
use super::*;

#[test]
fn modes() {
    let cases = [
        ("tty", Ok(ProgressMode::Tty)),
        ("plain", Ok(ProgressMode::Plain)),
        ("PLAIN", Ok(ProgressMode::Plain)),
        ("dots", Ok(ProgressMode::Dots)),
        ("logs", Ok(ProgressMode::Plain)),
        ("quiet", Ok(ProgressMode::Quiet)),
        ("fancy", Err("unknown progress mode `fancy`: use auto, tty, plain, dots or quiet".to_string())),
    ];
    for (input, want) in cases {
        assert_eq!(ProgressMode::parse(input), want, "{input}");
    }
    // (stderr is a terminal, CI, TERM) -> mode
    let auto = [
        (true, None, Some("xterm-256color"), ProgressMode::Tty),
        (true, None, None, ProgressMode::Tty),
        (false, None, Some("xterm"), ProgressMode::Plain),
        (true, Some("true"), Some("xterm"), ProgressMode::Plain),
        (true, Some("1"), Some("xterm"), ProgressMode::Plain),
        (true, Some("false"), Some("xterm"), ProgressMode::Tty),
        (true, Some(""), Some("xterm"), ProgressMode::Tty),
        (true, None, Some("dumb"), ProgressMode::Plain),
    ];
    for (tty, ci, term, want) in auto {
        assert_eq!(
            ProgressMode::auto_from(tty, ci.map(str::to_string), term.map(str::to_string)),
            want,
            "{tty} {ci:?} {term:?}"
        );
    }
}

#[test]
fn summaries() {
    let cases = [
        ((1, 0, 0, 0.2), "1 step: 1 cached, 0 executed in 0.2s"),
        ((3, 2, 0, 1.25), "5 steps: 3 cached, 2 executed in 1.2s"),
        ((0, 1, 1, 75.0), "2 steps: 0 cached, 1 executed, 1 failed in 1m15s"),
    ];
    for ((cached, executed, failed, secs), want) in cases {
        assert_eq!(summary(cached, executed, failed, Duration::from_secs_f64(secs)), want);
    }
}

#[test]
fn output_tails() {
    // (chunks written, last lines shown)
    let cases: &[(&[&str], &[&str])] = &[
        (&["a\nb\n"], &["a", "b"]),
        (&["one\ntwo\nthree\nfour\nfi"], &["three", "four", "fi"]),
        (&["par", "tial"], &["partial"]),
        (&["10%\r50%\r100%\n"], &["100%"]),
        (&["x\n", "\n"], &["x", ""]),
    ];
    for (chunks, want) in cases {
        let mut s = Step::new(1, "exec".into());
        for c in *chunks {
            s.push_output(c.as_bytes());
        }
        assert_eq!(s.last_lines(), want.to_vec(), "{chunks:?}");
    }
    // the kept output is bounded
    let mut s = Step::new(1, "exec".into());
    for _ in 0..3 {
        s.push_output(&vec![b'x'; KEPT_OUTPUT / 2 + 1]);
    }
    assert_eq!(s.output.len(), KEPT_OUTPUT);
}

fn key(n: u8) -> Digest {
    Digest::of(&[n])
}

/// A state where `#1 exec build` waits for `#2 upload` (running, with output)
/// and `#3 pull` (cached), and `#4 exec test` runs on its own.
fn state() -> State {
    let progress = Progress::new(ProgressMode::Quiet);
    let events = [
        Event::Waiting { key: key(1), label: "exec build".into(), inputs: vec![key(2), key(3)] },
        Event::Started { key: key(2), label: "upload /src".into() },
        Event::Cached { key: key(3), label: "pull busybox".into() },
        Event::Started { key: key(4), label: "exec test".into() },
    ];
    for e in &events {
        progress.on_event(e);
    }
    let mut st = std::mem::take(&mut *progress.inner.lock());
    st.steps.get_mut(&key(2)).unwrap().push_output(b"sending\nsent 3 files\n");
    st
}

#[test]
fn the_live_view_is_a_tree_of_steps_in_flight() {
    let st = state();
    let lines = live_lines(&st, 80, 20, 0, false);
    let lines: Vec<String> = lines.iter().map(|l| l.split_whitespace().collect::<Vec<_>>().join(" ")).collect();
    let want = [
        "◦ #1 exec build (waiting for inputs)",
        "⠋ #2 upload /src 0.0s",
        "│ sending",
        "│ sent 3 files",
        "⠋ #4 exec test 0.0s",
    ];
    assert_eq!(lines, want);
    // indentation: the input under the step waiting for it
    let raw = live_lines(&st, 80, 20, 0, false);
    assert!(raw[1].starts_with("  ⠋"), "{raw:?}");
    // cut to the terminal's width, and to its height
    assert!(live_lines(&st, 20, 20, 0, false).iter().all(|l| l.chars().count() <= 20));
    let short = live_lines(&st, 80, 3, 0, false);
    assert_eq!(short.len(), 3);
    assert!(short[2].contains("more lines"), "{short:?}");
}

#[test]
fn finished_steps_and_failures() {
    let mut s = Step::new(7, "exec make".into());
    s.status = Status::Done;
    s.duration = Some(Duration::from_millis(1500));
    assert_eq!(tty::finished_line(&s, false), "✔ #7 exec make 1.5s");
    s.status = Status::Cached;
    assert_eq!(tty::finished_line(&s, false), "● #7 exec make CACHED");
    s.status = Status::Failed;
    s.push_output(b"compiling\nerror: boom\n");
    s.error = Some("process \"make\" did not complete successfully: exit code: 2".into());
    assert_eq!(
        tty::failed_block(&s, false),
        "\n✘ #7 exec make failed\n│ compiling\n│ error: boom\nprocess \"make\" did not complete successfully: exit code: 2\n"
    );
}

#[test]
fn counts_leave_out_steps_that_only_waited_for_a_failed_input() {
    let progress = Progress::new(ProgressMode::Quiet);
    for e in [
        Event::Waiting { key: key(1), label: "exec test".into(), inputs: vec![key(2)] },
        Event::Started { key: key(2), label: "exec build".into() },
        Event::Failed { key: key(2), label: "exec build".into(), error: "exit code: 1".into() },
        Event::Failed { key: key(1), label: "exec test".into(), error: "exit code: 1".into() },
        Event::Cached { key: key(3), label: "pull".into() },
        Event::Started { key: key(4), label: "exec lint".into() },
        Event::Cancelled { key: key(4), label: "exec lint".into() },
    ] {
        progress.on_event(&e);
    }
    assert_eq!(progress.inner.lock().counts(), (1, 0, 1));
    // a cancelled step is no longer in flight
    assert!(live_lines(&progress.inner.lock(), 80, 20, 0, false).is_empty());
}

#[test]
fn plain_output_is_held_until_its_line_ends() {
    let progress = Progress::new(ProgressMode::Plain);
    progress.on_event(&Event::Started { key: key(1), label: "exec uv sync".into() });
    let sink = progress.exec_sink(key(1), Vec::new()).expect("a live sink");
    // (chunk, what stays unprinted on that stream after it)
    let cases: &[(OutputStream, &str, &str)] = &[
        (OutputStream::Stderr, "Installed ", "Installed "),
        (OutputStream::Stderr, "2 packages", "Installed 2 packages"),
        (OutputStream::Stdout, "out\n", ""),
        (OutputStream::Stderr, " in 1ms\nnext", "next"),
    ];
    for (stream, chunk, held) in cases {
        sink(*stream, chunk.as_bytes());
        let i = usize::from(matches!(stream, OutputStream::Stderr));
        let st = progress.inner.lock();
        assert_eq!(String::from_utf8_lossy(&st.steps[&key(1)].unprinted[i]), *held, "after {chunk:?}");
    }
    // the step's end prints what is left
    progress.on_event(&Event::Done { key: key(1), label: "exec uv sync".into(), duration: Duration::ZERO });
    assert!(progress.inner.lock().steps[&key(1)].unprinted.iter().all(Vec::is_empty));
}

#[test]
fn deep_running_steps_and_nameless_ones() {
    let progress = Progress::new(ProgressMode::Quiet);
    // a chain of ten waiting steps over a running one, and a step known only by output
    for i in 0..10u8 {
        progress.on_event(&Event::Waiting { key: key(i), label: format!("exec {i}"), inputs: vec![key(i + 1)] });
    }
    progress.on_event(&Event::Started { key: key(10), label: "exec deep".into() });
    let _ = progress.exec_sink(key(50), Vec::new());
    let st = progress.inner.lock();
    let lines = live_lines(&st, 80, 40, 0, false);
    assert!(lines.iter().any(|l| l.contains("#11 exec deep")), "{lines:?}");
    assert!(!lines.iter().any(|l| l.contains("#12")), "a nameless step is not shown: {lines:?}");
}

#[test]
fn lines_fit_the_terminal_in_columns() {
    // (text, width, shown): wide characters take two columns
    let cases = [
        ("make test", 20, "make test"),
        ("make test", 5, "make…"),
        ("tab\there", 20, "tab here"),
        ("构建镜像完成", 12, "构建镜像完成"),
        ("构建镜像完成", 8, "构建镜…"),
        ("✔ ok 🚀🚀🚀", 7, "✔ ok …"),
        ("", 0, ""),
    ];
    for (text, width, want) in cases {
        assert_eq!(fit(text, width), want, "{text:?} in {width} columns");
        assert!(unicode_width::UnicodeWidthStr::width(fit(text, width).as_str()) <= width.max(1));
    }
}

#[test]
fn step_labels_never_show_a_secret_value() {
    let secrets = Arc::new(crate::secrets::Secrets::new("/".into(), [7; 32]));
    secrets.set("token", b"hunter2-value".to_vec());
    let progress = Progress::new(ProgressMode::Quiet).scrubbing(secrets);
    // (label, shown)
    let cases = [
        ("exec curl -H 'token: hunter2-value' api", "exec curl -H 'token: ***' api"),
        ("exec make test", "exec make test"),
    ];
    for (n, (label, want)) in cases.into_iter().enumerate() {
        progress.on_event(&Event::Started { key: key(n as u8), label: label.into() });
        assert_eq!(progress.inner.lock().steps[&key(n as u8)].label, want);
    }
}
