//! The layering the code relies on, checked on the sources: the core never touches the host,
//! only `filter/wasm.rs` talks to proxy-wasm, and the filter's files import each other
//! without a cycle.

#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let Ok(entries) = fs::read_dir(dir) else {
        return files;
    };
    for entry in entries {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
    files
}

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// A `use proxy_wasm...` or a `proxy_wasm::` path outside comments.
fn mentions_proxy_wasm(path: &Path) -> bool {
    fs::read_to_string(path).unwrap().lines().any(|line| {
        let code = line.split("//").next().unwrap_or_default();
        code.contains("proxy_wasm::") || code.contains("use proxy_wasm")
    })
}

#[test]
fn the_core_and_the_configuration_never_import_proxy_wasm() {
    let mut checked = rust_files(&src().join("core"));
    checked.extend(rust_files(&src().join("config")));
    checked.push(src().join("config.rs"));
    let checked: Vec<_> = checked.into_iter().filter(|p| p.exists()).collect();
    assert!(checked.len() > 20, "the core's files were found");
    let offenders: Vec<_> = checked.iter().filter(|p| mentions_proxy_wasm(p)).collect();
    assert!(offenders.is_empty(), "proxy_wasm used in {offenders:?}");
}

#[test]
fn only_the_wasm_binding_talks_to_proxy_wasm() {
    let filter = src().join("filter");
    let offenders: Vec<_> = rust_files(&filter)
        .into_iter()
        .filter(|p| !p.ends_with("wasm.rs") && mentions_proxy_wasm(p))
        .collect();
    assert!(offenders.is_empty(), "proxy_wasm used in {offenders:?}");
}

/// The filter modules a filter source file imports (`crate::filter::x`, `super::x`, and
/// `crate::filter::{x, y}`).
fn filter_imports(path: &Path, modules: &BTreeSet<String>) -> BTreeSet<String> {
    let text = fs::read_to_string(path).unwrap();
    let mut found = BTreeSet::new();
    for prefix in ["crate::filter::", "super::"] {
        for (at, _) in text.match_indices(prefix) {
            let rest = &text[at + prefix.len()..];
            let names: Vec<&str> = match rest.strip_prefix('{') {
                Some(group) => group[..group.find('}').unwrap_or(0)].split(',').collect(),
                None => vec![rest],
            };
            for name in names {
                let name: String = name
                    .trim()
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                if modules.contains(&name) {
                    found.insert(name);
                }
            }
        }
    }
    found
}

#[test]
fn the_filter_files_import_each_other_without_a_cycle() {
    let filter = src().join("filter");
    let files: BTreeMap<String, PathBuf> = fs::read_dir(&filter)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "rs"))
        .map(|p| (p.file_stem().unwrap().to_string_lossy().into_owned(), p))
        .filter(|(name, _)| name != "mod")
        .collect();
    let modules: BTreeSet<String> = files.keys().cloned().collect();
    assert!(modules.contains("executor") && modules.contains("wasm"));
    let graph: BTreeMap<String, BTreeSet<String>> = files
        .iter()
        .map(|(name, path)| {
            let mut imports = filter_imports(path, &modules);
            imports.remove(name);
            (name.clone(), imports)
        })
        .collect();
    // Kahn's algorithm: repeatedly remove modules that import nothing left.
    let mut left = graph.clone();
    while let Some(leaf) = left
        .iter()
        .find(|(_, imports)| imports.iter().all(|i| !left.contains_key(i)))
        .map(|(name, _)| name.clone())
    {
        left.remove(&leaf);
    }
    assert!(left.is_empty(), "import cycle among {left:?}");
    assert!(
        graph["wasm"].contains("root"),
        "the check reads imports: {graph:?}"
    );
}
