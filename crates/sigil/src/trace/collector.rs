//! The span collector: a hook that queues event pairs on the calling task and builds,
//! rolls up and delivers spans on its own thread, so sinks never slow a call down.

use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use super::convert::span_from_events;
use super::hooks::{EndData, Hook, OwnedEnd, OwnedStart, SpanRecord};
use super::ids::SpanId;
use super::predict::{Arena, PredictRecord};
use super::privacy::Privacy;
use super::span::{Span, keys};
use crate::adapter::Fields;
use crate::lm::Usage;

/// Why a sink could not take a batch.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct SinkError(pub String);

/// Where finished spans go: the SQLite store, the OTLP exporter, memory.
///
/// Called on the collector's thread with batches in end order (a child before its
/// parent). A sink that fails or panics is reported once; the others still get spans.
pub trait SpanSink: Send + Sync {
    /// Takes a batch of finished spans.
    fn export(&self, spans: &[Span]) -> Result<(), SinkError>;
    /// Makes everything exported so far durable or sent.
    fn flush(&self) -> Result<(), SinkError> {
        Ok(())
    }
    /// A short name for problem reports.
    fn name(&self) -> &str {
        "sink"
    }
}

/// Keeps spans in memory (tests, the optimizers' in-process capture).
#[derive(Default)]
pub struct MemorySink {
    spans: Mutex<Vec<Span>>,
}

impl MemorySink {
    /// A copy of the spans received so far.
    pub fn spans(&self) -> Vec<Span> {
        lock(&self.spans).clone()
    }
    /// The spans received so far, leaving the sink empty.
    pub fn take(&self) -> Vec<Span> {
        std::mem::take(&mut *lock(&self.spans))
    }
}

impl SpanSink for MemorySink {
    fn export(&self, spans: &[Span]) -> Result<(), SinkError> {
        lock(&self.spans).extend_from_slice(spans);
        Ok(())
    }
    fn name(&self) -> &str {
        "memory"
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A poisoned lock means a panic while holding it; the data is still usable.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Counters of a collector's work.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CollectorStats {
    /// Spans ended while the collector was registered.
    pub received: u64,
    /// Spans handed to the sinks.
    pub delivered: u64,
    /// Spans dropped because the queue was full (sinks too slow).
    pub dropped: u64,
    /// Batches a sink refused.
    pub sink_errors: u64,
}

/// What a collector receives from the calling task: one generic span, or a whole
/// `Predict` call (its module, format, LM and parse spans) as the pointers the call
/// already held. Spans are built from records on the collector's thread. A `Predict`
/// record is stored in the queue itself (no allocation per call).
#[derive(Clone, Debug)]
#[allow(clippy::large_enum_variant)]
pub(crate) enum Record {
    Span(Box<SpanRecord>),
    Predict(PredictRecord),
}

impl Record {
    fn span_count(&self) -> usize {
        match self {
            Record::Span(_) => 1,
            Record::Predict(p) => p.span_count(),
        }
    }
}

/// A collector's queue, as the hooks of a ctx hold it.
#[doc(hidden)]
#[derive(Clone)]
pub struct SpanQueue(Arc<Shared>);

impl SpanQueue {
    /// Queues a generic span record.
    #[inline]
    pub(crate) fn push(&self, record: Record) {
        let n = record.span_count();
        self.push_with(n, |q| {
            q.items.push(record);
            None::<()>
        });
    }

    /// The hot path: queues a `Predict` record, leaving `record` blank for the calling
    /// thread's next call. The record's inputs and response are copied into the queue's
    /// arena, and the call's own are freed here, once the lock is released. (Taking the
    /// record by reference saves copying it from frame to frame on the way in.)
    #[inline]
    pub(crate) fn push_predict(&self, record: &mut PredictRecord, outputs: Option<&Fields>) {
        let n = record.span_count();
        let queued = self.push_with(n, |q| {
            let detached = record.detach(&mut q.arena, outputs);
            q.items.push(Record::Predict(record.take()));
            Some(detached)
        });
        if !queued {
            record.reset();
        }
    }

