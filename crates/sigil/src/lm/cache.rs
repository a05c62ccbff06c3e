//! The request cache: an in-memory LRU in front of a directory of JSON entries.
//!
//! The key is the SHA-256 of the canonical request (model id, messages, parameters,
//! constraint, rollout id, and tools and tool choice when there are any): no API key, no base URL. Entries live at
//! `<dir>/<first two hex digits>/<key hex>.json` and are written to a temporary file in
//! the same directory, then renamed into place, so concurrent writers (tasks or
//! processes) never leave a torn entry. An unreadable entry is a miss, and the fresh
//! answer replaces it.

use std::fmt;
use std::io;
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use async_trait::async_trait;
use lru::LruCache;
use serde::{Deserialize, Serialize, Serializer};
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::config::process_env;
use super::{
    Lm, LmError, LmParams, LmRequest, LmResponse, Message, OutputConstraint, ToolChoice, ToolSpec,
};

/// The cache directory when none is configured: `$SIGIL_CACHE_DIR`, else `.sigil/cache`.
pub fn default_cache_dir() -> PathBuf {
    process_env("SIGIL_CACHE_DIR")
        .filter(|d| !d.trim().is_empty())
        .map_or_else(|| PathBuf::from(".sigil/cache"), PathBuf::from)
}

/// Bumped when the key or entry format changes, so old entries are never misread.
const FORMAT_VERSION: u32 = 1;

/// Where and how much to cache.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CacheConfig {
    /// The on-disk store; `None` caches in memory only.
    pub dir: Option<PathBuf>,
    /// Entries kept in memory (0: none; every lookup goes to disk).
    pub memory_capacity: usize,
}

impl Default for CacheConfig {
    /// [`default_cache_dir`] on disk, 10 000 entries in memory.
    fn default() -> Self {
        CacheConfig {
            dir: Some(default_cache_dir()),
            memory_capacity: 10_000,
        }
    }
}

impl CacheConfig {
    /// Caches in `dir`, and keeps 10 000 entries in memory.
    pub fn in_dir(dir: impl Into<PathBuf>) -> Self {
        CacheConfig {
            dir: Some(dir.into()),
            ..Default::default()
        }
    }
    /// Caches in memory only, up to `capacity` entries.
    pub fn memory_only(capacity: usize) -> Self {
        CacheConfig {
            dir: None,
            memory_capacity: capacity,
        }
    }
    /// Sets how many entries are kept in memory.
    pub fn memory_capacity(mut self, n: usize) -> Self {
        self.memory_capacity = n;
        self
    }
}

/// The SHA-256 of a canonical request.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct CacheKey([u8; 32]);

impl CacheKey {
    /// The key as 64 lowercase hex digits.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl fmt::Debug for CacheKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CacheKey({})", self.to_hex())
    }
}

/// Serializes a JSON value with object keys sorted, without copying it.
struct Canonical<'a>(&'a Value);

impl Serialize for Canonical<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{SerializeMap, SerializeSeq};
        match self.0 {
            Value::Object(map) => {
                let mut keys: Vec<&String> = map.keys().collect();
                keys.sort();
                let mut m = s.serialize_map(Some(keys.len()))?;
                for k in keys {
                    m.serialize_entry(k, &Canonical(&map[k.as_str()]))?;
                }
                m.end()
            }
            Value::Array(items) => {
                let mut seq = s.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(&Canonical(item))?;
                }
                seq.end()
            }
            other => other.serialize(s),
        }
    }
}

#[derive(Serialize)]
struct KeyEnvelope<'a> {
    v: u32,
    model: &'a str,
    messages: &'a [Message],
    params: &'a LmParams,
    constraint: Option<Canonical<'a>>,
    rollout_id: Option<u64>,
    // Left out when empty, so a request without tools hashes as it did before requests
    // could carry them (existing caches stay valid).
    #[serde(skip_serializing_if = "<[ToolSpec]>::is_empty")]
    tools: &'a [ToolSpec],
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_choice: Option<&'a ToolChoice>,
}

