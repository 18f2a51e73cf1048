//! The CPU backend: interprets each [`Op`] of a plan directly with the reference functions of [`ops`]. A fused op
//! runs as the reference functions of the ops it fuses, in order (its "CPU twin"); stages run op after op.

mod interpret;
mod memory;
pub mod ops;

pub use memory::fix_for_memory;
use memory::{available_memory, GIB};

use std::sync::Arc;
use std::time::Duration;

use web_time::Instant;

use crate::backend::{Backend, PlanId, Stats, WorkCounts};
use crate::data::{Dataset, LabeledImages};
use crate::error::{Error, Result};
use crate::plan::{BufId, Layout, Op, Plan, Split};

/// Per-split reading state: sample order, position, statistics.
#[derive(Default)]
struct Cursor {
    order: Vec<u32>,
    position: usize,
    stats: Stats,
}

/// The signature the losses of [`ops`] over one unit per class share: (dz, outputs, labels, rows, classes) → batch statistics.
type LossFn = fn(Option<&mut [f32]>, &[f32], &[u32], usize, usize) -> Result<ops::BatchStats>;

/// A prepared plan: its ops and its stage sizes.
type PreparedPlan = (Arc<[Op]>, Arc<[usize]>);

/// The reference backend. Every buffer of the layout is a `Vec<f32>`.
pub struct CpuBackend {
    layout: Layout,
    data: Arc<Dataset>,
    /// The input value of each pixel value ([`Dataset::pixel_inputs`]), made once.
    pixel_inputs: [f32; 256],
    buffers: Vec<Vec<f32>>,
    labels: Vec<u32>,
    cursors: [Cursor; 2],
    steps_done: u64,
    /// What `run_collect` kept, until `take_collected`.
    collected: Vec<f32>,
    /// The statistics of the last `request_stats`, until `poll_stats` takes them.
    requested: Option<(Split, Stats)>,
    counts: WorkCounts,
    /// The ops and stage sizes of each prepared plan, shared so that `run` need not copy them to execute them.
    plans: Vec<PreparedPlan>,
}

impl CpuBackend {
    /// Allocates the layout's buffers (zeroed) over `data`; errors, naming the fix, when they do not fit in memory.
    pub fn new(layout: &Layout, data: Arc<Dataset>) -> Result<Self> {
        // Memory: refuse a model that cannot fit before allocating (an allocation failure would abort the process).
        let need = layout.bytes();
        if let Some(available) = available_memory().filter(|&a| need > a) {
            return Err(Error::Config(format!(
                "the model's buffers need {:.1} GiB but only {:.1} GiB of memory is available; {}",
                need as f64 / GIB,
                available as f64 / GIB,
                fix_for_memory(layout)
            )));
        }
        let mut buffers = Vec::with_capacity(layout.buffers.len());
        for b in &layout.buffers {
            let mut buffer = Vec::new();
            buffer.try_reserve_exact(b.len).map_err(|_| {
                Error::Config(format!(
                    "cannot allocate {:.1} GiB for buffer {} (the model's buffers need {:.1} GiB in all); {}",
                    b.len as f64 * 4.0 / GIB,
                    b.name,
                    need as f64 / GIB,
                    fix_for_memory(layout)
                ))
            })?;
            buffer.resize(b.len, 0.0);
            buffers.push(buffer);
        }
        Ok(CpuBackend {
            layout: layout.clone(),
            pixel_inputs: data.pixel_inputs(),
            data,
            buffers,
            labels: vec![0; layout.max_rows],
            cursors: Default::default(),
            steps_done: 0,
            collected: Vec::new(),
            requested: None,
            counts: WorkCounts::default(),
            plans: Vec::new(),
        })
    }

    fn split_data(&self, split: Split) -> &LabeledImages {
        match split {
            Split::Train => &self.data.train,
            Split::Test => &self.data.test,
        }
    }

    /// Takes buffer `id` out of the table so it can be written while others are read; [`Self::put`] returns it.
    fn take(&mut self, id: BufId) -> Vec<f32> {
        std::mem::take(&mut self.buffers[id])
    }

    fn put(&mut self, id: BufId, buf: Vec<f32>) {
        self.buffers[id] = buf;
    }

    /// The ops and stage sizes of a prepared plan.
    fn plan_ops(&self, plan: PlanId) -> Result<PreparedPlan> {
        self.plans.get(plan.0).cloned().ok_or_else(|| Error::Config(format!("no prepared plan {}", plan.0)))
    }

    fn add_stats(&mut self, split: Split, rows: usize, batch: ops::BatchStats) {
        let stats = &mut self.cursors[split.index()].stats;
        stats.loss_sum += batch.loss_sum;
        stats.correct += batch.correct;
        stats.samples += rows as u32;
    }
}

impl Backend for CpuBackend {
    fn describe(&self) -> String {
        let model = crate::bench::cpuinfo("model name").unwrap_or_else(|| std::env::consts::ARCH.to_owned());
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        match std::env::var("MATMUL_NUM_THREADS") {
            Ok(t) => format!("cpu ({model}, {cores} cores, MATMUL_NUM_THREADS={t})"),
            Err(_) => format!("cpu ({model}, {cores} cores)"),
        }
    }