    /// An uncontended lock and `put` (unless the queue is full or shut down). What
    /// `put` returns is dropped after the lock is released.
    #[inline]
    fn push_with<D>(&self, n: usize, put: impl FnOnce(&mut Queue) -> Option<D>) -> bool {
        let shared = &self.0;
        let mut q = lock(&shared.queue);
        if q.shutdown {
            return false;
        }
        q.received += n as u64;
        if q.spans >= shared.max_queue {
            drop(q);
            shared.dropped.fetch_add(n as u64, Ordering::Relaxed);
            if !shared.drop_reported.swap(true, Ordering::Relaxed) {
                eprintln!(
                    "sigil: trace queue full ({} spans): sinks are slower than the program; dropping spans (see SpanCollector::stats); reported once",
                    shared.max_queue
                );
            }
            return false;
        }
        let before = q.spans;
        q.spans += n;
        let detached = put(&mut q);
        if before < shared.batch_size && q.spans >= shared.batch_size {
            shared.wake.notify_one();
        }
        // Drop two used records per new one (outside the lock), so the graveyard drains
        // at twice the rate it fills.
        let dead = (q.graveyard.pop(), q.graveyard.pop());
        drop(q);
        drop(detached);
        drop(dead);
        true
    }
}

struct Queue {
    items: Vec<Record>,
    /// Copies of the `Predict` records' inputs and responses.
    arena: Arena,
    /// Spans in `items`.
    spans: usize,
    /// Spans received (under the lock, so counting costs no atomic).
    received: u64,
    /// Generic span records already turned into spans, handed back to be dropped by
    /// the calling threads that allocated their data: freeing memory on the thread that
    /// allocated it is much cheaper with the system allocator than freeing it here.
    /// (`Predict` records own no memory of the call's, so they are dropped here: the
    /// callers need not read them back.)
    graveyard: Vec<Record>,
    flush_requested: u64,
    flushed: u64,
    shutdown: bool,
}

struct Shared {
    queue: Mutex<Queue>,
    wake: Condvar,
    flushed: Condvar,
    batch_size: usize,
    max_queue: usize,
    delivered: AtomicU64,
    dropped: AtomicU64,
    sink_errors: AtomicU64,
    drop_reported: AtomicBool,
}

/// Configures a [`SpanCollector`].
pub struct CollectorBuilder {
    sinks: Vec<Arc<dyn SpanSink>>,
    privacy: Privacy,
    batch_size: usize,
    interval: Duration,
    max_queue: usize,
}

impl CollectorBuilder {
    /// Adds a sink; every sink gets every span.
    pub fn sink(mut self, sink: Arc<dyn SpanSink>) -> Self {
        self.sinks.push(sink);
        self
    }
    /// What spans may record (default: everything, secrets redacted).
    pub fn privacy(mut self, privacy: Privacy) -> Self {
        self.privacy = privacy;
        self
    }
    /// Spans per delivered batch (default 1024): the collector wakes when this many wait.
    pub fn batch_size(mut self, n: usize) -> Self {
        self.batch_size = n.max(1);
        self
    }
    /// The longest a span waits before delivery (default 200 ms).
    pub fn interval(mut self, d: Duration) -> Self {
        self.interval = d;
        self
    }
    /// Spans held while sinks catch up (default 200,000); beyond it spans are dropped and counted.
    pub fn max_queue(mut self, n: usize) -> Self {
        self.max_queue = n.max(1);
        self
    }

    /// Starts the collector's thread. Register the collector on a ctx with `Ctx::with_hook`.
    pub fn build(self) -> Arc<SpanCollector> {
        let shared = Arc::new(Shared {
            queue: Mutex::new(Queue {
                items: Vec::with_capacity(self.batch_size),
                arena: Arena::default(),
                spans: 0,
                received: 0,
                graveyard: Vec::new(),
                flush_requested: 0,
                flushed: 0,
                shutdown: false,
            }),
            wake: Condvar::new(),
            flushed: Condvar::new(),
            batch_size: self.batch_size,
            max_queue: self.max_queue,
            delivered: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            sink_errors: AtomicU64::new(0),
            drop_reported: AtomicBool::new(false),
        });
        let worker = Worker {
            shared: shared.clone(),
            sinks: self.sinks.into_iter().map(|s| (s, false)).collect(),
            privacy: self.privacy,
            interval: self.interval,
            pending: HashMap::new(),
        };
        let handle = std::thread::Builder::new()
            .name("sigil-trace".into())
            .spawn(move || worker.run());
        let handle = match handle {
            Ok(h) => Some(h),
            Err(e) => {
                eprintln!(
                    "sigil: cannot start the trace collector thread ({e}); spans will not be recorded"
                );
                None
            }
        };
        Arc::new(SpanCollector {
            shared,
            handle: Mutex::new(handle),
        })
    }
}

/// The hook that builds [`Span`]s and delivers them to [`SpanSink`]s.
///
/// On the calling task it only queues the event pair (a few pointer copies and an
/// uncontended lock); attributes, privacy, roll-ups and delivery run on the
/// collector's thread. Roll-ups: every module, evaluate, compile, trial and tool span
/// gets `sigil.usage.*` = the tokens and cost of all LM calls beneath it.
pub struct SpanCollector {
    shared: Arc<Shared>,
    handle: Mutex<Option<JoinHandle<()>>>,
}

impl SpanCollector {
    /// A builder with no sinks and the defaults below.
    pub fn builder() -> CollectorBuilder {
        CollectorBuilder {
            sinks: Vec::new(),
            privacy: Privacy::default(),
            batch_size: 1024,
            interval: Duration::from_millis(200),
            max_queue: 200_000,
        }
    }

