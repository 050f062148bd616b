//! Versioned assets: data, models, environments and components, each a `(kind, name,
//! version)` inside a workspace, with the spec that describes it, where its bytes live and the
//! job that produced it.
//!
//! Invariants:
//! - an asset version is immutable once created: only its `archived` flag changes;
//! - names match `^[A-Za-z0-9][A-Za-z0-9_.-]{0,254}$`, versions
//!   `^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`;
//! - an automatic version is the next integer after the highest numeric version of the name
//!   (archived ones included), so numbers are never handed out twice;
//! - the spec is canonical JSON text, opaque to the store.

use crate::TimestampMs;
use crate::error::{Invalid, Violation};
use crate::ids::WorkspaceName;
use crate::jobs::{JobName, is_name, spec_into};
use crate::limits::{
    MAX_ASSET_NAME_LEN, MAX_ASSET_VERSION_LEN, MAX_JOB_DESCRIPTION_LEN, MAX_JOB_TAGS, MAX_URI_BYTES,
};
use crate::model::Tag;
use crate::validate::tags_into;
use std::fmt;

/// What an asset is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AssetKind {
    Data,
    Model,
    Environment,
    Component,
    /// A compute target (served at `/api/v1/computes`, kept in the default workspace).
    Compute,
}

impl AssetKind {
    pub const ALL: [AssetKind; 5] = [
        AssetKind::Data,
        AssetKind::Model,
        AssetKind::Environment,
        AssetKind::Component,
        AssetKind::Compute,
    ];

    /// Azure ML's spelling in URIs (`azureml:` paths use the plural resource names).
    pub fn as_str(self) -> &'static str {
        match self {
            AssetKind::Data => "data",
            AssetKind::Model => "model",
            AssetKind::Environment => "environment",
            AssetKind::Component => "component",
            AssetKind::Compute => "compute",
        }
    }

    pub fn parse(s: &str) -> Result<Self, Invalid> {
        AssetKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| {
                Invalid::one(
                    "kind",
                    format!(
                        "'{s}' is not an asset kind, expected data, model, environment, component or compute"
                    ),
                )
            })
    }
}

impl fmt::Display for AssetKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One version of an asset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Asset {
    pub kind: AssetKind,
    pub workspace: WorkspaceName,
    pub name: String,
    pub version: String,
    pub description: String,
    pub tags: Vec<Tag>,
    /// The asset's spec as canonical JSON text.
    pub spec: String,
    /// Where the asset's bytes live, when it has any.
    pub storage_uri: Option<String>,
    /// Lineage: the job that produced this version.
    pub source_job: Option<JobName>,
    /// Archived versions are hidden from listings and from `Latest` unless asked for.
    pub archived: bool,
    pub created_at: TimestampMs,
}

/// Input to create an asset version, checked by [`check_new_asset`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAsset {
    pub kind: AssetKind,
    pub name: String,
    /// `None`: the next integer after the highest numeric version of the name (1 if none).
    pub version: Option<String>,
    pub description: String,
    pub tags: Vec<Tag>,
    pub spec: String,
    pub storage_uri: Option<String>,
    pub source_job: Option<JobName>,
}

/// One stored file of a data or model version, at `path` inside the version's tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssetFile {
    pub path: crate::ArtifactPath,
    /// Size in bytes.
    pub size: u64,
    /// SHA-256 of the bytes, lowercase hex.
    pub sha256: String,
}

/// Whether `kind` has files of its own (data and models do; environments and components are
/// specs only).
pub fn has_files(kind: AssetKind) -> bool {
    matches!(kind, AssetKind::Data | AssetKind::Model)
}

/// The storage URI of a completed data or model version whose files this server stores:
/// `mlplane-assets:/{workspace}/{kind}/{name}/{version}`.
pub fn stored_asset_uri(ws: &WorkspaceName, kind: AssetKind, name: &str, version: &str) -> String {
    format!("mlplane-assets:/{ws}/{kind}/{name}/{version}")
}

/// The `(workspace, kind, name, version)` a [`stored_asset_uri`] names, if `uri` is one with
/// valid parts.
pub fn parse_stored_asset_uri(uri: &str) -> Option<(WorkspaceName, AssetKind, String, String)> {
    let rest = uri.strip_prefix("mlplane-assets:/")?;
    let mut parts = rest.split('/');
    let (ws, kind, name, version) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let ws = WorkspaceName::parse(ws).ok()?;
    let kind = AssetKind::parse(kind).ok()?;
    if !has_files(kind) || check_asset_name(name).is_err() || check_asset_version(version).is_err()
    {
        return None;
    }
    Some((ws, kind, name.to_string(), version.to_string()))
}

/// Checks a file record: not the root, a 64-character lowercase hex digest.
pub fn check_asset_file(f: &AssetFile) -> Result<(), Invalid> {
    let mut v = Vec::new();
    if f.path.is_root() {
        v.push(Violation::new("path", "must name a file, not the root"));
    }
    if f.sha256.len() != 64
        || !f
            .sha256
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    {
        v.push(Violation::new(
            "sha256",
            "must be 64 lowercase hex characters",
        ));
    }
    if i64::try_from(f.size).is_err() {
        v.push(Violation::new("size", "is too large"));
    }
    Invalid::check(v)
}

/// Which version of an asset a caller means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AssetVersionRef {
    Exact(String),
    /// The newest version that is not archived, by creation time.
    Latest,
}

