//! The store as a span sink: batches from the collector's thread, one transaction
//! each; a batch that cannot be written (locked, full disk) is kept and retried.

use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use sigil::trace::{SinkError, Span, SpanSink};

use crate::{Store, StoreError};

/// Writes spans from a [`sigil::trace::SpanCollector`] into a [`Store`].
pub struct StoreSink {
    store: Store,
    state: Mutex<State>,
    max_retry: usize,
}

struct State {
    retry: Vec<Span>,
    dropped: u64,
    last_retention: Instant,
}

impl StoreSink {
    pub fn new(store: Store) -> Self {
        StoreSink {
            store,
            state: Mutex::new(State {
                retry: Vec::new(),
                dropped: 0,
                last_retention: Instant::now(),
            }),
            max_retry: 100_000,
        }
    }
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        Ok(StoreSink::new(Store::open(path)?))
    }
    pub fn open_default() -> Result<Self, StoreError> {
        Ok(StoreSink::new(Store::open_default()?))
    }
    pub fn store(&self) -> &Store {
        &self.store
    }
    /// Spans given up on because writes kept failing.
    pub fn dropped(&self) -> u64 {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).dropped
    }
}

impl SpanSink for StoreSink {
    fn export(&self, spans: &[Span]) -> Result<(), SinkError> {
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let result = if st.retry.is_empty() {
            self.store.write_spans(spans)
        } else {
            st.retry.extend_from_slice(spans);
            self.store.write_spans(&st.retry)
        };
        match result {
            Ok(()) => {
                st.retry.clear();
                if st.last_retention.elapsed() > Duration::from_secs(60) {
                    st.last_retention = Instant::now();
                    self.store
                        .apply_retention()
                        .map_err(|e| SinkError(e.to_string()))?;
                }
                Ok(())
            }
            Err(e) => {
                if st.retry.is_empty() {
                    st.retry.extend_from_slice(spans);
                }
                if st.retry.len() > self.max_retry {
                    let over = st.retry.len() - self.max_retry;
                    st.retry.drain(..over);
                    st.dropped += over as u64;
                }
                Err(SinkError(format!(
                    "{e} (keeping {} spans to retry)",
                    st.retry.len()
                )))
            }
        }
    }

    fn flush(&self) -> Result<(), SinkError> {
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if st.retry.is_empty() {
            return Ok(());
        }
        let r = self.store.write_spans(&st.retry);
        match r {
            Ok(()) => {
                st.retry.clear();
                Ok(())
            }
            Err(e) => Err(SinkError(e.to_string())),
        }
    }

    fn name(&self) -> &str {
        "sqlite store"
    }
}
