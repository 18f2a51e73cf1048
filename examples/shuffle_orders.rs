//! Prints the order in which `train --seed SEED` visits the N training samples in each of the first EPOCHS epochs,
//! one line of comma-separated indices per epoch (the trainer's own, `Shuffle::Chacha8`). Another
//! implementation can then be run in the same order, as `tests/fixtures/make_perceptron.py` runs scikit-learn's
//! Perceptron:
//!
//!     cargo run --release --example shuffle_orders -- 42 750 20

fn main() -> Result<(), String> {
    let args: Vec<u64> = std::env::args()
        .skip(1)
        .map(|a| a.parse::<u64>().map_err(|_| format!("'{a}' is not a number: give SEED N EPOCHS, e.g. 42 750 20")))
        .collect::<Result<_, _>>()?;
    let [seed, n, epochs] = args[..] else { return Err("give SEED N EPOCHS, e.g. 42 750 20".into()) };
    for epoch in 0..epochs as usize {
        let order = gpu_mnist::train::Shuffle::Chacha8.epoch_order(seed, epoch, n as usize);
        let line: Vec<String> = order.iter().map(u32::to_string).collect();
        println!("{}", line.join(","));
    }
    Ok(())
}
