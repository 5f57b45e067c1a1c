//! Docker healthchecks: `Container.withDockerHealthcheck`/`dockerHealthcheck`,
//! Dockerfile `HEALTHCHECK`, and the image config's `Healthcheck` object
//! (durations in nanoseconds there, Go duration strings in the API).

use serde_json::json;

use super::dispatch::{fields, table, Fields};
use super::{leaf, Object};
use tanto_contract::image::Healthcheck;

table!(
    pub(super) HEALTHCHECK: Healthcheck = "HealthcheckConfig",
    Object::Healthcheck(v) => v,
    &[HEALTHCHECK_FIELDS],
    &[],
);

static HEALTHCHECK_FIELDS: Fields<Healthcheck> = fields! { |api, h, call, a|
    "args" => Ok(leaf(json!(h.args))),
    "shell" => Ok(leaf(h.shell)),
    "interval" => Ok(leaf(h.interval.clone())),
    "timeout" => Ok(leaf(h.timeout.clone())),
    "startPeriod" => Ok(leaf(h.start_period.clone())),
    "startInterval" => Ok(leaf(h.start_interval.clone())),
    "retries" => Ok(leaf(h.retries)),
};
