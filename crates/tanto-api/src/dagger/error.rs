//! Errors of resolvers, and the one place an engine error becomes a GraphQL error.

use serde_json::{json, Map, Value as Json};
use tanto_contract::{EngineError, ExecFailure};

use tanto_gql::FieldError;

/// An error of a resolver: one the API made itself (a bad argument, an
/// unknown ID: already a GraphQL error), or the engine's.
#[derive(Debug)]
pub enum ApiError {
    Field(FieldError),
    Engine(EngineError),
}

pub type ApiResult<T> = Result<T, ApiError>;

impl From<FieldError> for ApiError {
    fn from(e: FieldError) -> ApiError {
        ApiError::Field(e)
    }
}

impl From<EngineError> for ApiError {
    fn from(e: EngineError) -> ApiError {
        ApiError::Engine(e)
    }
}

impl From<String> for ApiError {
    fn from(message: String) -> ApiError {
        ApiError::Field(FieldError::from(message))
    }
}

impl From<&str> for ApiError {
    fn from(message: &str) -> ApiError {
        ApiError::Field(FieldError::from(message))
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ApiError::Field(e) => f.write_str(&e.message),
            ApiError::Engine(e) => write!(f, "{e}"),
        }
    }
}

/// Dagger keeps the last 100 KiB of exec output in errors, the first bytes
/// replaced by an `[omitting N bytes]...` marker, then trims whitespace.
pub const MAX_EXEC_ERROR_OUTPUT: usize = 100 * 1024;

pub fn error_output(data: &[u8]) -> String {
    let text = if data.len() > MAX_EXEC_ERROR_OUTPUT {
        let marker = format!("[omitting {} bytes]...", data.len() - MAX_EXEC_ERROR_OUTPUT);
        let keep = MAX_EXEC_ERROR_OUTPUT.saturating_sub(marker.len());
        let mut s = marker.into_bytes();
        s.extend_from_slice(&data[data.len() - keep..]);
        String::from_utf8_lossy(&s).into_owned()
    } else {
        String::from_utf8_lossy(data).into_owned()
    };
    text.trim().to_string()
}

/// The extensions of Dagger's `EXEC_ERROR`: all four keys are mandatory for
/// the Python SDK. Other errors carry none (the Rust SDK parses extensions as
/// a `_type`-tagged enum), so an engine error's tier stays in the engine's logs.
fn exec_extensions(f: &ExecFailure) -> Map<String, Json> {
    let mut ext = Map::new();
    ext.insert("_type".into(), json!("EXEC_ERROR"));
    ext.insert("cmd".into(), json!(f.cmd));
    ext.insert("exitCode".into(), json!(f.exit_code));
    ext.insert("stdout".into(), Json::String(error_output(&f.stdout)));
    ext.insert("stderr".into(), Json::String(error_output(&f.stderr)));
    ext
}

impl From<ApiError> for FieldError {
    fn from(e: ApiError) -> FieldError {
        match e {
            ApiError::Field(f) => f,
            ApiError::Engine(EngineError::Exec(f)) => {
                let message = EngineError::Exec(f.clone()).to_string();
                FieldError { message, extensions: Some(exec_extensions(&f)) }
            }
            ApiError::Engine(e @ EngineError::Failed { .. }) => {
                tracing::debug!(tier = e.tier().as_str(), error = %e, "engine error");
                FieldError::from(e.to_string())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_reach_the_client_in_dagger_shapes() {
        let exec = EngineError::exec(ExecFailure {
            cmd: vec!["sh".into(), "-c".into(), "exit 3".into()],
            exit_code: 3,
            stdout: b"out\n".to_vec(),
            stderr: b" err ".to_vec(),
            hint: None,
        });
        let cases: Vec<(ApiError, &str, Option<Json>)> = vec![
            (
                exec.into(),
                "process \"sh -c exit 3\" did not complete successfully: exit code: 3",
                Some(
                    json!({"_type": "EXEC_ERROR", "cmd": ["sh", "-c", "exit 3"], "exitCode": 3, "stdout": "out", "stderr": "err"}),
                ),
            ),
            (EngineError::environment("registry `r` unreachable").into(), "registry `r` unreachable", None),
            (EngineError::not_found("`/x`: no such file or directory").into(), "`/x`: no such file or directory", None),
            ("`expect` must be SUCCESS".into(), "`expect` must be SUCCESS", None),
        ];
        for (e, message, ext) in cases {
            let f = FieldError::from(e);
            assert_eq!(f.message, message);
            assert_eq!(f.extensions.map(Json::Object), ext, "{message}");
        }
    }

    #[test]
    fn long_exec_output_keeps_the_last_100_kib() {
        let data = vec![b'x'; MAX_EXEC_ERROR_OUTPUT + 10];
        let out = error_output(&data);
        assert!(out.starts_with("[omitting 10 bytes]..."));
        assert_eq!(out.len(), MAX_EXEC_ERROR_OUTPUT);
    }
}
