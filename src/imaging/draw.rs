//! Drawing pictures: a labelled grid of sample images and a confusion-matrix heat map, with labels in a tiny
//! built-in 3×5 bitmap font (digits only), so nothing here needs a system font.

use image::{GrayImage, ImageBuffer, Luma, Pixel, Rgb, RgbImage};

use crate::data::LabeledImages;
use crate::error::{Error, Result};

/// Width and height of a glyph of the built-in font, in font pixels.
const GLYPH_W: u32 = 3;
const GLYPH_H: u32 = 5;

/// The digits 0–9 of the built-in font: five rows of three bits, most significant bit left.
const GLYPHS: [[u8; 5]; 10] = [
    [0b111, 0b101, 0b101, 0b101, 0b111],
    [0b010, 0b110, 0b010, 0b010, 0b111],
    [0b111, 0b001, 0b111, 0b100, 0b111],
    [0b111, 0b001, 0b111, 0b001, 0b111],
    [0b101, 0b101, 0b111, 0b001, 0b001],
    [0b111, 0b100, 0b111, 0b001, 0b111],
    [0b111, 0b100, 0b111, 0b101, 0b111],
    [0b111, 0b001, 0b010, 0b010, 0b010],
    [0b111, 0b101, 0b111, 0b101, 0b111],
    [0b111, 0b101, 0b111, 0b001, 0b111],
];

/// The largest picture this module draws, in pixels (a guard against absurd requests).
const MAX_PIXELS: u64 = 1 << 28;

/// Width in pixels of `text` in the built-in font at `scale` (one font pixel of space between glyphs).
pub fn text_width(text: &str, scale: u32) -> u32 {
    let n = text.chars().count() as u32;
    if n == 0 {
        0
    } else {
        (n * (GLYPH_W + 1) - 1) * scale
    }
}

/// Height in pixels of a line of the built-in font at `scale`.
pub fn text_height(scale: u32) -> u32 {
    GLYPH_H * scale
}

/// Draws the digits of `text` with the built-in font, top-left corner at (x, y), each font pixel a `scale`×`scale`
/// square; characters other than 0–9 leave a blank, and whatever falls outside the image is clipped.
pub fn draw_text<P: Pixel>(
    img: &mut ImageBuffer<P, Vec<P::Subpixel>>,
    x: i64,
    y: i64,
    text: &str,
    scale: u32,
    color: P,
) {
    let (w, h) = (i64::from(img.width()), i64::from(img.height()));
    let s = i64::from(scale);
    for (k, c) in text.chars().enumerate() {
        let Some(glyph) = c.to_digit(10).and_then(|d| GLYPHS.get(d as usize)) else { continue };
        let gx = x + k as i64 * i64::from(GLYPH_W + 1) * s;
        for (row, bits) in glyph.iter().enumerate() {
            for col in 0..GLYPH_W {
                if bits & (1 << (GLYPH_W - 1 - col)) == 0 {
                    continue;
                }
                for dy in 0..s {
                    for dx in 0..s {
                        let px = gx + i64::from(col) * s + dx;
                        let py = y + row as i64 * s + dy;
                        if (0..w).contains(&px) && (0..h).contains(&py) {
                            img.put_pixel(px as u32, py as u32, color);
                        }
                    }
                }
            }
        }
    }
}

/// A new image, or an error if it would be absurdly large.
fn canvas<P: Pixel>(width: u64, height: u64, fill: P) -> Result<ImageBuffer<P, Vec<P::Subpixel>>> {
    match (u32::try_from(width), u32::try_from(height)) {
        (Ok(w), Ok(h)) if width * height <= MAX_PIXELS => Ok(ImageBuffer::from_pixel(w, h, fill)),
        _ => Err(Error::Config(format!("a {width}×{height} picture is too large; ask for fewer or smaller images"))),
    }
}

