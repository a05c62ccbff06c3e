//! Checks on the data an optimizer is given, made before any LM spend.

use std::collections::HashMap;

use sha2::{Digest, Sha256};

use super::OptimizeError;
use crate::data::{Example, Prediction};
use crate::evaluate::{Metric, MetricError};

/// A short content id of an example: the first 16 hex digits of the SHA-256 of its
/// values and input marks. Equal content gives an equal id on every machine.
pub fn example_id(example: &Example) -> String {
    let line = serde_json::json!({"values": example.values(), "inputs": example.input_keys()});
    let digest = Sha256::digest(line.to_string().as_bytes());
    hex::encode(&digest[..8])
}

/// Errors if any example is in both sets.
pub(crate) fn check_disjoint(
    a_name: &'static str,
    a: &[Example],
    b_name: &'static str,
    b: &[Example],
) -> Result<(), OptimizeError> {
    let ids: HashMap<String, usize> = a
        .iter()
        .enumerate()
        .map(|(i, e)| (example_id(e), i))
        .collect();
    let mut first = None;
    let mut count = 0;
    for (j, e) in b.iter().enumerate() {
        if let Some(&i) = ids.get(&example_id(e)) {
            count += 1;
            first.get_or_insert((i, j));
        }
    }
    match first {
        Some((a_index, b_index)) => Err(OptimizeError::Overlap {
            a: a_name,
            b: b_name,
            count,
            a_index,
            b_index,
        }),
        None => Ok(()),
    }
}

/// The checks of an optimizer that scores candidates on a valset: both sets non-empty,
/// disjoint, and every example usable by the metric.
pub(crate) fn check_train_val(
    trainset: &[Example],
    valset: &[Example],
    metric: &dyn Metric,
) -> Result<(), OptimizeError> {
    if trainset.is_empty() {
        return Err(OptimizeError::EmptyTrainset);
    }
    if valset.is_empty() {
        return Err(OptimizeError::EmptyValset);
    }
    check_disjoint("trainset", trainset, "valset", valset)?;
    check_examples("trainset", trainset, metric)?;
    check_examples("valset", valset, metric)
}

/// Every example must have inputs and labels, and the metric must be able to score an
/// example against its own labels (a built-in metric reports a missing label field).
pub(crate) fn check_examples(
    set: &'static str,
    examples: &[Example],
    metric: &dyn Metric,
) -> Result<(), OptimizeError> {
    for (index, ex) in examples.iter().enumerate() {
        let bad = |reason: String| OptimizeError::BadExample { set, index, reason };
        if ex.input_keys().is_empty() {
            return Err(bad(
                "no input fields are marked (use Example::with_inputs)".into()
            ));
        }
        if let Some(k) = ex.input_keys().iter().find(|k| ex.get(k).is_none()) {
            return Err(bad(format!("input `{k}` is marked but has no value")));
        }
        let labels = ex.labels();
        if labels.is_empty() {
            return Err(bad("no label fields (every key is an input)".into()));
        }
        let oracle = Prediction::new(labels);
        let scored = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            metric.try_score(ex, &oracle)
        }));
        match scored {
            Ok(Err(e @ MetricError::MissingLabel { .. }))
            | Ok(Err(e @ MetricError::BadLabel { .. })) => {
                return Err(bad(e.to_string()));
            }
            // Any other outcome (a score, a metric failure, a panic) is a run-time matter:
            // the evaluator records it per example without aborting.
            _ => {}
        }
    }
    Ok(())
}

/// Ids of every example in `sets`, for the held-out overlap check.
pub(crate) fn ids_of(sets: &[&[Example]]) -> Vec<String> {
    let mut ids: Vec<String> = sets.iter().flat_map(|s| s.iter().map(example_id)).collect();
    ids.sort();
    ids.dedup();
    ids
}

/// `k` distinct items of `items` chosen with `rng` (a partial Fisher-Yates), in draw order.
pub(crate) fn sample<T: Clone>(rng: &mut crate::rng::SeededRng, items: &[T], k: usize) -> Vec<T> {
    let mut idx: Vec<usize> = (0..items.len()).collect();
    let k = k.min(items.len());
    for i in 0..k {
        let j = i + rng.below(items.len() - i);
        idx.swap(i, j);
    }
    idx[..k].iter().map(|&i| items[i].clone()).collect()
}

/// A seed derived from a base seed and a stream number, so independent streams differ.
pub(crate) fn derive_seed(base: u64, stream: i64) -> u64 {
    let mut r =
        crate::rng::SeededRng::new(base ^ (stream as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    r.next_u64()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evaluate::ExactMatch;

    fn ex(q: &str, a: &str) -> Example {
        Example::new().input("question", q).set("answer", a)
    }

    #[test]
    fn overlap_is_found_and_named() {
        let train = vec![ex("a", "1"), ex("b", "2")];
        let val = vec![ex("c", "3"), ex("b", "2")];
        let err = check_disjoint("trainset", &train, "valset", &val).unwrap_err();
        assert!(
            matches!(
                err,
                OptimizeError::Overlap {
                    count: 1,
                    a_index: 1,
                    b_index: 1,
                    ..
                }
            ),
            "{err}"
        );
        assert!(check_disjoint("trainset", &train, "valset", &[ex("c", "3")]).is_ok());
    }

    #[test]
    fn missing_labels_are_reported() {
        let metric = ExactMatch::new("answer");
        let good = vec![ex("a", "1")];
        assert!(check_examples("trainset", &good, &metric).is_ok());
        let no_label = vec![
            ex("a", "1"),
            Example::new().input("question", "q").set("other", "x"),
        ];
        let err = check_examples("trainset", &no_label, &metric).unwrap_err();
        assert!(
            matches!(err, OptimizeError::BadExample { index: 1, .. }),
            "{err}"
        );
        let only_inputs = vec![Example::new().input("question", "q")];
        assert!(check_examples("valset", &only_inputs, &metric).is_err());
    }

    #[test]
    fn sampling_is_seeded_and_distinct() {
        let items: Vec<u32> = (0..20).collect();
        let a = sample(&mut crate::rng::SeededRng::new(3), &items, 5);
        let b = sample(&mut crate::rng::SeededRng::new(3), &items, 5);
        assert_eq!(a, b);
        let mut d = a.clone();
        d.sort();
        d.dedup();
        assert_eq!(d.len(), 5);
        assert_eq!(
            sample(&mut crate::rng::SeededRng::new(3), &items, 50).len(),
            20
        );
    }
}
