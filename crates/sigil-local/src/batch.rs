//! Continuous batching: one generation is a [`Sequence`] (a state machine fed logits,
//! answering with the next tokens to run), and a worker thread steps every active
//! sequence together through [`Llama::forward_batch`](crate::model::Llama::forward_batch),
//! so concurrent calls share each read of the weights.
//!
//! New requests join the running batch at the next step; long prompts are run in
//! chunks so they do not stall the sequences already decoding.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, TryRecvError};
use std::sync::{Arc, Mutex};

use sigil::lm::LmRequest;
use tokio::sync::mpsc::UnboundedSender;

use crate::constraint::{Grammar, MatchState};
use crate::engine::Model;
use crate::error::{LocalError, Result};
use crate::lm::{Generation, LocalConfig};
use crate::model::{KvCache, SeqInput};
use crate::prefix::PrefixCache;
use crate::sampler::{Rng, SamplingParams, argmax, sample};

/// Prompt tokens run per batched step at most (decoding sequences go first).
const STEP_TOKENS: usize = 512;

/// What a generation needs from its engine.
pub(crate) struct Shared {
    pub model: Arc<Model>,
    pub config: LocalConfig,
    pub prefix: Arc<Mutex<PrefixCache>>,
    /// The most sequences one forward pass has run together.
    pub peak_batch: AtomicUsize,
}

impl Shared {
    pub fn n_ctx(&self) -> usize {
        self.config
            .n_ctx
            .min(self.model.llama.cfg.n_ctx_train)
            .max(16)
    }
}

/// One generation in progress.
pub(crate) struct Sequence {
    prompt: Vec<u32>,
    cache: KvCache,
    /// Tokens to run next, and how many of them already ran (prompt chunks).
    pending: Vec<u32>,
    fed: usize,
    in_prefix_cache: bool,
    cached: usize,
    state: Option<MatchState>,
    params: SamplingParams,
    rng: Rng,
    stop: Vec<String>,
    max_tokens: usize,
    out_tokens: Vec<u32>,
    bytes: Vec<u8>,
    finish: &'static str,
    text_override: Option<String>,
    stream: Option<UnboundedSender<String>>,
    /// Bytes of the answer already sent on `stream`.
    sent: usize,
}

