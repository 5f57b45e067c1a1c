//! Names of Container Device Interface (CDI) devices: `vendor/class=name`,
//! such as `nvidia.com/gpu=0` (pure: the engine resolves them against the
//! host's CDI specs in `tanto-exec`).

/// The kind `experimentalWithGPU` names devices of.
pub const NVIDIA_GPU_KIND: &str = "nvidia.com/gpu";

fn is_alnum(c: char) -> bool {
    c.is_ascii_alphanumeric()
}

/// A `kind`: `vendor/class`, the vendor a DNS-like name, the class a name
/// segment (alphanumerics with `-_.` inside).
pub fn check_kind(kind: &str) -> Result<(), String> {
    let Some((vendor, class)) = kind.split_once('/') else {
        return Err(format!("`{kind}` is not a kind of the form `vendor.com/class`"));
    };
    let seg_ok = |s: &str, extra: &[char]| {
        !s.is_empty()
            && s.starts_with(is_alnum)
            && s.ends_with(is_alnum)
            && s.chars().all(|c| is_alnum(c) || extra.contains(&c))
    };
    if !seg_ok(vendor, &['-', '.']) || vendor.contains("..") {
        return Err(format!("the vendor `{vendor}` of kind `{kind}` must be a domain-like name such as `nvidia.com`"));
    }
    if class.len() > 63 || !seg_ok(class, &['-', '_', '.']) {
        return Err(format!(
            "the class `{class}` of kind `{kind}` must be letters and digits, with `-`, `_` or `.` inside, at most 63 characters"
        ));
    }
    Ok(())
}

/// A device name: alphanumerics with `-_.:` inside (UUIDs and MIG names included).
pub fn check_device_name(name: &str) -> Result<(), String> {
    if name.is_empty()
        || !name.starts_with(is_alnum)
        || !name.ends_with(is_alnum)
        || !name.chars().all(|c| is_alnum(c) || matches!(c, '-' | '_' | '.' | ':'))
    {
        return Err(format!(
            "`{name}` is not a device name: use letters and digits, with `-`, `_`, `.` or `:` inside (such as `0`, `all` or a GPU UUID)"
        ));
    }
    Ok(())
}

/// A fully-qualified device name from `name` (`0`, `GPU-…`) or `vendor/class=name`:
/// bare names are devices of `default_kind`.
pub fn qualify(name: &str, default_kind: &str) -> Result<String, String> {
    let (kind, dev) = match name.split_once('=') {
        Some((k, d)) => (k, d),
        None => (default_kind, name),
    };
    check_kind(kind)?;
    check_device_name(dev)?;
    Ok(format!("{kind}={dev}"))
}
