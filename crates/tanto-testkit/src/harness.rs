//! The harness of the test binaries whose tests need something from the
//! machine (root, a registry, podman, ...): libtest's command line and output
//! (through `libtest-mimic`, which cargo test and nextest run like libtest),
//! with each test's prerequisites ([`Need`]) checked when the binary starts.
//!
//! | prerequisites | `CI` unset | `CI=true` |
//! |---|---|---|
//! | all there | runs | runs |
//! | one missing | listed as ignored: nextest counts it as skipped, `cargo test` prints `ignored` and the reason | runs and fails, naming what is missing and how to install it |
//!
//! A skipped test never counts as passed. Asked to run it anyway
//! (`--run-ignored`, `--ignored`), it fails with the same message. A `slow`
//! test is ignored by default whatever its prerequisites (the slow tier).
//!
//! A test binary opts in with `harness = false` in its `[[test]]` section and
//! one table:
//!
//! ```ignore
//! tanto_testkit::tests! {
//!     // test                               prerequisites        kind
//!     pipelines_against_a_real_registry:    [Root, Registry]     async;
//!     uploads_are_incremental:              [Root]               sync;
//!     slow_postgres_service:                [Root, Iptables]     async slow;
//! }
//! ```
//!
//! `async` tests run on a multi-threaded tokio runtime with two workers (what
//! `#[tokio::test(flavor = "multi_thread", worker_threads = 2)]` did).

use std::future::Future;

use libtest_mimic::{Arguments, Trial};

use crate::prereq::{self, Need};

/// One test of a table.
pub struct Case {
    pub name: &'static str,
    pub needs: &'static [Need],
    /// In the slow tier: ignored unless asked for.
    pub slow: bool,
    pub body: Box<dyn FnOnce() + Send>,
}

/// Runs `future` to completion on a fresh multi-threaded runtime (two workers).
pub fn block_on(future: impl Future<Output = ()>) {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("building a tokio runtime")
        .block_on(future)
}

/// Lists or runs `cases` as the command line asks (libtest's arguments), then
/// exits with libtest's exit code.
pub fn run(cases: Vec<Case>) -> ! {
    let args = Arguments::from_args();
    let ci = prereq::ci();
    let mut skipped = Vec::new();
    let trials: Vec<Trial> = cases
        .into_iter()
        .map(|case| {
            let missing = prereq::missing(case.needs);
            let skip = !missing.is_empty() && !ci;
            let message = (!missing.is_empty()).then(|| missing_message(case.name, &missing, ci));
            let body = case.body;
            let trial = Trial::test(case.name, move || match message {
                Some(message) => Err(message.into()),
                None => {
                    body();
                    Ok(())
                }
            })
            .with_ignored_flag(case.slow || skip);
            if skip && !case.slow && !args.is_filtered_out(&trial) {
                skipped.push((case.name, missing));
            }
            trial
        })
        .collect();
    if !args.list {
        for (name, missing) in &skipped {
            eprintln!("skipped {name}: {}", missing.join("; "));
        }
    }
    libtest_mimic::run(&args, trials).exit()
}

/// The failure of a test that cannot run here.
pub(crate) fn missing_message(name: &str, missing: &[&str], ci: bool) -> String {
    let why = if ci {
        "CI is set, so a test that cannot run fails instead of being skipped"
    } else {
        "it was asked for although it cannot run here"
    };
    let list: String = missing.iter().map(|m| format!("\n  - {m}")).collect();
    format!("`{name}` is missing prerequisites ({why}):{list}")
}

/// The `main` of a test binary: a table of tests with their prerequisites; see
/// the [module docs](crate::harness).
#[macro_export]
macro_rules! tests {
    ($( $name:ident : [$($need:ident),* $(,)?] $($kind:ident)+ );+ $(;)?) => {
        fn main() {
            $crate::harness::run(vec![$($crate::__tanto_case!(($($kind)+) $name [$($need),*])),+])
        }
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __tanto_case {
    ((sync) $name:ident $needs:tt) => { $crate::__tanto_case!(@ $name $needs false, $name) };
    ((sync slow) $name:ident $needs:tt) => { $crate::__tanto_case!(@ $name $needs true, $name) };
    ((async) $name:ident $needs:tt) => {
        $crate::__tanto_case!(@ $name $needs false, || $crate::harness::block_on($name()))
    };
    ((async slow) $name:ident $needs:tt) => {
        $crate::__tanto_case!(@ $name $needs true, || $crate::harness::block_on($name()))
    };
    (@ $name:ident [$($need:ident),*] $slow:expr, $body:expr) => {
        $crate::harness::Case {
            name: stringify!($name),
            needs: &[$($crate::prereq::Need::$need),*],
            slow: $slow,
            body: Box::new($body),
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_test_what_is_missing_and_why() {
        // (ci, expected message)
        let cases = [
            (true, "`t` is missing prerequisites (CI is set, so a test that cannot run fails instead of being skipped):\n  - a\n  - b"),
            (false, "`t` is missing prerequisites (it was asked for although it cannot run here):\n  - a\n  - b"),
        ];
        for (ci, want) in cases {
            assert_eq!(missing_message("t", &["a", "b"], ci), want);
        }
    }
}