    /// Delivers every span ended so far and flushes the sinks; waits at most 60 s.
    pub fn flush(&self) {
        let mut q = lock(&self.shared.queue);
        if q.shutdown {
            return;
        }
        q.flush_requested += 1;
        let want = q.flush_requested;
        self.shared.wake.notify_one();
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while q.flushed < want && !q.shutdown {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                eprintln!("sigil: trace flush timed out after 60 s");
                return;
            }
            q = self
                .shared
                .flushed
                .wait_timeout(q, left)
                .map(|(g, _)| g)
                .unwrap_or_else(|e| e.into_inner().0);
        }
    }

    /// Delivers what is queued, flushes the sinks and stops the thread. Spans ended
    /// afterwards are dropped. Also runs when the last reference is dropped.
    pub fn shutdown(&self) {
        {
            let mut q = lock(&self.shared.queue);
            q.shutdown = true;
            self.shared.wake.notify_one();
        }
        if let Some(h) = lock(&self.handle).take() {
            let _ = h.join();
        }
    }

    /// The counters so far.
    pub fn stats(&self) -> CollectorStats {
        CollectorStats {
            received: lock(&self.shared.queue).received,
            delivered: self.shared.delivered.load(Ordering::Relaxed),
            dropped: self.shared.dropped.load(Ordering::Relaxed),
            sink_errors: self.shared.sink_errors.load(Ordering::Relaxed),
        }
    }
}

impl Drop for SpanCollector {
    fn drop(&mut self) {
        self.shutdown();
    }
}

impl Hook for SpanCollector {
    /// The collector takes owned records through its queue, not the borrowed events.
    fn span_queue(&self) -> Option<SpanQueue> {
        Some(SpanQueue(self.shared.clone()))
    }
}

/// The largest batches of late (records and arena bytes), forgotten slowly.
#[derive(Clone, Copy, Default)]
struct Recent {
    records: usize,
    bytes: usize,
}

impl Recent {
    fn decay(self, records: usize, bytes: usize) -> Recent {
        Recent {
            records: records.max(self.records - self.records / 16),
            bytes: bytes.max(self.bytes - self.bytes / 16),
        }
    }
}

struct Worker {
    shared: Arc<Shared>,
    /// Each sink and whether its failure was reported.
    sinks: Vec<(Arc<dyn SpanSink>, bool)>,
    privacy: Privacy,
    interval: Duration,
    /// Usage of ended children, by parent span id, until the parent ends.
    pending: HashMap<SpanId, (Usage, u64)>,
}

impl Worker {
    fn run(mut self) {
        let mut spare: Vec<Record> = Vec::with_capacity(self.shared.batch_size);
        let mut spare_arena = Arena::default();
        let mut recent = Recent::default();
        loop {
            // Double buffering: the queue and the batch being delivered swap vectors, so
            // the callers push into capacity that is already there (no reallocations,
            // and no large blocks freed on this thread that the callers allocated).
            let (flush_to, shutdown) = {
                let mut q = lock(&self.shared.queue);
                if q.spans < self.shared.batch_size && q.flush_requested == q.flushed && !q.shutdown
                {
                    q = self
                        .shared
                        .wake
                        .wait_timeout(q, self.interval)
                        .map(|(g, _)| g)
                        .unwrap_or_else(|e| e.into_inner().0);
                }
                std::mem::swap(&mut q.items, &mut spare);
                std::mem::swap(&mut q.arena, &mut spare_arena);
                q.spans = 0;
                (q.flush_requested, q.shutdown)
            };
            recent = recent.decay(spare.len(), spare_arena.len());
            if !spare.is_empty() {
                self.deliver(&mut spare, &spare_arena);
            }
            spare_arena.clear();
            // The buffers keep their capacity, so the callers' pushes rarely grow them
            // (growing touches fresh pages, which costs the caller); what a past burst
            // left is given back once batches have been small for a while.
            if spare.capacity() > 4 * recent.records.max(self.shared.batch_size) {
                spare.shrink_to(2 * recent.records.max(self.shared.batch_size));
            }
            if spare_arena.capacity() > 4 * recent.bytes.max(1 << 16) {
                spare_arena.shrink_to(2 * recent.bytes.max(1 << 16));
            }
            let flushing = { lock(&self.shared.queue).flushed < flush_to };
            if flushing || shutdown {
                self.flush_sinks();
                let mut q = lock(&self.shared.queue);
                q.flushed = flush_to;
                self.shared.flushed.notify_all();
                if shutdown && q.items.is_empty() {
                    return;
                }
            }
        }
    }

