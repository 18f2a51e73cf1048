//! The cargo-fuzz targets' harness (`tests/fuzz_harness/mod.rs`, also compiled into `fuzz/fuzz_targets/*`) run by
//! `cargo test`:
//!
//! - every committed seed (`tests/fixtures/fuzz/seeds/<target>/`) goes through its target's invariant checks, so
//!   the harness logic is tested without nightly or libFuzzer;
//! - every input the fuzzer found a bug with is kept in `tests/fixtures/fuzz/` with a test below that loads it
//!   through the same entry point and asserts the error it must now give.
//!
//! The seeds are made by `make_fuzz_seeds` (`#[ignore]`d: run it with `--ignored` to write them again).

use std::fs;
use std::path::{Path, PathBuf};

mod fuzz_harness;
mod support;

/// Where the committed seeds and the fuzzer's finds live.
fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/fuzz")
}

/// The seed files of `target`, sorted; fails if there are none (the test would prove nothing).
fn seeds(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = fixtures().join("seeds").join(target);
    let mut paths: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    paths.sort();
    assert!(paths.len() >= 3, "{} holds {} seeds", dir.display(), paths.len());
    paths.into_iter().map(|p| (p.clone(), fs::read(&p).unwrap())).collect()
}

/// The picture target's input: a selector byte, then a picture file (even) or a directly built picture (odd), read
/// as `arbitrary` reads `fuzz/fuzz_targets/picture_preprocess.rs`'s `Pixels`: one byte each for width, height and
/// colour type (0 when the input has run out), then the rest as samples.
fn picture_preprocess(data: &[u8]) {
    let Some((&sel, rest)) = data.split_first() else { return };
    if sel % 2 == 0 {
        fuzz_harness::picture_file(rest);
    } else {
        let byte = |i: usize| rest.get(i).copied().unwrap_or(0);
        fuzz_harness::picture_pixels(byte(0), byte(1), byte(2), rest.get(3..).unwrap_or(&[]));
    }
}

// ---------------------------------------------------------------------------------------------------------------
// The committed seeds through the fuzz targets' checks.

#[test]
fn idx_seeds_should_pass_the_idx_parser_invariants() {
    for (path, data) in seeds("idx_parser") {
        eprintln!("{}", path.display());
        fuzz_harness::idx_parser(&data);
    }
}

#[test]
fn checkpoint_seeds_should_pass_the_checkpoint_loader_invariants() {
    let dir = tempfile::tempdir().unwrap();
    let mut loaded = 0;
    for (path, data) in seeds("checkpoint_loader") {
        eprintln!("{}", path.display());
        fuzz_harness::checkpoint_loader(&data, &dir.path().join("saved.safetensors"));
        loaded += usize::from(gpu_mnist::checkpoint::Checkpoint::load_bytes(&path, &data).is_ok());
    }
    // The seeds are valid checkpoints, so the round-trip half of the harness runs too.
    assert!(loaded >= 3, "only {loaded} seeds load");
}

#[test]
fn picture_seeds_should_pass_the_picture_preprocess_invariants() {
    let mut converted = 0;
    for (path, data) in seeds("picture_preprocess") {
        eprintln!("{}", path.display());
        picture_preprocess(&data);
        if data[0] % 2 == 0 {
            let img = gpu_mnist::imaging::decode_image(&path, &data[1..]).expect("a seed picture decodes");
            converted += usize::from(gpu_mnist::imaging::to_mnist(&img).is_ok());
        }
    }
    assert!(converted >= 3, "only {converted} seed pictures convert");
}

// ---------------------------------------------------------------------------------------------------------------
// The fuzzer's finds.

