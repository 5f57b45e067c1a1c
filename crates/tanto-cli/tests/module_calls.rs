//! Python modules through the `tanto` binary, as a user runs them: `tanto
//! init --sdk=python` writes a module, the test gives it functions of its
//! own (`main.py` below), and `tanto call` / `tanto functions` run them —
//! arguments of each kind and their defaults, chains into core fields, a
//! host directory and a secret, Container, Directory (`-o`) and module
//! object results, the error cases, and the engine cache across CLI runs.
//!
//! All cases of a test share one state dir, so the module's runtime is
//! built once (the first call) and once more after `main.py` changes;
//! every case is checked, and the test fails at the end listing each case
//! that did not give what it should, with the command's whole output. The
//! base image is the testkit's stand-in for `python:3.14-slim`, `alpine`
//! the busybox image, in a local registry mirroring docker.io; uv and
//! dagger-io's dependencies come from PyPI. The time of each call is printed.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

tanto_testkit::tests! {
    // test                                           prerequisites                                                        kind
    python_module_functions_called_through_the_cli:   [Root, Registry, Busybox, OciRuntime, Iptables, PythonImage, Pypi]  sync;
    modules_that_cannot_load_fail_with_a_clear_error: [Root, Registry, Busybox, OciRuntime, Iptables]                     sync;
}

/// The module's code after `init`: the template's `container_echo` and
/// functions for every case below.
const MAIN_PY: &str = r#"from typing import Annotated

import json
import uuid

import dagger
from dagger import DefaultPath, dag, field, function, object_type


@object_type
class Counter:
    """A value that functions return and chain on."""

    value: int = field()

    @function
    def increment(self, by: int = 1) -> "Counter":
        """A new counter, BY more."""
        return Counter(value=self.value + by)

    @function
    def show(self) -> str:
        """The value as text."""
        return f"counter={self.value}"


@object_type
class Hello:
    @function
    def container_echo(self, string_arg: str) -> dagger.Container:
        """Returns a container that echoes whatever string argument is provided"""
        return dag.container().from_("alpine:latest").with_exec(["echo", string_arg])

    @function
    def greet(self, name: str, greeting: str = "Hello", times: int = 1, loud: bool = False) -> str:
        """Greets NAME.

        Only this first line is listed.
        """
        text = " ".join([f"{greeting}, {name}!"] * times)
        return text.upper() if loud else text

    @function
    def add(self, a: int, b: int = 10) -> int:
        """Adds two integers."""
        return a + b

    @function
    def negate(self, value: bool = False) -> bool:
        return not value

    @function
    def join(self, words: list[str], sep: str = "+") -> str:
        """Joins the words with SEP."""
        return sep.join(words)

    @function
    def lengths(self, words: list[str]) -> list[int]:
        """The length of each word."""
        return [len(w) for w in words]

    @function
    async def summarize(self, src: dagger.Directory, token: dagger.Secret) -> str:
        """Lists a host directory and measures a secret."""
        entries = sorted(await src.entries())
        first = await src.file("a.txt").contents()
        secret = await token.plaintext()
        return f"entries={','.join(entries)}\na.txt={first}token_length={len(secret)}\n"

    @function
    def build(self) -> dagger.Container:
        """A container to chain core functions on."""
        return dag.container().from_("alpine:latest").with_new_file("/built.txt", "built by hello\n")

    @function
    def generate(self, greeting: str = "hello") -> dagger.Directory:
        """A directory to export."""
        return (
            dag.directory()
            .with_new_file("greeting.txt", f"{greeting}\n")
            .with_new_file("nested/info.txt", "from hello\n")
        )

    @function
    def counter(self, start: int = 0) -> Counter:
        """A counter, an object of this module."""
        return Counter(value=start)

    @function
    async def own_files(self, src: Annotated[dagger.Directory, DefaultPath("src")]) -> str:
        """The entries of SRC, by default the module's src/."""
        return ",".join(sorted(await src.entries()))

    @function
    def fail(self, message: str) -> str:
        """Raises ValueError(MESSAGE)."""
        raise ValueError(message)

    @function
    async def random_id(self, salt: str = "") -> str:
        """A kernel-made UUID; equal on a cache hit."""
        return await (
            dag.container()
            .from_("alpine:latest")
            .with_env_variable("SALT", salt)
            .with_exec(["sh", "-c", "cat /proc/sys/kernel/random/uuid"])
            .stdout()
        )

    @function
    def meta(self, data: dagger.JSON) -> dagger.JSON:
        """DATA with seen=true."""
        d = json.loads(data)
        d["seen"] = True
        return dagger.JSON(json.dumps(d, separators=(",", ":")))

    @function
    async def fetch(self) -> str:
        """A page from a service the function starts."""
        www = (
            dag.container()
            .from_("alpine:latest")
            .with_new_file("/srv/index.html", "served\n")
            .with_exposed_port(8080)
            .as_service(args=["httpd", "-f", "-p", "8080", "-h", "/srv"])
        )
        return await (
            dag.container()
            .from_("alpine:latest")
            .with_service_binding("www", www)
            .with_exec(["wget", "-qO-", "http://www:8080/index.html"])
            .stdout()
        )

    @function
    async def legacy_fetch(self) -> str:
        """The same with the last withExec as the service (engines before v0.15)."""
        www = (
            dag.container()
            .from_("alpine:latest")
            .with_new_file("/srv/index.html", "legacy\n")
            .with_exposed_port(8080)
            .with_exec(["httpd", "-f", "-p", "8080", "-h", "/srv"])
            .as_service()
        )
        return await (
            dag.container()
            .from_("alpine:latest")
            .with_service_binding("www", www)
            .with_exec(["wget", "-qO-", "http://www:8080/index.html"])
            .stdout()
        )

    @function
    def stamped(self, salt: str = "") -> dagger.Container:
        """A container with a UUID made by Python; equal on a kept result."""
        return dag.container().from_("alpine:latest").with_new_file("/stamp", f"{uuid.uuid4()}{salt}")
