//! The request cache: an in-memory LRU in front of a directory of JSON entries.
//!
//! The key is the SHA-256 of the canonical request (model id, messages, parameters,
//! constraint, rollout id): no API key, no base URL. Entries live at
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
use super::{Lm, LmError, LmParams, LmRequest, LmResponse, Message, OutputConstraint};

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
    pub fn in_dir(dir: impl Into<PathBuf>) -> Self {
        CacheConfig {
            dir: Some(dir.into()),
            ..Default::default()
        }
    }
    pub fn memory_only(capacity: usize) -> Self {
        CacheConfig {
            dir: None,
            memory_capacity: capacity,
        }
    }
    pub fn memory_capacity(mut self, n: usize) -> Self {
        self.memory_capacity = n;
        self
    }
}

/// The SHA-256 of a canonical request.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct CacheKey([u8; 32]);

impl CacheKey {
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
pub fn cache_key(model_id: &str, request: &LmRequest) -> CacheKey {
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
    pub memory_hits: u64,
    pub disk_hits: u64,
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

    pub fn inner(&self) -> &Arc<dyn Lm> {
        &self.inner
    }

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
mod tests {
    use serde_json::json;

    use super::*;
    use crate::lm::{OpenAiClient, OpenAiConfig, Usage};
    use crate::testing::ScriptedLm;

    fn counting_lm() -> Arc<ScriptedLm> {
        Arc::new(ScriptedLm::from_fn(|req| {
            Ok(format!(
                "answer to {} (rollout {:?})",
                req.messages.last().map_or("", |m| &m.content),
                req.rollout_id
            ))
        }))
    }

    fn req(q: &str) -> LmRequest {
        LmRequest::new(vec![Message::system("sys"), Message::user(q)])
    }

    fn files_under(dir: &Path) -> Vec<PathBuf> {
        let mut out = Vec::new();
        let mut stack = vec![dir.to_path_buf()];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
                let p = e.path();
                if p.is_dir() {
                    stack.push(p)
                } else {
                    out.push(p)
                }
            }
        }
        out
    }

    #[tokio::test]
    async fn hit_is_marked_and_free() {
        let dir = tempfile::tempdir().unwrap();
        let inner = counting_lm();
        let lm = CachedLm::in_dir(inner.clone(), dir.path()).unwrap();
        let first = lm.call(req("q1")).await.unwrap();
        assert!(!first.cache_hit);
        let second = lm.call(req("q1")).await.unwrap();
        assert!(second.cache_hit);
        assert_eq!(second.text, first.text);
        assert_eq!(second.usage.input_tokens, first.usage.input_tokens);
        assert_eq!(
            second.usage.cached_tokens,
            first.usage.input_tokens + first.usage.output_tokens
        );
        assert_eq!(second.usage.cost_usd, 0.0);
        assert_eq!(inner.calls(), 1);
        assert_eq!(lm.cache().stats().memory_hits, 1);

        // Different params, messages or constraint: different entries.
        let mut r = req("q1");
        r.params.temperature = Some(0.7);
        assert!(!lm.call(r).await.unwrap().cache_hit);
        let mut r = req("q1");
        r.constraint = Some(OutputConstraint::Choice {
            choices: vec!["a".into()],
        });
        assert!(!lm.call(r).await.unwrap().cache_hit);
        assert_eq!(inner.calls(), 3);
    }

    #[tokio::test]
    async fn rollout_id_asks_for_a_fresh_sample() {
        let inner = counting_lm();
        let lm = CachedLm::memory_only(inner.clone(), 100);
        let a = lm.call(req("q")).await.unwrap();
        let mut r1 = req("q");
        r1.rollout_id = Some(1);
        let b = lm.call(r1.clone()).await.unwrap();
        assert!(!b.cache_hit);
        assert_ne!(a.text, b.text);
        assert!(
            lm.call(r1).await.unwrap().cache_hit,
            "the same rollout id hits"
        );
        let mut r2 = req("q");
        r2.rollout_id = Some(2);
        assert!(!lm.call(r2).await.unwrap().cache_hit);
        assert_eq!(inner.calls(), 3);
    }

