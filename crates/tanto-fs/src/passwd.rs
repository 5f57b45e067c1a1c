//! A container's users and groups: one parser of `/etc/passwd` and
//! `/etc/group` (blank lines and `#` comments skipped, lines whose ids do not
//! parse ignored), and the two ways tanto turns a user string into ids:
//!
//! - [`resolve_owner`]: the `owner` of files (`withNewFile(owner:)`, copies,
//!   secret mounts): `uid`, `uid:gid`, `user`, `user:group`; a lone uid gets
//!   its passwd entry's group, else the gid equal to the uid (Dagger's rule).
//! - [`resolve_user`]: the user a process runs as, with the rules of runc's
//!   `user.GetExecUser` (which Docker and BuildKit use): numeric ids need no
//!   entry, names must exist, supplementary groups come from `/etc/group`
//!   only when no group is given.

use crate::FsError;

/// One line of `/etc/passwd`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswdEntry<'a> {
    pub name: &'a str,
    pub uid: u32,
    pub gid: u32,
    /// Empty when the line has none.
    pub home: &'a str,
}

/// One line of `/etc/group`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupEntry<'a> {
    pub name: &'a str,
    pub gid: u32,
    pub members: Vec<&'a str>,
}

/// The fields of the meaningful lines of a colon-separated database.
fn records(text: &str) -> impl Iterator<Item = Vec<&str>> {
    text.lines().filter_map(|line| {
        let line = line.trim();
        (!line.is_empty() && !line.starts_with('#')).then(|| line.split(':').collect())
    })
}

pub fn passwd_entries(text: &str) -> impl Iterator<Item = PasswdEntry<'_>> {
    records(text).filter_map(|f| {
        Some(PasswdEntry {
            name: f.first()?,
            uid: f.get(2)?.parse().ok()?,
            gid: f.get(3)?.parse().ok()?,
            home: f.get(5).copied().unwrap_or(""),
        })
    })
}

pub fn group_entries(text: &str) -> impl Iterator<Item = GroupEntry<'_>> {
    records(text).filter_map(|f| {
        Some(GroupEntry {
            name: f.first()?,
            gid: f.get(2)?.parse().ok()?,
            members: f.get(3).map(|m| m.split(',').filter(|s| !s.is_empty()).collect()).unwrap_or_default(),
        })
    })
}

/// Resolves an owner of files (see the module docs) with the texts of
/// `/etc/passwd` and `/etc/group` (empty when missing). `""` is no owner.
pub fn resolve_owner(owner: &str, passwd: &str, group: &str) -> Result<Option<(u32, u32)>, FsError> {
    if owner.is_empty() {
        return Ok(None);
    }
    let (user, group_arg) = match owner.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (owner, None),
    };
    let (uid, primary) = match user.parse::<u32>() {
        Ok(uid) => (uid, passwd_entries(passwd).find(|e| e.uid == uid).map_or(uid, |e| e.gid)),
        Err(_) => passwd_entries(passwd)
            .find(|e| e.name == user)
            .map(|e| (e.uid, e.gid))
            .ok_or_else(|| FsError::UnknownUser(user.to_string()))?,
    };
    let gid = match group_arg {
        None => primary,
        Some(g) => match g.parse::<u32>() {
            Ok(gid) => gid,
            Err(_) => group_entries(group)
                .find(|e| e.name == g)
                .map(|e| e.gid)
                .ok_or_else(|| FsError::UnknownGroup(g.to_string()))?,
        },
    };
    Ok(Some((uid, gid)))
}

/// The identity a process runs as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub uid: u32,
    pub gid: u32,
    pub additional_gids: Vec<u32>,
    /// Home directory from passwd, `/` when unknown.
    pub home: String,
}

/// A user string that names no user or group of the container.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid user `{user}`: {reason}")]
pub struct InvalidUser {
    pub user: String,
    pub reason: String,
}

