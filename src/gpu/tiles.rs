//! Which kernel and tile compute a product: the tiles of `matmul.wgsl` and `fused.wgsl`, the shapes
//! `matmul_large.wgsl` takes, the rule that picks among them for an adapter ([`TileRule`]), and the choice a backend
//! makes with that rule or with the variant forced for checks and benchmarks (`MatmulChoice`).

use crate::error::{Error, Result};

/// The output tile of one matmul workgroup (`matmul.wgsl`'s and `fused.wgsl`'s overridable `PER`: outputs per
/// invocation per axis; every tile has 16 × 16 invocations and stages 16 values of k at a time).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Tile {
    /// 64 × 64 outputs per workgroup, 4 × 4 per invocation: the most reuse of each loaded value.
    T64,
    /// 32 × 32 outputs per workgroup, 2 × 2 per invocation: four times the workgroups.
    T32,
    /// 16 × 16 outputs per workgroup, one per invocation: sixteen times the workgroups, for the small outputs of
    /// small batches (a 64-row batch × 512 features is 128 of them).
    T16,
}

/// The side of `matmul_large.wgsl`'s square tile.
pub const LARGE_TILE: usize = 128;
/// The depth of one of its stages of k.
pub const LARGE_TK: usize = 8;

/// Whether `matmul_large.wgsl` computes an `[m, n]` output with inner size `k`: m and n whole multiples of its tile,
/// k of its stage depth (none zero). Its indices are in range only for these shapes.
pub fn large_linear_fits(m: usize, n: usize, k: usize) -> bool {
    m > 0
        && n > 0
        && k > 0
        && m.is_multiple_of(LARGE_TILE)
        && n.is_multiple_of(LARGE_TILE)
        && k.is_multiple_of(LARGE_TK)
}

/// What the tile rule knows about an adapter. wgpu reports no count of compute units, so the rule works from the
/// shape and what it can know: whether the adapter is software, and its limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TileRule {
    /// A software adapter (lavapipe, WARP): a few CPU cores, where more and smaller tiles only cost reuse.
    pub software: bool,
    /// `max_compute_invocations_per_workgroup`.
    pub max_invocations: u32,
    /// `max_compute_workgroup_storage_size`, bytes.
    pub workgroup_storage: u32,
}

impl Tile {
    /// Every tile, largest first.
    pub const ALL: [Tile; 3] = [Tile::T64, Tile::T32, Tile::T16];

    /// Outputs along each side of the tile.
    pub fn side(self) -> usize {
        match self {
            Tile::T64 => 64,
            Tile::T32 => 32,
            Tile::T16 => 16,
        }
    }

    /// Workgroups of an `[m, n]` output in this tile.
    pub fn workgroups(self, m: usize, n: usize) -> usize {
        m.div_ceil(self.side()).max(1) * n.div_ceil(self.side()).max(1)
    }

    /// Workgroups that keep a large GPU busy: about one per compute unit of a big discrete GPU (an H100 has 132).
    pub const BUSY_WORKGROUPS: usize = 128;

    /// Invocations per workgroup (16 × 16, every tile).
    pub const INVOCATIONS: u32 = 256;

    /// Workgroup memory of the kernels: two stages of 16 × (64 + 1) f32 (sized for the largest tile), plus the
    /// reduction scratch of `fused.wgsl`.
    pub const WORKGROUP_BYTES: u32 = (2 * 1040 + 2 * 256 + 2) * 4;
}

impl TileRule {
    /// The rule for an adapter (`software` or not) whose device was opened with `limits`.
    pub fn new(software: bool, limits: &wgpu::Limits) -> Self {
        TileRule {
            software,
            max_invocations: limits.max_compute_invocations_per_workgroup,
            workgroup_storage: limits.max_compute_workgroup_storage_size,
        }
    }

    /// Whether a plain linear of `[m, n]` with inner size `k` should use `matmul_large.wgsl`: on hardware, when the
    /// shape fits it and it still launches [`Tile::BUSY_WORKGROUPS`] of its 128 × 128 tiles (4096 × 4096 gives
    /// 1024; a 64-row batch never qualifies).
    pub fn large(&self, m: usize, n: usize, k: usize) -> bool {
        !self.software
            && large_linear_fits(m, n, k)
            && (m / LARGE_TILE) * (n / LARGE_TILE) >= Tile::BUSY_WORKGROUPS
            && self.max_invocations >= Tile::INVOCATIONS
            && self.workgroup_storage >= Self::LARGE_WORKGROUP_BYTES
    }

    /// Workgroup memory of `matmul_large.wgsl`: 2 operands × 2 stage buffers × 8 × 128 f32.
    pub const LARGE_WORKGROUP_BYTES: u32 = (2 * 2 * LARGE_TK * LARGE_TILE * 4) as u32;

