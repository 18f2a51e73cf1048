//! The shape of the source tree, kept honest by a test: no import circles between the library's files, no file over
//! 400 lines (a file may be listed in `OVER_LIMIT` at its size for a while, which may then only shrink; none is), and
//! an op table that names real places.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Every `.rs` file under `dir`.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    out.sort();
    out
}

/// The module path of a file under `src/`: `src/gpu/backend.rs` → `gpu::backend`, `src/gpu/mod.rs` → `gpu`.
fn module_of(src: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(src).unwrap().with_extension("");
    let parts: Vec<String> = rel.iter().map(|p| p.to_string_lossy().into_owned()).collect();
    let parts: Vec<&str> = parts.iter().map(String::as_str).filter(|p| *p != "mod" && *p != "lib").collect();
    parts.join("::")
}

/// The library modules (files) a file's code names, by `crate::a::b` or `super::b` paths (the longest known
/// module each path starts with), leaving out itself, its parent and its own children (`mod` declarations).
fn dependencies(module: &str, text: &str, modules: &BTreeSet<String>) -> BTreeSet<String> {
    let parent = module.rsplit_once("::").map_or("", |(p, _)| p);
    // Unit tests (at the end of a file, after `#[cfg(test)]`) may use anything; comments name without using.
    let text = text.split("#[cfg(test)]\nmod tests").next().unwrap_or(text);
    let code: String = text.lines().filter(|l| !l.trim_start().starts_with("//")).collect::<Vec<_>>().join("\n");
    let mut found = BTreeSet::new();
    let words = code.split(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'));
    for word in words {
        let path = if let Some(rest) = word.strip_prefix("crate::") {
            rest.to_owned()
        } else if let Some(rest) = word.strip_prefix("super::") {
            if parent.is_empty() {
                rest.to_owned()
            } else {
                format!("{parent}::{rest}")
            }
        } else {
            continue;
        };
        let parts: Vec<&str> = path.split("::").collect();
        let known = (1..=parts.len()).rev().map(|n| parts[..n].join("::")).find(|m| modules.contains(m));
        if let Some(m) = known {
            let own_child = m.starts_with(&format!("{module}::"));
            if m != module && m != parent && !own_child && !module.starts_with(&format!("{m}::")) {
                found.insert(m);
            }
        }
    }
    found
}

/// A cycle in `graph`, if there is one, as the modules along it.
fn find_cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        state: &mut BTreeMap<String, u8>,
        stack: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        state.insert(node.to_owned(), 1);
        stack.push(node.to_owned());
        for next in graph.get(node).into_iter().flatten() {
            match state.get(next.as_str()).copied().unwrap_or(0) {
                1 => {
                    let at = stack.iter().position(|n| n == next).unwrap();
                    let mut cycle = stack[at..].to_vec();
                    cycle.push(next.clone());
                    return Some(cycle);
                }
                0 => {
                    if let Some(c) = visit(next, graph, state, stack) {
                        return Some(c);
                    }
                }
                _ => {}
            }
        }
        stack.pop();
        state.insert(node.to_owned(), 2);
        None
    }
    let mut state = BTreeMap::new();
    for node in graph.keys() {
        if state.get(node.as_str()).copied().unwrap_or(0) == 0 {
            if let Some(c) = visit(node, graph, &mut state, &mut Vec::new()) {
                return Some(c);
            }
        }
    }
    None
}

#[test]
fn the_library_should_have_no_import_circles() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let files: Vec<PathBuf> = rust_files(&src).into_iter().filter(|f| !f.ends_with("main.rs")).collect();
    let files: Vec<PathBuf> = files.into_iter().filter(|f| !f.starts_with(src.join("cli"))).collect();
    let modules: BTreeSet<String> = files.iter().map(|f| module_of(&src, f)).collect();
    let graph: BTreeMap<String, BTreeSet<String>> = files
        .iter()
        .map(|f| {
            let m = module_of(&src, f);
            let deps = dependencies(&m, &std::fs::read_to_string(f).unwrap(), &modules);
            (m, deps)
        })
        .collect();
    assert!(graph.len() > 20, "found only {} modules", graph.len());
    if let Some(cycle) = find_cycle(&graph) {
        panic!("an import circle: {}", cycle.join(" → "));
    }
}

/// Files allowed over 400 lines for now, each at most its size when listed: a file may shrink off the list, never
/// grow on it.
const OVER_LIMIT: [(&str, usize); 0] = [];

