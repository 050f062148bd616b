//! Integration tests of mlplane-artifacts: the local backend always, the S3 backend against a
//! real s3s-fs server when its binary is installed (`scripts/s3-server.sh install`).
//!
//! Invariants:
//! - every test works in its own temporary directory (and its own s3s-fs process), so tests
//!   can run in parallel and leave nothing behind;
//! - S3 tests skip with a notice when s3s-fs is missing, and fail instead when
//!   `MLPLANE_REQUIRE_S3=1` is set (CI).

mod api;
mod local;
mod s3;
mod support;
