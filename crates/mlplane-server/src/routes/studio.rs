//! The studio (web UI) under `/studio/`, from the files `mlplane-studio` embeds, and the
//! redirect of `/` to it.
//!
//! Invariants:
//! - hashed files below `/studio/assets/` are cached as immutable for a year; everything else
//!   (`index.html`, answered for every deep link) is revalidated with its entity tag;
//! - a binary built without the studio answers 503 with a page saying how to build it;
//! - only GET and HEAD; the API and MLflow routes are untouched.

use crate::error::{ApiError, ErrorCode};
use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};

/// `GET /`: the studio.
pub async fn root() -> Redirect {
    Redirect::to("/studio/")
}

/// `GET /studio`: the studio, with the trailing slash its relative URLs need.
pub async fn bare() -> Redirect {
    Redirect::permanent("/studio/")
}

/// `GET /studio/`.
pub async fn index(headers: HeaderMap) -> Response {
    answer("", &headers)
}

/// `GET /studio/{*path}`.
pub async fn file(Path(path): Path<String>, headers: HeaderMap) -> Response {
    answer(&path, &headers)
}

fn answer(path: &str, headers: &HeaderMap) -> Response {
    let Some(f) = mlplane_studio::lookup(path) else {
        return ApiError::new(ErrorCode::RouteNotFound, format!("no studio file '{path}'"))
            .into_response();
    };
    let cache = if f.immutable {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    let etag = HeaderValue::from_static(f.etag);
    let matches = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == f.etag || t.trim() == "*"));
    let status = if !f.built {
        StatusCode::SERVICE_UNAVAILABLE
    } else if matches {
        return (
            StatusCode::NOT_MODIFIED,
            [
                (header::ETAG, etag),
                (header::CACHE_CONTROL, HeaderValue::from_static(cache)),
            ],
        )
            .into_response();
    } else {
        StatusCode::OK
    };
    (
        status,
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static(f.content_type),
            ),
            (header::ETAG, etag),
            (header::CACHE_CONTROL, HeaderValue::from_static(cache)),
            (
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ),
        ],
        f.bytes,
    )
        .into_response()
}
