//! Dockerfile `ADD` of a local source: a tar archive (plain, gzip or zstd)
//! is unpacked with the layer-apply rules, anything else is copied.

use std::io::{self, Read, Seek};
use std::os::fd::AsRawFd;
use std::path::PathBuf;

use tanto_fs::{CopyOpts, FsError, Root};

use super::{apply_tar, Compression, LayerError};

#[derive(Debug, thiserror::Error)]
pub enum UnpackError {
    #[error(transparent)]
    Fs(#[from] FsError),
    #[error(transparent)]
    Layer(#[from] LayerError),
}

impl tanto_model::Tiered for UnpackError {
    fn tier(&self) -> tanto_model::Tier {
        match self {
            UnpackError::Fs(e) => e.tier(),
            UnpackError::Layer(e) => e.tier(),
        }
    }
}

impl From<io::Error> for UnpackError {
    fn from(e: io::Error) -> Self {
        UnpackError::Fs(e.into())
    }
}

/// Whether a 512-byte block is a tar header (its checksum matches).
fn is_tar_header(h: &[u8]) -> bool {
    if h.len() < 512 || h.iter().all(|b| *b == 0) {
        return false;
    }
    let field: String = h[148..156].iter().map(|b| *b as char).collect();
    let Ok(want) = u32::from_str_radix(field.trim_matches(|c: char| c == '\0' || c == ' '), 8) else { return false };
    let sum: u32 =
        h[..512].iter().enumerate().map(|(i, b)| if (148..156).contains(&i) { b' ' as u32 } else { *b as u32 }).sum();
    sum == want
}

/// `file` decompressed (gzip or zstd, by magic bytes) from its start.
fn decompressed(file: &std::fs::File) -> io::Result<Box<dyn Read>> {
    let mut f = file.try_clone()?;
    f.seek(io::SeekFrom::Start(0))?;
    let mut magic = [0u8; 4];
    let n = f.read(&mut magic)?;
    f.seek(io::SeekFrom::Start(0))?;
    Ok(match Compression::sniff(&magic[..n]) {
        Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(f)),
        Compression::Zstd => Box::new(zstd::stream::read::Decoder::new(f)?),
        Compression::Uncompressed => Box::new(f),
    })
}

/// Unpacks `src_path` of `src` into the directory `dst_path` of `dst` when it
/// is a regular file holding a tar archive (plain, gzip or zstd; nothing
/// leaves the directory); copies it with [`tanto_fs::copy`] otherwise.
pub fn unpack_or_copy(
    src: &Root,
    src_path: &str,
    dst: &Root,
    dst_path: &str,
    opts: &CopyOpts<'_>,
) -> Result<(), UnpackError> {
    let copy = || Ok(tanto_fs::copy(src, src_path, dst, dst_path, opts)?);
    // not a regular file (or not there): copied, which says what is wrong
    let Ok(file) = src.open_file(src_path) else {
        return copy();
    };
    let mut head = [0u8; 512];
    let is_tar = {
        let mut r = decompressed(&file)?;
        let mut n = 0;
        while n < head.len() {
            match r.read(&mut head[n..]) {
                Ok(0) | Err(_) => break,
                Ok(k) => n += k,
            }
        }
        n == head.len() && is_tar_header(&head)
    };
    if !is_tar {
        return copy();
    }
    let dir = dst.mkdir_all(dst_path, 0o755, opts.owner)?;
    let dir_path = PathBuf::from(format!("/proc/self/fd/{}", dir.as_raw_fd()));
    apply_tar(decompressed(&file)?, &dir_path)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tar_header_cases() {
        let mut h = [0u8; 512];
        h[..5].copy_from_slice(b"a.txt");
        h[156] = b'0';
        h[257..263].copy_from_slice(b"ustar\0");
        let sum: u32 = h.iter().map(|b| *b as u32).sum::<u32>() + 8 * b' ' as u32;
        h[148..155].copy_from_slice(format!("{sum:06o}\0").as_bytes());
        let mut bad = h;
        bad[0] = b'b';
        // (block, is a tar header, why)
        let cases: [(&[u8], bool, &str); 4] = [
            (&h, true, "a header"),
            (&bad, false, "checksum mismatch"),
            (&[0u8; 512], false, "zero block"),
            (b"plain text", false, "short"),
        ];
        for (block, want, why) in cases {
            assert_eq!(is_tar_header(block), want, "{why}");
        }
    }
}
