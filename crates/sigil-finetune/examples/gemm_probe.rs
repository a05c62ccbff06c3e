//! Debug aid: candle's f32 matmul speed at the training shapes.
use candle_core::{Device, Tensor};
fn main() {
    let d = Device::Cpu;
    for (m, k, n, tr) in [
        (1952, 576, 1536, true),
        (1952, 576, 1536, false),
        (1952, 1536, 576, false),
        (1952, 576, 576, true),
    ] {
        let x = Tensor::randn(0f32, 1., (m, k), &d).unwrap();
        let w = if tr {
            Tensor::randn(0f32, 1., (n, k), &d).unwrap().t().unwrap()
        } else {
            Tensor::randn(0f32, 1., (k, n), &d).unwrap()
        };
        let _ = x.matmul(&w).unwrap();
        let t0 = std::time::Instant::now();
        let reps = 10;
        for _ in 0..reps {
            let _ = x.matmul(&w).unwrap();
        }
        let s = t0.elapsed().as_secs_f64() / reps as f64;
        println!(
            "{m}x{k}x{n} transposed={tr}: {:.1} ms, {:.1} GFLOPS",
            s * 1e3,
            2.0 * (m * k * n) as f64 / s / 1e9
        );
    }
}