/// `picture_preprocess` found (in its first 15 seconds): a 46×63 float RGBA picture whose samples are all NaN
/// (bytes `ff ff ff ff`) made `to_mnist` panic with "attempt to subtract with overflow" in the ink's bounding box.
/// NaN passed every check — the clamp to 0..1, and the "nothing stands out" test, since `peak - NaN < 0.1` is
/// false — and then no pixel was `> 0`, so the empty bounding box's width `x1 + 1 - x0` went below zero. A NaN
/// lightness or alpha is now refused up front.
#[test]
fn nan_float_picture_should_be_refused_with_a_config_error() {
    let data = fs::read(fixtures().join("picture_preprocess-nan-rgba32f.bin")).unwrap();
    assert_eq!(data[0] % 2, 1, "a directly built picture");
    let img = fuzz_harness::picture_from_pixels(data[1], data[2], data[3], &data[4..]);
    assert_eq!((img.width(), img.height(), img.color()), (46, 63, image::ColorType::Rgba32F));
    match gpu_mnist::imaging::to_mnist(&img) {
        Err(gpu_mnist::Error::Config(msg)) => {
            assert_eq!(msg, "the picture has an undefined (NaN) value at pixel (0, 0); give a picture of finite values")
        }
        other => panic!("expected a Config error, got {other:?}"),
    }
    // The whole target's input, through the harness, passes its invariants.
    picture_preprocess(&data);

    // Infinite channels that cancel in the grayscale sum are NaN too; one infinity alone is just bright.
    let mut rgb = image::Rgb32FImage::new(3, 3);
    rgb.put_pixel(1, 2, image::Rgb([f32::INFINITY, f32::NEG_INFINITY, 0.0]));
    let e = gpu_mnist::imaging::to_mnist(&rgb.into()).unwrap_err().to_string();
    assert!(e.contains("NaN) value at pixel (1, 2)"), "{e}");
    let mut rgb = image::Rgb32FImage::new(3, 3);
    rgb.put_pixel(1, 2, image::Rgb([f32::INFINITY, 0.0, 0.0]));
    assert_eq!(gpu_mnist::imaging::to_mnist(&rgb.into()).unwrap().len(), 784);
}

// ---------------------------------------------------------------------------------------------------------------
// The seeds.

