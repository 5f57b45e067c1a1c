//! Platforms in OCI/Go terms (`linux/amd64`, `linux/arm64/v8`) and how an
//! image index entry is matched against the wanted one.

use std::fmt;
use std::str::FromStr;

#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Platform {
    pub os: String,
    pub architecture: String,
    pub variant: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid platform `{0}`: expected `os/arch[/variant]`, e.g. `linux/amd64` or `linux/arm64/v8`")]
pub struct PlatformError(pub String);

impl Platform {
    pub fn new(os: &str, architecture: &str, variant: Option<&str>) -> Platform {
        let (architecture, v) = normalize_arch(architecture, variant.unwrap_or(""));
        Platform { os: os.to_ascii_lowercase(), architecture, variant: if v.is_empty() { None } else { Some(v) } }
    }

    /// The machine we run on: `linux/amd64`, or `linux/arm64/v8`, ...
    pub fn host() -> Platform {
        let (arch, variant) = match std::env::consts::ARCH {
            "x86_64" => ("amd64", None),
            "aarch64" => ("arm64", Some("v8")),
            "arm" => ("arm", Some("v7")),
            "x86" => ("386", None),
            "powerpc64" if cfg!(target_endian = "little") => ("ppc64le", None),
            "powerpc64" => ("ppc64", None),
            "s390x" => ("s390x", None),
            "riscv64" => ("riscv64", None),
            "loongarch64" => ("loong64", None),
            other => (other, None),
        };
        Platform { os: "linux".into(), architecture: arch.into(), variant: variant.map(Into::into) }
    }

    pub fn parse(s: &str) -> Result<Platform, PlatformError> {
        let parts: Vec<&str> = s.trim().split('/').collect();
        let ok = |p: &str| {
            !p.is_empty() && p.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.')
        };
        match parts.as_slice() {
            [os, arch] if ok(os) && ok(arch) => Ok(Platform::new(os, arch, None)),
            [os, arch, variant] if ok(os) && ok(arch) && ok(variant) => Ok(Platform::new(os, arch, Some(variant))),
            _ => Err(PlatformError(s.to_string())),
        }
    }

    /// How well an image built for `candidate` runs here; `None` if it does not.
    /// Higher is better: an exact variant beats a compatible one.
    pub fn match_score(&self, candidate: &Platform) -> Option<u32> {
        if self.os != candidate.os || self.architecture != candidate.architecture {
            return None;
        }
        let default = match self.architecture.as_str() {
            "arm64" => "v8",
            "arm" => "v7",
            "amd64" => "v1",
            _ => "",
        };
        let want = self.variant.as_deref().filter(|v| !v.is_empty()).unwrap_or(default);
        let have = candidate.variant.as_deref().filter(|v| !v.is_empty()).unwrap_or(default);
        if want == have {
            // an exact spelling is a little better than an implied default
            return Some(if self.variant == candidate.variant { 100 } else { 99 });
        }
        let level = |v: &str| v.trim_start_matches('v').parse::<u32>().ok();
        match self.architecture.as_str() {
            // older arm variants and lower amd64 micro-architecture levels run on newer ones
            "arm" | "amd64" => {
                let (w, h) = (level(want)?, level(have)?);
                (h <= w).then_some(50 + h)
            }
            _ => None,
        }
    }

    pub fn matches(&self, candidate: &Platform) -> bool {
        self.match_score(candidate).is_some()
    }
}

fn normalize_arch(arch: &str, variant: &str) -> (String, String) {
    let arch = arch.to_ascii_lowercase();
    let variant = variant.to_ascii_lowercase();
    match arch.as_str() {
        "x86_64" | "x86-64" | "amd64" => ("amd64".into(), if variant == "v1" { String::new() } else { variant }),
        // like `host()`: arm64 is always spelled with its variant, so a
        // platform parsed from `linux/arm64`, an image config without a
        // variant and the host compare equal
        "aarch64" | "arm64" => {
            ("arm64".into(), if variant == "8" || variant.is_empty() { "v8".into() } else { variant })
        }
        "armhf" => ("arm".into(), "v7".into()),
        "armel" => ("arm".into(), "v6".into()),
        "arm" => (
            "arm".into(),
            match variant.as_str() {
                "5" | "6" | "7" | "8" => format!("v{variant}"),
                _ => variant,
            },
        ),
        "i386" | "i686" | "x86" => ("386".into(), variant),
        _ => (arch, variant),
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Platform({self})")
    }
}

impl FromStr for Platform {
    type Err = PlatformError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Platform::parse(s)
    }
}

impl From<&oci_spec::image::Platform> for Platform {
    fn from(p: &oci_spec::image::Platform) -> Platform {
        Platform::new(&p.os().to_string(), &p.architecture().to_string(), p.variant().as_deref())
    }
}

impl serde::Serialize for Platform {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Platform {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Platform::parse(&s).map_err(serde::de::Error::custom)
    }
}

impl tanto_model::Tiered for PlatformError {
    fn tier(&self) -> tanto_model::Tier {
        tanto_model::Tier::Input
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_display() {
        let cases = [
            ("linux/amd64", Some("linux/amd64")),
            ("linux/x86_64", Some("linux/amd64")),
            ("linux/arm64", Some("linux/arm64/v8")),
            ("linux/aarch64", Some("linux/arm64/v8")),
            ("linux/arm64/8", Some("linux/arm64/v8")),
            ("linux/arm64/v8", Some("linux/arm64/v8")),
            ("linux/arm/v6", Some("linux/arm/v6")),
            ("linux/arm", Some("linux/arm")),
            ("Linux/AMD64", Some("linux/amd64")),
            ("linux", None),
            ("linux/amd64/v2/x", None),
            ("linux//v2", None),
            ("", None),
        ];
        for (input, want) in cases {
            match (Platform::parse(input), want) {
                (Ok(p), Some(w)) => assert_eq!(p.to_string(), w, "{input}"),
                (Err(e), None) => assert!(e.to_string().contains(&format!("`{input}`")), "{e}"),
                (got, want) => panic!("{input}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn host_is_linux() {
        let h = Platform::host();
        assert_eq!(h.os, "linux");
        assert_eq!(Platform::parse(&h.to_string()).unwrap(), h);
    }

    #[test]
    fn matching() {
        // (wanted, candidate os, arch, variant, matches?)
        let cases = [
            ("linux/amd64", "linux", "amd64", None, true),
            ("linux/amd64", "linux", "amd64", Some("v3"), false),
            ("linux/amd64/v3", "linux", "amd64", None, true),
            ("linux/amd64", "linux", "arm64", None, false),
            ("linux/amd64", "windows", "amd64", None, false),
            ("linux/arm64/v8", "linux", "arm64", None, true),
            ("linux/arm64", "linux", "arm64", Some("v8"), true),
            ("linux/arm/v7", "linux", "arm", Some("v6"), true),
            ("linux/arm/v6", "linux", "arm", Some("v7"), false),
            ("linux/arm", "linux", "arm", Some("v7"), true),
            ("linux/arm64/v8", "linux", "arm64", Some("v9"), false),
        ];
        for (want, os, arch, variant, ok) in cases {
            let w = Platform::parse(want).unwrap();
            let c = Platform::new(os, arch, variant);
            assert_eq!(w.matches(&c), ok, "{want} vs {c}");
        }
        let w = Platform::host();
        let exact = w.match_score(&w).unwrap();
        let implied = w.match_score(&Platform::new(&w.os, &w.architecture, None));
        assert!(implied.is_some_and(|s| s <= exact));
    }
}
