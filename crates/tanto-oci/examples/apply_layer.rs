//! Times `apply_layer`: `apply_layer BLOB MEDIA_TYPE DEST` (DEST must not exist).
use std::path::Path;
use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 4 {
        eprintln!("usage: apply_layer BLOB MEDIA_TYPE DEST");
        std::process::exit(2);
    }
    let dest = Path::new(&args[3]);
    std::fs::create_dir(dest).expect("creating DEST");
    let t = Instant::now();
    match tanto_oci::apply_layer(Path::new(&args[1]), &args[2], dest, &[]) {
        Ok(s) => println!(
            "applied in {:?}: {} entries, {} whiteouts, {} skipped, {} bytes uncompressed, {}",
            t.elapsed(),
            s.files,
            s.whiteouts,
            s.skipped,
            s.bytes,
            s.diff_id
        ),
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    }
}
