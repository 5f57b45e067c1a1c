//! Function results that hold objects, kept in the state dir for later
//! engines: the value as the SDK returned it, plus the objects its IDs name
//! (containers, directories, files, cache volumes, module objects) in their
//! canonical encoding. Refs in that encoding are cache keys (`key#output`):
//! read back, they become [`tanto_model::Vertex::recorded`] vertices that
//! come from the cache or not at all. A result is read back only when every
//! object gets the ID it had (the encoding was lossless) and every ref is
//! still in the cache (held from then on); else the function runs again.
//!
//! Never kept: objects that hold a secret, a service binding or a host
//! socket, and types other than those above (a `Service`, a `Secret` ...).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

use super::ModValue;
use crate::dagger::objects::{CacheVolumeObj, ContainerObj, CtrMountSource, DirectoryObj, FileObj};
use crate::dagger::Object;
use crate::Api;

/// What the state dir keeps of a function result.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct Kept {
    pub value: Json,
    /// The objects `value` names, by ID.
    pub objects: BTreeMap<String, KeptObject>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "type", content = "value")]
pub(super) enum KeptObject {
    Container(Box<ContainerObj>),
    Directory(DirectoryObj),
    File(FileObj),
    CacheVolume(CacheVolumeObj),
    ModValue(ModValue),
}

impl KeptObject {
    fn of(o: &Object) -> Option<KeptObject> {
        Some(match o {
            Object::Container(c) if keepable(c) => KeptObject::Container(Box::new(c.clone())),
            Object::Directory(d) => KeptObject::Directory(d.clone()),
            Object::File(f) => KeptObject::File(f.clone()),
            Object::CacheVolume(v) => KeptObject::CacheVolume(v.clone()),
            Object::ModValue(v) => KeptObject::ModValue(v.clone()),
            _ => return None,
        })
    }

    fn into_object(self) -> Object {
        match self {
            KeptObject::Container(c) => Object::Container(*c),
            KeptObject::Directory(d) => Object::Directory(d),
            KeptObject::File(f) => Object::File(f),
            KeptObject::CacheVolume(v) => Object::CacheVolume(v),
            KeptObject::ModValue(v) => Object::ModValue(v),
        }
    }
}

/// A container without secrets, services or host sockets.
fn keepable(c: &ContainerObj) -> bool {
    c.secret_env.is_empty()
        && c.services.is_empty()
        && c.mounts.iter().all(|m| !matches!(m.source, CtrMountSource::Secret { .. } | CtrMountSource::Socket { .. }))
}

/// The strings of `v`, at any depth.
fn strings<'a>(v: &'a Json, out: &mut Vec<&'a str>) {
    match v {
        Json::String(s) => out.push(s),
        Json::Array(a) => a.iter().for_each(|x| strings(x, out)),
        Json::Object(o) => o.values().for_each(|x| strings(x, out)),
        _ => {}
    }
}

impl Api {
    /// `value` with the objects its IDs name, or `None` when one of them
    /// cannot be kept.
    pub(super) fn keep(&self, value: &Json) -> Option<Kept> {
        let mut objects = BTreeMap::new();
        let mut todo = Vec::new();
        strings(value, &mut todo);
        let mut todo: Vec<String> = todo.into_iter().map(str::to_string).collect();
        while let Some(s) = todo.pop() {
            if objects.contains_key(&s) {
                continue;
            }
            let Some(o) = self.objects.get(&s) else {
                continue; // a plain string
            };
            let kept = KeptObject::of(&o)?;
            if let KeptObject::ModValue(v) = &kept {
                let mut inner = Vec::new();
                strings(&v.fields, &mut inner);
                todo.extend(inner.into_iter().map(str::to_string));
            }
            objects.insert(s, kept);
        }
        Some(Kept { value: value.clone(), objects })
    }

