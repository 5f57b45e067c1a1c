//! Resolving Dagger/Docker user strings (`""`, `name`, `uid`, `name:group`, `uid:gid`)
//! against a container's `/etc/passwd` and `/etc/group`, with the rules of runc's
//! `user.GetExecUser` (which Docker and BuildKit use): numeric ids need no entry, names
//! must exist, supplementary groups come from `/etc/group` only when no group is given.

use crate::ExecError;

/// The identity the process runs as.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExecUser {
    pub uid: u32,
    pub gid: u32,
    pub additional_gids: Vec<u32>,
    /// Home directory from passwd, `/` when unknown.
    pub home: String,
}

struct PasswdEntry<'a> {
    name: &'a str,
    uid: u32,
    gid: u32,
    home: &'a str,
}

struct GroupEntry<'a> {
    name: &'a str,
    gid: u32,
    members: Vec<&'a str>,
}

fn passwd_entries(text: &str) -> impl Iterator<Item = PasswdEntry<'_>> {
    text.lines().filter_map(|line| {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            return None;
        }
        let f: Vec<&str> = line.split(':').collect();
        Some(PasswdEntry {
            name: f.first()?,
            uid: f.get(2)?.parse().ok()?,
            gid: f.get(3)?.parse().ok()?,
            home: f.get(5).copied().unwrap_or(""),
        })
    })
}

fn group_entries(text: &str) -> impl Iterator<Item = GroupEntry<'_>> {
    text.lines().filter_map(|line| {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            return None;
        }
        let f: Vec<&str> = line.split(':').collect();
        Some(GroupEntry {
            name: f.first()?,
            gid: f.get(2)?.parse().ok()?,
            members: f.get(3).map(|m| m.split(',').filter(|s| !s.is_empty()).collect()).unwrap_or_default(),
        })
    })
}

/// Resolves `spec` given the container's passwd and group files (`None` = file missing).
pub fn resolve_user(spec: &str, passwd: Option<&str>, group: Option<&str>) -> Result<ExecUser, ExecError> {
    let invalid = |reason: String| ExecError::InvalidUser { user: spec.to_string(), reason };
    let (user_arg, group_arg) = match spec.split_once(':') {
        Some((u, g)) => (u, g),
        None => (spec, ""),
    };
    let uid_arg: Option<u32> = user_arg.parse().ok();
    let gid_arg: Option<u32> = group_arg.parse().ok();
    let mut out = ExecUser { uid: 0, gid: 0, additional_gids: Vec::new(), home: "/".to_string() };

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
                          broken:x:notanumber:1\n";
    const GROUP: &str = "root:x:0:\nwheel:x:10:root,app\nnogroup:x:65534:\napp:x:1000:\ndocker:x:999:app\n";

    fn check(spec: &str, expect: &str) {
        let got = match resolve_user(spec, Some(PASSWD), Some(GROUP)) {
            Ok(u) => format!("{}:{} {:?} {}", u.uid, u.gid, u.additional_gids, u.home),
            Err(e) => format!("error: {e}"),
        };
        assert_eq!(got, expect, "user spec {spec:?}");
    }

    #[test]
    fn user_forms() {
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
            check(spec, expect);
        }
    }

    #[test]
    fn missing_files() {
        let u = resolve_user("", None, None).unwrap();
        assert_eq!((u.uid, u.gid, u.home.as_str()), (0, 0, "/"));
        let u = resolve_user("42:43", None, None).unwrap();
        assert_eq!((u.uid, u.gid), (42, 43));
        assert!(resolve_user("name", None, None).is_err());
    }
}
