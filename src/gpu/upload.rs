//! What a backend keeps on the GPU besides its pipelines: the layout's buffers (one arena), the data set (uploaded
//! once, packed), the batch labels and the counters; and the checks that the data set fits the model before it is
//! uploaded.

use crate::data::{Dataset, Features, LabeledImages};
use crate::error::{Error, Result};
use crate::gpu::arena::{arena_offsets, bytes, words_of};
use crate::gpu::counters::COUNTER_WORDS;
use crate::plan::{Layout, Split};

/// One split of the data set, resident on the GPU.
pub(crate) struct SplitBuffers {
    /// Labels then packed pixels (see `gather.wgsl`).
    pub data: wgpu::Buffer,
    /// The epoch's sample order; room for every sample.
    pub order: wgpu::Buffer,
    pub samples: usize,
    pub features: usize,
    /// Whether the features are f32 values (a table's), one per word, rather than packed u8 pixels.
    pub values: bool,
}

/// The buffers of one backend, made once when it is built.
pub(crate) struct Resident {
    /// Every layout buffer, each at its offset in `offsets`.
    pub mem: wgpu::Buffer,
    /// Where each layout buffer starts in `mem`, in f32s ([`arena_offsets`]).
    pub offsets: Vec<u64>,
    /// The labels of the last gathered batch: [max_rows] u32.
    pub batch_labels: wgpu::Buffer,
    /// The train and test splits, in [`Split::index`] order.
    pub splits: [SplitBuffers; 2],
    /// See [`crate::gpu::counters`].
    pub counters: wgpu::Buffer,
    /// A persistent mappable copy of the counters, so `stats` allocates nothing.
    pub counters_staging: wgpu::Buffer,
    /// Bound where a kernel's binding holds nothing: dz of the loss kernels of evaluation steps (which write no
    /// gradient), the state of a stateless update rule.
    pub spare: wgpu::Buffer,
    /// The input value of each pixel value ([`Dataset::pixel_inputs`]), as the gather kernels' uniform table.
    pub unit: [[f32; 4]; 64],
}

impl Resident {
    /// Allocates the layout's buffers (zeroed, as the CPU backend) and the counters, and uploads `data`, whose
    /// splits the caller has passed through [`check_split`]. The caller runs it inside an error scope.
    ///
    /// Errors if a buffer exceeds the device's limits.
    pub fn allocate(device: &wgpu::Device, queue: &wgpu::Queue, layout: &Layout, data: &Dataset) -> Result<Self> {
        let limits = device.limits();
        // Layout buffers: one arena, storage for the kernels, copy source/destination for read_buffer and
        // write_buffer.
        let usage = wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC | wgpu::BufferUsages::COPY_DST;
        let (offsets, arena_len) = arena_offsets(layout);
        let arena_bytes = arena_len.saturating_mul(4);
        let max = limits.max_storage_buffer_binding_size.min(limits.max_buffer_size);
        if arena_bytes > max || arena_len > u64::from(u32::MAX) {
            return Err(Error::Gpu(format!(
                "the model's buffers need {arena_bytes} bytes together, over the device's \
                 max_storage_buffer_binding_size of {max}; use a smaller --batch-size or narrower layers, or \
                 build the context with ContextOptions::for_run"
            )));
        }
        let mem = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("layout buffers"),
            size: arena_bytes,
            usage,
            mapped_at_creation: false,
        });
        let batch_labels = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("batch labels"),
            size: bytes(layout.max_rows.max(1)),
            usage,
            mapped_at_creation: false,
        });

        // Data set: uploaded once, labels and u8 pixels packed into u32 words (see gather.wgsl).
        let splits = [
            upload_split(device, queue, "train", &data.train, limits.max_storage_buffer_binding_size)?,
            upload_split(device, queue, "test", &data.test, limits.max_storage_buffer_binding_size)?,
        ];

        // Counters: cursors, step count and statistics, all zero.
        let counters = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("counters"),
            size: bytes(COUNTER_WORDS),
            usage,
            mapped_at_creation: false,
        });
        let counters_staging = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("counters read-back"),
            size: bytes(COUNTER_WORDS),
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let spare = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("spare binding"),
            // One vec4<f32>: the smallest binding any kernel declares (matmul_large.wgsl's arrays are of vec4).
            size: 16,
            usage: wgpu::BufferUsages::STORAGE,
            mapped_at_creation: false,
        });
        let inputs = data.pixel_inputs();
        let unit = std::array::from_fn(|i| std::array::from_fn(|j| inputs[4 * i + j]));
        Ok(Resident { mem, offsets, batch_labels, splits, counters, counters_staging, spare, unit })
    }
}

