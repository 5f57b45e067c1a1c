//! Blobs as the crates exchange them: where a blob is fetched from, how a
//! layer blob is compressed, and a layer blob written from a snapshot.

/// A registry repository blobs are fetched from (empty for blobs that are
/// only in the store, such as the layers of an imported tarball).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct BlobRepo {
    /// `host[:port]` that served the manifest (a mirror or the registry).
    pub host: String,
    pub repository: String,
    /// Plain HTTP.
    pub http: bool,
}

/// Where one blob can be fetched from. Not part of any key.
#[derive(Debug, Clone)]
pub struct BlobSource {
    pub digest: crate::Digest,
    pub media_type: String,
    pub size: u64,
    pub repo: BlobRepo,
}

/// How a layer blob is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    Gzip,
    Zstd,
    Uncompressed,
}

impl Compression {
    /// From a layer media type; `None` when the type does not say (then the
    /// content's magic bytes decide).
    pub fn from_media_type(media_type: &str) -> Option<Compression> {
        let mt = media_type.trim().to_ascii_lowercase();
        let mt = mt.split(';').next().unwrap_or("").trim();
        if mt.ends_with("+gzip") || mt.ends_with(".gzip") || mt.ends_with("tar.gz") || mt == "application/gzip" {
            Some(Compression::Gzip)
        } else if mt.ends_with("+zstd") || mt.ends_with(".zstd") || mt == "application/zstd" {
            Some(Compression::Zstd)
        } else if mt.ends_with(".tar") || mt.ends_with("layer.v1.tar") || mt == "application/x-tar" {
            Some(Compression::Uncompressed)
        } else {
            None
        }
    }

    /// From the first bytes of the blob.
    pub fn sniff(head: &[u8]) -> Compression {
        if head.starts_with(&[0x1f, 0x8b]) {
            Compression::Gzip
        } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Compression::Zstd
        } else {
            Compression::Uncompressed
        }
    }
}

/// A layer blob made from a snapshot (or recompressed from another blob).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerBlob {
    /// `sha256:<hex>` of the blob as written (compressed).
    pub digest: String,
    /// `sha256:<hex>` of the uncompressed tar.
    pub diff_id: String,
    /// Size of the blob in bytes.
    pub size: u64,
}
