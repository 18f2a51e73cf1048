//! Statistics read back without waiting: a small ring of mappable copies of the counter buffer.
//!
//! A request encodes a copy of the counters (as they will be once everything queued before it has run) into a free
//! slot, submits it and asks wgpu to map the slot; wgpu calls back when the GPU is done, during some later poll.
//! [`StatsRing::poll`] polls without blocking and hands out the newest copy that has arrived. With every slot in
//! flight a request first waits for the oldest copy: the host then stays at most [`RING_SLOTS`] chunks of steps
//! ahead of the GPU (so a Ctrl-C takes effect within a few chunks, and a chunk is sized to about a second), while the
//! chunks still queued keep the GPU busy — a throttle, not a drain.
//! The waiting itself stays at the edge: a command line calls the blocking [`crate::backend::Backend::stats`] at
//! the end of an epoch, a browser would poll from its event loop.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;

use crate::backend::Stats;
use crate::error::{Error, Result};
use crate::gpu::context::GpuContext;
use crate::gpu::counters::{self, COUNTER_WORDS};
use crate::plan::Split;

/// Copies in flight at most.
pub const RING_SLOTS: usize = 3;

const IDLE: u8 = 0;
const PENDING: u8 = 1;
const MAPPED: u8 = 2;
const FAILED: u8 = 3;

/// One mappable copy of the counters and where it stands.
struct Slot {
    staging: wgpu::Buffer,
    /// IDLE, PENDING (copy submitted, mapping asked for), MAPPED or FAILED (set by wgpu's callback).
    state: Arc<AtomicU8>,
    split: Split,
    /// Request number, so the newest of several arrived copies wins.
    serial: u64,
    /// The submission of the copy, to wait for it.
    submission: Option<wgpu::SubmissionIndex>,
}

/// The ring of read-back slots of one backend.
pub struct StatsRing {
    slots: Vec<Slot>,
    serial: u64,
    /// A copy read out of its slot to free it, until `poll` hands it out.
    arrived: Option<(u64, Split, Stats)>,
}

const BYTES: u64 = (COUNTER_WORDS * 4) as u64;

impl StatsRing {
    /// [`RING_SLOTS`] idle slots on `ctx`'s device.
    pub fn new(ctx: &GpuContext) -> Self {
        let slots = (0..RING_SLOTS)
            .map(|_| Slot {
                staging: ctx.device().create_buffer(&wgpu::BufferDescriptor {
                    label: Some("statistics read-back"),
                    size: BYTES,
                    usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                    mapped_at_creation: false,
                }),
                state: Arc::new(AtomicU8::new(IDLE)),
                split: Split::Train,
                serial: 0,
                submission: None,
            })
            .collect();
        StatsRing { slots, serial: 0, arrived: None }
    }

