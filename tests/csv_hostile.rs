//! Hostile CSV files, one case per row of the README's table: each is refused with an error naming the file, the
//! line and the column (no panic, memory bounded), or accepted the way a CSV reader should (BOM, CRLF, quoting,
//! gzip). Tables go through `data::csv::load_table` (the `--train/--test/--label` path), MNIST files through
//! `data::load` of a folder holding `mnist_train.csv` and `mnist_test.csv`.

mod support;

use gpu_mnist::data::{self, csv, DataSource, Features, LoadOptions};

const GOOD: &str = "weight,height,gender\n18.71,4,a\n9.71,-1,b\n2.71,-6,a\n12.71,6,b\n";

/// Loads a table whose training file holds `train` (the test file: [`GOOD`]), label column `gender`.
fn table(train: &[u8]) -> Result<gpu_mnist::data::Dataset, String> {
    let dir = tempfile::tempdir().unwrap();
    let (t, g) = (dir.path().join("train.csv"), dir.path().join("test.csv"));
    std::fs::write(&t, train).unwrap();
    std::fs::write(&g, GOOD).unwrap();
    csv::load_table(&t, &g, "gender", true, &data::IdxLimits::default()).map_err(|e| e.to_string())
}

/// Loads MNIST-shaped CSV (`--data-dir`) whose training file holds `train`; the test file holds one good row.
fn mnist(train: &[u8]) -> Result<gpu_mnist::data::Dataset, String> {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("mnist_train.csv"), train).unwrap();
    std::fs::write(dir.path().join("mnist_test.csv"), mnist_rows(&[(7, 0)])).unwrap();
    data::load(&DataSource::Dir(dir.path().to_owned()), &LoadOptions::default()).map_err(|e| e.to_string())
}

/// Kaggle-style MNIST CSV: the header, then for each (label, pixel) a row of that label and 784 copies of the pixel.
fn mnist_rows(rows: &[(u8, u8)]) -> String {
    let mut s = String::from("label");
    for r in 1..=28 {
        for c in 1..=28 {
            s += &format!(",{r}x{c}");
        }
    }
    s.push('\n');
    for &(label, pixel) in rows {
        s += &label.to_string();
        s += &format!(",{pixel}").repeat(784);
        s.push('\n');
    }
    s
}

/// Asserts that `result` failed with every one of `parts` in its message and the file named in it.
fn refused(result: Result<gpu_mnist::data::Dataset, String>, file: &str, parts: &[&str]) {
    let err = match result {
        Ok(_) => panic!("accepted, but should fail with {parts:?}"),
        Err(e) => e,
    };
    assert!(err.contains(file), "the error does not name {file}: {err}");
    for p in parts {
        assert!(err.contains(p), "the error lacks {p:?}: {err}");
    }
    println!("refused: {err}");
}

/// The values of the first training row of a loaded table, unstandardised back with its table.
fn first_row(data: &gpu_mnist::data::Dataset) -> Vec<f32> {
    let table = data.table.as_ref().unwrap();
    let Features::Values(v) = &data.train.features else { panic!("a table holds values") };
    v[..table.features.len()].iter().zip(&table.mean).zip(&table.scale).map(|((x, m), s)| x * s + m).collect()
}

#[test]
fn empty_file_should_be_refused() {
    refused(table(b""), "train.csv", &["the file is empty"]);
    refused(table(b"\n\n\r\n"), "train.csv", &["the file is empty"]);
    refused(mnist(b""), "mnist_train.csv", &["the file is empty"]);
}

#[test]
fn header_alone_should_be_refused() {
    refused(table(b"weight,height,gender\n"), "train.csv", &["header but no rows"]);
    refused(mnist(mnist_rows(&[]).as_bytes()), "mnist_train.csv", &["header but no rows"]);
}