    /// Registers the objects of `kept` and returns its value, when each gets
    /// its old ID and everything they refer to is still in the cache.
    pub(super) async fn restore(&self, kept: Kept) -> Option<Json> {
        let mut refs = Vec::new();
        let mut restored = Vec::new();
        for (id, o) in kept.objects {
            let o = o.into_object();
            match &o {
                Object::Container(c) => {
                    refs.extend(c.rootfs.iter().chain(c.exec.iter()).cloned());
                    for m in &c.mounts {
                        match &m.source {
                            CtrMountSource::Dir { dir, .. } => refs.extend(dir.root.clone()),
                            CtrMountSource::File { file, .. } => refs.extend(file.root.clone()),
                            CtrMountSource::Cache { source: Some(dir), .. } => refs.extend(dir.root.clone()),
                            _ => {}
                        }
                    }
                }
                Object::Directory(d) => refs.extend(d.root.clone()),
                Object::File(f) => refs.extend(f.root.clone()),
                _ => {}
            }
            restored.push((id, o));
        }
        for r in &refs {
            if let Err(e) = self.engine.solve.sync(r).await {
                tracing::debug!(error = %e, "a kept function result is no longer in the cache; calling the function");
                return None;
            }
        }
        for (id, o) in restored {
            let got = self.objects.register(&o);
            if got != id {
                tracing::warn!(kept = %id, read = %got, "a kept function result read back differently; calling the function");
                return None;
            }
        }
        Some(kept.value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dagger::objects::CtrMount;
    use tanto_model::{CacheSharing, Digest, LocalOp, Op, Ref, Vertex};

    fn upload(n: u8) -> Ref {
        let digest = Digest::of(&[n]);
        let op = LocalOp { digest, path: "/h".into(), include: vec![], exclude: vec![], gitignore: false };
        Ref::new(Vertex::new(Op::Local(op), vec![]), 0)
    }

    #[test]
    fn kept_objects_read_back_with_the_ids_they_had() {
        let mut c = ContainerObj::scratch("linux/amd64".into());
        c.rootfs = Some(upload(1));
        c.exec = Some(Ref::new(upload(2).vertex, 3));
        c.config.env = vec!["A=1".into()];
        c.mounts = vec![
            CtrMount {
                target: "/src".into(),
                source: CtrMountSource::Dir {
                    dir: DirectoryObj { root: Some(upload(3)), path: "/sub".into() },
                    readonly: true,
                    owner: tanto_model::Owner::parse("1000:1000"),
                },
            },
            CtrMount {
                target: "/cache".into(),
                source: CtrMountSource::Cache {
                    volume: CacheVolumeObj { key: "pip".into() },
                    sharing: CacheSharing::Locked,
                    source: None,
                    owner: None,
                },
            },
            CtrMount { target: "/tmp".into(), source: CtrMountSource::Tmp { size: Some(1 << 20) } },
        ];
        let cases: Vec<Object> = vec![
            Object::Container(c),
            Object::Container(ContainerObj::scratch("linux/arm64".into())),
            Object::Directory(DirectoryObj { root: Some(upload(4)), path: "/a".into() }),
            Object::Directory(DirectoryObj::empty()),
            Object::File(FileObj { root: Some(upload(5)), path: "/f".into() }),
            Object::CacheVolume(CacheVolumeObj { key: "k".into() }),
            Object::ModValue(ModValue {
                module: "m".into(),
                type_name: "HelloCounter".into(),
                fields: serde_json::json!({"n": 2}),
            }),
        ];
        for o in cases {
            let id = o.id();
            let kept = KeptObject::of(&o).expect("keepable");
            let text = serde_json::to_string(&kept).unwrap();
            let back: KeptObject = serde_json::from_str(&text).unwrap();
            let back = back.into_object();
            assert_eq!(back.id(), id, "{text}");
            if let Object::Container(c) = &back {
                if let Some(r) = &c.rootfs {
                    assert!(matches!(r.vertex.op, Op::Recorded(_)), "refs read back are recorded ones");
                }
            }
        }
    }

    #[test]
    fn objects_with_secrets_services_or_sockets_are_not_kept() {
        let mut c = ContainerObj::scratch("linux/amd64".into());
        c.secret_env = vec![(
            "TOKEN".into(),
            crate::dagger::objects::SecretObj { name: "t".into(), uri: String::new(), identity: "set:t@x".into() },
        )];
        assert!(KeptObject::of(&Object::Container(c)).is_none());
        let mut c = ContainerObj::scratch("linux/amd64".into());
        c.mounts = vec![CtrMount {
            target: "/run/s".into(),
            source: CtrMountSource::Secret {
                secret: crate::dagger::objects::SecretObj {
                    name: "t".into(),
                    uri: String::new(),
                    identity: "set:t@x".into(),
                },
                mode: 0o400,
                owner: None,
            },
        }];
        assert!(KeptObject::of(&Object::Container(c)).is_none());
        let s = crate::dagger::objects::SecretObj { name: "t".into(), uri: String::new(), identity: "set:t@x".into() };
        assert!(KeptObject::of(&Object::Secret(s)).is_none());
    }
}