impl Sequence {
    /// Tokenizes the request and looks its prompt up in the prefix cache.
    pub fn new(
        sh: &Shared,
        req: &LmRequest,
        stream: Option<UnboundedSender<String>>,
    ) -> Result<Sequence> {
        let m = &sh.model;
        let prompt = m.template.render(&req.messages)?;
        let tokens = m.tokenizer.encode(&prompt, true);
        if tokens.is_empty() {
            return Err(LocalError::Tokenizer("the prompt is empty".into()));
        }
        let n_ctx = sh.n_ctx();
        let want = req
            .params
            .max_tokens
            .unwrap_or(sh.config.default_max_tokens) as usize;
        if tokens.len() >= n_ctx {
            return Err(LocalError::ContextOverflow {
                prompt: tokens.len(),
                context: n_ctx,
                reserve: 1,
            });
        }
        let max_tokens = want.min(n_ctx - tokens.len());
        let grammar = match &req.constraint {
            Some(c) => Some(Grammar::compile(c)?),
            None => None,
        };
        let params = SamplingParams {
            temperature: req.params.temperature.unwrap_or(0.0) as f32,
            top_p: req.params.top_p.unwrap_or(1.0) as f32,
        };
        let seed = req.params.seed.unwrap_or_else(|| {
            if params.temperature > 0.0 {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_nanos() as u64)
                    .unwrap_or(0)
            } else {
                0
            }
        });
        let rng = Rng::new(seed ^ req.rollout_id.unwrap_or(0).wrapping_mul(0x9e37_79b9));
        let (cache, cached) = match sh.prefix.lock().ok().and_then(|mut p| p.lookup(&tokens)) {
            Some(kv) => {
                let n = kv.len;
                (kv, n)
            }
            None => (m.new_cache(), 0),
        };
        Ok(Sequence {
            pending: tokens[cached..].to_vec(),
            prompt: tokens,
            cache,
            fed: 0,
            in_prefix_cache: sh.config.prefix_cache_bytes == 0,
            cached,
            state: grammar.as_ref().map(Grammar::start),
            params,
            rng,
            stop: req
                .params
                .stop
                .iter()
                .filter(|s| !s.is_empty())
                .cloned()
                .collect(),
            max_tokens,
            out_tokens: Vec::new(),
            bytes: Vec::new(),
            finish: "length",
            text_override: None,
            stream,
            sent: 0,
        })
    }

    fn remaining(&self) -> usize {
        self.pending.len() - self.fed
    }

    /// Called with the logits of the last pending token once all of them ran: picks
    /// what to run next. Returns `true` when the generation is over.
    fn advance(&mut self, sh: &Shared, logits: &[f32]) -> bool {
        if !self.in_prefix_cache {
            self.in_prefix_cache = true;
            if let Ok(mut p) = sh.prefix.lock() {
                p.insert(&self.prompt, &self.cache);
            }
        }
        self.pending.clear();
        self.fed = 0;
        let done = self.choose(&sh.model, logits);
        self.send_delta(done);
        done
    }

    fn choose(&mut self, m: &Model, logits: &[f32]) -> bool {
        let tk = &m.tokenizer;
        if self.out_tokens.len() >= self.max_tokens {
            return true;
        }
        if let Some(st) = &self.state
            && st.finished()
        {
            self.finish = "stop";
            return true;
        }
        // A literal the constraint forces (field headers, separators, JSON keys):
        // append its tokens and run them as one batch instead of sampling each.
        if let Some(st) = &mut self.state {
            let forced = st.forced().to_string();
            if forced.chars().count() >= 2 {
                let toks = tk.encode(&forced, false);
                if !toks.is_empty()
                    && self.out_tokens.len() + toks.len() <= self.max_tokens
                    && st.feed(&forced)
                {
                    self.out_tokens.extend_from_slice(&toks);
                    self.bytes.extend_from_slice(forced.as_bytes());
                    if st.finished() {
                        self.finish = "stop";
                        return true;
                    }
                    if self.out_tokens.len() >= self.max_tokens {
                        return true;
                    }
                    self.pending = toks;
                    return false;
                }
            }
        }
        let picked = match &self.state {
            None => {
                let mut cands: Vec<(u32, f32)> = if self.params.temperature <= 0.0 {
                    vec![(argmax(logits), 0.0)]
                } else {
                    logits
                        .iter()
                        .enumerate()
                        .map(|(i, &l)| (i as u32, l))
                        .collect()
                };
                Some(sample(&mut cands, &self.params, &mut self.rng).unwrap_or(tk.eos))
            }
            Some(st) => {
                let mut cands = allowed_candidates(m, st, logits, &self.params);
                sample(&mut cands, &self.params, &mut self.rng)
            }
        };
        let Some(tok) = picked else {
            // No token continues the constraint: finish it by text.
            self.finish = "stop";
            return true;
        };
        if tk.stop_tokens.contains(&tok) {
            self.finish = "stop";
            return true;
        }
        self.out_tokens.push(tok);
        self.bytes.extend_from_slice(tk.token_bytes(tok));
        if let Some(st) = &mut self.state {
            let s = std::str::from_utf8(tk.token_bytes(tok)).unwrap_or("");
            st.feed(s);
        }
        if !self.stop.is_empty() {
            let text = String::from_utf8_lossy(&self.bytes);
            if let Some(pos) = self.stop.iter().filter_map(|s| text.find(s.as_str())).min() {
                self.text_override = Some(text[..pos].to_string());
                self.finish = "stop";
                return true;
            }
        }
        if self.out_tokens.len() >= self.max_tokens {
            return true;
        }
        self.pending = vec![tok];
        false
    }

    /// The final text: stop sequences cut, an unfinished constraint completed.
    fn final_text(&self) -> String {
        let mut text = self
            .text_override
            .clone()
            .unwrap_or_else(|| String::from_utf8_lossy(&self.bytes).into_owned());
        if let Some(st) = &self.state
            && !st.accepting()
        {
            // Out of budget (or stopped) mid-structure: complete it so the answer parses.
            text.push_str(&st.completion());
        }
        text
    }

    /// Sends the text that can no longer change: complete UTF-8, and short of the
    /// longest stop sequence (which could still begin there) until the end.
    fn send_delta(&mut self, done: bool) {
        let Some(tx) = &self.stream else { return };
        let (upto, text) = if done {
            let t = self.final_text();
            (t.len(), t)
        } else {
            let valid = match std::str::from_utf8(&self.bytes) {
                Ok(s) => s.len(),
                Err(e) => e.valid_up_to(),
            };
            let hold = self.stop.iter().map(String::len).max().unwrap_or(1) - 1;
            let t = String::from_utf8_lossy(&self.bytes[..valid]).into_owned();
            let mut upto = valid.saturating_sub(hold);
            while !t.is_char_boundary(upto) {
                upto -= 1;
            }
            (upto, t)
        };
        if upto > self.sent
            && let Some(delta) = text.get(self.sent..upto)
        {
            // A closed receiver (client gone) only means nobody reads the rest.
            let _ = tx.send(delta.to_string());
            self.sent = upto;
        }
    }

    pub fn into_generation(self) -> Generation {
        Generation {
            text: self.final_text(),
            tokens: self.out_tokens,
            finish_reason: self.finish,
            prompt_tokens: self.prompt.len(),
            cached_tokens: self.cached,
        }
    }

    /// Runs this sequence alone to the end (blocking; uses every core).
    pub fn run_alone(mut self, sh: &Shared) -> Result<Generation> {
        loop {
            let logits = sh.model.llama.forward(&self.pending, &mut self.cache)?;
            if self.advance(sh, &logits) {
                return Ok(self.into_generation());
            }
        }
    }
}

