//! Tests of packing and reading snapshots: ignore rules, determinism, limits and hostile
//! archives crafted byte by byte.

use crate::*;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

fn write(root: &Path, rel: &str, text: &str) {
    let p = root.join(rel);
    fs::create_dir_all(p.parent().expect("a parent")).expect("mkdir");
    fs::write(p, text).expect("write");
}

fn pack_vec(dir: &Path) -> (PackSummary, Vec<u8>) {
    let mut buf = Vec::new();
    let s = pack(dir, &Limits::DEFAULT, &mut buf).expect("pack");
    (s, buf)
}

fn file_paths(entries: &[SnapshotEntry]) -> Vec<&str> {
    entries
        .iter()
        .filter(|e| e.kind == EntryKind::File)
        .map(|e| e.path.as_str())
        .collect()
}

#[test]
fn pack_honours_gitignore_and_amlignore_and_never_packs_dot_git() {
    let d = tempfile::tempdir().expect("tmp");
    let r = d.path();
    write(r, "train.py", "print('hi')");
    write(r, ".gitignore", "*.log\ndata/\n!keep.log\n");
    write(r, ".amlignore", "secrets.txt\n");
    write(r, "run.log", "x");
    write(r, "keep.log", "kept by negation");
    write(r, "data/big.csv", "1,2");
    write(r, "secrets.txt", "s3cret");
    write(r, "pkg/mod.py", "x = 1");
    write(r, "pkg/.gitignore", "generated.py\n");
    write(r, "pkg/generated.py", "nope");
    write(r, ".git/config", "[core]");
    write(r, "sub/.git", "gitdir: ../.git/modules/sub");
    let (s, bytes) = pack_vec(r);
    let listed = list(&bytes[..], &Limits::DEFAULT).expect("list");
    assert_eq!(
        file_paths(&listed),
        vec![
            ".amlignore",
            ".gitignore",
            "keep.log",
            "pkg/.gitignore",
            "pkg/mod.py",
            "train.py"
        ]
    );
    assert_eq!(s.files, 6);
    assert!(
        listed
            .iter()
            .all(|e| !e.path.split('/').any(|c| c == ".git"))
    );
}

#[test]
fn the_same_tree_gives_the_same_bytes_whatever_mtimes_and_modes() {
    let a = tempfile::tempdir().expect("tmp");
    let b = tempfile::tempdir().expect("tmp");
    // Different creation order, so directory order on disk may differ too.
    for (root, names) in [
        (a.path(), ["z.py", "a.py", "m/n.txt"]),
        (b.path(), ["m/n.txt", "a.py", "z.py"]),
    ] {
        for n in names {
            write(root, n, &format!("content of {n}"));
        }
    }
    fs::set_permissions(b.path().join("a.py"), fs::Permissions::from_mode(0o600)).expect("chmod");
    let old = filetime_of(1_000_000);
    fs::File::options()
        .write(true)
        .open(b.path().join("z.py"))
        .and_then(|f| f.set_modified(old))
        .expect("set mtime");
    let (sa, ba) = pack_vec(a.path());
    let (sb, bb) = pack_vec(b.path());
    assert_eq!(ba, bb);
    assert_eq!(sa.id, sb.id);
    // The executable bit is part of the tree.
    fs::set_permissions(b.path().join("a.py"), fs::Permissions::from_mode(0o755)).expect("chmod");
    let (sc, _) = pack_vec(b.path());
    assert_ne!(sa.id, sc.id);
    // And so is content.
    write(a.path(), "a.py", "changed");
    assert_ne!(pack_vec(a.path()).0.id, sa.id);
}

fn filetime_of(secs: u64) -> std::time::SystemTime {
    std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs)
}

#[test]
fn the_id_is_the_sha256_of_the_archive_bytes() {
    use sha2::{Digest, Sha256};
    let d = tempfile::tempdir().expect("tmp");
    write(d.path(), "a.txt", "a");
    let (s, bytes) = pack_vec(d.path());
    assert_eq!(s.id.as_str(), hex::encode(Sha256::digest(&bytes)));
    assert_eq!(s.archive_bytes, bytes.len() as u64);
}

