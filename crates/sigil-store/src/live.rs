//! Questions a live view asks while another process writes: has anything changed, and
//! which compile runs are still going (their trials are stored, their compile span is
//! written only when the run ends).

use crate::{Store, StoreError};

impl Store {
    /// A number that changes whenever another connection commits to the file (SQLite's
    /// `PRAGMA data_version`): a cheap way to poll for new spans.
    pub fn data_version(&self) -> Result<i64, StoreError> {
        Ok(self
            .conn()
            .query_row("PRAGMA data_version", [], |r| r.get(0))?)
    }

    /// Trace ids of compile runs with trials started at or after `since_ns` but no
    /// compile span yet: runs still going, or stopped by a crash. Newest trial first.
    pub fn unfinished_compile_traces(
        &self,
        since_ns: u64,
        limit: usize,
    ) -> Result<Vec<String>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT s.trace_id, MAX(s.start_ns) AS last FROM spans s \
             WHERE s.start_ns >= ?1 AND s.kind = 'trial' \
             AND NOT EXISTS (SELECT 1 FROM spans c WHERE c.trace_id = s.trace_id AND c.kind = 'compile') \
             GROUP BY s.trace_id ORDER BY last DESC LIMIT ?2",
        )?;
        let rows = stmt.query_map(
            [since_ns.min(i64::MAX as u64) as i64, limit.max(1) as i64],
            |r| r.get::<_, String>(0),
        )?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

#[cfg(test)]
mod tests {
    use sigil::trace::{Span, SpanId, SpanKind, SpanStatus, TraceId};

    use crate::Store;

    fn span(trace: TraceId, parent: Option<SpanId>, kind: SpanKind, start_ns: u64) -> Span {
        Span {
            trace_id: trace,
            span_id: SpanId::new(),
            parent_id: parent,
            kind,
            name: kind.as_str().into(),
            start_ns,
            end_ns: start_ns + 10,
            status: SpanStatus::Ok,
            attributes: Default::default(),
            events: Vec::new(),
        }
    }

    #[test]
    fn a_run_without_its_compile_span_is_unfinished() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path().join("l.db")).unwrap();
        let (done, going) = (TraceId::new(), TraceId::new());
        let compile = span(done, None, SpanKind::Compile, 100);
        let trial = span(done, Some(compile.span_id), SpanKind::Trial, 110);
        let running = span(going, Some(SpanId::new()), SpanKind::Trial, 200);
        store.write_spans(&[trial, compile, running]).unwrap();
        assert_eq!(
            store.unfinished_compile_traces(0, 10).unwrap(),
            [going.to_hex()]
        );
        assert!(store.unfinished_compile_traces(300, 10).unwrap().is_empty());

        let other = Store::open(dir.path().join("l.db")).unwrap();
        let before = store.data_version().unwrap();
        assert_eq!(
            store.data_version().unwrap(),
            before,
            "no commit, no change"
        );
        other
            .write_spans(&[span(TraceId::new(), None, SpanKind::Module, 5)])
            .unwrap();
        assert_ne!(store.data_version().unwrap(), before);
    }
}
