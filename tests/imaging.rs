//! `imaging`: `to_mnist` on synthetic pictures and on MNIST digits round-tripped through files, `to_fashion` on
//! Fashion-MNIST items made into photos, the digit grid, the confusion heat map, and the CPU inference used by
//! `predict`.

use std::sync::{Arc, OnceLock};

use gpu_mnist::backend::Backend;
use gpu_mnist::cpu::CpuBackend;
use gpu_mnist::data::{self, DataSource, Dataset, Features, LabeledImages, LoadOptions};
use gpu_mnist::imaging::{
    centre_of_mass, confusion_image, digit_grid, load_image, save_image, to_fashion, to_mnist, Preprocess,
};
use gpu_mnist::model::{Activation, Loss, ModelConfig, OutputUnits, Params, DEFAULT_LEAKY_SLOPE};
use gpu_mnist::optim::Optimizer;
use gpu_mnist::predict::{probabilities, top_k};
use gpu_mnist::train::{TrainConfig, Trainer};
use image::{DynamicImage, GrayImage, ImageBuffer, Luma, LumaA, Rgb, RgbImage};

fn mnist() -> &'static Dataset {
    static DATA: OnceLock<Dataset> = OnceLock::new();
    DATA.get_or_init(|| data::load(&DataSource::Embedded, &LoadOptions::default()).unwrap())
}

/// Fashion-MNIST from its Debian folder, or `None` after saying "skipped:" (a failure under
/// GPU_MNIST_REQUIRE_DATA=1).
fn fashion() -> Option<&'static Dataset> {
    static DATA: OnceLock<Option<Dataset>> = OnceLock::new();
    let dir = std::path::Path::new(data::FASHION_MNIST_DIR);
    if !dir.is_dir() {
        assert!(
            std::env::var("GPU_MNIST_REQUIRE_DATA").as_deref() != Ok("1"),
            "GPU_MNIST_REQUIRE_DATA=1 but {} is missing (apt-get install dataset-fashion-mnist)",
            dir.display()
        );
        println!("skipped: {} not found (apt-get install dataset-fashion-mnist)", dir.display());
        return None;
    }
    DATA.get_or_init(|| Some(data::load(&DataSource::Dir(dir.into()), &LoadOptions::default()).unwrap())).as_ref()
}

/// The bounding box (width, height) of the non-zero pixels of a 28×28 image.
fn ink_box(pixels: &[u8]) -> (usize, usize) {
    let ink: Vec<(usize, usize)> = (0..784).filter(|&i| pixels[i] > 0).map(|i| (i % 28, i / 28)).collect();
    let (xs, ys): (Vec<usize>, Vec<usize>) = ink.into_iter().unzip();
    let span = |v: &[usize]| v.iter().max().unwrap() - v.iter().min().unwrap() + 1;
    (span(&xs), span(&ys))
}

fn mean_abs_diff(a: &[u8], b: &[u8]) -> f64 {
    a.iter().zip(b).map(|(&x, &y)| (f64::from(x) - f64::from(y)).abs()).sum::<f64>() / a.len() as f64
}

/// The smallest [`mean_abs_diff`] of two 28×28 images over shifts of `b` by up to one pixel each way: centring by
/// the centre of mass rounds to whole pixels (as MNIST did), so a centre near a half pixel may land either side.
fn shifted_diff(a: &[u8], b: &[u8]) -> f64 {
    let mut best = f64::INFINITY;
    for dy in -1i64..=1 {
        for dx in -1i64..=1 {
            let shifted: Vec<u8> = (0..784i64)
                .map(|i| {
                    let (x, y) = (i % 28 - dx, i / 28 - dy);
                    if (0..28).contains(&x) && (0..28).contains(&y) {
                        b[(y * 28 + x) as usize]
                    } else {
                        0
                    }
                })
                .collect();
            best = best.min(mean_abs_diff(a, &shifted));
        }
    }
    best
}

