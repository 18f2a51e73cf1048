//! The large-matmul probe: one `n × n × n` product with the training step's `linear` kernel, timed and checked
//! against the host.

use web_time::Instant;

use crate::backend::Backend;
use crate::bench::median;
use crate::bench::peak::peak_gflops;
use crate::error::{Error, Result};
use crate::model::{Activation, Loss, ModelConfig, OutputUnits, DEFAULT_LEAKY_SLOPE};
use crate::optim::Optimizer;
use crate::plan::{Layout, Op, Plan, Split};

/// One backend's large-matmul figures.
#[derive(Clone, Debug, serde::Serialize)]
pub struct MatmulReport {
    /// The backend and its hardware.
    pub backend: String,
    /// n of the n × n × n product.
    pub size: usize,
    /// Which kernel computed it: `auto` (the backend's own choice), `tile 64`, `tile 32`, `tile 16` or
    /// `large 128` on a GPU; `sgemm` on the CPU.
    pub variant: String,
    /// Seconds per product, one per sample.
    pub seconds: Vec<f64>,
    /// Median of `seconds`.
    pub median_seconds: f64,
    /// 2n³ / median.
    pub gflops: f64,
    /// The hardware's FP32 peak, where known.
    pub peak_gflops: Option<f64>,
    /// `gflops / peak_gflops`.
    pub peak_share: Option<f64>,
    /// Entries of y checked against the host's product after timing (all of them up to n = 64).
    pub checked: usize,
    /// The largest `|got − want|` over those entries.
    pub max_error: f64,
}

/// The large-matmul probe: a layout of one `n → n` linear layer and the plan `y: [n, n] = x: [n, n] · w: [n, n]ᵀ + b`
/// (the training step's `linear` kernel, no activation), so the figure is that of the kernel training uses.
pub fn matmul_plan(n: usize) -> Result<(Layout, Plan)> {
    if n == 0 {
        return Err(Error::Config("a matmul of size 0; give --matmul a size of at least 1".into()));
    }
    let model = ModelConfig {
        output_units: OutputUnits::Classes,
        inputs: n,
        hidden: vec![],
        classes: n,
        activation: Activation::Relu,
        loss: Loss::Xent,
        leaky_slope: DEFAULT_LEAKY_SLOPE,
    };
    let layout = Layout::new(&model, Optimizer::default(), n);
    let l = layout.layers[0];
    let (y, x, w, b) = (l.a, l.x, l.w, l.b);
    let op = Op::Linear { y, z: None, x, w, b, act: Activation::Identity.into(), rows: n, inputs: n, outputs: n };
    Ok((layout, Plan::one_op_per_stage(n, Split::Train, vec![op])))
}

/// The value the matmul probe writes at `(row, col)` of input `salt` (1: x, 2: w, 3: b): one of 16 values ±0.005 …
/// ±0.075 picked by a hash of all three — never 0, not symmetric in (row, col) and different per input, so a product of
/// unwritten (zero) inputs, a transposed or a swapped operand gives other numbers. Small, so no sum overflows or turns
/// subnormal.
pub fn matmul_input(salt: u64, row: usize, col: usize) -> f32 {
    let h = mix(salt.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ mix(row as u64 ^ mix(col as u64)));
    ((h % 16) as f32 - 7.5) * 0.01
}

/// The splitmix64 finaliser: every bit of the output depends on every bit of the input.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The entries of the `n × n` product that [`matmul`] checks: all of them up to n = 64, else the four corners and 256
/// pseudo-random (fixed-seed) ones.
fn matmul_sample(n: usize) -> Vec<(usize, usize)> {
    if n <= 64 {
        return (0..n).flat_map(|i| (0..n).map(move |j| (i, j))).collect();
    }
    let corners = [(0, 0), (0, n - 1), (n - 1, 0), (n - 1, n - 1)];
    let seeded = (0..256u64).map(|t| ((mix(2 * t) % n as u64) as usize, (mix(2 * t + 1) % n as u64) as usize));
    corners.into_iter().chain(seeded).collect()
}