    /// Queues a copy of `counters` into an idle slot and asks for its mapping. With every slot in flight it first
    /// waits for the oldest copy (that copy is kept for [`StatsRing::poll`]); returns whether it had to wait.
    pub fn request(&mut self, ctx: &GpuContext, counters: &wgpu::Buffer, split: Split) -> Result<bool> {
        let idle = |ring: &Self| ring.slots.iter().any(|s| s.state.load(Ordering::Acquire) == IDLE);
        // Copies that have arrived but were not read yet are read into `arrived` first (freeing their slots without
        // losing them): waiting is only for a slot whose copy is still in flight, never for the whole queue.
        if !idle(self) {
            self.keep_arrived()?;
        }
        let mut waited = false;
        if !idle(self) {
            self.wait_oldest(ctx)?;
            waited = true;
            self.keep_arrived()?;
        }
        let Some(slot) = self.slots.iter_mut().find(|s| s.state.load(Ordering::Acquire) == IDLE) else {
            return Err(Error::Gpu("a statistics copy did not arrive after waiting for it".into()));
        };
        // Copy: after everything already submitted, so the copy holds the counters as that work leaves them.
        let mut encoder =
            ctx.device().create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("statistics copy") });
        encoder.copy_buffer_to_buffer(counters, 0, &slot.staging, 0, BYTES);
        slot.submission = Some(ctx.queue().submit([encoder.finish()]));
        // Map: the callback only records the outcome; the copy is read in `poll`.
        self.serial += 1;
        (slot.split, slot.serial) = (split, self.serial);
        slot.state.store(PENDING, Ordering::Release);
        let state = Arc::clone(&slot.state);
        slot.staging.map_async(wgpu::MapMode::Read, 0..BYTES, move |r| {
            state.store(if r.is_ok() { MAPPED } else { FAILED }, Ordering::Release);
        });
        ctx.check("requesting the statistics")?;
        Ok(waited)
    }

    /// Reads the copies that have arrived into `arrived` (the newest kept), freeing their slots.
    fn keep_arrived(&mut self) -> Result<()> {
        if let Some(newest) = self.collect()? {
            if self.arrived.is_none_or(|(serial, _, _)| serial < newest.0) {
                self.arrived = Some(newest);
            }
        }
        Ok(())
    }

    /// Blocks until the oldest copy in flight has arrived (the GPU has finished the work queued before it, and is
    /// still busy with what was queued after).
    fn wait_oldest(&mut self, ctx: &GpuContext) -> Result<()> {
        let oldest = self
            .slots
            .iter()
            .filter(|s| s.state.load(Ordering::Acquire) == PENDING)
            .min_by_key(|s| s.serial)
            .and_then(|s| s.submission.clone());
        let wait = wgpu::PollType::Wait { submission_index: oldest, timeout: None };
        ctx.device().poll(wait).map_err(|e| Error::Gpu(format!("waiting for a statistics copy failed: {e}")))?;
        Ok(())
    }

    /// Polls the device without blocking and returns the newest copy that has arrived since the last call (older
    /// arrived copies are dropped), or `None`.
    pub fn poll(&mut self, ctx: &GpuContext) -> Result<Option<(Split, Stats)>> {
        ctx.device()
            .poll(wgpu::PollType::Poll)
            .map_err(|e| Error::Gpu(format!("polling for the statistics failed: {e}")))?;
        let collected = self.collect()?;
        let kept = self.arrived.take();
        Ok(match (kept, collected) {
            (Some(a), Some(b)) => Some(if a.0 > b.0 { a } else { b }),
            (a, b) => a.or(b),
        }
        .map(|(_, split, stats)| (split, stats)))
    }

    /// Reads every mapped copy, frees its slot, and returns the newest (with its serial).
    fn collect(&mut self) -> Result<Option<(u64, Split, Stats)>> {
        let mut newest: Option<(u64, Split, Stats)> = None;
        for slot in &mut self.slots {
            match slot.state.load(Ordering::Acquire) {
                MAPPED => {
                    let words: Vec<u32> = slot
                        .staging
                        .get_mapped_range(0..BYTES)
                        .map(|view| bytemuck::pod_collect_to_vec(&view))
                        .map_err(|e| Error::Gpu(format!("reading the statistics copy failed: {e}")))?;
                    slot.staging.unmap();
                    slot.state.store(IDLE, Ordering::Release);
                    let words: [u32; COUNTER_WORDS] = words
                        .try_into()
                        .map_err(|w: Vec<u32>| Error::Gpu(format!("a statistics copy of {} words", w.len())))?;
                    let stats = counters::stats(&words, slot.split);
                    if newest.is_none_or(|(serial, _, _)| serial < slot.serial) {
                        newest = Some((slot.serial, slot.split, stats));
                    }
                }
                FAILED => {
                    slot.state.store(IDLE, Ordering::Release);
                    return Err(Error::Gpu("mapping a statistics copy failed; the device may be lost".into()));
                }
                _ => {}
            }
        }
        Ok(newest)
    }
}