/// A black disk of radius `r` centred at (cx, cy) on a white `w`×`h` picture, antialiased by 4×4 supersampling.
fn disk(w: u32, h: u32, cx: f32, cy: f32, r: f32) -> GrayImage {
    GrayImage::from_fn(w, h, |x, y| {
        let mut inside = 0;
        for sy in 0..4 {
            for sx in 0..4 {
                let (px, py) = (x as f32 + (sx as f32 + 0.5) / 4.0, y as f32 + (sy as f32 + 0.5) / 4.0);
                if (px - cx).powi(2) + (py - cy).powi(2) <= r * r {
                    inside += 1;
                }
            }
        }
        Luma([255 - (inside * 255 / 16) as u8])
    })
}

fn check_mnist_like(out: &[u8]) {
    assert_eq!(out.len(), 784);
    let (cx, cy) = centre_of_mass(out, 28).unwrap();
    assert!((cx - 14.0).abs() <= 1.0 && (cy - 14.0).abs() <= 1.0, "centre of mass ({cx}, {cy})");
    let (bw, bh) = ink_box(out);
    assert!(bw <= 20 && bh <= 20, "ink box {bw}×{bh}");
    assert_eq!(bw.max(bh), 20, "the larger side should be 20 px: {bw}×{bh}");
    // White on black: the corners are background, the ink reaches full white.
    for i in [0, 27, 756, 783] {
        assert_eq!(out[i], 0);
    }
    assert_eq!(out.iter().max(), Some(&255));
}

#[test]
fn off_centre_black_disk_on_white_becomes_a_centred_white_disk_on_black() {
    let img = DynamicImage::ImageLuma8(disk(100, 60, 72.0, 18.0, 12.0));
    let out = to_mnist(&img).unwrap();
    check_mnist_like(&out);
    // A disk stays round: its box is 20×20 and its middle is ink.
    assert_eq!(ink_box(&out), (20, 20));
    assert!(out[14 * 28 + 14] > 200, "{}", out[14 * 28 + 14]);
}

#[test]
fn polarity_colour_and_transparency_do_not_matter() {
    let dark_on_light = disk(100, 60, 30.0, 40.0, 9.0);
    let reference = to_mnist(&DynamicImage::ImageLuma8(dark_on_light.clone())).unwrap();
    // The same disk white on black.
    let mut light_on_dark = dark_on_light.clone();
    image::imageops::invert(&mut light_on_dark);
    let inverted = to_mnist(&DynamicImage::ImageLuma8(light_on_dark)).unwrap();
    assert!(mean_abs_diff(&reference, &inverted) < 1.0);
    // Dark blue ink on cream paper.
    let rgb = RgbImage::from_fn(100, 60, |x, y| {
        let t = f32::from(dark_on_light.get_pixel(x, y)[0]) / 255.0;
        let mix = |ink: f32, paper: f32| (ink + (paper - ink) * t).round() as u8;
        Rgb([mix(20.0, 250.0), mix(30.0, 245.0), mix(120.0, 225.0)])
    });
    let coloured = to_mnist(&DynamicImage::ImageRgb8(rgb)).unwrap();
    check_mnist_like(&coloured);
    assert!(mean_abs_diff(&reference, &coloured) < 3.0, "{}", mean_abs_diff(&reference, &coloured));
    // Black strokes on a transparent canvas, as drawing programs save them.
    let la: ImageBuffer<LumaA<u8>, Vec<u8>> =
        ImageBuffer::from_fn(100, 60, |x, y| LumaA([0, 255 - dark_on_light.get_pixel(x, y)[0]]));
    let transparent = to_mnist(&DynamicImage::ImageLumaA8(la)).unwrap();
    assert!(mean_abs_diff(&reference, &transparent) < 1.0, "{}", mean_abs_diff(&reference, &transparent));
}

#[test]
fn tall_strokes_keep_their_aspect_ratio() {
    // A vertical bar 6 wide and 40 tall: 20 px tall, 3 wide after scaling.
    let img = GrayImage::from_fn(50, 80, |x, y| {
        Luma(if (20..26).contains(&x) && (10..50).contains(&y) { [0] } else { [255] })
    });
    let out = to_mnist(&DynamicImage::ImageLuma8(img)).unwrap();
    check_mnist_like(&out);
    assert_eq!(ink_box(&out), (3, 20));
}

