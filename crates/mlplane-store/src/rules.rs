//! Engine-independent rules of the store contract, shared by the SQLite and PostgreSQL
//! engines so both answer the same input with the same error, and the shaping of artifact
//! directory listings shared by run and logged-model artifacts.
//!
//! Invariants:
//! - nothing here touches a database; each function is a pure check, a pure transform or
//!   the clock.

use crate::{Result, StoreError};
use mlplane_core::limits::{DEFAULT_PAGE_SIZE, MAX_DOWNSAMPLE_POINTS, MAX_LOG_APPEND_BYTES};
use mlplane_core::{ArtifactEntry, ArtifactListing, ArtifactPath, Invalid, PageRequest, Tag};

/// Milliseconds since the Unix epoch.
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Resolves the page size (0 means the default), refusing sizes above `max`.
pub(crate) fn page_size(page: &PageRequest, max: usize) -> Result<usize> {
    match page.max_results {
        0 => Ok(DEFAULT_PAGE_SIZE.min(max)),
        n if n > max => Err(StoreError::Invalid(Invalid::one(
            "max_results",
            format!("must be at most {max}"),
        ))),
        n => Ok(n),
    }
}

/// Checks the point budget of a downsampled history.
pub(crate) fn check_sample_size(max_points: usize) -> Result<()> {
    if max_points == 0 || max_points > MAX_DOWNSAMPLE_POINTS {
        return Err(StoreError::Invalid(Invalid::one(
            "max_points",
            format!("must be between 1 and {MAX_DOWNSAMPLE_POINTS}"),
        )));
    }
    Ok(())
}

/// Checks the size of one log append.
pub(crate) fn check_log_append(data: &str) -> Result<()> {
    if data.len() > MAX_LOG_APPEND_BYTES {
        return Err(StoreError::Invalid(Invalid::one(
            "data",
            format!("is larger than {MAX_LOG_APPEND_BYTES} bytes"),
        )));
    }
    Ok(())
}

/// Input tags as stored: a JSON array of `[key, value]` pairs.
pub(crate) fn encode_input_tags(tags: &[Tag]) -> String {
    let pairs: Vec<(&str, &str)> = tags
        .iter()
        .map(|t| (t.key.as_str(), t.value.as_str()))
        .collect();
    serde_json::to_string(&pairs).unwrap_or_else(|_| "[]".to_string())
}

/// The inverse of [`encode_input_tags`].
pub(crate) fn decode_input_tags(text: &str) -> Result<Vec<Tag>> {
    let pairs: Vec<(String, String)> = serde_json::from_str(text)
        .map_err(|e| StoreError::Internal(format!("bad input tags in database: {e}")))?;
    Ok(pairs
        .into_iter()
        .map(|(key, value)| Tag { key, value })
        .collect())
}

/// The `[lower, upper)` path range of everything under `dir` (the whole tree for the root).
pub(crate) fn dir_range(dir: &ArtifactPath) -> (String, String) {
    if dir.is_root() {
        (String::new(), "\u{10FFFF}".to_string())
    } else {
        (format!("{dir}/"), format!("{dir}0"))
    }
}

/// One directory level out of every entry under `lower` (sorted by path).
pub(crate) fn group_listing(lower: &str, entries: Vec<ArtifactEntry>) -> ArtifactListing {
    let mut listing = ArtifactListing::default();
    for e in entries {
        let rest = e.path.as_str().get(lower.len()..).unwrap_or_default();
        match rest.split_once('/') {
            Some((child, _)) => {
                if listing.dirs.last().map(String::as_str) != Some(child) {
                    listing.dirs.push(child.to_string());
                }
            }
            None => listing.files.push(e),
        }
    }
    listing.dirs.sort();
    listing.dirs.dedup();
    listing
}
