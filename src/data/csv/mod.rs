//! Data sets from CSV files: MNIST as Kaggle ships it ([`mnist`]) and tables of numeric features with a label
//! column ([`tabular`]), both through one strict reader with bounded memory ([`reader`]) whose every error names
//! the file, the line and the column ([`CsvProblem`]).

pub mod error;
pub mod mnist;
pub mod reader;
pub mod tabular;

pub use error::CsvProblem;
pub use mnist::{find_csv_pair, read_mnist_csv, CSV_FILES};
pub use reader::{CsvFile, MAX_COLUMNS, MAX_ROW_BYTES};
pub use tabular::{load_table, Table, MAX_CLASSES};
