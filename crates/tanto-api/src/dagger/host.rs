//! Host fields: files of the client's host in (`directory`, `file`, `findUp`).
//! Host paths are relative to the session's working directory (`--workdir`).

use super::objects::*;
use super::{leaf, not_implemented, resolved, Api, Object};
use crate::gql::{FieldCall, FieldError, Resolved};

impl Api {
    pub(super) async fn host(
        &self,
        _h: &HostObj,
        call: &FieldCall<'_>,
    ) -> Result<Resolved, FieldError> {
        let a = call.args;
        match call.field {
            "directory" => {
                let root = self
                    .backend
                    .host_directory(
                        a.string("path")?,
                        a.opt_string_list("include")?.unwrap_or_default(),
                        a.opt_string_list("exclude")?.unwrap_or_default(),
                        a.opt_bool("gitignore")?.unwrap_or(false),
                    )
                    .await?;
                Ok(resolved(Object::Directory(DirectoryObj {
                    root: Some(root),
                    path: "/".into(),
                })))
            }
            "file" => {
                let (root, path) = self.backend.host_file(a.string("path")?).await?;
                Ok(resolved(Object::File(FileObj {
                    root: Some(root),
                    path,
                })))
            }
            "findUp" => Ok(match self.backend.host_find_up(a.string("name")?).await? {
                Some(p) => leaf(p),
                None => Resolved::Null,
            }),
            "tunnel" | "service" => self.host_service_field(call).await,
            _ => Err(not_implemented(call)),
        }
    }
}