    #[tokio::test]
    async fn persists_across_instances() {
        let dir = tempfile::tempdir().unwrap();
        let inner = counting_lm();
        let first = CachedLm::in_dir(inner.clone(), dir.path())
            .unwrap()
            .call(req("persist"))
            .await
            .unwrap();
        let again = CachedLm::in_dir(inner.clone(), dir.path()).unwrap();
        let r = again.call(req("persist")).await.unwrap();
        assert!(r.cache_hit);
        assert_eq!(r.text, first.text);
        assert_eq!(inner.calls(), 1);
        assert_eq!(again.cache().stats().disk_hits, 1);
        // The entry is sharded by key prefix.
        let key = again.key(&req("persist"));
        let path = again.cache().entry_path(&key).unwrap();
        assert!(path.is_file());
        assert_eq!(
            path.parent()
                .unwrap()
                .file_name()
                .unwrap()
                .to_str()
                .unwrap(),
            &key.to_hex()[..2]
        );
    }

    #[tokio::test]
    async fn corrupt_or_truncated_entries_are_misses_and_rewritten() {
        let dir = tempfile::tempdir().unwrap();
        let inner = counting_lm();
        let lm = CachedLm::in_dir(inner.clone(), dir.path()).unwrap();
        lm.call(req("c")).await.unwrap();
        let path = lm.cache().entry_path(&lm.key(&req("c"))).unwrap();
        let good = std::fs::read(&path).unwrap();

        for broken in [
            b"\x00\xffgarbage".to_vec(),
            good[..good.len() / 2].to_vec(),
            Vec::new(),
            b"{}".to_vec(),
        ] {
            std::fs::write(&path, &broken).unwrap();
            let fresh = CachedLm::in_dir(inner.clone(), dir.path()).unwrap();
            let calls = inner.calls();
            let r = fresh.call(req("c")).await.unwrap();
            assert!(!r.cache_hit);
            assert_eq!(inner.calls(), calls + 1);
            assert_eq!(fresh.cache().stats().corrupt_entries, 1);
            let rewritten: DiskEntry =
                serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
            assert_eq!(rewritten.response.text, r.text);
        }
        // An entry under the wrong key (e.g. copied by hand) is not served.
        let other = lm.key(&req("other"));
        let other_path = lm.cache().entry_path(&other).unwrap();
        std::fs::create_dir_all(other_path.parent().unwrap()).unwrap();
        std::fs::copy(&path, &other_path).unwrap();
        let fresh = CachedLm::in_dir(inner.clone(), dir.path()).unwrap();
        assert!(!fresh.call(req("other")).await.unwrap().cache_hit);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_writers_leave_a_valid_entry() {
        let dir = tempfile::tempdir().unwrap();
        let big = "x".repeat(256 * 1024);
        let inner: Arc<dyn Lm> = Arc::new(ScriptedLm::from_fn(move |_| Ok(big.clone())));
        let shared = Arc::new(CachedLm::in_dir(inner.clone(), dir.path()).unwrap());
        let mut tasks = Vec::new();
        for i in 0..32 {
            // Half share one instance (tasks), half have their own (like processes).
            let lm = if i % 2 == 0 {
                shared.clone()
            } else {
                Arc::new(
                    CachedLm::with_config(
                        inner.clone(),
                        CacheConfig::in_dir(dir.path()).memory_capacity(0),
                    )
                    .unwrap(),
                )
            };
            tasks.push(tokio::spawn(async move { lm.call(req("same")).await }));
        }
        for t in tasks {
            assert_eq!(t.await.unwrap().unwrap().text.len(), 256 * 1024);
        }
        let files = files_under(dir.path());
        assert_eq!(
            files.len(),
            1,
            "one entry, no temporary files left: {files:?}"
        );
        let entry: DiskEntry = serde_json::from_slice(&std::fs::read(&files[0]).unwrap()).unwrap();
        assert_eq!(entry.response.text.len(), 256 * 1024);
        let fresh = CachedLm::in_dir(inner, dir.path()).unwrap();
        assert!(fresh.call(req("same")).await.unwrap().cache_hit);
        assert_eq!(shared.cache().stats().io_errors, 0);
    }

    #[test]
    fn keys_are_canonical_and_complete() {
        let schema_a = json!({"type": "object", "properties": {"a": {"type": "string"}, "b": {"type": "integer"}}});
        let schema_b = json!({"properties": {"b": {"type": "integer"}, "a": {"type": "string"}}, "type": "object"});
        let with = |schema: Value| LmRequest {
            constraint: Some(OutputConstraint::JsonSchema {
                name: "out".into(),
                schema,
            }),
            ..req("k")
        };
        assert_eq!(
            cache_key("m", &with(schema_a.clone())),
            cache_key("m", &with(schema_b))
        );
        assert_ne!(cache_key("m", &req("k")), cache_key("m", &with(schema_a)));
        assert_ne!(cache_key("m", &req("k")), cache_key("other/m", &req("k")));
        let mut r = req("k");
        r.params.max_tokens = Some(5);
        assert_ne!(cache_key("m", &req("k")), cache_key("m", &r));
        r = req("k");
        r.params.stop = vec!["x".into()];
        assert_ne!(cache_key("m", &req("k")), cache_key("m", &r));
        assert_eq!(cache_key("m", &req("k")), cache_key("m", &req("k")));
    }

    #[tokio::test]
    async fn errors_are_not_cached_and_unwritable_dirs_do_not_fail_calls() {
        let inner = Arc::new(ScriptedLm::new(["ok"]));
        inner.push_error(LmError::Other("first fails".into()));
        let dir = tempfile::tempdir().unwrap();
        let lm = CachedLm::in_dir(inner.clone(), dir.path()).unwrap();
        // The scripted completion comes first, then the error: use a fresh request each time.
        assert_eq!(lm.call(req("a")).await.unwrap().text, "ok");
        assert!(lm.call(req("b")).await.is_err());
        assert!(
            lm.cache()
                .entry_path(&lm.key(&req("b")))
                .is_some_and(|p| !p.exists())
        );

        // A cache dir that is a file cannot be created.
        let file = dir.path().join("plain-file");
        std::fs::write(&file, "x").unwrap();
        assert!(CachedLm::in_dir(counting_lm(), &file).is_err());
    }

    #[tokio::test]
    async fn secrets_stay_out_of_cache_files_and_debug() {
        use crate::lm::test_server::{Reply, TestServer};
        const KEY: &str = "sk-cache-SECRET-9";
        let body = r#"{"model": "gpt-4o-mini", "choices": [{"message": {"content": "hi"}, "finish_reason": "stop"}],
                       "usage": {"prompt_tokens": 10, "completion_tokens": 2}}"#;
        let server = TestServer::start(vec![Reply::json(200, body)]).await;
        let client = OpenAiClient::new(
            OpenAiConfig::new("openai/gpt-4o-mini")
                .base_url(server.url())
                .api_key(KEY),
        )
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let lm = CachedLm::in_dir(Arc::new(client), dir.path()).unwrap();
        let r = lm.call(req("s")).await.unwrap();
        assert!(r.usage.cost_usd > 0.0);
        let hit = lm.call(req("s")).await.unwrap();
        assert!(hit.cache_hit);
        assert_eq!(
            hit.usage,
            Usage {
                input_tokens: 10,
                output_tokens: 2,
                cached_tokens: 12,
                cost_usd: 0.0
            }
        );
        let port = server
            .url()
            .rsplit(':')
            .next()
            .unwrap_or_default()
            .to_string();
        for f in files_under(dir.path()) {
            let text = std::fs::read_to_string(&f).unwrap();
            assert!(!text.contains(KEY), "{text}");
            assert!(!text.contains(&format!("127.0.0.1:{port}")), "{text}");
        }
        assert!(!format!("{lm:?}").contains(KEY));
        // The base URL is not in the key either: another server, same key.
        let elsewhere = OpenAiClient::new(
            OpenAiConfig::new("openai/gpt-4o-mini").base_url("http://127.0.0.1:9/v1"),
        )
        .unwrap();
        assert_eq!(
            CachedLm::memory_only(Arc::new(elsewhere), 1).key(&req("s")),
            lm.key(&req("s"))
        );
    }
}
