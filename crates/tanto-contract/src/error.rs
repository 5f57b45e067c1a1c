//! The engine's error: a message with its tier, or a failed exec with its payload.

use tanto_model::{Tier, Tiered};

/// A process that ran and did not end as expected (Dagger's `EXEC_ERROR`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecFailure {
    pub cmd: Vec<String>,
    pub exit_code: i32,
    /// Scrubbed of secrets.
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    /// Said after the standard message (e.g. why a command was not found).
    pub hint: Option<String>,
}

/// An error of engine work, with whose fault it is.
///
/// Every lower crate's error converts into it with its own tier (`?` works on
/// any [`Tiered`] error); the API turns it into a GraphQL error in one place.
#[derive(Debug, Clone, thiserror::Error)]
pub enum EngineError {
    #[error("{message}")]
    Failed { tier: Tier, message: String },
    /// Dagger's wording: the SDKs raise `ExecError` from the extensions and
    /// users match on `exit code: N`.
    #[error("{}", exec_message(.0))]
    Exec(Box<ExecFailure>),
}

fn exec_message(f: &ExecFailure) -> String {
    let base = format!("process \"{}\" did not complete successfully: exit code: {}", f.cmd.join(" "), f.exit_code);
    match &f.hint {
        Some(h) => format!("{base}: {h}"),
        None => base,
    }
}

impl EngineError {
    pub fn new(tier: Tier, message: impl Into<String>) -> EngineError {
        EngineError::Failed { tier, message: message.into() }
    }

    /// The request is wrong: a bad argument, reference or path.
    pub fn input(message: impl Into<String>) -> EngineError {
        EngineError::new(Tier::Input, message)
    }

    /// What the request names does not exist.
    pub fn not_found(message: impl Into<String>) -> EngineError {
        EngineError::new(Tier::NotFound, message)
    }

    /// The host, the network or a registry failed or lacks something.
    pub fn environment(message: impl Into<String>) -> EngineError {
        EngineError::new(Tier::Environment, message)
    }

    /// A bug in tanto.
    pub fn internal(message: impl Into<String>) -> EngineError {
        EngineError::new(Tier::Internal, format!("internal error: {}", message.into()))
    }

    /// A field the engine does not implement yet (`Type.field`).
    pub fn not_implemented(field: &str) -> EngineError {
        EngineError::new(Tier::Input, format!("not implemented yet: {field}"))
    }

    pub fn exec(failure: ExecFailure) -> EngineError {
        EngineError::Exec(Box::new(failure))
    }

    pub fn tier(&self) -> Tier {
        match self {
            EngineError::Failed { tier, .. } => *tier,
            EngineError::Exec(_) => Tier::Input,
        }
    }

    /// The same error said as `{what}: {message}` (an exec failure is kept as it is).
    pub fn context(self, what: impl std::fmt::Display) -> EngineError {
        match self {
            EngineError::Failed { tier, message } => {
                EngineError::Failed { tier, message: format!("{what}: {message}") }
            }
            exec => exec,
        }
    }
}

/// Any tiered error of a lower crate keeps its tier.
impl<E: Tiered> From<E> for EngineError {
    fn from(e: E) -> EngineError {
        EngineError::new(e.tier(), e.to_string())
    }
}

/// `Result` with an [`EngineError`].
pub type EngineResult<T> = Result<T, EngineError>;

/// Adds what was being done to an error, keeping its tier.
pub trait Context<T> {
    fn context(self, what: impl std::fmt::Display) -> EngineResult<T>;
}

impl<T, E: Into<EngineError>> Context<T> for Result<T, E> {
    fn context(self, what: impl std::fmt::Display) -> EngineResult<T> {
        self.map_err(|e| e.into().context(what))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("lower failure")]
    struct Lower(Tier);
    impl Tiered for Lower {
        fn tier(&self) -> Tier {
            self.0
        }
    }

    #[test]
    fn lower_errors_keep_their_tier_through_context() {
        for tier in [Tier::Input, Tier::NotFound, Tier::Environment, Tier::Internal] {
            let r: Result<(), Lower> = Err(Lower(tier));
            let e = r.context("pulling `x`").unwrap_err();
            assert_eq!(e.tier(), tier);
            assert_eq!(e.to_string(), "pulling `x`: lower failure");
        }
    }

    #[test]
    fn exec_failures_say_the_exit_code_as_dagger_does() {
        let cases = [
            (None, "process \"sh -c exit 3\" did not complete successfully: exit code: 3"),
            (
                Some("`nope` not found"),
                "process \"sh -c exit 3\" did not complete successfully: exit code: 3: `nope` not found",
            ),
        ];
        for (hint, want) in cases {
            let e = EngineError::exec(ExecFailure {
                cmd: vec!["sh".into(), "-c".into(), "exit 3".into()],
                exit_code: 3,
                stdout: vec![],
                stderr: vec![],
                hint: hint.map(str::to_string),
            });
            assert_eq!(e.to_string(), want);
            assert_eq!(e.clone().context("ignored").to_string(), want);
        }
    }
}
