//! What a session knows about where it runs: `Query.currentModule`,
//! `currentFunctionCall` and `currentEnv` (a module function call's context,
//! which a client session has not) and `Query.cloud` (`Cloud.traceURL`:
//! tanto has no Dagger Cloud).

use serde::Serialize;

use super::{not_implemented, resolved, Api, Object};
use crate::dagger::ApiError;
use tanto_gql::{FieldCall, Resolved};

#[derive(Debug, Clone, Default, Serialize)]
pub struct CloudObj {}

/// The error of `currentModule`, `currentFunctionCall` and `currentEnv` in a
/// client session, the only kind tanto serves: one wording for all three.
pub fn no_function_call_context(field: &str) -> ApiError {
    let what = match field {
        "currentModule" => "current module",
        "currentFunctionCall" => "current function call",
        "currentEnv" => "current env",
        other => other,
    };
    ApiError::from(format!(
        "{field}: this session is a client session, not a module function call, so it has no {what}; tanto does not run module functions yet"
    ))
}

impl Api {
    pub(super) fn cloud(&self, _c: &CloudObj, call: &FieldCall<'_>) -> Result<Resolved, ApiError> {
        match call.field {
            "traceURL" => Err(ApiError::from(
                "Cloud.traceURL: tanto is not connected to Dagger Cloud, so there is no trace URL; follow the run in the session's progress output instead",
            )),
            _ => Err(not_implemented(call)),
        }
    }

    pub(super) fn session_query(&self, call: &FieldCall<'_>) -> Result<Resolved, ApiError> {
        match call.field {
            "cloud" => Ok(resolved(Object::Cloud(CloudObj {}))),
            f => Err(no_function_call_context(f)),
        }
    }
}
