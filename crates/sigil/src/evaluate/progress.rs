//! The evaluation progress bar: shown on a terminal, hidden in CI and pipes.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Whether a progress bar may be drawn: stderr is a terminal and `CI` is not set.
pub(crate) fn progress_allowed() -> bool {
    std::env::var_os("CI").is_none() && std::io::stderr().is_terminal()
}

/// A progress bar over the examples with the running score in its message.
pub(crate) struct Progress {
    bar: ProgressBar,
    metric: String,
}

impl Progress {
    /// A bar for `total` examples; hidden unless `enabled` and [`progress_allowed`].
    pub(crate) fn new(total: usize, enabled: bool, metric: &str) -> Self {
        let bar = if enabled && progress_allowed() {
            let bar =
                ProgressBar::with_draw_target(Some(total as u64), ProgressDrawTarget::stderr());
            // The template is a literal; should it ever be rejected, fall back to the default style.
            if let Ok(style) = ProgressStyle::with_template(
                "{msg} {wide_bar} {pos}/{len} [{elapsed_precise}<{eta_precise}]",
            ) {
                bar.set_style(style);
            }
            bar
        } else {
            ProgressBar::hidden()
        };
        let p = Progress {
            bar,
            metric: metric.to_string(),
        };
        p.update(0.0, 0, 0);
        p
    }

    /// Records one more finished example, with the totals so far.
    pub(crate) fn tick(&self, score_sum: f64, done: usize, errors: usize) {
        self.bar.inc(1);
        self.update(score_sum, done, errors);
    }

    fn update(&self, score_sum: f64, done: usize, errors: usize) {
        if self.bar.is_hidden() {
            return;
        }
        let pct = if done == 0 {
            0.0
        } else {
            100.0 * score_sum / done as f64
        };
        let mut msg = format!("{}: {score_sum:.2} / {done} ({pct:.1}%)", self.metric);
        if errors > 0 {
            msg.push_str(&format!(", {errors} failed"));
        }
        self.bar.set_message(msg);
    }

    pub(crate) fn finish(&self) {
        self.bar.finish();
    }

    pub(crate) fn abandon(&self) {
        self.bar.abandon();
    }

    #[cfg(test)]
    pub(crate) fn is_hidden(&self) -> bool {
        self.bar.is_hidden()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disabled_bar_is_hidden() {
        let p = Progress::new(10, false, "m");
        assert!(p.is_hidden());
        p.tick(1.0, 1, 0);
        p.finish();
    }

    #[test]
    fn test_runs_have_no_bar() {
        // cargo test captures stderr or runs in CI: either way no bar is drawn.
        if !progress_allowed() {
            assert!(Progress::new(3, true, "m").is_hidden());
        }
    }
}
