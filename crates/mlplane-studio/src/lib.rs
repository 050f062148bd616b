//! The studio, mlplane's web UI, embedded in the binary.
//!
//! `build.rs` embeds every file of `studio/dist` (the output of `npm run build` in `studio/`)
//! at compile time. This crate knows nothing of HTTP frameworks: [`lookup`] maps a path below
//! `/studio/` to the bytes, content type and entity tag to answer with, and the server's thin
//! route turns that into a response.
//!
//! Invariants:
//! - a path that names an embedded file gets that file; any other path gets `index.html`, so
//!   deep links into the single-page app work, except below `assets/`, where a missing file is
//!   `None` (a stale hashed asset must not be answered with HTML);
//! - files below `assets/` have content-hashed names and may be cached forever
//!   ([`StudioFile::immutable`]); `index.html` must be revalidated;
//! - without an embedded build (`cargo build` without npm) every path gets [`NOT_BUILT`], a
//!   page saying how to build the studio, with [`StudioFile::built`] false.

mod assets {
    include!(concat!(env!("OUT_DIR"), "/assets.rs"));
}

/// A file to answer a studio request with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StudioFile {
    pub bytes: &'static [u8],
    pub content_type: &'static str,
    /// A strong entity tag (quoted), from the content's sha256.
    pub etag: &'static str,
    /// The name carries a content hash: cache it for a year, never revalidate.
    pub immutable: bool,
    /// False when this is the "studio not built" page.
    pub built: bool,
}

/// The page every studio URL answers with when the binary was built without the studio.
pub const NOT_BUILT: &str = "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>mlplane studio is not built</title></head>\n<body><h1>The mlplane studio is not built into this binary</h1>\n<p>This <code>mlplane</code> binary was compiled without the web UI, because <code>studio/dist</code> did not exist when it was built.</p>\n<p>Build it with <code>make run</code> (or <code>bash scripts/run.sh</code>), which runs <code>npm ci &amp;&amp; npm run build</code> in <code>studio/</code> before <code>cargo build</code>; this needs Node.js 18 or newer.</p>\n<p>The REST API is unaffected: <a href=\"/api/v1/openapi.json\">/api/v1/openapi.json</a>.</p></body></html>\n";

/// Whether a studio build is embedded.
pub fn is_built() -> bool {
    !assets::ASSETS.is_empty()
}

/// Number of embedded files.
pub fn file_count() -> usize {
    assets::ASSETS.len()
}

/// The file answering `path`, the part of the URL after `/studio/` (no leading slash, already
/// percent-decoded by the caller's router). `None` only for a missing file below `assets/`.
pub fn lookup(path: &str) -> Option<StudioFile> {
    if !is_built() {
        return Some(StudioFile {
            bytes: NOT_BUILT.as_bytes(),
            content_type: "text/html; charset=utf-8",
            etag: "\"not-built\"",
            immutable: false,
            built: false,
        });
    }
    let path = path.trim_start_matches('/');
    if let Some(f) = exact(path) {
        return Some(f);
    }
    if path.starts_with("assets/") {
        return None;
    }
    exact("index.html")
}

fn exact(path: &str) -> Option<StudioFile> {
    let i = assets::ASSETS
        .binary_search_by(|(p, _, _)| (*p).cmp(path))
        .ok()?;
    let (p, bytes, etag) = assets::ASSETS[i];
    Some(StudioFile {
        bytes,
        content_type: content_type(p),
        etag,
        immutable: p.starts_with("assets/"),
        built: true,
    })
}

/// The content type of a file name, by its extension.
pub fn content_type(path: &str) -> &'static str {
    let ext = path.rsplit_once('.').map(|(_, e)| e).unwrap_or("");
    match ext {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" | "map" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "woff2" => "font/woff2",
        "txt" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_sorted_for_binary_search() {
        let names: Vec<&str> = assets::ASSETS.iter().map(|(p, _, _)| *p).collect();
        let mut sorted = names.clone();
        sorted.sort();
        assert_eq!(names, sorted);
    }

    #[test]
    fn deep_links_get_index_and_missing_assets_none() {
        let page = lookup("w/default/experiments/1").expect("a page");
        assert!(page.content_type.starts_with("text/html"));
        if is_built() {
            assert!(page.built);
            assert_eq!(Some(page), lookup("index.html"));
            assert_eq!(None, lookup("assets/no-such-file.js"));
            let index = std::str::from_utf8(page.bytes).expect("utf-8");
            assert!(index.contains("/studio/assets/"), "{index}");
            assert!(!index.contains("<script>"), "no inline scripts: {index}");
        } else {
            assert!(!page.built);
            assert!(
                std::str::from_utf8(page.bytes)
                    .expect("utf-8")
                    .contains("make run")
            );
        }
    }

    #[test]
    fn content_types_by_extension() {
        assert_eq!(
            content_type("assets/a.js"),
            "text/javascript; charset=utf-8"
        );
        assert_eq!(content_type("assets/a.css"), "text/css; charset=utf-8");
        assert_eq!(content_type("favicon.svg"), "image/svg+xml");
        assert_eq!(content_type("noext"), "application/octet-stream");
    }
}
