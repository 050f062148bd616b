//! A thin HTTP client of mlplane's REST API: builds workspace-scoped URLs, sends JSON, and
//! maps failures into two kinds the binary tells apart by exit code.
//!
//! Invariants:
//! - a non-2xx answer becomes an [`ApiFailure`] carrying the server's `{code, message,
//!   details}` (or an `http_<status>` code when the body is not in that shape);
//! - a request that never got an answer becomes `cannot reach mlplane at <url>: <cause>`,
//!   with no [`ApiFailure`] in the chain;
//! - path segments (ids, names, artifact path components) are percent-encoded one by one,
//!   so user input cannot change which route is called.

use anyhow::Context;
use mlplane_api::ErrorBody;
use reqwest::{Method, RequestBuilder, Response, Url};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::fmt;
use std::time::Duration;

/// The server answered with an error status.
#[derive(Debug)]
pub struct ApiFailure {
    pub body: ErrorBody,
}

impl fmt::Display for ApiFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.body.code, self.body.message)
    }
}

impl std::error::Error for ApiFailure {}

impl ApiFailure {
    /// Lines worth printing under the error: field violations the message does not already
    /// spell out.
    pub fn extra_lines(&self) -> Vec<String> {
        let Some(violations) = self
            .body
            .details
            .get("violations")
            .and_then(Value::as_array)
        else {
            return Vec::new();
        };
        violations
            .iter()
            .filter_map(|v| {
                let field = v.get("field").and_then(Value::as_str).unwrap_or("");
                let message = v.get("message").and_then(Value::as_str).unwrap_or("");
                let line = if field.is_empty() {
                    message.to_string()
                } else {
                    format!("{field}: {message}")
                };
                (!line.is_empty() && !self.body.message.contains(&line)).then_some(line)
            })
            .collect()
    }

    async fn from_response(resp: Response) -> ApiFailure {
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        let body = serde_json::from_str::<ErrorBody>(&text).unwrap_or_else(|_| {
            let reason = status.canonical_reason().unwrap_or("error");
            let snippet: String = text.trim().chars().take(200).collect();
            ErrorBody {
                code: format!("http_{}", status.as_u16()),
                message: if snippet.is_empty() {
                    reason.to_lowercase()
                } else {
                    format!("{}: {snippet}", reason.to_lowercase())
                },
                details: Value::Null,
            }
        });
        ApiFailure { body }
    }
}

/// A client bound to one server and one workspace.
pub struct Client {
    http: reqwest::Client,
    base: Url,
    /// The URL as the user gave it, for messages.
    shown: String,
    workspace: String,
}

impl Client {
    /// Checks the URL and builds the client; makes no request.
    /// `ca_cert` names a PEM file of certificates to trust besides the system's (a private
    /// CA or a self-signed server certificate), for `https://` URLs.
    pub fn new(
        url: &str,
        workspace: &str,
        token: Option<&str>,
        ca_cert: Option<&std::path::Path>,
    ) -> anyhow::Result<Client> {
        let auth = token.map(|t| format!("Bearer {}", t.trim()));
        Self::build(url, workspace, auth, ca_cert)
    }

    /// A client that signs in with Basic user + password (for `mlplane login`).
    pub fn with_basic(
        url: &str,
        user: &str,
        password: &str,
        ca_cert: Option<&std::path::Path>,
    ) -> anyhow::Result<Client> {
        use base64::Engine;
        let pair = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        Self::build(url, "default", Some(format!("Basic {pair}")), ca_cert)
    }

