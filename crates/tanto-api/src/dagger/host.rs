//! Host fields: files of the client's host in (`directory`, `file`, `findUp`),
//! its unix sockets (`unixSocket`, `super::socket`) and images of its docker or
//! podman image store (`containerImage`).
//! Host paths are relative to the session's working directory (`--workdir`).

use super::dispatch::{fields, table, Fields};
use super::objects::*;
use super::{leaf, resolved, Object};
use tanto_gql::Resolved;

// Host: its fields come from here and from `service` (`tunnel`, `service`).
table!(pub(super) HOST: HostObj = "Host", Object::Host(h) => h, &[FIELDS, super::service::HOST_FIELDS], &[]);

static FIELDS: Fields<HostObj> = fields! { |api, h, call, a|
    "directory" => {
        let root = api
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
    },
    "file" => {
        let (root, path) = api.engine.host.host_file(a.string("path")?).await?;
        Ok(resolved(Object::File(FileObj { root: Some(root), path })))
    },
    "findUp" => Ok(match api.engine.host.host_find_up(a.string("name")?).await? {
        Some(p) => leaf(p),
        None => Resolved::Null,
    }),
    "unixSocket" => {
        let host_path = api.engine.host.host_unix_socket(a.string("path")?).await?;
        Ok(resolved(Object::Socket(super::socket::SocketObj { host_path })))
    },
    "containerImage" => {
        let base = ContainerObj::scratch(api.engine.images.default_platform());
        let img = api.engine.images.host_container_image(a.string("name")?, &base.platform).await?;
        Ok(resolved(Object::Container(super::export::container_of_image(&base, img))))
    },
};