#[test]
fn ragged_row_should_name_its_line() {
    refused(table(b"weight,height,gender\n1,2,a\n3,b\n"), "train.csv", &["line 3", "2 fields, but the header has 3"]);
}

#[test]
fn non_number_should_name_line_and_column() {
    refused(
        table(b"weight,height,gender\n1,2,a\n3,tall,b\n"),
        "train.csv",
        &["line 3, column 2 (height)", "\"tall\" is not a number"],
    );
    refused(
        table(b"weight,height,gender\n1,,a\n3,4,b\n"),
        "train.csv",
        &["line 2, column 2 (height)", "\"\" is not a number"],
    );
}

#[test]
fn nan_and_infinity_should_be_refused() {
    for bad in ["NaN", "nan", "inf", "-infinity"] {
        let text = format!("weight,height,gender\n1,2,a\n3,{bad},b\n");
        refused(table(text.as_bytes()), "train.csv", &["line 3, column 2 (height)", "not a finite number"]);
    }
}

#[test]
fn byte_order_mark_should_be_skipped() {
    let with_bom = [b"\xEF\xBB\xBF".as_slice(), GOOD.as_bytes()].concat();
    let data = table(&with_bom).unwrap();
    assert_eq!(data.table.as_ref().unwrap().features, ["weight", "height"], "the BOM is not part of the first name");
    assert!(mnist(&[b"\xEF\xBB\xBF".as_slice(), mnist_rows(&[(3, 9)]).as_bytes()].concat()).is_ok());
}

#[test]
fn crlf_line_ends_should_be_accepted() {
    let crlf = GOOD.replace('\n', "\r\n");
    let (a, b) = (table(crlf.as_bytes()).unwrap(), table(GOOD.as_bytes()).unwrap());
    assert_eq!(a.train, b.train);
    assert_eq!(a.table, b.table);
    assert!(mnist(mnist_rows(&[(3, 9)]).replace('\n', "\r\n").as_bytes()).is_ok());
}

#[test]
fn quoted_fields_should_be_unquoted() {
    let quoted = "\"weight\",\"height\",\"gender\"\n\"18.71\",4,\"a\"\n9.71,\" -1 \",b\n2.71,-6,\"a\"\n12.71,6,b\n";
    let (a, b) = (table(quoted.as_bytes()).unwrap(), table(GOOD.as_bytes()).unwrap());
    assert_eq!(a.train, b.train);
    // A label holding the separator, quoted.
    let comma = "weight,height,gender\n1,2,\"x, y\"\n3,4,z\n";
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.csv");
    std::fs::write(&path, comma).unwrap();
    let data = csv::load_table(&path, &path, "gender", true, &data::IdxLimits::default()).unwrap();
    assert_eq!(data.table.unwrap().classes, ["x, y", "z"]);
}

#[test]
fn gzip_should_be_read_by_its_magic_bytes() {
    let data = table(&support::gzip(GOOD.as_bytes())).unwrap();
    assert_eq!(first_row(&data).len(), 2);
    let mut truncated = support::gzip(GOOD.as_bytes());
    truncated.truncate(truncated.len() - 12);
    refused(table(&truncated), "train.csv", &["cannot read"]);
}

#[test]
fn test_label_outside_the_classes_should_name_it() {
    let dir = tempfile::tempdir().unwrap();
    let (t, g) = (dir.path().join("train.csv"), dir.path().join("test.csv"));
    std::fs::write(&t, GOOD).unwrap();
    std::fs::write(&g, "weight,height,gender\n1,2,a\n3,4,c\n").unwrap();
    let err = csv::load_table(&t, &g, "gender", true, &data::IdxLimits::default()).unwrap_err().to_string();
    for part in ["test.csv", "line 3, column 3 (gender)", "\"c\" is not one of the 2 classes", "a, b"] {
        assert!(err.contains(part), "{part:?} missing: {err}");
    }
}