    fn build(
        url: &str,
        workspace: &str,
        authorization: Option<String>,
        ca_cert: Option<&std::path::Path>,
    ) -> anyhow::Result<Client> {
        let base =
            Url::parse(url).with_context(|| format!("invalid --url '{url}' (MLPLANE_URL)"))?;
        if !matches!(base.scheme(), "http" | "https") || base.cannot_be_a_base() {
            anyhow::bail!("invalid --url '{url}': expected an http:// or https:// URL");
        }
        let mut headers = reqwest::header::HeaderMap::new();
        if let Some(a) = authorization {
            let mut v = reqwest::header::HeaderValue::from_str(&a)
                .context("the token or password contains characters a header cannot carry")?;
            v.set_sensitive(true);
            headers.insert(reqwest::header::AUTHORIZATION, v);
        }
        let mut builder = reqwest::Client::builder()
            .default_headers(headers)
            .connect_timeout(Duration::from_secs(10))
            .user_agent(concat!("mlplane-cli/", env!("CARGO_PKG_VERSION")));
        if let Some(path) = ca_cert {
            let pem = std::fs::read(path)
                .with_context(|| format!("cannot read --ca-cert {}", path.display()))?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem).with_context(|| {
                format!("--ca-cert {}: not a PEM certificate file", path.display())
            })?;
            if certs.is_empty() {
                anyhow::bail!("--ca-cert {}: holds no PEM certificate", path.display());
            }
            for c in certs {
                builder = builder.add_root_certificate(c);
            }
        }
        let http = builder.build().context("cannot set up the HTTP client")?;
        Ok(Client {
            http,
            base,
            shown: url.trim_end_matches('/').to_string(),
            workspace: workspace.to_string(),
        })
    }

    /// `<base>/api/v1/workspaces/<ws>/<segments...>`, each segment percent-encoded.
    pub fn url<'a>(&self, segments: impl IntoIterator<Item = &'a str>) -> Url {
        let mut u = self.base.clone();
        if let Ok(mut p) = u.path_segments_mut() {
            p.pop_if_empty()
                .extend(["api", "v1", "workspaces", self.workspace.as_str()])
                .extend(segments);
        }
        u.set_query(None);
        u.set_fragment(None);
        u
    }

    /// `<base>/api/v1/<segments...>`, for resources outside any workspace (compute targets).
    pub fn api_url<'a>(&self, segments: impl IntoIterator<Item = &'a str>) -> Url {
        let mut u = self.base.clone();
        if let Ok(mut p) = u.path_segments_mut() {
            p.pop_if_empty().extend(["api", "v1"]).extend(segments);
        }
        u.set_query(None);
        u.set_fragment(None);
        u
    }

    /// [`Client::url`] plus query parameters; `None` values are left out.
    pub fn url_with<'a>(
        &self,
        segments: impl IntoIterator<Item = &'a str>,
        query: &[(&str, Option<String>)],
    ) -> Url {
        let mut u = self.url(segments);
        let present: Vec<_> = query
            .iter()
            .filter_map(|(k, v)| v.as_ref().map(|v| (*k, v.as_str())))
            .collect();
        if !present.is_empty() {
            u.query_pairs_mut().extend_pairs(present);
        }
        u
    }

    /// The error for a request that got no (complete) answer.
    pub fn unreachable(&self, e: reqwest::Error) -> anyhow::Error {
        anyhow::anyhow!("cannot reach mlplane at {}: {}", self.shown, cause(&e))
    }

    /// Sends a request; connection failures and error statuses become errors.
    pub async fn send(&self, req: RequestBuilder) -> anyhow::Result<Response> {
        let resp = req.send().await.map_err(|e| self.unreachable(e))?;
        self.check(resp).await
    }

    /// Passes a 2xx answer through; turns any other into an [`ApiFailure`].
    pub async fn check(&self, resp: Response) -> anyhow::Result<Response> {
        if resp.status().is_success() {
            Ok(resp)
        } else {
            Err(ApiFailure::from_response(resp).await.into())
        }
    }

    pub fn request(&self, method: Method, url: Url) -> RequestBuilder {
        self.http.request(method, url)
    }

    /// Sends `method url` with an optional JSON body and returns the JSON answer
    /// (`Value::Null` for an empty one, e.g. `204 No Content`).
    pub async fn call<B: Serialize + ?Sized>(
        &self,
        method: Method,
        url: Url,
        body: Option<&B>,
    ) -> anyhow::Result<Value> {
        let mut req = self.http.request(method, url);
        if let Some(b) = body {
            req = req.json(b);
        }
        let resp = self.send(req).await?;
        let bytes = resp.bytes().await.map_err(|e| self.unreachable(e))?;
        if bytes.is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_slice(&bytes).context("the server's answer is not valid JSON")
    }

    pub async fn get(&self, url: Url) -> anyhow::Result<Value> {
        self.call::<()>(Method::GET, url, None).await
    }

    pub async fn post<B: Serialize + ?Sized>(&self, url: Url, body: &B) -> anyhow::Result<Value> {
        self.call(Method::POST, url, Some(body)).await
    }

    pub async fn patch<B: Serialize + ?Sized>(&self, url: Url, body: &B) -> anyhow::Result<Value> {
        self.call(Method::PATCH, url, Some(body)).await
    }

    pub async fn delete(&self, url: Url) -> anyhow::Result<Value> {
        self.call::<()>(Method::DELETE, url, None).await
    }

    /// POST without a body.
    pub async fn post_empty(&self, url: Url) -> anyhow::Result<Value> {
        self.call::<()>(Method::POST, url, None).await
    }
}

/// Reads a typed view out of a JSON answer.
pub fn typed<T: DeserializeOwned>(v: &Value) -> anyhow::Result<T> {
    T::deserialize(v).context("unexpected answer from the server (is it an mlplane server?)")
}

/// The useful part of a reqwest error: its sources, without the URL-laden top line and
/// without repeats.
fn cause(e: &reqwest::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut src = std::error::Error::source(e);
    while let Some(s) = src {
        let text = s.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        src = s.source();
    }
    if parts.is_empty() {
        let text = e.to_string();
        // Drop the "(for url (...))" noise; the URL is printed by the caller.
        match text.find(" for url (") {
            Some(i) => text[..i].to_string(),
            None => text,
        }
    } else {
        parts.join(": ")
    }
}
