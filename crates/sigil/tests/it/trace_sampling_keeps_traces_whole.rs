//! With trace sampling, each trace is recorded whole or not at all, and the share
//! recorded follows the ratio.

use std::sync::Arc;

use sigil::prelude::*;
use trace_support::*;

use crate::trace_support;

#[tokio::test]
async fn sampled_traces_are_whole_and_unsampled_ones_absent() {
    let (collector, sink) = memory_collector();
    let program = TwoStep::new();
    let ctx = Ctx::from_arc(Arc::new(two_step_lm()))
        .with_hook(collector.clone())
        .with_trace_sampling(0.25);
    for i in 0..400 {
        program
            .call(&ctx, Example::new().input("question", format!("q{i}")))
            .await
            .unwrap();
    }
    collector.flush();
    let spans = sink.spans();
    let traces = assert_well_formed(&spans);
    assert!(
        traces.values().all(|t| t.len() == 9),
        "every recorded trace is complete"
    );
    assert!(
        (60..=140).contains(&traces.len()),
        "about a quarter of 400 calls: {}",
        traces.len()
    );

    let (collector, sink) = memory_collector();
    let off = Ctx::from_arc(Arc::new(two_step_lm()))
        .with_hook(collector.clone())
        .with_trace_sampling(0.0);
    program
        .call(&off, Example::new().input("question", "q"))
        .await
        .unwrap();
    collector.flush();
    assert!(sink.spans().is_empty());
}
