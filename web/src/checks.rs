//! `gpu-mnist check` on the browser's adapter: every family of [`CheckFamily::ALL`], run by the library's own
//! harness (the same cases, shapes and comparison as natively; its reads are awaited, so it runs in a browser),
//! summed up per family for the page and the browser test.

use gpu_mnist::gpu::check::{self, CheckFamily};
use gpu_mnist::gpu::GpuContext;

/// One family's comparisons.
#[derive(Clone, Debug, serde::Serialize)]
pub struct FamilyRows {
    /// The family, e.g. `Linear`, `Activation(Gelu)`, `Update(Adam)`.
    pub family: String,
    /// Comparisons, and how many passed.
    pub rows: usize,
    pub passed: usize,
    /// The largest |got − want| of any of its comparisons.
    pub worst_abs: f32,
    /// Every comparison as `gpu-mnist check` prints it (`PASS linear y rows=65 …`).
    pub lines: Vec<String>,
    /// Seconds the family took.
    pub seconds: f64,
}

/// Runs every family on `ctx`, in `gpu-mnist check`'s order.
pub async fn check_rows(ctx: &GpuContext) -> gpu_mnist::Result<Vec<FamilyRows>> {
    let mut out = Vec::new();
    for &family in CheckFamily::ALL {
        out.push(check_family(ctx, family).await?);
    }
    Ok(out)
}

/// The comparisons of one family on `ctx`.
pub async fn check_family(ctx: &GpuContext, family: CheckFamily) -> gpu_mnist::Result<FamilyRows> {
    let started = web_time::Instant::now();
    let rows = check::run(ctx, family).await?;
    Ok(FamilyRows {
        family: format!("{family:?}"),
        rows: rows.len(),
        passed: rows.iter().filter(|r| r.pass).count(),
        worst_abs: rows.iter().map(|r| r.max_abs_err).fold(0.0, f32::max),
        lines: rows.iter().map(|r| r.to_string()).collect(),
        seconds: started.elapsed().as_secs_f64(),
    })
}
