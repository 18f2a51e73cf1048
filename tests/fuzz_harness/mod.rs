//! The invariants the cargo-fuzz targets in `fuzz/` check, one function per target. The targets include this file
//! (`#[path]`), and `tests/fuzz_regressions.rs` runs the committed seeds and every crash the fuzzer found through the
//! same functions, so `cargo test` exercises the harness without nightly or libFuzzer.
//!
//! Each function takes the fuzzer's bytes, must never panic for a correct library, and panics (`assert!`) when an
//! invariant breaks: libFuzzer reports that as a crash and keeps the input.

// Each fuzz target uses one of these functions.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::path::Path;

use flate2::read::MultiGzDecoder;
use flate2::write::GzEncoder;
use gpu_mnist::checkpoint::{self, Checkpoint};
use gpu_mnist::data::{read_idx_bytes, DataError, IdxArray, IdxLimits};
use gpu_mnist::imaging::{decode_image, to_mnist};
use gpu_mnist::Error;
use image::DynamicImage;

// ---------------------------------------------------------------------------------------------------------------
// idx_parser

/// The first byte chooses the dimension count (bit 0: 1 for labels, 3 for images) and the payload cap (bits 1–7:
/// `k` × 64 bytes, or 1 MiB for `k` = 127; small, so a legitimate parse stays small and the "exactly at the cap"
/// boundary is reachable); the rest is the file. It is parsed three ways:
///
/// 1. raw: the result must be exactly what a 10-line reference reader of the format says (dims and payload, or an
///    error);
/// 2. the same bytes as a `.gz` file (mostly "not gzip" or "corrupt gzip"): an `Ok` must hold dims whose product
///    is its length, within the cap, and agree with the reference on what the gzip stream decompresses to;
/// 3. the bytes gzipped first, so the fuzzer's IDX mutations reach the parser through the gzip decoder: the result
///    must be the raw parse's (same array, or the same error).
pub fn idx_parser(data: &[u8]) {
    let Some((&sel, file)) = data.split_first() else { return };
    let ndims = if sel & 1 == 0 { 1 } else { 3 };
    let max_bytes = match sel >> 1 {
        127 => 1 << 20,
        k => u64::from(k) * 64,
    };
    let limits = IdxLimits { max_bytes };

    let raw = read_idx_bytes("fuzz-idx", file, false, ndims, &limits);
    check_idx(&raw, ndims, &limits);
    assert_eq!(raw.as_ref().ok(), idx_reference(file, ndims, max_bytes).as_ref(), "raw parse ≠ reference");

    let as_gz = read_idx_bytes("fuzz-idx.gz", file, true, ndims, &limits);
    check_idx(&as_gz, ndims, &limits);
    if let Ok(array) = &as_gz {
        assert!(file.starts_with(&[0x1f, 0x8b]), "a .gz parse succeeded without the gzip magic");
        // The parser read all of it, so decompressing it whole is bounded by the cap.
        let mut plain = Vec::new();
        MultiGzDecoder::new(file).read_to_end(&mut plain).expect("the parser accepted this gzip stream");
        assert_eq!(Some(array), idx_reference(&plain, ndims, max_bytes).as_ref(), "gzip parse ≠ reference");
    }

    let mut enc = GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(file).expect("gzip into memory");
    let gz = enc.finish().expect("gzip into memory");
    let wrapped = read_idx_bytes("fuzz-idx.gz", &gz, true, ndims, &limits);
    check_idx(&wrapped, ndims, &limits);
    match (&raw, &wrapped) {
        (Ok(a), Ok(b)) => assert_eq!(a, b, "gzipped parse ≠ raw parse"),
        (Err(a), Err(b)) => assert_eq!(a.kind.to_string(), b.kind.to_string(), "gzipped error ≠ raw error"),
        (a, b) => {
            panic!("raw parse {:?} but gzipped parse {:?}", a.as_ref().map(|x| &x.dims), b.as_ref().map(|x| &x.dims))
        }
    }
}