struct HashWriter<'a>(&'a mut Sha256);

impl io::Write for HashWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The cache key of `request` sent to `model_id`.
fn cache_key(model_id: &str, request: &LmRequest) -> CacheKey {
    let constraint_value = request
        .constraint
        .as_ref()
        .map(|c| match serde_json::to_value(c) {
            Ok(v) => v,
            // Unserializable constraints (non-finite numbers) still get a stable, distinct key.
            Err(_) => Value::String(format!("{c:?}")),
        });
    let envelope = KeyEnvelope {
        v: FORMAT_VERSION,
        model: model_id,
        messages: &request.messages,
        params: &request.params,
        constraint: constraint_value.as_ref().map(Canonical),
        rollout_id: request.rollout_id,
        tools: &request.tools,
        tool_choice: request.tool_choice.as_ref(),
    };
    let mut hasher = Sha256::new();
    if serde_json::to_writer(HashWriter(&mut hasher), &envelope).is_err() {
        // Serializing these types into a hasher cannot fail; if it ever did, fall back
        // to the Debug text, which still separates different requests.
        hasher = Sha256::new();
        hasher.update(format!("{model_id}\u{0}{request:?}").as_bytes());
    }
    CacheKey(hasher.finalize().into())
}

/// Counters since the cache was created.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Lookups answered from memory.
    pub memory_hits: u64,
    /// Lookups answered from disk.
    pub disk_hits: u64,
    /// Lookups that found nothing.
    pub misses: u64,
    /// Entries found unreadable (truncated, corrupt, another format) and treated as misses.
    pub corrupt_entries: u64,
    /// Disk reads or writes that failed (the call itself still succeeds).
    pub io_errors: u64,
}

#[derive(Default)]
struct Counters {
    memory_hits: AtomicU64,
    disk_hits: AtomicU64,
    misses: AtomicU64,
    corrupt_entries: AtomicU64,
    io_errors: AtomicU64,
}

#[derive(Serialize, Deserialize)]
struct DiskEntry {
    version: u32,
    key: String,
    model_id: String,
    response: LmResponse,
}

static TMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// A store of responses by [`CacheKey`]: memory LRU, then disk. Share one between
/// several [`CachedLm`]s with [`CachedLm::with_cache`].
pub struct ResponseCache {
    memory: Option<Mutex<LruCache<CacheKey, Arc<LmResponse>>>>,
    dir: Option<PathBuf>,
    counters: Counters,
}

impl fmt::Debug for ResponseCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseCache")
            .field("dir", &self.dir)
            .field(
                "memory_capacity",
                &self
                    .memory
                    .as_ref()
                    .map(|m| m.lock().map_or(0, |m| m.cap().get())),
            )
            .field("stats", &self.stats())
            .finish()
    }
}

impl ResponseCache {
    /// Creates the directory if needed.
    pub fn new(config: CacheConfig) -> Result<Self, LmError> {
        if let Some(dir) = &config.dir {
            std::fs::create_dir_all(dir).map_err(|e| {
                LmError::Config(format!(
                    "cannot create the cache directory {}: {e}",
                    dir.display()
                ))
            })?;
        }
        Ok(ResponseCache {
            memory: NonZeroUsize::new(config.memory_capacity).map(|n| Mutex::new(LruCache::new(n))),
            dir: config.dir,
            counters: Counters::default(),
        })
    }

    /// The on-disk directory, if any.
    pub fn dir(&self) -> Option<&Path> {
        self.dir.as_deref()
    }

    /// Where the entry for `key` lives on disk.
    pub fn entry_path(&self, key: &CacheKey) -> Option<PathBuf> {
        let hex = key.to_hex();
        self.dir
            .as_ref()
            .map(|d| d.join(&hex[..2]).join(format!("{hex}.json")))
    }