#[test]
fn extract_restores_files_executable_bits_and_inside_links() {
    let d = tempfile::tempdir().expect("tmp");
    let r = d.path().join("src");
    write(&r, "bin/run.sh", "#!/bin/sh\necho hi\n");
    fs::set_permissions(r.join("bin/run.sh"), fs::Permissions::from_mode(0o700)).expect("chmod");
    write(&r, "lib/util.py", "u = 1");
    fs::create_dir_all(r.join("empty")).expect("mkdir");
    std::os::unix::fs::symlink("../lib/util.py", r.join("bin/util.py")).expect("symlink");
    let long = format!("{}/deep.txt", "d".repeat(150));
    write(&r, &long, "long names survive");
    let (_, bytes) = pack_vec(&r);
    let out = d.path().join("out");
    extract(&bytes[..], &out, &Limits::DEFAULT).expect("extract");
    assert_eq!(
        fs::read_to_string(out.join("lib/util.py")).expect("read"),
        "u = 1"
    );
    assert_eq!(
        fs::read_to_string(out.join("bin/util.py")).expect("via link"),
        "u = 1"
    );
    assert_eq!(
        fs::read_to_string(out.join(&long)).expect("long"),
        "long names survive"
    );
    assert!(out.join("empty").is_dir());
    let mode = |p: &str| {
        fs::metadata(out.join(p))
            .expect("meta")
            .permissions()
            .mode()
            & 0o777
    };
    assert_eq!(mode("bin/run.sh"), 0o755);
    assert_eq!(mode("lib/util.py"), 0o644);
    let mut buf = Vec::new();
    let n = read_file(&bytes[..], "./lib/util.py", &Limits::DEFAULT, &mut buf).expect("read");
    assert_eq!((n, buf.as_slice()), (Some(5), &b"u = 1"[..]));
    let mut none = Vec::new();
    assert_eq!(
        read_file(&bytes[..], "missing", &Limits::DEFAULT, &mut none).expect("read"),
        None
    );
    // The target folder must be new.
    assert!(extract(&bytes[..], &out, &Limits::DEFAULT).is_err());
}

#[test]
fn pack_refuses_links_out_of_the_folder_naming_them() {
    let d = tempfile::tempdir().expect("tmp");
    let r = d.path().join("src");
    write(&r, "a.py", "a");
    write(d.path(), "outside.txt", "secret");
    for (name, target) in [("up", "../outside.txt"), ("abs", "/etc/passwd")] {
        let link = r.join(name);
        std::os::unix::fs::symlink(target, &link).expect("symlink");
        let err = pack(&r, &Limits::DEFAULT, Vec::new()).expect_err("refused");
        assert!(
            matches!(&err, SnapshotError::LinkEscapes { path, .. } if path == name),
            "{err}"
        );
        assert!(err.to_string().contains(name));
        fs::remove_file(link).expect("rm");
    }
    // A link that is ignored is not looked at.
    std::os::unix::fs::symlink("/etc/passwd", r.join("ignored")).expect("symlink");
    write(&r, ".amlignore", "ignored\n");
    pack(&r, &Limits::DEFAULT, Vec::new()).expect("ignored link is skipped");
}

