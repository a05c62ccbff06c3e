//! Shared by the `sigil ui` tests: a trace store filled by real programs and a real
//! optimizer (a scripted LM stands in for the model), the `sigil ui` process, and a
//! bare HTTP/1.1 GET.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::Arc;
use std::time::Duration;

use sigil::lm::{LmRequest, Role};
use sigil::optimize::{BootstrapFewShotWithRandomSearch, Copro, EngineConfig, Optimizer};
use sigil::prelude::*;
use sigil_testkit::{Cli, ScriptedLm, chat, field_of};

/// The completion with markup that must show as text.
pub const SCRIPT_COMPLETION: &str = "<script>alert(1)</script> Paris";

fn first_output(req: &LmRequest) -> String {
    let sys = req
        .messages
        .first()
        .map(|m| m.content.as_str())
        .unwrap_or("");
    sys.split("Your output fields are:")
        .nth(1)
        .and_then(|outs| outs.split('`').nth(1))
        .unwrap_or("")
        .to_string()
}

/// "what is the code for N?" -> "cN", known only with 2+ demos or the word MAGIC in
/// the instructions; as the prompt model it proposes instructions.
fn task_lm(delay: Duration) -> Arc<ScriptedLm> {
    Arc::new(ScriptedLm::from_fn(move |req| {
        if !delay.is_zero() {
            std::thread::sleep(delay);
        }
        let out = first_output(req);
        if out == "proposed_instruction" {
            let k = req.rollout_id.unwrap_or(0) % 3;
            let text = if k == 0 {
                "Consult the MAGIC codebook, then answer with the code."
            } else {
                "Answer the question with its code."
            };
            return Ok(chat(&[(&out, text)]));
        }
        let demos = req
            .messages
            .iter()
            .filter(|m| m.role == Role::Assistant)
            .count();
        let system = req
            .messages
            .first()
            .map(|m| m.content.as_str())
            .unwrap_or("");
        let n: Option<u64> = field_of(req, "question")
            .trim_end_matches('?')
            .rsplit(' ')
            .next()
            .and_then(|n| n.parse().ok());
        let answer = match n {
            Some(n) if demos >= 2 || system.contains("MAGIC") => format!("c{n}"),
            Some(n) if n % 3 == 0 => format!("c{n}"),
            _ => "unknown".to_string(),
        };
        Ok(chat(&[(&out, &answer)]))
    }))
}

fn dataset(range: std::ops::Range<u64>) -> Vec<Example> {
    range
        .map(|n| {
            Example::new()
                .input("question", format!("what is the code for {n}?"))
                .set("answer", format!("c{n}"))
        })
        .collect()
}

fn traced_ctx(lm: Arc<ScriptedLm>, store: &Path) -> (Ctx, Arc<sigil::trace::SpanCollector>) {
    let (collector, problems) = sigil_store::standard_collector(Some(store));
    assert!(problems.is_empty(), "{problems:?}");
    (Ctx::from_arc(lm).with_hook(collector.clone()), collector)
}

