//! One op ready to encode ([`Dispatch`]: its pipeline, bind group and grid), and the [`Builder`] that makes one:
//! the op's buffers bound as ranges of the arena (or named by their offsets in it, for the fused kernel), its
//! uniform written once, its bind group, and a grid within the device's limits. Which dispatch each op becomes is
//! `compile_ops.rs`'s and `compile_fused.rs`' job.

use bytemuck::Pod;

use crate::error::{Error, Result};
use crate::gpu::arena::bytes;
use crate::gpu::context::GpuContext;
use crate::gpu::kernels::{Kernel, Kernels};
use crate::gpu::params::MatmulParams;
use crate::gpu::tiles::{MatmulChoice, Tile};
use crate::gpu::upload::Resident;
use crate::plan::{BufId, Layout};

/// One op, ready to encode: its pipeline, its bind group (which holds its uniform) and its grid.
pub(crate) struct Dispatch {
    pipeline: wgpu::ComputePipeline,
    bind_group: wgpu::BindGroup,
    /// Workgroups along x, y and z.
    pub groups: [u32; 3],
}

impl Dispatch {
    /// Records the dispatch into a compute pass.
    pub fn encode(&self, pass: &mut wgpu::ComputePass<'_>) {
        pass.set_pipeline(&self.pipeline);
        pass.set_bind_group(0, &self.bind_group, &[]);
        let [x, y, z] = self.groups;
        pass.dispatch_workgroups(x, y, z);
    }
}

/// What turning ops into dispatches reads: the device, the pipelines, the layout and the buffers that hold it, and
/// how products pick their kernel and tile. Made for one `prepare` of a plan.
pub(crate) struct Builder<'a> {
    pub ctx: &'a GpuContext,
    pub kernels: &'a Kernels,
    pub layout: &'a Layout,
    pub res: &'a Resident,
    pub matmul: MatmulChoice,
}

impl Builder<'_> {
    /// The range of the arena holding buffer `id`, or a configuration error naming the op that refers to it.
    pub fn buffer(&self, id: BufId, need: usize, what: &str) -> Result<wgpu::BufferBinding<'_>> {
        let (Some(desc), Some(&offset)) = (self.layout.buffers.get(id), self.res.offsets.get(id)) else {
            return Err(Error::Config(format!("{what}: no buffer {id} in a layout of {}", self.layout.buffers.len())));
        };
        if desc.len < need {
            return Err(Error::Config(format!(
                "{what}: buffer {} holds {} values but the op needs {need}",
                desc.name, desc.len
            )));
        }
        Ok(wgpu::BufferBinding {
            buffer: &self.res.mem,
            offset: offset * 4,
            size: wgpu::BufferSize::new(bytes(desc.len.max(1))),
        })
    }

    /// The offset of buffer `id` in the arena, in f32s, for the fused kernel (the plan was validated against the
    /// layout, so `id` exists and is large enough).
    pub fn offset(&self, id: BufId) -> Result<u32> {
        let at = self.res.offsets.get(id).ok_or_else(|| Error::Config(format!("no buffer {id} in the layout")))?;
        u32::try_from(*at).map_err(|_| Error::Gpu(format!("buffer {id} starts past the fused kernel's 32-bit offsets")))
    }

    /// [`Self::offset`] of an optional buffer (0 where there is none: the kernel does not read it).
    pub fn offset_or_zero(&self, id: Option<BufId>) -> Result<u32> {
        id.map_or(Ok(0), |id| self.offset(id))
    }

    /// One dispatch of `kernel` over `storage` (in [`Kernel::bindings`] order) with `params` as its uniform.
    pub fn dispatch<P: Pod>(
        &self,
        kernel: Kernel,
        storage: &[wgpu::BufferBinding<'_>],
        params: &P,
        groups: [u32; 3],
    ) -> Result<Dispatch> {
        let device = self.ctx.device();
        let max = device.limits().max_compute_workgroups_per_dimension;
        if let Some(&g) = groups.iter().find(|&&g| g > max) {
            return Err(Error::Config(format!(
                "{kernel:?} needs {g} workgroups in one dimension, over the device's limit of {max}; use a smaller \
                 batch"
            )));
        }
        // Uniform: the op's sizes, written once here, never per step. Created empty and then written through the
        // queue (not `create_buffer_init`, which panics inside wgpu if the device is lost in between).
        let uniform = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some(kernel.entry()),
            size: std::mem::size_of::<P>() as u64,
            usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        self.ctx.queue().write_buffer(&uniform, 0, bytemuck::bytes_of(params));
        // Bind group: the storage buffers in the kernel's binding order, then the uniform.
        let bindings = kernel.bindings();
        let mut resources: Vec<wgpu::BufferBinding<'_>> = storage.to_vec();
        resources.push(uniform.as_entire_buffer_binding());
        if resources.len() != bindings.len() {
            return Err(Error::Gpu(format!("{kernel:?} binds {} buffers, {} given", bindings.len(), resources.len())));
        }
        let entries: Vec<wgpu::BindGroupEntry> = bindings
            .iter()
            .zip(resources)
            .map(|(&(binding, _), buffer)| wgpu::BindGroupEntry {
                binding,
                resource: wgpu::BindingResource::Buffer(buffer),
            })
            .collect();
        let pipeline = self.kernels.get(kernel)?;
        let bind_group = device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some(kernel.entry()),
            layout: &pipeline.layout,
            entries: &entries,
        });
        Ok(Dispatch { pipeline: pipeline.pipeline.clone(), bind_group, groups })
    }

    /// One dispatch of a matmul kernel: its tile and grid follow from the `[m, n]` output that `params` describes.
    pub fn dispatch_matmul(
        &self,
        kernel: fn(Tile) -> Kernel,
        storage: &[wgpu::BufferBinding<'_>],
        params: &MatmulParams,
    ) -> Result<Dispatch> {
        let (m, n) = (params.m as usize, params.n as usize);
        let tile = self.matmul.tile(&[(m, n)], 0)?;
        self.dispatch(kernel(tile), storage, params, matmul_grid(m, n, tile))
    }
}

/// The 2-D grid of an elementwise kernel over `len` elements: x capped at the per-dimension limit, y for the rest
/// (the shaders rebuild the index as `gid.x + gid.y · num_workgroups.x · WG`).
pub fn elementwise_grid(len: usize, wg: u32, max_per_dim: u32) -> [u32; 3] {
    let groups = len.div_ceil(wg as usize).max(1);
    let x = groups.min(max_per_dim.max(1) as usize);
    [x as u32, groups.div_ceil(x) as u32, 1]
}

/// Grid of the matmul kernel for an `[m, n]` output: one workgroup per tile.
fn matmul_grid(m: usize, n: usize, tile: Tile) -> [u32; 3] {
    let side = tile.side();
    [n.div_ceil(side).max(1) as u32, m.div_ceil(side).max(1) as u32, 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn elementwise_grid_covers_every_element_within_the_dimension_limit() {
        for (len, max) in [(1, 65535), (256, 65535), (257, 65535), (100_000, 300), (1 << 25, 65535)] {
            let [x, y, z] = elementwise_grid(len, 256, max);
            assert!(x <= max && y <= max && z == 1);
            assert!(x as usize * y as usize * 256 >= len, "{len} {max}");
            assert!((x as usize * (y as usize - 1)) * 256 < len.max(1), "{len} {max}: a row of idle groups");
        }
    }
}
