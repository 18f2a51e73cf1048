//! `gpu-mnist check`: every GPU kernel against its CPU reference (`gpu::check`, the same code as the tests).

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use gpu_mnist::gpu::check::{self, CheckFamily};
use gpu_mnist::gpu::kernels;
use gpu_mnist::gpu::{BackendChoice, ContextOptions, GpuContext};

#[derive(Args)]
pub struct CheckArgs {
    /// Which GPU API to check (software adapters such as lavapipe are accepted, since correctness is the point).
    #[arg(long, value_enum, default_value_t = BackendChoice::Auto)]
    pub backend: BackendChoice,
    /// Print only the comparisons that fail (and the summary).
    #[arg(long)]
    pub failures_only: bool,
    /// Check the WGSL files of this directory instead of the built-in ones (each `NAME.wgsl` there replaces
    /// `shaders/NAME.wgsl`; the others stay built in): try an edited kernel against the CPU without rebuilding.
    #[arg(long, value_name = "DIR")]
    pub shaders: Option<PathBuf>,
}

/// Runs `gpu-mnist check`.
pub fn run(args: CheckArgs) -> Result<()> {
    let ctx = GpuContext::new(&ContextOptions {
        allow_software: true,
        shader_dir: args.shaders.clone(),
        ..ContextOptions::new(args.backend)
    })?;
    outln!("device: {}", ctx.describe());
    if let Some(dir) = &args.shaders {
        match kernels::shader_overrides(dir)?.as_slice() {
            [] => outln!("shaders: {} holds no .wgsl file, so every shader is built in", dir.display()),
            files => outln!("shaders: {} from {}, the rest built in", files.join(", "), dir.display()),
        }
    }
    let (mut total, mut failed) = (0, 0);
    for &family in CheckFamily::ALL {
        for row in check::run_blocking(&ctx, family)? {
            total += 1;
            failed += usize::from(!row.pass);
            if !args.failures_only || !row.pass {
                outln!("{row}");
            }
        }
    }
    outln!("{} of {total} comparisons passed", total - failed);
    anyhow::ensure!(failed == 0, "{failed} of {total} comparisons failed: this device's kernels differ from the CPU");
    Ok(())
}
