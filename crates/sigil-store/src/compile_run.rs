//! A compile run rebuilt from its spans: the `compile` span (absent while the run is
//! still going), one `trial` span per scored candidate, and under each trial the
//! evaluation whose program calls are the examples of the example x candidate grid.
//!
//! This is a store query ([`Store::compile_run_view`], [`Store::compile_run_views`])
//! rather than UI code so that every reader of the store (the UI, the CLI, scripts)
//! gets the same trials, scores, spend and interrupted-run verdict from the same spans.

use std::collections::HashMap;

use serde::Serialize;
use serde_json::Value;
use sigil::trace::{Span, SpanId, SpanKind, keys};

use crate::{Store, StoreError};

/// One run, as the compile-run page shows it.
#[derive(Debug, Serialize)]
pub struct CompileRunView {
    pub trace_id: String,
    /// No compile span yet: the run is going (or its process died).
    pub running: bool,
    pub status: &'static str,
    pub error: Option<String>,
    pub optimizer: Option<String>,
    pub program: Option<String>,
    pub trainset: Option<i64>,
    pub valset: Option<i64>,
    pub seed: Option<i64>,
    pub planned_trials: Option<i64>,
    pub config: Value,
    pub start_epoch_ms: f64,
    pub duration_ms: f64,
    pub best_score: Option<f64>,
    pub baseline_score: Option<f64>,
    pub stopped: Option<String>,
    pub artifact_hash: Option<String>,
    pub spend: Spend,
    pub trials: Vec<TrialView>,
    pub grid: Grid,
    /// The fine-tuning epochs of the run (a weight optimizer's `epoch` spans), in order:
    /// the page's loss curve.
    pub loss_curve: Vec<EpochPoint>,
}

/// One training epoch: its mean step loss and speed.
#[derive(Debug, Serialize, PartialEq)]
pub struct EpochPoint {
    /// The epoch, from 1.
    pub epoch: i64,
    pub loss: Option<f64>,
    pub tokens_per_s: Option<f64>,
    /// The `finetune` span it belongs to (one per trained model).
    pub finetune_span: Option<String>,
}

#[derive(Debug, Default, Serialize)]
pub struct Spend {
    pub lm_calls: i64,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub cost_usd: f64,
    pub cache_hits: Option<i64>,
}

#[derive(Debug, Serialize)]
pub struct TrialView {
    pub index: i64,
    pub span_id: String,
    pub label: String,
    /// `full` or `minibatch`.
    pub kind: Option<String>,
    pub status: &'static str,
    pub error: Option<String>,
    pub score: Option<f64>,
    /// The best full-valset score up to and including this trial.
    pub best_so_far: Option<f64>,
    pub examples: Option<i64>,
    pub errors: Option<i64>,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub cost_usd: f64,
    pub lm_calls: i64,
    pub duration_ms: f64,
    pub replayed: bool,
    /// Per predictor path: the instruction (None: the program's own) and demo ids.
    pub predictors: Vec<PredictorView>,
}

#[derive(Debug, Serialize)]
pub struct PredictorView {
    pub path: String,
    pub instruction: Option<String>,
    pub demo_ids: Vec<String>,
}

/// Examples (rows) x trials (columns): each cell is that example's program call
/// within that trial.
#[derive(Debug, Default, Serialize)]
pub struct Grid {
    pub examples: Vec<GridRow>,
    /// Rows left out past the limit.
    pub more_examples: usize,
}

#[derive(Debug, Serialize)]
pub struct GridRow {
    /// The example's inputs (JSON text), or the call's name when inputs were not recorded.
    pub example: String,
    /// One per trial, in trial order; None where the trial did not run this example.
    pub cells: Vec<Option<GridCell>>,
}

#[derive(Debug, Serialize)]
pub struct GridCell {
    pub span_id: String,
    pub status: &'static str,
    /// The call's outputs (JSON text) when recorded.
    pub outputs: Option<String>,
    /// The metric's score for this example in this trial, when the evaluation recorded it.
    pub score: Option<f64>,
}

const GRID_ROWS: usize = 200;

