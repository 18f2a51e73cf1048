//! Any picture of a digit or of a piece of clothing made into the 28×28 input a model was trained on, the way its
//! data set was made: [`to_mnist`] (crop, scale to 20 px, centre of mass at (14, 14)) and [`to_fashion`] (trim,
//! longer side to 28 px, centred by the box), chosen by [`Preprocess`].

use image::imageops::{self, FilterType};
use image::{DynamicImage, ImageBuffer, Luma};

use crate::error::{Error, Result};

/// Side of the images [`to_mnist`] makes.
pub const MNIST_SIDE: u32 = 28;

/// The larger side of the digit inside the 28×28 frame, as in MNIST (the rest is a 4-pixel margin).
pub const MNIST_BOX: u32 = 20;

/// Where [`to_mnist`] puts the centre of mass of the ink, in pixel indices (x, y). MNIST's test set has its mean
/// centre of mass there, within 0.01 pixel (pixel `i` counted at coordinate `i`).
pub const MNIST_CENTRE: f32 = 14.0;

/// In [`to_mnist`], what stays below this fraction of the range from background to the brightest ink is noise.
/// Measured on 200 MNIST test digits magnified 3× and saved as PNG and JPEG (quality 75): 0.2 brings them back
/// closest to the originals (mean absolute difference 3.7 and 3.9 of 255; 0.1 gives 4.0 and 4.4 with outliers
/// at 11 from JPEG ringing; 0.4 starts eating thin strokes).
pub const NOISE_FLOOR: f32 = 0.2;

/// In [`to_fashion`], what stays below this fraction of the range from background to the brightest pixel is taken
/// for background (and trimmed). Zalando trimmed what lay within 5% of the corners' colour. Measured on the first 500
/// Fashion-MNIST test items magnified 4× and put dark on a white margin, mean absolute difference from the originals
/// (of 255): 0.05 gives 5.0 as PNG but 7.8 as JPEG (quality 75), whose ringing around the product widens the trimmed
/// box; 0.1 gives 5.9 and 5.7.
pub const FASHION_FLOOR: f32 = 0.1;

/// The filter [`to_fashion`] scales with: Lanczos3, sharp and antialiased. Zalando subsampled (skipped rows and
/// columns), then sharpened. On the items above, subsampling (`Nearest`) comes back closer from an exact 4×
/// magnification (3.3 PNG, 3.9 JPEG) and from a smooth 3.7× one (9.1 against Lanczos3's 10.5), but from a photo it
/// keeps one pixel of each block, noise included; a triangle filter blurs (8.5, 8.3).
pub const FASHION_FILTER: FilterType = FilterType::Lanczos3;

/// The median of `values` (0 if empty).
fn median(mut values: Vec<f32>) -> f32 {
    if values.is_empty() {
        return 0.0;
    }
    values.sort_by(f32::total_cmp);
    values[values.len() / 2]
}

/// The picture's lightness 0..1 per pixel, row-major. Transparent pixels take the background colour that lets the
/// opaque ones stand out (white behind dark strokes, black behind light ones), so drawings on a transparent
/// canvas work.
///
/// Fails on a NaN lightness or alpha (only a floating-point picture has one: a NaN sample, or infinite channels
/// that cancel in the grayscale sum): every later step would compare NaNs, and a picture of them is no digit.
fn lightness(img: &DynamicImage) -> Result<Vec<f32>> {
    let la = img.to_luma_alpha32f();
    let pixels: Vec<(f32, f32)> = la.pixels().map(|p| (p[0].clamp(0.0, 1.0), p[1].clamp(0.0, 1.0))).collect();
    if let Some(i) = pixels.iter().position(|&(l, a)| l.is_nan() || a.is_nan()) {
        let (x, y) = (i % img.width() as usize, i / img.width() as usize);
        return Err(Error::Config(format!(
            "the picture has an undefined (NaN) value at pixel ({x}, {y}); give a picture of finite values"
        )));
    }
    if !img.color().has_alpha() || pixels.iter().all(|&(_, a)| a >= 1.0) {
        return Ok(pixels.into_iter().map(|(l, _)| l).collect());
    }
    let (weighted, weight) =
        pixels.iter().fold((0.0f64, 0.0f64), |(s, w), &(l, a)| (s + f64::from(l) * f64::from(a), w + f64::from(a)));
    let background = if weight > 0.0 && weighted / weight < 0.5 { 1.0 } else { 0.0 };
    Ok(pixels.into_iter().map(|(l, a)| a * l + (1.0 - a) * background).collect())
}

/// A picture's pixels as lightness 0..1, row-major, `w` wide and `h` tall.
struct Plane {
    v: Vec<f32>,
    w: usize,
    h: usize,
}

