//! The S3 backend, over `object_store`'s `AmazonS3` client.
//!
//! Invariants:
//! - an object becomes visible at its key only when complete: bodies up to one part go up in
//!   a single `PUT`, larger ones as a multipart upload that is completed last;
//! - an upload that fails (body error, `TooLarge`, backend error) lets its parts in flight
//!   settle, then aborts its multipart upload before returning; if the caller drops the
//!   future, the abort is spawned on the runtime;
//! - at most `PART_CONCURRENCY` parts are in flight and one more is being filled, so memory
//!   per upload is bounded by `(PART_CONCURRENCY + 1) * PART_SIZE` plus one incoming chunk;
//! - secrets never appear in `Debug`, `describe()` or error messages;
//! - the rustls process-wide crypto provider is installed before any client is built.

use crate::error::{ArtifactError, Result};
use crate::intake::Blocks;
use crate::{ArtifactKey, StoredObject};
use bytes::Bytes;
use futures::stream::{BoxStream, FuturesUnordered};
use futures::{Stream, StreamExt, TryStreamExt};
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path;
use object_store::{
    BackoffConfig, MultipartUpload, ObjectStore, ObjectStoreExt, PutPayload, RetryConfig,
    UploadPart,
};
use std::fmt::{self, Display};
use std::sync::Once;
use std::time::Duration;

/// Size of each part of a multipart upload (S3 wants at least 5 MiB for all but the last).
pub(crate) const PART_SIZE: usize = 8 * 1024 * 1024;
/// Parts of one upload sent at the same time.
const PART_CONCURRENCY: usize = 4;

/// Connection settings of an S3-compatible store.
#[derive(Clone, PartialEq, Eq)]
pub struct S3Config {
    /// Endpoint such as `http://127.0.0.1:9000`; `None` means AWS. When set, requests use
    /// path-style addressing and plain `http` is allowed.
    pub endpoint: Option<String>,
    pub access_key_id: String,
    pub secret_access_key: String,
    pub region: String,
}

impl fmt::Debug for S3Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Config")
            .field("endpoint", &self.endpoint)
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<redacted>")
            .field("region", &self.region)
            .finish()
    }
}

impl S3Config {
    /// Reads the settings from the environment: `MLPLANE_S3_ENDPOINT` or `AWS_ENDPOINT_URL`,
    /// `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, and `AWS_REGION` or `AWS_DEFAULT_REGION`
    /// (default `us-east-1`). Empty variables count as unset.
    pub fn from_env() -> Result<Self> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Same as [`S3Config::from_env`], reading variables through `lookup`.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let var = |name: &str| {
            lookup(name)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        let required = |name: &str| {
            var(name).ok_or_else(|| ArtifactError::Config(format!("{name} is not set")))
        };
        Ok(Self {
            endpoint: var("MLPLANE_S3_ENDPOINT").or_else(|| var("AWS_ENDPOINT_URL")),
            access_key_id: required("AWS_ACCESS_KEY_ID")?,
            secret_access_key: required("AWS_SECRET_ACCESS_KEY")?,
            region: var("AWS_REGION")
                .or_else(|| var("AWS_DEFAULT_REGION"))
                .unwrap_or_else(|| "us-east-1".to_string()),
        })
    }
}

/// A store in one bucket, under an optional key prefix.
#[derive(Debug)]
pub(crate) struct S3Store {
    client: AmazonS3,
    bucket: String,
    /// Key prefix without leading or trailing `/`; empty for none.
    prefix: String,
}

/// Installs the ring provider as rustls' process default, once; keeps any provider that
/// someone else installed first.
fn install_crypto_provider() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

impl S3Store {
    pub(crate) fn new(bucket: &str, prefix: &str, cfg: S3Config) -> Result<Self> {
        if bucket.is_empty() || bucket.contains('/') {
            return Err(ArtifactError::Config(format!(
                "invalid s3 bucket name {bucket:?}"
            )));
        }
        let prefix = prefix.trim_matches('/').to_string();
        if !prefix.is_empty() {
            Path::parse(&prefix)
                .map_err(|e| ArtifactError::Config(format!("invalid s3 prefix {prefix:?}: {e}")))?;
        }
        if cfg.region.is_empty() {
            return Err(ArtifactError::Config("s3 region is empty".into()));
        }
        install_crypto_provider();
        let mut builder = AmazonS3Builder::new()
            .with_bucket_name(bucket)
            .with_region(&cfg.region)
            .with_access_key_id(&cfg.access_key_id)
            .with_secret_access_key(&cfg.secret_access_key)
            .with_retry(RetryConfig {
                backoff: BackoffConfig::default(),
                max_retries: 5,
                retry_timeout: Duration::from_secs(60),
            });
        if let Some(endpoint) = &cfg.endpoint {
            builder = builder
                .with_endpoint(endpoint.trim_end_matches('/'))
                .with_allow_http(true)
                .with_virtual_hosted_style_request(false);
        }
        let client = builder
            .build()
            .map_err(|e| ArtifactError::Config(format!("cannot build s3 client: {e}")))?;
        Ok(Self {
            client,
            bucket: bucket.to_string(),
            prefix,
        })
    }

    pub(crate) fn describe(&self) -> String {
        if self.prefix.is_empty() {
            format!("s3://{}", self.bucket)
        } else {
            format!("s3://{}/{}", self.bucket, self.prefix)
        }
    }

    fn location(&self, key: &ArtifactKey) -> Result<(Path, String)> {
        let object_key = key.components()?.join("/");
        let full = if self.prefix.is_empty() {
            object_key.clone()
        } else {
            format!("{}/{object_key}", self.prefix)
        };
        let path = Path::parse(&full).map_err(|e| ArtifactError::UnsafePath {
            reason: format!("not a valid object key: {e}"),
        })?;
        Ok((path, object_key))
    }