"#;

/// `tanto functions` of that module (not a TTY: no styling).
const FUNCTIONS: &str = "\
Name             Description
add              Adds two integers.
build            A container to chain core functions on.
container-echo   Returns a container that echoes whatever string argument is provided
counter          A counter, an object of this module.
fail             Raises ValueError(MESSAGE).
fetch            A page from a service the function starts.
generate         A directory to export.
greet            Greets NAME.
join             Joins the words with SEP.
legacy-fetch     The same with the last withExec as the service (engines before v0.15).
lengths          The length of each word.
meta             DATA with seen=true.
negate           -
own-files        The entries of SRC, by default the module's src/.
random-id        A kernel-made UUID; equal on a cache hit.
stamped          A container with a UUID made by Python; equal on a kept result.
summarize        Lists a host directory and measures a secret.
";

struct Fixture {
    _registry: tanto_testkit::Registry,
    config: PathBuf,
    state: PathBuf,
    dir: tempfile::TempDir,
}

/// A registry with busybox (also as `alpine:latest`, which the template
/// uses) and, when `python`, the python image; a fresh state dir.
fn fixture(python: bool) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let registry = tanto_testkit::Registry::start(&dir.path().join("registry")).expect("starting docker-registry");
    let addr = registry.address();
    tanto_testkit::publish_busybox(&addr).expect("pushing busybox");
    let busybox = tanto_testkit::busybox_image().expect("building busybox");
    tanto_testkit::push_image(&addr, "library/alpine", &["latest"], &busybox).expect("pushing alpine");
    if python {
        let t = Instant::now();
        tanto_testkit::python_image::publish_python_image(&addr).expect("pushing the python image");
        eprintln!("python image pushed in {:.1}s", t.elapsed().as_secs_f64());
    }
    let config = dir.path().join("engine.toml");
    tanto_testkit::write_engine_config(&config, &addr).expect("writing the engine config");
    let state = dir.path().join("state");
    Fixture { _registry: registry, config, state, dir }
}

/// What a run of `tanto` gave.
struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
    secs: f64,
}

impl Run {
    fn describe(&self) -> String {
        format!(
            "exit {:?} after {:.1}s\n--- stdout ---\n{}\n--- stderr (last 3000 bytes) ---\n{}",
            self.code,
            self.secs,
            self.stdout,
            tail(&self.stderr, 3000)
        )
    }
}