/// Times the `n × n × n` product of [`matmul_plan`] on `backend` (built for that layout): fills x, w and b with
/// [`matmul_input`], runs it once untimed, then takes `samples` timings of `k` back-to-back products each (submitted
/// together, then waited for), with `k` chosen so that one timing lasts about 0.2 s. Then it reads y back and checks
/// entries of it (see [`matmul_sample`]) against the product computed on the host in f64, within
/// `1e-6 + 1e-4 · (|b_j| + Σ_k |x_ik · w_jk|)` (f32 sums are good to ~1e-7 of that; the absolute part stays below the
/// smallest product of two inputs, 2.5e-5, so even an unwritten 1 × 1 product fails): a backend that times a wrong
/// product is an error naming the first wrong entry.
pub fn matmul<B: Backend>(backend: &mut B, n: usize, samples: usize) -> Result<MatmulReport> {
    let (layout, plan) = matmul_plan(n)?;
    let l = layout.layers[0];
    let fill =
        |rows: usize, salt: u64| -> Vec<f32> { (0..rows * n).map(|i| matmul_input(salt, i / n, i % n)).collect() };
    backend.write_buffer(l.x, &fill(n, 1))?;
    backend.write_buffer(l.w, &fill(n, 2))?;
    backend.write_buffer(l.b, &fill(1, 3))?;
    let id = backend.prepare(&plan)?;
    let timed = |backend: &mut B, k: usize| -> Result<f64> {
        let started = Instant::now();
        backend.run(id, k)?;
        backend.finish()?;
        Ok(started.elapsed().as_secs_f64())
    };
    let first = timed(backend, 1)?;
    let k = ((0.2 / first.max(1e-6)) as usize).clamp(1, 256);
    let mut seconds = Vec::with_capacity(samples);
    for _ in 0..samples.max(1) {
        seconds.push(timed(backend, k)? / k as f64);
    }
    let backend_name = backend.describe();
    let y = backend.read_buffer(l.a)?;
    let sample = matmul_sample(n);
    let mut max_error = 0.0f64;
    for &(i, j) in &sample {
        let b = f64::from(matmul_input(3, 0, j));
        let (mut want, mut magnitude) = (b, b.abs());
        for k in 0..n {
            let term = f64::from(matmul_input(1, i, k)) * f64::from(matmul_input(2, j, k));
            want += term;
            magnitude += term.abs();
        }
        let got = f64::from(y[i * n + j]);
        let error = (got - want).abs();
        let tolerance = 1e-6 + 1e-4 * magnitude;
        if error.is_nan() || error > tolerance {
            return Err(Error::WrongResult(format!(
                "the {n}x{n} matmul on {backend_name} computed a wrong product: y[{i}, {j}] = {} but the host \
                 computes {want} (error {error:.2e}, tolerance {tolerance:.2e}); its timings measure a broken kernel",
                y[i * n + j]
            )));
        }
        max_error = max_error.max(error);
    }
    let median_seconds = median(&seconds).max(1e-12);
    let gflops = 2.0 * (n as f64).powi(3) / median_seconds / 1e9;
    let peak = peak_gflops(&backend_name);
    Ok(MatmulReport {
        backend: backend_name,
        size: n,
        variant: "auto".into(),
        seconds,
        median_seconds,
        gflops,
        peak_gflops: peak,
        peak_share: peak.map(|p| gflops / p),
        checked: sample.len(),
        max_error,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matmul_plan_refuses_size_zero() {
        assert!(matmul_plan(0).is_err());
        let (layout, plan) = matmul_plan(3).unwrap();
        assert_eq!(plan.ops.len(), 1);
        assert_eq!(layout.buffers[layout.layers[0].w].len, 9);
    }

    #[test]
    fn matmul_inputs_are_nonzero_varied_and_asymmetric() {
        let values: Vec<f32> = (0..40).flat_map(|r| (0..40).map(move |c| matmul_input(1, r, c))).collect();
        assert!(values.iter().all(|&v| v != 0.0 && v.abs() < 0.08), "{values:?}");
        let mut distinct = values.clone();
        distinct.sort_by(f32::total_cmp);
        distinct.dedup();
        assert_eq!(distinct.len(), 16);
        // Neither symmetric nor the same for x and w.
        let differ =
            |f: &dyn Fn(usize, usize) -> bool| (0..40).flat_map(|r| (0..40).map(move |c| (r, c))).any(|(r, c)| f(r, c));
        assert!(differ(&|r, c| matmul_input(1, r, c) != matmul_input(1, c, r)));
        assert!(differ(&|r, c| matmul_input(1, r, c) != matmul_input(2, r, c)));
    }

    #[test]
    fn matmul_sample_covers_small_products_and_the_corners_of_large_ones() {
        assert_eq!(matmul_sample(1), vec![(0, 0)]);
        assert_eq!(matmul_sample(64).len(), 64 * 64);
        let s = matmul_sample(4096);
        assert_eq!(s.len(), 260);
        assert!(s.contains(&(4095, 0)) && s.contains(&(0, 4095)) && s.contains(&(4095, 4095)));
        assert!(s.iter().all(|&(i, j)| i < 4096 && j < 4096));
        assert_eq!(s, matmul_sample(4096), "the sample is fixed");
    }
}
