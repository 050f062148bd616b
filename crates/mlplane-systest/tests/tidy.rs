//! Repository hygiene checked as a test: every Rust source file opens with a `//!` module
//! doc saying what it is for, and no source file grows past the size one reads in a sitting.

use std::path::{Path, PathBuf};

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if p.is_dir() && name != "target" && !name.starts_with('.') {
            sources(&p, out);
        } else if name.ends_with(".rs") {
            out.push(p);
        }
    }
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[test]
fn every_source_file_starts_with_a_module_doc() {
    let mut files = Vec::new();
    sources(&repo().join("crates"), &mut files);
    sources(&repo().join("bench/src"), &mut files);
    assert!(files.len() > 40, "found only {} files", files.len());
    let missing: Vec<_> = files
        .iter()
        .filter(|p| {
            !std::fs::read_to_string(p)
                .unwrap_or_default()
                .starts_with("//!")
        })
        .collect();
    assert!(
        missing.is_empty(),
        "files without a leading //! doc: {missing:?}"
    );
}

#[test]
fn no_library_source_file_exceeds_seven_hundred_lines() {
    let mut files = Vec::new();
    sources(&repo().join("crates"), &mut files);
    let long: Vec<_> = files
        .iter()
        .filter(|p| !p.components().any(|c| c.as_os_str() == "tests"))
        .filter_map(|p| {
            let n = std::fs::read_to_string(p)
                .unwrap_or_default()
                .lines()
                .count();
            (n > 700).then(|| format!("{} ({n} lines)", p.display()))
        })
        .collect();
    assert!(long.is_empty(), "split these files: {long:?}");
}
