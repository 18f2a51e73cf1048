//! MNIST as CSV, as Kaggle's "mnist-in-csv" ships it: `mnist_train.csv` and `mnist_test.csv` (optionally gzipped,
//! `.csv.gz`), a header `label,1x1,1x2,…,28x28`, then one row per image: its label, then its pixels (integers 0–255)
//! row by row. Copies without the header (a first row of numbers only) are read too. Each file becomes what the
//! IDX parser makes of an images file and a labels file, so the rest of loading is the same for both formats.

use std::path::{Path, PathBuf};

use super::error::CsvProblem;
use super::reader::CsvFile;
use crate::data::{DataError, IdxArray, IdxLimits};

/// The two files, train then test; each may also be gzipped (`NAME.gz`).
pub const CSV_FILES: [&str; 2] = ["mnist_train.csv", "mnist_test.csv"];

/// The paths of the two [`CSV_FILES`] in `dir` (each as `NAME` or `NAME.gz`), if both are there.
pub fn find_csv_pair(dir: &Path) -> Option<[PathBuf; 2]> {
    let find =
        |name: &str| [name.to_owned(), format!("{name}.gz")].into_iter().map(|n| dir.join(n)).find(|p| p.is_file());
    Some([find(CSV_FILES[0])?, find(CSV_FILES[1])?])
}

/// One split from `path`: its images `[count, rows, cols]` and labels `[count]`, as [`crate::data::read_idx_file`]
/// gives them. With `classes`, every label must be below it; pixels must be integers 0–255; the pixel bytes are
/// bounded by `limits.max_bytes`. The image shape comes from the header's last name (`28x28`), else a square, else
/// one row.
pub fn read_mnist_csv(
    path: &Path,
    classes: Option<usize>,
    limits: &IdxLimits,
) -> Result<(IdxArray, IdxArray), DataError> {
    let mut file = CsvFile::open(path)?;
    let Some(first) = file.next_row()? else { return Err(file.error(0, None, CsvProblem::Empty)) };
    let header = if is_sample(&file) { None } else { Some(file.set_header(first)?) };
    let features = file.fields().len().saturating_sub(1);
    if features == 0 {
        return Err(file.error(first, None, CsvProblem::NoFeatures));
    }
    let (mut pixels, mut labels) = (Vec::new(), Vec::new());
    let mut line = if header.is_some() { file.next_row()? } else { Some(first) };
    while let Some(l) = line {
        if (pixels.len() + features) as u64 > limits.max_bytes {
            return Err(file.error(l, None, CsvProblem::TooLarge { max: limits.max_bytes }));
        }
        labels.push(label(&file, l, classes)?);
        for c in 1..=features {
            let text = file.text(l, c)?;
            let pixel = text
                .parse::<u8>()
                .map_err(|_| file.error(l, Some(c), CsvProblem::NotAPixel { text: text.to_owned() }))?;
            pixels.push(pixel);
        }
        line = file.next_row()?;
    }
    if labels.is_empty() {
        return Err(file.error(0, None, CsvProblem::HeaderOnly));
    }
    let (rows, cols) = shape(header.as_ref().and_then(|h| h.last()).map(String::as_str), features);
    let count = labels.len();
    Ok((IdxArray { dims: vec![count, rows, cols], data: pixels }, IdxArray { dims: vec![count], data: labels }))
}

/// Whether the row just read is a sample (every field a number) rather than a header.
fn is_sample(file: &CsvFile) -> bool {
    file.fields().iter().all(|f| std::str::from_utf8(f).is_ok_and(|t| t.parse::<f64>().is_ok()))
}

/// The label in column 0 of the row at `line`: a class number, below `classes` where given.
fn label(file: &CsvFile, line: u64, classes: Option<usize>) -> Result<u8, DataError> {
    let text = file.text(line, 0)?;
    let max = classes.unwrap_or(256);
    match text.parse::<u8>() {
        Ok(l) if usize::from(l) < max => Ok(l),
        _ => Err(file.error(line, Some(0), CsvProblem::NotAClass { text: text.to_owned(), classes: max })),
    }
}

/// Rows and columns of an image of `features` pixels: `RxC` from the last column's name (Kaggle's `28x28`) where it
/// multiplies out, else a square, else one row.
fn shape(last_name: Option<&str>, features: usize) -> (usize, usize) {
    let named = last_name.and_then(|n| {
        let (r, c) = n.split_once(['x', 'X'])?;
        Some((r.trim().parse::<usize>().ok()?, c.trim().parse::<usize>().ok()?))
    });
    if let Some((r, c)) = named.filter(|&(r, c)| r.checked_mul(c) == Some(features)) {
        return (r, c);
    }
    let side = (features as f64).sqrt().round() as usize;
    if side * side == features {
        (side, side)
    } else {
        (1, features)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_come_from_the_header_then_a_square_then_one_row() {
        assert_eq!(shape(Some("28x28"), 784), (28, 28));
        assert_eq!(shape(Some("5X6"), 30), (5, 6));
        assert_eq!(shape(Some("28x28"), 30), (1, 30));
        assert_eq!(shape(Some("pixel783"), 784), (28, 28));
        assert_eq!(shape(None, 7), (1, 7));
    }
}
