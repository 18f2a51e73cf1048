//! A table as a data set (`--train FILE --test FILE --label COLUMN`): a header row, one column of labels (integers
//! or strings), every other column a numeric feature. The classes are the training file's distinct labels, sorted
//! as scikit-learn's `LabelEncoder` sorts them (by value where all are numbers, else as text); the features are
//! standardised with the training rows' mean and deviation (scikit-learn's `StandardScaler`), which the [`Table`]
//! keeps so that the test file, `eval` and `predict` read rows the same way.

use std::collections::HashMap;
use std::path::Path;

use super::error::CsvProblem;
use super::reader::CsvFile;
use crate::data::{DataError, Dataset, Features, IdxLimits, LabeledImages};

/// The most classes a table may have: labels are stored as bytes.
pub const MAX_CLASSES: usize = 256;

/// How a model trained on a table reads rows: the columns, the classes and the standardisation. Saved in the
/// checkpoint.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Table {
    /// The label column's name.
    pub label: String,
    /// The feature columns' names, in the order of the model's inputs.
    pub features: Vec<String>,
    /// The class names (the training file's labels as written), class 0 first.
    pub classes: Vec<String>,
    /// Each feature's mean over the training rows.
    pub mean: Vec<f32>,
    /// Each feature's standard deviation over the training rows (population, as `StandardScaler`), 1 where it is 0.
    pub scale: Vec<f32>,
}

impl Table {
    /// Checks a table read back from a checkpoint against its model's `inputs` and `classes`: a name per feature
    /// and class, finite means and positive finite scales.
    pub fn check(&self, inputs: usize, classes: usize) -> Result<(), String> {
        if self.features.len() != inputs || self.mean.len() != inputs || self.scale.len() != inputs {
            return Err(format!(
                "{} feature names, {} means and {} scales for a model of {inputs} inputs",
                self.features.len(),
                self.mean.len(),
                self.scale.len()
            ));
        }
        if self.classes.len() != classes {
            return Err(format!("{} class names for a model of {classes} classes", self.classes.len()));
        }
        if let Some(bad) = self.mean.iter().chain(&self.scale).find(|v| !v.is_finite()) {
            return Err(format!("a mean or scale of {bad}; they must be finite"));
        }
        if let Some(bad) = self.scale.iter().find(|&&s| s <= 0.0) {
            return Err(format!("a scale of {bad}; scales must be above 0"));
        }
        Ok(())
    }

    /// Whether the table changes the values it reads (false for one read with `--no-standardize`: means 0, scales 1).
    pub fn standardizes(&self) -> bool {
        self.mean.iter().any(|&m| m != 0.0) || self.scale.iter().any(|&s| s != 1.0)
    }

    /// Standardises one row of raw feature values in place: (x − mean) / scale.
    pub fn standardize(&self, row: &mut [f32]) {
        for ((x, m), s) in row.iter_mut().zip(&self.mean).zip(&self.scale) {
            *x = (*x - m) / s;
        }
    }

    /// Reads the rows of `path` as this table's: the feature columns found by name (in any order, other columns
    /// ignored), each label one of the classes, the values standardised.
    pub fn read_split(&self, path: &Path, limits: &IdxLimits) -> Result<LabeledImages, DataError> {
        let mut file = CsvFile::open(path)?;
        let header = header(&mut file)?;
        let label = column(&file, &header, &self.label, |name, header| CsvProblem::NoLabelColumn { name, header })?;
        let columns = self
            .features
            .iter()
            .map(|f| column(&file, &header, f, |name, header| CsvProblem::MissingFeature { name, header }))
            .collect::<Result<Vec<_>, _>>()?;
        let mut values = Vec::new();
        let mut labels = Vec::new();
        while let Some(line) = file.next_row()? {
            let text = file.text(line, label)?;
            let Some(class) = self.classes.iter().position(|c| c == text) else {
                let problem = CsvProblem::UnknownLabel { label: text.to_owned(), classes: self.classes.clone() };
                return Err(file.error(line, Some(label), problem));
            };
            labels.push(class as u8);
            let start = values.len();
            read_values(&file, line, &columns, &mut values, limits)?;
            self.standardize(&mut values[start..]);
        }
        if labels.is_empty() {
            return Err(file.error(0, None, CsvProblem::HeaderOnly));
        }
        Ok(LabeledImages { features: Features::Values(values), labels, rows: 1, cols: self.features.len() })
    }
}

/// The data set of a training and a test file with their labels in column `label`, named after the training file;
/// its features standardised, or with `standardize` false kept as they are (a [`Table`] of means 0 and scales 1).
pub fn load_table(
    train: &Path,
    test: &Path,
    label: &str,
    standardize: bool,
    limits: &IdxLimits,
) -> Result<Dataset, DataError> {
    let (table, train_split) = fit(train, label, standardize, limits)?;
    let test_split = table.read_split(test, limits)?;
    let name = train.file_stem().map_or_else(|| "table".to_owned(), |s| s.to_string_lossy().into_owned());
    let mut data = Dataset::new(name, train_split, test_split, table.classes.len());
    data.table = Some(table);
    Ok(data)
}

