//! Event pairs to spans: the attributes each kind carries, with privacy applied.
//!
//! ## Compile runs (stable names: the web UI and `sigil traces` read them)
//!
//! An optimizer run on the shared engine (`optimize/engine.rs`) is one trace:
//!
//! ```text
//! compile {Optimizer}            kind = compile, the root (or under the caller's span)
//! ├── module / lm spans          bootstrap teacher runs, instruction proposals, ...
//! └── trial {n}                  kind = trial, one per scored candidate, in order
//!     └── evaluate               the trial's Evaluate run
//!         └── module ...         one program call per example
//! ```
//!
//! `compile` span, at start: `sigil.compile.optimizer`, `sigil.program.name`,
//! `sigil.compile.trainset`, `sigil.compile.valset` (counts), `sigil.compile.config`
//! (JSON: settings, seed, concurrency, budget, resumed_steps), `sigil.compile.seed`,
//! `sigil.compile.planned_trials`. At end: `sigil.compile.best_score` (absent when
//! nothing was scored), `sigil.compile.baseline_score`, `sigil.compile.trials`
//! (trials that finished), `sigil.compile.stopped` (`budget_exhausted` |
//! `target_reached`), the budget's spend `sigil.compile.spend.{lm_calls,
//! input_tokens, output_tokens, cost_usd, cache_hits}` (provider calls; cache hits
//! are free), and the collector's roll-up `sigil.usage.{input_tokens, output_tokens,
//! cached_tokens, cost_usd, lm_calls}` over every LM span beneath it. A run that fails
//! or is dropped ends with an error status and `error.type` (`budget_exhausted`,
//! `evaluate`, `checkpoint`, `config`, `optimize`, or `cancelled`).
//!
//! `trial` span: `sigil.trial.index` (1-based), `sigil.trial.kind` (`full` |
//! `minibatch`), `sigil.trial.label`, `sigil.trial.candidate` (JSON
//! `CandidateSummary`: label, per predictor path the instruction, indices, demo ids),
//! `sigil.trial.instructions` (JSON {path: instruction or null when unchanged}),
//! `sigil.trial.demos` (JSON {path: number of demos}); at end `sigil.trial.score`,
//! `sigil.trial.examples`, `sigil.trial.errors`, `sigil.trial.{input_tokens,
//! output_tokens, cached_tokens, cost_usd, lm_calls}` (from the evaluation's report,
//! so also set on a trial replayed from a checkpoint), `sigil.trial.best_score` (best
//! full-valset score so far), `sigil.trial.replayed` (true: read back from a
//! checkpoint, no child spans), plus the `sigil.usage.*` roll-up of its children.
//! A trial refused by the budget ends with an error status and no score.

use super::hooks::{EndData, OwnedEnd, OwnedStart, StartData};
use super::privacy::{Privacy, REDACTED};
use super::span::{AttrValue, Attributes, Span, SpanKind, SpanStatus, keys};
use crate::lm::{LmParams, Usage};

