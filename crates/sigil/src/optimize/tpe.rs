//! A Tree-structured Parzen Estimator over categorical parameters, multivariate, with
//! Optuna's defaults: 10 start-up trials, 24 expected-improvement candidates,
//! `gamma(n) = min(ceil(0.1 n), 25)` and prior weight 1.0.
//!
//! Observed trials are split into the best `gamma(n)` ("below") and the rest
//! ("above"). Each group becomes a mixture with one kernel per trial plus a uniform
//! prior kernel; a trial's kernel puts extra mass on its own choice of every parameter
//! at once (multivariate: the product over parameters inside one kernel). The next
//! point is the candidate, among 24 drawn from the "below" mixture, with the highest
//! `log l(x) - log g(x)`. Until 10 trials are observed, points are drawn uniformly.
//!
//! ```
//! use sigil::optimize::tpe::TpeSampler;
//! let mut tpe = TpeSampler::new(vec![3, 4], 7); // two parameters with 3 and 4 choices
//! for _ in 0..30 {
//!     let x = tpe.ask();
//!     let value = if x == [2, 1] { 1.0 } else { 0.0 }; // maximized
//!     tpe.tell(x, value);
//! }
//! assert!(tpe.best().is_some());
//! ```

use crate::rng::SeededRng;

/// TPE settings; the defaults are Optuna's.
#[derive(Clone, Debug, PartialEq)]
pub struct TpeConfig {
    /// Trials drawn uniformly at random before the model is used.
    pub n_startup_trials: usize,
    /// Candidates drawn from the "below" mixture per suggestion.
    pub n_ei_candidates: usize,
    /// Weight of the uniform prior kernel.
    pub prior_weight: f64,
}

impl Default for TpeConfig {
    fn default() -> Self {
        TpeConfig {
            n_startup_trials: 10,
            n_ei_candidates: 24,
            prior_weight: 1.0,
        }
    }
}

/// How many of `n` observations form the "below" (good) group.
fn gamma(n: usize) -> usize {
    n.div_ceil(10).min(25)
}

/// Kernel weights of `n` observations in trial order: flat for fewer than 25, else the
/// older ones ramp up linearly from `1/n` and the newest 25 weigh 1.
fn observation_weights(n: usize) -> Vec<f64> {
    if n < 25 {
        return vec![1.0; n];
    }
    let ramp_len = n - 25;
    let start = 1.0 / n as f64;
    let mut w: Vec<f64> = (0..ramp_len)
        .map(|i| {
            if ramp_len == 1 {
                start
            } else {
                start + (1.0 - start) * i as f64 / (ramp_len - 1) as f64
            }
        })
        .collect();
    w.extend(std::iter::repeat_n(1.0, 25));
    w
}

/// A mixture of product-categorical kernels.
#[derive(Debug)]
struct Parzen {
    /// Normalized mixture weights, one per kernel.
    mix: Vec<f64>,
    /// `probs[k][p][c]`: kernel k's probability of choice c for parameter p.
    probs: Vec<Vec<Vec<f64>>>,
}

impl Parzen {
    fn new(observed: &[&[usize]], choices: &[usize], prior_weight: f64) -> Self {
        if observed.is_empty() {
            let uniform = choices.iter().map(|&n| vec![1.0 / n as f64; n]).collect();
            return Parzen {
                mix: vec![1.0],
                probs: vec![uniform],
            };
        }
        let n_kernels = observed.len() + 1;
        let mut mix = observation_weights(observed.len());
        mix.push(prior_weight);
        let total: f64 = mix.iter().sum();
        mix.iter_mut().for_each(|w| *w /= total);
        let probs = (0..n_kernels)
            .map(|k| {
                choices
                    .iter()
                    .enumerate()
                    .map(|(p, &n)| {
                        let mut row = vec![prior_weight / n_kernels as f64; n];
                        if let Some(x) = observed.get(k) {
                            row[x[p]] += 1.0;
                        }
                        let s: f64 = row.iter().sum();
                        row.iter_mut().for_each(|v| *v /= s);
                        row
                    })
                    .collect()
            })
            .collect();
        Parzen { mix, probs }
    }

    fn sample(&self, rng: &mut SeededRng) -> Vec<usize> {
        let k = pick(&self.mix, rng);
        self.probs[k].iter().map(|row| pick(row, rng)).collect()
    }

    fn log_pdf(&self, x: &[usize]) -> f64 {
        let terms: Vec<f64> = self
            .mix
            .iter()
            .zip(&self.probs)
            .map(|(w, kernel)| {
                w.ln()
                    + x.iter()
                        .zip(kernel)
                        .map(|(&c, row)| row[c].ln())
                        .sum::<f64>()
            })
            .collect();
        let max = terms.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        max + terms.iter().map(|t| (t - max).exp()).sum::<f64>().ln()
    }
}

/// An index drawn with probability proportional to `weights`.
fn pick(weights: &[f64], rng: &mut SeededRng) -> usize {
    let total: f64 = weights.iter().sum();
    let mut u = rng.next_f64() * total;
    for (i, w) in weights.iter().enumerate() {
        if u < *w {
            return i;
        }
        u -= w;
    }
    weights.len() - 1
}

/// Suggests points of a categorical space to maximize an objective.
#[derive(Clone, Debug)]
pub struct TpeSampler {
    choices: Vec<usize>,
    config: TpeConfig,
    rng: SeededRng,
    observations: Vec<(Vec<usize>, f64)>,
}