fn tail(s: &str, n: usize) -> &str {
    let mut start = s.len().saturating_sub(n);
    while !s.is_char_boundary(start) {
        start += 1;
    }
    &s[start..]
}

fn tanto(fx: &Fixture, args: &[String], cwd: &Path, env: &[(&str, &str)]) -> Run {
    let t = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_tanto"))
        .args(args)
        .current_dir(cwd)
        .env("TANTO_CONFIG", &fx.config)
        .env("TANTO_STATE_DIR", &fx.state)
        .env_remove("DAGGER_SESSION_PORT")
        .env_remove("DAGGER_SESSION_TOKEN")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .output()
        .expect("running tanto");
    Run {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        secs: t.elapsed().as_secs_f64(),
    }
}

/// What a case's stdout must be.
enum Out {
    Is(String),
    /// `TYPE@<64 hex digits>\n`: an object's printed ID.
    Id(&'static str),
    /// One kernel UUID and a newline.
    Uuid,
    /// A UUID followed by anything (a value made with one).
    UuidThen,
}

impl Out {
    fn accepts(&self, stdout: &str) -> bool {
        let hex = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_hexdigit());
        match self {
            Out::Is(want) => stdout == want,
            Out::Id(ty) => stdout
                .strip_prefix(&format!("{ty}@"))
                .and_then(|rest| rest.strip_suffix('\n'))
                .is_some_and(|d| hex(d.strip_prefix("sha256:").unwrap_or(d), 64)),
            Out::Uuid => {
                let parts: Vec<&str> = stdout.strip_suffix('\n').unwrap_or("").split('-').collect();
                parts.len() == 5 && parts.iter().zip([8, 4, 4, 4, 12]).all(|(p, n)| hex(p, n))
            }
            Out::UuidThen => stdout.get(..36).is_some_and(|u| Out::Uuid.accepts(&format!("{u}\n"))),
        }
    }
}

fn is(s: &str) -> Out {
    Out::Is(s.to_string())
}

/// One `tanto` command line and what it must give: exit code, stdout,
/// strings stderr holds and strings neither stream may hold.
struct Case<'a> {
    args: Vec<String>,
    cwd: &'a Path,
    env: Vec<(&'a str, &'a str)>,
    code: i32,
    stdout: Out,
    stderr: Vec<String>,
    never: Vec<String>,
}

fn case<'a>(args: &[&str], cwd: &'a Path, code: i32, stdout: Out) -> Case<'a> {
    Case {
        args: args.iter().map(|a| a.to_string()).collect(),
        cwd,
        env: Vec::new(),
        code,
        stdout,
        stderr: Vec::new(),
        never: Vec::new(),
    }
}

impl<'a> Case<'a> {
    fn stderr(mut self, has: &str) -> Self {
        self.stderr.push(has.to_string());
        self
    }
    fn env(mut self, name: &'a str, value: &'a str) -> Self {
        self.env.push((name, value));
        self
    }
    fn never(mut self, s: &str) -> Self {
        self.never.push(s.to_string());
        self
    }
}

/// Runs cases, collecting failures and times.
struct Checker<'f> {
    fx: &'f Fixture,
    failures: Vec<String>,
    times: Vec<(String, f64)>,
}

