//! The cold store: an `object_store` location (a local directory or S3) behind blocking
//! calls the engine's threads can make.
//!
//! `object_store` is async. The engine is synchronous and its callers may be inside a tokio
//! runtime's blocking pool (where entering another runtime panics), so the store owns a small
//! runtime of its own and every call is a future spawned on it whose result comes back over a
//! std channel. No call holds an engine lock while it waits.

use std::ops::Range;
use std::path::{Path as FsPath, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload, RetryConfig};

use super::cache::{ColdCache, ColdCacheStats};
use crate::error::{Error, Result};

/// Where cold files go: `file:///abs/dir` or `s3://bucket/prefix`, with S3 settings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ColdStoreConfig {
    /// `None`: `file://<data dir>/cold`.
    pub url: Option<String>,
    /// S3 settings; each one unset falls back to the `AWS_*` environment variables
    /// (`AWS_ENDPOINT_URL`, `AWS_REGION`, `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
    /// `AWS_ALLOW_HTTP`).
    pub s3: S3Config,
}

/// The `[s3]` settings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct S3Config {
    pub endpoint: Option<String>,
    pub region: Option<String>,
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
    pub allow_http: Option<bool>,
}

/// Bytes per part of a multipart upload.
const PART_BYTES: usize = 8 << 20;
/// Requests give up after this long, so an unreachable store fails a job instead of
/// hanging it.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Size and checksums of an object, as read back from the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ObjectSums {
    pub(crate) bytes: u64,
    pub(crate) crc32: u32,
    pub(crate) sha256: String,
}

/// An open cold store.
#[derive(Debug)]
pub(crate) struct ColdStore {
    store: Arc<dyn ObjectStore>,
    /// Key prefix inside the store (the URL's path for S3; empty for a directory, whose
    /// root is the prefix).
    prefix: Path,
    /// What the store is, for messages: the URL.
    url: String,
    runtime: tokio::runtime::Runtime,
    /// Cached blocks of cold objects (`None`: `cold_cache_bytes` is 0).
    cache: Option<ColdCache>,
    /// Bytes read ranges fetched from the store since start-up.
    fetched: std::sync::atomic::AtomicU64,
    /// The directory of a `file://` store: `object_store` does not fsync what it writes
    /// there, so an upload syncs the object and the directories above it itself.
    local_root: Option<PathBuf>,
}