    /// The tile of one dispatch computing the `products` (`[m, n]` outputs) together, whose outputs must keep rows
    /// of at least `min_side` columns in one tile (a loss head's classes; 0 for none). The rule:
    ///
    /// 1. a software adapter always gets the 64-wide tile (on lavapipe's 2 cores a 64 × 784 × 64 linear takes 25 ms
    ///    in one 64 × 64 tile and 40 ms in four 32 × 32 ones);
    /// 2. otherwise the largest tile whose workgroups, summed over the products, reach [`Tile::BUSY_WORKGROUPS`]
    ///    (the most reuse per loaded value that still fills the GPU);
    /// 3. failing that, the smallest tile (the most workgroups);
    ///
    /// always among the tiles at least `min_side` wide. `None` if the adapter's limits admit no tile (fewer than 256
    /// invocations or too little workgroup memory), or no tile is wide enough.
    pub fn choose(&self, products: &[(usize, usize)], min_side: usize) -> Option<Tile> {
        if self.max_invocations < Tile::INVOCATIONS || self.workgroup_storage < Tile::WORKGROUP_BYTES {
            return None;
        }
        let fits: Vec<Tile> = Tile::ALL.into_iter().filter(|t| t.side() >= min_side).collect();
        if self.software {
            return fits.first().copied();
        }
        let total = |t: Tile| products.iter().map(|&(m, n)| t.workgroups(m, n)).sum::<usize>();
        fits.iter().copied().find(|&t| total(t) >= Tile::BUSY_WORKGROUPS).or_else(|| fits.last().copied())
    }
}

/// Which kernel computes a product: a tiled one (every op), or `matmul_large.wgsl` (plain linears whose shape fits
/// it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MatmulVariant {
    /// The general kernels with this tile.
    Tiled(Tile),
    /// The 128 × 128 vec4 double-buffered kernel, for [`crate::plan::Op::Linear`] only.
    Large,
}

/// How a backend picks the kernel and tile of each product: the variant forced for the plans prepared from now on,
/// if any, else the adapter's [`TileRule`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct MatmulChoice {
    /// The matmul kernel for every later `prepare`, or `None` to pick per dispatch with `rule`.
    pub variant: Option<MatmulVariant>,
    /// How tiles are chosen on this adapter.
    pub rule: TileRule,
}

impl MatmulChoice {
    /// Whether a linear of `[m, n]` with inner size `k` runs on `matmul_large.wgsl`: when forced (an error if the
    /// shape does not fit it), or when the rule says so.
    pub fn use_large(&self, m: usize, n: usize, k: usize) -> Result<bool> {
        match self.variant {
            Some(MatmulVariant::Large) if !large_linear_fits(m, n, k) => Err(Error::Config(format!(
                "the large matmul kernel takes m and n multiples of {} and k of {}, not {m} × {n} × {k}",
                LARGE_TILE, LARGE_TK
            ))),
            Some(MatmulVariant::Large) => Ok(true),
            Some(MatmulVariant::Tiled(_)) => Ok(false),
            None => Ok(self.rule.large(m, n, k)),
        }
    }

