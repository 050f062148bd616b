//! Embeds the built studio (`studio/dist`, made by `npm run build`) into the crate: writes
//! `$OUT_DIR/assets.rs`, a table of `(path, include_bytes!(file), sha256 prefix)` for every file
//! under `dist`. Without `dist` (a cargo build without npm) the table is empty and the crate
//! serves a page saying how to build the studio.

use sha2::{Digest, Sha256};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

fn main() {
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let dist = manifest.join("../../studio/dist");
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("set by cargo")).join("assets.rs");
    // Rebuild when the build appears, disappears or changes (npm run build rewrites index.html).
    println!("cargo:rerun-if-changed={}", dist.display());
    println!(
        "cargo:rerun-if-changed={}",
        dist.join("index.html").display()
    );
    println!("cargo:rerun-if-changed={}", dist.join("assets").display());
    println!("cargo:rerun-if-changed=build.rs");

    let mut files = Vec::new();
    if dist.is_dir() {
        collect(&dist, &dist, &mut files);
    }
    files.sort();
    let mut code = String::from(
        "/// Embedded studio files: (path below dist, bytes, etag).\npub static ASSETS: &[(&str, &[u8], &str)] = &[\n",
    );
    for (rel, abs) in &files {
        let bytes = std::fs::read(abs).unwrap_or_else(|e| panic!("reading {}: {e}", abs.display()));
        let etag = format!("\"{}\"", hex::encode(&Sha256::digest(&bytes)[..12]));
        let _ = writeln!(
            code,
            "    ({rel:?}, include_bytes!({:?}), {etag:?}),",
            abs.display().to_string()
        );
    }
    code.push_str("];\n");
    std::fs::write(&out, code).unwrap_or_else(|e| panic!("writing {}: {e}", out.display()));
}

fn collect(root: &Path, dir: &Path, files: &mut Vec<(String, PathBuf)>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let Ok(meta) = std::fs::symlink_metadata(&path) else {
            continue;
        };
        if meta.is_dir() {
            println!("cargo:rerun-if-changed={}", path.display());
            collect(root, &path, files);
        } else if meta.is_file()
            && let Ok(rel) = path.strip_prefix(root)
        {
            let rel = rel.to_string_lossy().replace('\\', "/");
            files.push((rel, path));
        }
    }
}
