//! [`Plan`], the ops of one step grouped into stages, and [`Plan::validate`]: the bounds of every buffer an op
//! names and the race rule (no op of a stage writes what another op of the same stage reads or writes).

use crate::error::{Error, Result};
use crate::plan::access::Resource;
use crate::plan::layout::{Layout, Role, Split};
use crate::plan::op::Op;

/// A step: the ops of one training or evaluation step at a fixed batch size, grouped into stages.
#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    /// Samples per step.
    pub rows: usize,
    /// Which split it reads.
    pub split: Split,
    /// The ops, in order.
    pub ops: Vec<Op>,
    /// How many consecutive ops of `ops` form each stage (sums to `ops.len()`). The ops of a stage are independent
    /// ([`Plan::validate`]); a GPU runs each stage as one dispatch.
    pub stages: Vec<usize>,
}

impl Plan {
    /// A plan whose every op is a stage of its own.
    pub fn one_op_per_stage(rows: usize, split: Split, ops: Vec<Op>) -> Plan {
        let stages = vec![1; ops.len()];
        Plan { rows, split, ops, stages }
    }

    /// A plan from its stages, in order.
    pub fn from_stages(rows: usize, split: Split, stages: Vec<Vec<Op>>) -> Plan {
        let sizes = stages.iter().map(Vec::len).collect();
        Plan { rows, split, ops: stages.into_iter().flatten().collect(), stages: sizes }
    }

    /// The ops of each stage, in order.
    pub fn stage_ops(&self) -> impl Iterator<Item = &[Op]> + '_ {
        let mut at = 0;
        self.stages.iter().map(move |&n| {
            let stage = &self.ops[at.min(self.ops.len())..(at + n).min(self.ops.len())];
            at += n;
            stage
        })
    }

    /// Checks the plan against `layout` before any backend runs it: the stages cover the ops, every buffer an op
    /// names exists and is large enough, every input gradient reads what its activation's derivative is written in
    /// terms of (the pre-activation z where the activation [needs it](crate::model::Activation::needs_pre_activation),
    /// else the layer's output), every op reads the plan's split, and no op of a stage writes what another op of the
    /// same stage reads or writes. The last rule is what makes a stage safe to run as one GPU
    /// dispatch, whose workgroups run in no defined order.
    pub fn validate(&self, layout: &Layout) -> Result<()> {
        if self.stages.iter().sum::<usize>() != self.ops.len() || self.stages.contains(&0) {
            return Err(Error::Config(format!(
                "a plan of {} ops has stages of sizes {:?}",
                self.ops.len(),
                self.stages
            )));
        }
        for op in &self.ops {
            for (id, need) in op.buffers() {
                let Some(desc) = layout.buffers.get(id) else {
                    return Err(Error::Config(format!(
                        "{}: no buffer {id} in a layout of {}",
                        op.label(),
                        layout.buffers.len()
                    )));
                };
                if desc.len < need {
                    return Err(Error::Config(format!(
                        "{}: buffer {} holds {} values but the op needs {need}",
                        op.label(),
                        desc.name,
                        desc.len
                    )));
                }
            }
            if let Op::InputGrad { saved, act, .. } = *op {
                let (want, what) = if act.needs_pre_activation() {
                    (Role::PreActivation, "the layer's pre-activation z")
                } else {
                    (Role::Activation, "the layer's output")
                };
                let desc = &layout.buffers[saved];
                if desc.role != want {
                    return Err(Error::Config(format!(
                        "{}: the {} derivative is written in terms of {what}, not {} (a {:?} buffer)",
                        op.label(),
                        act.name(),
                        desc.name,
                        desc.role
                    )));
                }
            }
            let (reads, writes) = op.access();
            let other = [Split::Train, Split::Test].into_iter().find(|&s| s != self.split);
            let names_other = reads
                .iter()
                .chain(&writes)
                .any(|r| matches!(r, Resource::Cursor(s) | Resource::Stats(s) if Some(*s) == other));
            if names_other {
                return Err(Error::Config(format!(
                    "{}: the op reads another split than its {:?} plan",
                    op.label(),
                    self.split
                )));
            }
        }
        for stage in self.stage_ops() {
            for (i, a) in stage.iter().enumerate() {
                let (a_reads, a_writes) = a.access();
                for b in stage.iter().skip(i + 1) {
                    let (b_reads, b_writes) = b.access();
                    let clash = a_writes
                        .iter()
                        .find(|r| b_reads.contains(r) || b_writes.contains(r))
                        .or_else(|| b_writes.iter().find(|r| a_reads.contains(r)));
                    if let Some(r) = clash {
                        return Err(Error::Config(format!(
                            "{} and {} share a stage but both touch {r:?} and one writes it: a GPU dispatch does \
                             not order its workgroups",
                            a.label(),
                            b.label()
                        )));
                    }
                }
            }
        }
        Ok(())
    }
}
