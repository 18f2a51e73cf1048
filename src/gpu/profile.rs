//! Kernel timing for `bench --profile`: each dispatch of a plan in a compute pass of its own between two timestamp
//! queries, the ticks summed per dispatch over the steps and turned into time.

use std::time::Duration;

use crate::error::Result;
use crate::gpu::context::GpuContext;
use crate::gpu::dispatch::Dispatch;

/// The timestamp queries of one profiling run, and the buffers their values come back through.
pub(crate) struct KernelTimer {
    query_set: wgpu::QuerySet,
    resolved: wgpu::Buffer,
    staging: wgpu::Buffer,
    /// Dispatches per step (at least 1).
    per_step: usize,
    /// Steps per submission: as many as one query set holds.
    steps_per_submit: usize,
}

impl KernelTimer {
    /// The queries for `steps` runs of a plan of `dispatches` dispatches. The device needs timestamp queries
    /// ([`GpuContext::has_timestamps`]).
    pub fn new(ctx: &GpuContext, dispatches: usize, steps: usize) -> Result<Self> {
        let device = ctx.device();
        let per_step = dispatches.max(1);
        // Queries: a start and an end timestamp per dispatch, as many steps per submission as one query set holds.
        let steps_per_submit = (wgpu::QUERY_SET_MAX_QUERIES as usize / (2 * per_step)).max(1);
        let queries = 2 * per_step * steps_per_submit.min(steps.max(1));
        let (query_set, resolved, staging) = ctx.scoped("creating the timestamp queries", || {
            let query_set = device.create_query_set(&wgpu::QuerySetDescriptor {
                label: Some("kernel timestamps"),
                ty: wgpu::QueryType::Timestamp,
                count: queries as u32,
            });
            let size = (queries * 8) as u64;
            let resolved = device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("resolved timestamps"),
                size,
                usage: wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC,
                mapped_at_creation: false,
            });
            let staging = device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("timestamps read-back"),
                size,
                usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            });
            (query_set, resolved, staging)
        })?;
        Ok(KernelTimer { query_set, resolved, staging, per_step, steps_per_submit })
    }

    /// Runs `dispatches` (one step of a plan) `steps` times and returns each dispatch's time, summed over the steps.
    pub fn time(&self, ctx: &GpuContext, dispatches: &[Dispatch], steps: usize) -> Result<Vec<Duration>> {
        let device = ctx.device();
        let per_step = self.per_step;
        let mut ticks = vec![0u64; per_step];
        let mut left = steps;
        while left > 0 {
            let chunk = left.min(self.steps_per_submit);
            left -= chunk;
            // Encode: one compute pass per dispatch, so that each gets its own start and end timestamps.
            let mut encoder = device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("profile") });
            for step in 0..chunk {
                for (i, d) in dispatches.iter().enumerate() {
                    let at = (2 * (step * per_step + i)) as u32;
                    let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                        label: Some("profiled op"),
                        timestamp_writes: Some(wgpu::ComputePassTimestampWrites {
                            query_set: &self.query_set,
                            beginning_of_pass_write_index: Some(at),
                            end_of_pass_write_index: Some(at + 1),
                        }),
                    });
                    d.encode(&mut pass);
                }
            }
            let used = (2 * chunk * per_step) as u32;
            encoder.resolve_query_set(&self.query_set, 0..used, &self.resolved, 0);
            ctx.queue().submit([encoder.finish()]);
            // Read back: the timestamps of this chunk, in ticks; end − start per dispatch.
            let raw =
                ctx.read_back(&self.resolved, &self.staging, u64::from(used) * 8, "reading the kernel timestamps")?;
            let stamps: Vec<u64> = bytemuck::pod_collect_to_vec(&raw);
            for (i, pair) in stamps.chunks_exact(2).enumerate() {
                ticks[i % per_step] += pair[1].saturating_sub(pair[0]);
            }
        }
        // Ticks to time: the queue's period is in nanoseconds per tick.
        let period = f64::from(ctx.queue().get_timestamp_period());
        Ok(ticks.into_iter().map(|t| Duration::from_nanos((t as f64 * period).round() as u64)).collect())
    }
}
