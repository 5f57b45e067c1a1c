//! What Dagger's Python runtime reads from a module's `pyproject.toml`
//! (`discovery.go` `PyProject`): the project's name, `requires-python`,
//! `[tool.uv.sources] dagger-io` and `[tool.dagger]`, and from them the base
//! image (`parseBaseImage`).

use serde::Deserialize;

/// Dagger v0.21.8's base image, by tag: `images/base/Dockerfile` pins
/// `python:3.14-slim@sha256:486b…`, which a stand-in registry cannot serve,
/// so tanto resolves the tag (through the engine's registry mirrors).
pub const DEFAULT_BASE_IMAGE: &str = "python:3.14-slim";

/// The default Python version (the default base image's).
pub const DEFAULT_PYTHON: &str = "3.14";

/// A `pyproject.toml` that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the module's pyproject.toml is not valid TOML: {0}")]
pub struct PyProjectError(pub String);

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct PyProject {
    #[serde(default)]
    pub project: Project,
    #[serde(default)]
    pub tool: Tool,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct Project {
    #[serde(default)]
    pub name: String,
    #[serde(default, rename = "requires-python")]
    pub requires_python: String,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct Tool {
    #[serde(default)]
    pub uv: Uv,
    #[serde(default)]
    pub dagger: DaggerConfig,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct Uv {
    #[serde(default)]
    pub sources: Sources,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct Sources {
    #[serde(default, rename = "dagger-io")]
    pub dagger_io: Option<UvSource>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct UvSource {
    #[serde(default)]
    pub path: String,
    #[serde(default)]
    pub editable: bool,
}

/// `[tool.dagger]` (`UserConfig`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct DaggerConfig {
    #[serde(default, rename = "base-image")]
    pub base_image: String,
    #[serde(default, rename = "use-uv")]
    pub use_uv: Option<bool>,
    #[serde(default, rename = "uv-version")]
    pub uv_version: String,
}

impl PyProject {
    pub fn parse(text: &str) -> Result<PyProject, PyProjectError> {
        toml::from_str(text).map_err(|e| PyProjectError(e.message().to_string()))
    }

    /// `findPythonVersion`: `.python-version` if given, else the version of
    /// a `>=` or `==` `requires-python` (up to the first `,`).
    pub fn python_version(&self, dot_python_version: Option<&str>) -> Option<String> {
        if let Some(v) = dot_python_version.map(str::trim).filter(|v| !v.is_empty()) {
            return Some(v.lines().next().unwrap_or(v).trim().to_string());
        }
        let min = self.project.requires_python.trim();
        let rest = min.strip_prefix(">=").or_else(|| min.strip_prefix("=="))?;
        let v = rest.split(',').next().unwrap_or("").trim().trim_end_matches(".*");
        let valid = !v.is_empty() && v.split('.').all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
        valid.then(|| v.to_string())
    }

    /// `parseBaseImage`: `[tool.dagger] base-image`, else `python:<version>-slim`
    /// for the version [`python_version`](Self::python_version) finds, else
    /// [`DEFAULT_BASE_IMAGE`].
    pub fn base_image(&self, dot_python_version: Option<&str>) -> String {
        let custom = self.tool.dagger.base_image.trim();
        if !custom.is_empty() {
            return custom.to_string();
        }
        match self.python_version(dot_python_version) {
            Some(v) => format!("python:{v}-slim"),
            None => DEFAULT_BASE_IMAGE.to_string(),
        }
    }

    /// The directory the vendored SDK goes in (`[tool.uv.sources] dagger-io`
    /// path when set, else `sdk`).
    pub fn vendor_path(&self) -> String {
        match &self.tool.uv.sources.dagger_io {
            Some(s) if !s.path.trim().is_empty() => s.path.trim().trim_end_matches('/').to_string(),
            _ => "sdk".to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_images() {
        // (pyproject.toml, .python-version, base image)
        let cases = [
            ("[project]\nrequires-python = \">=3.14\"\n", None, "python:3.14-slim"),
            ("[project]\nrequires-python = \">=3.12\"\n", None, "python:3.12-slim"),
            ("[project]\nrequires-python = \"==3.13.1\"\n", None, "python:3.13.1-slim"),
            ("[project]\nrequires-python = \">=3.11,<4\"\n", None, "python:3.11-slim"),
            ("[project]\nrequires-python = \"~=3.12\"\n", None, "python:3.14-slim"),
            ("[project]\nrequires-python = \">=3\"\n", None, "python:3-slim"),
            ("[project]\nname = \"x\"\n", None, "python:3.14-slim"),
            ("", None, "python:3.14-slim"),
            ("[project]\nrequires-python = \">=3.14\"\n", Some("3.12\n"), "python:3.12-slim"),
            (
                "[project]\nrequires-python = \">=3.14\"\n[tool.dagger]\nbase-image = \"acme/py:3.13\"\n",
                Some("3.12"),
                "acme/py:3.13",
            ),
        ];
        for (text, dot, want) in cases {
            let p = PyProject::parse(text).unwrap();
            assert_eq!(p.base_image(dot), want, "{text:?} {dot:?}");
        }
    }

    #[test]
    fn reads_the_template_and_vendor_path() {
        let p = PyProject::parse(&crate::python::template::pyproject("hello", None)).unwrap();
        assert_eq!(p.project.name, "hello");
        assert_eq!(p.vendor_path(), "sdk");
        assert_eq!(p.tool.uv.sources.dagger_io, Some(UvSource { path: "sdk".into(), editable: true }));
        let p = PyProject::parse("[tool.uv.sources]\ndagger-io = { path = \"vendor/sdk/\" }\n").unwrap();
        assert_eq!(p.vendor_path(), "vendor/sdk");
        let err = PyProject::parse("[project\n").unwrap_err().to_string();
        assert!(err.starts_with("the module's pyproject.toml is not valid TOML: "), "{err}");
    }
}
