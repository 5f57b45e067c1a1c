//! Services: `Container.asService`/`withServiceBinding`/`up`, the `Service` object,
//! and `Host.tunnel`/`Host.service`.
//!
//! A [`ServiceObj`] is a definition, never a result: its container service is the exec
//! that `asService` builds (run by the engine, never cached), and its digest (a hash of
//! the canonical definition) names it. A container's bindings enter the key of each
//! of its later execs as [`tanto_model::ServiceBinding`]s (alias and digest),
//! so a client step's cache key changes with the definitions of the services it uses.
//! The engine starts services on demand ([`tanto_contract::Services::start_service`] and when an exec
//! with bindings runs), shares them between users and stops them when unused.

use serde::Serialize;
use serde_json::Value as Json;
use tanto_model::{Digest, Ref, ServiceBinding, StableHasher};

use super::dispatch::{fields, table, Fields};
use super::objects::*;
use super::{leaf, resolved, Api, Object};
use tanto_contract::service::{PortForward, ServiceSpec, ServiceSpecKind};

use crate::dagger::ApiError;
use tanto_gql::{Args, Resolved};

#[derive(Debug, Clone, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ServiceKind {
    /// A container running the exec `exec` (from `asService`), with its exposed ports.
    Container { exec: Ref, ports: Vec<Port> },
    /// `Host.tunnel`: `upstream`'s ports on the host; `client`: the client
    /// network of a remote engine's client whose host it is.
    Tunnel {
        upstream: Box<ServiceObj>,
        ports: Vec<PortForward>,
        native: bool,
        #[serde(skip_serializing_if = "Option::is_none")]
        client: Option<String>,
    },
    /// `Host.service`: a server on the host (`host`), reachable from containers;
    /// `client`: the dialer of a remote engine's client whose host it is.
    Host {
        host: String,
        ports: Vec<PortForward>,
        #[serde(skip_serializing_if = "Option::is_none")]
        client: Option<String>,
    },
}

/// A service definition.
#[derive(Debug, Clone, Serialize)]
pub struct ServiceObj {
    pub kind: ServiceKind,
    /// Set by `withHostname`.
    pub custom_hostname: Option<String>,
}

/// A service bound into a container under `alias`.
#[derive(Debug, Clone, Serialize)]
pub struct ServiceBindingObj {
    pub alias: String,
    pub service: ServiceObj,
}

/// A container's bindings as its execs carry them, in binding order.
pub(super) fn exec_bindings(c: &ContainerObj) -> Vec<ServiceBinding> {
    c.services.iter().map(|b| ServiceBinding { alias: b.alias.clone(), service: b.service.digest() }).collect()
}

const BASE32: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";

impl ServiceObj {
    pub fn digest(&self) -> Digest {
        let mut h = StableHasher::new();
        h.str("Service").json(self);
        h.finish()
    }

    /// `withHostname`'s, else 13 base32 characters of the digest (starting with a letter).
    pub fn hostname(&self) -> String {
        if let Some(h) = &self.custom_hostname {
            return h.clone();
        }
        let digest = self.digest().hex();
        (0..13)
            .map(|i| {
                let byte = u8::from_str_radix(&digest[2 * i..2 * i + 2], 16).unwrap_or(0);
                let idx = if i == 0 { byte % 26 } else { byte % 32 };
                BASE32[idx as usize] as char
            })
            .collect()
    }

    pub fn spec(&self) -> ServiceSpec {
        let kind = match &self.kind {
            ServiceKind::Container { exec, ports } => {
                ServiceSpecKind::Container { exec: exec.vertex.clone(), ports: ports.clone() }
            }
            ServiceKind::Tunnel { upstream, ports, native, client } => ServiceSpecKind::Tunnel {
                upstream: Box::new(upstream.spec()),
                ports: ports.clone(),
                native: *native,
                client: client.clone(),
            },
            ServiceKind::Host { host, ports, client } => {
                ServiceSpecKind::Host { host: host.clone(), ports: ports.clone(), client: client.clone() }
            }
        };
        ServiceSpec { digest: self.digest(), hostname: self.hostname(), kind }
    }
}

fn parse_port_forwards(a: &Args, name: &str) -> Result<Vec<PortForward>, ApiError> {
    let mut out = Vec::new();
    for v in a.opt_list(name)?.unwrap_or_default() {
        let port = |key: &str| -> Result<Option<u16>, ApiError> {
            match v.get(key) {
                None | Some(Json::Null) => Ok(None),
                Some(j) => {
                    let n = j
                        .as_i64()
                        .or_else(|| j.as_str().and_then(|s| s.parse().ok()))
                        .ok_or_else(|| ApiError::from(format!("`{name}.{key}` must be a port number, got {j}")))?;
                    if n == 0 && key == "frontend" {
                        return Ok(None);
                    }
                    u16::try_from(n)
                        .ok()
                        .filter(|p| *p > 0)
                        .map(Some)
                        .ok_or_else(|| ApiError::from(format!("`{name}.{key}` {n} is out of range 1-65535")))
                }
            }
        };
        let backend = port("backend")?.ok_or_else(|| ApiError::from(format!("`{name}.backend` is required")))?;
        let protocol = match v.get("protocol").and_then(|p| p.as_str()).unwrap_or("TCP") {
            p @ ("TCP" | "UDP") => p.to_string(),
            other => return Err(format!("`{name}.protocol` must be TCP or UDP, not `{other}`").into()),
        };
        out.push(PortForward { frontend: port("frontend")?, backend, protocol });
    }
    Ok(out)
}

