//! binfmt_misc handlers, support and registration as tables, over
//! directories that stand for a binfmt_misc mount.

#![allow(clippy::type_complexity)] // the tables of cases

use std::fs;

use super::*;

const AARCH64_OPF: &str = "enabled\ninterpreter /usr/libexec/qemu-binfmt/aarch64-binfmt-P\nflags: POF\noffset 0\nmagic 7f454c460201010000000000000000000200b700\nmask ffffffffffffff00fffffffffffffffffeffffff\n";
const AARCH64_NO_F: &str = "enabled\ninterpreter /usr/bin/qemu-aarch64-static\nflags: \noffset 0\nmagic 7f454c460201010000000000000000000200b700\nmask ffffffffffffff00fffffffffffffffffeffffff\n";
const AARCH64_OFF: &str = "disabled\ninterpreter /usr/bin/qemu-aarch64-static\nflags: F\noffset 0\nmagic 7f454c460201010000000000000000000200b700\nmask ffffffffffffff00fffffffffffffffffeffffff\n";
const RISCV_F: &str = "enabled\ninterpreter /usr/bin/qemu-riscv64-static\nflags: F\noffset 0\nmagic 7f454c460201010000000000000000000200f300\nmask ffffffffffffff00fffffffffffffffffeffffff\n";
const JAR: &str = "enabled\ninterpreter /usr/bin/jexec\nflags: \nextension .jar\n";

/// A directory standing for a binfmt_misc mount with `entries`; `status`
/// `None` leaves it unmounted (no `register`).
fn mount(status: Option<&str>, entries: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    if let Some(status) = status {
        fs::write(dir.path().join("register"), "").unwrap();
        fs::write(dir.path().join("status"), format!("{status}\n")).unwrap();
    }
    for (name, text) in entries {
        fs::write(dir.path().join(name), text).unwrap();
    }
    dir
}

#[test]
fn handlers_parse_and_match() {
    let arm64 = machine("arm64").unwrap().magic;
    let riscv = machine("riscv64").unwrap().magic;
    // (text, parses?, enabled, fixes binary, matches an arm64 header, matches a riscv64 header)
    let cases = [
        (AARCH64_OPF, true, true, true, true, false),
        (AARCH64_NO_F, true, true, false, true, false),
        (AARCH64_OFF, true, false, true, true, false),
        (RISCV_F, true, true, true, false, true),
        (JAR, false, false, false, false, false),
        ("enabled\nmagic zz\n", false, false, false, false, false),
    ];
    for (text, parses, enabled, fixed, on_arm64, on_riscv) in cases {
        let h = Handler::parse("h", text);
        assert_eq!(h.is_some(), parses, "{text}");
        let Some(h) = h else { continue };
        assert_eq!((h.enabled, h.fixes_binary()), (enabled, fixed), "{text}");
        assert_eq!((h.matches(arm64), h.matches(riscv)), (on_arm64, on_riscv), "{text}");
    }
    // an arm64 binary's real header (e_ident[7..] may differ: masked)
    let mut header = arm64.to_vec();
    header[7] = 3;
    assert!(Handler::parse("h", AARCH64_OPF).unwrap().matches(&header));
    assert!(!Handler::parse("h", AARCH64_OPF).unwrap().matches(&header[..10]), "a short file matches nothing");
}

#[test]
fn support_per_architecture() {
    let emulated = Support::Emulated {
        handler: "qemu-aarch64".into(),
        interpreter: "/usr/libexec/qemu-binfmt/aarch64-binfmt-P".into(),
    };
    // (host, status, handlers, architecture, support or the start of the reason it does not run)
    let cases: Vec<(&str, Option<&str>, Vec<(&str, &str)>, &str, Result<Support, &str>)> = vec![
        ("amd64", Some("enabled"), vec![], "amd64", Ok(Support::Native)),
        ("amd64", None, vec![], "386", Ok(Support::Native)),
        ("arm64", None, vec![], "arm64", Ok(Support::Native)),
        ("amd64", Some("enabled"), vec![("qemu-aarch64", AARCH64_OPF)], "arm64", Ok(emulated.clone())),
        (
            "amd64",
            Some("enabled"),
            vec![("a-old", AARCH64_NO_F), ("qemu-aarch64", AARCH64_OPF)],
            "arm64",
            Ok(emulated.clone()),
        ),
        (
            "amd64",
            Some("enabled"),
            vec![("qemu-aarch64", AARCH64_NO_F)],
            "arm64",
            Err("its binfmt_misc handler `qemu-aarch64` (/usr/bin/qemu-aarch64-static) is registered without the F"),
        ),
        (
            "amd64",
            Some("enabled"),
            vec![("qemu-aarch64", AARCH64_OFF), ("jar", JAR)],
            "arm64",
            Err("no binfmt_misc handler for aarch64 binaries is registered"),
        ),
        (
            "amd64",
            Some("enabled"),
            vec![("qemu-riscv64", RISCV_F)],
            "arm64",
            Err("no binfmt_misc handler for aarch64 binaries is registered"),
        ),
        ("amd64", Some("disabled"), vec![("qemu-aarch64", AARCH64_OPF)], "arm64", Err("binfmt_misc is switched off")),
        ("amd64", None, vec![], "arm64", Err("binfmt_misc is not mounted at")),
        ("amd64", Some("enabled"), vec![], "sparc", Err("tanto knows no QEMU emulator for the `sparc` architecture")),
    ];
    for (host, status, handlers, arch, want) in cases {
        let dir = mount(status, &handlers);
        let b = Binfmt::at(dir.path(), host);
        let got = b.support(arch);
        match want {
            Ok(want) => {
                assert_eq!(got, want, "{arch} on {host} with {handlers:?}");
                assert!(b.check(arch, "linux/x").is_ok());
            }
            Err(reason) => {
                assert!(!got.runs(), "{arch} on {host}: {got:?}");
                assert!(got.reason(arch).unwrap().starts_with(reason), "{arch} on {host}: {got:?}");
                let err = b.check(arch, &format!("linux/{arch}")).unwrap_err().to_string();
                assert!(
                    err.starts_with(&format!("cannot run `linux/{arch}` containers on this {host} machine: {reason}")),
                    "{err}"
                );
                assert!(err.contains("qemu-user-static"), "{err}");
            }
        }
    }
}

