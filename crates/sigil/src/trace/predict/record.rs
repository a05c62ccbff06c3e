//! A `Predict` call as a collector receives it, and how the collector's thread turns
//! it into spans. The record carries what each step produced (the user turns, the
//! completion, the parsed fields or the error): nothing is formatted or parsed again.

use std::sync::Arc;

use super::arena::{Arena, At};

use super::super::hooks::{
    EndData, ErrorInfo, Ids, LmInput, ModuleOutput, OwnedEnd, OwnedStart, StartData,
};
use super::super::ids::SpanId;
use super::super::program::ProgramInfo;
use super::super::span::SpanEvent;
use crate::adapter::Fields;
use crate::data::Example;
use crate::lm::{Lm, LmParams, LmResponse, Message, ToolSpec, Usage};

/// How far an attempt got.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Stage {
    Format,
    Lm,
    Parse,
    Done,
}

/// One format → LM → parse attempt, as a collector keeps it.
#[derive(Clone)]
pub(super) struct Attempt {
    pub(super) format_id: SpanId,
    pub(super) lm_id: SpanId,
    pub(super) parse_id: SpanId,
    /// Format start, format end = LM start, LM end = parse start, parse end.
    pub(super) t: [u64; 4],
    /// The adapter's name (`chat`, `json`).
    pub(super) adapter: &'static str,
    pub(super) demos: usize,
    pub(super) fallback: bool,
    /// Where the attempt stopped; `error` says why when it failed there.
    pub(super) stage: Stage,
    pub(super) error: Option<Box<ErrorInfo>>,
    pub(super) messages: usize,
    pub(super) prefix: Option<Arc<[Message]>>,
    /// The turns the format step added after the cached prefix (the user turn).
    pub(super) turns: Turns,
    pub(super) lm: Option<Arc<dyn Lm>>,
    pub(super) params: LmParams,
    /// The tools offered for native tool calling.
    pub(super) tools: Vec<ToolSpec>,
    pub(super) constraint: Option<&'static str>,
    pub(super) response: Held<LmResponse>,
    pub(super) parsed_ok: bool,
}

/// The call's own data a record held until it was queued: dropped by the caller after
/// the queue's lock is released, on the thread that allocated it.
#[derive(Default)]
pub(crate) struct Detached {
    pub(crate) inputs: Option<Arc<Example>>,
    pub(crate) response: Option<Arc<LmResponse>>,
}

/// Where an attempt's turns are. The format step copies them into the record's own
/// scratch buffer at once (the buffer keeps its capacity from call to call, so this
/// allocates nothing, where cloning the messages allocated twice); queuing the record
/// copies the buffer into the queue's arena.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Turns {
    None,
    Scratch(At),
    Copied(At),
}

/// Data of the call's own: held until the record is queued, then copied into the
/// queue's [`Arena`] and dropped on the calling thread (the arena's docs say why).
#[derive(Clone, Debug)]
pub(crate) enum Held<T> {
    None,
    Call(Arc<T>),
    Copied(At),
}

#[derive(Clone)]
pub(super) enum Outcome {
    Ok {
        usage: Usage,
        lm_calls: u32,
        fallbacks: u32,
    },
    Err(ErrorInfo),
    Cancelled,
}

/// A whole `Predict` call for a collector.
#[derive(Clone)]
pub(crate) struct PredictRecord {
    pub(super) ids: Ids,
    /// Moved in when the call ends (`None` only while pending).
    pub(super) name: Option<Arc<str>>,
    pub(super) start_ns: u64,
    pub(super) end_ns: u64,
    pub(super) program: Option<Arc<ProgramInfo>>,
    pub(super) inputs: Held<Example>,
    /// The parsed fields of the attempt that parsed (the call's outputs).
    pub(super) outputs: Held<Fields>,
    pub(super) first: Option<Attempt>,
    pub(super) more: Vec<Attempt>,
    pub(super) outcome: Outcome,
    pub(super) events: Vec<SpanEvent>,
    /// The attempts' turns until the record is queued ([`Turns`]).
    pub(super) scratch: Arena,
}

impl std::fmt::Debug for PredictRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PredictRecord")
            .field("ids", &self.ids)
            .field("name", &self.name)
            .finish()
    }
}

fn attempt_spans(a: &Attempt) -> usize {
    match a.stage {
        Stage::Format => 1,
        Stage::Lm => 2,
        Stage::Parse | Stage::Done => 3,
    }
}

