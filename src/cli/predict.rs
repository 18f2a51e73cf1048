//! `gpu-mnist predict`: classify pictures with a saved model.

use std::path::{Path, PathBuf};

use super::paths;
use anyhow::{Context, Result};
use clap::Args;
use gpu_mnist::checkpoint::Checkpoint;
use gpu_mnist::cpu::ops::predicted_class;
use gpu_mnist::data::csv::Table;
use gpu_mnist::data::Features;
use gpu_mnist::data::Normalize;
use gpu_mnist::imaging::{self, Preprocess, MNIST_SIDE};
use gpu_mnist::model::{ModelConfig, Params};
use gpu_mnist::predict::{outputs, probabilities, top_k};

#[derive(Args)]
pub struct PredictArgs {
    /// The model: a checkpoint written by `gpu-mnist train --save`.
    #[arg(long, value_name = "PATH")]
    pub model: PathBuf,
    /// How many of the most probable classes to print.
    #[arg(long, default_value_t = 3)]
    pub top: usize,
    /// Decimals of the printed percentages (6: the probabilities to 1e-8, to compare with another run's).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u8).range(0..=9))]
    pub decimals: u8,
    /// How pictures become the model's 28×28 input: digits (MNIST's way: crop to the ink, larger side to 20 px,
    /// centre of mass at the middle), fashion (Fashion-MNIST's way: trim to the product, longer side to 28 px,
    /// centred), none (28×28 pictures as they are, white on black) [default: the way the model's data set was made,
    /// fashion for Fashion-MNIST, digits otherwise].
    #[arg(long, value_enum)]
    pub preprocess: Option<Preprocess>,
    /// The same as --preprocess none: 28×28 pictures as they are (grayscale, white on black, like the data sets'
    /// own files).
    #[arg(long, conflicts_with = "preprocess")]
    pub as_is: bool,
    /// Also write what the model sees (the 28×28 input) for each picture, as DIR/NAME.28x28.png.
    #[arg(long, value_name = "DIR")]
    pub save_inputs: Option<PathBuf>,
    /// Pictures of one digit (or piece of clothing) each: PNG, JPEG or PGM, any size, dark on light or light on
    /// dark.
    #[arg(required_unless_present = "rows", value_name = "IMAGE")]
    pub images: Vec<PathBuf>,
    /// For a model trained on a table: one row of its feature values, comma-separated in the order of the training
    /// file's feature columns, as raw values (standardised as in training); repeat for more rows.
    #[arg(long = "row", value_name = "V,V,…", allow_hyphen_values = true, conflicts_with = "images")]
    pub rows: Vec<String>,
}

/// The 784 input pixels of one picture; errors name the file.
fn input(path: &Path, preprocess: Preprocess) -> Result<Vec<u8>> {
    let img = imaging::load_image(path)?;
    preprocess.apply(&img).with_context(|| path.display().to_string())
}

/// The preprocessing the flags ask for, or else the one of the model's data set; and, for the output, where the
/// choice came from.
fn preprocessing(args: &PredictArgs, ck: &Checkpoint) -> (Preprocess, String) {
    match (args.preprocess, args.as_is) {
        (Some(p), _) => (p, "from --preprocess".into()),
        (None, true) => (Preprocess::None, "from --as-is".into()),
        (None, false) => {
            let name = ck.data_name();
            let why = match gpu_mnist::data::identity::known_by_name(name) {
                Some(_) => format!("as {name} was made"),
                None => format!("the default for data gpu-mnist does not know ({name})"),
            };
            (Preprocess::for_data(name), why)
        }
    }
}

/// Where `--save-inputs DIR` writes what the model sees of the picture `path`: DIR/NAME.28x28.png.
fn saved_input_path(dir: &Path, path: &Path) -> std::path::PathBuf {
    let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "image".into());
    dir.join(format!("{stem}.28x28.png"))
}

