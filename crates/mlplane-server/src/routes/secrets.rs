//! `/api/v1/workspaces/{ws}/secrets`: list, set, show and delete workspace secrets.
//!
//! A value arrives once, in the JSON body of `PUT`, is sealed with the server's master key
//! (`mlplane-secrets`) and stored encrypted; no route ever returns it. Jobs get it through a
//! `${{secrets.<name>}}` reference in their environment variables.
//!
//! Invariants:
//! - no response body or error message holds a value: the body is parsed here, and a
//!   malformed one gets a fixed message instead of serde's (which can quote the input);
//! - the plaintext lives in a zeroizing `SecretValue` from the moment it is parsed.

use super::workspace;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::extract::AppPath;
use crate::state::AppState;
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::StatusCode;
use mlplane_api::{ErrorBody, PutSecretRequest, SecretList, SecretView};
use mlplane_core::Principal;
use mlplane_core::secrets::{MAX_SECRET_VALUE_BYTES, SecretName};
use mlplane_secrets::SecretValue;

fn name(s: &str) -> ApiResult<SecretName> {
    Ok(SecretName::parse(s)?)
}

/// Who is acting, as the auth layer established it (anonymous without one).
pub(crate) fn actor(p: Option<axum::Extension<Principal>>) -> Principal {
    p.map(|axum::Extension(p)| p)
        .unwrap_or_else(Principal::anonymous)
}

#[utoipa::path(get, path = "/api/v1/workspaces/{ws}/secrets", tag = "secrets",
    params(("ws" = String, Path)),
    responses((status = 200, body = SecretList), (status = 404, body = ErrorBody)))]
pub async fn list(
    State(s): State<AppState>,
    AppPath(ws): AppPath<String>,
) -> ApiResult<Json<SecretList>> {
    let items = s.store.list_secrets(&workspace(&ws)?).await?;
    Ok(Json(SecretList {
        items: items.into_iter().map(Into::into).collect(),
    }))
}

#[utoipa::path(get, path = "/api/v1/workspaces/{ws}/secrets/{name}", tag = "secrets",
    params(("ws" = String, Path), ("name" = String, Path)),
    responses((status = 200, body = SecretView), (status = 404, body = ErrorBody)))]
pub async fn get(
    State(s): State<AppState>,
    AppPath((ws, n)): AppPath<(String, String)>,
) -> ApiResult<Json<SecretView>> {
    let m = s.store.get_secret(&workspace(&ws)?, &name(&n)?).await?;
    Ok(Json(m.into()))
}

#[utoipa::path(put, path = "/api/v1/workspaces/{ws}/secrets/{name}", tag = "secrets",
    params(("ws" = String, Path), ("name" = String, Path)), request_body = PutSecretRequest,
    responses((status = 201, body = SecretView), (status = 200, body = SecretView),
              (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn put(
    State(s): State<AppState>,
    principal: Option<axum::Extension<Principal>>,
    AppPath((ws, n)): AppPath<(String, String)>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<(StatusCode, Json<SecretView>)> {
    let (ws, name) = (workspace(&ws)?, name(&n)?);
    let body = body.map_err(|rej| {
        if rej.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(
                ErrorCode::PayloadTooLarge,
                "request body is larger than the server's limit",
            )
        } else {
            ApiError::bad_request("cannot read the request body")
        }
    })?;
    let value = parse_value(&body)?;
    let sealed = s.secrets_key.seal(&ws, &name, &value);
    drop(value);
    let (meta, created) = s
        .store
        .put_secret(&ws, &name, sealed, &actor(principal).name)
        .await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(meta.into())))
}

/// `{"value": "<text>"}`, 1 byte to [`MAX_SECRET_VALUE_BYTES`].
fn parse_value(body: &[u8]) -> ApiResult<SecretValue> {
    let shape = || {
        ApiError::bad_request(
            "the body must be a JSON object {\"value\": \"<text>\"} and nothing else",
        )
    };
    // serde would also take the struct from a JSON array; only an object is accepted.
    if body.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(shape());
    }
    let req: PutSecretRequest = serde_json::from_slice(body).map_err(|_| shape())?;
    let value = SecretValue::new(req.value);
    let len = value.expose().len();
    if len == 0 || len > MAX_SECRET_VALUE_BYTES {
        return Err(ApiError::new(
            ErrorCode::InvalidParameter,
            format!("value: must be 1 to {MAX_SECRET_VALUE_BYTES} bytes (got {len})"),
        )
        .with_details(serde_json::json!({"violations": [{"field": "value", "message": format!("must be 1 to {MAX_SECRET_VALUE_BYTES} bytes")}]})));
    }
    Ok(value)
}

#[utoipa::path(delete, path = "/api/v1/workspaces/{ws}/secrets/{name}", tag = "secrets",
    params(("ws" = String, Path), ("name" = String, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)))]
pub async fn delete(
    State(s): State<AppState>,
    AppPath((ws, n)): AppPath<(String, String)>,
) -> ApiResult<StatusCode> {
    s.store.delete_secret(&workspace(&ws)?, &name(&n)?).await?;
    Ok(StatusCode::NO_CONTENT)
}
