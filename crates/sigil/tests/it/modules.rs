//! Behaviour of Predict, ChainOfThought and composed programs against the scripted fake LM.

use std::sync::Arc;

use async_trait::async_trait;
use sigil::adapter::{Adapter, FallbackPolicy};
use sigil::lm::Role;
use sigil::module::Overlay;
use sigil::optimize::DemoCapture;
use sigil::prelude::*;
use sigil_testkit::ScriptedLm;

use sigil_testkit::chat;

#[tokio::test]
async fn predict_formats_calls_and_parses_typed_values() {
    let lm = Arc::new(ScriptedLm::new([chat(&[
        ("answer", "4"),
        ("confident", "True"),
    ])]));
    let ctx = Ctx::from_arc(lm.clone());
    let p = Predict::parse("question -> answer: int, confident: bool").unwrap();
    let out = p
        .call(&ctx, Example::new().input("question", "2+2?"))
        .await
        .unwrap();
    assert_eq!(out.get("answer"), Some(&serde_json::json!(4)));
    assert_eq!(out.get("confident"), Some(&serde_json::json!(true)));
    assert_eq!(out.lm_calls, 1);
    assert_eq!(out.fallbacks, 0);
    let req = &lm.requests()[0];
    assert_eq!(req.messages[0].role, Role::System);
    assert!(req.messages.last().unwrap().content.contains("2+2?"));
}

#[tokio::test]
async fn missing_and_unexpected_inputs_are_typed_errors() {
    let lm = Arc::new(ScriptedLm::new(Vec::<String>::new()));
    let ctx = Ctx::from_arc(lm.clone());
    let p = Predict::parse("question, context -> answer").unwrap();
    let e = p
        .call(&ctx, Example::new().input("question", "q"))
        .await
        .unwrap_err();
    assert!(
        e.to_string().contains("missing input field `context`"),
        "{e}"
    );
    let e = p
        .call(
            &ctx,
            Example::new()
                .input("question", "q")
                .input("context", "c")
                .input("extra", 1),
        )
        .await
        .unwrap_err();
    assert!(
        e.to_string().contains("unexpected input field `extra`"),
        "{e}"
    );
    assert_eq!(lm.calls(), 0, "no LM call is made for bad inputs");
}

#[tokio::test]
async fn garbage_completion_falls_back_to_json_and_is_counted() {
    let lm = Arc::new(ScriptedLm::new([
        "I think the answer is four".to_string(),
        r#"{"answer": 4}"#.to_string(),
    ]));
    let ctx = Ctx::from_arc(lm.clone());
    let p = Predict::parse("question -> answer: int").unwrap();
    let out = p
        .call(&ctx, Example::new().input("question", "2+2?"))
        .await
        .unwrap();
    assert_eq!(out.get("answer"), Some(&serde_json::json!(4)));
    assert_eq!(out.fallbacks, 1);
    assert_eq!(out.lm_calls, 2);
    // The second request is the JSON adapter's.
    assert!(
        lm.requests()[1]
            .messages
            .iter()
            .any(|m| m.content.contains("JSON"))
    );
}

#[tokio::test]
async fn with_fallback_off_a_parse_failure_carries_the_raw_completion() {
    let lm = Arc::new(ScriptedLm::new(["no structure here"]));
    let ctx = Ctx::from_arc(lm).with_fallback(FallbackPolicy::Off);
    let p = Predict::parse("question -> answer: int").unwrap();
    let e = p
        .call(&ctx, Example::new().input("question", "2+2?"))
        .await
        .unwrap_err();
    assert_eq!(e.raw_completion(), Some("no structure here"));
}

#[tokio::test]
async fn lm_errors_are_typed_and_name_the_predictor() {
    let lm = Arc::new(ScriptedLm::new(Vec::<String>::new()));
    lm.push_error(sigil::lm::LmError::Http {
        provider: "fake".into(),
        status: 400,
        body: "bad".into(),
    });
    let ctx = Ctx::from_arc(lm);
    let p = Predict::parse("question -> answer").unwrap();
    let e = p
        .call(&ctx, Example::new().input("question", "q"))
        .await
        .unwrap_err();
    assert!(matches!(e, ModuleError::Lm { .. }), "{e:?}");
}

#[tokio::test]
async fn chain_of_thought_adds_reasoning_first() {
    let lm = Arc::new(ScriptedLm::new([chat(&[
        ("reasoning", "2 and 2 make 4"),
        ("answer", "4"),
    ])]));
    let ctx = Ctx::from_arc(lm.clone());
    let cot = ChainOfThought::parse("question -> answer").unwrap();
    assert_eq!(cot.predict().signature().outputs()[0].name, "reasoning");
    let out = cot
        .call(&ctx, Example::new().input("question", "2+2?"))
        .await
        .unwrap();
    assert_eq!(out.get_str("reasoning").unwrap(), "2 and 2 make 4");
    assert_eq!(out.get_str("answer").unwrap(), "4");
}

/// A two-level program: `draft` then `hop2.refine`.
struct Inner {
    refine: Predict,
}
#[async_trait]
impl Module for Inner {
    sigil::submodules!(refine);
    async fn forward(&self, ctx: &CallCtx<'_>, inputs: Example) -> Result<Prediction, ModuleError> {
        self.refine.call(ctx, inputs).await
    }
}
struct Outer {
    draft: Predict,
    hop2: Inner,
}
#[async_trait]
impl Module for Outer {
    sigil::submodules!(draft, hop2);
    async fn forward(&self, ctx: &CallCtx<'_>, inputs: Example) -> Result<Prediction, ModuleError> {
        let d = self.draft.call(ctx, inputs).await?;
        let mut out = self
            .hop2
            .call(
                ctx,
                Example::new().input("draft", d.get_str("draft").unwrap_or_default()),
            )
            .await?;
        out.absorb_stats(&d);
        Ok(out)
    }
}

