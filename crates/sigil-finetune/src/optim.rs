//! AdamW whose state can be saved and restored.
//!
//! candle-nn's `AdamW` keeps its moments and step count private, so a run that stops
//! could not resume to the same weights. This is the same update, written with the
//! same tensor operations in the same order (a unit test checks it against candle-nn's
//! bit for bit), with its state readable and settable. Gradients still come from
//! candle's autograd.

use candle_core::backprop::GradStore;
use candle_core::{Tensor, Var};
use candle_nn::ParamsAdamW;

use crate::error::{FinetuneError, Result};

/// AdamW over a fixed list of variables, with checkpointable state.
#[derive(Debug)]
pub struct AdamW {
    vars: Vec<Var>,
    first: Vec<Var>,
    second: Vec<Var>,
    step_t: usize,
    params: ParamsAdamW,
}

impl AdamW {
    /// A fresh optimizer (zero moments, step 0).
    pub fn new(vars: Vec<Var>, params: ParamsAdamW) -> Result<AdamW> {
        let zeros = |v: &Var| Var::zeros(v.shape(), v.dtype(), v.device());
        let first = vars.iter().map(zeros).collect::<candle_core::Result<_>>()?;
        let second = vars.iter().map(zeros).collect::<candle_core::Result<_>>()?;
        Ok(AdamW {
            vars,
            first,
            second,
            step_t: 0,
            params,
        })
    }

    /// Steps taken.
    pub fn step_count(&self) -> usize {
        self.step_t
    }

    /// The first and second moments, one pair per variable, in order.
    pub fn moments(&self) -> Vec<(Tensor, Tensor)> {
        self.first
            .iter()
            .zip(&self.second)
            .map(|(m, v)| (m.as_tensor().clone(), v.as_tensor().clone()))
            .collect()
    }

    /// Restores a saved state.
    pub fn restore(&mut self, step_t: usize, moments: &[(Tensor, Tensor)]) -> Result<()> {
        if moments.len() != self.vars.len() {
            return Err(FinetuneError::Invalid(format!(
                "checkpoint has optimizer state for {} variables, the adapter has {}",
                moments.len(),
                self.vars.len()
            )));
        }
        for ((m, v), (sm, sv)) in self.first.iter().zip(&self.second).zip(moments) {
            m.set(sm)?;
            v.set(sv)?;
        }
        self.step_t = step_t;
        Ok(())
    }

    /// One update from `grads`.
    pub fn step(&mut self, grads: &GradStore) -> Result<()> {
        self.step_t += 1;
        let p = &self.params;
        let (lr, beta1, beta2) = (p.lr, p.beta1, p.beta2);
        let lr_lambda = lr * p.weight_decay;
        let scale_m = 1f64 / (1f64 - beta1.powi(self.step_t as i32));
        let scale_v = 1f64 / (1f64 - beta2.powi(self.step_t as i32));
        for ((theta, m), v) in self.vars.iter().zip(&self.first).zip(&self.second) {
            let Some(g) = grads.get(theta) else { continue };
            let next_m = ((m.as_tensor() * beta1)? + (g * (1.0 - beta1))?)?;
            let next_v = ((v.as_tensor() * beta2)? + (g.sqr()? * (1.0 - beta2))?)?;
            let m_hat = (&next_m * scale_m)?;
            let v_hat = (&next_v * scale_v)?;
            let next_theta = (theta.as_tensor() * (1f64 - lr_lambda))?;
            let adjusted = (m_hat / (v_hat.sqrt()? + p.eps)?)?;
            let next_theta = (next_theta - (adjusted * lr)?)?;
            m.set(&next_m)?;
            v.set(&next_v)?;
            theta.set(&next_theta)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;
    use candle_nn::Optimizer;

    #[test]
    fn matches_candle_nn_adamw_bit_for_bit() {
        let dev = Device::Cpu;
        let init = Tensor::new(&[[0.3f32, -1.2, 2.0], [0.5, 0.01, -0.7]], &dev).unwrap();
        let (ours, theirs) = (
            Var::from_tensor(&init).unwrap(),
            Var::from_tensor(&init).unwrap(),
        );
        let params = ParamsAdamW {
            lr: 0.05,
            ..ParamsAdamW::default()
        };
        let mut a = AdamW::new(vec![ours.clone()], params.clone()).unwrap();
        let mut b = candle_nn::AdamW::new(vec![theirs.clone()], params).unwrap();
        for _ in 0..5 {
            let la = ours.as_tensor().sqr().unwrap().sum_all().unwrap();
            a.step(&la.backward().unwrap()).unwrap();
            let lb = theirs.as_tensor().sqr().unwrap().sum_all().unwrap();
            b.backward_step(&lb).unwrap();
        }
        let (x, y): (Vec<Vec<f32>>, Vec<Vec<f32>>) = (
            ours.as_tensor().to_vec2().unwrap(),
            theirs.as_tensor().to_vec2().unwrap(),
        );
        assert_eq!(x, y);
        assert_ne!(x, init.to_vec2::<f32>().unwrap());
    }
}