fn int(span: &Span, key: &str) -> Option<i64> {
    span.attr_i64(key)
}

fn float(span: &Span, key: &str) -> Option<f64> {
    span.attr_f64(key)
}

fn text(span: &Span, key: &str) -> Option<String> {
    span.attr_str(key).map(str::to_string)
}

fn predictors(candidate: Option<&str>) -> Vec<PredictorView> {
    let Some(v) = candidate.and_then(|c| serde_json::from_str::<Value>(c).ok()) else {
        return Vec::new();
    };
    let Some(map) = v.get("predictors").and_then(Value::as_object) else {
        return Vec::new();
    };
    map.iter()
        .map(|(path, choice)| PredictorView {
            path: path.clone(),
            instruction: choice
                .get("instruction")
                .and_then(Value::as_str)
                .map(str::to_string),
            demo_ids: choice
                .get("demo_ids")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .map(|d| d.as_str().map_or_else(|| d.to_string(), str::to_string))
                        .collect()
                })
                .unwrap_or_default(),
        })
        .collect()
}

fn label(span: &Span) -> String {
    span.attr_str(keys::TRIAL_LABEL)
        .map(str::to_string)
        .or_else(|| {
            span.attr_str(keys::TRIAL_CANDIDATE)
                .and_then(|c| serde_json::from_str::<Value>(c).ok())
                .and_then(|v| v.get("label")?.as_str().map(str::to_string))
        })
        .unwrap_or_else(|| span.name.clone())
}

/// A run without its compile span whose newest stored span ended this long ago has
/// stopped: its process was killed or crashed (a live run stores LM and module spans
/// every few seconds; one LM call of 15 minutes would be misread).
pub const INTERRUPTED_AFTER_NS: u64 = 15 * 60 * 1_000_000_000;

/// Builds the view from every span of the run's trace (in start order), as of now.
pub fn compile_run_view(trace_id: &str, spans: &[Span]) -> Option<CompileRunView> {
    let now_ns = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    compile_run_view_at(trace_id, spans, now_ns)
}