#[test]
fn mnist_label_or_pixel_out_of_range_should_name_line_and_column() {
    refused(
        mnist(mnist_rows(&[(3, 9), (10, 0)]).as_bytes()),
        "mnist_train.csv",
        &["line 3, column 1 (label)", "\"10\" is not a class"],
    );
    // The header, then a row whose pixel 1x2 is `bad`.
    let row = |bad: &str| format!("{}3,0,{bad}{}\n", mnist_rows(&[]), ",0".repeat(782));
    refused(
        mnist(row("256").as_bytes()),
        "mnist_train.csv",
        &["line 2, column 3 (1x2)", "\"256\" is not a pixel value"],
    );
    refused(mnist(row("0.5").as_bytes()), "mnist_train.csv", &["line 2, column 3 (1x2)", "\"0.5\" is not a pixel"]);
    refused(mnist(row("-1").as_bytes()), "mnist_train.csv", &["\"-1\" is not a pixel value"]);
    assert!(mnist(row("255").as_bytes()).is_ok());
}

#[test]
fn huge_column_count_should_be_refused() {
    let wide = format!("{}\n", vec!["1"; csv::MAX_COLUMNS + 5].join(","));
    refused(table(wide.as_bytes()), "train.csv", &["line 1", "65541 columns, more than the 65536"]);
}

#[test]
fn row_without_end_should_be_refused_within_bounded_memory() {
    // 20 MB without a line end: refused once the reader has read past its 16 MiB bound, not held whole.
    let mut endless = b"weight,height,gender\n1,".to_vec();
    endless.extend(std::iter::repeat_n(b'7', 20 << 20));
    refused(table(&endless), "train.csv", &["line 2", "a row longer than 16777216 bytes"]);
}

#[test]
fn non_utf8_field_should_be_refused() {
    refused(table(b"weight,height,gender\n1,2,\xff\xfe\n"), "train.csv", &["line 2, column 3 (gender)", "not UTF-8"]);
}

#[test]
fn missing_or_repeated_columns_should_be_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.csv");
    std::fs::write(&path, GOOD).unwrap();
    let err = csv::load_table(&path, &path, "sex", true, &data::IdxLimits::default()).unwrap_err().to_string();
    assert!(err.contains("no column is named \"sex\"; the header has weight, height, gender"), "{err}");
    refused(
        table(b"weight,weight,gender\n1,2,a\n3,4,b\n"),
        "train.csv",
        &["column 2", "two columns are named \"weight\""],
    );
    refused(table(b"gender\na\nb\n"), "train.csv", &["the only column is the label"]);
}

#[test]
fn a_single_class_should_be_refused() {
    refused(table(b"weight,height,gender\n1,2,a\n3,4,a\n"), "train.csv", &["hold 1 class(es): a", "at least 2"]);
}

#[test]
fn integer_labels_should_sort_by_value_and_features_be_standardised() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.csv");
    std::fs::write(&path, "x,y,gender\n1,10,10\n2,10,9\n3,10,10\n6,10,2\n").unwrap();
    let data = csv::load_table(&path, &path, "gender", true, &data::IdxLimits::default()).unwrap();
    let t = data.table.as_ref().unwrap();
    assert_eq!(t.classes, ["2", "9", "10"], "by value, not as text");
    assert_eq!(data.train.labels, [2, 1, 2, 0]);
    // x: mean 3, population deviation √3.5; y constant: scale 1 (no division by 0).
    assert_eq!(t.mean, [3.0, 10.0]);
    assert!((t.scale[0] - 3.5f32.sqrt()).abs() < 1e-6 && t.scale[1] == 1.0, "{:?}", t.scale);
    assert_eq!(first_row(&data), [1.0, 10.0]);
    let Features::Values(v) = &data.train.features else { unreachable!() };
    let column: Vec<f32> = v.iter().step_by(2).copied().collect();
    assert!(column.iter().sum::<f32>().abs() < 1e-6, "standardised to mean 0: {column:?}");
}