#[test]
fn pack_limits_name_the_limit_and_the_path() {
    let d = tempfile::tempdir().expect("tmp");
    write(d.path(), "a.txt", "12345");
    write(d.path(), "b.txt", "12345");
    let small = Limits {
        max_total_bytes: 8,
        ..Limits::DEFAULT
    };
    let err = pack(d.path(), &small, Vec::new()).expect_err("too big");
    assert!(
        matches!(
            &err,
            SnapshotError::Limit {
                limit: "max_total_bytes",
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("max_total_bytes"));
    let few = Limits {
        max_entries: 1,
        ..Limits::DEFAULT
    };
    let err = pack(d.path(), &few, Vec::new()).expect_err("too many");
    assert!(
        matches!(
            &err,
            SnapshotError::Limit {
                limit: "max_entries",
                ..
            }
        ),
        "{err}"
    );
    let missing = pack(&d.path().join("nope"), &Limits::DEFAULT, Vec::new()).expect_err("missing");
    assert!(missing.to_string().contains("nope"));
}

/// One raw entry: name, type, link name and contents.
type RawEntry<'a> = (&'a [u8], tar::EntryType, &'a [u8], &'a [u8]);

/// A tar written header by header, with names the `tar` crate's safe setters would refuse.
fn raw_tar(entries: &[RawEntry<'_>]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, ty, link, data) in entries {
        let mut h = tar::Header::new_gnu();
        let gnu = h.as_gnu_mut().expect("gnu header");
        gnu.name[..name.len()].copy_from_slice(name);
        gnu.linkname[..link.len()].copy_from_slice(link);
        h.set_entry_type(*ty);
        h.set_mode(0o644);
        h.set_size(data.len() as u64);
        h.set_cksum();
        b.append(&h, *data).expect("append");
    }
    b.into_inner().expect("finish")
}

fn refused(archive: &[u8]) -> SnapshotError {
    let d = tempfile::tempdir().expect("tmp");
    let out = d.path().join("out");
    let err = extract(archive, &out, &Limits::DEFAULT).expect_err("hostile archive accepted");
    // Nothing was written outside the target.
    let mut names: Vec<_> = fs::read_dir(d.path())
        .expect("ls")
        .map(|e| e.expect("entry").file_name())
        .collect();
    names.sort();
    assert_eq!(names, vec!["out"]);
    assert!(
        list(archive, &Limits::DEFAULT).is_err(),
        "listing accepted it"
    );
    err
}

#[test]
fn hostile_archives_are_refused_and_write_nothing_outside() {
    use tar::EntryType::{Block, Char, Fifo, Link, Regular, Symlink};
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (raw_tar(&[(b"../x", Regular, b"", b"evil")]), "'..'"),
        (raw_tar(&[(b"a/../../x", Regular, b"", b"evil")]), "'..'"),
        (raw_tar(&[(b"/tmp/x", Regular, b"", b"evil")]), "absolute"),
        (raw_tar(&[(b"l", Symlink, b"../..", b"")]), "outside"),
        (raw_tar(&[(b"l", Symlink, b"/etc", b"")]), "outside"),
        (raw_tar(&[(b"h", Link, b"/etc/passwd", b"")]), "hard links"),
        (raw_tar(&[(b"c", Char, b"", b"")]), "only files"),
        (raw_tar(&[(b"b", Block, b"", b"")]), "only files"),
        (raw_tar(&[(b"f", Fifo, b"", b"")]), "only files"),
        (
            raw_tar(&[(b"a", Regular, b"", b"1"), (b"./a", Regular, b"", b"2")]),
            "twice",
        ),
    ];
    for (archive, why) in cases {
        let err = refused(&archive);
        assert!(err.to_string().contains(why), "{err} (wanted {why})");
    }
}

#[test]
fn a_link_in_the_archive_is_never_written_through() {
    use tar::EntryType::{Regular, Symlink};
    // `d` is a link to a sibling folder, then a file claims to live under it: the file is
    // written first (making `d` a real directory), and the link then cannot replace it.
    let archive = raw_tar(&[(b"d", Symlink, b"e", b""), (b"d/x", Regular, b"", b"1")]);
    let d = tempfile::tempdir().expect("tmp");
    let out = d.path().join("out");
    let err = extract(&archive[..], &out, &Limits::DEFAULT).expect_err("refused");
    assert!(
        err.to_string().contains("out/d") || err.to_string().contains("File exists"),
        "{err}"
    );
    assert!(!out.join("e").exists());
    // A pre-existing link in the target is not followed either.
    let out2 = d.path().join("out2");
    fs::create_dir(&out2).expect("mkdir");
    assert!(
        extract(
            &raw_tar(&[(b"x", Regular, b"", b"1")])[..],
            &out2,
            &Limits::DEFAULT
        )
        .is_err()
    );
}

#[test]
fn archive_limits_are_checked_when_reading() {
    use tar::EntryType::Regular;
    let archive = raw_tar(&[
        (b"a", Regular, b"", b"12345"),
        (b"b", Regular, b"", b"12345"),
    ]);
    let small = Limits {
        max_total_bytes: 8,
        ..Limits::DEFAULT
    };
    let err = list(&archive[..], &small).expect_err("over the limit");
    assert!(
        matches!(&err, SnapshotError::Limit { limit: "max_total_bytes", path, .. } if path == "b")
    );
    let garbage =
        b"this is not a tar archive at all, but it is long enough to look at. ".repeat(10);
    assert!(matches!(
        list(&garbage[..], &Limits::DEFAULT),
        Err(SnapshotError::Corrupt(_))
    ));
}

#[test]
fn plain_tar_archives_are_read_like_gzipped_ones() {
    use tar::EntryType::Regular;
    let archive = raw_tar(&[(b"./x.py", Regular, b"", b"print(1)")]);
    let listed = list(&archive[..], &Limits::DEFAULT).expect("list");
    assert_eq!(file_paths(&listed), vec!["x.py"]);
}
