//! Measures host uploads: a tree of many small files uploaded once, again
//! unchanged, and again after one file changed (and one was added and one
//! removed). Needs root (snapshots use whiteout device nodes).
//!
//!   cargo run --release -p tanto-store --example host_upload -- [FILES] [STATE_DIR]

use std::time::Instant;

use tanto_store::upload::{upload, UploadSpec};

fn main() -> anyhow::Result<()> {
    let n: usize = std::env::args().nth(1).map(|s| s.parse()).transpose()?.unwrap_or(100_000);
    let tmp = tempfile::tempdir()?;
    let state = std::env::args().nth(2).map(std::path::PathBuf::from).unwrap_or_else(|| tmp.path().join("state"));
    let src = tmp.path().join("src");
    let t = Instant::now();
    let per_dir = 1000;
    for i in 0..n {
        let dir = src.join(format!("d{:03}", i / per_dir));
        if i % per_dir == 0 {
            std::fs::create_dir_all(&dir)?;
        }
        std::fs::write(dir.join(format!("f{i:06}.txt")), format!("file {i}\n"))?;
    }
    println!("created {n} files in {:.2?}", t.elapsed());
    let store = tanto_store::Store::open(&state)?;
    let spec = UploadSpec { path: src.clone(), include: vec![], exclude: vec![], gitignore: false };
    let run = |what: &str| -> anyhow::Result<()> {
        let t = Instant::now();
        let up = upload(&store, &spec)?;
        let s = &up.stats;
        let tm = &s.timings;
        println!(
            "{what:<24} {:>7.3} s  hashed {:>6} written {:>6} removed {} full {} cached {}  [record {:.0} scan {:.0} hash {:.0} write {:.0} save {:.0} ms]",
            t.elapsed().as_secs_f64(),
            s.hashed,
            s.written,
            s.removed,
            s.full,
            s.cached,
            tm.record,
            tm.scan,
            tm.hash,
            tm.write,
            tm.save
        );
        Ok(())
    };
    run("first upload")?;
    run("unchanged")?;
    std::fs::write(src.join("d000/f000000.txt"), "changed\n")?;
    run("one file changed")?;
    std::fs::write(src.join("d001/new.txt"), "new\n")?;
    std::fs::remove_file(src.join("d002/f002000.txt")).ok();
    run("one added, one removed")?;
    run("unchanged again")?;
    Ok(())
}