/// Steps 1–3 of [`to_mnist`] and [`to_fashion`], the same for both: the picture's lightness (transparent pixels
/// composited onto the background its strokes stand out from); inverted if the background is light — judged by the
/// border's mean — so the subject is light on black; levels stretched so that the border's median becomes 0 and the
/// brightest pixel 1, and what stays below `floor` of that range set to 0 (paper, sensor or JPEG noise). `what` names
/// the subject in the error for a picture where nothing stands out from the background, or one with no pixels.
fn foreground(img: &DynamicImage, floor: f32, what: &str) -> Result<Plane> {
    let (w, h) = (img.width() as usize, img.height() as usize);
    if w == 0 || h == 0 {
        return Err(Error::Config("the picture is empty (0 pixels)".into()));
    }
    let mut v = lightness(img)?;

    // Polarity from the border: MNIST's and Fashion-MNIST's subjects are light on black.
    let border: Vec<usize> =
        (0..w).flat_map(|x| [x, (h - 1) * w + x]).chain((0..h).flat_map(|y| [y * w, y * w + w - 1])).collect();
    let border_mean = border.iter().map(|&i| v[i]).sum::<f32>() / border.len() as f32;
    if border_mean > 0.5 {
        v.iter_mut().for_each(|p| *p = 1.0 - *p);
    }

    // Levels: background to 0, the brightest pixel to 1, noise to 0.
    let background = median(border.iter().map(|&i| v[i]).collect());
    let peak = v.iter().copied().fold(0.0f32, f32::max);
    if peak - background < 0.1 {
        return Err(Error::Config(format!(
            "no {what} found in the picture: nothing stands out from its background (is it blank?)"
        )));
    }
    for p in &mut v {
        let t = ((*p - background) / (peak - background)).clamp(0.0, 1.0);
        *p = if t < floor { 0.0 } else { t };
    }
    Ok(Plane { v, w, h })
}

/// The plane cropped to the bounding box of its non-zero pixels. [`foreground`] leaves at least one (its peak is 1).
fn crop_to_subject(plane: &Plane) -> ImageBuffer<Luma<f32>, Vec<f32>> {
    let Plane { v, w, h } = plane;
    let (mut x0, mut y0, mut x1, mut y1) = (*w, *h, 0, 0);
    for (i, &p) in v.iter().enumerate() {
        if p > 0.0 {
            let (x, y) = (i % w, i / w);
            (x0, y0, x1, y1) = (x0.min(x), y0.min(y), x1.max(x), y1.max(y));
        }
    }
    let (cw, ch) = ((x1 + 1).saturating_sub(x0).max(1), (y1 + 1).saturating_sub(y0).max(1));
    ImageBuffer::from_fn(cw as u32, ch as u32, |x, y| {
        Luma([v.get((y0 + y as usize) * w + x0 + x as usize).copied().unwrap_or(0.0)])
    })
}

/// `crop` scaled, keeping its aspect ratio, so that its larger side is `side` pixels (the other at least 1).
fn fit(crop: &ImageBuffer<Luma<f32>, Vec<f32>>, side: u32, filter: FilterType) -> ImageBuffer<Luma<f32>, Vec<f32>> {
    let (cw, ch) = (f64::from(crop.width()), f64::from(crop.height()));
    let scale = f64::from(side) / cw.max(ch);
    let (nw, nh) = (((cw * scale).round() as u32).clamp(1, side), ((ch * scale).round() as u32).clamp(1, side));
    imageops::resize(crop, nw, nh, filter)
}

/// A black 28×28 input with `small` pasted at (`dx`, `dy`), 0..1 mapped to 0..255; what falls outside is cut off.
fn paste(small: &ImageBuffer<Luma<f32>, Vec<f32>>, dx: i64, dy: i64) -> Vec<u8> {
    let n = MNIST_SIDE as i64;
    let mut out = vec![0u8; (n * n) as usize];
    for (x, y, p) in small.enumerate_pixels() {
        let (tx, ty) = (i64::from(x) + dx, i64::from(y) + dy);
        if (0..n).contains(&tx) && (0..n).contains(&ty) {
            out[(ty * n + tx) as usize] = (p[0].clamp(0.0, 1.0) * 255.0).round() as u8;
        }
    }
    out
}

/// Converts a picture of one digit (any size, any format the `image` crate decodes, dark-on-light or light-on-dark)
/// into 784 bytes laid out like an MNIST image, following the way MNIST itself was made:
///
/// 1. grayscale (transparent pixels composited onto the background the strokes stand out from);
/// 2. inverted if the background is light — judged by the border's mean — so the digit is white on black;
/// 3. levels stretched so that the border's median becomes 0 and the brightest ink 255; what stays below 20% of
///    that range ([`NOISE_FLOOR`]) is taken for paper, sensor or JPEG noise and set to 0;
/// 4. cropped to the bounding box of the ink;
/// 5. scaled, keeping the aspect ratio, so that the larger side is 20 pixels, with an antialiasing (triangle) filter;
/// 6. pasted into a black 28×28 frame so that the ink's centre of mass lands on pixel (14, 14) (to the nearest
///    pixel; what would fall outside the frame is cut off).
///
/// Fails on an empty picture, on one with no ink (nothing stands out from the background) and on a floating-point
/// picture with NaN values.
pub fn to_mnist(img: &DynamicImage) -> Result<Vec<u8>> {
    let plane = foreground(img, NOISE_FLOOR, "digit")?;
    let small = fit(&crop_to_subject(&plane), MNIST_BOX, FilterType::Triangle);

    // 6. Centre of mass onto (14, 14).
    let (mut mass, mut mx, mut my) = (0.0f64, 0.0f64, 0.0f64);
    for (x, y, p) in small.enumerate_pixels() {
        let m = f64::from(p[0].max(0.0));
        mass += m;
        mx += m * f64::from(x);
        my += m * f64::from(y);
    }
    if mass <= 0.0 {
        return Err(Error::Config("no digit found in the picture: the ink vanished when scaled down".into()));
    }
    let dx = (f64::from(MNIST_CENTRE) - mx / mass).round() as i64;
    let dy = (f64::from(MNIST_CENTRE) - my / mass).round() as i64;
    Ok(paste(&small, dx, dy))
}

