//! The README's tables agree with the code they copy: its optimizer table names every rule of `src/optim.rs`'s table
//! with that table's PyTorch class, hyper-parameter defaults and state tensors.

use gpu_mnist::optim::{Range, Rule};

fn readme() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).expect("README.md")
}

#[test]
fn readme_optimizer_table_should_match_the_code() {
    let readme = readme();
    for &rule in Rule::ALL {
        let row = rule.row();
        let line = readme
            .lines()
            .find(|l| l.starts_with(&format!("| `{}` |", row.name)))
            .unwrap_or_else(|| panic!("README.md has no optimizer row for `{}`", row.name));
        assert!(line.contains(&format!("`{}`", row.pytorch)), "{}: PyTorch class {} in {line}", row.name, row.pytorch);
        for &(h, default) in row.hypers {
            let value = match h {
                _ if h.range() == Range::Switch && default == 0.0 => "off".to_string(),
                _ if h.range() == Range::Switch => "on".to_string(),
                _ if default != 0.0 && default < 1e-4 => format!("{default:e}"),
                _ => format!("{default}"),
            };
            let shown = format!("`--{}` {value}", h.name());
            assert!(line.contains(&shown), "{}: `{shown}` missing from {line}", row.name);
        }
        for state in row.states {
            assert!(line.contains(&format!("`{state}`")), "{}: state `{state}` missing from {line}", row.name);
        }
    }
}