#[test]
fn blank_and_empty_pictures_are_errors_not_panics() {
    for img in [
        DynamicImage::ImageLuma8(GrayImage::from_pixel(40, 40, Luma([255]))),
        DynamicImage::ImageLuma8(GrayImage::from_pixel(40, 40, Luma([0]))),
        DynamicImage::ImageLuma8(GrayImage::from_pixel(40, 40, Luma([120]))),
        DynamicImage::ImageLuma8(GrayImage::new(0, 0)),
        DynamicImage::ImageLuma8(GrayImage::new(5, 0)),
    ] {
        let e = to_mnist(&img).unwrap_err().to_string();
        assert!(e.contains("no digit found") || e.contains("empty"), "{e}");
    }
    // A single ink pixel is a (tiny) digit.
    let mut dot = GrayImage::from_pixel(9, 9, Luma([255]));
    dot.put_pixel(4, 4, Luma([0]));
    let out = to_mnist(&DynamicImage::ImageLuma8(dot)).unwrap();
    assert_eq!(out.len(), 784);
}

/// A small model trained on the embedded MNIST (784-64-10, 2 epochs on 20 000 samples: about 95%).
fn trained() -> &'static (ModelConfig, Params) {
    static MODEL: OnceLock<(ModelConfig, Params)> = OnceLock::new();
    MODEL.get_or_init(|| train_small(mnist(), 0.9))
}

/// A 784-64-10 model trained 2 epochs on the first 20 000 training samples of `data`, whose test accuracy must
/// pass `min_acc`.
fn train_small(data: &Dataset, min_acc: f32) -> (ModelConfig, Params) {
    {
        let mut data = data.clone();
        data.train.truncate(20_000);
        let data = Arc::new(data);
        let model = ModelConfig {
            output_units: OutputUnits::Classes,
            inputs: 784,
            hidden: vec![64],
            classes: 10,
            activation: Activation::Relu,
            loss: Loss::Xent,
            leaky_slope: DEFAULT_LEAKY_SLOPE,
        };
        let config = TrainConfig {
            chunk_rows: None,
            epochs: 2,
            batch_size: 64,
            seed: 7,
            eval_batch: 1000,
            lr_schedule: Default::default(),
            init: None,
            dropout: 0.0,
            input_dropout: 0.0,
            shuffle: Default::default(),
        };
        let layout = config.layout(&model, Optimizer::momentum(0.05, 0.9).unwrap()).unwrap();
        let backend = CpuBackend::new(&layout, data.clone()).unwrap();
        let mut trainer = Trainer::new(backend, layout, data, config).unwrap();
        let mut last = None;
        for _ in 0..2 {
            last = Some(trainer.epoch(&mut |_| {}).unwrap());
        }
        assert!(last.as_ref().is_some_and(|m| m.test_acc > min_acc), "{last:?}");
        (model, trainer.backend.read_params().unwrap())
    }
}

/// The first `n` pixel values of `features` (MNIST's), as the input of `probabilities`.
fn pixels(features: &Features, n: usize) -> Features {
    Features::Pixels(features.pixels().unwrap()[..n].to_vec())
}

fn classify(pixels: &[u8]) -> usize {
    let (model, params) = trained();
    classify_with(model, params, pixels)
}

fn classify_with(model: &ModelConfig, params: &Params, pixels: &[u8]) -> usize {
    top_k(&probabilities(model, params, &Features::Pixels(pixels.to_vec()), None, 1).unwrap(), 1)[0].0
}