/// [`compile_run_view`] as of `now_ns` (Unix nanoseconds).
pub fn compile_run_view_at(trace_id: &str, spans: &[Span], now_ns: u64) -> Option<CompileRunView> {
    let compile = spans.iter().find(|s| s.kind == SpanKind::Compile);
    let mut trials: Vec<&Span> = spans.iter().filter(|s| s.kind == SpanKind::Trial).collect();
    if compile.is_none() && trials.is_empty() {
        return None;
    }
    trials.sort_by_key(|t| (int(t, keys::TRIAL_INDEX).unwrap_or(i64::MAX), t.start_ns));
    let start = spans.iter().map(|s| s.start_ns).min().unwrap_or(0);
    let end = spans.iter().map(|s| s.end_ns).max().unwrap_or(start);

    let mut best: Option<f64> = None;
    let trial_views: Vec<TrialView> = trials
        .iter()
        .map(|t| {
            let score = float(t, keys::TRIAL_SCORE);
            let kind = text(t, keys::TRIAL_KIND);
            if kind.as_deref() != Some("minibatch")
                && let Some(s) = score
            {
                best = Some(best.map_or(s, |b: f64| b.max(s)));
            }
            TrialView {
                index: int(t, keys::TRIAL_INDEX).unwrap_or(0),
                span_id: t.span_id.to_hex(),
                label: label(t),
                kind,
                status: t.status.as_str(),
                error: t.status.message().map(str::to_string),
                score,
                best_so_far: float(t, keys::TRIAL_BEST_SCORE).or(best),
                examples: int(t, keys::TRIAL_EXAMPLES),
                errors: int(t, keys::TRIAL_ERRORS),
                input_tokens: int(t, keys::TRIAL_INPUT_TOKENS)
                    .or_else(|| int(t, keys::USAGE_INPUT_TOKENS))
                    .unwrap_or(0),
                output_tokens: int(t, keys::TRIAL_OUTPUT_TOKENS)
                    .or_else(|| int(t, keys::USAGE_OUTPUT_TOKENS))
                    .unwrap_or(0),
                cost_usd: float(t, keys::TRIAL_COST_USD)
                    .or_else(|| float(t, keys::USAGE_COST_USD))
                    .unwrap_or(0.0),
                lm_calls: int(t, keys::TRIAL_LM_CALLS)
                    .or_else(|| int(t, keys::USAGE_LM_CALLS))
                    .unwrap_or(0),
                duration_ms: t.duration_ms(),
                replayed: t
                    .attr(keys::TRIAL_REPLAYED)
                    .and_then(|v| v.as_bool())
                    .unwrap_or(false),
                predictors: predictors(t.attr_str(keys::TRIAL_CANDIDATE)),
            }
        })
        .collect();

    let spend = match compile {
        Some(c) if c.attr(keys::COMPILE_SPEND_LM_CALLS).is_some() => Spend {
            lm_calls: int(c, keys::COMPILE_SPEND_LM_CALLS).unwrap_or(0),
            input_tokens: int(c, keys::COMPILE_SPEND_INPUT_TOKENS).unwrap_or(0),
            output_tokens: int(c, keys::COMPILE_SPEND_OUTPUT_TOKENS).unwrap_or(0),
            cost_usd: float(c, keys::COMPILE_SPEND_COST_USD).unwrap_or(0.0),
            cache_hits: int(c, keys::COMPILE_SPEND_CACHE_HITS),
        },
        Some(c) => Spend {
            lm_calls: int(c, keys::USAGE_LM_CALLS).unwrap_or(0),
            input_tokens: int(c, keys::USAGE_INPUT_TOKENS).unwrap_or(0),
            output_tokens: int(c, keys::USAGE_OUTPUT_TOKENS).unwrap_or(0),
            cost_usd: float(c, keys::USAGE_COST_USD).unwrap_or(0.0),
            cache_hits: None,
        },
        // Still running: what the finished trials spent so far.
        None => Spend {
            lm_calls: trial_views.iter().map(|t| t.lm_calls).sum(),
            input_tokens: trial_views.iter().map(|t| t.input_tokens).sum(),
            output_tokens: trial_views.iter().map(|t| t.output_tokens).sum(),
            cost_usd: trial_views.iter().map(|t| t.cost_usd).sum(),
            cache_hits: None,
        },
    };

    let c = |f: &dyn Fn(&Span) -> Option<String>| compile.and_then(f);
    let interrupted = compile.is_none() && now_ns.saturating_sub(end) > INTERRUPTED_AFTER_NS;
    let error = match compile {
        Some(c) => c.status.message().map(str::to_string),
        None if interrupted => Some(format!(
            "no span stored for {} minutes and no end of the run: its process was stopped or crashed \
             (`sigil compile --resume` continues from the last checkpoint)",
            now_ns.saturating_sub(end) / 60_000_000_000
        )),
        None => None,
    };
    Some(CompileRunView {
        trace_id: trace_id.to_string(),
        running: compile.is_none() && !interrupted,
        status: match compile {
            Some(c) => c.status.as_str(),
            None if interrupted => "interrupted",
            None => "running",
        },
        error,
        optimizer: c(&|s| text(s, keys::COMPILE_OPTIMIZER)),
        program: c(&|s| text(s, keys::PROGRAM_NAME)),
        trainset: compile.and_then(|s| int(s, keys::COMPILE_TRAINSET)),
        valset: compile.and_then(|s| int(s, keys::COMPILE_VALSET)),
        seed: compile.and_then(|s| int(s, keys::COMPILE_SEED)),
        planned_trials: compile.and_then(|s| int(s, keys::COMPILE_PLANNED_TRIALS)),
        config: compile
            .and_then(|s| s.attr_str(keys::COMPILE_CONFIG))
            .and_then(|c| serde_json::from_str(c).ok())
            .unwrap_or(Value::Null),
        start_epoch_ms: start as f64 / 1e6,
        duration_ms: end.saturating_sub(start) as f64 / 1e6,
        best_score: compile
            .and_then(|s| float(s, keys::COMPILE_BEST_SCORE))
            .or(best),
        baseline_score: compile.and_then(|s| float(s, keys::COMPILE_BASELINE_SCORE)),
        stopped: c(&|s| text(s, keys::COMPILE_STOPPED)),
        artifact_hash: c(&|s| text(s, keys::COMPILE_ARTIFACT_HASH)),
        spend,
        grid: grid(spans, &trials),
        trials: trial_views,
        loss_curve: loss_curve(spans),
    })
}

