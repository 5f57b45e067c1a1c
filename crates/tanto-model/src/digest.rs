//! SHA-256 digests and the stable hasher behind cache keys.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest as _, Sha256};

/// Bumped whenever the canonical encoding of any op changes meaning, so old
/// cache entries can never be mistaken for new ones. v2: the typed op model
/// (owners, sharing modes, service bindings, redirects and stdin as options),
/// and `owner` on directory, file and cache mounts applied when the exec runs.
pub const CACHE_KEY_SALT: &[u8] = b"tanto/cache-key/v2\0";

/// A SHA-256 content digest, printed as `sha256:<64 hex>`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest(pub [u8; 32]);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DigestError {
    #[error("digest `{0}` is not of the form sha256:<64 hex digits>")]
    Malformed(String),
}

impl Digest {
    pub fn of(bytes: &[u8]) -> Digest {
        Digest(Sha256::digest(bytes).into())
    }

    pub fn hex(&self) -> String {
        hex::encode(self.0)
    }

    /// The first `n` hex digits, for log lines and short names.
    pub fn short(&self, n: usize) -> String {
        let mut h = self.hex();
        h.truncate(n);
        h
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{}", self.hex())
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{}", self.short(12))
    }
}

impl FromStr for Digest {
    type Err = DigestError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let hexpart = s.strip_prefix("sha256:").ok_or_else(|| DigestError::Malformed(s.into()))?;
        let mut out = [0u8; 32];
        if hexpart.len() != 64 || hex::decode_to_slice(hexpart, &mut out).is_err() {
            return Err(DigestError::Malformed(s.into()));
        }
        Ok(Digest(out))
    }
}

impl Serialize for Digest {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Digest {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Hashes canonical encodings: every write is length-prefixed so that
/// concatenations are unambiguous.
pub struct StableHasher(Sha256);

impl Default for StableHasher {
    fn default() -> Self {
        Self::new()
    }
}

impl StableHasher {
    pub fn new() -> Self {
        let mut h = Sha256::new();
        h.update(CACHE_KEY_SALT);
        StableHasher(h)
    }

    pub fn bytes(&mut self, b: &[u8]) -> &mut Self {
        self.0.update((b.len() as u64).to_le_bytes());
        self.0.update(b);
        self
    }

    pub fn str(&mut self, s: &str) -> &mut Self {
        self.bytes(s.as_bytes())
    }

    pub fn u64(&mut self, v: u64) -> &mut Self {
        self.0.update(v.to_le_bytes());
        self
    }

    pub fn digest(&mut self, d: &Digest) -> &mut Self {
        self.0.update(d.0);
        self
    }

    /// Canonical JSON of a serde value (see the crate invariants).
    pub fn json<T: Serialize + ?Sized>(&mut self, v: &T) -> &mut Self {
        let enc = serde_json::to_vec(v).expect("canonical encoding of an op cannot fail");
        self.bytes(&enc)
    }

    pub fn finish(self) -> Digest {
        Digest(self.0.finalize().into())
    }
}

impl crate::Tiered for DigestError {
    fn tier(&self) -> crate::Tier {
        crate::Tier::Input
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_round_trip_and_reject_garbage() {
        let cases: &[(&str, bool)] = &[
            ("sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", true),
            ("sha256:e3b0", false),
            ("md5:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", false),
            ("sha256:zzb0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", false),
        ];
        for (input, ok) in cases {
            let parsed = input.parse::<Digest>();
            assert_eq!(parsed.is_ok(), *ok, "{input}");
            if let Ok(d) = parsed {
                assert_eq!(&d.to_string(), input);
            }
        }
        assert_eq!(Digest::of(b"").to_string(), cases[0].0);
    }

    #[test]
    fn hasher_is_prefix_free() {
        let a = {
            let mut h = StableHasher::new();
            h.str("ab").str("c");
            h.finish()
        };
        let b = {
            let mut h = StableHasher::new();
            h.str("a").str("bc");
            h.finish()
        };
        assert_ne!(a, b);
    }
}
