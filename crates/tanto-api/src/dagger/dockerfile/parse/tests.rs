use super::*;

fn instrs(text: &str) -> Vec<Instr> {
    let df = parse(text).unwrap_or_else(|e| panic!("{text:?}: {e}"));
    df.stages.into_iter().flat_map(|s| s.instrs.into_iter().map(|l| l.instr)).collect()
}

fn shell(s: &str) -> Cmd {
    Cmd::Shell(s.into())
}

fn hd(name: &str, content: &str, expand: bool, chomp: bool) -> Heredoc {
    Heredoc { name: name.into(), content: content.into(), expand, chomp }
}

#[test]
fn instruction_cases() {
    let cases: Vec<(&str, Vec<Instr>)> = vec![
        ("FROM a\nRUN echo hi", vec![Instr::Run { flags: vec![], cmd: shell("echo hi"), heredocs: vec![] }]),
        (
            "FROM a\nrun [\"echo\", \"a b\"]",
            vec![Instr::Run { flags: vec![], cmd: Cmd::Exec(vec!["echo".into(), "a b".into()]), heredocs: vec![] }],
        ),
        (
            "FROM a\nRUN echo a \\\n# a comment\n\n   b \\\n  c",
            vec![Instr::Run { flags: vec![], cmd: shell("echo a    b   c"), heredocs: vec![] }],
        ),
        (
            "FROM a\nRUN --mount=type=secret,id=tok --network=none cat /run/secrets/tok",
            vec![Instr::Run {
                flags: vec![
                    Flag { name: "mount".into(), value: Some("type=secret,id=tok".into()) },
                    Flag { name: "network".into(), value: Some("none".into()) },
                ],
                cmd: shell("cat /run/secrets/tok"),
                heredocs: vec![],
            }],
        ),
        (
            "FROM a\nRUN <<EOF\necho one\necho two\nEOF\nRUN true",
            vec![
                Instr::Run {
                    flags: vec![],
                    cmd: shell("<<EOF"),
                    heredocs: vec![hd("EOF", "echo one\necho two\n", true, false)],
                },
                Instr::Run { flags: vec![], cmd: shell("true"), heredocs: vec![] },
            ],
        ),
        (
            "FROM a\nRUN python3 <<'PY' && cat <<-EOT > /x\nprint(1)\nPY\n\thi\n\tEOT\n",
            vec![Instr::Run {
                flags: vec![],
                cmd: shell("python3 <<'PY' && cat <<-EOT > /x"),
                heredocs: vec![hd("PY", "print(1)\n", false, false), hd("EOT", "\thi\n", true, true)],
            }],
        ),
        (
            "FROM a\nCOPY --from=base --chown=1:1 a b /dest/",
            vec![Instr::Copy {
                add: false,
                flags: vec![
                    Flag { name: "from".into(), value: Some("base".into()) },
                    Flag { name: "chown".into(), value: Some("1:1".into()) },
                ],
                srcs: vec![Src::Path("a".into()), Src::Path("b".into())],
                dest: "/dest/".into(),
            }],
        ),
        (
            "FROM a\nCOPY <<EOF /x.txt\nhello $A\nEOF\n",
            vec![Instr::Copy {
                add: false,
                flags: vec![],
                srcs: vec![Src::Heredoc(hd("EOF", "hello $A\n", true, false))],
                dest: "/x.txt".into(),
            }],
        ),
        (
            "FROM a\nADD [\"a b\", \"/c\"]",
            vec![Instr::Copy { add: true, flags: vec![], srcs: vec![Src::Path("a b".into())], dest: "/c".into() }],
        ),
        (
            "FROM a\nENV A=1 B=\"two words\" \\\n    C=3\nENV D legacy value",
            vec![
                Instr::Env(vec![
                    ("A".into(), "1".into()),
                    ("B".into(), "\"two words\"".into()),
                    ("C".into(), "3".into()),
                ]),
                Instr::Env(vec![("D".into(), "legacy value".into())]),
            ],
        ),
        (
            "FROM a\nARG X Y=2",
            vec![Instr::Arg(vec![
                ArgDecl { name: "X".into(), default: None },
                ArgDecl { name: "Y".into(), default: Some("2".into()) },
            ])],
        ),
        ("FROM a\nCMD [\"cat\", \"/built\"]", vec![Instr::Cmd(Cmd::Exec(vec!["cat".into(), "/built".into()]))]),
        ("FROM a\nENTRYPOINT echo hi", vec![Instr::Entrypoint(shell("echo hi"))]),
        ("FROM a\nEXPOSE 80/tcp 443", vec![Instr::Expose(vec!["80/tcp".into(), "443".into()])]),
        (
            "FROM a\nVOLUME [\"/data\"]\nVOLUME /a /b",
            vec![Instr::Volume(vec!["/data".into()]), Instr::Volume(vec!["/a".into(), "/b".into()])],
        ),
        ("FROM a\nHEALTHCHECK NONE", vec![Instr::Healthcheck { flags: vec![], cmd: None }]),
        (
            "FROM a\nHEALTHCHECK --interval=5s CMD curl -f http://x/",
            vec![Instr::Healthcheck {
                flags: vec![Flag { name: "interval".into(), value: Some("5s".into()) }],
                cmd: Some(shell("curl -f http://x/")),
            }],
        ),
        ("FROM a\nMAINTAINER me", vec![Instr::Ignored("MAINTAINER".into(), "me".into())]),
        (
            "# escape=`\nFROM a\nRUN echo a `\n  b",
            vec![Instr::Run { flags: vec![], cmd: shell("echo a   b"), heredocs: vec![] }],
        ),
        ("\u{feff}FROM a\r\nUSER 1000:1000\r\n", vec![Instr::User("1000:1000".into())]),
    ];
    for (text, want) in cases {
        assert_eq!(instrs(text), want, "{text:?}");
    }
}