impl Checker<'_> {
    /// Runs `c` and checks it; returns the run.
    fn check(&mut self, c: &Case) -> Run {
        let run = tanto(self.fx, &c.args, c.cwd, &c.env);
        let line = format!("tanto {}", c.args.join(" "));
        self.times.push((line.clone(), run.secs));
        let mut wrong = Vec::new();
        if run.code != Some(c.code) {
            wrong.push(format!("exit code {:?}, not {}", run.code, c.code));
        }
        if !c.stdout.accepts(&run.stdout) {
            let want = match &c.stdout {
                Out::Is(s) => format!("{s:?}"),
                Out::Id(ty) => format!("{ty}@<digest>\\n"),
                Out::Uuid => "a UUID line".into(),
                Out::UuidThen => "a UUID and more".into(),
            };
            wrong.push(format!("stdout {:?}, not {want}", run.stdout));
        }
        for s in &c.stderr {
            if !run.stderr.contains(s.as_str()) {
                wrong.push(format!("stderr lacks {s:?}"));
            }
        }
        for s in &c.never {
            if run.stdout.contains(s.as_str()) || run.stderr.contains(s.as_str()) {
                wrong.push(format!("the output shows {s:?}"));
            }
        }
        if !wrong.is_empty() {
            self.failures.push(format!("`{line}` (in {}): {}\n{}", c.cwd.display(), wrong.join("; "), run.describe()));
        }
        run
    }

    fn check_all(&mut self, cases: &[Case]) {
        for c in cases {
            self.check(c);
        }
    }

    fn fail(&mut self, what: String) {
        self.failures.push(what);
    }

    fn finish(self) {
        eprintln!("times of the `tanto` runs:");
        for (line, secs) in &self.times {
            eprintln!("  {secs:6.2}s  {line}");
        }
        assert!(self.failures.is_empty(), "{} failing case(s):\n\n{}", self.failures.len(), self.failures.join("\n\n"));
    }
}

fn s(strs: &[&str]) -> Vec<String> {
    strs.iter().map(|s| s.to_string()).collect()
}

/// A fresh value per run (salts, secret values).
fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    format!("{prefix}-{}-{nanos}", std::process::id())
}

