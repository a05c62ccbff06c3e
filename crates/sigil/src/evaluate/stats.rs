//! Percentile-bootstrap confidence intervals, seeded so they are reproducible.

use serde::{Deserialize, Serialize};

use super::EvalError;
use crate::rng::{Below, SeededRng};

/// The arithmetic mean; 0 for no values.
pub(crate) fn mean(values: &[f64]) -> f64 {
    if values.is_empty() {
        0.0
    } else {
        values.iter().sum::<f64>() / values.len() as f64
    }
}

/// The `q`-quantile (0..=1) of sorted values, interpolating linearly between order
/// statistics (numpy's default).
fn quantile_sorted(sorted: &[f64], q: f64) -> f64 {
    match sorted.len() {
        0 => 0.0,
        1 => sorted[0],
        n => {
            let pos = q.clamp(0.0, 1.0) * (n - 1) as f64;
            let lo = pos.floor() as usize;
            let hi = (lo + 1).min(n - 1);
            let frac = pos - lo as f64;
            sorted[lo] + (sorted[hi] - sorted[lo]) * frac
        }
    }
}

/// The central `confidence` interval (e.g. 0.95) of sorted bootstrap statistics.
fn percentile_interval(mut stats: Vec<f64>, confidence: f64) -> (f64, f64) {
    stats.sort_by(f64::total_cmp);
    let tail = (1.0 - confidence.clamp(0.0, 1.0)) / 2.0;
    (
        quantile_sorted(&stats, tail),
        quantile_sorted(&stats, 1.0 - tail),
    )
}

/// Means of `resamples` bootstrap resamples of `values`, drawn with `rng`.
///
/// Large runs (10,000 examples x 1,000 resamples is 10 million draws) split the
/// resamples over two threads. The second half starts from the generator advanced past
/// the first half's draws, which is exact unless the first half rejected an output
/// (probability about n / 2^64 per draw); then the second half is drawn again from
/// where the first really ended. Either way the means equal the one-thread sequence.
fn resample_means(values: &[f64], resamples: usize, rng: &mut SeededRng) -> Vec<f64> {
    let n = values.len();
    if n == 0 {
        return vec![0.0; resamples];
    }
    let bound = Below::new(n);
    let one = |rng: &mut SeededRng| {
        let mut sum = 0.0;
        for _ in 0..n {
            sum += values[rng.draw(&bound)];
        }
        sum / n as f64
    };
    if n.saturating_mul(resamples) < PARALLEL_DRAWS || resamples < 2 {
        return (0..resamples).map(|_| one(rng)).collect();
    }
    let half = resamples / 2;
    let mut second_rng = rng.advanced((half * n) as u64);
    let (mut means, rejected, second) = std::thread::scope(|s| {
        let second = s.spawn(|| {
            let means: Vec<f64> = (half..resamples).map(|_| one(&mut second_rng)).collect();
            (means, second_rng.clone())
        });
        let mut rejected = false;
        let first: Vec<f64> = (0..half)
            .map(|_| {
                let mut sum = 0.0;
                for _ in 0..n {
                    let i = rng.draw_one(&bound).unwrap_or_else(|| {
                        rejected = true;
                        rng.draw(&bound)
                    });
                    sum += values[i];
                }
                sum / n as f64
            })
            .collect();
        (first, rejected, second.join())
    });
    match second {
        Ok((rest, end)) if !rejected => {
            means.extend(rest);
            *rng = end;
        }
        // A rejection shifted the sequence (or the thread died): draw the rest here.
        _ => means.extend((half..resamples).map(|_| one(rng))),
    }
    means
}

/// Below this many draws the resampling stays on one thread (about 2.5 ms of work).
const PARALLEL_DRAWS: usize = 1 << 20;