    fn prepare(&mut self, plan: &Plan) -> Result<PlanId> {
        plan.validate(&self.layout)?;
        self.plans.push((plan.ops.as_slice().into(), plan.stages.as_slice().into()));
        Ok(PlanId(self.plans.len() - 1))
    }

    fn begin_epoch(&mut self, split: Split, order: &[u32]) -> Result<()> {
        let n = self.split_data(split).len();
        if let Some(&bad) = order.iter().find(|&&i| i as usize >= n) {
            return Err(Error::Config(format!("{split:?} order names sample {bad}, but the split has {n}")));
        }
        self.cursors[split.index()] = Cursor { order: order.to_vec(), ..Cursor::default() };
        Ok(())
    }

    fn run(&mut self, plan: PlanId, steps: usize) -> Result<()> {
        let (ops, stages) = self.plan_ops(plan)?;
        for _ in 0..steps {
            for op in ops.iter() {
                self.execute(op)?;
            }
            self.counts.steps += 1;
            self.counts.dispatches += stages.len() as u64;
        }
        Ok(())
    }

    fn run_collect(&mut self, plan: PlanId, steps: usize, id: BufId, len: usize) -> Result<()> {
        self.layout.check_buffer(id, None)?;
        if len > self.buffers[id].len() {
            return Err(Error::Config(format!("collecting {len} values of a buffer of {}", self.buffers[id].len())));
        }
        for _ in 0..steps {
            self.run(plan, 1)?;
            self.collected.extend_from_slice(&self.buffers[id][..len]);
        }
        Ok(())
    }

    fn take_collected(&mut self) -> Result<Vec<f32>> {
        Ok(std::mem::take(&mut self.collected))
    }

    fn request_stats(&mut self, split: Split) -> Result<()> {
        self.requested = Some((split, self.cursors[split.index()].stats));
        Ok(())
    }

    fn poll_stats(&mut self) -> Result<Option<(Split, Stats)>> {
        Ok(self.requested.take())
    }

    fn queued_steps(&self) -> u64 {
        self.steps_done
    }

    fn work_counts(&self) -> WorkCounts {
        self.counts
    }

    fn workgroups(&self, plan: PlanId) -> Result<Option<Vec<u64>>> {
        self.plan_ops(plan).map(|_| None)
    }

    fn profile(&mut self, plan: PlanId, steps: usize) -> Result<Option<Vec<Duration>>> {
        let (ops, stages) = self.plan_ops(plan)?;
        let mut times = vec![Duration::ZERO; stages.len()];
        for _ in 0..steps {
            let mut at = 0;
            for (&n, time) in stages.iter().zip(&mut times) {
                let started = Instant::now();
                for op in &ops[at..at + n] {
                    self.execute(op)?;
                }
                *time += started.elapsed();
                at += n;
            }
        }
        Ok(Some(times))
    }

    fn stats(&mut self, split: Split) -> Result<Stats> {
        Ok(self.cursors[split.index()].stats)
    }

    fn layout(&self) -> &Layout {
        &self.layout
    }

    fn read_buffer(&mut self, id: BufId) -> Result<Vec<f32>> {
        self.layout.check_buffer(id, None)?;
        Ok(self.buffers[id].clone())
    }

    fn write_buffer(&mut self, id: BufId, data: &[f32]) -> Result<()> {
        self.layout.check_buffer(id, Some(data.len()))?;
        self.buffers[id].copy_from_slice(data);
        Ok(())
    }

    fn steps_done(&mut self) -> Result<u64> {
        Ok(self.steps_done)
    }

    fn set_steps_done(&mut self, steps: u64) -> Result<()> {
        self.steps_done = steps;
        Ok(())
    }

    fn steps_per_check(&self) -> usize {
        1
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Activation, Loss, ModelConfig, OutputUnits, DEFAULT_LEAKY_SLOPE};
    use crate::optim::Optimizer;

    /// A model far beyond any machine's memory is refused before allocating, its size given in GiB (2³⁰ bytes).
    #[test]
    fn a_layout_larger_than_memory_is_refused_with_its_size() {
        let model = ModelConfig {
            output_units: OutputUnits::Classes,
            inputs: 784,
            hidden: vec![4_000_000, 4_000_000],
            classes: 10,
            activation: Activation::Relu,
            loss: Loss::Xent,
            leaky_slope: DEFAULT_LEAKY_SLOPE,
        };
        let layout = Layout::new(&model, Optimizer::sgd(0.1).unwrap(), 1);
        let Err(Error::Config(msg)) = CpuBackend::new(&layout, Arc::new(Dataset::empty(784, 10))) else {
            panic!("a {} GiB layout was accepted", layout.bytes() >> 30);
        };
        let gib = format!("need {:.1} GiB", layout.bytes() as f64 / 1_073_741_824.0);
        assert!(msg.contains(&gib), "{msg} (expected `{gib}`)");
    }
}