/// Rejects a split the kernels could not read correctly: wrong image size, labels past the model's classes,
/// or more bytes than 32-bit indices reach.
pub(crate) fn check_split(split: Split, images: &LabeledImages, layout: &Layout) -> Result<()> {
    if images.is_empty() {
        return Ok(());
    }
    let (features, classes) = (images.pixels(), layout.model.classes);
    if features != layout.model.inputs {
        return Err(Error::Config(format!(
            "the {split:?} images have {features} pixels but the model takes {} inputs",
            layout.model.inputs
        )));
    }
    if let Some((i, l)) = images.labels.iter().enumerate().find(|(_, &l)| usize::from(l) >= classes) {
        return Err(Error::Config(format!(
            "{split:?} label {l} at index {i} is not below the model's {classes} classes"
        )));
    }
    if images.features.len() != images.len() * features {
        return Err(Error::Config(format!(
            "the {split:?} split has {} labels of {features}-feature samples but {} feature values",
            images.len(),
            images.features.len()
        )));
    }
    if images.len().checked_mul(features).is_none_or(|b| b > u32::MAX as usize) {
        return Err(Error::Config(format!(
            "the {split:?} split has {} samples of {features} pixels: more bytes than the GPU kernels index \
             (4 GiB)",
            images.len()
        )));
    }
    Ok(())
}

/// Uploads one split: a buffer of labels then packed pixels, and an order buffer with room for every sample.
fn upload_split(
    device: &wgpu::Device,
    queue: &wgpu::Queue,
    name: &str,
    images: &LabeledImages,
    max_binding: u64,
) -> Result<SplitBuffers> {
    let samples = images.len();
    let words = words_of(images);
    if bytes(words) > max_binding {
        return Err(Error::Gpu(format!(
            "the {name} split needs {} bytes on the GPU, over the device's max_storage_buffer_binding_size of \
             {max_binding}; limit the data set (--limit) or build the context with ContextOptions::for_run",
            bytes(words)
        )));
    }
    // Pack: labels as whole words, then four pixels per little-endian word, or a table's values one per word.
    let mut packed: Vec<u32> = Vec::with_capacity(words);
    packed.extend(images.labels.iter().map(|&l| u32::from(l)));
    match &images.features {
        Features::Pixels(pixels) => packed.extend(pixels.chunks(4).map(|c| {
            let mut b = [0u8; 4];
            b[..c.len()].copy_from_slice(c);
            u32::from_le_bytes(b)
        })),
        Features::Values(values) => packed.extend(values.iter().map(|v| v.to_bits())),
    }
    packed.resize(words, 0);
    // Created empty, then written through the queue (see `Builder::dispatch` on why not `create_buffer_init`).
    let data = device.create_buffer(&wgpu::BufferDescriptor {
        label: Some(&format!("{name} data")),
        size: bytes(words),
        usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    });
    queue.write_buffer(&data, 0, bytemuck::cast_slice(&packed));
    let order = device.create_buffer(&wgpu::BufferDescriptor {
        label: Some(&format!("{name} order")),
        size: bytes(samples.max(1)),
        usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    });
    let (features, values) = (images.pixels(), matches!(images.features, Features::Values(_)));
    Ok(SplitBuffers { data, order, samples, features, values })
}
