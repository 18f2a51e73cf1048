//! `gpu-mnist show`: a PNG grid of sample images with their labels.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Args, ValueEnum};
use gpu_mnist::data::class_label;
use gpu_mnist::imaging;

use super::{load_data, DataArgs};

/// Which split to take the samples from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum SplitArg {
    /// The training set.
    Train,
    /// The test set.
    Test,
}

#[derive(Args)]
// `--limit` comes with the data flags; here it only cuts the training split, which --count and --offset do better.
#[command(mut_arg("limit", |a| a.help("With --split train: load only the first N training samples (the test split \
    is never cut)")))]
pub struct ShowArgs {
    #[command(flatten)]
    pub data: DataArgs,
    /// Which split to show.
    #[arg(long, value_enum, default_value_t = SplitArg::Test)]
    pub split: SplitArg,
    /// How many samples.
    #[arg(long, default_value_t = 10)]
    pub count: usize,
    /// The first sample shown (index into the split).
    #[arg(long, default_value_t = 0)]
    pub offset: usize,
    /// Images per row of the grid.
    #[arg(long, default_value_t = 10)]
    pub columns: usize,
    /// Magnification of each image (nearest neighbour).
    #[arg(long, default_value_t = 3)]
    pub scale: u32,
    /// The picture to write (PNG; or another format by its extension: .jpg, .pgm).
    #[arg(long, value_name = "PATH.png")]
    pub out: PathBuf,
}

/// Runs `gpu-mnist show`.
pub fn run(args: ShowArgs) -> Result<()> {
    anyhow::ensure!(args.count > 0, "--count must be at least 1");
    anyhow::ensure!(args.columns > 0, "--columns must be at least 1");
    anyhow::ensure!((1..=16).contains(&args.scale), "--scale {} must be between 1 and 16", args.scale);
    // Where the picture goes, checked before any work: a file that can be created (not a directory or a device).
    gpu_mnist::files::ensure_writable(&args.out).context("--out: cannot write the picture there")?;
    let data = load_data(&args.data)?;
    let (split, which) = match args.split {
        SplitArg::Train => (&data.train, "train"),
        SplitArg::Test => (&data.test, "test"),
    };
    anyhow::ensure!(
        args.offset < split.len(),
        "--offset {} is past the end of the {} samples of the split",
        args.offset,
        split.len()
    );
    let end = args.offset.saturating_add(args.count).min(split.len());
    let indices: Vec<usize> = (args.offset..end).collect();
    let grid = imaging::digit_grid(split, &indices, args.columns, args.scale)?;
    let (width, height) = grid.dimensions();
    imaging::save_image(&grid.into(), &args.out)?;
    outln!(
        "wrote {} ({width}×{height} pixels): {which} samples {}–{} of {}",
        args.out.display(),
        args.offset,
        end - 1,
        data.name
    );
    let names = data.class_names();
    let labels: Vec<String> =
        indices.iter().map(|&i| class_label(names.as_deref(), usize::from(split.labels[i]))).collect();
    outln!("labels:  {}", labels.join(", "));
    Ok(())
}
