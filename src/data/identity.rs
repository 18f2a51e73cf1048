//! What a data set is, told by its content rather than by the name of its folder.
//!
//! A folder's name says little: MNIST copied to `~/digits`, gunzipped, is still MNIST, and a folder called
//! `fashion` may hold anything. [`digest`] is a SHA-256 over the decoded data of both splits (counts, image sizes,
//! labels and pixels), so the same data matches whatever its file names or compression, and [`KNOWN`] maps the
//! digests of the data sets gpu-mnist knows to their names. Checkpoints store the digest, so `eval` and `predict`
//! know which data a model learned even when its folder has moved.

use sha2::{Digest, Sha256};

use super::classes::{FASHION_MNIST_DIR, FASHION_MNIST_NAME};
use super::{Dataset, Features, LabeledImages};

/// The name of MNIST, the data set embedded in the binary.
pub const MNIST_NAME: &str = "mnist";

/// [`digest`] of MNIST (the embedded copy, `assets/mnist/`); recomputed from the data by the test suite.
pub const MNIST_DIGEST: &str = "a8021d85a75dcc62471d121661e80195ab37e3f4db8503562e088a72bbd0ee52";

/// [`digest`] of Fashion-MNIST as Debian's `dataset-fashion-mnist` installs it in [`FASHION_MNIST_DIR`] (Zalando's
/// files); recomputed from the data by the test suite where it is installed.
pub const FASHION_MNIST_DIGEST: &str = "ffc748369a74221c9c443a4dced380da36d047c4b784884bb2bf0cf41f95858b";

/// A data set gpu-mnist recognises by its content.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Known {
    /// Its name: what `train`, `eval`, `show` and checkpoints call it.
    pub name: &'static str,
    /// Its [`digest`].
    pub digest: &'static str,
    /// Where it is found when no `--data-dir` says: `None` for the copy embedded in the binary.
    pub dir: Option<&'static str>,
    /// What installs it in [`Known::dir`], for the message when it is missing.
    pub install: &'static str,
}

/// The data sets known by content: MNIST and Fashion-MNIST.
pub const KNOWN: [Known; 2] = [
    Known { name: MNIST_NAME, digest: MNIST_DIGEST, dir: None, install: "" },
    Known {
        name: FASHION_MNIST_NAME,
        digest: FASHION_MNIST_DIGEST,
        dir: Some(FASHION_MNIST_DIR),
        install: "apt-get install dataset-fashion-mnist",
    },
];

/// Version of what [`digest`] hashes, hashed first, so that a change of the recipe can never match an old digest.
const DIGEST_DOMAIN: &[u8] = b"gpu-mnist data digest v1\0";

/// The content digest of a data set with these splits, as 64 lowercase hex digits: SHA-256 over, per split (train,
/// then test), the sample count, rows and cols (each a little-endian u64), the labels, then the pixels.
///
/// It hashes the decoded data, so gzipped and raw files, and old-style file names, give the same digest. The pixels
/// are hashed too: derived sets such as MNIST-C keep MNIST's labels in MNIST's order, and must not pass for it.
/// That costs a SHA-256 over 55 MB: 29–66 ms for MNIST or Fashion-MNIST on this project's 2-core machine (AMD EPYC,
/// whose SHA extensions `sha2` uses), next to the 0.2–0.3 s that decompressing and parsing the files take
/// (`tests/data_identity.rs` prints both).
pub fn digest(train: &LabeledImages, test: &LabeledImages) -> String {
    let mut hash = Sha256::new();
    hash.update(DIGEST_DOMAIN);
    for split in [train, test] {
        for n in [split.len(), split.rows, split.cols] {
            hash.update((n as u64).to_le_bytes());
        }
        hash.update(&split.labels);
        match &split.features {
            Features::Pixels(p) => hash.update(p),
            // Tagged, so values never pass for pixels of the same bytes.
            Features::Values(v) => {
                hash.update(b"f32 values");
                v.iter().for_each(|x| hash.update(x.to_le_bytes()));
            }
        }
    }
    hash.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// The known data set with this digest, if any.
pub fn known(digest: &str) -> Option<&'static Known> {
    KNOWN.iter().find(|k| k.digest == digest)
}