fn outer() -> Outer {
    Outer {
        draft: Predict::parse("question -> draft").unwrap(),
        hop2: Inner {
            refine: Predict::parse("draft -> text").unwrap(),
        },
    }
}

#[tokio::test]
async fn predictor_paths_are_stable_and_nested() {
    let prog = outer();
    let paths: Vec<String> = prog
        .named_predictors()
        .into_iter()
        .map(|(p, _)| p)
        .collect();
    assert_eq!(paths, ["draft", "hop2.refine"]);
    let ctx = Ctx::new(ScriptedLm::new(Vec::<String>::new())).for_program(&prog);
    assert_eq!(&*ctx.path_of(&prog.hop2.refine), "hop2.refine");
}

#[tokio::test]
async fn overlays_change_a_call_without_touching_the_program_and_traces_are_captured() {
    let lm = Arc::new(ScriptedLm::from_fn(|req| {
        let last = &req.messages.last().unwrap().content;
        Ok(if last.contains("[[ ## question ## ]]") {
            chat(&[("draft", "first draft")])
        } else {
            chat(&[("text", "refined")])
        })
    }));
    let prog = outer();
    let mut overlay = Overlay::default();
    overlay.set_instructions("hop2.refine", "Polish the text.");
    overlay.set_demos(
        "hop2.refine",
        vec![Example::new().input("draft", "rough").set("text", "smooth")],
    );
    let recorder = DemoCapture::new();
    let ctx = Ctx::from_arc(lm.clone())
        .with_overlay(Some(Arc::new(overlay)))
        .with_hook(recorder.clone());
    let out = prog
        .call(&ctx, Example::new().input("question", "q"))
        .await
        .unwrap();
    assert_eq!(out.get_str("text").unwrap(), "refined");
    assert_eq!(out.lm_calls, 2);

    let reqs = lm.requests();
    assert!(reqs[1].messages[0].content.contains("Polish the text."));
    assert!(!reqs[0].messages[0].content.contains("Polish the text."));
    assert_eq!(reqs[1].messages.len(), 4, "system + one demo pair + user");
    // The program itself is untouched.
    assert_eq!(prog.hop2.refine.signature().explicit_instructions(), None);
    assert!(prog.hop2.refine.demos().is_empty());

    let trace = recorder.take();
    let paths: Vec<&str> = trace.iter().map(|t| t.path.as_str()).collect();
    assert_eq!(paths, ["draft", "hop2.refine"]);
    assert_eq!(trace[1].inputs.get_str("draft").unwrap(), "first draft");
    assert_eq!(trace[1].outputs["text"], "refined");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_program_serves_many_tasks_at_once() {
    let lm = Arc::new(ScriptedLm::from_fn(|req| {
        let last = &req.messages.last().unwrap().content;
        let n: String = last.chars().filter(|c| c.is_ascii_digit()).collect();
        Ok(chat(&[("answer", &n)]))
    }));
    let prog = Arc::new(Predict::parse("question -> answer").unwrap());
    let ctx = Ctx::from_arc(lm);
    let mut handles = Vec::new();
    for i in 0..64 {
        let (prog, ctx) = (prog.clone(), ctx.clone());
        handles.push(tokio::spawn(async move {
            let out = prog
                .call(&ctx, Example::new().input("question", format!("n={i}")))
                .await
                .unwrap();
            assert_eq!(out.get_str("answer").unwrap(), i.to_string());
        }));
    }
    for h in handles {
        h.await.unwrap();
    }
}

#[tokio::test]
async fn cached_prompt_prefix_follows_edits_and_overlays() {
    let lm = Arc::new(ScriptedLm::from_fn(|_| Ok(chat(&[("answer", "ok")]))));
    let ctx = Ctx::from_arc(lm.clone());
    let mut p = Predict::parse("question -> answer").unwrap();
    let ask = || Example::new().input("question", "q");
    p.call(&ctx, ask()).await.unwrap();
    p.call(&ctx, ask()).await.unwrap();
    p.set_instructions("Be brief.");
    p.set_demos(vec![
        Example::new()
            .input("question", "demo q")
            .set("answer", "demo a"),
    ]);
    p.call(&ctx, ask()).await.unwrap();
    let mut overlay = Overlay::default();
    overlay.set_instructions("", "Overlaid.");
    p.call(&ctx.with_overlay(Some(Arc::new(overlay))), ask())
        .await
        .unwrap();
    p.call(&ctx, ask()).await.unwrap();

    let reqs = lm.requests();
    assert_eq!(reqs[0].messages, reqs[1].messages);
    assert!(reqs[2].messages[0].content.contains("Be brief."));
    assert_eq!(reqs[2].messages.len(), 4);
    assert!(reqs[3].messages[0].content.contains("Overlaid."));
    assert_eq!(
        reqs[4].messages, reqs[2].messages,
        "the overlay did not leak into the cache"
    );
    // Every request equals what the adapter renders in one go.
    let full = ChatAdapter
        .format(p.signature(), p.demos(), &ask())
        .unwrap();
    assert_eq!(reqs[4].messages, full);
}