impl ColdStore {
    /// Opens the store `config` names (`file://<data_dir>/cold` by default) with a read
    /// cache of `cache_bytes` under the data directory. Nothing is sent over the network
    /// yet: a misconfigured S3 store fails at its first use, in the job that uses it.
    pub(crate) fn open(
        config: &ColdStoreConfig,
        data_dir: &FsPath,
        cache_bytes: u64,
    ) -> Result<Self> {
        let url = match &config.url {
            Some(url) => url.clone(),
            // A URL names an absolute path; the data directory may be relative (the
            // server's default is `./strata-data`).
            None => {
                let dir = data_dir.join("cold");
                let dir = std::path::absolute(&dir).map_err(|e| Error::io(&dir, e))?;
                format!("file://{}", dir.display())
            }
        };
        let bad = |reason: String| Error::ColdStoreConfig {
            url: url.clone(),
            reason,
        };
        let mut local_root = None;
        let (store, prefix): (Arc<dyn ObjectStore>, Path) = if let Some(dir) =
            url.strip_prefix("file://")
        {
            let dir = PathBuf::from(dir);
            local_root = Some(dir.clone());
            if !dir.is_absolute() {
                return Err(bad("a file:// URL needs an absolute path".into()));
            }
            crate::catalog::create_dir_durable(&dir)?;
            let fs = LocalFileSystem::new_with_prefix(&dir)
                .map_err(|e| bad(e.to_string()))?
                .with_automatic_cleanup(true);
            (Arc::new(fs), Path::default())
        } else if let Some(rest) = url.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                return Err(bad("an s3:// URL names a bucket: s3://bucket/prefix".into()));
            }
            let s3 = &config.s3;
            let mut b = AmazonS3Builder::from_env().with_bucket_name(bucket);
            if let Some(v) = &s3.endpoint {
                b = b.with_endpoint(v);
            }
            if let Some(v) = &s3.region {
                b = b.with_region(v);
            }
            if let Some(v) = &s3.access_key_id {
                b = b.with_access_key_id(v);
            }
            if let Some(v) = &s3.secret_access_key {
                b = b.with_secret_access_key(v);
            }
            if let Some(v) = s3.allow_http {
                b = b.with_allow_http(v);
            }
            let retry = RetryConfig {
                max_retries: 2,
                retry_timeout: REQUEST_TIMEOUT,
                ..RetryConfig::default()
            };
            // The client's own defaults bound each request: 30 s, 5 s to connect. (Setting
            // `ClientOptions` here would replace the `allow_http` set above or from the
            // environment.)
            let store = b
                .with_retry(retry)
                .build()
                .map_err(|e| bad(e.to_string()))?;
            (Arc::new(store), Path::from(prefix.trim_matches('/')))
        } else {
            return Err(bad(
                "the cold store must be a file:///absolute/dir or s3://bucket/prefix URL".into(),
            ));
        };
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("strata-cold-io")
            .enable_all()
            .build()
            .map_err(|e| Error::io(data_dir, e))?;
        Ok(ColdStore {
            store,
            prefix,
            url,
            runtime,
            cache: ColdCache::open(data_dir, cache_bytes)?,
            fetched: std::sync::atomic::AtomicU64::new(0),
            local_root,
        })
    }

    /// The store's URL.
    pub(crate) fn url(&self) -> &str {
        &self.url
    }

    fn path(&self, key: &str) -> Path {
        if self.prefix.as_ref().is_empty() {
            Path::from(key)
        } else {
            Path::from(format!("{}/{key}", self.prefix))
        }
    }

    /// Runs a future on the store's runtime and waits for it on this thread.
    fn block<T: Send + 'static>(
        &self,
        op: &'static str,
        key: &str,
        fut: impl std::future::Future<Output = object_store::Result<T>> + Send + 'static,
    ) -> Result<T> {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        self.runtime.spawn(async move {
            let _ = tx.send(fut.await);
        });
        let result = rx.recv().map_err(|_| Error::Closed)?;
        result.map_err(|source| Error::ColdStore {
            op,
            key: key.to_owned(),
            url: self.url.clone(),
            source: Box::new(source),
        })
    }

    /// Uploads a local file as `key` (in parts of 8 MiB for large files).
    pub(crate) fn upload(&self, local: &FsPath, key: &str) -> Result<()> {
        let store = Arc::clone(&self.store);
        let path = self.path(key);
        let local = local.to_path_buf();
        let size = std::fs::metadata(&local)
            .map_err(|e| Error::io(&local, e))?
            .len();
        let io = |e: std::io::Error| object_store::Error::Generic {
            store: "local staging file",
            source: Box::new(e),
        };
        self.block("upload", key, async move {
            use tokio::io::AsyncReadExt;
            let mut file = tokio::fs::File::open(&local).await.map_err(io)?;
            if size as usize <= PART_BYTES {
                let mut buf = Vec::with_capacity(size as usize);
                file.read_to_end(&mut buf).await.map_err(io)?;
                store.put(&path, PutPayload::from(buf)).await?;
                return Ok(());
            }
            let mut upload = store.put_multipart(&path).await?;
            loop {
                let mut part = Vec::with_capacity(PART_BYTES);
                while part.len() < PART_BYTES {
                    let n = (&mut file)
                        .take((PART_BYTES - part.len()) as u64)
                        .read_to_end(&mut part)
                        .await
                        .map_err(io)?;
                    if n == 0 {
                        break;
                    }
                }
                if part.is_empty() {
                    break;
                }
                if let Err(e) = upload.put_part(PutPayload::from(part)).await {
                    let _ = upload.abort().await;
                    return Err(e);
                }
            }
            upload.complete().await?;
            Ok(())
        })?;
        if let Some(root) = &self.local_root {
            self.sync_local(root, key)?;
        }
        Ok(())
    }

    /// Makes an object of a `file://` store durable: the file, then every directory from
    /// its own up to the store's root (any of them may be new).
    fn sync_local(&self, root: &FsPath, key: &str) -> Result<()> {
        let file = root.join(key);
        std::fs::File::open(&file)
            .and_then(|f| f.sync_all())
            .map_err(|e| Error::io(&file, e))?;
        let mut dir = file.parent();
        while let Some(d) = dir {
            crate::catalog::sync_dir(d)?;
            if d == root {
                break;
            }
            dir = d.parent();
        }
        Ok(())
    }

    /// Reads `key` whole and returns its size, CRC32 and SHA-256, to verify an upload.
    pub(crate) fn checksum(&self, key: &str) -> Result<ObjectSums> {
        let store = Arc::clone(&self.store);
        let path = self.path(key);
        self.block("verify", key, async move {
            use sha2::Digest;
            let mut stream = store.get(&path).await?.into_stream();
            let mut crc = crc32fast::Hasher::new();
            let mut sha = sha2::Sha256::new();
            let mut size = 0u64;
            while let Some(chunk) = stream.next().await {
                let chunk = chunk?;
                size += chunk.len() as u64;
                crc.update(&chunk);
                sha.update(&chunk);
            }
            Ok(ObjectSums {
                bytes: size,
                crc32: crc.finalize(),
                sha256: crate::erasure::hex(&sha.finalize()),
            })
        })
    }

    /// Whether `key` exists in the store.
    pub(crate) fn exists(&self, key: &str) -> Result<bool> {
        let store = Arc::clone(&self.store);
        let path = self.path(key);
        self.block("head", key, async move {
            match store.head(&path).await {
                Ok(_) => Ok(true),
                Err(object_store::Error::NotFound { .. }) => Ok(false),
                Err(e) => Err(e),
            }
        })
    }

    /// The read cache's counters (all zero without a cache).
    pub(crate) fn cache_stats(&self) -> ColdCacheStats {
        ColdCacheStats {
            fetched_bytes: self.fetched.load(std::sync::atomic::Ordering::Relaxed),
            ..self
                .cache
                .as_ref()
                .map(ColdCache::stats)
                .unwrap_or_default()
        }
    }

    /// Bytes `range` of `key`, an object of `len` bytes: through the read cache.
    pub(crate) fn read_range(&self, key: &str, len: u64, range: Range<u64>) -> Result<Bytes> {
        match &self.cache {
            Some(cache) => cache.read(key, len, range, |r| self.get_range(key, r)),
            None => self.get_range(key, range),
        }
    }

    /// Bytes `range` of `key`, from the store.
    fn get_range(&self, key: &str, range: Range<u64>) -> Result<Bytes> {
        let store = Arc::clone(&self.store);
        let path = self.path(key);
        let bytes = self.block(
            "read",
            key,
            async move { store.get_range(&path, range).await },
        )?;
        self.fetched
            .fetch_add(bytes.len() as u64, std::sync::atomic::Ordering::Relaxed);
        Ok(bytes)
    }

    /// Deletes `key` (and its cached blocks); a key that is already gone is not an error.
    pub(crate) fn delete(&self, key: &str) -> Result<()> {
        if let Some(cache) = &self.cache {
            cache.evict_object(key);
        }
        let store = Arc::clone(&self.store);
        let path = self.path(key);
        self.block("delete", key, async move {
            match store.delete(&path).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
                Err(e) => Err(e),
            }
        })
    }

    /// Every key under `prefix` (relative to the store's prefix).
    pub(crate) fn list(&self, prefix: &str) -> Result<Vec<String>> {
        let store = Arc::clone(&self.store);
        let base = self.prefix.clone();
        let path = self.path(prefix);
        self.block("list", prefix, async move {
            let mut out = Vec::new();
            let mut stream = store.list(Some(&path));
            while let Some(meta) = stream.next().await {
                let location = meta?.location;
                let key = match location.prefix_match(&base) {
                    Some(parts) => parts
                        .map(|p| p.as_ref().to_owned())
                        .collect::<Vec<_>>()
                        .join("/"),
                    None => location.to_string(),
                };
                out.push(key);
            }
            Ok(out)
        })
    }
}
