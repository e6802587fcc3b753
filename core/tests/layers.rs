//! The core's layers are one-way: a module uses only the modules above it in
//! the list of `core/src/lib.rs`. This test reads every source file and fails
//! on any `crate::<module>` path that names a module at or below the file's own
//! (its own module excepted), so a new dependency against the order is a
//! failing build, not a comment gone stale.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

/// The layers, top (used by all) to bottom, as `core/src/lib.rs` lists them.
const LAYERS: &[&[&str]] = &[
    &["types", "encoding", "numeric"],
    &["keys"],
    &["clock"],
    &["storage"],
    &["raft"],
    &["replica"],
    &["range"],
    &["store"],
    &["txn"],
    &["kv"],
    &["placement"],
    &["sql"],
];

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|layer| layer.contains(&module))
}

fn source_files(folder: &Path, found: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(folder).expect("the source folder is readable") {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            source_files(&path, found);
        } else if path.extension().is_some_and(|extension| extension == "rs") {
            found.push(path);
        }
    }
}

/// The top-level modules a source text names through `crate::`, either as
/// `crate::module` or inside `crate::{a, b::c}`.
fn named_modules(text: &str) -> BTreeSet<String> {
    let mut named = BTreeSet::new();
    for (at, _) in text.match_indices("crate::") {
        let rest = &text[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let group = &group[..group.find('}').unwrap_or(group.len())];
            for item in group.split(',') {
                named.insert(leading_identifier(item.trim()));
            }
        } else {
            named.insert(leading_identifier(rest));
        }
    }
    named.retain(|module| layer_of(module).is_some());
    named
}

fn leading_identifier(text: &str) -> String {
    text.chars().take_while(|character| character.is_ascii_alphanumeric() || *character == '_').collect()
}

#[test]
fn every_module_uses_only_the_layers_above_it() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    source_files(&root, &mut files);
    files.sort();
    let mut violations = Vec::new();
    for file in &files {
        let relative = file.strip_prefix(&root).expect("under src");
        let first = relative.components().next().expect("a path").as_os_str().to_string_lossy();
        let module = first.trim_end_matches(".rs");
        if module == "lib" {
            continue;
        }
        let own = layer_of(module).unwrap_or_else(|| panic!("module `{module}` is missing from LAYERS and lib.rs"));
        let text = fs::read_to_string(file).expect("a readable source file");
        for named in named_modules(&text) {
            let layer = layer_of(&named).expect("retained");
            if named != module && layer >= own {
                violations.push(format!("{} uses crate::{named}", relative.display()));
            }
        }
    }
    assert!(violations.is_empty(), "layering violations:\n{}", violations.join("\n"));
}

#[test]
fn the_layer_list_matches_lib_rs() {
    let lib = fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("src/lib.rs")).expect("lib.rs");
    let declared: BTreeSet<String> = lib
        .lines()
        .filter_map(|line| line.strip_prefix("pub mod "))
        .map(|rest| rest.trim_end_matches(';').to_string())
        .collect();
    let listed: BTreeSet<String> =
        LAYERS.iter().flat_map(|layer| layer.iter().map(|module| module.to_string())).collect();
    assert_eq!(declared, listed);
}

#[test]
fn the_scanner_sees_grouped_and_plain_paths() {
    let named = named_modules("use crate::{raft::Message, storage};\nlet x = crate::store::Store::new();");
    assert_eq!(named, BTreeSet::from(["raft".to_string(), "storage".to_string(), "store".to_string()]));
}
