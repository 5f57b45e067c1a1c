// Over 600 lines: one table-test file for layer apply, sharing its raw tar writer.
//! Layer apply, as tables: each case is a list of tar entries (written byte by
//! byte, so hostile names are possible) and what the tree must look like.

#![allow(clippy::type_complexity)]

use std::fs;
use std::io::Write as _;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use super::*;
use tanto_testkit::prereq::Need;

// ---------------------------------------------------------------------------
// a raw tar writer

#[derive(Clone)]
struct E {
    name: Vec<u8>,
    kind: u8,
    data: Vec<u8>,
    link: Vec<u8>,
    mode: u32,
    uid: u32,
    gid: u32,
    mtime: u64,
    dev: (u32, u32),
    pax: Vec<(String, Vec<u8>)>,
}

fn e(name: &str, kind: u8) -> E {
    E {
        name: name.as_bytes().to_vec(),
        kind,
        data: vec![],
        link: vec![],
        mode: if kind == b'5' { 0o755 } else { 0o644 },
        uid: 0,
        gid: 0,
        mtime: 1_000_000,
        dev: (0, 0),
        pax: vec![],
    }
}
fn dir(name: &str) -> E {
    e(name, b'5')
}
fn file(name: &str, data: &str) -> E {
    E { data: data.as_bytes().to_vec(), ..e(name, b'0') }
}
fn symlink(name: &str, target: &str) -> E {
    E { link: target.as_bytes().to_vec(), mode: 0o777, ..e(name, b'2') }
}
fn hardlink(name: &str, target: &str) -> E {
    E { link: target.as_bytes().to_vec(), ..e(name, b'1') }
}
impl E {
    fn mode(mut self, m: u32) -> E {
        self.mode = m;
        self
    }
    fn owner(mut self, u: u32, g: u32) -> E {
        self.uid = u;
        self.gid = g;
        self
    }
    fn mtime(mut self, t: u64) -> E {
        self.mtime = t;
        self
    }
    fn dev(mut self, major: u32, minor: u32) -> E {
        self.dev = (major, minor);
        self
    }
    fn pax(mut self, k: &str, v: &[u8]) -> E {
        self.pax.push((k.to_string(), v.to_vec()));
        self
    }
}

fn octal(dst: &mut [u8], v: u64) {
    let s = format!("{:0width$o}", v, width = dst.len() - 1);
    dst[..s.len()].copy_from_slice(s.as_bytes());
    dst[s.len()] = 0;
}

fn header(name: &[u8], kind: u8, size: u64, e: &E) -> [u8; 512] {
    let mut h = [0u8; 512];
    assert!(name.len() <= 100, "use pax path for long names");
    h[..name.len()].copy_from_slice(name);
    octal(&mut h[100..108], e.mode as u64);
    octal(&mut h[108..116], e.uid as u64);
    octal(&mut h[116..124], e.gid as u64);
    octal(&mut h[124..136], size);
    octal(&mut h[136..148], e.mtime);
    h[156] = kind;
    h[157..157 + e.link.len()].copy_from_slice(&e.link);
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    octal(&mut h[329..337], e.dev.0 as u64);
    octal(&mut h[337..345], e.dev.1 as u64);
    h[148..156].fill(b' ');
    let sum: u64 = h.iter().map(|b| *b as u64).sum();
    let s = format!("{sum:06o}\0 ");
    h[148..156].copy_from_slice(s.as_bytes());
    h
}

fn pad(out: &mut Vec<u8>) {
    while !out.len().is_multiple_of(512) {
        out.push(0);
    }
}

fn tar(entries: &[E]) -> Vec<u8> {
    let mut out = Vec::new();
    for en in entries {
        let mut pax = en.pax.clone();
        let mut name = en.name.clone();
        if name.len() > 100 {
            pax.push(("path".into(), name.clone()));
            name.truncate(100);
        }
        if !pax.is_empty() {
            let mut body = Vec::new();
            for (k, v) in &pax {
                let rest = k.len() + v.len() + 3; // ' ' '=' '\n'
                let mut len = rest + 1;
                while len.to_string().len() + rest != len {
                    len += 1;
                }
                body.extend_from_slice(format!("{len} {k}=").as_bytes());
                body.extend_from_slice(v);
                body.push(b'\n');
            }
            out.extend_from_slice(&header(b"PaxHeader", b'x', body.len() as u64, en));
            out.extend_from_slice(&body);
            pad(&mut out);
        }
        out.extend_from_slice(&header(&name, en.kind, en.data.len() as u64, en));
        out.extend_from_slice(&en.data);
        pad(&mut out);
    }
    out.extend_from_slice(&[0u8; 1024]);
    out
}

