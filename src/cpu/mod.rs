//! The CPU backend: interprets each [`Op`] of a plan directly with the reference functions of [`ops`]. A fused op
//! runs as the reference functions of the ops it fuses, in order (its "CPU twin"); stages run op after op.

pub mod ops;

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::backend::{Backend, PlanId, Stats, WorkCounts};
use crate::data::{Dataset, LabeledImages};
use crate::error::{Error, Result};
use crate::plan::{BufId, Layout, Op, Plan, Role, Split};

/// Per-split reading state: sample order, position, statistics.
#[derive(Default)]
struct Cursor {
    order: Vec<u32>,
    position: usize,
    stats: Stats,
}

/// The signature the two losses of [`ops`] share: (dz, outputs, labels, rows, classes) → batch statistics.
type LossFn = fn(Option<&mut [f32]>, &[f32], &[u32], usize, usize) -> Result<ops::BatchStats>;

const GIB: f64 = (1u64 << 30) as f64;

/// The memory this process can still take: `MemAvailable` of `/proc/meminfo` (Linux); `None` elsewhere.
fn available_memory() -> Option<u64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = info.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// What to change when `layout` does not fit in memory: the flag that sets what dominates it. The per-row buffers
/// (inputs, activations, deltas) hold `max_rows` rows, the larger of the training batch and the evaluation batch; the
/// parameters, gradients and optimizer state depend on the layer widths alone.
pub fn fix_for_memory(layout: &Layout) -> String {
    // u128: the lengths saturate at usize::MAX each, and several of them may.
    let per_row: u128 = layout
        .buffers
        .iter()
        .filter(|b| matches!(b.role, Role::Input | Role::Activation | Role::Delta | Role::RowStats))
        .map(|b| b.len as u128)
        .sum();
    let per_model: u128 = layout.buffers.iter().map(|b| b.len as u128).sum::<u128>() - per_row;
    if per_row >= per_model {
        format!(
            "most of it holds the {} rows of a step: use a smaller --batch-size, or --eval-batch (the rows of an \
             evaluation step) if that is the larger",
            layout.max_rows
        )
    } else {
        "most of it is the weights, gradients and optimizer state: use narrower --hidden layers".into()
    }
}

/// A prepared plan: its ops and its stage sizes.
type PreparedPlan = (Arc<[Op]>, Arc<[usize]>);

/// The reference backend. Every buffer of the layout is a `Vec<f32>`.
pub struct CpuBackend {
    layout: Layout,
    data: Arc<Dataset>,
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

    /// Executes one op with its reference function.
    fn execute(&mut self, op: &Op) -> Result<()> {
        match *op {
            Op::Gather { x, split, rows, features } => self.gather(x, split, rows, features),
            Op::Linear { y, x, w, b, act, rows, inputs, outputs } => {
                let mut out = self.take(y);
                let r = ops::linear(
                    &mut out,
                    &self.buffers[x],
                    &self.buffers[w],
                    &self.buffers[b],
                    act,
                    rows,
                    inputs,
                    outputs,
                );
                self.put(y, out);
                r
            }
            Op::SoftmaxXent { dz, logits: out, split, rows, classes }
            | Op::QuadraticCost { dz, a: out, split, rows, classes } => {
                let loss: LossFn = match op {
                    Op::SoftmaxXent { .. } => ops::softmax_xent,
                    _ => ops::quadratic_cost,
                };
                let mut grad = dz.map(|d| self.take(d));
                let r = loss(grad.as_deref_mut(), &self.buffers[out], &self.labels, rows, classes);
                if let (Some(d), Some(g)) = (dz, grad) {
                    self.put(d, g);
                }
                self.add_stats(split, rows, r?);
                Ok(())
            }
            Op::BiasGrad { db, dz, rows, outputs } => {
                let mut out = self.take(db);
                let r = ops::bias_grad(&mut out, &self.buffers[dz], rows, outputs);
                self.put(db, out);
                r
            }
            Op::WeightGrad { dw, dz, x, rows, inputs, outputs } => {
                let mut out = self.take(dw);
                let r = ops::weight_grad(&mut out, &self.buffers[dz], &self.buffers[x], rows, inputs, outputs);
                self.put(dw, out);
                r
            }
            Op::InputGrad { dx, dz, w, x, act, rows, inputs, outputs } => {
                let mut out = self.take(dx);
                let r = ops::input_grad(
                    &mut out,
                    &self.buffers[dz],
                    &self.buffers[w],
                    &self.buffers[x],
                    act,
                    rows,
                    inputs,
                    outputs,
                );
                self.put(dx, out);
                r
            }
            Op::Update { param, state, grad, optimizer, len, decay_steps } => {
                self.update(param, state, grad, optimizer, len, self.steps_done + 1, decay_steps)
            }
            Op::FusedLinear { .. } => self.fused_linear(op),
            Op::GradUpdate { .. } => self.grad_update(op),
            Op::Advance { split, rows, row_stats } => {
                if let Some(id) = row_stats {
                    let batch = ops::sum_row_stats(&self.buffers[id], rows)?;
                    self.add_stats(split, rows, batch);
                }
                self.cursors[split.index()].position += rows;
                if split == Split::Train {
                    self.steps_done += 1;
                }
                Ok(())
            }
        }
    }