    pub(crate) async fn put_stream<S, E>(
        &self,
        key: &ArtifactKey,
        body: S,
        max_bytes: u64,
    ) -> Result<StoredObject>
    where
        S: Stream<Item = std::result::Result<Bytes, E>> + Send + Unpin,
        E: Display,
    {
        let (path, _) = self.location(key)?;
        let mut blocks = Blocks::hashing(body, PART_SIZE, max_bytes);
        let first = blocks.next_block().await?.unwrap_or_default();
        match blocks.next_block().await? {
            None => {
                // The whole body fits in one part: a single, atomic PUT.
                self.client
                    .put(&path, PutPayload::from(first))
                    .await
                    .map_err(backend)?;
            }
            Some(second) => {
                let upload = self.client.put_multipart(&path).await.map_err(backend)?;
                let mut upload = AbortOnDrop(Some(upload));
                let sent = send_parts(upload.get(), first, second, &mut blocks).await;
                let done = match sent {
                    Ok(()) => upload.get().complete().await.map(|_| ()).map_err(backend),
                    Err(e) => Err(e),
                };
                let mut upload = upload.disarm();
                if let Err(e) = done {
                    if let Err(abort) = upload.abort().await {
                        tracing::warn!(error = %abort, "cannot abort multipart upload");
                    }
                    return Err(e);
                }
            }
        }
        let (size, sha256) = blocks.finish();
        let sha256 = sha256.expect("s3 uploads use hashing blocks");
        Ok(StoredObject { size, sha256 })
    }

    pub(crate) async fn get_stream(
        &self,
        key: &ArtifactKey,
    ) -> Result<(u64, BoxStream<'static, Result<Bytes>>)> {
        let (path, object_key) = self.location(key)?;
        let result = match self.client.get(&path).await {
            Ok(r) => r,
            Err(object_store::Error::NotFound { .. }) => {
                return Err(ArtifactError::NotFound { key: object_key });
            }
            Err(e) => return Err(backend(e)),
        };
        let size = result.meta.size;
        Ok((size, result.into_stream().map_err(backend).boxed()))
    }

    pub(crate) async fn delete(&self, key: &ArtifactKey) -> Result<()> {
        let (path, _) = self.location(key)?;
        match self.client.delete(&path).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(backend(e)),
        }
    }

    pub(crate) async fn check(&self) -> Result<()> {
        let prefix = (!self.prefix.is_empty()).then(|| Path::from(self.prefix.as_str()));
        self.client
            .list_with_delimiter(prefix.as_ref())
            .await
            .map(|_| ())
            .map_err(backend)
    }
}

/// Uploads `first`, `second` and the rest of `blocks` as parts, `PART_CONCURRENCY` at a time.
///
/// On error, the parts still in flight are awaited (their results ignored) before
/// returning: a part that completes after the abort would otherwise linger in the bucket.
async fn send_parts<S, E>(
    upload: &mut Box<dyn MultipartUpload>,
    first: Bytes,
    second: Bytes,
    blocks: &mut Blocks<S>,
) -> Result<()>
where
    S: Stream<Item = std::result::Result<Bytes, E>> + Unpin,
    E: Display,
{
    let mut in_flight = FuturesUnordered::new();
    in_flight.push(upload.put_part(PutPayload::from(first)));
    in_flight.push(upload.put_part(PutPayload::from(second)));
    let sent = pump_parts(upload, &mut in_flight, blocks).await;
    if sent.is_err() {
        while in_flight.next().await.is_some() {}
    }
    sent
}

async fn pump_parts<S, E>(
    upload: &mut Box<dyn MultipartUpload>,
    in_flight: &mut FuturesUnordered<UploadPart>,
    blocks: &mut Blocks<S>,
) -> Result<()>
where
    S: Stream<Item = std::result::Result<Bytes, E>> + Unpin,
    E: Display,
{
    loop {
        while in_flight.len() >= PART_CONCURRENCY {
            if let Some(done) = in_flight.next().await {
                done.map_err(backend)?;
            }
        }
        // Reading the body while parts are in flight is what makes the upload concurrent;
        // finished parts are collected as they come in between blocks.
        let next = tokio::select! {
            biased;
            Some(done) = in_flight.next(), if !in_flight.is_empty() => {
                done.map_err(backend)?;
                continue;
            }
            next = blocks.next_block() => next?,
        };
        match next {
            Some(block) => in_flight.push(upload.put_part(PutPayload::from(block))),
            None => break,
        }
    }
    while let Some(done) = in_flight.next().await {
        done.map_err(backend)?;
    }
    Ok(())
}

/// A multipart upload that is aborted in the background if dropped while still armed.
struct AbortOnDrop(Option<Box<dyn MultipartUpload>>);

impl AbortOnDrop {
    fn get(&mut self) -> &mut Box<dyn MultipartUpload> {
        self.0
            .as_mut()
            .expect("the upload is only taken out by disarm, which consumes the guard")
    }

    fn disarm(mut self) -> Box<dyn MultipartUpload> {
        self.0
            .take()
            .expect("the upload is only taken out by disarm, which consumes the guard")
    }
}

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        if let Some(mut upload) = self.0.take()
            && let Ok(handle) = tokio::runtime::Handle::try_current()
        {
            handle.spawn(async move {
                if let Err(e) = upload.abort().await {
                    tracing::warn!(error = %e, "cannot abort abandoned multipart upload");
                }
            });
        }
    }
}

fn backend(e: object_store::Error) -> ArtifactError {
    ArtifactError::Backend(e.to_string())
}
