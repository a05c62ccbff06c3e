//! A hook that panics or returns errors is isolated: the call succeeds, other hooks
//! still see every event, and start/end events pair up by call id.

use std::sync::{Arc, Mutex};

use sigil::prelude::*;
use sigil::trace::{Hook, HookError, SpanEnd, SpanId, SpanKind, SpanStart};
use trace_support::*;

use crate::trace_support;

struct Panics;
impl Hook for Panics {
    fn on_start(&self, _: &SpanStart) -> Result<(), HookError> {
        panic!("hook bug")
    }
    fn on_end(&self, _: &SpanStart, _: &SpanEnd) -> Result<(), HookError> {
        panic!("hook bug")
    }
}

struct Fails;
impl Hook for Fails {
    fn on_end(&self, _: &SpanStart, _: &SpanEnd) -> Result<(), HookError> {
        Err(HookError("backend down".into()))
    }
}

/// Records (event, kind, call id, parent id) like a DSPy callback would.
type Entry = (&'static str, SpanKind, SpanId, Option<SpanId>);

#[derive(Default)]
struct Log(Mutex<Vec<Entry>>);
impl Hook for Log {
    fn on_start(&self, s: &SpanStart) -> Result<(), HookError> {
        self.0
            .lock()
            .unwrap()
            .push(("start", s.kind(), s.call_id, s.parent_id));
        Ok(())
    }
    fn on_end(&self, s: &SpanStart, _: &SpanEnd) -> Result<(), HookError> {
        self.0
            .lock()
            .unwrap()
            .push(("end", s.kind(), s.call_id, s.parent_id));
        Ok(())
    }
}

#[tokio::test]
async fn panicking_and_failing_hooks_do_not_break_calls() {
    let log = Arc::new(Log::default());
    let ctx = Ctx::from_arc(Arc::new(two_step_lm()))
        .with_hook(Arc::new(Panics))
        .with_hook(Arc::new(Fails))
        .with_hook(log.clone());
    let program = TwoStep::new();
    for _ in 0..3 {
        let out = program
            .call(&ctx, Example::new().input("question", "capital?"))
            .await
            .unwrap();
        assert_eq!(out.get_str("answer").as_deref(), Some("Paris"));
    }
    let events = log.0.lock().unwrap().clone();
    assert_eq!(events.len(), 3 * 9 * 2);
    let first: Vec<(&str, SpanKind)> = events.iter().take(18).map(|e| (e.0, e.1)).collect();
    use SpanKind::*;
    assert_eq!(
        first,
        [
            ("start", Module),
            ("start", Module),
            ("start", Format),
            ("end", Format),
            ("start", Lm),
            ("end", Lm),
            ("start", Parse),
            ("end", Parse),
            ("end", Module),
            ("start", Module),
            ("start", Format),
            ("end", Format),
            ("start", Lm),
            ("end", Lm),
            ("start", Parse),
            ("end", Parse),
            ("end", Module),
            ("end", Module),
        ]
    );
    // Every start has exactly one end with the same call id and parent.
    for (i, e) in events.iter().enumerate().filter(|(_, e)| e.0 == "start") {
        let ends: Vec<_> = events[i..]
            .iter()
            .filter(|x| x.0 == "end" && x.2 == e.2)
            .collect();
        assert_eq!(ends.len(), 1);
        assert_eq!(ends[0].3, e.3);
    }
}
