//! Reading GPU buffers without blocking: the copy is queued and the mapping requested, and the caller awaits its
//! completion. A browser maps buffers only after control returns to its event loop, so this is the only way to read
//! there; natively the future waits for the GPU with one blocking poll first (`pollster` then resolves it at once).

use crate::backend::Stats;
use crate::error::{Error, Result};
use crate::gpu::arena::bytes;
use crate::gpu::backend::{GpuBackend, BATCH_LABELS_WHAT};
use crate::gpu::context::GpuContext;
use crate::gpu::counters::{self, COUNTER_WORDS};
use crate::model::{Layer, Params};
use crate::plan::{BufId, Split};

impl GpuContext {
    /// The `bytes` bytes of `src` from byte `offset` (a multiple of 4), through a staging buffer made for this read.
    pub async fn read_bytes_async(&self, src: &wgpu::Buffer, offset: u64, bytes: u64, what: &str) -> Result<Vec<u8>> {
        self.check(what)?;
        // Copy: a storage buffer is read through a mappable staging buffer.
        let staging = self.staging_buffer(bytes);
        self.queue_copy(src, offset, &staging, bytes, what);
        // Map: its callback completes the channel, from the event loop in a browser or from the poll below natively.
        let (tx, rx) = futures_channel::oneshot::channel();
        staging.map_async(wgpu::MapMode::Read, 0..bytes, move |r| {
            let _ = tx.send(r);
        });
        #[cfg(not(target_arch = "wasm32"))]
        self.device()
            .poll(wgpu::PollType::Wait { submission_index: None, timeout: None })
            .map_err(|e| Error::Gpu(format!("{what}: waiting for the GPU failed: {e}")))?;
        let mapped = rx.await.map_err(|_| Error::Gpu(format!("{what}: the mapping was dropped unanswered")))?;
        // Read: copy out of the mapping, then unmap.
        self.take_mapped(mapped, &staging, bytes, what)
    }

    /// A mappable buffer of `bytes` bytes (at least 4) for one read (the blocking read's and the awaited one's).
    pub(super) fn staging_buffer(&self, bytes: u64) -> wgpu::Buffer {
        self.device().create_buffer(&wgpu::BufferDescriptor {
            label: Some("read-back staging"),
            size: bytes.max(4),
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        })
    }

    /// Queues the copy of the `bytes` bytes of `src` from byte `offset` into `staging`, and returns its submission.
    pub(super) fn queue_copy(
        &self,
        src: &wgpu::Buffer,
        offset: u64,
        staging: &wgpu::Buffer,
        bytes: u64,
        what: &str,
    ) -> wgpu::SubmissionIndex {
        let mut encoder = self.device().create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some(what) });
        encoder.copy_buffer_to_buffer(src, offset, staging, 0, bytes);
        self.queue().submit([encoder.finish()])
    }

    /// After a `map_async` of `staging`'s first `bytes` bytes answered `mapped`: checks the device and the mapping,
    /// copies the bytes out and unmaps, so the staging buffer can be reused (the blocking read's end too).
    pub(super) fn take_mapped(
        &self,
        mapped: std::result::Result<(), wgpu::BufferAsyncError>,
        staging: &wgpu::Buffer,
        bytes: u64,
        what: &str,
    ) -> Result<Vec<u8>> {
        self.check(what)?;
        mapped.map_err(|e| Error::Gpu(format!("{what}: mapping the result failed: {e}")))?;
        let data = staging
            .get_mapped_range(0..bytes)
            .map(|view| view.to_vec())
            .map_err(|e| Error::Gpu(format!("{what}: reading the mapped result failed: {e}")));
        staging.unmap();
        data
    }
}

impl GpuBackend {
    /// [`crate::backend::Backend::read_buffer`] without blocking.
    pub async fn read_buffer_async(&self, id: BufId) -> Result<Vec<f32>> {
        self.layout.check_buffer(id, None)?;
        let desc = &self.layout.buffers[id];
        let what = format!("reading buffer {}", desc.name);
        let raw = self.ctx.read_bytes_async(&self.res.mem, self.res.offsets[id] * 4, bytes(desc.len), &what).await?;
        Ok(bytemuck::pod_collect_to_vec(&raw))
    }

    /// [`crate::backend::Backend::read_params`] without blocking.
    pub async fn read_params_async(&self) -> Result<Params> {
        let mut layers = Vec::new();
        for l in &self.layout.layers {
            let (weight, bias) = (self.read_buffer_async(l.w).await?, self.read_buffer_async(l.b).await?);
            layers.push(Layer { weight, bias, inputs: l.inputs, outputs: l.outputs });
        }
        Ok(Params { layers })
    }

    /// [`crate::backend::Backend::stats`] without blocking.
    pub async fn stats_async(&self, split: Split) -> Result<Stats> {
        Ok(counters::stats(&self.read_counters_async().await?, split))
    }

    /// [`crate::backend::Backend::steps_done`] without blocking.
    pub async fn steps_done_async(&self) -> Result<u64> {
        Ok(counters::steps_done(&self.read_counters_async().await?))
    }

    /// [`GpuBackend::read_batch_labels`] without blocking.
    pub async fn read_batch_labels_async(&self) -> Result<Vec<u32>> {
        let raw = self.ctx.read_bytes_async(&self.res.batch_labels, 0, self.batch_labels_bytes(), BATCH_LABELS_WHAT);
        Ok(bytemuck::pod_collect_to_vec(&raw.await?))
    }

    /// The whole counter buffer, decoded as the blocking read decodes it.
    async fn read_counters_async(&self) -> Result<[u32; COUNTER_WORDS]> {
        let raw = self.ctx.read_bytes_async(&self.res.counters, 0, bytes(COUNTER_WORDS), counters::READ_WHAT).await?;
        counters::words(&raw)
    }
}