    /// The tile of a dispatch computing `products` whose rows of `min_side` outputs must stay in one tile: the
    /// forced one, or the one [`TileRule::choose`] gives for this adapter.
    pub fn tile(&self, products: &[(usize, usize)], min_side: usize) -> Result<Tile> {
        let forced = match self.variant {
            Some(MatmulVariant::Tiled(tile)) => Some(tile),
            _ => None,
        };
        let tile = forced.or_else(|| self.rule.choose(products, min_side)).ok_or_else(|| {
            Error::Gpu(format!("no matmul tile fits this adapter ({:?}) for rows of {min_side} outputs", self.rule))
        })?;
        if tile.side() < min_side {
            return Err(Error::Config(format!(
                "a loss head over {min_side} classes needs them in one tile, not {} wide",
                tile.side()
            )));
        }
        Ok(tile)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An H100-class discrete GPU as wgpu reports it (Vulkan): 1024 invocations, 48 KiB of workgroup memory.
    const DISCRETE: TileRule = TileRule { software: false, max_invocations: 1024, workgroup_storage: 49152 };
    /// lavapipe: a software adapter.
    const LAVAPIPE: TileRule = TileRule { software: true, max_invocations: 1024, workgroup_storage: 32768 };

    #[test]
    fn small_batches_get_small_tiles_on_a_discrete_gpu() {
        // The default model at batch 64: the hidden products fill 128 workgroups only with 16-wide tiles…
        assert_eq!(DISCRETE.choose(&[(64, 512)], 0), Some(Tile::T16));
        assert_eq!(Tile::T16.workgroups(64, 512), 128);
        // … the weight gradients are large enough for the largest tile…
        assert_eq!(DISCRETE.choose(&[(512, 512), (512, 784)], 0), Some(Tile::T64));
        // … a stage's products count together…
        assert_eq!(DISCRETE.choose(&[(10, 512), (64, 512)], 0), Some(Tile::T16));
        assert_eq!(DISCRETE.choose(&[(256, 512), (256, 512)], 0), Some(Tile::T32));
        // … batch 256 moves to larger tiles, and a huge product takes the largest.
        assert_eq!(DISCRETE.choose(&[(256, 512)], 0), Some(Tile::T32));
        assert_eq!(DISCRETE.choose(&[(4096, 4096)], 0), Some(Tile::T64));
        // A product too small to fill the GPU with any tile gets the most workgroups.
        assert_eq!(DISCRETE.choose(&[(1, 1)], 0), Some(Tile::T16));
    }

    #[test]
    fn a_loss_head_keeps_its_row_in_one_tile() {
        assert_eq!(DISCRETE.choose(&[(64, 10)], 10), Some(Tile::T16));
        assert_eq!(DISCRETE.choose(&[(64, 20)], 20), Some(Tile::T32));
        assert_eq!(DISCRETE.choose(&[(64, 40)], 40), Some(Tile::T64));
        assert_eq!(DISCRETE.choose(&[(64, 65)], 65), None);
    }

    #[test]
    fn a_software_adapter_always_gets_the_largest_tile() {
        for products in [&[(64, 512)][..], &[(1, 1)], &[(4096, 4096)], &[(10, 512), (64, 512)]] {
            assert_eq!(LAVAPIPE.choose(products, 0), Some(Tile::T64), "{products:?}");
        }
        assert_eq!(LAVAPIPE.choose(&[(64, 10)], 10), Some(Tile::T64));
    }

    /// The index arithmetic of `matmul_large.wgsl`, written out again here and walked over every workgroup,
    /// invocation and stage of several accepted shapes: every global index stays below its binding's length and
    /// every workgroup index below 512. With `large_linear_fits` refusing every other shape, this is what makes
    /// compiling the kernel without bounds checks sound.
    #[test]
    fn large_linear_indices_stay_in_range() {
        const ROW_VECS: usize = LARGE_TILE / 4;
        for (m, n, k) in [(128, 128, 8), (256, 384, 784), (128, 128, 4096), (384, 256, 64)] {
            assert!(large_linear_fits(m, n, k));
            let (kv, nv, stages) = (k / 4, n / 4, k / LARGE_TK);
            let (x_len, w_len, y_len, b_len) = (m * kv, n * kv, m * nv, nv);
            for (wy, wx) in (0..m / LARGE_TILE).flat_map(|y| (0..n / LARGE_TILE).map(move |x| (y, x))) {
                let (row0, col0) = (wy * LARGE_TILE, wx * LARGE_TILE);
                for t in 0..256 {
                    let (tx, ty, li, lq) = (t % 16, t / 16, t / 2, t % 2);
                    let (x_at, w_at) = ((row0 + li) * kv + lq, (col0 + li) * kv + lq);
                    for s in 0..stages {
                        assert!(x_at + s * 2 < x_len && w_at + s * 2 < w_len, "{m}x{n}x{k}: load at stage {s}");
                    }
                    for (buf, q, c) in (0..2).flat_map(|b| (0..4).map(move |c| (b, lq, c))) {
                        assert!((buf * LARGE_TK + 4 * q + c) * ROW_VECS + li / 4 < 512, "store");
                    }
                    for (buf, p) in (0..2).flat_map(|b| (0..LARGE_TK).map(move |p| (b, p))) {
                        let base = (buf * LARGE_TK + p) * ROW_VECS;
                        assert!(base + 2 * ty + 1 < 512 && base + 2 * tx + 1 < 512, "read");
                    }
                    for (r, h) in (0..8).flat_map(|r| (0..2).map(move |h| (r, h))) {
                        let (i, jv) = (row0 + 8 * ty + r, (col0 + 8 * tx) / 4 + h);
                        // y and z (bound to a buffer at least as long as y's) share the index.
                        assert!(i * nv + jv < y_len && jv < b_len, "{m}x{n}x{k}: epilogue");
                    }
                }
            }
        }
        for (m, n, k) in [(0, 128, 8), (100, 128, 8), (128, 130, 8), (128, 128, 12), (64, 512, 784)] {
            assert!(!large_linear_fits(m, n, k), "{m}x{n}x{k}");
        }
    }

    #[test]
    fn the_large_kernel_is_for_large_products_on_hardware() {
        assert!(DISCRETE.large(4096, 4096, 4096));
        assert!(DISCRETE.large(2048, 1024, 784));
        assert!(!DISCRETE.large(64, 512, 784), "a batch of 64 is not large");
        assert!(!DISCRETE.large(4000, 4096, 4096), "a shape it does not fit");
        assert!(!LAVAPIPE.large(4096, 4096, 4096), "software adapters keep the rule's tile");
        assert!(!TileRule { workgroup_storage: 8192, ..DISCRETE }.large(4096, 4096, 4096));
    }

    #[test]
    fn limits_below_the_kernels_needs_admit_no_tile() {
        let small = TileRule { max_invocations: 128, ..DISCRETE };
        assert_eq!(small.choose(&[(64, 512)], 0), None);
        let tight = TileRule { workgroup_storage: 8192, ..DISCRETE };
        assert_eq!(tight.choose(&[(64, 512)], 0), None);
        let downlevel = wgpu::Limits::downlevel_defaults();
        assert!(TileRule::new(false, &downlevel).choose(&[(64, 512)], 0).is_some(), "WebGPU's defaults suffice");
    }
}