/// The known data set of this name (`mnist`, `fashion-mnist`), if any: how checkpoints written before digests
/// existed are identified.
pub fn known_by_name(name: &str) -> Option<&'static Known> {
    let name = if super::class_names(name).is_some() { FASHION_MNIST_NAME } else { name };
    KNOWN.iter().find(|k| k.name == name)
}

/// Whether `s` has the form of a [`digest`]: 64 lowercase hex digits.
pub fn is_digest(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// The first 12 hex digits of a digest, enough to tell data sets apart in a message.
pub fn short(digest: &str) -> &str {
    digest.get(..12).unwrap_or(digest)
}

/// How messages name data called `name` with this digest: a known data set by its own name, other data by its
/// name and the start of its digest (two folders of the same name may hold different data), data without a digest
/// (an old checkpoint's) by its name.
pub fn describe(name: &str, digest: Option<&str>) -> String {
    match digest {
        Some(d) => known(d).map_or_else(|| format!("{name} (data {}…)", short(d)), |k| k.name.to_owned()),
        None => name.to_owned(),
    }
}

impl Dataset {
    /// The known data set this is, by its content.
    pub fn known(&self) -> Option<&'static Known> {
        known(&self.digest)
    }

    /// How messages name this data ([`describe`]).
    pub fn describe(&self) -> String {
        describe(&self.name, Some(&self.digest))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_have_their_form_and_differ_by_every_part() {
        let split = |labels: &[u8], images: &[u8], rows, cols| {
            LabeledImages::from_pixels(images.to_vec(), labels.to_vec(), rows, cols)
        };
        let a = split(&[1, 2], &[0, 1, 2, 3], 1, 2);
        let d = digest(&a, &a);
        assert!(is_digest(&d), "{d}");
        assert_eq!(short(&d).len(), 12);
        let others = [
            digest(&split(&[1, 3], &[0, 1, 2, 3], 1, 2), &a),
            digest(&split(&[1, 2], &[0, 1, 2, 4], 1, 2), &a),
            digest(&split(&[1, 2], &[0, 1, 2, 3], 2, 1), &a),
            digest(&a, &split(&[1], &[0, 1], 1, 2)),
            digest(&split(&[1], &[0, 1], 1, 2), &a),
        ];
        for (i, other) in others.iter().enumerate() {
            assert_ne!(&d, other, "change {i} left the digest as it was");
        }
        assert!(!is_digest("mnist") && !is_digest(&d.to_uppercase()) && !is_digest(&d[1..]));
    }

    #[test]
    fn known_names_map_to_their_data_sets() {
        assert_eq!(known_by_name("mnist").map(|k| k.digest), Some(MNIST_DIGEST));
        for name in ["fashion-mnist", "Fashion_MNIST", "fashion"] {
            assert_eq!(known_by_name(name).map(|k| k.name), Some(FASHION_MNIST_NAME), "{name}");
        }
        assert_eq!(known_by_name("my-digits"), None);
        assert_eq!(known(FASHION_MNIST_DIGEST).map(|k| k.dir), Some(Some(FASHION_MNIST_DIR)));
        assert_eq!(known(&"0".repeat(64)), None);
        assert!(KNOWN.iter().all(|k| is_digest(k.digest)), "{KNOWN:?}");
        let other = "0123456789ab".repeat(6);
        assert_eq!(describe("digits", Some(&other[..64])), "digits (data 0123456789ab…)");
        assert_eq!(describe("digits", Some(MNIST_DIGEST)), "mnist");
        assert_eq!(describe("digits", None), "digits");
    }
}