fn valid_hostname(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

/// `withServiceBinding`, `asService` and `up` of Container.
pub(super) static CONTAINER_FIELDS: Fields<ContainerObj> = fields! { |api, c, call, a|
    "withServiceBinding" => {
        let alias = a.string("alias")?;
        if !valid_hostname(alias) {
            return Err(format!(
                "service alias `{alias}` is not a valid host name: use letters, digits, `-` and `.`"
            )
            .into());
        }
        let service = api.load_service(a.get("service").unwrap_or(&Json::Null))?;
        if matches!(service.kind, ServiceKind::Tunnel { .. }) {
            return Err("a host tunnel (`Host.tunnel`) listens on the host and cannot be bound to a container: bind its upstream service instead".into());
        }
        api.engine.services.register_service(&service.spec());
        let mut n = c.clone();
        n.services.retain(|b| b.alias != alias);
        n.services.push(ServiceBindingObj { alias: alias.to_string(), service });
        Ok(resolved(Object::Container(n)))
    },
    "asService" => Ok(api.service_value(api.as_service(c, a)?)),
    "up" => {
        let client = api.engine.host.host_network()?;
        let svc = api.as_service(c, a)?;
        api.engine.services.register_service(&svc.spec());
        let ports = parse_port_forwards(a, "ports")?;
        let random = a.opt_bool("random")?.unwrap_or(false);
        api.engine.services.service_up(&svc.spec(), ports, random, client.as_deref()).await?;
        Ok(Resolved::Null)
    },
};

/// `tunnel` and `service` of Host.
pub(super) static HOST_FIELDS: Fields<HostObj> = fields! { |api, h, call, a|
    "tunnel" => {
        let client = api.engine.host.host_network()?;
        let upstream = api.load_service(a.get("service").unwrap_or(&Json::Null))?;
        let svc = ServiceObj {
            kind: ServiceKind::Tunnel {
                upstream: Box::new(upstream),
                ports: parse_port_forwards(a, "ports")?,
                native: a.opt_bool("native")?.unwrap_or(false),
                client,
            },
            custom_hostname: None,
        };
        Ok(api.service_value(svc))
    },
    "service" => {
        let client = api.engine.host.host_network()?;
        let ports = parse_port_forwards(a, "ports")?;
        if ports.is_empty() {
            return Err("`Host.service` needs at least one port in `ports`".into());
        }
        let host = a.opt_string("host")?.filter(|h| !h.is_empty()).unwrap_or("localhost").to_string();
        Ok(api.service_value(ServiceObj { kind: ServiceKind::Host { host, ports, client }, custom_hostname: None }))
    },
};

table!(pub(super) SERVICE: ServiceObj = "Service", Object::Service(s) => s, &[FIELDS], &[]);

static FIELDS: Fields<ServiceObj> = fields! { |api, s, call, a|
    "hostname" => match &s.kind {
        ServiceKind::Tunnel { .. } => Ok(leaf(api.engine.services.service_ports(&s.spec()).await?.0)),
        _ => Ok(leaf(s.hostname())),
    },
    "ports" => {
        let ports = match &s.kind {
            ServiceKind::Container { ports, .. } => ports.clone(),
            ServiceKind::Host { ports, .. } => host_ports(ports),
            ServiceKind::Tunnel { .. } => api.engine.services.service_ports(&s.spec()).await?.1,
        };
        Ok(Resolved::List(ports.into_iter().map(|p| resolved(Object::Port(p))).collect()))
    },
    "endpoint" => {
        let (host, ports) = match &s.kind {
            ServiceKind::Container { ports, .. } => (s.hostname(), ports.clone()),
            ServiceKind::Host { ports, .. } => (s.hostname(), host_ports(ports)),
            ServiceKind::Tunnel { .. } => api.engine.services.service_ports(&s.spec()).await?,
        };
        let port = match a.opt_int("port")?.filter(|p| *p != 0) {
            Some(p) => p,
            None => ports.first().map(|p| p.port).ok_or_else(|| {
                ApiError::from(
                    "this service exposes no ports: pass `port`, or use `withExposedPort` before `asService`",
                )
            })?,
        };
        let endpoint = format!("{host}:{port}");
        Ok(leaf(match a.opt_string("scheme")?.filter(|s| !s.is_empty()) {
            Some(scheme) => format!("{scheme}://{endpoint}"),
            None => endpoint,
        }))
    },
    "start" => {
        api.engine.services.start_service(&s.spec()).await?;
        Ok(leaf(api.objects.register(&Object::Service(s.clone()))))
    },
    "stop" => {
        api.engine.services.stop_service(&s.spec(), a.opt_bool("kill")?.unwrap_or(false)).await?;
        Ok(leaf(api.objects.register(&Object::Service(s.clone()))))
    },
    "up" => {
        let client = api.engine.host.host_network()?;
        let ports = parse_port_forwards(a, "ports")?;
        let random = a.opt_bool("random")?.unwrap_or(false);
        api.engine.services.service_up(&s.spec(), ports, random, client.as_deref()).await?;
        Ok(Resolved::Null)
    },
    "terminal" => {
        // In the running service's container (started if needed): `cmd`, else `sh`.
        let mut cmd = a.string_list("cmd")?;
        if cmd.is_empty() {
            cmd = vec!["sh".into()];
        }
        api.engine.services.service_terminal(&s.spec(), cmd).await?;
        Ok(resolved(Object::Service(s.clone())))
    },
    "withHostname" => {
        let hostname = a.string("hostname")?;
        if !valid_hostname(hostname) {
            return Err(
                format!("`{hostname}` is not a valid host name: use letters, digits, `-` and `.`").into()
            );
        }
        let mut n = s.clone();
        n.custom_hostname = Some(hostname.to_ascii_lowercase());
        Ok(api.service_value(n))
    },
};

impl Api {
    pub(crate) fn load_service(&self, id: &Json) -> Result<ServiceObj, ApiError> {
        match &*self.load(id, Some("Service"))? {
            Object::Service(s) => Ok(s.clone()),
            _ => unreachable!("type checked by load"),
        }
    }

    /// A service object handed out; the engine learns its definition.
    fn service_value(&self, s: ServiceObj) -> Resolved {
        self.engine.services.register_service(&s.spec());
        resolved(Object::Service(s))
    }

    /// `asService` on `c` with `a`'s exec arguments.
    fn as_service(&self, c: &ContainerObj, a: &Args) -> Result<ServiceObj, ApiError> {
        // Before v0.15 `asService` ran the container's last `withExec` as the service
        // (Dagger's legacy view): modules written for those engines bind services built
        // as `withExec([...]).asService()`, which would otherwise run the server as a step
        // that never ends.
        let no_args = a.string_list("args")?.is_empty();
        if no_args && self.scope.module_older_than((0, 15, 0)) {
            if let Some(exec) = &c.exec {
                return Ok(ServiceObj {
                    kind: ServiceKind::Container { exec: exec.clone(), ports: c.config.exposed_ports.clone() },
                    custom_hostname: None,
                });
            }
        }
        let ran = self.with_exec(c, a)?;
        let exec = ran.exec.ok_or_else(|| ApiError::from("internal error: `asService` built no exec"))?;
        Ok(ServiceObj {
            kind: ServiceKind::Container { exec, ports: c.config.exposed_ports.clone() },
            custom_hostname: None,
        })
    }
}

/// The ports a host service offers to containers.
fn host_ports(ports: &[PortForward]) -> Vec<Port> {
    ports
        .iter()
        .map(|p| {
            let front = p.frontend.unwrap_or(p.backend);
            Port {
                port: front as i64,
                protocol: p.protocol.clone(),
                description: Some(format!("tunnel {} {front} -> {}", p.protocol, p.backend)),
                skip_healthcheck: false,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host_svc(host: &str, backend: u16, hostname: Option<&str>) -> ServiceObj {
        ServiceObj {
            kind: ServiceKind::Host {
                host: host.into(),
                ports: vec![PortForward { frontend: None, backend, protocol: "TCP".into() }],
                client: None,
            },
            custom_hostname: hostname.map(str::to_string),
        }
    }

    #[test]
    fn digests_and_hostnames() {
        // (a, b, same digest?)
        let cases = [
            (host_svc("localhost", 80, None), host_svc("localhost", 80, None), true),
            (host_svc("localhost", 80, None), host_svc("localhost", 81, None), false),
            (host_svc("localhost", 80, None), host_svc("db", 80, None), false),
            (host_svc("localhost", 80, None), host_svc("localhost", 80, Some("www")), false),
        ];
        for (i, (a, b, same)) in cases.iter().enumerate() {
            assert_eq!(a.digest() == b.digest(), *same, "case {i}");
        }
        let h = host_svc("localhost", 80, None).hostname();
        assert_eq!(h.len(), 13);
        assert!(h.as_bytes()[0].is_ascii_lowercase(), "{h}");
        assert!(h.bytes().all(|b| b.is_ascii_lowercase() || (b'2'..=b'7').contains(&b)), "{h}");
        assert_eq!(host_svc("x", 1, Some("www")).hostname(), "www");
    }

    #[test]
    fn hostnames() {
        let cases = [
            ("www", true),
            ("db.internal", true),
            ("a-b", true),
            ("", false),
            ("-a", false),
            ("a..b", false),
            ("a_b", false),
            ("a b", false),
        ];
        for (name, want) in cases {
            assert_eq!(valid_hostname(name), want, "{name:?}");
        }
    }
}
