//! What overlayfs writes into a layer directory, read the one way for every
//! crate: whiteouts (character devices 0:0) hide a lower entry, an opaque
//! directory (`trusted.overlay.opaque=y`) hides everything below it in lower
//! layers, and `trusted.overlay.*` attributes steer the rest. In a user
//! namespace of our own (rootless mode) overlays are mounted with `userxattr`
//! and the same markers live in `user.overlay.*`: [`opaque`] and its siblings
//! name the ones this process's overlays use.

use std::os::fd::AsFd;
use std::path::Path;

use rustix::fs::{self as rfs, FileType, Mode};

use crate::sys;

/// The opaque marker of privileged overlays (`y`; `x` means it holds xattr whiteouts).
pub const OPAQUE: &str = "trusted.overlay.opaque";
/// The opaque marker of unprivileged (`userxattr`) overlays.
pub const USER_OPAQUE: &str = "user.overlay.opaque";

/// Whether this process's overlays are mounted with `userxattr` (it runs in a
/// user namespace of its own).
pub fn userxattr() -> bool {
    crate::ids::in_user_namespace()
}

fn pick(privileged: &'static str, user: &'static str) -> &'static str {
    if userxattr() {
        user
    } else {
        privileged
    }
}

/// Marks an opaque directory, in the namespace this process's overlays use.
pub fn opaque() -> &'static str {
    pick(OPAQUE, USER_OPAQUE)
}

/// Marks a directory renamed within the overlay (`redirect_dir`).
pub fn redirect() -> &'static str {
    pick("trusted.overlay.redirect", "user.overlay.redirect")
}

/// Marks a file whose data is still in a lower layer (`metacopy`).
pub fn metacopy() -> &'static str {
    pick("trusted.overlay.metacopy", "user.overlay.metacopy")
}

/// Marks an xattr whiteout (a regular file standing for one).
pub fn xattr_whiteout() -> &'static str {
    pick("trusted.overlay.whiteout", "user.overlay.whiteout")
}

/// Whether `name` is an attribute overlayfs keeps for itself (`trusted.overlay.*`,
/// `user.overlay.*`): never layer content, never taken from a layer.
pub fn is_overlay_xattr(name: &[u8]) -> bool {
    name.starts_with(b"trusted.overlay.") || name.starts_with(b"user.overlay.")
}

/// The type and device number of an entry: what tells a whiteout.
pub trait Node {
    fn raw_mode(&self) -> u32;
    fn raw_rdev(&self) -> u64;
}

impl Node for rfs::Stat {
    fn raw_mode(&self) -> u32 {
        self.st_mode
    }
    fn raw_rdev(&self) -> u64 {
        self.st_rdev
    }
}

impl Node for std::fs::Metadata {
    fn raw_mode(&self) -> u32 {
        std::os::unix::fs::MetadataExt::mode(self)
    }
    fn raw_rdev(&self) -> u64 {
        std::os::unix::fs::MetadataExt::rdev(self)
    }
}

/// Whether an entry of a layer is a whiteout (a character device 0:0).
pub fn is_whiteout(n: &impl Node) -> bool {
    FileType::from_raw_mode(n.raw_mode()) == FileType::CharacterDevice && n.raw_rdev() == 0
}

/// The value of extended attribute `name` of a layer entry (not following
/// symlinks), whatever its length, if it is set.
pub fn xattr(p: &Path, name: &str) -> Option<Vec<u8>> {
    sys::lgetxattr(p, name)
}

/// Whether the directory at `p` is opaque (its [`opaque`] marker is `y`).
pub fn is_opaque(p: &Path) -> bool {
    xattr(p, opaque()).is_some_and(|v| v == b"y")
}

/// Whether the open directory carries an opaque marker of either namespace,
/// whatever its value.
pub fn has_opaque_marker<Fd: AsFd>(dir: Fd) -> bool {
    [OPAQUE, USER_OPAQUE].iter().any(|name| sys::fhasxattr(&dir, name))
}

/// Makes a whiteout named `name` in the directory `dir`.
pub fn make_whiteout<Fd: AsFd, P: rustix::path::Arg>(dir: Fd, name: P) -> rustix::io::Result<()> {
    rfs::mknodat(dir, name, FileType::CharacterDevice, Mode::empty(), rfs::makedev(0, 0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whiteouts_are_char_devices_0_0() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = rfs::open(tmp.path(), rfs::OFlags::PATH | rfs::OFlags::DIRECTORY, Mode::empty()).unwrap();
        std::fs::write(tmp.path().join("file"), "").unwrap();
        std::fs::create_dir(tmp.path().join("dir")).unwrap();
        let made = make_whiteout(&dir, "gone").is_ok(); // needs CAP_MKNOD
                                                        // (name, is a whiteout)
        let cases = [("file", false), ("dir", false), ("gone", made)];
        for (name, want) in cases {
            if name == "gone" && !made {
                continue;
            }
            let m = std::fs::symlink_metadata(tmp.path().join(name)).unwrap();
            let st = rfs::lstat(tmp.path().join(name)).unwrap();
            assert_eq!((is_whiteout(&m), is_whiteout(&st)), (want, want), "{name}");
        }
        assert!(!is_opaque(&tmp.path().join("dir")));
    }

    #[test]
    fn overlay_attributes() {
        // (attribute name, overlayfs's own)
        let cases = [
            ("trusted.overlay.opaque", true),
            ("user.overlay.redirect", true),
            ("trusted.overlayfoo", false),
            ("security.capability", false),
            ("user.mime_type", false),
        ];
        for (name, want) in cases {
            assert_eq!(is_overlay_xattr(name.as_bytes()), want, "{name}");
        }
    }
}