/// A grid of the images `indices` of `split`, `columns` per row, each magnified `scale` times (nearest neighbour)
/// and labelled beneath with its label number: white digits on black, as MNIST stores them, in cells separated by
/// dark grey lines.
pub fn digit_grid(split: &LabeledImages, indices: &[usize], columns: usize, scale: u32) -> Result<GrayImage> {
    if columns == 0 || scale == 0 {
        return Err(Error::Config("a digit grid needs at least one column and a scale of at least 1".into()));
    }
    if let Some(&bad) = indices.iter().find(|&&i| i >= split.len()) {
        return Err(Error::Config(format!("sample {bad} does not exist: the split has {} samples", split.len())));
    }
    let Some(all) = split.features.pixels() else {
        return Err(Error::Config("a table's rows are not images: there is nothing to draw".into()));
    };
    if all.len() != split.len() * split.pixels() {
        return Err(Error::Config(format!(
            "the split holds {} pixels for {} images of {}×{}",
            all.len(),
            split.len(),
            split.rows,
            split.cols
        )));
    }
    let (rows_px, cols_px) = (split.rows as u64, split.cols as u64);
    let s = u64::from(scale);
    let gap = u64::from(2 * scale);
    let cell_w = cols_px * s;
    // The labels: at the image's scale, or smaller where the widest label would not fit under the image.
    let widest = indices.iter().map(|&i| split.labels[i].to_string().len()).max().unwrap_or(1);
    let widest_at_1 = u64::from(text_width(&"0".repeat(widest), 1)).max(1);
    let label_scale = (cell_w / widest_at_1).clamp(1, s) as u32;
    let label_h = u64::from(text_height(label_scale)) + 2 * s;
    let cell_h = rows_px * s + label_h;
    let grid_cols = columns.min(indices.len().max(1)) as u64;
    let grid_rows = indices.len().div_ceil(columns).max(1) as u64;
    let width = grid_cols * (cell_w + gap) + gap;
    let height = grid_rows * (cell_h + gap) + gap;
    let mut img = canvas(width, height, Luma([48u8]))?;
    for (k, &i) in indices.iter().enumerate() {
        let (gx, gy) = ((k % columns) as u64, (k / columns) as u64);
        let x0 = gap + gx * (cell_w + gap);
        let y0 = gap + gy * (cell_h + gap);
        // The cell: black background, the image, then its label.
        for y in 0..cell_h {
            for x in 0..cell_w {
                img.put_pixel((x0 + x) as u32, (y0 + y) as u32, Luma([0]));
            }
        }
        let pixels = &all[i * split.pixels()..(i + 1) * split.pixels()];
        for y in 0..rows_px * s {
            for x in 0..cols_px * s {
                let v = pixels[((y / s) * cols_px + x / s) as usize];
                img.put_pixel((x0 + x) as u32, (y0 + y) as u32, Luma([v]));
            }
        }
        let label = split.labels[i].to_string();
        let tx = x0 as i64 + (cell_w as i64 - i64::from(text_width(&label, label_scale))) / 2;
        let ty = (y0 + rows_px * s + s) as i64;
        draw_text(&mut img, tx, ty, &label, label_scale, Luma([255]));
    }
    Ok(img)
}

/// The colour of a confusion-matrix cell holding the fraction `f` (0..1) of its row: white at 0 to dark blue at 1,
/// on a square-root scale so that small confusions stay visible.
fn heat(f: f32) -> Rgb<u8> {
    let t = f.clamp(0.0, 1.0).sqrt();
    let (lo, hi) = ([247.0, 251.0, 255.0], [8.0, 48.0, 107.0]);
    Rgb(std::array::from_fn(|c| (lo[c] + (hi[c] - lo[c]) * t).round() as u8))
}

/// A heat map of a confusion matrix: `matrix[true][predicted]` counts, one square per cell coloured by the fraction
/// of its row (white: none of that true class, dark blue: all of it), the count written in each non-zero cell where
/// it fits, class numbers along the left (true class) and the top (predicted class). Ragged rows count as zeros.
pub fn confusion_image(matrix: &[Vec<u32>]) -> RgbImage {
    let n = matrix.iter().map(Vec::len).max().unwrap_or(0).max(matrix.len());
    // Cells shrink for many classes so the picture stays near 1000 pixels wide.
    let cell = (1000 / n.max(1)).clamp(4, 40) as u32;
    let label_scale = if cell >= 24 { 2 } else { 1 };
    let last = n.saturating_sub(1).to_string();
    let margin = text_width(&last, label_scale).max(text_height(label_scale)) + 8;
    let side = margin + n as u32 * cell + 4;
    let mut img = RgbImage::from_pixel(side, side, Rgb([255, 255, 255]));
    let black = Rgb([0, 0, 0]);
    for t in 0..n {
        let row = matrix.get(t).map(Vec::as_slice).unwrap_or(&[]);
        let total: u64 = row.iter().map(|&c| u64::from(c)).sum();
        // Row t and column t start at the same offset.
        let y0 = margin + t as u32 * cell;
        // Class numbers: true classes down the left, predicted classes along the top.
        let label = t.to_string();
        let (lw, lh) = (text_width(&label, label_scale), text_height(label_scale));
        if lh <= cell {
            let (x, y) = (margin - 4 - lw, y0 + (cell - lh) / 2);
            draw_text(&mut img, i64::from(x), i64::from(y), &label, label_scale, black);
        }
        if lw <= cell {
            let (x, y) = (y0 + (cell - lw) / 2, margin - 4 - lh);
            draw_text(&mut img, i64::from(x), i64::from(y), &label, label_scale, black);
        }
        for p in 0..n {
            let count = row.get(p).copied().unwrap_or(0);
            let f = if total == 0 { 0.0 } else { count as f32 / total as f32 };
            let color = heat(f);
            let x0 = margin + p as u32 * cell;
            // A one-pixel white border between cells where they are big enough to afford it.
            let inset = u32::from(cell >= 8);
            for y in y0 + inset..y0 + cell {
                for x in x0 + inset..x0 + cell {
                    img.put_pixel(x, y, color);
                }
            }
            if count == 0 {
                continue;
            }
            let text = count.to_string();
            let luminance = 0.2126 * f32::from(color[0]) + 0.7152 * f32::from(color[1]) + 0.0722 * f32::from(color[2]);
            let ink = if luminance > 128.0 { black } else { Rgb([255, 255, 255]) };
            for scale in [2, 1] {
                let (tw, th) = (text_width(&text, scale), text_height(scale));
                if tw + 2 <= cell && th + 2 <= cell {
                    let tx = i64::from(x0 + (cell - tw) / 2);
                    let ty = i64::from(y0 + (cell - th) / 2);
                    draw_text(&mut img, tx, ty, &text, scale, ink);
                    break;
                }
            }
        }
    }
    img
}
