//! A data set is known by its content, not by its folder's name: the digests of MNIST and Fashion-MNIST recomputed
//! from the real data.

use std::path::Path;
use std::time::Instant;

use gpu_mnist::data::identity::{self, FASHION_MNIST_DIGEST, MNIST_DIGEST};
use gpu_mnist::data::{self, DataSource, LoadOptions, FASHION_MNIST_DIR};

/// Whether Fashion-MNIST is installed; if not, says "skipped:" (or fails under GPU_MNIST_REQUIRE_DATA=1).
fn have_fashion() -> bool {
    if Path::new(FASHION_MNIST_DIR).is_dir() {
        return true;
    }
    assert!(
        std::env::var("GPU_MNIST_REQUIRE_DATA").as_deref() != Ok("1"),
        "GPU_MNIST_REQUIRE_DATA=1 but {FASHION_MNIST_DIR} is missing (apt-get install dataset-fashion-mnist)"
    );
    println!("skipped: {FASHION_MNIST_DIR} not found (apt-get install dataset-fashion-mnist)");
    false
}

/// The name `load` gives the data in `source` and its digest, recomputed here; prints how long loading and the
/// digest took.
fn recompute(source: &DataSource) -> (String, String) {
    let start = Instant::now();
    let data = data::load(source, &LoadOptions::default()).unwrap();
    let load_ms = start.elapsed().as_secs_f64() * 1e3;
    let start = Instant::now();
    let digest = identity::digest(&data.train, &data.test);
    let ms = start.elapsed().as_secs_f64() * 1e3;
    println!("{}: digest {digest} in {ms:.1} ms (loading, digest included: {load_ms:.0} ms)", data.name);
    assert_eq!(digest, data.digest, "load computes the same digest");
    (data.name, digest)
}

#[test]
fn the_mnist_digest_should_be_that_of_the_embedded_data() {
    let (name, digest) = recompute(&DataSource::Embedded);
    assert_eq!(digest, MNIST_DIGEST);
    assert_eq!(name, "mnist");
}

#[test]
fn the_fashion_digest_should_be_that_of_the_installed_data() {
    if !have_fashion() {
        return;
    }
    let (name, digest) = recompute(&DataSource::Dir(FASHION_MNIST_DIR.into()));
    assert_eq!(digest, FASHION_MNIST_DIGEST);
    assert_eq!(name, "fashion-mnist");
}
