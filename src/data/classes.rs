//! The names of the classes of the known data sets, and where Debian installs Fashion-MNIST.

use super::Dataset;

/// Where Debian's `dataset-fashion-mnist` package installs Fashion-MNIST (the four gzipped IDX files).
pub const FASHION_MNIST_DIR: &str = "/usr/share/datasets/fashion-mnist";

/// The name [`super::load`] gives Fashion-MNIST when it is loaded from [`FASHION_MNIST_DIR`], and the name the
/// command line gives it whatever folder it comes from.
pub const FASHION_MNIST_NAME: &str = "fashion-mnist";

/// Fashion-MNIST's classes, label 0 first (Zalando's names).
pub const FASHION_CLASSES: [&str; 10] =
    ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"];

/// The class names of the data set called `name`, label 0 first, or `None` where the label number is the name
/// (MNIST's digits, unknown data sets). Fashion-MNIST is recognised as `fashion-mnist`, `fashion_mnist` or
/// `fashion`, in any case.
pub fn class_names(name: &str) -> Option<&'static [&'static str]> {
    let name = name.to_ascii_lowercase();
    match name.as_str() {
        "fashion-mnist" | "fashion_mnist" | "fashion" => Some(&FASHION_CLASSES),
        _ => None,
    }
}

/// `7 (Sneaker)` where the class has a name, `7` otherwise.
pub fn class_label(names: Option<&[&str]>, class: usize) -> String {
    match names.and_then(|n| n.get(class)) {
        Some(name) => format!("{class} ({name})"),
        None => class.to_string(),
    }
}

impl Dataset {
    /// The names of this data set's classes, label 0 first, or `None` where the label number is the name: a
    /// table's labels as written, else those of a known data set (see [`class_names`]).
    pub fn class_names(&self) -> Option<Vec<&str>> {
        match &self.table {
            Some(table) => Some(table.classes.iter().map(String::as_str).collect()),
            None => class_names(&self.name).map(<[&str]>::to_vec),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_fashion_mnist_has_class_names() {
        let mut data = Dataset::empty(784, 10);
        for name in ["fashion-mnist", "Fashion_MNIST", "FASHION"] {
            data.name = name.into();
            assert_eq!(data.class_names().as_deref(), Some(&FASHION_CLASSES[..]), "{name}");
        }
        for name in ["mnist", "my-digits", "fashion-mnist-2"] {
            data.name = name.into();
            assert_eq!(data.class_names(), None, "{name}");
        }
        assert_eq!(class_label(data.class_names().as_deref(), 7), "7");
        assert_eq!(class_label(Some(&FASHION_CLASSES), 7), "7 (Sneaker)");
        assert_eq!(class_label(Some(&FASHION_CLASSES), 10), "10", "a label past the names has its number only");
    }
}
