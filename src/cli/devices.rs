//! `gpu-mnist devices`: the adapters wgpu finds, best first, with the limits that matter here.

use anyhow::Result;
use clap::Args;
use gpu_mnist::gpu::{self, BackendChoice};

#[derive(Args)]
pub struct DevicesArgs {
    /// Which GPU API to list.
    #[arg(long, value_enum, default_value_t = BackendChoice::Auto)]
    pub backend: BackendChoice,
}

/// Runs `gpu-mnist devices`.
pub fn run(args: DevicesArgs) -> Result<()> {
    let adapters = gpu::list_adapters(args.backend);
    if adapters.is_empty() {
        outln!("no GPU adapter found for --backend {}; `gpu-mnist train` runs on the CPU", args.backend.name());
    }
    for a in adapters {
        outln!("{a}");
    }
    Ok(())
}
