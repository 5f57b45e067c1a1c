//! Host fields: files of the client's host in (`directory`, `file`, `findUp`),
//! its unix sockets (`unixSocket`, `super::socket`) and images of its docker or
//! podman image store (`containerImage`).
//! Host paths are relative to the session's working directory (`--workdir`).

use super::objects::*;
use super::{leaf, not_implemented, resolved, Api, Object};
use crate::dagger::ApiError;
use tanto_gql::{FieldCall, Resolved};

impl Api {
    pub(super) async fn host(&self, _h: &HostObj, call: &FieldCall<'_>) -> Result<Resolved, ApiError> {
        let a = call.args;
        match call.field {
            "directory" => {
                let root = self
                    .engine
                    .host
                    .host_directory(
                        a.string("path")?,
                        a.opt_string_list("include")?.unwrap_or_default(),
                        a.opt_string_list("exclude")?.unwrap_or_default(),
                        a.opt_bool("gitignore")?.unwrap_or(false),
                    )
                    .await?;
                Ok(resolved(Object::Directory(DirectoryObj { root: Some(root), path: "/".into() })))
            }
            "file" => {
                let (root, path) = self.engine.host.host_file(a.string("path")?).await?;
                Ok(resolved(Object::File(FileObj { root: Some(root), path })))
            }
            "findUp" => Ok(match self.engine.host.host_find_up(a.string("name")?).await? {
                Some(p) => leaf(p),
                None => Resolved::Null,
            }),
            "tunnel" | "service" => self.host_service_field(call).await,
            "unixSocket" => self.host_unix_socket(call).await,
            "containerImage" => {
                let base = ContainerObj::scratch(self.engine.images.default_platform());
                let img = self.engine.images.host_container_image(a.string("name")?, &base.platform).await?;
                Ok(resolved(Object::Container(super::export::container_of_image(&base, img))))
            }
            _ => Err(not_implemented(call)),
        }
    }
}