/// MNIST test digits written to files at 3× size (PNG white on black, PNG black on white, JPEG) come back through
/// `to_mnist` close to the original and classified the same.
#[test]
fn mnist_digits_survive_a_round_trip_through_files_at_3x() {
    let test = &mnist().test;
    let dir = tempfile::tempdir().unwrap();
    let mut agree = 0;
    let samples = 20;
    for i in 0..samples {
        let original = test.image(i).unwrap();
        let img = GrayImage::from_raw(28, 28, original.to_vec()).unwrap();
        let big = image::imageops::resize(&img, 84, 84, image::imageops::FilterType::Nearest);
        let mut paper = big.clone();
        image::imageops::invert(&mut paper);
        let variants = [
            ("white-on-black.png", DynamicImage::ImageLuma8(big.clone())),
            ("black-on-white.png", DynamicImage::ImageLuma8(paper)),
            ("jpeg.jpg", DynamicImage::ImageLuma8(big)),
        ];
        let expected = classify(original);
        for (name, variant) in variants {
            let path = dir.path().join(format!("{i}-{name}"));
            save_image(&variant, &path).unwrap();
            let back = to_mnist(&load_image(&path).unwrap()).unwrap();
            // Measured on the first 200 test digits: 3.7 (PNG) and 3.9 (JPEG) on average, 6.3 at most, in 0..255 over
            // the 784 pixels, up to a one-pixel shift. More would mean the strokes moved or changed thickness.
            let diff = shifted_diff(original, &back);
            assert!(diff < 8.0, "sample {i} via {name}: mean abs diff {diff}");
            agree += usize::from(classify(&back) == expected);
        }
    }
    // Every converted digit gets the original's prediction, bar at most one JPEG hiccup.
    assert!(agree >= 3 * samples - 1, "{agree} of {} agree", 3 * samples);
}

#[test]
fn probabilities_are_a_distribution_and_top_k_is_sorted() {
    let (model, params) = trained();
    let test = &mnist().test;
    let probs = probabilities(model, params, &pixels(&test.features, 784 * 100), None, 100).unwrap();
    assert_eq!(probs.len(), 1000);
    let mut correct = 0;
    for (row, &label) in probs.chunks(10).zip(&test.labels) {
        assert!((row.iter().sum::<f32>() - 1.0).abs() < 1e-4);
        let top = top_k(row, 3);
        assert_eq!(top.len(), 3);
        assert!(top[0].1 >= top[1].1 && top[1].1 >= top[2].1);
        correct += usize::from(top[0].0 == usize::from(label));
    }
    assert!(correct >= 90, "{correct}/100");
    // Wrong shapes are errors.
    assert!(probabilities(model, params, &pixels(&test.features, 783), None, 1).is_err());
    let other = ModelConfig { hidden: vec![32], ..model.clone() };
    assert!(probabilities(&other, params, &pixels(&test.features, 784), None, 1).is_err());
}

#[test]
fn digit_grid_has_the_cells_and_labels() {
    let split = LabeledImages::from_pixels(vec![255; 5 * 4 * 6], vec![0, 1, 2, 3, 250], 4, 6);
    let grid = digit_grid(&split, &[0, 1, 2, 3, 4], 2, 5).unwrap();
    // 2 columns, 3 rows of cells 30 wide and 20 + label tall, gaps of 10. "250" is 11 font pixels wide: it fits
    // under a 30-pixel image at font scale 2, so the label strip is 2·5 + 2·5 = 20 tall.
    assert_eq!(grid.dimensions(), (2 * (30 + 10) + 10, 3 * (20 + 20 + 10) + 10));
    // The first image's pixels are white; the gaps are grey.
    assert_eq!(grid.get_pixel(10, 10)[0], 255);
    assert_eq!(grid.get_pixel(0, 0)[0], 48);
    // Its label strip holds white glyph pixels (the "0").
    let strip = (10..40).flat_map(|x| (30..50).map(move |y| (x, y)));
    assert!(strip.into_iter().any(|(x, y)| grid.get_pixel(x, y)[0] == 255));
    assert!(digit_grid(&split, &[5], 2, 1).is_err());
    assert!(digit_grid(&split, &[0], 0, 1).is_err());
    // Pixels and labels that disagree are an error, not a panic.
    let short = LabeledImages { features: Features::Pixels(vec![0; 10]), ..split };
    assert!(digit_grid(&short, &[0], 2, 1).is_err());
}