impl TpeSampler {
    /// A sampler over parameters with `choices[p]` choices each (each at least 1),
    /// Optuna's defaults and the given seed.
    pub fn new(choices: Vec<usize>, seed: u64) -> Self {
        Self::with_config(choices, seed, TpeConfig::default())
    }

    /// A sampler with other settings.
    pub fn with_config(choices: Vec<usize>, seed: u64, config: TpeConfig) -> Self {
        let choices = choices.into_iter().map(|n| n.max(1)).collect();
        TpeSampler {
            choices,
            config,
            rng: SeededRng::new(seed),
            observations: Vec::new(),
        }
    }

    /// A sampler that always draws uniformly (random search), for comparison.
    pub fn random(choices: Vec<usize>, seed: u64) -> Self {
        Self::with_config(
            choices,
            seed,
            TpeConfig {
                n_startup_trials: usize::MAX,
                ..TpeConfig::default()
            },
        )
    }

    /// The next point to try: one choice index per parameter.
    pub fn ask(&mut self) -> Vec<usize> {
        let n = self.observations.len();
        if n < self.config.n_startup_trials {
            return self.choices.iter().map(|&c| self.rng.below(c)).collect();
        }
        // Best first (stable: earlier trials win ties), then each group back in trial order.
        let mut order: Vec<usize> = (0..n).collect();
        order.sort_by(|&a, &b| self.observations[b].1.total_cmp(&self.observations[a].1));
        let n_below = gamma(n);
        let mut below: Vec<usize> = order[..n_below].to_vec();
        let mut above: Vec<usize> = order[n_below..].to_vec();
        below.sort_unstable();
        above.sort_unstable();
        let points = |idx: &[usize]| {
            idx.iter()
                .map(|&i| self.observations[i].0.as_slice())
                .collect::<Vec<_>>()
        };
        let l = Parzen::new(&points(&below), &self.choices, self.config.prior_weight);
        let g = Parzen::new(&points(&above), &self.choices, self.config.prior_weight);
        let candidates: Vec<Vec<usize>> = (0..self.config.n_ei_candidates.max(1))
            .map(|_| l.sample(&mut self.rng))
            .collect();
        let mut best = (f64::NEG_INFINITY, 0usize);
        for (i, c) in candidates.iter().enumerate() {
            let score = l.log_pdf(c) - g.log_pdf(c);
            if score > best.0 {
                best = (score, i);
            }
        }
        candidates[best.1].clone()
    }

    /// Records the objective's value at `point` (higher is better). Non-finite values
    /// and points outside the space are ignored, as failed trials are.
    pub fn tell(&mut self, point: Vec<usize>, value: f64) {
        let valid = point.len() == self.choices.len()
            && point.iter().zip(&self.choices).all(|(x, n)| x < n);
        if value.is_finite() && valid {
            self.observations.push((point, value));
        }
    }

    /// Every point told so far, with its value.
    pub fn observations(&self) -> &[(Vec<usize>, f64)] {
        &self.observations
    }

    /// The best point observed so far (the earliest one on ties).
    pub fn best(&self) -> Option<(&[usize], f64)> {
        let mut best: Option<(&[usize], f64)> = None;
        for (x, v) in &self.observations {
            if best.is_none_or(|(_, b)| *v > b) {
                best = Some((x, *v));
            }
        }
        best
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn optuna_defaults() {
        assert_eq!(
            (gamma(1), gamma(10), gamma(11), gamma(250), gamma(1000)),
            (1, 1, 2, 25, 25)
        );
        assert_eq!(observation_weights(3), vec![1.0; 3]);
        let w = observation_weights(30);
        assert_eq!(w.len(), 30);
        assert!((w[0] - 1.0 / 30.0).abs() < 1e-12 && (w[4] - 1.0).abs() < 1e-12 && w[0] < w[2]);
        let c = TpeConfig::default();
        assert_eq!(
            (c.n_startup_trials, c.n_ei_candidates, c.prior_weight),
            (10, 24, 1.0)
        );
    }

    #[test]
    fn kernels_weight_the_observed_choice() {
        let obs: Vec<&[usize]> = vec![&[1, 0]];
        let p = Parzen::new(&obs, &[3, 2], 1.0);
        // Kernel 0: prior 1/2 on each choice, +1 on the observed one, normalized.
        assert!((p.probs[0][0][1] - 1.5 / 2.5).abs() < 1e-12);
        assert!(
            (p.probs[1][0][1] - 1.0 / 3.0).abs() < 1e-12,
            "the prior kernel is uniform"
        );
        assert!((p.mix[0] - 0.5).abs() < 1e-12);
        assert!(p.log_pdf(&[1, 0]) > p.log_pdf(&[2, 1]));
    }

    #[test]
    fn same_seed_same_suggestions() {
        let run = |seed| {
            let mut t = TpeSampler::new(vec![4, 4, 4], seed);
            (0..30)
                .map(|_| {
                    let x = t.ask();
                    let v = x.iter().sum::<usize>() as f64;
                    t.tell(x.clone(), v);
                    x
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(run(5), run(5));
        assert_ne!(run(5), run(6));
    }

    #[test]
    fn bad_observations_are_ignored() {
        let mut t = TpeSampler::new(vec![2], 0);
        t.tell(vec![1], f64::NAN);
        t.tell(vec![5], 1.0);
        t.tell(vec![0, 0], 1.0);
        assert!(t.observations().is_empty());
    }
}
