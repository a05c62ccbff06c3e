use serde_json::json;

use super::*;
use crate::lm::{OpenAiClient, OpenAiConfig, Usage, WithClientOptions};
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
        let rewritten: DiskEntry = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
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
    let body = crate::testing::OpenAiBody::new("hi").usage(10, 2);
    let server = TestServer::start(vec![Reply::json(200, body.to_string())]).await;
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

/// Keys of requests without tools, pinned to the digests Sigil computed before requests
/// could carry tools: adding `tools` and `tool_choice` must leave every existing cache
/// entry reachable.
#[test]
fn requests_without_tools_keep_their_pre_tools_keys() {
    let mut plain = req("pinned");
    assert_eq!(
        cache_key("openai/gpt-4o-mini", &plain).to_hex(),
        "fedf592a219273415c7851226a32fa6a8fe4c0ebbecf46f0763a8fb7207f98d0"
    );
    plain.params.temperature = Some(0.5);
    plain.params.stop = vec!["END".into()];
    plain.rollout_id = Some(3);
    plain.constraint = Some(OutputConstraint::Choice {
        choices: vec!["yes".into(), "no".into()],
    });
    assert_eq!(
        cache_key("openai/gpt-4o-mini", &plain).to_hex(),
        "26ade97796f1ff20b4e24289f406843eb5d2c353671c289a85b48ca662b6492f"
    );
}
