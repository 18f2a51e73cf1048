//! What `train` makes of its data before training: the pixels' normalisation and the line that describes the data.

use anyhow::Result;
use gpu_mnist::checkpoint::Checkpoint;
use gpu_mnist::data::{Dataset, Normalize};

/// `fashion-mnist: 60000 train, 10000 test samples, 10 classes (T-shirt/top, Trouser, …)`.
pub(super) fn data_line(data: &Dataset) -> String {
    let mut line = format!(
        "{}: {} train, {} test samples, {} classes",
        data.name,
        data.train.len(),
        data.test.len(),
        data.classes
    );
    if let Some(names) = data.class_names() {
        line.push_str(&format!(" ({})", names.join(", ")));
    }
    if let Some(n) = data.normalize {
        line.push_str(&format!(", pixels normalised: (x − {}) / {}", n.mean, n.std));
    }
    if let Some(table) = &data.table {
        line.push_str(&format!(
            ", {} features ({}) {}, label column {}",
            table.features.len(),
            table.features.join(", "),
            if table.standardizes() { "standardised" } else { "as given" },
            table.label
        ));
    } else if (data.train.rows, data.train.cols) != (28, 28) {
        line.push_str(&format!(", {}×{} images", data.train.rows, data.train.cols));
    }
    line
}

/// A resumed run on a table reads its features as the checkpoint's run did: standardised or not (`--no-standardize`).
pub(super) fn check_table(resumed: Option<&Checkpoint>, data: &Dataset) -> Result<()> {
    if let (Some(saved), Some(read)) = (resumed.and_then(|ck| ck.table.as_ref()), &data.table) {
        anyhow::ensure!(
            saved.standardizes() == read.standardizes(),
            "the checkpoint's model was trained on {} features; resume {} --no-standardize",
            if saved.standardizes() { "standardised" } else { "unstandardised" },
            if saved.standardizes() { "without" } else { "with" }
        );
    }
    Ok(())
}

/// The pixels' normalisation of this run: the resumed checkpoint's (`--normalize`, `asked`, must agree with it),
/// else the training pixels' statistics where `--normalize` asks, else none.
pub(super) fn normalization(asked: bool, resumed: Option<&Checkpoint>, data: &Dataset) -> Result<Option<Normalize>> {
    if let Some(ck) = resumed {
        anyhow::ensure!(
            !asked || ck.normalize.is_some(),
            "--normalize: the checkpoint was trained on pixels that were not normalised; resume without it"
        );
        return Ok(ck.normalize);
    }
    if !asked {
        return Ok(None);
    }
    let Some(pixels) = data.train.features.pixels() else {
        anyhow::bail!("--normalize is for images: a table's features are standardised already")
    };
    let normalize = Normalize::of(pixels);
    anyhow::ensure!(
        normalize.is_some(),
        "--normalize: every training pixel has the same value; there is nothing to scale"
    );
    Ok(normalize)
}