/// What every `Ok` must satisfy: the asked-for dimension count, a payload of exactly the dims' product, within
/// the cap.
fn check_idx(result: &Result<IdxArray, DataError>, ndims: usize, limits: &IdxLimits) {
    let Ok(array) = result else { return };
    assert_eq!(array.dims.len(), ndims, "wrong dimension count");
    let product = array.dims.iter().try_fold(1usize, |p, &d| p.checked_mul(d));
    assert_eq!(product, Some(array.data.len()), "payload length ≠ product of dims {:?}", array.dims);
    assert!(array.data.len() as u64 <= limits.max_bytes, "payload over the cap");
}

/// The format in ten lines: `00 00 08 ndims`, `ndims` big-endian u32 dims, exactly their product of bytes (within
/// `max`), nothing after.
fn idx_reference(bytes: &[u8], ndims: usize, max: u64) -> Option<IdxArray> {
    let header = 4 + 4 * ndims;
    if bytes.len() < header || bytes[..4] != [0, 0, 8, ndims as u8] {
        return None;
    }
    let dims: Vec<u32> = bytes[4..header].chunks_exact(4).map(|c| u32::from_be_bytes(c.try_into().unwrap())).collect();
    let size = dims.iter().try_fold(1u64, |p, &d| p.checked_mul(u64::from(d)))?;
    (size <= max && (bytes.len() - header) as u64 == size)
        .then(|| IdxArray { dims: dims.iter().map(|&d| d as usize).collect(), data: bytes[header..].to_vec() })
}

// ---------------------------------------------------------------------------------------------------------------
// checkpoint_loader

/// The bytes as a checkpoint file ([`Checkpoint::load_bytes`], what [`Checkpoint::load`] runs after reading the
/// file). An error must be an [`Error::Checkpoint`] naming the file. A checkpoint that loads must pass its own
/// checks (a valid model, every tensor of its shape and finite, a batch size ≥ 1), must serialise, load back
/// equal and serialise to the same bytes again, and must save to `save_to` and load back equal from there.
pub fn checkpoint_loader(data: &[u8], save_to: &Path) {
    let name = Path::new("fuzz.safetensors");
    let ck = match Checkpoint::load_bytes(name, data) {
        Ok(ck) => ck,
        Err(Error::Checkpoint { path, msg }) => {
            assert_eq!(path, name);
            assert!(!msg.is_empty(), "an empty error message");
            return;
        }
        Err(e) => panic!("a checkpoint error that is not Error::Checkpoint: {e:?}"),
    };

    ck.model.validate().expect("a loaded checkpoint's model is valid");
    ck.check_compatible(name, &ck.model, &ck.optimizer).expect("a checkpoint is compatible with itself");
    assert!(ck.batch_size >= 1);
    let shapes = ck.model.layer_shapes();
    assert_eq!(ck.params.layers.len(), shapes.len());
    for (layer, &(inputs, outputs)) in ck.params.layers.iter().zip(&shapes) {
        assert_eq!((layer.inputs, layer.outputs), (inputs, outputs));
        assert_eq!((layer.weight.len(), layer.bias.len()), (inputs * outputs, outputs));
        assert!(layer.weight.iter().chain(&layer.bias).all(|x| x.is_finite()));
    }
    let state_shapes = checkpoint::state_tensors(&ck.model, &ck.optimizer);
    assert_eq!(ck.state.len(), state_shapes.len());
    for (values, (_, shape)) in ck.state.iter().zip(&state_shapes) {
        assert_eq!(values.len(), shape.iter().product::<usize>());
        assert!(values.iter().all(|x| x.is_finite()));
    }
    // Derived numbers: an error or a value, never a panic or an overflow.
    let _ = ck.epoch_start_steps();
    let _ = ck.train_config(ck.epoch.saturating_add(1), 1);

    let bytes = ck.to_bytes().expect("a loaded checkpoint serialises");
    let back = Checkpoint::load_bytes(name, &bytes).expect("a serialised checkpoint loads");
    assert_eq!(back, ck, "serialise → load changed the checkpoint");
    assert_eq!(back.to_bytes().expect("serialises again"), bytes, "serialising is not deterministic");

    ck.save(save_to).expect("a loaded checkpoint saves");
    assert_eq!(Checkpoint::load(save_to).expect("a saved checkpoint loads"), ck, "save → load changed it");
    std::fs::remove_file(save_to).expect("remove the saved checkpoint");
}