fn rule(field: &str, max: usize) -> Violation {
    Violation::new(
        field,
        format!(
            "must be 1-{max} characters of letters, digits, '_', '-' and '.', starting with a \
             letter or digit"
        ),
    )
}

/// Checks an asset name.
pub fn check_asset_name(name: &str) -> Result<(), Invalid> {
    if is_name(name, MAX_ASSET_NAME_LEN, b".") {
        Ok(())
    } else {
        Err(Invalid {
            violations: vec![rule("name", MAX_ASSET_NAME_LEN)],
        })
    }
}

/// Checks an asset version.
pub fn check_asset_version(version: &str) -> Result<(), Invalid> {
    if is_name(version, MAX_ASSET_VERSION_LEN, b".") {
        Ok(())
    } else {
        Err(Invalid {
            violations: vec![rule("version", MAX_ASSET_VERSION_LEN)],
        })
    }
}

/// The numeric value of a version made only of digits, used to number the next one.
pub fn numeric_version(version: &str) -> Option<i64> {
    if version.bytes().all(|b| b.is_ascii_digit()) {
        version.parse().ok()
    } else {
        None
    }
}

/// Checks a new asset version: name, version, texts, tags, spec and storage URI.
pub fn check_new_asset(a: &NewAsset) -> Result<(), Invalid> {
    let mut v = Vec::new();
    if let Err(e) = check_asset_name(&a.name) {
        v.extend(e.violations);
    }
    if let Some(version) = &a.version
        && let Err(e) = check_asset_version(version)
    {
        v.extend(e.violations);
    }
    if a.description.chars().count() > MAX_JOB_DESCRIPTION_LEN {
        v.push(Violation::new(
            "description",
            format!("is longer than {MAX_JOB_DESCRIPTION_LEN} characters"),
        ));
    }
    if a.tags.len() > MAX_JOB_TAGS {
        v.push(Violation::new(
            "tags",
            format!("holds more than {MAX_JOB_TAGS} items"),
        ));
    }
    tags_into(&mut v, "tags", &a.tags);
    spec_into(&mut v, "spec", &a.spec);
    if let Some(uri) = &a.storage_uri
        && (uri.is_empty() || uri.len() > MAX_URI_BYTES || uri.chars().any(char::is_control))
    {
        v.push(Violation::new(
            "storage_uri",
            format!("must be 1-{MAX_URI_BYTES} bytes without control characters"),
        ));
    }
    Invalid::check(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_uris_round_trip_and_refuse_anything_else() {
        let ws = WorkspaceName::default_workspace();
        let uri = stored_asset_uri(&ws, AssetKind::Model, "clf", "3");
        assert_eq!(uri, "mlplane-assets:/default/model/clf/3");
        assert_eq!(
            parse_stored_asset_uri(&uri),
            Some((ws, AssetKind::Model, "clf".into(), "3".into()))
        );
        for bad in [
            "mlplane-assets:/default/model/clf/3/x",
            "mlplane-assets:/default/environment/e/1",
            "mlplane-assets:/default/data/../1",
            "mlplane-assets:/default/data/a",
            "http://host/default/data/a/1",
            "file:///etc/passwd",
        ] {
            assert_eq!(parse_stored_asset_uri(bad), None, "{bad}");
        }
    }

    fn asset(name: &str, version: Option<&str>) -> NewAsset {
        NewAsset {
            kind: AssetKind::Data,
            name: name.into(),
            version: version.map(str::to_string),
            description: String::new(),
            tags: vec![],
            spec: "{}".into(),
            storage_uri: None,
            source_job: None,
        }
    }

    #[test]
    fn asset_names_and_versions_allow_dots() {
        assert!(check_new_asset(&asset("iris.v2_x-y", Some("1.0.3"))).is_ok());
        assert!(check_new_asset(&asset(&"n".repeat(255), Some(&"1".repeat(64)))).is_ok());
        assert!(check_new_asset(&asset(&"n".repeat(256), None)).is_err());
        assert!(check_new_asset(&asset("n", Some(&"1".repeat(65)))).is_err());
        for bad in ["", ".x", "-x", "a b", "a/b", "a:b"] {
            assert!(check_asset_name(bad).is_err(), "{bad}");
            assert!(check_asset_version(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn only_all_digit_versions_are_numeric() {
        assert_eq!(numeric_version("12"), Some(12));
        assert_eq!(numeric_version("007"), Some(7));
        assert_eq!(numeric_version("1.0"), None);
        assert_eq!(numeric_version("v1"), None);
        assert_eq!(numeric_version("99999999999999999999"), None);
    }

    #[test]
    fn kinds_round_trip() {
        for k in AssetKind::ALL {
            assert_eq!(AssetKind::parse(k.as_str()), Ok(k));
        }
        assert!(AssetKind::parse("Data").is_err());
    }

    #[test]
    fn oversized_spec_and_bad_uri_are_reported() {
        let mut a = asset("x", None);
        a.spec = " ".repeat(crate::limits::MAX_SPEC_BYTES + 1);
        a.storage_uri = Some(String::new());
        let fields: Vec<String> = check_new_asset(&a)
            .err()
            .map(|e| e.violations.into_iter().map(|v| v.field).collect())
            .unwrap_or_default();
        assert_eq!(fields, vec!["spec", "storage_uri"]);
    }
}