    /// The counters so far.
    pub fn stats(&self) -> CacheStats {
        let c = &self.counters;
        CacheStats {
            memory_hits: c.memory_hits.load(Ordering::Relaxed),
            disk_hits: c.disk_hits.load(Ordering::Relaxed),
            misses: c.misses.load(Ordering::Relaxed),
            corrupt_entries: c.corrupt_entries.load(Ordering::Relaxed),
            io_errors: c.io_errors.load(Ordering::Relaxed),
        }
    }

    /// Empties the memory layer (the disk is untouched).
    pub fn clear_memory(&self) {
        if let Some(m) = &self.memory {
            m.lock().unwrap_or_else(|e| e.into_inner()).clear();
        }
    }

    fn memory_get(&self, key: &CacheKey) -> Option<Arc<LmResponse>> {
        let m = self.memory.as_ref()?;
        m.lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(key)
            .cloned()
    }

    fn memory_put(&self, key: CacheKey, response: Arc<LmResponse>) {
        if let Some(m) = &self.memory {
            m.lock()
                .unwrap_or_else(|e| e.into_inner())
                .put(key, response);
        }
    }

    /// The stored response for `key`, as it was first answered.
    pub async fn get(&self, key: &CacheKey) -> Option<LmResponse> {
        if let Some(r) = self.memory_get(key) {
            self.counters.memory_hits.fetch_add(1, Ordering::Relaxed);
            return Some((*r).clone());
        }
        let Some(path) = self.entry_path(key) else {
            self.counters.misses.fetch_add(1, Ordering::Relaxed);
            return None;
        };
        let read = tokio::task::spawn_blocking(move || std::fs::read(path)).await;
        let bytes = match read {
            Ok(Ok(b)) => b,
            Ok(Err(e)) if e.kind() == io::ErrorKind::NotFound => {
                self.counters.misses.fetch_add(1, Ordering::Relaxed);
                return None;
            }
            _ => {
                self.counters.io_errors.fetch_add(1, Ordering::Relaxed);
                self.counters.misses.fetch_add(1, Ordering::Relaxed);
                return None;
            }
        };
        match serde_json::from_slice::<DiskEntry>(&bytes) {
            Ok(entry) if entry.version == FORMAT_VERSION && entry.key == key.to_hex() => {
                self.counters.disk_hits.fetch_add(1, Ordering::Relaxed);
                let response = Arc::new(entry.response);
                self.memory_put(*key, response.clone());
                Some(Arc::unwrap_or_clone(response))
            }
            _ => {
                self.counters
                    .corrupt_entries
                    .fetch_add(1, Ordering::Relaxed);
                self.counters.misses.fetch_add(1, Ordering::Relaxed);
                None
            }
        }
    }

