//! Pictures in and out: a labelled grid of sample digits, a confusion-matrix heat map, and [`to_mnist`] and
//! [`to_fashion`], which turn any picture of a digit or of a piece of clothing (PNG, JPEG, PGM, any size, either
//! polarity) into the 28×28 input a model was trained on, made the way its data set was made ([`Preprocess`]).
//!
//! Labels are drawn with a tiny built-in 3×5 bitmap font (digits only), so nothing here needs a system font.

mod draw;
mod picture_files;
mod preprocess;

pub use draw::{confusion_image, digit_grid, draw_text, text_height, text_width};
pub use picture_files::{decode_image, load_image, save_image, MAX_PICTURE_PIXELS};
pub use preprocess::{
    centre_of_mass, to_fashion, to_mnist, Preprocess, FASHION_FILTER, FASHION_FLOOR, MNIST_BOX, MNIST_CENTRE,
    MNIST_SIDE, NOISE_FLOOR,
};