fn python_module_functions_called_through_the_cli() {
    let fx = fixture(true);
    let mut ck = Checker { fx: &fx, failures: Vec::new(), times: Vec::new() };
    let work = fx.dir.path().join("work");
    std::fs::create_dir(&work).unwrap();
    let module = work.join("hello");
    let m = module.to_str().unwrap();

    // init, then the template's function (the runtime's first build)
    let init = ck.check(&case(
        &["init", "--sdk=python", "--name=hello", m],
        &work,
        0,
        is(&format!("Initialized module hello in {m}\n")),
    ));
    assert_eq!(init.code, Some(0), "init failed, nothing else can run:\n{}", init.describe());
    let echo = |arg: &str| {
        case(
            &["call", "-m", m, "container-echo", &format!("--string-arg={arg}"), "stdout"],
            &work,
            0,
            is(&format!("{arg}\n")),
        )
    };
    ck.check(&echo("hi"));
    // the same again: the runtime and the exec come from the cache
    ck.check(&echo("hi"));
    // from inside the module, without -m
    ck.check(&case(&["call", "container-echo", "--string-arg=inside", "stdout"], &module, 0, is("inside\n")));

    // the module's own functions (the runtime is built again for the new code)
    std::fs::write(module.join("src/hello/main.py"), MAIN_PY).unwrap();
    ck.check(&case(&["functions", "-m", m], &work, 0, is(FUNCTIONS)));

    // str/int/bool/list arguments and defaults; results printed as Dagger does
    let call = |args: &[&str], stdout: Out| {
        let mut all = vec!["call", "-m", m];
        all.extend_from_slice(args);
        case(&all, &work, 0, stdout)
    };
    ck.check_all(&[
        call(&["greet", "--name=World"], is("Hello, World!")),
        call(&["greet", "--name", "Ada", "--greeting=Hi"], is("Hi, Ada!")),
        call(&["greet", "--name=W", "--times=2", "--loud"], is("HELLO, W! HELLO, W!")),
        call(&["greet", "--name=W", "--loud=false"], is("Hello, W!")),
        call(&["add", "--a=2"], is("12")),
        call(&["add", "--a=2", "--b=-5"], is("-3")),
        call(&["add", "--a", "1", "--b", "2", "--json"], is("3\n")),
        call(&["negate"], is("true")),
        call(&["negate", "--value"], is("false")),
        call(&["join", "--words=a,b,c"], is("a+b+c")),
        call(&["join", "--words=x,y", "--sep=-"], is("x-y")),
        call(&["lengths", "--words=abc,de,f"], is("3\n2\n1\n")),
        call(&["lengths", "--words=ab,c", "--json"], is("[\n    2,\n    1\n]\n")),
    ]);

    // the JSON scalar (kept as `JSON`, as Dagger's acronym rule does)
    ck.check(&call(&["meta", r#"--data={"a":1}"#], is(r#"{"a":1,"seen":true}"#)));

    // a service started and bound inside the function
    ck.check(&call(&["fetch"], is("served\n")));
    // a module written for an engine before v0.15: `withExec(...).asService()` runs
    // that exec as the service (Dagger's legacy view)
    let legacy = work.join("legacy");
    let copied = std::process::Command::new("cp").arg("-r").arg(m).arg(&legacy).status().unwrap();
    assert!(copied.success());
    let config = std::fs::read_to_string(legacy.join("dagger.json")).unwrap();
    let config: serde_json::Value = serde_json::from_str(&config).unwrap();
    let mut config = config.as_object().cloned().unwrap_or_default();
    config.insert("engineVersion".into(), "v0.14.0".into());
    std::fs::write(legacy.join("dagger.json"), serde_json::to_string_pretty(&config).unwrap()).unwrap();
    ck.check(&case(&["call", "legacy-fetch"], &legacy, 0, is("legacy\n")));

    // a Container result, chained into core fields or printed as an ID
    ck.check_all(&[
        call(&["build", "with-exec", "--args=cat,/built.txt", "stdout"], is("built by hello\n")),
        call(&["build", "with-exec", "--args=sh,-c,echo $((6*7))", "stdout"], is("42\n")),
        call(&["build", "file", "--path=/built.txt", "contents"], is("built by hello\n")),
        call(&["build"], Out::Id("Container")),
        call(&["container-echo", "--string-arg=x"], Out::Id("Container")),
    ]);

    // an object of the module's own, chained
    ck.check_all(&[
        call(&["counter", "--start=2", "increment", "--by=3", "show"], is("counter=5")),
        call(&["counter", "--start=2", "increment", "increment", "value"], is("4")),
        call(&["counter"], Out::Id("HelloCounter")),
    ]);

    // a host directory (relative to the CLI's cwd, or absolute) and a secret
    let data = fx.dir.path().join("data");
    std::fs::create_dir_all(data.join("sub")).unwrap();
    std::fs::write(data.join("a.txt"), "alpha\n").unwrap();
    std::fs::write(data.join("sub/b.txt"), "beta\n").unwrap();
    let secret = unique("module-calls-secret");
    let summary = format!("entries=a.txt,sub/\na.txt=alpha\ntoken_length={}\n", secret.len());
    let d = data.to_str().unwrap();
    for (cwd, src, token) in [
        (&data, ".", "--token=env://MY_TOKEN"),
        (&work, d, "--token=env://MY_TOKEN"),
        (&data, ".", "--token=env:MY_TOKEN"),
    ] {
        let src = format!("--src={src}");
        let c = case(&["call", "-m", m, "summarize", &src, token], cwd, 0, is(&summary)).env("MY_TOKEN", &secret);
        ck.check(&c.never(&secret));
    }

    // a DefaultPath argument: left out, the module's own directory; or given
    ck.check_all(&[call(&["own-files"], is("hello/")), call(&["own-files", &format!("--src={d}")], is("a.txt,sub/"))]);

    // a Directory result exported with -o, or with a chained export
    let run = ck.check(
        &call(&["generate", "--greeting=hey", "-o", "out"], is(""))
            .stderr(&format!("Saved to \"{}\".", work.join("out").display())),
    );
    if run.code == Some(0) {
        let files = [("out/greeting.txt", "hey\n"), ("out/nested/info.txt", "from hello\n")];
        for (path, want) in files {
            let got = std::fs::read_to_string(work.join(path)).unwrap_or_else(|e| format!("<{e}>"));
            if got != want {
                ck.fail(format!("-o wrote {path} as {got:?}, not {want:?}"));
            }
        }
    }
    let out2 = work.join("out2");
    ck.check(&call(&["generate", "export", "--path=out2"], is(out2.to_str().unwrap())));
    let got = std::fs::read_to_string(out2.join("greeting.txt")).unwrap_or_else(|e| format!("<{e}>"));
    if got != "hello\n" {
        ck.fail(format!("export --path=out2 wrote greeting.txt as {got:?}"));
    }

    // errors: exit 1, nothing on stdout, the reason on stderr
    let boom = unique("boom");
    let usage = |args: &[&str], msg: &str| {
        let mut c = call(args, is("")).stderr(msg);
        c.code = 1;
        c
    };
    ck.check_all(&[
        case(&["call", "-m", m, "fail", &format!("--message={boom}")], &work, 1, is(""))
            .stderr(&format!("ValueError: {boom}"))
            .stderr("Traceback"),
        usage(&["nope"], "unknown command \"nope\""),
        usage(&["greet", "--name=x", "--nope=1"], "unknown flag: --nope"),
        usage(&["greet"], "required flag(s) \"name\" not set"),
        usage(&["add", "--a=two"], "invalid argument \"two\" for \"--a\" flag"),
        usage(&["counter", "nope"], "unknown command \"nope\" for \"tanto call counter\""),
    ]);

    // the engine cache across CLI runs: the same UUID again, a new one for a new salt
    let salt = unique("salt");
    let first = ck.check(&call(&["random-id", &format!("--salt={salt}")], Out::Uuid));
    ck.check(&call(&["random-id", &format!("--salt={salt}")], is(&first.stdout)));
    let other = ck.check(&call(&["random-id", &format!("--salt={salt}-2")], Out::Uuid));
    if other.stdout == first.stdout {
        ck.fail(format!("a new salt gave the cached UUID {:?}", first.stdout));
    }
    // a Container result is kept across CLI runs too: the function does not
    // run again (its UUID comes from Python, not from a cached step)
    let stamp =
        |salt: &str| call(&["stamped", &format!("--salt={salt}"), "file", "--path=/stamp", "contents"], Out::UuidThen);
    let first = ck.check(&stamp(&salt));
    ck.check(&call(&["stamped", &format!("--salt={salt}"), "file", "--path=/stamp", "contents"], is(&first.stdout)));
    let other = ck.check(&stamp(&format!("{salt}-2")));
    if other.stdout == first.stdout {
        ck.fail(format!("stamped gave {:?} then {:?}", first.stdout, other.stdout));
    }

    // the module from a git repository (a bare clone, tagged): `-m URL/path@tag`
    let repo = fx.dir.path().join("repo");
    let git = |dir: &Path, args: &[&str]| {
        let out = std::process::Command::new("git")
            .args(["-c", "user.email=t@example.com", "-c", "user.name=t"])
            .args(args)
            .current_dir(dir)
            .output()
            .expect("running git");
        assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    };
    std::fs::create_dir_all(repo.join("ci")).unwrap();
    let copied = std::process::Command::new("cp").arg("-r").arg(m).arg(repo.join("ci/hello")).status().unwrap();
    assert!(copied.success());
    git(&repo, &["init", "-q"]);
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-qm", "module"]);
    git(&repo, &["tag", "v1"]);
    git(fx.dir.path(), &["clone", "-q", "--bare", "repo", "repo.git"]);
    let url = format!("file://{}/repo.git/ci/hello@v1", fx.dir.path().display());
    ck.check(&case(&["call", "-m", &url, "greet", "--name=git"], &work, 0, is("Hello, git!")));
    // a later commit on main; `refPin` (a dependency's `pin`) still gets v1's tree
    let rev = |r: &str| {
        let out = std::process::Command::new("git").args(["rev-parse", r]).current_dir(&repo).output().unwrap();
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    let v1 = rev("v1");
    std::fs::write(repo.join("ci/hello/NEW"), "new\n").unwrap();
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-qm", "new"]);
    git(&repo, &["push", "-q", &format!("{}/repo.git", fx.dir.path().display()), "HEAD"]);
    let head = rev("HEAD");
    let bare = format!("file://{}/repo.git/ci/hello", fx.dir.path().display());
    for (pin, commit, has_new) in [("", head.as_str(), true), (v1.as_str(), v1.as_str(), false)] {
        let q = work.join("pin.graphql");
        std::fs::write(
            &q,
            format!(
                "{{ moduleSource(refString: {bare:?}, refPin: {pin:?}) {{ commit pin directory(path: \".\") {{ entries }} }} }}"
            ),
        )
        .unwrap();
        let run = tanto(&fx, &s(&["query", q.to_str().unwrap()]), &work, &[]);
        let v: serde_json::Value = serde_json::from_str(&run.stdout).unwrap_or_default();
        let src = &v["data"]["moduleSource"];
        let entries = src["directory"]["entries"].as_array().cloned().unwrap_or_default();
        let got = (src["commit"].as_str(), src["pin"].as_str(), entries.iter().any(|e| e == "NEW"));
        if got != (Some(commit), Some(commit), has_new) {
            ck.fail(format!(
                "moduleSource at pin {pin:?}: {got:?}, not ({commit}, {commit}, {has_new}): {}",
                run.describe()
            ));
        }
    }
    ck.finish();
}

fn modules_that_cannot_load_fail_with_a_clear_error() {
    let fx = fixture(false);
    let mut ck = Checker { fx: &fx, failures: Vec::new(), times: Vec::new() };
    let base = fx.dir.path().join("work");
    let dirs = [
        ("malformed", Some("{\"name\": \"malformed\",\n")),
        ("go", Some(r#"{"name": "go", "engineVersion": "v0.21.8", "sdk": {"source": "go"}}"#)),
        ("empty", None),
    ];
    for (name, json) in dirs {
        std::fs::create_dir_all(base.join(name)).unwrap();
        if let Some(json) = json {
            std::fs::write(base.join(name).join("dagger.json"), json).unwrap();
        }
    }
    let at = |d: &str| base.join(d).to_string_lossy().into_owned();
    let (malformed, go, empty, absent) = (at("malformed"), at("go"), at("empty"), at("absent"));
    let mut cases = Vec::new();
    for verb in [&["call", "-m"][..], &["functions", "-m"][..]] {
        let with = |m: &str, rest: &[&str]| {
            let mut args = verb.to_vec();
            args.push(m);
            args.extend_from_slice(rest);
            s(&args)
        };
        let fn_args: &[&str] = if verb[0] == "call" { &["greet"] } else { &[] };
        for (m, msg) in [
            (&malformed, format!("`{malformed}/dagger.json` is not valid JSON")),
            (&go, format!("`{go}/dagger.json`: sdk `go` is not supported by tanto yet; supported: python")),
            (&empty, format!("no `dagger.json` in `{empty}`")),
            (&absent, format!("`{absent}`: no such directory")),
        ] {
            let mut c = case(&[], &base, 1, is("")).stderr(&msg);
            c.args = with(m, fn_args);
            cases.push(c);
        }
    }
    // without -m, from a directory with no dagger.json up to /
    let empty_dir = base.join("empty");
    cases.push(case(&["call", "greet"], &empty_dir, 1, is("")).stderr("no dagger.json in"));
    // init with an unknown sdk writes nothing
    cases.push(
        case(&["init", "--sdk=go", "--name=x", "new"], &base, 1, is(""))
            .stderr("sdk `go` is not supported by tanto yet; supported: python"),
    );
    ck.check_all(&cases);
    if base.join("new").exists() {
        ck.fail("`init --sdk=go` left a directory behind".into());
    }

    // a module's dependencies, each known by the name its dependent gives it
    let ws = base.join("ws");
    std::fs::create_dir_all(ws.join(".git")).unwrap();
    for (dir, json) in [
        ("app", r#"{"name":"app","sdk":"python","dependencies":[{"name":"salute","source":"../dep"}]}"#),
        ("dep", r#"{"name":"greeter","sdk":"python"}"#),
    ] {
        std::fs::create_dir_all(ws.join(dir)).unwrap();
        std::fs::write(ws.join(dir).join("dagger.json"), json).unwrap();
    }
    let q = ws.join("deps.graphql");
    std::fs::write(
        &q,
        "{ moduleSource(refString: \"app\") { dependencies { moduleName moduleOriginalName sourceRootSubpath } } }",
    )
    .unwrap();
    let run = tanto(&fx, &s(&["query", q.to_str().unwrap()]), &ws, &[]);
    let v: serde_json::Value = serde_json::from_str(&run.stdout).unwrap_or_default();
    let want =
        serde_json::json!([{"moduleName": "salute", "moduleOriginalName": "greeter", "sourceRootSubpath": "dep"}]);
    if v["data"]["moduleSource"]["dependencies"] != want {
        ck.fail(format!("ModuleSource.dependencies: {}", run.describe()));
    }
    ck.finish();
}
