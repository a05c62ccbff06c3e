//! Fills a real SQLite trace store with real spans: a program run with a scripted LM
//! through `sigil_store::standard_collector`, as `sigil run` would trace it.
#![allow(dead_code)]

use std::path::Path;

use sigil::adapter::FallbackPolicy;
use sigil::evaluate::ExactMatch;
use sigil::optimize::{BootstrapFewShotWithRandomSearch, EngineConfig, Optimizer};
use sigil::prelude::*;
use sigil::trace::ProgramInfo;
use sigil_testkit::{CliOutput, ScriptedLm, chat};

pub fn sigil(args: &[&str]) -> CliOutput {
    crate::sigil_cli().args(args).env("NO_COLOR", "1").run()
}

pub fn stdout(o: &CliOutput) -> String {
    o.stdout.clone()
}
pub fn stderr(o: &CliOutput) -> String {
    o.stderr.clone()
}

/// The LM: answers `cN` for "code for N?" questions, garbage for questions with "fail".
fn lm() -> ScriptedLm {
    ScriptedLm::from_fn(|req| {
        let last = &req
            .messages
            .last()
            .map(|m| m.content.clone())
            .unwrap_or_default();
        if last.contains("fail") {
            return Ok("no fields here".into());
        }
        let n = last
            .split("code for ")
            .nth(1)
            .and_then(|r| r.split('?').next())
            .unwrap_or("0")
            .to_string();
        Ok(chat(&[("answer", &format!("c{n}"))]))
    })
}

fn example(n: u64) -> Example {
    Example::new()
        .input("question", format!("what is the code for {n}?"))
        .set("answer", format!("c{n}"))
}

/// What `fill` stored.
pub struct Filled {
    /// Calls of program `qa`: `ok` uncompiled, `failed` uncompiled, `compiled` with an artifact.
    pub ok: usize,
    pub failed: usize,
    pub compiled: usize,
    /// Plus one compile run (program `Predict`, uncompiled).
    pub compile_trials: usize,
}

/// Runs `ok` good calls, `failed` failing calls and `compiled` compiled calls of
/// program `qa`, and one random-search compile run, into the store at `db`.
pub fn fill(db: &Path, ok: usize, failed: usize, compiled: usize) -> Filled {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let (collector, problems) = sigil_store::standard_collector(Some(db));
        assert!(problems.is_empty(), "{problems:?}");
        let base = Ctx::new(lm())
            .with_hook(collector.clone())
            .with_fallback(FallbackPolicy::Off);
        let qa = Predict::parse("question -> answer").unwrap();
        let plain = base.with_program(ProgramInfo::uncompiled("qa"));
        let art = base.with_program(ProgramInfo::compiled("qa", "abc123", "BootstrapFewShot"));
        for i in 0..ok {
            qa.call(&plain, example(i as u64).inputs()).await.unwrap();
        }
        for i in 0..failed {
            let e = Example::new().input("question", format!("please fail {i}"));
            assert!(qa.call(&plain, e).await.is_err());
        }
        for i in 0..compiled {
            qa.call(&art, example(50 + i as u64).inputs())
                .await
                .unwrap();
        }
        let train: Vec<Example> = (0..6).map(example).collect();
        let val: Vec<Example> = (100..104).map(example).collect();
        let c = BootstrapFewShotWithRandomSearch::new(ExactMatch::new("answer"))
            .num_candidates(1)
            .config(EngineConfig::new().progress(false).seed(1))
            .compile(&qa, &train, &val, &base)
            .await
            .unwrap();
        collector.flush();
        collector.shutdown();
        Filled {
            ok,
            failed,
            compiled,
            compile_trials: c.trials.len(),
        }
    })
}