#[test]
fn missing_handlers_are_registered_with_the_fix_binary_flag() {
    let arm64 = r"\x7f\x45\x4c\x46\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xb7\x00:\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff";
    let riscv = r"\x7f\x45\x4c\x46\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xf3\x00:\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff";
    // (case, handlers there, emulators installed, root?, line written to `register`, architectures registered)
    let cases: Vec<(&str, Vec<(&str, &str)>, Vec<&str>, bool, Option<String>, Vec<&str>)> = vec![
        (
            "Debian's wrapper: argv[0] preserved",
            vec![],
            vec!["libexec/aarch64-binfmt-P", "bin/qemu-aarch64-static"],
            true,
            Some(format!(":qemu-aarch64:M::{arm64}:LIBEXEC/aarch64-binfmt-P:OPF")),
            vec!["arm64"],
        ),
        (
            "a static emulator",
            vec![],
            vec!["bin/qemu-riscv64-static"],
            true,
            Some(format!(":qemu-riscv64:M::{riscv}:BIN/qemu-riscv64-static:F")),
            vec!["riscv64"],
        ),
        (
            "a name taken by a handler switched off",
            vec![("qemu-aarch64", AARCH64_OFF)],
            vec!["bin/qemu-aarch64-static"],
            true,
            Some(format!(":tanto-qemu-aarch64:M::{arm64}:BIN/qemu-aarch64-static:F")),
            vec!["arm64"],
        ),
        ("already there", vec![("qemu-aarch64", AARCH64_OPF)], vec!["bin/qemu-aarch64-static"], true, None, vec![]),
        (
            "there without F: reported, left alone",
            vec![("qemu-aarch64", AARCH64_NO_F)],
            vec!["bin/qemu-aarch64-static"],
            true,
            None,
            vec![],
        ),
        ("not root", vec![], vec!["bin/qemu-aarch64-static"], false, None, vec![]),
        ("no emulator", vec![], vec![], true, None, vec![]),
    ];
    for (name, handlers, installed, root, want_line, want_registered) in cases {
        let dir = mount(Some("enabled"), &handlers);
        let emulators = tempfile::tempdir().unwrap();
        let interpreters =
            Interpreters { libexec: emulators.path().join("libexec"), bin: emulators.path().join("bin") };
        for f in &installed {
            let p = emulators.path().join(f);
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(p, "").unwrap();
        }
        let report = Binfmt::at(dir.path(), "amd64").register_missing(&interpreters, root);
        let written = fs::read_to_string(dir.path().join("register")).unwrap();
        let want_line = want_line.map(|l| {
            l.replace("LIBEXEC", interpreters.libexec.to_str().unwrap())
                .replace("BIN", interpreters.bin.to_str().unwrap())
        });
        assert_eq!(written, want_line.unwrap_or_default(), "{name}");
        let registered: Vec<&str> = report.registered.iter().map(|(a, _)| a.as_str()).collect();
        assert_eq!(registered, want_registered, "{name}");
        // every foreign machine (all but amd64 and 386) that did not run is reported
        let reported = report.registered.len() + report.missing.len() + usize::from(name == "already there");
        assert_eq!(reported, MACHINES.len() - 2, "{name}: {report:?}");
        if let Some((_, why)) = report.missing.iter().find(|(a, _)| a == "arm64") {
            let want = match name {
                "not root" => "only root can register",
                "there without F: reported, left alone" => "without the F (fix-binary) flag",
                _ => "no QEMU emulator is installed",
            };
            assert!(why.contains(want), "{name}: {why}");
        }
    }
}