impl PredictRecord {
    /// An empty record (nothing allocated).
    pub(crate) fn blank() -> Self {
        PredictRecord {
            ids: Ids {
                trace_id: super::super::ids::TraceId(0),
                span_id: SpanId(0),
                parent_id: None,
            },
            name: None,
            start_ns: 0,
            end_ns: 0,
            program: None,
            inputs: Held::None,
            outputs: Held::None,
            first: None,
            more: Vec::new(),
            outcome: Outcome::Cancelled,
            events: Vec::new(),
            scratch: Arena::default(),
        }
    }

    /// Blanks the record for the thread's next call, keeping its scratch buffer.
    pub(crate) fn reset(&mut self) {
        let mut scratch = std::mem::take(&mut self.scratch);
        scratch.clear();
        *self = PredictRecord::blank();
        self.scratch = scratch;
    }

    /// Takes the record's contents out (to queue them), leaving it blank with its
    /// scratch buffer (emptied).
    pub(crate) fn take(&mut self) -> PredictRecord {
        let mut taken = std::mem::replace(self, PredictRecord::blank());
        self.scratch = std::mem::take(&mut taken.scratch);
        self.scratch.clear();
        taken
    }

    pub(crate) fn span_count(&self) -> usize {
        1 + self.attempts().map(attempt_spans).sum::<usize>()
    }

    fn attempts(&self) -> impl Iterator<Item = &Attempt> {
        self.first.iter().chain(self.more.iter())
    }

    /// Copies the call's inputs, turns, responses and `outputs` (its parsed fields,
    /// borrowed from the prediction) into `arena`. Returns the call's own data that the
    /// record held, for the caller to drop once it has released the queue.
    pub(crate) fn detach(&mut self, arena: &mut Arena, outputs: Option<&Fields>) -> Detached {
        let mut own = Detached::default();
        let base = arena.append(&self.scratch);
        if let Held::Call(e) = std::mem::replace(&mut self.inputs, Held::None) {
            self.inputs = Held::Copied(arena.put_example(&e));
            own.inputs = Some(e);
        }
        if let Some(f) = outputs {
            self.outputs = Held::Copied(arena.put_fields(f));
        }
        for (k, a) in self
            .first
            .iter_mut()
            .chain(self.more.iter_mut())
            .enumerate()
        {
            if let Turns::Scratch(at) = a.turns {
                a.turns = Turns::Copied(at.shifted(base));
            }
            if let Held::Call(r) = &a.response {
                let copy = arena.put_response(r);
                if let Held::Call(r) = std::mem::replace(&mut a.response, Held::Copied(copy))
                    && k == 0
                {
                    own.response = Some(r);
                }
            }
        }
        own
    }