/// Writes the seeds: small IDX files cut from the MNIST test set (raw and gzipped), small checkpoints (hand-made
/// tiny models with each optimizer, and one `gpu-mnist train --hidden 1` saved: a few KB), and MNIST digits as small PNG, JPEG and PGM
/// files and as directly built pictures.
#[test]
#[ignore = "writes tests/fixtures/fuzz/seeds/; run by hand"]
fn make_fuzz_seeds() {
    use gpu_mnist::checkpoint::Checkpoint;
    use gpu_mnist::data::{read_idx_file, IdxLimits};
    use gpu_mnist::model::{Activation, Layer, Loss, ModelConfig, OutputUnits, Params, DEFAULT_LEAKY_SLOPE};
    use gpu_mnist::optim::{Hyper, LrSchedule, Optimizer, Rule};
    use image::{DynamicImage, GrayImage, ImageFormat, Rgba, RgbaImage};
    use support::{gzip, idx};

    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let seeds = fixtures().join("seeds");
    let write = |target: &str, name: &str, bytes: &[u8]| {
        let dir = seeds.join(target);
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join(name), bytes).unwrap();
    };
    let with = |sel: u8, body: &[u8]| -> Vec<u8> { [&[sel][..], body].concat() };

    // IDX: the selector's bit 0 is the dimension count (0: 1, 1: 3), bits 1–7 the cap (127: 1 MiB, k: k × 64).
    let mnist = root.join("assets/mnist");
    let limits = IdxLimits::default();
    let labels = read_idx_file(&mnist.join("t10k-labels-idx1-ubyte.gz"), 1, &limits).unwrap().data;
    let images = read_idx_file(&mnist.join("t10k-images-idx3-ubyte.gz"), 3, &limits).unwrap().data;
    let labels_32 = idx(&[32], &labels[..32]);
    let images_2 = idx(&[2, 28, 28], &images[..2 * 784]);
    write("idx_parser", "labels-32", &with(0xfe, &labels_32));
    write("idx_parser", "images-2x28x28", &with(0xff, &images_2));
    write("idx_parser", "labels-64-at-cap-64", &with(2, &idx(&[64], &labels[..64])));
    write("idx_parser", "labels-32.gz", &with(0xfe, &gzip(&labels_32)));
    write("idx_parser", "images-2x28x28.gz", &with(0xff, &gzip(&images_2)));
    write("idx_parser", "images-1x2x3-truncated", &with(0xff, &idx(&[1, 2, 3], &[1, 2, 3, 4])));

    // Checkpoints: tiny models, every optimizer, consistent progress (10 samples in batches of 4: 3 steps an epoch).
    let model = |widths: &[usize], activation, loss| ModelConfig {
        output_units: OutputUnits::Classes,
        inputs: widths[0],
        hidden: widths[1..widths.len() - 1].to_vec(),
        classes: widths[widths.len() - 1],
        activation,
        leaky_slope: DEFAULT_LEAKY_SLOPE,
        loss,
    };
    let values =
        |n: usize, k: usize| -> Vec<f32> { (0..n).map(|i| ((i * 7 + k * 3) % 11) as f32 * 0.125 - 0.5).collect() };
    let tiny = |model: ModelConfig, optimizer: Optimizer| {
        let layers: Vec<Layer> = model
            .layer_shapes()
            .into_iter()
            .enumerate()
            .map(|(l, (inputs, outputs))| Layer {
                weight: values(inputs * outputs, l),
                bias: values(outputs, l + 1),
                inputs,
                outputs,
            })
            .collect();
        let state = gpu_mnist::checkpoint::state_tensors(&model, &optimizer)
            .iter()
            .enumerate()
            .map(|(k, (_, shape))| values(shape.iter().product(), k).iter().map(|v| v.abs()).collect())
            .collect();
        let ck = Checkpoint {
            model,
            optimizer,
            params: Params { layers },
            state,
            epoch: 1,
            steps_done: 4,
            seed: 7,
            batch_size: 4,
            dataset: "mnist".into(),
            data_digest: None,
            train_samples: 10,
            lr_schedule: LrSchedule::Linear,
            dropout: 0.0,
            input_dropout: 0.0,
            shuffle: Default::default(),
            epoch_so_far: None,
            table: None,
            normalize: None,
        };
        ck.to_bytes().unwrap()
    };
    let sgd = tiny(model(&[2, 3, 2], Activation::Relu, Loss::Xent), Optimizer::sgd(0.1).unwrap());
    write("checkpoint_loader", "sgd-2-3-2", &sgd);
    let momentum = Optimizer::momentum(0.05, 0.9).unwrap();
    write("checkpoint_loader", "momentum-3-2", &tiny(model(&[3, 2], Activation::Relu, Loss::Xent), momentum));
    let adam = Optimizer::of(
        Rule::Adam,
        &[(Hyper::Lr, 0.001), (Hyper::Beta1, 0.9), (Hyper::Beta2, 0.999), (Hyper::Eps, 1e-8)],
    )
    .unwrap();
    write("checkpoint_loader", "adam-2-2-2-2-tanh-mse", &tiny(model(&[2, 2, 2, 2], Activation::Tanh, Loss::Mse), adam));
    let dir = tempfile::tempdir().unwrap();
    let args =
        ["train", "--backend", "cpu", "--limit", "200", "--epochs", "1", "--hidden", "1", "--save", "x.safetensors"];
    support::ok(dir.path(), &args);
    write("checkpoint_loader", "trained-784-1-10", &fs::read(dir.path().join("x.safetensors")).unwrap());

    // Pictures: selector 0 and a file, or selector 1 and width, height, colour type, samples.
    let digit = |i: usize| GrayImage::from_raw(28, 28, images[i * 784..(i + 1) * 784].to_vec()).unwrap();
    let encode = |img: &DynamicImage, format: ImageFormat| -> Vec<u8> {
        let mut out = std::io::Cursor::new(Vec::new());
        img.write_to(&mut out, format).unwrap();
        with(0, out.get_ref())
    };
    write("picture_preprocess", "digit-28x28.png", &encode(&DynamicImage::ImageLuma8(digit(0)), ImageFormat::Png));
    let mut inverted = digit(1);
    image::imageops::invert(&mut inverted);
    let dark_on_light = DynamicImage::ImageLuma8(image::imageops::resize(&inverted, 36, 30, image::imageops::Triangle));
    write("picture_preprocess", "dark-on-light-36x30.jpg", &encode(&dark_on_light.to_rgb8().into(), ImageFormat::Jpeg));
    write("picture_preprocess", "digit-28x28.pgm", &encode(&DynamicImage::ImageLuma8(digit(2)), ImageFormat::Pnm));
    let mut transparent = RgbaImage::new(20, 20);
    for (x, y, p) in image::imageops::resize(&digit(3), 20, 20, image::imageops::Triangle).enumerate_pixels() {
        *transparent.get_pixel_mut(x, y) = Rgba([30, 30, 30, p[0]]);
    }
    write(
        "picture_preprocess",
        "dark-strokes-on-transparent-20x20.png",
        &encode(&transparent.into(), ImageFormat::Png),
    );
    write(
        "picture_preprocess",
        "ascii-5x5.pgm",
        &with(0, b"P2\n5 5\n9\n0 0 0 0 0\n0 9 9 9 0\n0 0 9 0 0\n0 0 9 0 0\n0 0 0 0 0\n"),
    );
    write(
        "picture_preprocess",
        "pixels-gray-28x28",
        &with(1, &[[28, 28, 0].as_slice(), &images[4 * 784..5 * 784]].concat()),
    );
    let floats: Vec<u8> = (0..8 * 8 * 4).flat_map(|i: u32| ((i % 7) as f32 / 6.0).to_le_bytes()).collect();
    write("picture_preprocess", "pixels-rgba32f-8x8", &with(1, &[[8, 8, 7].as_slice(), &floats].concat()));
}
