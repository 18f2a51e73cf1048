//! The outputs `run_collect` copies during evaluation: one mappable buffer per call, holding each step's copy, kept
//! until `take_collected` maps them all and reads them after a single wait.

use crate::error::{Error, Result};
use crate::gpu::context::GpuContext;

/// Mappable buffers and the bytes each holds, in the order they were filled.
#[derive(Default)]
pub(crate) struct Collected {
    buffers: Vec<(wgpu::Buffer, u64)>,
}

impl Collected {
    /// A mappable buffer for `total` bytes of copies, to be filled and then [`Collected::push`]ed.
    pub fn allocate(ctx: &GpuContext, total: u64) -> Result<wgpu::Buffer> {
        ctx.scoped("allocating the evaluation read-back", || {
            ctx.device().create_buffer(&wgpu::BufferDescriptor {
                label: Some("collected outputs"),
                size: total.max(4),
                usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            })
        })
    }

    /// Keeps `buffer`, whose first `total` bytes the queued copies fill, until [`Collected::take`].
    pub fn push(&mut self, buffer: wgpu::Buffer, total: u64) {
        self.buffers.push((buffer, total));
    }

    /// Every value copied since the last take, in order: waits once for the GPU, then reads each buffer.
    pub fn take(&mut self, ctx: &GpuContext) -> Result<Vec<f32>> {
        let collected = std::mem::take(&mut self.buffers);
        // Map every buffer, then one wait for all of them.
        let (tx, rx) = std::sync::mpsc::channel();
        for (i, (buffer, total)) in collected.iter().enumerate() {
            let tx = tx.clone();
            buffer.map_async(wgpu::MapMode::Read, 0..(*total).max(4), move |r| {
                let _ = tx.send((i, r));
            });
        }
        drop(tx);
        let wait = wgpu::PollType::Wait { submission_index: None, timeout: None };
        ctx.device().poll(wait).map_err(|e| Error::Gpu(format!("waiting for the evaluation failed: {e}")))?;
        for (i, r) in rx.iter() {
            r.map_err(|e| Error::Gpu(format!("mapping the evaluation's outputs (part {i}) failed: {e}")))?;
        }
        ctx.check("reading the evaluation's outputs")?;
        // Read: copy each mapping out, then unmap.
        let mut values = Vec::new();
        for (buffer, total) in &collected {
            if *total > 0 {
                let view = buffer
                    .get_mapped_range(0..*total)
                    .map_err(|e| Error::Gpu(format!("reading the evaluation's outputs failed: {e}")))?;
                values.extend(bytemuck::pod_collect_to_vec::<u8, f32>(&view));
            }
            buffer.unmap();
        }
        Ok(values)
    }
}