#[test]
fn stages_and_meta_args() {
    let df = parse("ARG BASE=busybox\nARG V\nFROM ${BASE} AS Build\nRUN true\nFROM --platform=linux/amd64 scratch\nCOPY --from=build / /\n").unwrap();
    assert_eq!(
        df.meta_args,
        vec![
            ArgDecl { name: "BASE".into(), default: Some("busybox".into()) },
            ArgDecl { name: "V".into(), default: None }
        ]
    );
    assert_eq!(df.stages.len(), 2);
    assert_eq!(
        (df.stages[0].base.as_str(), df.stages[0].name.as_deref(), df.stages[0].line),
        ("${BASE}", Some("build"), 3)
    );
    assert_eq!((df.stages[1].base.as_str(), df.stages[1].platform.as_deref()), ("scratch", Some("linux/amd64")));
}

#[test]
fn error_cases() {
    for (text, want) in [
        ("RUN true", "line 1: RUN before the first FROM"),
        ("", "no FROM instruction"),
        ("FROM a\nFOO bar", "line 2: unknown instruction `FOO`"),
        ("FROM a\nRUN <<EOF\nnever ends", "line 2: heredoc `EOF` is not terminated"),
        ("FROM a b c d", "FROM takes an image"),
        ("FROM a\nCOPY onlyone", "needs at least one source"),
        ("FROM a\nENV A=1 B", "can't find = in `B`"),
        ("FROM a\nSHELL /bin/bash", "SHELL must be a JSON array"),
    ] {
        let e = parse(text).unwrap_err().to_string();
        assert!(e.contains(want), "{text:?}: {e}");
    }
}

#[test]
fn heredoc_body_chomps_tabs() {
    assert_eq!(hd("E", "\t\ta\n\tb\n", true, true).body(), "a\nb\n");
    assert_eq!(hd("E", "\ta\n", true, false).body(), "\ta\n");
}