/// The tokens the constraint allows next, best logits first: the top 512 by logit,
/// then (rarely) the rest. One candidate when greedy, up to 64 when sampling.
fn allowed_candidates(
    m: &Model,
    st: &MatchState,
    logits: &[f32],
    params: &SamplingParams,
) -> Vec<(u32, f32)> {
    let tk = &m.tokenizer;
    let limit = if params.temperature <= 0.0 { 1 } else { 64 };
    let by_logit = |a: &u32, b: &u32| {
        logits[*b as usize]
            .total_cmp(&logits[*a as usize])
            .then(a.cmp(b))
    };
    let mut order: Vec<u32> = (0..logits.len() as u32).collect();
    let top = 512.min(order.len());
    if top < order.len() {
        order.select_nth_unstable_by(top, by_logit);
    }
    order[..top].sort_unstable_by(by_logit);
    let mut cands = Vec::new();
    for phase in 0..2 {
        let range = if phase == 0 {
            0..top
        } else {
            if !cands.is_empty() || top == order.len() {
                break;
            }
            order[top..].sort_unstable_by(by_logit);
            top..order.len()
        };
        for &t in &order[range] {
            let ok = if tk.stop_tokens.contains(&t) {
                st.accepting()
            } else {
                let b = tk.token_bytes(t);
                !b.is_empty() && std::str::from_utf8(b).is_ok_and(|s| st.clone().feed(s))
            };
            if ok {
                cands.push((t, logits[t as usize]));
                if cands.len() >= limit {
                    break;
                }
            }
        }
    }
    cands
}

/// A request waiting for the batch worker.
pub(crate) struct Job {
    pub request: LmRequest,
    pub stream: Option<UnboundedSender<String>>,
    pub reply: tokio::sync::oneshot::Sender<Result<Generation>>,
}

struct Active {
    seq: Sequence,
    reply: tokio::sync::oneshot::Sender<Result<Generation>>,
}

