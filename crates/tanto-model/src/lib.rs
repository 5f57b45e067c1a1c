//! tanto-model: the data at the centre of tanto — content digests, stable cache
//! keys, and the op graph (`Vertex` / `Ref`) that every pipeline object points into.
//!
//! Invariants:
//! - A vertex's cache key is the SHA-256 of a versioned salt followed by the
//!   canonical JSON encoding of its op (non-semantic fields skipped) and the keys
//!   of its inputs. Canonical means: structs in declaration order, sequences in
//!   order, `BTreeMap` only — never `std::hash::Hash`, `Debug`, or a `HashMap`.
//! - Secret values never appear in an op: ops name secrets, the engine holds values.
//! - This crate does no IO and does not depend on tokio.

pub mod blob;
pub mod cdi;
pub mod digest;
pub mod op;
pub mod path;
pub mod tier;
pub mod vertex;

pub use blob::{BlobRepo, BlobSource, Compression, LayerBlob};
pub use digest::{Digest, DigestError, StableHasher};
pub use op::{
    CacheSharing, CacheSharingError, CacheSource, ExecMount, ExecMountKind, ExecOp, Expect, FileAction, FileOp, GitOp,
    HttpOp, ImageLayerOp, LocalOp, Op, Owner, OwnerId, PatchSource, RecordedOp, ServiceBinding,
};
pub use tier::{Tier, Tiered};
pub use vertex::{Ref, Vertex};