/// Builds the span for a start/end pair. Token and cost roll-ups are added later by
/// the collector, once the span's children are known.
pub(crate) fn span_from_events(start: &OwnedStart, end: &OwnedEnd, privacy: &Privacy) -> Span {
    let mut a = Attributes::new();
    let mut put = |k: &str, v: AttrValue| {
        a.insert(k.to_string(), v);
    };
    let text = |s: String| AttrValue::Str(privacy.clean(s));
    let json = |v: &dyn erased::Json| AttrValue::Str(privacy.clean(v.to_json()));

    let stamp_program =
        start.parent_id.is_none() || matches!(start.kind(), SpanKind::Evaluate | SpanKind::Compile);
    if stamp_program && start.program.is_none() {
        // Every trace says whether it ran compiled prompts; without program info
        // (`Ctx::with_program`) it did not.
        put(keys::PROGRAM_COMPILED, false.into());
    }
    if let (true, Some(p)) = (stamp_program, &start.program) {
        {
            put(keys::PROGRAM_NAME, p.name.clone().into());
            put(keys::PROGRAM_COMPILED, p.compiled.into());
            if let Some(h) = &p.artifact_hash {
                put(keys::PROGRAM_ARTIFACT_HASH, h.clone().into());
            }
            if let Some(o) = &p.optimizer {
                put(keys::PROGRAM_OPTIMIZER, o.clone().into());
            }
            if !p.demos_per_predictor.is_empty() {
                put(keys::PROGRAM_DEMOS, json(&p.demos_per_predictor));
            }
            if let Some(m) = &p.model {
                put(keys::PROGRAM_MODEL, m.clone().into());
            }
        }
    }

    match &start.data {
        StartData::Module { inputs } => {
            if privacy.record_inputs {
                put(keys::INPUTS, json(inputs.values()));
            }
        }
        StartData::Lm { model_id, input } => {
            let (provider, _) = model_id.split_once('/').unwrap_or(("", model_id));
            put(keys::GEN_AI_OPERATION, "chat".into());
            if !provider.is_empty() {
                put(keys::GEN_AI_PROVIDER, provider.into());
                put(keys::GEN_AI_SYSTEM, provider.into());
            }
            put(keys::GEN_AI_REQUEST_MODEL, model_id.to_string().into());
            params(&mut put, &input.params);
            if let Some(kind) = input.constraint {
                put(keys::LM_CONSTRAINT, kind.into());
            }
            if !input.tools.is_empty() {
                put(keys::LM_TOOLS, json(&input.tools));
            }
            if privacy.record_messages {
                let messages: Vec<&crate::lm::Message> = input.messages().collect();
                put(keys::GEN_AI_INPUT_MESSAGES, json(&messages));
            }
        }
        StartData::Format {
            adapter,
            demos,
            inputs,
        } => {
            put(keys::ADAPTER, (*adapter).into());
            put(keys::FORMAT_DEMOS, (*demos).into());
            if privacy.record_inputs {
                put(keys::INPUTS, json(inputs.values()));
            }
        }
        StartData::Parse {
            adapter,
            completion,
            fallback,
        } => {
            put(keys::ADAPTER, (*adapter).into());
            put(keys::PARSE_FALLBACK, (*fallback).into());
            if privacy.record_messages {
                put(keys::PARSE_COMPLETION, text(completion.to_string()));
            }
        }
        StartData::Tool { tool, args } => {
            // OpenTelemetry GenAI's tool-execution span.
            put(keys::GEN_AI_OPERATION, "execute_tool".into());
            put(keys::GEN_AI_TOOL_NAME, tool.to_string().into());
            if privacy.record_inputs {
                put(keys::TOOL_ARGS, json(&**args));
            }
        }
        StartData::Retrieval { query, k } => {
            if privacy.record_inputs {
                put(keys::RETRIEVAL_QUERY, text(query.to_string()));
            }
            if let Some(k) = k {
                put(keys::RETRIEVAL_K, (*k).into());
            }
        }
        StartData::Evaluate {
            program,
            metric,
            examples,
        } => {
            if start.program.is_none() {
                put(keys::PROGRAM_NAME, program.to_string().into());
            }
            put(keys::EVAL_METRIC, metric.to_string().into());
            put(keys::EVAL_EXAMPLES, (*examples).into());
        }
        StartData::Compile {
            optimizer,
            program,
            trainset,
            valset,
            config,
        } => {
            put(keys::COMPILE_OPTIMIZER, optimizer.to_string().into());
            if start.program.is_none() {
                put(keys::PROGRAM_NAME, program.to_string().into());
            }
            put(keys::COMPILE_TRAINSET, (*trainset).into());
            put(keys::COMPILE_VALSET, (*valset).into());
            put(keys::COMPILE_CONFIG, json(&**config));
        }
        StartData::Finetune {
            trainer,
            base_model,
            examples,
            settings,
        } => {
            put(keys::FINETUNE_TRAINER, trainer.to_string().into());
            put(keys::FINETUNE_BASE_MODEL, base_model.to_string().into());
            put(keys::FINETUNE_EXAMPLES, (*examples).into());
            put(keys::FINETUNE_SETTINGS, json(&**settings));
        }
        StartData::Epoch { index } => put(keys::EPOCH_INDEX, (*index).into()),
        StartData::Trial { index, candidate } => {
            put(keys::TRIAL_INDEX, (*index).into());
            put(keys::TRIAL_CANDIDATE, json(&**candidate));
        }
    }

    let mut status = SpanStatus::Ok;
    match &end.data {
        EndData::Module(Ok(m)) => {
            if privacy.record_outputs {
                put(keys::OUTPUTS, json(&*m.outputs));
            }
            put(keys::MODULE_LM_CALLS, m.lm_calls.into());
            put(keys::MODULE_FALLBACKS, m.fallbacks.into());
        }
        EndData::Lm(Ok(r)) => {
            put(keys::GEN_AI_RESPONSE_MODEL, r.model.clone().into());
            if let Some(f) = &r.finish_reason {
                put(keys::GEN_AI_FINISH_REASONS, json(&[f]));
            }
            usage(&mut put, &r.usage);
            put(keys::LM_LATENCY_MS, r.latency_ms.into());
            put(keys::LM_CACHE_HIT, r.cache_hit.into());
            put(keys::LM_RETRIES, r.retries.into());
            if privacy.record_outputs {
                put(keys::LM_OUTPUT, text(r.text.clone()));
                if !r.tool_calls.is_empty() {
                    put(keys::LM_TOOL_CALLS, json(&r.tool_calls));
                }
                if privacy.record_messages {
                    let mut msg = serde_json::json!({"role": "assistant", "content": r.text, "finish_reason": r.finish_reason});
                    if !r.tool_calls.is_empty() {
                        msg["tool_calls"] = serde_json::to_value(&r.tool_calls).unwrap_or_default();
                    }
                    put(keys::GEN_AI_OUTPUT_MESSAGES, json(&[msg]));
                }
            }
        }
        EndData::Format(Ok(n)) => put(keys::FORMAT_MESSAGES, (*n).into()),
        EndData::Parse(Ok(fields)) => {
            if privacy.record_outputs {
                put(keys::PARSE_FIELDS, json(&**fields));
            }
        }
        EndData::Tool(Ok(v)) => {
            if privacy.record_outputs {
                put(keys::TOOL_RESULT, json(&**v));
            }
        }
        EndData::Retrieval(Ok(passages)) => {
            if privacy.record_outputs {
                put(keys::RETRIEVAL_PASSAGES, json(&**passages));
            }
        }
        EndData::Evaluate(Ok(s)) => {
            put(keys::EVAL_SCORE, s.mean.into());
            put(keys::EVAL_ERRORS, s.errors.into());
            if privacy.record_inputs && !s.example_scores.is_empty() {
                // Keyed by the same inputs text the examples' module spans carry.
                let rows: Vec<serde_json::Value> = s
                    .example_scores
                    .iter()
                    .map(|(ex, score)| {
                        serde_json::json!({
                            "inputs": privacy.clean(erased::Json::to_json(ex.values())),
                            "score": score,
                        })
                    })
                    .collect();
                put(
                    keys::EVAL_EXAMPLE_SCORES,
                    AttrValue::Str(serde_json::Value::Array(rows).to_string()),
                );
            }
        }
        EndData::Compile(Ok(c)) => {
            if let Some(s) = c.best_score {
                put(keys::COMPILE_BEST_SCORE, s.into());
            }
            if let Some(h) = &c.artifact_hash {
                put(keys::COMPILE_ARTIFACT_HASH, h.clone().into());
            }
            put(keys::COMPILE_TRIALS, c.trials.into());
        }
        EndData::Finetune(Ok(f)) => {
            put(keys::FINETUNE_MODEL, f.model_id.clone().into());
            if let Some(t) = f.trained_tokens {
                put(keys::FINETUNE_TRAINED_TOKENS, t.into());
            }
            if !f.loss_curve.is_empty() {
                put(keys::FINETUNE_LOSS_CURVE, json(&f.loss_curve));
            }
        }
        EndData::Epoch(Ok(e)) => {
            put(keys::EPOCH_LOSS, e.loss.into());
            put(keys::EPOCH_TOKENS_PER_S, e.tokens_per_s.into());
        }
        EndData::Trial(Ok(score)) => {
            if let Some(s) = score {
                put(keys::TRIAL_SCORE, (*s).into());
            }
        }
        EndData::Cancelled => status = SpanStatus::Cancelled,
        other => {
            if let Some(e) = other.error() {
                put(keys::ERROR_TYPE, e.kind.into());
                if matches!(other, EndData::Parse(_)) && privacy.record_outputs {
                    put(keys::PARSE_ERROR, text(e.message.clone()));
                }
                let message = if privacy.record_outputs || privacy.record_messages {
                    privacy.clean(e.message.clone())
                } else {
                    e.kind.to_string()
                };
                status = SpanStatus::Error(message);
            }
        }
    }
    for (k, v) in &end.attributes {
        let v = match v {
            AttrValue::Str(s) => text(s.clone()),
            other => other.clone(),
        };
        put(k, v);
    }
    let mut events = end.events.clone();
    for e in &mut events {
        for v in e.attributes.values_mut() {
            if let AttrValue::Str(s) = v {
                *s = if privacy.record_outputs {
                    privacy.clean(std::mem::take(s))
                } else {
                    REDACTED.to_string()
                };
            }
        }
    }

    Span {
        trace_id: start.trace_id,
        span_id: start.call_id,
        parent_id: start.parent_id,
        kind: start.kind(),
        name: start.name.to_string(),
        start_ns: start.start_ns,
        end_ns: end.end_ns,
        status,
        attributes: a,
        events,
    }
}

