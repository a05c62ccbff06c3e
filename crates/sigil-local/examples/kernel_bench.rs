//! Times the matrix-vector kernels alone on synthetic weights, one token, on the
//! current rayon pool (`RAYON_NUM_THREADS=1` for one core): the minimum over many
//! repeats, so other load on the machine mostly drops out.
//!
//! `cargo run --release -p sigil-local --example kernel_bench`
use std::time::Instant;

use sigil_local::gguf::GgmlType;
use sigil_local::quant::QMatrix;

fn synth(ty: GgmlType, rows: usize, cols: usize, seed: &mut u64) -> QMatrix {
    let bb = match ty {
        GgmlType::Q4_1 => 20,
        GgmlType::Q8_0 => 34,
        _ => 18,
    };
    let bytes: Vec<u8> = (0..rows * cols / 32)
        .flat_map(|_| {
            let mut b: Vec<u8> = (0..bb)
                .map(|_| {
                    *seed = seed
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    (*seed >> 33) as u8
                })
                .collect();
            b[..2].copy_from_slice(&half::f16::from_f32(0.01).to_le_bytes());
            if ty == GgmlType::Q4_1 {
                b[2..4].copy_from_slice(&half::f16::from_f32(-0.05).to_le_bytes());
            }
            b
        })
        .collect();
    QMatrix::from_gguf("w", ty, rows, cols, &bytes).expect("matrix")
}

fn main() {
    let mut seed = 5u64;
    let x: Vec<f32> = (0..1536)
        .map(|i| ((i * 37 % 101) as f32 / 50.0) - 1.0)
        .collect();
    let cases: [(&str, GgmlType, usize, usize, usize, usize); 6] = [
        (
            "q4_1 49152x576 (streamed)",
            GgmlType::Q4_1,
            49152,
            576,
            1,
            30,
        ),
        (
            "q4_1 576x576 x 200 (streamed)",
            GgmlType::Q4_1,
            576,
            576,
            200,
            30,
        ),
        (
            "q4_1 1536x576 (in cache)",
            GgmlType::Q4_1,
            1536,
            576,
            1,
            2000,
        ),
        (
            "q4_1 1536x576 x 60 (streamed)",
            GgmlType::Q4_1,
            1536,
            576,
            60,
            30,
        ),
        (
            "q8_0 49152x576 (streamed)",
            GgmlType::Q8_0,
            49152,
            576,
            1,
            30,
        ),
        (
            "q8_0 1536x576 (in cache)",
            GgmlType::Q8_0,
            1536,
            576,
            1,
            2000,
        ),
    ];
    for (name, ty, rows, cols, n_mat, reps) in cases {
        let ms: Vec<QMatrix> = (0..n_mat)
            .map(|_| synth(ty, rows, cols, &mut seed))
            .collect();
        let mut out = vec![0f32; rows];
        let mut best = f64::MAX;
        for _ in 0..reps {
            let t = Instant::now();
            for m in &ms {
                m.matmul(&x[..cols], 1, &mut out);
            }
            best = best.min(t.elapsed().as_secs_f64());
        }
        let bytes: usize = ms.iter().map(QMatrix::size_bytes).sum();
        println!(
            "{name}: {:.1} us, {:.2} GB/s of weights",
            best * 1e6,
            bytes as f64 / best / 1e9
        );
    }
}
