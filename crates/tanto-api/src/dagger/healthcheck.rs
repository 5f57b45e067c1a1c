//! Docker healthchecks: `Container.withDockerHealthcheck`/`dockerHealthcheck`,
//! Dockerfile `HEALTHCHECK`, and the image config's `Healthcheck` object
//! (durations in nanoseconds there, Go duration strings in the API).

use serde_json::json;

use super::{leaf, not_implemented, Api};
use crate::dagger::ApiError;
use tanto_contract::image::Healthcheck;
use tanto_gql::{FieldCall, Resolved};

impl Api {
    pub(super) async fn healthcheck_field(&self, h: &Healthcheck, call: &FieldCall<'_>) -> Result<Resolved, ApiError> {
        match call.field {
            "args" => Ok(leaf(json!(h.args))),
            "shell" => Ok(leaf(h.shell)),
            "interval" => Ok(leaf(h.interval.clone())),
            "timeout" => Ok(leaf(h.timeout.clone())),
            "startPeriod" => Ok(leaf(h.start_period.clone())),
            "startInterval" => Ok(leaf(h.start_interval.clone())),
            "retries" => Ok(leaf(h.retries)),
            _ => Err(not_implemented(call)),
        }
    }
}
