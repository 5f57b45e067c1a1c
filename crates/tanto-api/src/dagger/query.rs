//! Query (root) fields.

use tanto_model::FileAction;

use super::dispatch::{field, fields, table, Fields};
use super::objects::*;
use super::{file_op, leaf, paths, resolved, Api, Object};
use crate::dagger::ApiError;
use tanto_gql::{Args, Resolved};

/// The Dagger API version tanto serves.
pub const API_VERSION: &str = "v0.21.11";

// Query: the root's fields come from here and from `typedefs` (the type system values).
table!(
    pub(super) QUERY: () = "Query",
    Object::Query => &(),
    &[FIELDS, super::typedefs::QUERY_FIELDS],
    &[("load", "FromID", field!(|api, q, call, a| load_from_id(api, call.field, a)))],
);

/// `load<T>FromID(id)`: any object of type `T` this engine handed out.
fn load_from_id(api: &Api, field: &str, a: &Args) -> Result<Resolved, ApiError> {
    let want = &field["load".len()..field.len() - "FromID".len()];
    let o = api.load(a.get("id").unwrap_or(&serde_json::Value::Null), Some(want))?;
    Ok(resolved((*o).clone()))
}

static FIELDS: Fields<()> = fields! { |api, q, call, a|
    "version" => Ok(leaf(API_VERSION)),
    "defaultPlatform" => Ok(leaf(api.engine.images.default_platform())),
    "node" => {
        let o = api.load(a.get("id").unwrap_or(&serde_json::Value::Null), None)?;
        Ok(resolved((*o).clone()))
    },
    "container" => {
        let platform = a
            .opt_string("platform")?
            .map(str::to_string)
            .unwrap_or_else(|| api.engine.images.default_platform());
        Ok(resolved(Object::Container(ContainerObj::scratch(platform))))
    },
    "directory" => Ok(resolved(Object::Directory(DirectoryObj::empty()))),
    "file" => {
        let name = a.string("name")?;
        if name.is_empty() || name.contains('/') {
            return Err(format!("file name `{name}` must be a plain name without `/`").into());
        }
        let path = paths::clean_abs(name);
        let r = file_op(
            None,
            FileAction::Mkfile {
                path: path.clone(),
                data: a.string("contents")?.to_string(),
                mode: a.opt_int("permissions")?.unwrap_or(0o644) as u32,
                owner: None,
            },
            vec![],
        );
        Ok(resolved(Object::File(FileObj { root: Some(r), path })))
    },
    "cacheVolume" => {
        let key = a.string("key")?;
        if key.is_empty() {
            return Err("cache volume key must not be empty".into());
        }
        Ok(resolved(Object::CacheVolume(CacheVolumeObj { key: key.to_string() })))
    },
    "setSecret" => {
        let name = a.string("name")?.to_string();
        let identity = api.engine.secrets.set_secret(&name, a.string("plaintext")?.as_bytes().to_vec());
        Ok(resolved(Object::Secret(SecretObj { name, uri: String::new(), identity })))
    },
    "secret" => {
        let uri = a.string("uri")?.to_string();
        Ok(resolved(Object::Secret(api.secret_from_uri(uri, a.opt_string("cacheKey")?).await?)))
    },
    "host" => Ok(resolved(Object::Host(HostObj {}))),
    "envFile" => Ok(resolved(Object::EnvFile(Default::default()))),
    "json" => Ok(resolved(Object::JsonValue(Default::default()))),
    "error" => Ok(resolved(Object::Error(super::jsonvalue::ErrorObj {
        message: a.string("message")?.to_string(),
        values: vec![],
    }))),
    "git" => api.git_query(a),
    "http" => api.http_query(a).await,
    "env" => api.env_query(call),
    "cloud" => Ok(resolved(Object::Cloud(super::session::CloudObj {}))),
    "currentModule" | "currentFunctionCall" => api.current_call_field(call.field),
    "currentEnv" => Err(super::session::no_function_call_context(call.field)),
    "moduleSource" => {
        let find_up = !a.opt_bool("disableFindUp")?.unwrap_or(false);
        let pin = a.opt_string("refPin")?.filter(|p| !p.is_empty());
        Ok(resolved(Object::ModuleSource(api.module_source(a.string("refString")?, find_up, pin).await?)))
    },
    "address" => {
        let value = a.string("value")?;
        if value.is_empty() {
            return Err(
                "an address must not be empty: give an image, a path, a git URL, a secret or a service address"
                    .into(),
            );
        }
        Ok(resolved(Object::Address(super::address::AddressObj { value: value.to_string() })))
    },
    "changeset" => Ok(resolved(Object::Changeset(super::changeset::ChangesetObj {
        before: DirectoryObj::empty(),
        after: DirectoryObj::empty(),
    }))),
    "engine" => api.engine_query().await,
    "currentWorkspace" => api.current_workspace().await,
};

impl Api {
    /// A secret read from `uri` (`secret(uri, cacheKey)`).
    pub(super) async fn secret_from_uri(&self, uri: String, cache_key: Option<&str>) -> Result<SecretObj, ApiError> {
        let scheme_ok = ["env://", "file://", "cmd://"].iter().any(|s| uri.starts_with(s));
        if !scheme_ok {
            return Err(
                format!("secret URI `{uri}` is not supported: use env://NAME, file://PATH or cmd://COMMAND").into()
            );
        }
        let identity = self.engine.secrets.secret_from_uri(&uri, cache_key.filter(|k| !k.is_empty())).await?;
        Ok(SecretObj { name: uri.clone(), uri, identity })
    }
}