/// Resolves the user string `spec` of a process (`""`, `name`, `uid`,
/// `name:group`, `uid:gid`) given the container's passwd and group files
/// (`None` = file missing), as runc does (see the module docs).
pub fn resolve_user(spec: &str, passwd: Option<&str>, group: Option<&str>) -> Result<User, InvalidUser> {
    let invalid = |reason: String| InvalidUser { user: spec.to_string(), reason };
    let (user_arg, group_arg) = spec.split_once(':').unwrap_or((spec, ""));
    let uid_arg: Option<u32> = user_arg.parse().ok();
    let gid_arg: Option<u32> = group_arg.parse().ok();
    let mut out = User { uid: 0, gid: 0, additional_gids: Vec::new(), home: "/".to_string() };

    let matched = passwd_entries(passwd.unwrap_or("")).find(|u| {
        if user_arg.is_empty() {
            u.uid == 0
        } else if let Some(uid) = uid_arg {
            u.uid == uid
        } else {
            u.name == user_arg
        }
    });
    let mut matched_name = None;
    if let Some(u) = matched {
        matched_name = Some(u.name);
        out.uid = u.uid;
        out.gid = u.gid;
        if !u.home.is_empty() {
            out.home = u.home.to_string();
        }
    } else if !user_arg.is_empty() {
        match uid_arg {
            Some(uid) => out.uid = uid,
            None => return Err(invalid(format!("no user `{user_arg}` in the container's /etc/passwd"))),
        }
    }

    if !group_arg.is_empty() {
        let found = group_entries(group.unwrap_or("")).find(|g| match gid_arg {
            Some(gid) => g.gid == gid,
            None => g.name == group_arg,
        });
        out.gid = match (found, gid_arg) {
            (Some(g), _) => g.gid,
            (None, Some(gid)) => gid,
            (None, None) => return Err(invalid(format!("no group `{group_arg}` in the container's /etc/group"))),
        };
    } else if let Some(name) = matched_name {
        out.additional_gids =
            group_entries(group.unwrap_or("")).filter(|g| g.members.contains(&name)).map(|g| g.gid).collect();
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\n\
                          # comment\n\
                          nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n\
                          app:x:1000:1000::/home/app:/bin/sh\n\
                          odd:x:2000:3000::/home/odd:/bin/sh\n\
                          broken:x:notanumber:1\n";
    const GROUP: &str = "root:x:0:\nwheel:x:10:root,app\nnogroup:x:65534:\napp:x:1000:\ndocker:x:999:app\n";

    #[test]
    fn process_users() {
        let check = |spec: &str| match resolve_user(spec, Some(PASSWD), Some(GROUP)) {
            Ok(u) => format!("{}:{} {:?} {}", u.uid, u.gid, u.additional_gids, u.home),
            Err(e) => format!("error: {e}"),
        };
        // (user string, expected)
        let cases = [
            ("", "0:0 [10] /root"),
            ("root", "0:0 [10] /root"),
            ("0", "0:0 [10] /root"),
            ("nobody", "65534:65534 [] /nonexistent"),
            ("65534", "65534:65534 [] /nonexistent"),
            ("app", "1000:1000 [10, 999] /home/app"),
            ("app:wheel", "1000:10 [] /home/app"),
            ("app:999", "1000:999 [] /home/app"),
            ("1234", "1234:0 [] /"),
            ("1234:4321", "1234:4321 [] /"),
            ("1234:nogroup", "1234:65534 [] /"),
            ("ghost", "error: invalid user `ghost`: no user `ghost` in the container's /etc/passwd"),
            ("app:ghosts", "error: invalid user `app:ghosts`: no group `ghosts` in the container's /etc/group"),
            ("broken", "error: invalid user `broken`: no user `broken` in the container's /etc/passwd"),
        ];
        for (spec, expect) in cases {
            assert_eq!(check(spec), expect, "user spec {spec:?}");
        }
    }

    #[test]
    fn process_users_without_files() {
        // (user string, expected) with neither file present
        let cases = [("", "0:0 /"), ("42:43", "42:43 /"), ("name", "error")];
        for (spec, expect) in cases {
            let got = match resolve_user(spec, None, None) {
                Ok(u) => format!("{}:{} {}", u.uid, u.gid, u.home),
                Err(_) => "error".to_string(),
            };
            assert_eq!(got, expect, "{spec:?}");
        }
    }

    #[test]
    fn file_owners() {
        let check = |owner: &str| match resolve_owner(owner, PASSWD, GROUP) {
            Ok(Some((u, g))) => format!("{u}:{g}"),
            Ok(None) => "none".to_string(),
            Err(e) => format!("error: {e}"),
        };
        // (owner, expected)
        let cases = [
            ("", "none"),
            ("app", "1000:1000"),
            ("odd", "2000:3000"),
            ("2000", "2000:3000"),
            ("1234", "1234:1234"),
            ("app:wheel", "1000:10"),
            ("1234:55", "1234:55"),
            ("odd:app", "2000:1000"),
            ("ghost", "error: user `ghost` not found in the container's /etc/passwd"),
            ("app:ghosts", "error: group `ghosts` not found in the container's /etc/group"),
        ];
        for (owner, expect) in cases {
            assert_eq!(check(owner), expect, "owner {owner:?}");
        }
    }
}