    fn deliver(&mut self, items: &mut Vec<Record>, arena: &Arena) {
        let mut spans = Vec::with_capacity(items.len() * 4);
        let mut pairs: Vec<(OwnedStart, OwnedEnd)> = Vec::new();
        for record in items.iter() {
            match record {
                Record::Span(r) => {
                    let SpanRecord { start, end } = &**r;
                    self.build(start, end, &mut spans);
                }
                Record::Predict(p) => {
                    let expanded =
                        std::panic::catch_unwind(AssertUnwindSafe(|| p.expand(arena, &mut pairs)));
                    if expanded.is_ok() {
                        for (start, end) in pairs.drain(..) {
                            self.build(&start, &end, &mut spans);
                        }
                    }
                    pairs.clear();
                }
            }
        }
        self.export(spans);
        items.retain(|r| matches!(r, Record::Span(_)));
        if items.is_empty() {
            return;
        }
        let mut q = lock(&self.shared.queue);
        let room = (4 * self.shared.batch_size).saturating_sub(q.graveyard.len());
        if room >= items.len() {
            q.graveyard.append(items);
        } else {
            drop(q);
            items.clear();
        }
    }

    /// Builds one span, with the roll-up of its children's usage.
    fn build(&mut self, start: &OwnedStart, end: &OwnedEnd, spans: &mut Vec<Span>) {
        {
            let built = std::panic::catch_unwind(AssertUnwindSafe(|| {
                span_from_events(start, end, &self.privacy)
            }));
            let Ok(mut span) = built else { return };
            let own = match &end.data {
                EndData::Lm(Ok(r)) => (r.usage, 1),
                EndData::Lm(Err(_)) => (Usage::default(), 1),
                _ => (Usage::default(), 0),
            };
            let mut total = own;
            if let Some((u, n)) = self.pending.remove(&span.span_id) {
                total.0.add(&u);
                total.1 += n;
            }
            if span.kind.rolls_up() {
                let a = &mut span.attributes;
                a.insert(keys::USAGE_INPUT_TOKENS.into(), total.0.input_tokens.into());
                a.insert(
                    keys::USAGE_OUTPUT_TOKENS.into(),
                    total.0.output_tokens.into(),
                );
                a.insert(
                    keys::USAGE_CACHED_TOKENS.into(),
                    total.0.cached_tokens.into(),
                );
                a.insert(keys::USAGE_COST_USD.into(), total.0.cost_usd.into());
                a.insert(keys::USAGE_LM_CALLS.into(), total.1.into());
            }
            match span.parent_id {
                Some(parent) if total.1 > 0 => {
                    let e = self.pending.entry(parent).or_default();
                    e.0.add(&total.0);
                    e.1 += total.1;
                }
                _ => {}
            }
            spans.push(span);
        }
    }

    fn export(&mut self, spans: Vec<Span>) {
        // Parents that never end (a leaked guard) would grow this forever.
        if self.pending.len() > 1_000_000 {
            self.pending.clear();
        }
        for (sink, reported) in &mut self.sinks {
            let r = std::panic::catch_unwind(AssertUnwindSafe(|| sink.export(&spans)));
            let problem = match r {
                Ok(Ok(())) => None,
                Ok(Err(e)) => Some(e.to_string()),
                Err(_) => Some("panicked".to_string()),
            };
            if let Some(p) = problem {
                self.shared.sink_errors.fetch_add(1, Ordering::Relaxed);
                if !*reported {
                    *reported = true;
                    eprintln!(
                        "sigil: trace sink `{}` failed: {p}; the program continues, spans for this sink may be lost \
                         (reported once)",
                        sink.name()
                    );
                }
            }
        }
        self.shared
            .delivered
            .fetch_add(spans.len() as u64, Ordering::Relaxed);
        drop(spans);
    }

    fn flush_sinks(&mut self) {
        for (sink, reported) in &mut self.sinks {
            let r = std::panic::catch_unwind(AssertUnwindSafe(|| sink.flush()));
            if !matches!(r, Ok(Ok(()))) {
                self.shared.sink_errors.fetch_add(1, Ordering::Relaxed);
                if !*reported {
                    *reported = true;
                    eprintln!(
                        "sigil: trace sink `{}` could not flush; the program continues (reported once)",
                        sink.name()
                    );
                }
            }
        }
    }
}
