//! What a session knows about where it runs: `Query.currentModule`,
//! `currentFunctionCall` and `currentEnv` (a module function call's context,
//! which a client session has not) and `Query.cloud` (`Cloud.traceURL`:
//! tanto has no Dagger Cloud).

use serde::Serialize;

use super::dispatch::{fields, table, Fields};
use super::Object;
use crate::dagger::ApiError;

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
        "{field}: this session is a client session, not a module function call, so it has no {what}; it exists inside a module function call (`tanto call`)"
    ))
}

table!(pub(super) CLOUD: CloudObj = "Cloud", Object::Cloud(c) => c, &[CLOUD_FIELDS], &[]);

static CLOUD_FIELDS: Fields<CloudObj> = fields! { |api, c, call, a|
    "traceURL" => Err(ApiError::from(
        "Cloud.traceURL: tanto is not connected to Dagger Cloud, so there is no trace URL; follow the run in the session's progress output instead",
    )),
};