    /// [`Op::Gather`]: x and the batch labels from the split's order at its cursor.
    fn gather(&mut self, x: BufId, split: Split, rows: usize, features: usize) -> Result<()> {
        let cursor = &self.cursors[split.index()];
        let range = cursor.position..cursor.position + rows;
        if range.end > cursor.order.len() {
            let (have, at) = (cursor.order.len(), cursor.position);
            return Err(Error::Config(format!(
                "the {split:?} order has {have} samples; a step at {at} needs {rows} more"
            )));
        }
        let mut out = self.take(x);
        let mut labels = std::mem::take(&mut self.labels);
        let src = self.split_data(split);
        let order = &self.cursors[split.index()].order[range];
        let result = ops::gather(&mut out, &mut labels, &src.images, &src.labels, order, rows, features);
        self.labels = labels;
        self.put(x, out);
        result
    }

    /// The CPU twin of [`Op::FusedLinear`]: gather (if asked), linear, then the loss head's per-row statistics
    /// and gradient (if any).
    fn fused_linear(&mut self, op: &Op) -> Result<()> {
        let Op::FusedLinear { y, x, w, b, act, rows, inputs, outputs, gather, head } = *op else {
            return Err(Error::Config(format!("fused_linear given {}", op.label())));
        };
        if let Some(split) = gather {
            self.gather(x, split, rows, inputs)?;
        }
        self.execute(&Op::Linear { y, x, w, b, act, rows, inputs, outputs })?;
        let Some(head) = head else { return Ok(()) };
        let mut stats = self.take(head.row_stats);
        let mut grad = head.dz.map(|d| self.take(d));
        let r =
            ops::loss_rows(&mut stats, grad.as_deref_mut(), &self.buffers[y], &self.labels, head.loss, rows, outputs);
        if let (Some(d), Some(g)) = (head.dz, grad) {
            self.put(d, g);
        }
        self.put(head.row_stats, stats);
        r.map(drop)
    }

    /// The CPU twin of [`Op::GradUpdate`]: weight gradient, bias gradient, then both updates at the step count
    /// (this step's `Advance` has already counted it: t = steps done).
    fn grad_update(&mut self, op: &Op) -> Result<()> {
        let Op::GradUpdate { w, b, gw, gb, sw, sb, dz, x, optimizer, rows, inputs, outputs, decay_steps } = *op else {
            return Err(Error::Config(format!("grad_update given {}", op.label())));
        };
        self.execute(&Op::WeightGrad { dw: gw, dz, x, rows, inputs, outputs })?;
        self.execute(&Op::BiasGrad { db: gb, dz, rows, outputs })?;
        let t = self.steps_done;
        self.update(w, sw, gw, optimizer, inputs * outputs, t, decay_steps)?;
        self.update(b, sb, gb, optimizer, outputs, t, decay_steps)
    }

    /// [`ops::update`] of buffer `param` (its first `len` values) from `grad` with its state buffers, at step `t`.
    #[allow(clippy::too_many_arguments)]
    fn update(
        &mut self,
        param: BufId,
        state: [Option<BufId>; 2],
        grad: BufId,
        optimizer: crate::optim::Optimizer,
        len: usize,
        t: u64,
        decay_steps: u64,
    ) -> Result<()> {
        let mut p = self.take(param);
        let mut s0 = state[0].map(|s| self.take(s));
        let mut s1 = state[1].map(|s| self.take(s));
        let r = match p.get_mut(..len) {
            Some(p) => {
                ops::update(p, s0.as_deref_mut(), s1.as_deref_mut(), &self.buffers[grad], optimizer, t, decay_steps)
            }
            None => Err(Error::Config(format!("update of {len} values in a buffer of {}", p.len()))),
        };
        self.put(param, p);
        for (id, buf) in state.iter().zip([s0, s1]) {
            if let (Some(id), Some(buf)) = (id, buf) {
                self.put(*id, buf);
            }
        }
        r
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
    use crate::model::{Activation, Loss, ModelConfig};
    use crate::optim::Optimizer;

    /// A model far beyond any machine's memory is refused before allocating, its size given in GiB (2³⁰ bytes).
    #[test]
    fn a_layout_larger_than_memory_is_refused_with_its_size() {
        let model = ModelConfig {
            inputs: 784,
            hidden: vec![4_000_000, 4_000_000],
            classes: 10,
            activation: Activation::Relu,
            loss: Loss::Xent,
        };
        let layout = Layout::new(&model, Optimizer::Sgd { lr: 0.1 }, 1);
        let Err(Error::Config(msg)) = CpuBackend::new(&layout, Arc::new(Dataset::empty(784, 10))) else {
            panic!("a {} GiB layout was accepted", layout.bytes() >> 30);
        };
        let gib = format!("need {:.1} GiB", layout.bytes() as f64 / 1_073_741_824.0);
        assert!(msg.contains(&gib), "{msg} (expected `{gib}`)");
    }
}