/// The percentile-bootstrap `confidence` interval of the mean of `values`.
///
/// Deterministic for a given `seed`. With no resamples the interval is the point
/// `(mean, mean)`. Errors on empty input or non-finite values.
pub(crate) fn bootstrap_mean_ci(
    values: &[f64],
    resamples: usize,
    confidence: f64,
    seed: u64,
) -> Result<(f64, f64), EvalError> {
    check_values(values)?;
    let m = mean(values);
    if resamples == 0 {
        return Ok((m, m));
    }
    let means = resample_means(values, resamples, &mut SeededRng::new(seed));
    Ok(percentile_interval(means, confidence))
}

fn check_values(values: &[f64]) -> Result<(), EvalError> {
    if values.is_empty() {
        return Err(EvalError::EmptyDataset);
    }
    if let Some(i) = values.iter().position(|v| !v.is_finite()) {
        return Err(EvalError::NonFiniteScore { index: i });
    }
    Ok(())
}

/// A paired comparison of two score lists on the same examples: A minus B.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PairedComparison {
    /// Number of paired examples.
    pub n: usize,
    /// A's mean.
    pub mean_a: f64,
    /// B's mean.
    pub mean_b: f64,
    /// `mean_a - mean_b`.
    pub diff: f64,
    /// 95% percentile-bootstrap interval of the mean difference.
    pub ci95: (f64, f64),
    /// Fraction of resamples whose mean difference is strictly positive (A better):
    /// near 1 means A is reliably better, near 0 that it is not.
    pub prob_positive: f64,
    /// Bootstrap resamples drawn.
    pub resamples: usize,
    /// The bootstrap's seed.
    pub seed: u64,
}