/// The run's `epoch` spans as points, by training job then epoch.
fn loss_curve(spans: &[Span]) -> Vec<EpochPoint> {
    let mut epochs: Vec<&Span> = spans.iter().filter(|s| s.kind == SpanKind::Epoch).collect();
    epochs.sort_by_key(|s| s.start_ns);
    epochs
        .into_iter()
        .map(|s| EpochPoint {
            epoch: int(s, keys::EPOCH_INDEX).unwrap_or(0),
            loss: float(s, keys::EPOCH_LOSS),
            tokens_per_s: float(s, keys::EPOCH_TOKENS_PER_S),
            finetune_span: s.parent_id.map(|p| p.to_hex()),
        })
        .collect()
}

impl Store {
    /// One compile run as of now, rebuilt from every stored span of its trace; `None`
    /// when the trace has no compile or trial span.
    pub fn compile_run_view(&self, trace_id: &str) -> Result<Option<CompileRunView>, StoreError> {
        Ok(compile_run_view(trace_id, &self.spans(trace_id)?))
    }

    /// The runs to list, as of now: first the unfinished ones (trials since
    /// `unfinished_since_ns` and no compile span yet; at most `unfinished_limit`, most
    /// recently active first, from all their spans, so an interrupted run is told
    /// apart from a running one), then the finished ones (newest first, at most
    /// `finished_limit`, from their compile and trial spans only: their grids are
    /// empty, which a list does not show).
    pub fn compile_run_views(
        &self,
        unfinished_since_ns: u64,
        unfinished_limit: usize,
        finished_limit: usize,
    ) -> Result<Vec<CompileRunView>, StoreError> {
        let mut views = Vec::new();
        for trace_id in self.unfinished_compile_traces(unfinished_since_ns, unfinished_limit)? {
            views.extend(self.compile_run_view(&trace_id)?);
        }
        for run in self.compile_runs(None, finished_limit)? {
            let trace_id = run.compile.trace_id.to_hex();
            let mut spans = vec![run.compile];
            spans.extend(run.trials);
            spans.sort_by_key(|s| s.start_ns);
            views.extend(compile_run_view(&trace_id, &spans));
        }
        Ok(views)
    }
}