    /// Stores `response` for `key` in memory and on disk. Disk failures are counted in
    /// [`CacheStats::io_errors`], not returned: a cache that cannot write is still a
    /// working LM.
    pub async fn put(&self, key: CacheKey, model_id: &str, response: &LmResponse) {
        self.memory_put(key, Arc::new(response.clone()));
        let Some(dir) = self.dir.clone() else { return };
        let entry = DiskEntry {
            version: FORMAT_VERSION,
            key: key.to_hex(),
            model_id: model_id.to_string(),
            response: response.clone(),
        };
        let bytes = match serde_json::to_vec(&entry) {
            Ok(b) => b,
            Err(_) => {
                self.counters.io_errors.fetch_add(1, Ordering::Relaxed);
                return;
            }
        };
        let written =
            tokio::task::spawn_blocking(move || write_atomically(&dir, &entry.key, &bytes)).await;
        if !matches!(written, Ok(Ok(()))) {
            self.counters.io_errors.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Writes `<dir>/<hex[..2]>/<hex>.json` via a uniquely named temporary file in the
/// same directory and a rename, which replaces the entry atomically.
fn write_atomically(dir: &Path, hex: &str, bytes: &[u8]) -> io::Result<()> {
    let shard = dir.join(&hex[..2]);
    std::fs::create_dir_all(&shard)?;
    let unique = format!(
        ".{hex}.{}.{}.{:016x}.tmp",
        std::process::id(),
        TMP_COUNTER.fetch_add(1, Ordering::Relaxed),
        rand::random::<u64>()
    );
    let tmp = shard.join(unique);
    let result = std::fs::write(&tmp, bytes)
        .and_then(|()| std::fs::rename(&tmp, shard.join(format!("{hex}.json"))));
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Any LM behind the request cache.
///
/// A hit comes back with `cache_hit: true`, its tokens counted as cached
/// (`usage.cached_tokens = input + output`), cost 0, no retries. Errors are not
/// cached. Set a different `LmRequest::rollout_id` to get a fresh sample of an
/// otherwise identical request.
pub struct CachedLm {
    inner: Arc<dyn Lm>,
    model_id: String,
    cache: Arc<ResponseCache>,
}

impl fmt::Debug for CachedLm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CachedLm")
            .field("model_id", &self.model_id)
            .field("cache", &self.cache)
            .finish()
    }
}

impl CachedLm {
    /// Caches in [`default_cache_dir`] and memory.
    pub fn new(inner: Arc<dyn Lm>) -> Result<Self, LmError> {
        CachedLm::with_config(inner, CacheConfig::default())
    }

    /// Caches in `dir` and memory.
    pub fn in_dir(inner: Arc<dyn Lm>, dir: impl Into<PathBuf>) -> Result<Self, LmError> {
        CachedLm::with_config(inner, CacheConfig::in_dir(dir))
    }

    /// Caches in memory only (lost on exit).
    pub fn memory_only(inner: Arc<dyn Lm>, capacity: usize) -> Self {
        CachedLm::with_cache(
            inner,
            Arc::new(ResponseCache {
                memory: NonZeroUsize::new(capacity).map(|n| Mutex::new(LruCache::new(n))),
                dir: None,
                counters: Counters::default(),
            }),
        )
    }

    /// Caches as `config` says.
    pub fn with_config(inner: Arc<dyn Lm>, config: CacheConfig) -> Result<Self, LmError> {
        Ok(CachedLm::with_cache(
            inner,
            Arc::new(ResponseCache::new(config)?),
        ))
    }

    /// Uses an existing (possibly shared) cache.
    pub fn with_cache(inner: Arc<dyn Lm>, cache: Arc<ResponseCache>) -> Self {
        let model_id = inner.model_id();
        CachedLm {
            inner,
            model_id,
            cache,
        }
    }

    /// The LM behind the cache.
    pub fn inner(&self) -> &Arc<dyn Lm> {
        &self.inner
    }

    /// The cache itself (to share it or read its stats).
    pub fn cache(&self) -> &Arc<ResponseCache> {
        &self.cache
    }

    /// The key this LM files `request` under.
    pub fn key(&self, request: &LmRequest) -> CacheKey {
        cache_key(&self.model_id, request)
    }
}

fn as_hit(mut r: LmResponse, started: Instant) -> LmResponse {
    r.cache_hit = true;
    r.usage.cached_tokens = r.usage.input_tokens.saturating_add(r.usage.output_tokens);
    r.usage.cost_usd = 0.0;
    r.retries = 0;
    r.latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    r
}

#[async_trait]
impl Lm for CachedLm {
    fn model_id(&self) -> String {
        self.model_id.clone()
    }

    fn supports_structured_output(&self) -> bool {
        self.inner.supports_structured_output()
    }

    fn supports_constraint(&self, constraint: &OutputConstraint) -> bool {
        self.inner.supports_constraint(constraint)
    }

    fn supports_native_tools(&self) -> bool {
        self.inner.supports_native_tools()
    }

    async fn call(&self, request: LmRequest) -> Result<LmResponse, LmError> {
        let started = Instant::now();
        let key = cache_key(&self.model_id, &request);
        if let Some(r) = self.cache.get(&key).await {
            return Ok(as_hit(r, started));
        }
        let response = self.inner.call(request).await?;
        self.cache.put(key, &self.model_id, &response).await;
        Ok(response)
    }
}

#[cfg(test)]
#[path = "cache_tests.rs"]
mod tests;