/// Paired bootstrap over per-example scores `a[i]`, `b[i]` of the same examples.
///
/// Each resample draws example indices with replacement and takes the mean of
/// `a[i] - b[i]`, so the per-example pairing is kept. Errors if the lengths differ,
/// the lists are empty or a score is not finite. With no resamples, the interval is
/// the point estimate and `prob_positive` is 1 or 0 by its sign.
pub(crate) fn paired_bootstrap_scores(
    a: &[f64],
    b: &[f64],
    resamples: usize,
    seed: u64,
) -> Result<PairedComparison, EvalError> {
    if a.len() != b.len() {
        return Err(EvalError::ExampleMismatch {
            reason: format!("{} scores vs {}", a.len(), b.len()),
        });
    }
    check_values(a)?;
    check_values(b)?;
    let diffs: Vec<f64> = a.iter().zip(b).map(|(x, y)| x - y).collect();
    let diff = mean(&diffs);
    let (ci95, prob_positive) = if resamples == 0 {
        ((diff, diff), if diff > 0.0 { 1.0 } else { 0.0 })
    } else {
        let means = resample_means(&diffs, resamples, &mut SeededRng::new(seed));
        let positive = means.iter().filter(|m| **m > 0.0).count();
        (
            percentile_interval(means, 0.95),
            positive as f64 / resamples as f64,
        )
    };
    Ok(PairedComparison {
        n: a.len(),
        mean_a: mean(a),
        mean_b: mean(b),
        diff,
        ci95,
        prob_positive,
        resamples,
        seed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_thread_resampling_equals_the_one_thread_sequence() {
        let values = scores(3000, 9);
        let resamples = 701; // odd: the halves differ in size
        assert!(values.len() * resamples >= PARALLEL_DRAWS);
        let mut rng = SeededRng::new(17);
        let got = resample_means(&values, resamples, &mut rng);
        let mut reference = SeededRng::new(17);
        let want: Vec<f64> = (0..resamples)
            .map(|_| {
                let s: f64 = (0..values.len())
                    .map(|_| values[reference.below(values.len())])
                    .sum();
                s / values.len() as f64
            })
            .collect();
        assert_eq!(got, want);
        assert_eq!(
            rng.next_u64(),
            reference.next_u64(),
            "the generator ends in the same state"
        );
    }

    fn scores(n: usize, seed: u64) -> Vec<f64> {
        let mut rng = SeededRng::new(seed);
        (0..n)
            .map(|_| if rng.next_f64() < 0.6 { 1.0 } else { 0.0 })
            .collect()
    }

    #[test]
    fn ci_contains_mean_and_is_deterministic() {
        let v = scores(200, 3);
        let m = mean(&v);
        let (lo, hi) = bootstrap_mean_ci(&v, 1000, 0.95, 7).unwrap();
        assert!(lo <= m && m <= hi, "{lo} <= {m} <= {hi}");
        assert!(lo < hi);
        assert_eq!(bootstrap_mean_ci(&v, 1000, 0.95, 7).unwrap(), (lo, hi));
        let other = bootstrap_mean_ci(&v, 1000, 0.95, 8).unwrap();
        assert_ne!(other, (lo, hi));
        // Same data, bit-identical bounds: check the actual bits too.
        let again = bootstrap_mean_ci(&v, 1000, 0.95, 7).unwrap();
        assert_eq!(again.0.to_bits(), lo.to_bits());
        assert_eq!(again.1.to_bits(), hi.to_bits());
    }

    #[test]
    fn ci_narrows_with_more_data() {
        let small = scores(50, 11);
        let large = scores(2000, 11);
        let (a, b) = bootstrap_mean_ci(&small, 1000, 0.95, 1).unwrap();
        let (c, d) = bootstrap_mean_ci(&large, 1000, 0.95, 1).unwrap();
        assert!(
            d - c < (b - a) / 3.0,
            "small width {} large width {}",
            b - a,
            d - c
        );
        // For a proportion near 0.6, the 95% half-width is about 1.96*sqrt(.24/n).
        let expected = 2.0 * 1.96 * (0.24f64 / 2000.0).sqrt();
        assert!(
            ((d - c) - expected).abs() < expected * 0.2,
            "{} vs {expected}",
            d - c
        );
    }

    #[test]
    fn ci_edge_cases() {
        assert!(matches!(
            bootstrap_mean_ci(&[], 100, 0.95, 0),
            Err(EvalError::EmptyDataset)
        ));
        assert!(matches!(
            bootstrap_mean_ci(&[1.0, f64::NAN], 100, 0.95, 0),
            Err(EvalError::NonFiniteScore { index: 1 })
        ));
        assert_eq!(bootstrap_mean_ci(&[0.5], 100, 0.95, 0).unwrap(), (0.5, 0.5));
        assert_eq!(
            bootstrap_mean_ci(&[1.0, 0.0], 0, 0.95, 0).unwrap(),
            (0.5, 0.5)
        );
        assert_eq!(
            bootstrap_mean_ci(&[1.0; 10], 100, 0.95, 0).unwrap(),
            (1.0, 1.0)
        );
    }

    #[test]
    fn paired_sign() {
        let b = scores(300, 5);
        // A is B with 30 extra successes flipped on: clearly better.
        let mut a = b.clone();
        let mut flipped = 0;
        for x in a.iter_mut() {
            if *x == 0.0 && flipped < 30 {
                *x = 1.0;
                flipped += 1;
            }
        }
        let cmp = paired_bootstrap_scores(&a, &b, 1000, 0).unwrap();
        assert!((cmp.diff - 30.0 / 300.0).abs() < 1e-12);
        assert!(cmp.ci95.0 > 0.0 && cmp.ci95.0 <= cmp.diff && cmp.diff <= cmp.ci95.1);
        assert!(cmp.prob_positive > 0.99);
        let rev = paired_bootstrap_scores(&b, &a, 1000, 0).unwrap();
        assert!(rev.diff < 0.0 && rev.ci95.1 < 0.0 && rev.prob_positive < 0.01);
        let same = paired_bootstrap_scores(&b, &b, 1000, 0).unwrap();
        assert_eq!(
            (same.diff, same.ci95, same.prob_positive),
            (0.0, (0.0, 0.0), 0.0)
        );
        assert!(matches!(
            paired_bootstrap_scores(&a, &b[1..], 10, 0),
            Err(EvalError::ExampleMismatch { .. })
        ));
    }
}