/// The batch worker: runs until every sender of `jobs` is dropped.
pub(crate) fn worker(sh: Arc<Shared>, jobs: Receiver<Job>) {
    let max_batch = sh.config.max_batch.max(1);
    let mut active: Vec<Active> = Vec::new();
    loop {
        if active.is_empty() {
            match jobs.recv() {
                Ok(j) => admit(&sh, j, &mut active),
                Err(_) => return,
            }
        }
        while active.len() < max_batch {
            match jobs.try_recv() {
                Ok(j) => admit(&sh, j, &mut active),
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => {
                    if active.is_empty() {
                        return;
                    }
                    break;
                }
            }
        }
        if !active.is_empty() {
            step(&sh, &mut active);
        }
    }
}

fn admit(sh: &Shared, job: Job, active: &mut Vec<Active>) {
    match Sequence::new(sh, &job.request, job.stream) {
        Ok(seq) => active.push(Active {
            seq,
            reply: job.reply,
        }),
        Err(e) => {
            let _ = job.reply.send(Err(e));
        }
    }
}

/// How many pending tokens each sequence runs this step: fewest-remaining first
/// (decoding sequences need one), within `budget` tokens; the first always runs.
fn plan_step(remaining: &[usize], budget: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..remaining.len()).collect();
    order.sort_by_key(|&i| remaining[i]);
    let mut take = vec![0usize; remaining.len()];
    let mut used = 0;
    for &i in &order {
        let n = if used == 0 {
            remaining[i].min(budget.max(1))
        } else {
            remaining[i].min(budget.saturating_sub(used))
        };
        take[i] = n;
        used += n;
    }
    take
}

/// One batched forward pass over every active sequence (prompt chunks within
/// [`STEP_TOKENS`], decoding sequences first), then each sequence that ran all its
/// pending tokens picks its next ones; finished ones are answered and dropped.
fn step(sh: &Shared, active: &mut Vec<Active>) {
    let remaining: Vec<usize> = active.iter().map(|a| a.seq.remaining()).collect();
    let take = plan_step(&remaining, STEP_TOKENS);
    let ran: Vec<usize> = (0..active.len()).filter(|&i| take[i] > 0).collect();
    sh.peak_batch.fetch_max(ran.len(), Ordering::Relaxed);
    let result = {
        let mut inputs: Vec<SeqInput<'_>> = Vec::with_capacity(ran.len());
        for (i, a) in active.iter_mut().enumerate() {
            if take[i] > 0 {
                let s = &mut a.seq;
                inputs.push(SeqInput {
                    tokens: &s.pending[s.fed..s.fed + take[i]],
                    cache: &mut s.cache,
                });
            }
        }
        sh.model.llama.forward_batch(&mut inputs)
    };
    let logits = match result {
        Ok(l) => l,
        Err(e) => {
            // Fail the sequences of this pass; the others go on.
            let msg = e.to_string();
            for &i in ran.iter().rev() {
                let a = active.swap_remove(i);
                let _ = a
                    .reply
                    .send(Err(LocalError::Malformed(format!("forward pass: {msg}"))));
            }
            return;
        }
    };
    let mut done = Vec::new();
    for (&i, l) in ran.iter().zip(&logits) {
        let s = &mut active[i].seq;
        s.fed += take[i];
        if s.remaining() == 0 && s.advance(sh, l) {
            done.push(i);
        }
    }
    for &i in done.iter().rev() {
        let a = active.swap_remove(i);
        let _ = a.reply.send(Ok(a.seq.into_generation()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decoding_sequences_run_first_and_prompts_fill_the_budget() {
        assert_eq!(plan_step(&[700, 1, 1, 300], 512), vec![210, 1, 1, 300]);
        assert_eq!(plan_step(&[700, 900], 512), vec![512, 0]);
        assert_eq!(plan_step(&[1, 1, 1], 2), vec![1, 1, 0]);
        assert_eq!(plan_step(&[5], 0), vec![1]);
    }
}