// ---------------------------------------------------------------------------
// expectations

#[derive(Debug)]
enum X {
    File(&'static str),
    Dir,
    Symlink(&'static str),
    Whiteout,
    Opaque,
    NotOpaque,
    Absent,
    SameInode(&'static str),
    Mode(u32),
    Owner(u32, u32),
    Mtime(i64),
    CharDev(u32, u32),
    Fifo,
    Xattr(&'static str, &'static str),
    NoXattr(&'static str),
}

struct Sandbox {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    outside: PathBuf,
}

impl Sandbox {
    fn new() -> Sandbox {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("root");
        let outside = tmp.path().join("outside");
        fs::create_dir(&root).unwrap();
        fs::create_dir(&outside).unwrap();
        fs::write(outside.join("secret"), "host secret").unwrap();
        Sandbox { _tmp: tmp, root, outside }
    }

    /// Only `secret` may be in `outside`, unchanged.
    fn assert_outside_untouched(&self) {
        let names: Vec<_> = fs::read_dir(&self.outside).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, ["secret"], "something was written outside the root");
        assert_eq!(fs::read_to_string(self.outside.join("secret")).unwrap(), "host secret");
    }
}

fn privileged() -> bool {
    rustix::process::geteuid().is_root()
}

fn check_path(root: &Path, path: &str, x: &X) {
    let p = root.join(path);
    let lmeta = fs::symlink_metadata(&p);
    let ctx = format!("`{path}` should be {x:?}");
    match x {
        X::Absent => assert!(lmeta.is_err(), "{ctx}"),
        X::File(content) => {
            assert!(lmeta.as_ref().unwrap().file_type().is_file(), "{ctx}");
            assert_eq!(fs::read_to_string(&p).unwrap(), *content, "{ctx}");
        }
        X::Dir => assert!(lmeta.expect(&ctx).is_dir(), "{ctx}"),
        X::Symlink(t) => {
            assert!(lmeta.expect(&ctx).file_type().is_symlink(), "{ctx}");
            assert_eq!(fs::read_link(&p).unwrap().to_str().unwrap(), *t, "{ctx}");
        }
        X::Whiteout => {
            let m = lmeta.expect(&ctx);
            assert!(m.file_type().is_char_device() && m.rdev() == 0, "{ctx}");
        }
        X::CharDev(major, minor) => {
            let m = lmeta.expect(&ctx);
            assert!(m.file_type().is_char_device(), "{ctx}");
            assert_eq!(m.rdev(), libc::makedev(*major, *minor), "{ctx}");
        }
        X::Fifo => assert!(lmeta.expect(&ctx).file_type().is_fifo(), "{ctx}"),
        X::Opaque => assert_eq!(xattr::get(&p, "trusted.overlay.opaque").unwrap().as_deref(), Some(&b"y"[..]), "{ctx}"),
        X::NotOpaque => assert_eq!(xattr::get(&p, "trusted.overlay.opaque").unwrap(), None, "{ctx}"),
        X::SameInode(other) => {
            let a = lmeta.expect(&ctx);
            let b = fs::symlink_metadata(root.join(other)).unwrap();
            assert_eq!((a.dev(), a.ino()), (b.dev(), b.ino()), "{ctx}");
        }
        X::Mode(m) => assert_eq!(lmeta.expect(&ctx).permissions().mode() & 0o7777, *m, "{ctx}"),
        X::Owner(u, g) => {
            let m = lmeta.expect(&ctx);
            assert_eq!((m.uid(), m.gid()), (*u, *g), "{ctx}");
        }
        X::Mtime(t) => assert_eq!(lmeta.expect(&ctx).mtime(), *t, "{ctx}"),
        X::Xattr(k, v) => assert_eq!(xattr::get(&p, k).unwrap().as_deref(), Some(v.as_bytes()), "{ctx}"),
        X::NoXattr(k) => assert_eq!(xattr::get(&p, k).unwrap(), None, "{ctx}"),
    }
}

/// Applies `entries` as an uncompressed tar and checks `expect`.
fn check(name: &str, entries: Vec<E>, expect: &[(&str, X)]) {
    let sb = Sandbox::new();
    let data = tar(&entries);
    let blob = sb.root.parent().unwrap().join("blob.tar");
    fs::write(&blob, &data).unwrap();
    let stats = apply_layer(&blob, "application/vnd.oci.image.layer.v1.tar", &sb.root, &[])
        .unwrap_or_else(|e| panic!("case {name}: {e}"));
    assert_eq!(stats.bytes, data.len() as u64, "case {name}");
    for (path, x) in expect {
        check_path(&sb.root, path, x);
    }
    sb.assert_outside_untouched();
}

/// Applying `entries` must fail with a message containing `fragment`, and write nothing outside.
fn check_err(name: &str, entries: Vec<E>, fragment: &str) {
    let sb = Sandbox::new();
    let err = apply_tar(&tar(&entries)[..], &sb.root).err().unwrap_or_else(|| panic!("case {name} should fail"));
    assert!(err.to_string().contains(fragment), "case {name}: {err}");
    sb.assert_outside_untouched();
}

// ---------------------------------------------------------------------------
// cases

#[test]
fn files_dirs_links_modes_owners_times() {
    use X::*;
    check(
        "basic",
        vec![
            dir("./"),
            dir("bin").mtime(111),
            file("bin/busybox", "BB").mode(0o755).mtime(222),
            symlink("bin/sh", "busybox").mtime(333),
            symlink("bin/abs", "/bin/busybox"),
            dir("tmp").mode(0o1777),
            dir("home").owner(1000, 1001).mode(0o750),
            file("home/f", "x").owner(1000, 1001),
            file("usr/bin/passwd", "p").mode(0o4755),
            file("sgid", "g").mode(0o2711),
            dir("ro").mode(0o555),
            file("ro/f", "in a read-only dir"),
            dir("ro/sub"),
        ],
        &[
            ("bin", Dir),
            ("bin", Mtime(111)),
            ("bin/busybox", File("BB")),
            ("bin/busybox", Mode(0o755)),
            ("bin/busybox", Mtime(222)),
            ("bin/sh", Symlink("busybox")),
            ("bin/sh", Mtime(333)),
            ("bin/abs", Symlink("/bin/busybox")),
            ("tmp", Mode(0o1777)),
            ("home", Owner(1000, 1001)),
            ("home", Mode(0o750)),
            ("home/f", Owner(1000, 1001)),
            ("usr/bin", Mode(0o755)),
            ("usr/bin/passwd", Mode(0o4755)),
            ("sgid", Mode(0o2711)),
            ("ro", Mode(0o555)),
            ("ro/f", File("in a read-only dir")),
            ("ro/sub", Dir),
        ],
    );
}

#[test]
fn whiteouts_and_opaque_dirs() {
    // whiteouts need CAP_MKNOD and trusted xattrs CAP_SYS_ADMIN
    if !tanto_testkit::prereq::unit_test_can_run("whiteouts_and_opaque_dirs", &[Need::Root]) {
        return;
    }
    use X::*;
    let cases: Vec<(&str, Vec<E>, Vec<(&str, X)>)> = vec![
        ("top-level whiteout", vec![file(".wh.gone", "")], vec![("gone", Whiteout), (".wh.gone", Absent)]),
        (
            "nested whiteout, parent implied",
            vec![file("etc/.wh.passwd", "")],
            vec![("etc", Dir), ("etc/passwd", Whiteout), ("etc", NotOpaque)],
        ),
        (
            "whiteout replaces an entry of the same layer",
            vec![file("x", "data"), file(".wh.x", "")],
            vec![("x", Whiteout)],
        ),
        (
            "opaque dir keeps its own children",
            vec![dir("var"), dir("var/lib"), file("var/lib/.wh..wh..opq", ""), file("var/lib/keep", "k")],
            vec![
                ("var/lib", Opaque),
                ("var/lib/keep", File("k")),
                ("var", NotOpaque),
                ("var/lib/.wh..wh..opq", Absent),
            ],
        ),
        ("opaque marker creates its dir", vec![file("new/.wh..wh..opq", "")], vec![("new", Dir), ("new", Opaque)]),
        (
            "aufs metadata is skipped",
            vec![dir(".wh..wh.plnk"), file(".wh..wh.aufs", "")],
            vec![(".wh..wh.plnk", Absent), ("plnk", Absent), (".wh..wh.aufs", Absent)],
        ),
        (
            "overlay xattrs from the layer are ignored",
            vec![
                dir("d").pax("SCHILY.xattr.trusted.overlay.opaque", b"y"),
                file("f", "").pax("SCHILY.xattr.trusted.overlay.redirect", b"/etc"),
            ],
            vec![("d", NotOpaque), ("f", NoXattr("trusted.overlay.redirect"))],
        ),
    ];
    for (name, entries, expect) in cases {
        check(name, entries, &expect);
    }
}

#[test]
fn hard_links() {
    use X::*;
    check(
        "hard links within the layer",
        vec![
            file("bin/a", "A").mode(0o755),
            hardlink("bin/b", "bin/a"),
            hardlink("c", "/bin/a"),
            hardlink("d", "./bin/../bin/a"),
            symlink("s", "bin/a"),
            hardlink("t", "s"),
        ],
        &[
            ("bin/b", SameInode("bin/a")),
            ("c", SameInode("bin/a")),
            ("d", SameInode("bin/a")),
            ("bin/b", File("A")),
            ("t", Symlink("bin/a")),
        ],
    );
    check_err(
        "hard link to a missing target",
        vec![hardlink("x", "nope")],
        "which neither this layer nor the layers below it contain",
    );
}

#[test]
fn nothing_escapes_the_root() {
    use X::*;
    // each case runs in a fresh sandbox: <tmp>/root is the layer root,
    // <tmp>/outside holds `secret` and must stay as it is
    let sb = Sandbox::new();
    let outside_abs = sb.outside.to_str().unwrap().to_string();
    let outside_in_root: &'static str =
        Box::leak(format!("{}/evil", outside_abs.trim_start_matches('/')).into_boxed_str());
    drop(sb);
    let abs_link: &'static str = Box::leak(outside_abs.clone().into_boxed_str());

    let cases: Vec<(&str, Vec<E>, Vec<(&str, X)>)> = vec![
        (
            "dot-dot in the name",
            vec![file("../../etc/evil", "e"), file("../outside/evil", "o")],
            vec![("etc/evil", File("e")), ("outside/evil", File("o"))],
        ),
        ("absolute name", vec![file("/etc/evil2", "e")], vec![("etc/evil2", File("e"))]),
        (
            "absolute symlink, then a write through it",
            vec![symlink("abs", abs_link), file("abs/evil", "x")],
            vec![("abs", Symlink(abs_link)), (outside_in_root, File("x"))],
        ),
        (
            "relative symlink climbing out, then a write through it",
            vec![symlink("rel", "../../../../../../../outside"), file("rel/evil", "x")],
            vec![("outside/evil", File("x"))],
        ),
        (
            "symlink to / as a parent directory",
            vec![symlink("slash", "/"), file("slash/etc/evil", "x"), dir("slash/newdir")],
            vec![("etc/evil", File("x")), ("newdir", Dir)],
        ),
        (
            "symlinked parent chain",
            vec![dir("a"), symlink("a/b", "../../.."), symlink("c", "a/b/a/b"), file("c/evil", "x")],
            vec![("evil", File("x"))],
        ),
        (
            "a file replaces a symlink instead of writing through it",
            vec![symlink("x", abs_link), file("x", "mine")],
            vec![("x", File("mine"))],
        ),
        (
            "a dir entry replaces a symlink to a host dir",
            vec![symlink("d", abs_link), dir("d"), file("d/f", "in")],
            vec![("d", Dir), ("d/f", File("in"))],
        ),
        (
            "hard link with dot-dot target stays inside",
            vec![file("outside/secret", "layer's own"), hardlink("h", "../../outside/secret")],
            vec![("h", SameInode("outside/secret")), ("h", File("layer's own"))],
        ),
        (
            "dir replaced by file, then by dir",
            vec![
                dir("p"),
                file("p/child", "c"),
                file("p", "now a file"),
                dir("q"),
                symlink("q/l", "/"),
                file("q", "f"),
            ],
            vec![("p", File("now a file")), ("q", File("f"))],
        ),
    ];
    for (name, entries, expect) in cases {
        check(name, entries, &expect);
    }

    // hard links must not reach host files, whatever the path
    let host_secret: &'static str = Box::leak(format!("{outside_abs}/secret").into_boxed_str());
    let cases: Vec<(&str, Vec<E>)> = vec![
        ("hard link to a host path", vec![hardlink("h", host_secret)]),
        ("hard link through dot-dot", vec![hardlink("h", "../../../../outside/secret")]),
        ("hard link through an absolute symlink", vec![symlink("s", abs_link), hardlink("h", "s/secret")]),
        ("hard link through a relative symlink", vec![symlink("s", "../outside"), hardlink("h", "s/secret")]),
    ];
    for (name, entries) in cases {
        check_err(name, entries, "which neither this layer nor the layers below it contain");
    }
}

#[test]
fn device_nodes_and_fifos() {
    // device nodes need CAP_MKNOD
    if !tanto_testkit::prereq::unit_test_can_run("device_nodes_and_fifos", &[Need::Root]) {
        return;
    }
    use X::*;
    check(
        "nodes",
        vec![
            dir("dev"),
            e("dev/null", b'3').dev(1, 3).mode(0o666),
            e("dev/loop0", b'4').dev(7, 0).mode(0o660).owner(0, 6),
            e("run/fifo", b'6').mode(0o600),
        ],
        &[
            ("dev/null", CharDev(1, 3)),
            ("dev/null", Mode(0o666)),
            ("dev/loop0", Owner(0, 6)),
            ("dev/loop0", Mode(0o660)),
            ("run/fifo", Fifo),
            ("run/fifo", Mode(0o600)),
        ],
    );
}

#[test]
fn pax_long_names_and_xattrs() {
    use X::*;
    let long: &'static str = Box::leak(format!("{}/{}", "d".repeat(120), "f".repeat(130)).into_boxed_str());
    let mut expect = vec![(long, File("long")), ("x", Xattr("user.tanto", "v1")), ("t", Mtime(1_700_000_000))];
    if privileged() {
        expect.push(("x", Xattr("trusted.tanto", "v2")));
    }
    check(
        "pax",
        vec![
            file(long, "long"),
            file("x", "")
                .pax("SCHILY.xattr.user.tanto", b"v1")
                .pax("SCHILY.xattr.trusted.tanto", b"v2")
                .pax("SCHILY.xattr.security.bogus", b"z"),
            file("t", "").pax("mtime", b"1700000000.5"),
        ],
        &expect,
    );
}

#[test]
fn compressions_and_diff_id() {
    let data = tar(&[dir("etc"), file("etc/hostname", "tanto\n")]);
    let diff_id = format!("sha256:{}", hex::encode(Sha256::digest(&data)));
    let gz = {
        let mut w = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        w.write_all(&data).unwrap();
        w.finish().unwrap()
    };
    let zst = zstd::encode_all(&data[..], 3).unwrap();
    let cases: Vec<(&str, &Vec<u8>, &str)> = vec![
        ("oci gzip", &gz, "application/vnd.oci.image.layer.v1.tar+gzip"),
        ("docker gzip", &gz, "application/vnd.docker.image.rootfs.diff.tar.gzip"),
        ("oci zstd", &zst, "application/vnd.oci.image.layer.v1.tar+zstd"),
        ("oci plain", &data, "application/vnd.oci.image.layer.v1.tar"),
        ("docker plain", &data, "application/vnd.docker.image.rootfs.diff.tar"),
        ("gzip, ambiguous type", &gz, "application/octet-stream"),
        ("zstd, no type", &zst, ""),
        ("plain, no type", &data, ""),
        ("mislabelled: zstd said gzip", &zst, "application/vnd.oci.image.layer.v1.tar+gzip"),
    ];
    for (name, blob, media_type) in cases {
        let sb = Sandbox::new();
        let path = sb.root.parent().unwrap().join("blob");
        fs::write(&path, blob).unwrap();
        let stats = apply_layer(&path, media_type, &sb.root, &[]).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(stats.diff_id, diff_id, "{name}");
        assert_eq!(stats.bytes, data.len() as u64, "{name}");
        assert_eq!(stats.files, 2, "{name}");
        check_path(&sb.root, "etc/hostname", &X::File("tanto\n"));
    }
}

#[test]
fn corrupt_blobs_are_errors() {
    let data = tar(&[file("a", &"x".repeat(100_000))]);
    let mut gz = {
        let mut w = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        w.write_all(&data).unwrap();
        w.finish().unwrap()
    };
    let n = gz.len();
    gz[n - 6] ^= 0xff; // the CRC
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("bad gzip crc", gz.clone()),
        ("truncated gzip", gz[..n / 2].to_vec()),
        ("truncated tar", data[..700].to_vec()),
    ];
    for (name, blob) in cases {
        let sb = Sandbox::new();
        let path = sb.root.parent().unwrap().join("blob");
        fs::write(&path, &blob).unwrap();
        let err = apply_layer(&path, "", &sb.root, &[]).err().unwrap_or_else(|| panic!("{name} should fail"));
        let msg = err.to_string();
        assert!(msg.contains("cannot read layer") && msg.contains("pull again"), "{name}: {msg}");
    }
    let err = apply_layer(Path::new("/nonexistent/blob"), "", Path::new("/tmp"), &[]).unwrap_err();
    assert!(err.to_string().contains("`/nonexistent/blob`"), "{err}");
    let err = apply_tar(&data[..], Path::new("/nonexistent/dest")).unwrap_err();
    assert!(err.to_string().contains("`/nonexistent/dest`"), "{err}");
}

#[test]
fn pax_time_parsing() {
    let cases = [
        ("1700000000", Some((1_700_000_000, 0))),
        ("1700000000.5", Some((1_700_000_000, 500_000_000))),
        ("1.123456789123", Some((1, 123_456_789))),
        ("-1.5", Some((-2, 500_000_000))),
        ("x", None),
    ];
    for (input, want) in cases {
        assert_eq!(parse_pax_time(input.as_bytes()), want, "{input}");
    }
}

// ---------------------------------------------------------------------------
// layers over lower layers

/// Applies `lowers` (bottom first) each into a directory of its own over the
/// ones before it, as the engine stacks an image's layers, then `top` over
/// them all into the sandbox root; returns the result of the last apply.
fn apply_stack(sb: &Sandbox, lowers: &[Vec<E>], top: &[E]) -> Result<LayerStats, LayerError> {
    let base = sb.root.parent().unwrap();
    let mut below: Vec<PathBuf> = Vec::new(); // topmost first
    for (i, entries) in lowers.iter().enumerate() {
        let dir = base.join(format!("lower{i}"));
        fs::create_dir(&dir).unwrap();
        let blob = base.join(format!("lower{i}.tar"));
        fs::write(&blob, tar(entries)).unwrap();
        apply_layer(&blob, "", &dir, &below).unwrap_or_else(|e| panic!("lower layer {i}: {e}"));
        below.insert(0, dir);
    }
    let blob = base.join("top.tar");
    fs::write(&blob, tar(top)).unwrap();
    apply_layer(&blob, "", &sb.root, &below)
}

/// (case, lower layers bottom first, the layer, what the layer's own directory holds after)
type StackCase = (&'static str, Vec<Vec<E>>, Vec<E>, Vec<(&'static str, X)>);

fn check_stack(cases: Vec<StackCase>) {
    for (name, lowers, top, expect) in cases {
        let sb = Sandbox::new();
        apply_stack(&sb, &lowers, &top).unwrap_or_else(|e| panic!("case {name}: {e}"));
        for (path, x) in &expect {
            check_path(&sb.root, path, x);
        }
        sb.assert_outside_untouched();
    }
}

#[test]
fn implied_parents_keep_the_lower_layers_directories() {
    use X::*;
    let sb = Sandbox::new();
    let outside_abs: &'static str = Box::leak(sb.outside.to_str().unwrap().to_string().into_boxed_str());
    let outside_in_root: &'static str =
        Box::leak(format!("{}/x", outside_abs.trim_start_matches('/')).into_boxed_str());
    drop(sb);
    let mut cases: Vec<StackCase> = vec![
        (
            "an entry under /tmp leaves it 1777",
            vec![vec![dir("tmp").mode(0o1777)]],
            vec![file("tmp/x", "x")],
            vec![("tmp", Mode(0o1777)), ("tmp/x", File("x"))],
        ),
        (
            "the deepest existing directory keeps its mode, the missing ones get 0755",
            vec![vec![dir("opt").mode(0o700)]],
            vec![file("opt/a/b/c", "c")],
            vec![("opt", Mode(0o700)), ("opt/a", Mode(0o755)), ("opt/a/b", Mode(0o755)), ("opt/a/b/c", File("c"))],
        ),
        (
            "a directory two layers down",
            vec![vec![dir("srv").mode(0o711)], vec![file("other", "o")]],
            vec![file("srv/x", "x")],
            vec![("srv", Mode(0o711)), ("other", Absent)],
        ),
        (
            "the nearest layer's directory wins",
            vec![vec![dir("srv").mode(0o711)], vec![dir("srv").mode(0o750)]],
            vec![file("srv/x", "x")],
            vec![("srv", Mode(0o750))],
        ),
        (
            "a directory the layer lists keeps the layer's mode",
            vec![vec![dir("tmp").mode(0o1777)]],
            vec![dir("tmp").mode(0o700), file("tmp/x", "x")],
            vec![("tmp", Mode(0o700))],
        ),
        (
            "a directory the layer lists after its children keeps the layer's mode",
            vec![vec![dir("tmp").mode(0o1777)]],
            vec![file("tmp/x", "x"), dir("tmp").mode(0o750).mtime(444)],
            vec![("tmp", Mode(0o750)), ("tmp", Mtime(444))],
        ),
        (
            "copied-up directories keep the lower times",
            vec![vec![dir("var").mtime(111), dir("var/lib").mtime(222)]],
            vec![file("var/lib/x", "x")],
            vec![("var", Mtime(111)), ("var/lib", Mtime(222))],
        ),
        (
            "and their xattrs",
            vec![vec![dir("d").pax("SCHILY.xattr.user.tanto", b"v")]],
            vec![file("d/x", "x")],
            vec![("d", Xattr("user.tanto", "v"))],
        ),
        (
            "a directory only the lower layers have is not copied",
            vec![vec![dir("a").mode(0o700), dir("b").mode(0o700)]],
            vec![file("a/x", "x")],
            vec![("a", Mode(0o700)), ("b", Absent)],
        ),
        (
            "a symlinked parent of a lower layer is followed (merged /usr)",
            vec![vec![dir("usr"), dir("usr/lib").mode(0o750), symlink("lib", "usr/lib")]],
            vec![file("lib/x", "x")],
            vec![("lib", Absent), ("usr/lib", Mode(0o750)), ("usr/lib/x", File("x"))],
        ),
        (
            "an absolute lower symlink stays inside the root",
            vec![vec![symlink("evil", outside_abs)]],
            vec![file("evil/x", "x")],
            vec![("evil", Absent), (outside_in_root, File("x"))],
        ),
        (
            "a lower symlink climbing out stays inside the root",
            vec![vec![symlink("up", "../../../../../outside")]],
            vec![file("up/x", "x")],
            vec![("up", Absent), ("outside/x", File("x"))],
        ),
        (
            "a lower file in the way is an error only if used",
            vec![vec![file("f", "f"), dir("d").mode(0o700)]],
            vec![file("d/x", "x")],
            vec![("d", Mode(0o700)), ("f", Absent)],
        ),
    ];
    if privileged() {
        cases.push((
            "owners are copied up",
            vec![vec![dir("home").owner(1000, 1001).mode(0o750)]],
            vec![file("home/f", "f")],
            vec![("home", Owner(1000, 1001)), ("home", Mode(0o750))],
        ));
    }
    check_stack(cases);
}

#[test]
fn implied_parents_under_whiteouts_and_opaque_directories() {
    // whiteouts need CAP_MKNOD and opaque markers CAP_SYS_ADMIN
    if !tanto_testkit::prereq::unit_test_can_run(
        "implied_parents_under_whiteouts_and_opaque_directories",
        &[Need::Root],
    ) {
        return;
    }
    use X::*;
    check_stack(vec![
        (
            "a directory whited out in a middle layer is gone",
            vec![vec![dir("d").mode(0o700)], vec![file(".wh.d", "")]],
            vec![file("d/x", "x")],
            vec![("d", Mode(0o755)), ("d", NotOpaque)],
        ),
        (
            "an opaque middle directory hides the ones below it",
            vec![
                vec![dir("d").mode(0o700), dir("d/e").mode(0o711)],
                vec![dir("d").mode(0o750), file("d/.wh..wh..opq", "")],
            ],
            vec![file("d/e/f", "f")],
            vec![("d", Mode(0o750)), ("d", NotOpaque), ("d/e", Mode(0o755))],
        ),
        (
            "a directory implied over this layer's own whiteout starts empty",
            vec![vec![dir("d").mode(0o700), file("d/old", "o")]],
            vec![file(".wh.d", ""), file("d/x", "x")],
            vec![("d", Opaque), ("d", Mode(0o755)), ("d/x", File("x")), ("d/old", Absent)],
        ),
    ]);
}

#[test]
fn hard_links_to_lower_layers() {
    use X::*;
    let mut cases: Vec<StackCase> = vec![
        (
            "a file of the layer below is copied up and linked",
            vec![vec![dir("bin"), file("bin/a", "A").mode(0o4755).mtime(123)]],
            vec![hardlink("bin/b", "bin/a")],
            vec![("bin/a", File("A")), ("bin/a", Mode(0o4755)), ("bin/a", Mtime(123)), ("bin/b", SameInode("bin/a"))],
        ),
        (
            "across directories the layer does not list",
            vec![vec![dir("etc").mode(0o750), file("etc/f", "F")]],
            vec![hardlink("usr/g", "etc/f")],
            vec![("etc", Mode(0o750)), ("etc/f", File("F")), ("usr/g", SameInode("etc/f")), ("usr", Mode(0o755))],
        ),
        (
            "the nearest layer's file",
            vec![vec![file("x", "old")], vec![file("x", "new")]],
            vec![hardlink("y", "x")],
            vec![("x", File("new")), ("y", SameInode("x"))],
        ),
        (
            "a lower symlink is linked as itself",
            vec![vec![symlink("s", "target")]],
            vec![hardlink("t", "s")],
            vec![("s", Symlink("target")), ("t", SameInode("s"))],
        ),
        (
            "through a lower symlinked directory",
            vec![vec![dir("usr/lib"), file("usr/lib/a", "A"), symlink("lib", "usr/lib")]],
            vec![hardlink("b", "lib/a")],
            vec![("usr/lib/a", File("A")), ("b", SameInode("usr/lib/a")), ("lib", Absent)],
        ),
        (
            "a file this layer rewrote is the one linked",
            vec![vec![file("x", "old")]],
            vec![file("x", "mine"), hardlink("y", "x")],
            vec![("y", SameInode("x")), ("y", File("mine"))],
        ),
        (
            "xattrs come up with the file",
            vec![vec![file("f", "f").pax("SCHILY.xattr.user.tanto", b"v")]],
            vec![hardlink("g", "f")],
            vec![("g", SameInode("f")), ("f", Xattr("user.tanto", "v"))],
        ),
    ];
    if privileged() {
        cases.push((
            "owners come up with the file",
            vec![vec![file("f", "f").owner(1000, 1001)]],
            vec![hardlink("g", "f")],
            vec![("g", SameInode("f")), ("f", Owner(1000, 1001))],
        ));
    }
    check_stack(cases);
}

#[test]
fn hard_links_to_nothing_below_are_errors() {
    use X::*;
    let sb = Sandbox::new();
    let outside_abs: &'static str = Box::leak(sb.outside.to_str().unwrap().to_string().into_boxed_str());
    drop(sb);
    // (case, lower layers bottom first, the layer, error fragment, what the layer's directory holds after)
    let missing = "which neither this layer nor the layers below it contain";
    let mut cases: Vec<(&str, Vec<Vec<E>>, Vec<E>, &str, Vec<(&str, X)>)> = vec![
        (
            "missing everywhere, no directory made",
            vec![vec![dir("a")]],
            vec![hardlink("y", "a/b/c")],
            missing,
            vec![("a", Absent)],
        ),
        ("a lower directory", vec![vec![dir("d")]], vec![hardlink("y", "d")], "cannot write `y`", vec![]),
        (
            "through an absolute lower symlink to a host directory",
            vec![vec![symlink("s", outside_abs)]],
            vec![hardlink("h", "s/secret")],
            missing,
            vec![],
        ),
        ("through dot-dot", vec![vec![file("f", "f")]], vec![hardlink("h", "../../outside/secret")], missing, vec![]),
    ];
    if privileged() {
        cases.extend([
            (
                "whited out in a middle layer",
                vec![vec![file("x", "x")], vec![file(".wh.x", "")]],
                vec![hardlink("y", "x")],
                missing,
                vec![("x", Absent)],
            ),
            (
                "hidden by an opaque middle directory",
                vec![vec![file("d/x", "x")], vec![dir("d"), file("d/.wh..wh..opq", "")]],
                vec![hardlink("y", "d/x")],
                missing,
                vec![("d", Absent)],
            ),
            (
                "removed by this layer's whiteout",
                vec![vec![file("x", "x")]],
                vec![file(".wh.x", ""), hardlink("y", "x")],
                missing,
                vec![],
            ),
        ]);
    }
    for (name, lowers, top, fragment, expect) in cases {
        let sb = Sandbox::new();
        let err = apply_stack(&sb, &lowers, &top).err().unwrap_or_else(|| panic!("case {name} should fail"));
        assert!(err.to_string().contains(fragment), "case {name}: {err}");
        for (path, x) in &expect {
            check_path(&sb.root, path, x);
        }
        sb.assert_outside_untouched();
    }
}
