//! A toy task for optimizer tests: "what is the code for N?" -> "cN". The scripted LM
//! knows the code only when a rule about the prompt holds (demos present, a magic
//! word in the instructions, ...), so an optimizer provably has to find that prompt.
#![allow(dead_code)]

use std::sync::Arc;

use sigil::lm::{LmRequest, Role};
use sigil::prelude::*;
use sigil_testkit::ScriptedLm;
pub use sigil_testkit::field_of;

pub use sigil_testkit::chat;

/// The N of "what is the code for N?" in the request.
pub fn number_of(req: &LmRequest) -> Option<u64> {
    field_of(req, "question")
        .trim_end_matches('?')
        .rsplit(' ')
        .next()?
        .parse()
        .ok()
}

pub fn n_demos(req: &LmRequest) -> usize {
    req.messages
        .iter()
        .filter(|m| m.role == Role::Assistant)
        .count()
}

pub fn system(req: &LmRequest) -> &str {
    req.messages
        .first()
        .map(|m| m.content.as_str())
        .unwrap_or("")
}

pub fn example(n: u64) -> Example {
    Example::new()
        .input("question", format!("what is the code for {n}?"))
        .set("answer", format!("c{n}"))
}

pub fn dataset(range: std::ops::Range<u64>) -> Vec<Example> {
    range.map(example).collect()
}

pub fn program() -> Predict {
    Predict::parse("question -> answer").unwrap()
}

/// An LM answering `cN` when `knows(request, N)`, else `unknown`.
pub fn task_lm(knows: impl Fn(&LmRequest, u64) -> bool + Send + Sync + 'static) -> Arc<ScriptedLm> {
    Arc::new(ScriptedLm::from_fn(move |req| {
        let answer = match number_of(req) {
            Some(n) if knows(req, n) => format!("c{n}"),
            _ => "unknown".to_string(),
        };
        Ok(chat(&[("answer", &answer)]))
    }))
}

pub fn metric() -> sigil::evaluate::ExactMatch {
    sigil::evaluate::ExactMatch::new("answer")
}

/// The output fields the request asks for (from the system message's field list).
pub fn outputs_of(req: &LmRequest) -> Vec<String> {
    let sys = system(req);
    let Some(outs) = sys.split("Your output fields are:").nth(1) else {
        return Vec::new();
    };
    let outs = outs
        .split("All interactions will be structured")
        .next()
        .unwrap_or(outs);
    outs.split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect()
}

/// An LM that plays both parts: as the prompt model it proposes instructions (the
/// magic word in every third proposal, by rollout id) and answers the proposer's
/// other questions; as the task model it knows the code when `knows` holds.
pub fn task_and_prompt_lm(
    knows: impl Fn(&LmRequest, u64) -> bool + Send + Sync + 'static,
) -> Arc<ScriptedLm> {
    Arc::new(ScriptedLm::from_fn(move |req| {
        let outs = outputs_of(req);
        let first = outs.first().map(String::as_str).unwrap_or("");
        let text = match first {
            "proposed_instruction" => {
                if req.rollout_id.unwrap_or(0) % 3 == 0 {
                    "Consult the MAGIC codebook, then answer with the code.".to_string()
                } else {
                    "Answer the question.".to_string()
                }
            }
            "answer" => match number_of(req) {
                Some(n) if knows(req, n) => format!("c{n}"),
                _ => "unknown".to_string(),
            },
            other => format!("Some notes for {other}."),
        };
        Ok(chat(&[(first, &text)]))
    }))
}