/// The fill colour of cell (`row`, `col`) of the confusion image of a 10-class matrix. Such an image has 40-pixel
/// cells, the class-number margin on the left and top, and 4 pixels to spare on the right and bottom; each cell has
/// a one-pixel white border on its top and left, and its count centred (at font scale 2, from 15 pixels down). The
/// colour is read from a band across the top of the cell, inside the border and above the count, and the band must
/// be that one colour.
fn cell_colour(img: &RgbImage, row: u32, col: u32) -> Rgb<u8> {
    let (n, cell) = (10, 40);
    let margin = img.width() - n * cell - 4;
    let (x0, y0) = (margin + col * cell, margin + row * cell);
    let colour = *img.get_pixel(x0 + 2, y0 + 2);
    for y in y0 + 2..y0 + 12 {
        for x in x0 + 2..x0 + cell - 1 {
            assert_eq!(*img.get_pixel(x, y), colour, "cell ({row}, {col}) is not one colour at ({x}, {y})");
        }
    }
    colour
}

/// Whether `a` is darker than `b` in every channel (the colour scale runs from white to dark blue).
fn darker(a: Rgb<u8>, b: Rgb<u8>) -> bool {
    a.0.iter().zip(b.0).all(|(&x, y)| x < y)
}

#[test]
fn confusion_image_colours_by_row_fraction() {
    let mut m = vec![vec![0u32; 10]; 10];
    for (i, row) in m.iter_mut().enumerate() {
        row[i] = 980;
        row[(i + 1) % 10] = 20;
    }
    let img = confusion_image(&m);
    assert!(img.width() > 10 * 20 && img.width() == img.height());
    let side = img.width();
    let blue = img.pixels().filter(|p| p[2] > p[0].saturating_add(40)).count();
    assert!(blue > 10 * 20 * 20, "{blue} bluish pixels of {}", side * side);
    // Sampling the cells: in every row the diagonal (98% of the row) is the darkest, darker than its neighbour (2%),
    // which is darker than the cells holding nothing (near white); the diagonal is dark blue, and the same fraction
    // is the same colour in every row.
    let (diagonal, neighbour, empty) = (cell_colour(&img, 0, 0), cell_colour(&img, 0, 1), cell_colour(&img, 0, 2));
    assert!(diagonal[2] > diagonal[0].saturating_add(40), "diagonal {diagonal:?}");
    assert!(empty.0.iter().all(|&c| c >= 240), "empty cell {empty:?}");
    for t in 0..10 {
        let colours = [cell_colour(&img, t, t), cell_colour(&img, t, (t + 1) % 10), cell_colour(&img, t, (t + 2) % 10)];
        assert_eq!(colours, [diagonal, neighbour, empty], "row {t}");
    }
    assert!(darker(diagonal, neighbour) && darker(neighbour, empty), "{diagonal:?} {neighbour:?} {empty:?}");

    // The colour follows the fraction of the row, not the count: 10 of 20 and 1000 of 2000 look the same, 10 of
    // 1000 is lighter than 10 of 20, 990 of 1000 darker than 1000 of 2000, and an empty row is all near white.
    let mut m = vec![vec![0u32; 10]; 10];
    m[0][..2].copy_from_slice(&[10, 10]);
    m[1][1..3].copy_from_slice(&[1000, 1000]);
    m[2][..2].copy_from_slice(&[10, 990]);
    let img = confusion_image(&m);
    let half = cell_colour(&img, 0, 0);
    for (row, col) in [(0, 1), (1, 1), (1, 2)] {
        assert_eq!(cell_colour(&img, row, col), half, "cell ({row}, {col}) holds half its row, like (0, 0)");
    }
    assert!(darker(half, cell_colour(&img, 2, 0)), "10 of 20 {half:?} vs 10 of 1000 {:?}", cell_colour(&img, 2, 0));
    assert!(darker(cell_colour(&img, 2, 1), half), "990 of 1000 {:?} vs {half:?}", cell_colour(&img, 2, 1));
    assert!(darker(half, cell_colour(&img, 0, 2)));
    for col in 0..10 {
        assert_eq!(cell_colour(&img, 3, col), cell_colour(&img, 0, 2), "empty row 3, column {col}");
    }
    // Ragged and empty matrices draw without panicking.
    let ragged = confusion_image(&[vec![1, 2, 3], vec![4], vec![]]);
    assert!(ragged.width() > 0);
    let empty = confusion_image(&[]);
    assert!(empty.width() > 0);
    let huge = confusion_image(&vec![vec![1; 256]; 256]);
    assert!(huge.width() <= 1200, "{}", huge.width());
}

