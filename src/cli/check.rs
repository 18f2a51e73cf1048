//! `gpu-mnist check`: every GPU kernel against its CPU reference (`gpu::check`, the same code as the tests).

use anyhow::Result;
use clap::Args;
use gpu_mnist::gpu::check::{self, Family};
use gpu_mnist::gpu::{BackendChoice, ContextOptions, GpuContext};

#[derive(Args)]
pub struct CheckArgs {
    /// Which GPU API to check (software adapters such as lavapipe are accepted, since correctness is the point).
    #[arg(long, value_enum, default_value_t = BackendChoice::Auto)]
    pub backend: BackendChoice,
    /// Print only the comparisons that fail (and the summary).
    #[arg(long)]
    pub failures_only: bool,
}

/// Runs `gpu-mnist check`.
pub fn run(args: CheckArgs) -> Result<()> {
    let ctx = GpuContext::new(&ContextOptions { allow_software: true, ..ContextOptions::new(args.backend) })?;
    println!("device: {}", ctx.describe());
    let (mut total, mut failed) = (0, 0);
    for family in Family::ALL {
        for row in check::check(&ctx, family)? {
            total += 1;
            failed += usize::from(!row.pass);
            if !args.failures_only || !row.pass {
                println!("{row}");
            }
        }
    }
    println!("{} of {total} comparisons passed", total - failed);
    anyhow::ensure!(failed == 0, "{failed} of {total} comparisons failed: this device's kernels differ from the CPU");
    Ok(())
}