// ---------------------------------------------------------------------------------------------------------------
// picture_preprocess

/// The bytes as a picture file ([`decode_image`], what [`gpu_mnist::imaging::load_image`] runs on a file's
/// contents: format guess, size cap, decoder limits), then [`to_mnist`]. Decoding may fail with an
/// [`Error::Io`] naming the picture; a decoded picture must go through [`picture_pixels_check`].
pub fn picture_file(data: &[u8]) {
    let name = Path::new("fuzz-picture");
    match decode_image(name, data) {
        Ok(img) => {
            let pixels = u64::from(img.width()) * u64::from(img.height());
            assert!(pixels <= gpu_mnist::imaging::MAX_PICTURE_PIXELS, "decoded a picture over the cap");
            picture_pixels_check(&img);
        }
        Err(Error::Io { path, .. }) => assert_eq!(path, name),
        Err(e) => panic!("a decode error that is not Error::Io: {e:?}"),
    }
}

/// [`picture_pixels_check`] on the picture [`picture_from_pixels`] builds.
pub fn picture_pixels(width: u8, height: u8, kind: u8, samples: &[u8]) {
    picture_pixels_check(&picture_from_pixels(width, height, kind, samples));
}

/// A picture built directly: `width` × `height` (each 0–63), of the colour type `kind` picks (8- and 16-bit gray,
/// gray+alpha, RGB, RGBA, and 32-bit float RGB/RGBA, whose samples may be NaN or infinite), its samples taken
/// from `samples` in turn (all 0 if it is empty).
pub fn picture_from_pixels(width: u8, height: u8, kind: u8, samples: &[u8]) -> DynamicImage {
    let (w, h) = (u32::from(width % 64), u32::from(height % 64));
    let n = (w * h) as usize;
    let bytes = |len: usize| -> Vec<u8> {
        if samples.is_empty() {
            vec![0; len]
        } else {
            samples.iter().copied().cycle().take(len).collect()
        }
    };
    let u16s =
        |len: usize| -> Vec<u16> { bytes(2 * len).chunks_exact(2).map(|c| u16::from_le_bytes([c[0], c[1]])).collect() };
    let f32s = |len: usize| -> Vec<f32> {
        bytes(4 * len).chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()
    };
    match kind % 8 {
        0 => DynamicImage::ImageLuma8(image::ImageBuffer::from_raw(w, h, bytes(n)).unwrap()),
        1 => DynamicImage::ImageLumaA8(image::ImageBuffer::from_raw(w, h, bytes(2 * n)).unwrap()),
        2 => DynamicImage::ImageRgb8(image::ImageBuffer::from_raw(w, h, bytes(3 * n)).unwrap()),
        3 => DynamicImage::ImageRgba8(image::ImageBuffer::from_raw(w, h, bytes(4 * n)).unwrap()),
        4 => DynamicImage::ImageLuma16(image::ImageBuffer::from_raw(w, h, u16s(n)).unwrap()),
        5 => DynamicImage::ImageRgba16(image::ImageBuffer::from_raw(w, h, u16s(4 * n)).unwrap()),
        6 => DynamicImage::ImageRgb32F(image::ImageBuffer::from_raw(w, h, f32s(3 * n)).unwrap()),
        _ => DynamicImage::ImageRgba32F(image::ImageBuffer::from_raw(w, h, f32s(4 * n)).unwrap()),
    }
}

/// [`to_mnist`] on any picture: an error is an [`Error::Config`] (empty, or no ink), a success exactly 784 bytes;
/// an empty picture is always an error.
pub fn picture_pixels_check(img: &DynamicImage) {
    match to_mnist(img) {
        Ok(out) => {
            assert_eq!(out.len(), 784, "to_mnist gave {} bytes", out.len());
            assert!(img.width() > 0 && img.height() > 0, "an empty picture converted");
        }
        Err(Error::Config(msg)) => assert!(!msg.is_empty()),
        Err(e) => panic!("a to_mnist error that is not Error::Config: {e:?}"),
    }
}
