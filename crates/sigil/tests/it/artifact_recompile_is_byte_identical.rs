//! Recompiling with the same seed and cached LM responses writes a byte-identical
//! artifact; only the `.run.toml` sidecar (provider calls vs cache hits, time) differs.

use std::sync::Arc;
use std::time::Instant;

use optimize_common::*;
use sigil::artifact::{Artifact, Provenance, RunRecord};
use sigil::lm::{CacheConfig, CachedLm, Lm, LmError};
use sigil::optimize::{BootstrapFewShotWithRandomSearch, EngineConfig, Optimizer, held_out_report};
use sigil::prelude::*;
use sigil_testkit::ScriptedLm;

use crate::optimize_common;

async fn compile_once(
    inner: Arc<dyn Lm>,
    cache_dir: &std::path::Path,
    out: &std::path::Path,
) -> String {
    let lm = CachedLm::with_config(inner, CacheConfig::in_dir(cache_dir)).unwrap();
    let ctx = Ctx::from_arc(Arc::new(lm));
    let p = program();
    let (train, val, test) = (dataset(0..8), dataset(100..110), dataset(200..230));
    let started = Instant::now();
    let compiled = BootstrapFewShotWithRandomSearch::new(metric())
        .num_candidates(3)
        .config(EngineConfig::new().seed(11).progress(false))
        .compile(&p, &train, &val, &ctx)
        .await
        .unwrap();
    let report = held_out_report(&p, &ctx, &compiled, &test, metric())
        .await
        .unwrap();
    let provenance = Provenance::new("fake/fn")
        .setting("num_candidates", 3)
        .trainset(&train)
        .valset(&val)
        .testset(&test)
        .held_out(report);
    let artifact = Artifact::build(&p, &compiled, &ChatAdapter, provenance).unwrap();
    artifact.save(out).unwrap();
    RunRecord::now(started.elapsed(), &compiled.spend)
        .save_beside(out)
        .unwrap();
    std::fs::read_to_string(out).unwrap()
}

#[tokio::test]
async fn same_seed_and_cache_give_the_same_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let (a, b) = (
        dir.path().join("a.sigil.toml"),
        dir.path().join("b.sigil.toml"),
    );

    let live = task_lm(|req, n| n_demos(req) > 0 || n.is_multiple_of(4));
    let first = compile_once(live.clone(), &cache, &a).await;
    assert!(live.calls() > 0);

    // Every answer must now come from the cache: this LM fails any call it gets.
    let dead = Arc::new(ScriptedLm::from_fn(|_| {
        Err(LmError::Other("the recompile reached the LM".into()))
    }));
    let second = compile_once(dead.clone(), &cache, &b).await;
    assert_eq!(dead.calls(), 0);

    assert_eq!(first, second, "recompiling changed the artifact");
    assert!(first.contains("lm_requests"), "{first}");
    assert!(first.contains("[scores.test]"), "{first}");

    let run_a = RunRecord::load_beside(&a).unwrap().unwrap();
    let run_b = RunRecord::load_beside(&b).unwrap().unwrap();
    assert!(
        run_a.provider_calls > 0 && run_a.cache_hits == 0,
        "{run_a:?}"
    );
    assert!(
        run_b.provider_calls == 0 && run_b.cache_hits == run_a.provider_calls,
        "{run_b:?}"
    );

    let loaded = Artifact::load(&a).unwrap();
    assert_eq!(loaded.to_toml_string().unwrap(), first);
    loaded.check_against(&program()).unwrap();
}