    /// The call's spans as start/end pairs, children first. `arena` holds the copies
    /// [`PredictRecord::detach`] made.
    pub(crate) fn expand(&self, arena: &Arena, out: &mut Vec<(OwnedStart, OwnedEnd)>) {
        let inputs = Arc::new(match &self.inputs {
            Held::None => Example::default(),
            Held::Call(e) => (**e).clone(),
            Held::Copied(at) => arena.example(*at),
        });
        let start = |id: SpanId, name: Arc<str>, t: u64, data: StartData| OwnedStart {
            trace_id: self.ids.trace_id,
            call_id: id,
            parent_id: Some(self.ids.span_id),
            name,
            start_ns: t,
            data,
            program: self.program.clone(),
        };
        let end = |t: u64, data: EndData| OwnedEnd {
            end_ns: t,
            data,
            events: Vec::new(),
            attributes: Vec::new(),
        };
        let cancelled = matches!(self.outcome, Outcome::Cancelled);
        // A failed or open step ends with its error, or as cancelled.
        let failed = |a: &Attempt, ok: EndData, at: Stage| -> EndData {
            if a.stage != at {
                return ok;
            }
            match &a.error {
                Some(e) => match at {
                    Stage::Format => EndData::Format(Err((**e).clone())),
                    _ => EndData::Lm(Err((**e).clone())),
                },
                None if cancelled => EndData::Cancelled,
                None => ok,
            }
        };
        let outputs: Arc<Fields> = Arc::new(match &self.outputs {
            Held::None => Fields::new(),
            Held::Call(f) => (**f).clone(),
            Held::Copied(at) => arena.fields(*at),
        });
        for a in self.attempts() {
            let name = |step| crate::trace::adapter_step_name(a.adapter, step);
            let response = match &a.response {
                Held::None => None,
                Held::Call(r) => Some(r.clone()),
                Held::Copied(at) => Some(Arc::new(arena.response(*at))),
            };
            out.push((
                start(
                    a.format_id,
                    name("format"),
                    a.t[0],
                    StartData::Format {
                        adapter: a.adapter,
                        demos: a.demos,
                        inputs: inputs.clone(),
                    },
                ),
                end(
                    a.t[1],
                    failed(a, EndData::Format(Ok(a.messages)), Stage::Format),
                ),
            ));
            if a.stage == Stage::Format {
                continue;
            }
            let (model_id, lm_name) = match &a.lm {
                Some(lm) => crate::trace::lm_span_names(&lm.model_id()),
                None => (Arc::from(""), Arc::from("chat")),
            };
            let turns = match a.turns {
                Turns::None => Vec::new(),
                Turns::Scratch(at) => self.scratch.messages(at),
                Turns::Copied(at) => arena.messages(at),
            };
            let lm_end = match &response {
                Some(r) => EndData::Lm(Ok(r.clone())),
                None => EndData::Cancelled,
            };
            out.push((
                start(
                    a.lm_id,
                    lm_name,
                    a.t[1],
                    StartData::Lm {
                        model_id,
                        input: Arc::new(LmInput {
                            prefix: a.prefix.clone().unwrap_or_else(|| Arc::from(Vec::new())),
                            turns,
                            params: a.params.clone(),
                            constraint: a.constraint,
                            tools: a.tools.clone(),
                        }),
                    },
                ),
                end(a.t[2], failed(a, lm_end, Stage::Lm)),
            ));
            if a.stage == Stage::Lm {
                continue;
            }
            let completion: Arc<str> = response
                .as_ref()
                .map(|r| Arc::from(r.text.as_str()))
                .unwrap_or_else(|| Arc::from(""));
            let parse_end = match (&a.error, a.stage) {
                (_, Stage::Parse) => EndData::Cancelled,
                (Some(e), _) => EndData::Parse(Err((**e).clone())),
                (None, _) if a.parsed_ok => EndData::Parse(Ok(outputs.clone())),
                (None, _) => EndData::Parse(Ok(Arc::new(Fields::new()))),
            };
            out.push((
                start(
                    a.parse_id,
                    name("parse"),
                    a.t[2],
                    StartData::Parse {
                        adapter: a.adapter,
                        completion,
                        fallback: a.fallback,
                    },
                ),
                end(a.t[3], parse_end),
            ));
        }
        let module_end = match &self.outcome {
            Outcome::Ok {
                usage,
                lm_calls,
                fallbacks,
            } => EndData::Module(Ok(ModuleOutput {
                outputs,
                usage: *usage,
                lm_calls: *lm_calls,
                fallbacks: *fallbacks,
            })),
            Outcome::Err(e) => EndData::Module(Err(e.clone())),
            Outcome::Cancelled => EndData::Cancelled,
        };
        out.push((
            OwnedStart {
                trace_id: self.ids.trace_id,
                call_id: self.ids.span_id,
                parent_id: self.ids.parent_id,
                name: match &self.name {
                    Some(n) if !n.is_empty() => n.clone(),
                    _ => Arc::from("Predict"),
                },
                start_ns: self.start_ns,
                data: StartData::Module {
                    inputs: inputs.clone(),
                },
                program: self.program.clone(),
            },
            OwnedEnd {
                end_ns: self.end_ns,
                data: module_end,
                events: self.events.clone(),
                attributes: Vec::new(),
            },
        ));
    }
}

impl PredictRecord {
    /// Gives the record its own copy of the call's outputs (for a second collector).
    pub(crate) fn set_outputs(&mut self, outputs: Option<&Fields>) {
        self.outputs = match outputs {
            Some(f) => Held::Call(Arc::new(f.clone())),
            None => Held::None,
        };
    }

    pub(super) fn current(&mut self) -> Option<&mut Attempt> {
        match self.more.last_mut() {
            Some(a) => Some(a),
            None => self.first.as_mut(),
        }
    }
}

thread_local! {
    /// Boxes a call fills its record in, for this thread's next calls: in steady state
    /// a traced call allocates no record. (Boxes, so that the trace moves a pointer
    /// until the record is queued.)
    #[allow(clippy::vec_box)]
    static SPARE: std::cell::RefCell<Vec<Box<PredictRecord>>> = const { std::cell::RefCell::new(Vec::new()) };
}

pub(super) fn recycled_box() -> Box<PredictRecord> {
    SPARE
        .try_with(|s| s.borrow_mut().pop())
        .ok()
        .flatten()
        .unwrap_or_else(|| Box::new(PredictRecord::blank()))
}

/// Keeps a record's box (blank, once the record was queued) for a later call.
pub(super) fn reuse(record: Box<PredictRecord>) {
    let _ = SPARE.try_with(|s| {
        let mut s = s.borrow_mut();
        if s.len() < 4 {
            s.push(record);
        }
    });
}