/// Converts a picture of one piece of clothing (any size and format, a product photo dark on a light background or
/// light on dark) into 784 bytes laid out like a Fashion-MNIST image, following the way Zalando made Fashion-MNIST
/// from its product photos (trim, resize the longer edge to 28, centre, negate, grayscale):
///
/// 1.–3. as [`to_mnist`] — grayscale, light on black (Zalando negated its photos of products on white), levels —
///    with a noise floor of [`FASHION_FLOOR`];
/// 4. trimmed to the bounding box of the product;
/// 5. scaled, keeping the aspect ratio, so that the longer side is 28 pixels ([`FASHION_FILTER`]);
/// 6. centred in the black 28×28 frame by its bounding box, not by its mass (the odd pixel of margin going to the
///    left and top, as in Fashion-MNIST's test set).
///
/// Fails on an empty picture and on one where nothing stands out from the background.
pub fn to_fashion(img: &DynamicImage) -> Result<Vec<u8>> {
    let plane = foreground(img, FASHION_FLOOR, "piece of clothing")?;
    let small = fit(&crop_to_subject(&plane), MNIST_SIDE, FASHION_FILTER);
    let margin = |side: u32| i64::from(MNIST_SIDE.saturating_sub(side).div_ceil(2));
    Ok(paste(&small, margin(small.width()), margin(small.height())))
}

/// How a picture becomes a model's 28×28 input: the way the model's data set was made.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Preprocess {
    /// MNIST's way ([`to_mnist`]): crop to the ink, larger side to 20 pixels, centre of mass at (14, 14).
    Digits,
    /// Fashion-MNIST's way ([`to_fashion`]): trim to the product, longer side to 28 pixels, centred by its box.
    Fashion,
    /// None: a 28×28 picture taken as it is (its grayscale, white on black as the data sets store images).
    None,
}

impl Preprocess {
    /// The preprocessing of a model trained on the data set called `name` (its content's name where it is known,
    /// see [`crate::data::identity`]): Fashion-MNIST's for Fashion-MNIST, MNIST's for anything else.
    pub fn for_data(name: &str) -> Self {
        match crate::data::identity::known_by_name(name) {
            Some(known) if known.name == crate::data::FASHION_MNIST_NAME => Preprocess::Fashion,
            _ => Preprocess::Digits,
        }
    }

    /// Its name, as `--preprocess` takes it.
    pub fn name(self) -> &'static str {
        match self {
            Preprocess::Digits => "digits",
            Preprocess::Fashion => "fashion",
            Preprocess::None => "none",
        }
    }

    /// What it does, in a few words.
    pub fn describe(self) -> &'static str {
        match self {
            Preprocess::Digits => "MNIST's preprocessing: crop, larger side to 20 px, centre of mass at (14, 14)",
            Preprocess::Fashion => "Fashion-MNIST's preprocessing: trim, longer side to 28 px, centred",
            Preprocess::None => "no preprocessing: 28×28 pictures as they are",
        }
    }

    /// The 784 input pixels of `img`, white on black. [`Preprocess::None`] takes only 28×28 pictures.
    pub fn apply(self, img: &DynamicImage) -> Result<Vec<u8>> {
        match self {
            Preprocess::Digits => to_mnist(img),
            Preprocess::Fashion => to_fashion(img),
            Preprocess::None if (img.width(), img.height()) == (MNIST_SIDE, MNIST_SIDE) => {
                Ok(img.to_luma8().into_raw())
            }
            Preprocess::None => Err(Error::Config(format!(
                "the picture is {}×{}, but --preprocess none (--as-is) takes {MNIST_SIDE}×{MNIST_SIDE} pictures as \
                 they are; leave it out to have the picture converted",
                img.width(),
                img.height()
            ))),
        }
    }
}

/// The centre of mass (x, y) of a row-major `width`-wide picture, in pixel indices; `None` if it is all zero.
pub fn centre_of_mass(pixels: &[u8], width: usize) -> Option<(f32, f32)> {
    if width == 0 {
        return None;
    }
    let (mut mass, mut mx, mut my) = (0.0f64, 0.0f64, 0.0f64);
    for (i, &p) in pixels.iter().enumerate() {
        let m = f64::from(p);
        mass += m;
        mx += m * (i % width) as f64;
        my += m * (i / width) as f64;
    }
    (mass > 0.0).then(|| ((mx / mass) as f32, (my / mass) as f32))
}
