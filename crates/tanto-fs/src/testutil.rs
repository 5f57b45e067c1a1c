//! Helpers of the unit tests: writing a tree and listing one.

use std::path::Path;

/// Writes `files` (path, content) below `root`, with their parent directories.
pub fn write_tree(root: &Path, files: &[(&str, &str)]) {
    for (path, data) in files {
        let p = root.join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, data).unwrap();
    }
}

/// The tree below `root`, sorted: files by path, directories with a trailing `/`.
pub fn files(root: &Path) -> Vec<String> {
    fn walk(dir: &Path, rel: &str, out: &mut Vec<String>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let e = e.unwrap();
            let r = format!("{rel}{}", e.file_name().to_string_lossy());
            if e.file_type().unwrap().is_dir() {
                out.push(format!("{r}/"));
                walk(&e.path(), &format!("{r}/"), out);
            } else {
                out.push(r);
            }
        }
    }
    let mut out = Vec::new();
    walk(root, "", &mut out);
    out.sort();
    out
}