/// Fills `store` with: four program calls (one whose completion holds a script
/// tag, one that fails to parse, one with compiled prompts), a random-search compile run and a COPRO run; writes
/// both runs' artifacts (`random_search.sigil.toml`, `copro.sigil.toml`) into `artifacts`.
pub fn build_store(store: &Path, artifacts: &Path) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        // Program calls, as in production.
        let lm = Arc::new(ScriptedLm::from_fn(|req| {
            let q = field_of(req, "question");
            Ok(if q.contains("capital") {
                chat(&[("answer", SCRIPT_COMPLETION)])
            } else if q.contains("broken") {
                "no fields here at all".to_string()
            } else {
                chat(&[("answer", "42")])
            })
        }));
        let (ctx, collector) = traced_ctx(lm, store);
        let ctx = ctx
            .with_program(sigil::trace::ProgramInfo::uncompiled("geo_qa"))
            .with_fallback(sigil::adapter::FallbackPolicy::Off);
        let qa = Predict::parse("question -> answer")
            .unwrap()
            .with_instructions("Answer the question briefly.");
        for q in ["What is the capital of France?", "What is 6 x 7?"] {
            qa.call(&ctx, Example::new().input("question", q))
                .await
                .unwrap();
        }
        assert!(
            qa.call(&ctx, Example::new().input("question", "a broken one"))
                .await
                .is_err()
        );
        // The same program running compiled prompts (an artifact's overlay).
        let compiled = ctx.with_program(sigil::trace::ProgramInfo::compiled(
            "geo_qa", "a1b2c3d4", "COPRO",
        ));
        qa.call(
            &compiled,
            Example::new().input("question", "What is 2 + 2?"),
        )
        .await
        .unwrap();
        // An agent: a ReAct run with one tool call, then finish.
        let agent_lm = Arc::new(ScriptedLm::new([
            chat(&[
                ("next_thought", "Look up the time."),
                ("next_tool_name", "clock"),
                ("next_tool_args", r#"{"zone": "Asia/Tokyo"}"#),
            ]),
            chat(&[
                ("next_thought", "Done."),
                ("next_tool_name", "finish"),
                ("next_tool_args", "{}"),
            ]),
            chat(&[("reasoning", "The clock said so."), ("answer", "21:00")]),
        ]));
        let (agent_ctx, agent_collector) = traced_ctx(agent_lm, store);
        let clock = sigil::tool::Tool::new(
            "clock",
            "The time in a zone.",
            serde_json::json!({"zone": {"type": "string"}}),
            |_| async { Ok::<_, String>("21:00 in Asia/Tokyo") },
        );
        sigil::module::ReAct::parse("question -> answer", vec![clock])
            .unwrap()
            .call(
                &agent_ctx.with_program(sigil::trace::ProgramInfo::uncompiled("time_agent")),
                Example::new().input("question", "What time is it in Tokyo?"),
            )
            .await
            .unwrap();
        agent_collector.flush();
        collector.flush();

        std::fs::create_dir_all(artifacts).unwrap();
        let (program, compiled) = compile_random_search(store, Duration::ZERO).await;
        save_artifact(
            &program,
            &compiled,
            &artifacts.join("random_search.sigil.toml"),
        );

        let (ctx, collector) = traced_ctx(task_lm(Duration::ZERO), store);
        let program = Predict::parse("question -> answer").unwrap();
        let compiled = Copro::new(sigil::evaluate::ExactMatch::new("answer"))
            .breadth(3)
            .depth(2)
            .config(EngineConfig::new().progress(false).seed(3))
            .compile(&program, &dataset(0..6), &dataset(100..108), &ctx)
            .await
            .unwrap();
        collector.flush();
        save_artifact(&program, &compiled, &artifacts.join("copro.sigil.toml"));

        // A weight optimizer: BootstrapFinetune with a trainer that reports three epochs.
        let (ctx, collector) = traced_ctx(task_lm(Duration::ZERO), store);
        sigil::optimize::BootstrapFinetune::new(
            sigil::evaluate::ExactMatch::new("answer"),
            Arc::new(EpochTrainer),
            "smollm2",
        )
        .data_settings(sigil::optimize::FinetuneDataSettings {
            from_labels: true,
            ..Default::default()
        })
        .compile(&program, &dataset(0..6), &[], &ctx)
        .await
        .unwrap();
        collector.flush();
    });
}

/// A trainer that "trains" at once and reports three epochs of falling loss.
struct EpochTrainer;

