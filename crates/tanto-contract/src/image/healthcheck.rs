//! Docker healthchecks: durations in nanoseconds in the image config's
//! `Healthcheck` object, Go duration strings in the API.

use serde::Serialize;
use serde_json::{json, Value as Json};

/// A Docker healthcheck as the API shows it: durations as Go strings
/// (`30s`), empty when unset; `args == ["NONE"]` disables an inherited one.
#[derive(Debug, Clone, Default, Serialize, serde::Deserialize, PartialEq)]
pub struct Healthcheck {
    pub args: Vec<String>,
    pub shell: bool,
    pub interval: String,
    pub timeout: String,
    pub start_period: String,
    pub start_interval: String,
    pub retries: i64,
}

/// Nanoseconds of a Go duration string (`"30s"`, `"1m30s"`, `"500ms"`, `"0"`).
pub fn parse_duration(s: &str) -> Result<i64, String> {
    let bad = || format!("duration `{s}` is not like 30s, 1m30s or 500ms");
    let t = s.trim();
    if t == "0" {
        return Ok(0);
    }
    let mut rest = t;
    let mut total: f64 = 0.0;
    if rest.is_empty() {
        return Err(bad());
    }
    while !rest.is_empty() {
        let num_end = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).ok_or_else(bad)?;
        if num_end == 0 {
            return Err(bad());
        }
        let n: f64 = rest[..num_end].parse().map_err(|_| bad())?;
        rest = &rest[num_end..];
        let unit_end = rest.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(rest.len());
        let scale = match &rest[..unit_end] {
            "ns" => 1.0,
            "us" | "µs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return Err(bad()),
        };
        total += n * scale;
        rest = &rest[unit_end..];
    }
    Ok(total.round() as i64)
}

/// A Go-style duration string (`30s`, `1m30s`, `1h0m0s`, `500ms`).
pub fn format_duration(ns: i64) -> String {
    if ns == 0 {
        return "0s".into();
    }
    if ns < 1_000 {
        return format!("{ns}ns");
    }
    if ns < 1_000_000 {
        return format!("{}µs", trim_frac(ns as f64 / 1e3));
    }
    if ns < 1_000_000_000 {
        return format!("{}ms", trim_frac(ns as f64 / 1e6));
    }
    let (h, rem) = (ns / 3_600_000_000_000, ns % 3_600_000_000_000);
    let (m, rem) = (rem / 60_000_000_000, rem % 60_000_000_000);
    let s = trim_frac(rem as f64 / 1e9);
    match (h, m) {
        (0, 0) => format!("{s}s"),
        (0, m) => format!("{m}m{s}s"),
        (h, m) => format!("{h}h{m}m{s}s"),
    }
}

fn trim_frac(v: f64) -> String {
    let s = format!("{v:.9}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

impl Healthcheck {
    /// The image config's `Healthcheck` object.
    pub fn to_docker_json(&self) -> Result<Json, String> {
        let test: Vec<String> = if self.args == ["NONE"] && !self.shell {
            vec!["NONE".into()]
        } else if self.shell {
            vec!["CMD-SHELL".into(), self.args.join(" ")]
        } else {
            std::iter::once("CMD".to_string()).chain(self.args.iter().cloned()).collect()
        };
        let mut m = serde_json::Map::new();
        m.insert("Test".into(), json!(test));
        for (key, v) in [
            ("Interval", &self.interval),
            ("Timeout", &self.timeout),
            ("StartPeriod", &self.start_period),
            ("StartInterval", &self.start_interval),
        ] {
            if !v.is_empty() {
                m.insert(key.into(), json!(parse_duration(v)?));
            }
        }
        if self.retries != 0 {
            m.insert("Retries".into(), json!(self.retries));
        }
        Ok(Json::Object(m))
    }

    /// From an image config's `Healthcheck` object; `None` when it has no test.
    pub fn from_docker_json(v: &Json) -> Option<Healthcheck> {
        let test: Vec<String> =
            v.get("Test")?.as_array()?.iter().filter_map(|x| x.as_str().map(str::to_string)).collect();
        let (shell, args) = match test.split_first() {
            Some((k, rest)) if k == "CMD-SHELL" => (true, rest.to_vec()),
            Some((k, rest)) if k == "CMD" => (false, rest.to_vec()),
            Some((k, _)) if k == "NONE" => (false, vec!["NONE".to_string()]),
            _ => return None,
        };
        let dur =
            |key: &str| v.get(key).and_then(Json::as_i64).filter(|n| *n != 0).map(format_duration).unwrap_or_default();
        Some(Healthcheck {
            args,
            shell,
            interval: dur("Interval"),
            timeout: dur("Timeout"),
            start_period: dur("StartPeriod"),
            start_interval: dur("StartInterval"),
            retries: v.get("Retries").and_then(Json::as_i64).unwrap_or(0),
        })
    }
}

impl Healthcheck {
    /// Checks the durations of a healthcheck (so a bad one fails where it is set).
    pub fn validate(&self) -> Result<(), String> {
        for v in [&self.interval, &self.timeout, &self.start_period, &self.start_interval] {
            if !v.is_empty() {
                parse_duration(v)?;
            }
        }
        if self.shell && self.args.len() != 1 {
            return Err(format!("a shell healthcheck takes one command string, not {} arguments", self.args.len()));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        for (s, ns, back) in [
            ("30s", 30_000_000_000, "30s"),
            ("1m30s", 90_000_000_000, "1m30s"),
            ("1h", 3_600_000_000_000, "1h0m0s"),
            ("500ms", 500_000_000, "500ms"),
            ("1.5s", 1_500_000_000, "1.5s"),
            ("0", 0, "0s"),
            ("250us", 250_000, "250µs"),
        ] {
            assert_eq!(parse_duration(s), Ok(ns), "{s}");
            assert_eq!(format_duration(ns), back, "{s}");
        }
        for bad in ["", "30", "s", "3x", "1m30"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn docker_json_round_trip() {
        let h = Healthcheck {
            args: vec!["curl -f http://localhost/".into()],
            shell: true,
            interval: "30s".into(),
            timeout: "3s".into(),
            start_period: String::new(),
            start_interval: "5s".into(),
            retries: 3,
        };
        let j = h.to_docker_json().unwrap();
        assert_eq!(
            j,
            json!({"Test": ["CMD-SHELL", "curl -f http://localhost/"], "Interval": 30_000_000_000i64, "Timeout": 3_000_000_000i64, "StartInterval": 5_000_000_000i64, "Retries": 3})
        );
        assert_eq!(Healthcheck::from_docker_json(&j), Some(h));
        assert_eq!(
            Healthcheck::from_docker_json(&json!({"Test": ["CMD", "true"]})).map(|h| (h.args, h.shell)),
            Some((vec!["true".to_string()], false))
        );
        assert_eq!(Healthcheck::from_docker_json(&json!({})), None);
    }
}