/// Fashion-MNIST test item `i` as a product photo: magnified 4× (nearest neighbour), dark on white (as Zalando's photos
/// were before the data set negated them), with a white margin of 30 pixels left and right and 20 above and below.
fn fashion_photo(split: &LabeledImages, i: usize) -> DynamicImage {
    let img = GrayImage::from_raw(28, 28, split.image(i).unwrap().to_vec()).unwrap();
    let mut big = image::imageops::resize(&img, 112, 112, image::imageops::FilterType::Nearest);
    image::imageops::invert(&mut big);
    let mut photo = GrayImage::from_pixel(112 + 60, 112 + 40, Luma([255]));
    image::imageops::replace(&mut photo, &big, 30, 20);
    DynamicImage::ImageLuma8(photo)
}

/// Fashion-MNIST items made into photos come back through `to_fashion` close to the originals and classified the
/// same; through `to_mnist` (a digit's preprocessing: 20 pixels, centred by mass) they do not, so the test can fail.
#[test]
fn fashion_items_should_survive_a_round_trip_through_to_fashion_but_not_to_mnist() {
    let Some(fashion) = fashion() else { return };
    let (model, params) = train_small(fashion, 0.8);
    let dir = tempfile::tempdir().unwrap();
    let samples = 100;
    let (mut fashion_diff, mut mnist_diff, mut jpeg_diff) = (0.0, 0.0, 0.0);
    let (mut fashion_agree, mut mnist_agree) = (0, 0);
    for i in 0..samples {
        let original = fashion.test.image(i).unwrap();
        let photo = fashion_photo(&fashion.test, i);
        let back = to_fashion(&photo).unwrap();
        assert_eq!(Preprocess::Fashion.apply(&photo).unwrap(), back);
        let digit_like = to_mnist(&photo).unwrap();
        fashion_diff += mean_abs_diff(original, &back) / samples as f64;
        mnist_diff += mean_abs_diff(original, &digit_like) / samples as f64;
        let expected = classify_with(&model, &params, original);
        fashion_agree += usize::from(classify_with(&model, &params, &back) == expected);
        mnist_agree += usize::from(classify_with(&model, &params, &digit_like) == expected);
        let path = dir.path().join(format!("{i}.jpg"));
        save_image(&photo, &path).unwrap();
        jpeg_diff += mean_abs_diff(original, &to_fashion(&load_image(&path).unwrap()).unwrap()) / samples as f64;
    }
    println!(
        "mean abs diff over {samples} items: to_fashion {fashion_diff:.2} (JPEG {jpeg_diff:.2}), to_mnist \
         {mnist_diff:.2}; same class as the original: {fashion_agree} and {mnist_agree}"
    );
    // Measured on the first 100 test items (of 255, over the 784 pixels): to_fashion 5.23 as PNG and 5.30 as JPEG,
    // to_mnist 45.55; the model gives 98 of to_fashion's inputs and 45 of to_mnist's the original's class. Of
    // to_fashion's difference, the 87 items whose pixels above FASHION_FLOOR span 28 come back within 3.7 on
    // average; the 13 with fainter edges are trimmed a little further and scaled back up to 28 (15.3).
    assert!(fashion_diff < 8.0 && jpeg_diff < 8.0, "to_fashion: {fashion_diff:.2}, as JPEG {jpeg_diff:.2}");
    assert!(mnist_diff > 24.0, "to_mnist should not reproduce Fashion-MNIST items: {mnist_diff:.2}");
    assert!(fashion_agree >= 90 && fashion_agree > mnist_agree + 20, "{fashion_agree} vs {mnist_agree}");
}