/// The example x trial grid: under each trial, the program calls its evaluations made.
fn grid(spans: &[Span], trials: &[&Span]) -> Grid {
    let column: HashMap<SpanId, usize> = trials
        .iter()
        .enumerate()
        .map(|(i, t)| (t.span_id, i))
        .collect();
    let parent: HashMap<SpanId, SpanId> = spans
        .iter()
        .filter_map(|s| Some((s.span_id, s.parent_id?)))
        .collect();
    let kind: HashMap<SpanId, SpanKind> = spans.iter().map(|s| (s.span_id, s.kind)).collect();
    // Per evaluation: the examples' inputs text -> score (see `keys::EVAL_EXAMPLE_SCORES`).
    let scores: HashMap<SpanId, HashMap<String, f64>> = spans
        .iter()
        .filter(|s| s.kind == SpanKind::Evaluate)
        .filter_map(|s| {
            let raw = s.attr_str(keys::EVAL_EXAMPLE_SCORES)?;
            let rows: Vec<serde_json::Value> = serde_json::from_str(raw).ok()?;
            let map = rows
                .iter()
                .filter_map(|r| Some((r["inputs"].as_str()?.to_string(), r["score"].as_f64()?)))
                .collect();
            Some((s.span_id, map))
        })
        .collect();
    let mut rows: Vec<GridRow> = Vec::new();
    let mut row_of: HashMap<String, usize> = HashMap::new();
    let mut more = 0usize;
    for s in spans {
        // A program call of an evaluation: a module span whose parent is an evaluate span.
        if s.kind != SpanKind::Module {
            continue;
        }
        let Some(eval) = s
            .parent_id
            .filter(|p| kind.get(p) == Some(&SpanKind::Evaluate))
        else {
            continue;
        };
        // The trial the evaluation belongs to: its nearest trial ancestor.
        let mut at = eval;
        let mut col = None;
        for _ in 0..64 {
            if let Some(&c) = column.get(&at) {
                col = Some(c);
                break;
            }
            match parent.get(&at) {
                Some(&p) => at = p,
                None => break,
            }
        }
        let Some(col) = col else { continue };
        let example = s
            .attr_str(keys::INPUTS)
            .map(str::to_string)
            .unwrap_or_else(|| s.name.clone());
        let row = match row_of.get(&example) {
            Some(&r) => r,
            None if rows.len() >= GRID_ROWS => {
                more += 1;
                continue;
            }
            None => {
                row_of.insert(example.clone(), rows.len());
                rows.push(GridRow {
                    example,
                    cells: (0..trials.len()).map(|_| None).collect(),
                });
                rows.len() - 1
            }
        };
        let score = s
            .attr_str(keys::INPUTS)
            .and_then(|i| scores.get(&eval)?.get(i).copied());
        rows[row].cells[col] = Some(GridCell {
            span_id: s.span_id.to_hex(),
            status: s.status.as_str(),
            outputs: s.attr_str(keys::OUTPUTS).map(str::to_string),
            score,
        });
    }
    Grid {
        examples: rows,
        more_examples: more,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sigil::trace::{AttrValue, SpanStatus, TraceId};

    fn span(t: TraceId, parent: Option<SpanId>, kind: SpanKind, start: u64) -> Span {
        Span {
            trace_id: t,
            span_id: SpanId::new(),
            parent_id: parent,
            kind,
            name: kind.as_str().into(),
            start_ns: start,
            end_ns: start + 1_000_000,
            status: SpanStatus::Ok,
            attributes: Default::default(),
            events: Vec::new(),
        }
    }

    fn trial(t: TraceId, parent: SpanId, index: i64, kind: &str, score: f64, cost: f64) -> Span {
        let mut s = span(t, Some(parent), SpanKind::Trial, 10 + index as u64);
        for (k, v) in [
            (keys::TRIAL_INDEX, AttrValue::Int(index)),
            (keys::TRIAL_KIND, AttrValue::from(kind)),
            (keys::TRIAL_SCORE, AttrValue::Float(score)),
            (keys::TRIAL_COST_USD, AttrValue::Float(cost)),
            (keys::TRIAL_LM_CALLS, AttrValue::Int(4)),
            (
                keys::TRIAL_CANDIDATE,
                AttrValue::from(
                    r#"{"label":"c","predictors":{"qa":{"instruction":"Be brief.","demo_ids":["a","b"]}}}"#,
                ),
            ),
        ] {
            s.attributes.insert(k.to_string(), v);
        }
        s
    }

    #[test]
    fn a_fine_tuning_run_has_its_epochs_as_the_loss_curve() {
        let t = TraceId::new();
        let compile = span(t, None, SpanKind::Compile, 1);
        let job = span(t, Some(compile.span_id), SpanKind::Finetune, 2);
        let mut spans = vec![compile, job.clone()];
        for (i, loss) in [(1, 2.5), (2, 0.75)] {
            let mut e = span(t, Some(job.span_id), SpanKind::Epoch, 2 + i as u64);
            e.attributes
                .insert(keys::EPOCH_INDEX.into(), AttrValue::Int(i));
            e.attributes
                .insert(keys::EPOCH_LOSS.into(), AttrValue::Float(loss));
            e.attributes
                .insert(keys::EPOCH_TOKENS_PER_S.into(), AttrValue::Float(50.0));
            spans.push(e);
        }
        let v = compile_run_view_at(&t.to_hex(), &spans, 10).unwrap();
        let curve: Vec<_> = v.loss_curve.iter().map(|p| (p.epoch, p.loss)).collect();
        assert_eq!(curve, [(1, Some(2.5)), (2, Some(0.75))]);
        assert_eq!(v.loss_curve[0].tokens_per_s, Some(50.0));
        assert_eq!(
            v.loss_curve[1].finetune_span.as_deref(),
            Some(job.span_id.to_hex().as_str())
        );
    }

    #[test]
    fn a_running_run_sums_its_trials_and_tracks_the_best_full_score() {
        let t = TraceId::new();
        let compile_id = SpanId::new(); // not stored yet: the run is going
        let trials = vec![
            trial(t, compile_id, 1, "full", 0.4, 0.01),
            trial(t, compile_id, 2, "minibatch", 0.9, 0.02),
            trial(t, compile_id, 3, "full", 0.6, 0.03),
        ];
        let eval = span(t, Some(trials[0].span_id), SpanKind::Evaluate, 20);
        let mut call = span(t, Some(eval.span_id), SpanKind::Module, 21);
        call.attributes
            .insert(keys::INPUTS.into(), AttrValue::from(r#"{"q":"x"}"#));
        let mut spans = trials.clone();
        spans.push(eval);
        spans.push(call);

        let latest = spans.iter().map(|s| s.end_ns).max().unwrap();
        let v = compile_run_view_at(&t.to_hex(), &spans, latest + 1_000_000_000).unwrap();
        assert!(v.running);
        assert_eq!(v.status, "running");
        assert!(v.error.is_none());
        // The same spans long after their last activity: the process is gone.
        let stale = latest + INTERRUPTED_AFTER_NS + 60_000_000_000;
        let gone = compile_run_view_at(&t.to_hex(), &spans, stale).unwrap();
        assert!(!gone.running);
        assert_eq!(gone.status, "interrupted");
        assert!(gone.error.unwrap().contains("--resume"));
        let best: Vec<_> = v.trials.iter().map(|t| t.best_so_far).collect();
        assert_eq!(
            best,
            [Some(0.4), Some(0.4), Some(0.6)],
            "minibatches do not count"
        );
        assert_eq!(v.best_score, Some(0.6));
        assert_eq!(v.spend.lm_calls, 12);
        assert!((v.spend.cost_usd - 0.06).abs() < 1e-12);
        assert_eq!(v.trials[0].predictors[0].path, "qa");
        assert_eq!(v.trials[0].predictors[0].demo_ids, ["a", "b"]);
        assert_eq!(v.grid.examples.len(), 1);
        assert!(v.grid.examples[0].cells[0].is_some());
        assert!(v.grid.examples[0].cells[1].is_none());
    }

    #[test]
    fn no_compile_or_trial_spans_is_no_run() {
        let t = TraceId::new();
        assert!(compile_run_view(&t.to_hex(), &[span(t, None, SpanKind::Module, 1)]).is_none());
    }

    #[test]
    fn the_store_lists_unfinished_runs_then_finished_ones() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path().join("runs.db")).unwrap();
        let going = TraceId::new();
        let going_trial = trial(going, SpanId::new(), 1, "full", 0.5, 0.01);
        let done = TraceId::new();
        let mut compile = span(done, None, SpanKind::Compile, 5);
        compile
            .attributes
            .insert(keys::COMPILE_OPTIMIZER.into(), AttrValue::from("random"));
        let done_trial = trial(done, compile.span_id, 1, "full", 0.7, 0.02);
        store
            .write_spans(&[going_trial, compile, done_trial])
            .unwrap();

        let views = store.compile_run_views(0, 20, 100).unwrap();
        let ids: Vec<&str> = views.iter().map(|v| v.trace_id.as_str()).collect();
        assert_eq!(ids, [going.to_hex(), done.to_hex()]);
        assert_eq!(views[0].status, "interrupted", "its spans are from 1970");
        assert_eq!(views[1].optimizer.as_deref(), Some("random"));
        assert_eq!(views[1].best_score, Some(0.7));

        let one = store.compile_run_view(&done.to_hex()).unwrap().unwrap();
        assert_eq!(one.trials.len(), 1);
        assert!(
            store
                .compile_run_view(&TraceId::new().to_hex())
                .unwrap()
                .is_none()
        );
    }
}