#[async_trait::async_trait]
impl sigil::optimize::Finetuner for EpochTrainer {
    fn name(&self) -> &str {
        "scripted"
    }
    async fn finetune(
        &self,
        job: sigil::optimize::FinetuneJob<'_>,
    ) -> Result<sigil::optimize::FinetunedModel, sigil::optimize::FinetuneError> {
        let losses = [2.4, 1.1, 0.6];
        for (i, loss) in losses.iter().enumerate() {
            job.progress.epoch_started(i as u64 + 1);
            job.progress.epoch_ended(i as u64 + 1, *loss, 50.0);
        }
        Ok(sigil::optimize::FinetunedModel {
            model_id: "scripted-model".into(),
            base_model: job.base_model.into(),
            adapter: None,
            job_id: None,
            trained_tokens: None,
            examples: job.examples.len(),
            loss_curve: losses.to_vec(),
        })
    }
}

fn save_artifact(program: &Predict, compiled: &sigil::optimize::Compiled, path: &Path) {
    let artifact = sigil::artifact::Artifact::build(
        program,
        compiled,
        &sigil::adapter::ChatAdapter,
        sigil::artifact::Provenance::new("fake/fn").metric("exact_match(answer)"),
    )
    .unwrap();
    artifact.save(path).unwrap();
}

/// One random-search compile run into `store`, each LM call taking `delay`.
pub async fn compile_random_search(
    store: &Path,
    delay: Duration,
) -> (Predict, sigil::optimize::Compiled) {
    let (ctx, collector) = traced_ctx(task_lm(delay), store);
    let program = Predict::parse("question -> answer").unwrap();
    let compiled =
        BootstrapFewShotWithRandomSearch::new(sigil::evaluate::ExactMatch::new("answer"))
            .num_candidates(3)
            .max_bootstrapped_demos(2)
            .max_labeled_demos(2)
            .config(EngineConfig::new().progress(false).seed(1))
            .compile(&program, &dataset(0..10), &dataset(100..110), &ctx)
            .await
            .unwrap();
    collector.flush();
    (program, compiled)
}

/// A running `sigil ui`; killed when dropped.
pub struct Ui {
    pub child: Child,
    pub url: String,
    pub port: u16,
}

impl Drop for Ui {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn sigil() -> Cli {
    crate::sigil_cli()
}

/// Starts `sigil ui --port 0 <args>` and waits for the address it prints.
pub fn start_ui(args: &[&str]) -> Ui {
    let mut child = sigil()
        .arg("ui")
        .args(["--port", "0"])
        .args(args)
        .into_command()
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start sigil ui");
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let first = match lines.next() {
        Some(Ok(l)) => l,
        _ => {
            let mut err = String::new();
            child.stderr.take().unwrap().read_to_string(&mut err).ok();
            panic!("sigil ui printed no address; stderr: {err}");
        }
    };
    // Keep draining stdout so the server never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    let url = first
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_else(|| panic!("no address in {first:?}"))
        .to_string();
    let port = url
        .trim_end_matches('/')
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .unwrap();
    Ui { child, url, port }
}

/// A GET over a fresh connection: (status, headers, body).
pub fn get(port: u16, path: &str, headers: &[(&str, &str)]) -> (u16, String, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut req = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (status, head.to_string(), body.to_string())
}

/// Runs `sigil ui <args>` expecting it to fail at once: (exit code, stderr).
pub fn ui_fails(args: &[&str]) -> (i32, String) {
    // stdin is empty: nothing waits for a terminal.
    let out = sigil().arg("ui").args(args).run();
    assert!(!out.status.success(), "sigil ui {args:?} should fail");
    (out.status.code().unwrap_or(-1), out.stderr)
}

/// Asserts a failure message is one clear line: no panic, no backtrace.
pub fn assert_one_line(stderr: &str, needle: &str) {
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "one line, got: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(stderr.contains(needle), "{needle:?} not in {stderr}");
}

pub fn workspace_target() -> PathBuf {
    // CARGO_MANIFEST_DIR is crates/sigil-cli; target/ sits at the workspace root
    // unless CARGO_TARGET_DIR says otherwise.
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(d) => PathBuf::from(d),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"),
    }
}