/// The [`Table`] of a training file (its columns, its classes, and its features' means and deviations) and, from the
/// same single pass over the file, its rows read as [`Table::read_split`] reads rows: labelled by class, standardised.
fn fit(path: &Path, label: &str, standardize: bool, limits: &IdxLimits) -> Result<(Table, LabeledImages), DataError> {
    let mut file = CsvFile::open(path)?;
    let header = header(&mut file)?;
    let label_at = column(&file, &header, label, |name, header| CsvProblem::NoLabelColumn { name, header })?;
    let columns: Vec<usize> = (0..header.len()).filter(|&c| c != label_at).collect();
    if columns.is_empty() {
        return Err(file.error(0, None, CsvProblem::NoFeatures));
    }
    // The raw values, and each row's label as the index of its first appearance.
    let (mut values, mut first_seen) = (Vec::new(), Vec::new());
    let mut names: Vec<String> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    while let Some(line) = file.next_row()? {
        let text = file.text(line, label_at)?;
        let id = match index.get(text) {
            Some(&id) => id,
            None if names.len() == MAX_CLASSES => {
                return Err(file.error(line, Some(label_at), CsvProblem::TooManyClasses { max: MAX_CLASSES }));
            }
            None => {
                index.insert(text.to_owned(), names.len());
                names.push(text.to_owned());
                names.len() - 1
            }
        };
        first_seen.push(id);
        read_values(&file, line, &columns, &mut values, limits)?;
    }
    if first_seen.is_empty() {
        return Err(file.error(0, None, CsvProblem::HeaderOnly));
    }
    if names.len() < 2 {
        return Err(file.error(0, Some(label_at), CsvProblem::TooFewClasses { found: names.len(), names }));
    }
    let mut classes = names.clone();
    sort_classes(&mut classes);
    let class_of: Vec<u8> = names.iter().map(|n| classes.iter().position(|c| c == n).unwrap_or(0) as u8).collect();
    let (mean, scale) = match standardize {
        true => moments(&values, columns.len()),
        false => (vec![0.0; columns.len()], vec![1.0; columns.len()]),
    };
    let table = Table {
        label: header[label_at].clone(),
        features: columns.iter().map(|&c| header[c].clone()).collect(),
        classes,
        mean,
        scale,
    };
    values.chunks_exact_mut(columns.len()).for_each(|row| table.standardize(row));
    let labels = first_seen.iter().map(|&id| class_of[id]).collect();
    let split = LabeledImages { features: Features::Values(values), labels, rows: 1, cols: columns.len() };
    Ok((table, split))
}

/// Each of the `width` columns' mean and (population) deviation over the rows of `values`, summed in f64; a deviation
/// of 0 is taken as 1, so a constant column is left unscaled.
fn moments(values: &[f32], width: usize) -> (Vec<f32>, Vec<f32>) {
    let (mut sum, mut sum_sq) = (vec![0f64; width], vec![0f64; width]);
    for row in values.chunks_exact(width) {
        for ((s, q), &x) in sum.iter_mut().zip(&mut sum_sq).zip(row) {
            *s += f64::from(x);
            *q += f64::from(x) * f64::from(x);
        }
    }
    let n = (values.len() / width) as f64;
    let mean: Vec<f64> = sum.iter().map(|s| s / n).collect();
    let scale = sum_sq
        .iter()
        .zip(&mean)
        .map(|(q, m)| {
            let sd = (q / n - m * m).max(0.0).sqrt() as f32;
            if sd > 0.0 && sd.is_finite() {
                sd
            } else {
                1.0
            }
        })
        .collect();
    (mean.iter().map(|&m| m as f32).collect(), scale)
}

/// Sorts class names as `LabelEncoder` does: by value where every one is a number, else as text.
fn sort_classes(names: &mut [String]) {
    let numbers: Option<Vec<f64>> = names.iter().map(|n| n.parse::<f64>().ok()).collect();
    match numbers {
        // Every name parsed above, so the 0.0 is never used.
        Some(_) => names.sort_by(|a, b| a.parse::<f64>().unwrap_or(0.0).total_cmp(&b.parse::<f64>().unwrap_or(0.0))),
        None => names.sort(),
    }
}

/// Reads the header row (the file must have one).
fn header(file: &mut CsvFile) -> Result<Vec<String>, DataError> {
    let Some(line) = file.next_row()? else { return Err(file.error(0, None, CsvProblem::Empty)) };
    file.set_header(line)
}

/// The index of the column called `name`, or the error `missing` makes.
fn column(
    file: &CsvFile,
    header: &[String],
    name: &str,
    missing: impl FnOnce(String, Vec<String>) -> CsvProblem,
) -> Result<usize, DataError> {
    header.iter().position(|h| h == name).ok_or_else(|| file.error(1, None, missing(name.to_owned(), header.to_vec())))
}

/// Appends the numbers in `columns` of the row at `line` to `out`, within the size limit.
fn read_values(
    file: &CsvFile,
    line: u64,
    columns: &[usize],
    out: &mut Vec<f32>,
    limits: &IdxLimits,
) -> Result<(), DataError> {
    if ((out.len() + columns.len()) * 4) as u64 > limits.max_bytes {
        return Err(file.error(line, None, CsvProblem::TooLarge { max: limits.max_bytes }));
    }
    for &c in columns {
        out.push(file.number(line, c)?);
    }
    Ok(())
}
