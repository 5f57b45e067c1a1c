use std::sync::Arc;

use super::*;
use crate::blob::BlobRepo;
use crate::vertex::{Ref, Vertex};

fn mkfile(path: &str, data: &str) -> Arc<Vertex> {
    Vertex::new(
        Op::File(FileOp {
            base: None,
            actions: vec![FileAction::Mkfile { path: path.into(), data: data.into(), mode: 0o644, owner: None }],
        }),
        vec![],
    )
}

#[test]
fn keys_depend_on_semantics_only() {
    let layer = |host: &str, diff: &str| {
        let blob = BlobSource {
            digest: Digest::of(b"blob"),
            media_type: String::new(),
            size: 0,
            repo: BlobRepo { host: host.into(), ..Default::default() },
        };
        Vertex::new(Op::ImageLayer(ImageLayerOp { diff_id: Digest::of(diff.as_bytes()), blob }), vec![])
    };
    // (a, b, equal?)
    let cases: Vec<(Arc<Vertex>, Arc<Vertex>, bool)> = vec![
        (mkfile("/a", "x"), mkfile("/a", "x"), true),
        (mkfile("/a", "x"), mkfile("/a", "y"), false),
        (mkfile("/a", "x"), mkfile("/b", "x"), false),
        (layer("mirror", "sha256:1"), layer("origin", "sha256:1"), true),
        (layer("mirror", "sha256:1"), layer("mirror", "sha256:2"), false),
    ];
    for (i, (a, b, eq)) in cases.iter().enumerate() {
        assert_eq!(a.key() == b.key(), *eq, "case {i}");
    }
}

#[test]
fn keys_depend_on_inputs() {
    let base1 = mkfile("/a", "1");
    let base2 = mkfile("/a", "2");
    let on = |base: &Arc<Vertex>| {
        Vertex::new(
            Op::File(FileOp {
                base: Some(0),
                actions: vec![FileAction::Rm { path: "/a".into(), allow_not_found: false }],
            }),
            vec![Ref::new(base.clone(), 0)],
        )
    };
    assert_ne!(on(&base1).key(), on(&base2).key());
    assert_eq!(on(&base1).key(), on(&mkfile("/a", "1")).key());
}

/// A chain of `n` file ops, each on the one before.
fn chain(n: usize) -> Arc<Vertex> {
    let mut v = mkfile("/a", "0");
    for _ in 1..n {
        let op = Op::File(FileOp {
            base: Some(0),
            actions: vec![FileAction::Rm { path: "/a".into(), allow_not_found: true }],
        });
        v = Vertex::new(op, vec![Ref::new(v, 0)]);
    }
    v
}

#[test]
fn long_chains_need_no_stack_per_op() {
    // On a 256 KiB stack: the key of the last op of 20 000, then the drop of them all.
    let run = || {
        let v = chain(20_000);
        let key = v.key();
        let again = chain(20_000).key();
        drop(v);
        key == again
    };
    let same = std::thread::Builder::new().stack_size(256 << 10).spawn(run).expect("spawn").join();
    assert_eq!(same.ok(), Some(true), "keys of equal chains are equal, and nothing overflowed");
}

#[test]
fn owners_parse_and_encode_as_written() {
    use OwnerId::{Id, Name};
    // (input, parsed, encoding)
    let cases: &[(&str, Option<Owner>, &str)] = &[
        ("", None, "null"),
        ("1000", Some(Owner { user: Id(1000), group: None }), "\"1000\""),
        ("1000:50", Some(Owner::ids(1000, 50)), "\"1000:50\""),
        ("app", Some(Owner { user: Name("app".into()), group: None }), "\"app\""),
        ("app:staff", Some(Owner { user: Name("app".into()), group: Some(Name("staff".into())) }), "\"app:staff\""),
        ("0:wheel", Some(Owner { user: Id(0), group: Some(Name("wheel".into())) }), "\"0:wheel\""),
        // What follows the first `:` is the group, looked up as a name.
        ("a:b:c", Some(Owner { user: Name("a".into()), group: Some(Name("b:c".into())) }), "\"a:b:c\""),
        // Not a u32: a name.
        ("4294967296", Some(Owner { user: Name("4294967296".into()), group: None }), "\"4294967296\""),
        ("+1", Some(Owner { user: Name("+1".into()), group: None }), "\"+1\""),
    ];
    for (input, want, enc) in cases {
        let got = Owner::parse(input);
        assert_eq!(&got, want, "{input}");
        assert_eq!(serde_json::to_string(&got).unwrap(), *enc, "{input}");
        if let Some(o) = got {
            assert_eq!(o.to_string(), *input, "{input} displays as written");
        }
    }
}

#[test]
fn cache_sharing_modes() {
    let cases: &[(&str, Option<CacheSharing>)] = &[
        ("SHARED", Some(CacheSharing::Shared)),
        ("private", Some(CacheSharing::Private)),
        ("Locked", Some(CacheSharing::Locked)),
        ("", None),
        ("exclusive", None),
    ];
    for (input, want) in cases {
        assert_eq!(input.parse::<CacheSharing>().ok(), *want, "{input}");
        if let Some(mode) = want {
            assert_eq!(serde_json::to_string(mode).unwrap(), format!("\"{}\"", mode.as_str()));
        }
    }
    assert_eq!(CacheSharing::default(), CacheSharing::Shared);
}