fn params(put: &mut impl FnMut(&str, AttrValue), p: &LmParams) {
    if let Some(t) = p.temperature {
        put(keys::GEN_AI_TEMPERATURE, t.into());
    }
    if let Some(m) = p.max_tokens {
        put(keys::GEN_AI_MAX_TOKENS, m.into());
    }
    if let Some(t) = p.top_p {
        put(keys::GEN_AI_TOP_P, t.into());
    }
    if let Some(s) = p.seed {
        put(keys::GEN_AI_SEED, s.into());
    }
    if !p.stop.is_empty() {
        put(
            keys::GEN_AI_STOP,
            AttrValue::Str(serde_json::to_string(&p.stop).unwrap_or_default()),
        );
    }
}

/// An LM call's usage, with the GenAI names.
fn usage(put: &mut impl FnMut(&str, AttrValue), u: &Usage) {
    put(keys::GEN_AI_INPUT_TOKENS, u.input_tokens.into());
    put(keys::GEN_AI_OUTPUT_TOKENS, u.output_tokens.into());
    put(keys::GEN_AI_CACHED_TOKENS, u.cached_tokens.into());
    put(keys::LM_COST_USD, u.cost_usd.into());
}

/// Serialisation behind a `dyn`, so `json(&x)` works for any serialisable value.
mod erased {
    pub(crate) trait Json {
        fn to_json(&self) -> String;
    }
    impl<T: serde::Serialize + ?Sized> Json for T {
        fn to_json(&self) -> String {
            serde_json::to_string(self).unwrap_or_else(|e| format!("\"<unserialisable: {e}>\""))
        }
    }
}