/// Runs `gpu-mnist predict`.
pub fn run(args: PredictArgs) -> Result<()> {
    anyhow::ensure!(args.top > 0, "--top must be at least 1");
    // The model: its shape, its parameters and the name of the data set it learned.
    let ck = Checkpoint::load(&args.model)?;
    if let Some(table) = &ck.table {
        return predict_rows(&args, &ck, table);
    }
    anyhow::ensure!(
        args.rows.is_empty(),
        "{}: --row is for a model trained on a table (--train/--test/--label); this one learned images of {}",
        args.model.display(),
        ck.describe_data()
    );
    let pixels = (MNIST_SIDE * MNIST_SIDE) as usize;
    anyhow::ensure!(
        ck.model.inputs == pixels,
        "{}: the model takes {} inputs, but predict makes 28×28 = {pixels}-pixel inputs",
        args.model.display(),
        ck.model.inputs
    );
    if let Some(dir) = &args.save_inputs {
        // What --save-inputs writes must not overwrite a picture or the model, nor two of its files each other.
        let mut inputs: Vec<paths::Named> = vec![("--model", args.model.as_path())];
        inputs.extend(args.images.iter().map(|p| ("IMAGE", p.as_path())));
        let outputs: Vec<(&str, std::path::PathBuf)> =
            args.images.iter().map(|p| ("--save-inputs", saved_input_path(dir, p))).collect();
        paths::check_distinct(&inputs, &paths::refs(&outputs), &[])?;
        std::fs::create_dir_all(dir).with_context(|| format!("{}: cannot create the folder", dir.display()))?;
    }
    super::note_name_only(&ck, &args.model);
    let names = ck.class_names();
    let (preprocess, why) = preprocessing(&args, &ck);
    outln!("input:   {} ({}), {why}", preprocess.name(), preprocess.describe());
    let name_of = |c: usize| names.as_ref().and_then(|n| n.get(c)).map(|n| format!(" {n}")).unwrap_or_default();
    let mut failed = 0;
    for path in &args.images {
        let result = input(path, preprocess).and_then(|x| {
            if let Some(dir) = &args.save_inputs {
                let out = saved_input_path(dir, path);
                let img = image::GrayImage::from_raw(MNIST_SIDE, MNIST_SIDE, x.clone())
                    .context("the converted picture has the wrong size")?;
                imaging::save_image(&img.into(), &out)?;
            }
            let label = |c: usize| format!("{c}{}", name_of(c));
            classify(&ck.model, &ck.params, &Features::Pixels(x), ck.normalize, (args.top, args.decimals), &label)
        });
        match result {
            Ok(line) => outln!("{}: {line}", path.display()),
            Err(e) => {
                failed += 1;
                errln!("error: {e:#}");
            }
        }
    }
    anyhow::ensure!(failed == 0, "{failed} of {} pictures could not be classified", args.images.len());
    Ok(())
}

/// `predict --row`: each row of raw feature values standardised as in training, then classified.
fn predict_rows(args: &PredictArgs, ck: &Checkpoint, table: &Table) -> Result<()> {
    anyhow::ensure!(
        !args.rows.is_empty(),
        "{}: the model was trained on a table; give rows of its {} features ({}) with --row V,V,…",
        args.model.display(),
        table.features.len(),
        table.features.join(", ")
    );
    let name_of = |c: usize| table.classes.get(c).map_or_else(|| c.to_string(), Clone::clone);
    for row in &args.rows {
        let mut values = parse_row(row, table)?;
        table.standardize(&mut values);
        let line =
            classify(&ck.model, &ck.params, &Features::Values(values), None, (args.top, args.decimals), &name_of)?;
        outln!("{row}: {line}");
    }
    Ok(())
}

/// What predict says of one sample: its class, then the `top` most probable classes with their probabilities
/// (`3  (3 97.1%, 5 2.0%)`); a perceptron gives a class, not probabilities, so its class and the score z it came
/// from (`1  (z 0.734)`), or the `top` highest scores with one unit per class (`3  (z: 3 1.250, 5 -0.125)`);
/// percentages with `decimals` decimals.
fn classify(
    model: &ModelConfig,
    params: &Params,
    x: &Features,
    normalize: Option<Normalize>,
    (top, decimals): (usize, u8),
    label: &dyn Fn(usize) -> String,
) -> Result<String> {
    let decimals = usize::from(decimals);
    if model.loss.gives_probabilities() {
        let ranked = top_k(&probabilities(model, params, x, normalize, 1)?, top);
        let shown: Vec<String> =
            ranked.iter().map(|&(c, p)| format!("{} {:.decimals$}%", label(c), 100.0 * p)).collect();
        let best = ranked.first().map(|&(c, _)| label(c)).unwrap_or_default();
        return Ok(format!("{best}  ({})", shown.join(", ")));
    }
    let z = outputs(model, params, x, normalize, 1)?;
    let best = label(predicted_class(model.loss, &z));
    Ok(match z.as_slice() {
        [v] => format!("{best}  (z {v:.3})"),
        _ => {
            let shown: Vec<String> = top_k(&z, top).iter().map(|&(c, v)| format!("{} {v:.3}", label(c))).collect();
            format!("{best}  (z: {})", shown.join(", "))
        }
    })
}

/// The values of `--row V,V,…`: one finite number per feature of `table`.
fn parse_row(row: &str, table: &Table) -> Result<Vec<f32>> {
    let values = row
        .split(',')
        .enumerate()
        .map(|(i, v)| match v.trim().parse::<f32>() {
            Ok(x) if x.is_finite() => Ok(x),
            _ => Err(anyhow::anyhow!(
                "--row {row}: value {} ({:?}, feature {}) is not a finite number",
                i + 1,
                v.trim(),
                table.features.get(i).map_or("beyond the last", String::as_str)
            )),
        })
        .collect::<Result<Vec<f32>>>()?;
    anyhow::ensure!(
        values.len() == table.features.len(),
        "--row {row}: {} values, but the model takes {} features ({})",
        values.len(),
        table.features.len(),
        table.features.join(", ")
    );
    Ok(values)
}