#[test]
fn no_source_file_should_grow_past_400_lines() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut too_long = Vec::new();
    for file in rust_files(&root.join("src")) {
        let lines = std::fs::read_to_string(&file).unwrap().lines().count();
        let name = file.strip_prefix(root).unwrap().display().to_string();
        let limit = OVER_LIMIT.iter().find(|(n, _)| *n == name).map_or(400, |&(_, l)| l);
        if lines > limit {
            too_long.push(format!("{name}: {lines} lines (limit {limit})"));
        }
    }
    assert!(too_long.is_empty(), "files over their limit:\n{}", too_long.join("\n"));
}

/// The op table in `src/plan/mod.rs` names real places: every op of `plan::Op` has a row; each WGSL entry point is a
/// `fn` of its file in `shaders/`; each CPU twin a `pub fn` of `src/cpu/ops/`; each check family a variant of
/// `CheckFamily` listed for `gpu-mnist check`; each test a `fn` of `tests/gpu_kernels.rs`.
#[test]
fn the_op_table_should_name_real_places() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let read = |p: &str| std::fs::read_to_string(root.join(p)).unwrap();
    let table: Vec<Vec<String>> = read("src/plan/mod.rs")
        .lines()
        .filter_map(|l| l.strip_prefix("//! | "))
        .filter(|l| !l.starts_with("op |") && !l.starts_with("---"))
        .map(|l| l.trim_end_matches(" |").split(" | ").map(str::to_owned).collect())
        .collect();
    assert!(table.len() >= 12, "{table:?}");
    let ticked = |cell: &str| cell.split('`').skip(1).step_by(2).map(str::to_owned).collect::<Vec<String>>();
    let cpu_ops: String =
        rust_files(&root.join("src/cpu/ops")).iter().map(|f| std::fs::read_to_string(f).unwrap()).collect();
    let families = read("src/gpu/check/family.rs");
    let tests = read("tests/gpu_kernels.rs");
    let ops = read("src/plan/op.rs");
    // Every variant of `Op` (its lines `    Name {` in op.rs) has a row.
    let variants = ops
        .lines()
        .filter_map(|l| l.strip_prefix("    "))
        .filter_map(|l| l.strip_suffix(" {").or(l.split_once(" { ").map(|(n, _)| n)));
    let variants: Vec<&str> =
        variants.filter(|v| v.chars().all(char::is_alphanumeric) && v.starts_with(char::is_uppercase)).collect();
    assert!(variants.len() >= 11 && variants.contains(&"GradUpdate"), "the ops of op.rs: {variants:?}");
    for v in variants {
        assert!(table.iter().any(|row| ticked(&row[0]).contains(&v.to_owned())), "no row for Op::{v}");
    }
    for row in &table {
        assert_eq!(row.len(), 5, "{row:?}");
        let wgsl = ticked(&row[1]);
        let (file, entries) = wgsl.split_first().unwrap();
        let text = read(&format!("shaders/{file}"));
        for e in entries {
            assert!(text.contains(&format!("fn {e}(")), "shaders/{file} has no fn {e}: {row:?}");
        }
        for twin in ticked(&row[2]) {
            assert!(cpu_ops.contains(&format!("pub fn {twin}(")), "src/cpu/ops has no fn {twin}: {row:?}");
        }
        for family in ticked(&row[3]) {
            assert!(families.contains(&format!("    {family},")), "CheckFamily::{family} is not listed: {row:?}");
        }
        for test in ticked(&row[4]) {
            assert!(tests.contains(&format!("fn {test}()")), "tests/gpu_kernels.rs has no {test}: {row:?}");
        }
    }
}

/// The library builds for a browser (wasm32-unknown-unknown, checked by CI's `cargo clippy --target wasm32-…`), and
/// what compiles there but panics at run time stays out of it: `std::time::Instant` (the library's clock is
/// `web_time::Instant`, std's own on native) and spawned threads. The command line (`src/cli/`, `src/main.rs`) is
/// native only.
#[test]
fn the_library_should_avoid_what_panics_in_a_browser() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut found = Vec::new();
    for file in rust_files(&src) {
        let rel = file.strip_prefix(&src).unwrap();
        if rel.starts_with("cli") || rel == Path::new("main.rs") {
            continue;
        }
        let text = std::fs::read_to_string(&file).unwrap();
        for (i, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            for banned in
                ["std::time::Instant", "time::{Duration, Instant}", "Instant};", "thread::spawn", "thread::scope"]
            {
                if code.contains(banned) && !code.contains("web_time") {
                    found.push(format!("{}:{}: {banned} (use web_time::Instant; no threads)", rel.display(), i + 1));
                }
            }
        }
    }
    assert!(found.is_empty(), "{}", found.join("\n"));
}
