//! tanto-fs: tanto's one filesystem layer, used by the store, the OCI code,
//! the executor and the engine alike. It owns safe-root file operations
//! ([`Root`]: read, stat, list, glob, digest, write, mkdir, chown, symlink,
//! remove), copies between roots with include/exclude filters and
//! `.gitignore` files ([`copy`], [`Filter`]), differences between trees
//! ([`changes`]), patches ([`patch`]), overlayfs whiteout/opaque predicates
//! ([`overlay`]), users and groups from a root's `/etc/passwd` and
//! `/etc/group` ([`passwd`]), lexical path cleaning ([`path`]) and the user
//! namespace as files see it ([`ids`]: rootless mode).
//!
//! Invariants:
//! - Nothing writes outside its root: every path below a [`Root`] resolves
//!   with `openat2(RESOLVE_IN_ROOT)` (`..` and absolute symlinks stop at the
//!   root) and entries are created, replaced and removed with `*at` calls
//!   relative to a directory descriptor, never following the last component.
//! - Symlinks are never followed out of a root: below the path a caller
//!   names, walks go through descriptors and copy symlinks as symlinks; a
//!   symlink in the way of a directory to create is replaced, not written
//!   through. [`Resolve::Beneath`] refuses symlinks altogether (host uploads).
//! - The resolve flags are set in one place ([`openat_resolved`], `sys.rs`).
//!
//! Must not: depend on other tanto crates, run processes, or make namespace
//! or mount calls. Everything here is blocking: call it from `spawn_blocking`.

mod changes;
mod copy;
mod error;
mod filter;
pub mod gitignore;
pub mod ids;
mod ops;
pub mod overlay;
pub mod passwd;
pub mod patch;
pub mod path;
mod root;
mod sys;
#[cfg(test)]
mod testutil;
mod tree;

pub use changes::{apply_changes, changes, diff, Changes};
pub use copy::{copy, copy_entry, set_dir_meta, CopyOpts};
pub use error::{FsError, Result};
pub use filter::{escape, Filter};
pub use ops::{chown, ensure_dir, replace, replaced, timestamps};
pub use patch::apply_patch;
pub use root::{file_type, remove_tree_at, Root, Stat};
pub use sys::{openat_resolved, Resolve};
pub use tree::{digest, glob};
