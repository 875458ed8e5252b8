//! The crate's layers import only downward, and no file imports itself through others.
//!
//! Read from the source as text: every `crate::a::b` and `super::b` path in `src/`
//! names a module, the module a file, and the file a layer. A layer may use its own
//! modules and those of lower layers; `config`, `metrics` and `limits` are leaves that
//! any layer may use and that use none. A cycle between files (a uses b uses a) is
//! refused inside a layer too.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Bottom to top. A module not listed here fails the test: place it.
const LAYERS: &[&[&str]] = &[
    &["config", "metrics", "limits"],
    &["protocol"],
    &["sync"],
    &["game"],
    &["tokens"],
    &["net"],
    &["actors"],
    &["cluster"],
    &["http"],
    &["server", "run", "lib", "main"],
];

const LEAVES: &[&str] = &["config", "metrics", "limits"];

fn layer_of(top: &str) -> Option<usize> {
    LAYERS.iter().position(|l| l.contains(&top))
}

/// `src/actors/room.rs` → ["actors", "room"]; `src/actors/mod.rs` → ["actors"].
fn module_path(src: &Path, file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(src).expect("under src");
    let mut parts: Vec<String> = rel.iter().map(|p| p.to_string_lossy().to_string()).collect();
    let last = parts.pop().expect("a file name");
    let stem = last.trim_end_matches(".rs");
    if stem != "mod" {
        parts.push(stem.to_string());
    }
    parts
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("readable src") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The code of a file without comments and string literals, so paths in docs and
/// messages do not count.
fn code_only(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let b = text.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'/' && b.get(i + 1) == Some(&b'/') {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
        } else if b[i] == b'/' && b.get(i + 1) == Some(&b'*') {
            i += 2;
            while i + 1 < b.len() && !(b[i] == b'*' && b[i + 1] == b'/') {
                i += 1;
            }
            i += 2;
        } else if b[i] == b'"' {
            i += 1;
            while i < b.len() && b[i] != b'"' {
                i += if b[i] == b'\\' { 2 } else { 1 };
            }
            i += 1;
            out.push_str("\"\"");
        } else {
            out.push(b[i] as char);
            i += 1;
        }
    }
    out
}

/// Every module path a file's code names: `crate::a::b::C` gives `[a, b, C]`, and a
/// `use crate::a::{b::X, c}` group gives `[a, b, X]` and `[a, c]`; `super::` paths are
/// resolved against the file's own module.
fn referenced_paths(code: &str, own: &[String]) -> Vec<Vec<String>> {
    let mut found = Vec::new();
    let chars: Vec<char> = code.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let rest: String = chars[i..chars.len().min(i + 7)].iter().collect();
        let boundary = i == 0 || !(chars[i - 1].is_alphanumeric() || chars[i - 1] == '_' || chars[i - 1] == ':');
        let base: Option<(Vec<String>, usize)> = if boundary && rest.starts_with("crate::") {
            Some((Vec::new(), 7))
        } else if boundary && rest.starts_with("super::") {
            // super of a file module is its parent; a mod.rs's module is the folder.
            let mut parent = own.to_vec();
            parent.pop();
            let mut j = i + 7;
            while chars[j..].iter().collect::<String>().starts_with("super::") {
                parent.pop();
                j += 7;
            }
            Some((parent, j - i))
        } else {
            None
        };
        let Some((prefix, skip)) = base else {
            i += 1;
            continue;
        };
        let (paths, used) = parse_tree(&chars[i + skip..]);
        for p in paths {
            let mut full = prefix.clone();
            full.extend(p);
            found.push(full);
        }
        i += skip + used.max(1);
    }
    found
}

/// Parses `a::b::{c, d::e}`-style trees; returns the paths and how many chars it read.
fn parse_tree(chars: &[char]) -> (Vec<Vec<String>>, usize) {
    let mut i = 0;
    let mut path = Vec::new();
    loop {
        if chars.get(i) == Some(&'{') {
            let mut out = Vec::new();
            i += 1;
            loop {
                while chars.get(i).is_some_and(|c| c.is_whitespace() || *c == ',') {
                    i += 1;
                }
                if chars.get(i) == Some(&'}') || i >= chars.len() {
                    i += 1;
                    break;
                }
                let (inner, used) = parse_tree(&chars[i..]);
                for p in inner {
                    let mut full = path.clone();
                    full.extend(p);
                    out.push(full);
                }
                i += used.max(1);
            }
            return (out, i);
        }
        let start = i;
        while chars.get(i).is_some_and(|c| c.is_alphanumeric() || *c == '_') {
            i += 1;
        }
        if i == start {
            return (vec![path], i);
        }
        path.push(chars[start..i].iter().collect());
        if chars.get(i) == Some(&':') && chars.get(i + 1) == Some(&':') {
            i += 2;
        } else {
            return (vec![path], i);
        }
    }
}

#[test]
fn layers_import_only_downward_and_files_form_no_cycle() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let modules: BTreeMap<Vec<String>, PathBuf> = files.iter().map(|f| (module_path(&src, f), f.clone())).collect();
    // The file a module path lands in: the longest prefix that is a module of ours.
    let file_of = |path: &[String]| -> Option<Vec<String>> {
        (1..=path.len()).rev().map(|n| path[..n].to_vec()).find(|p| modules.contains_key(p))
    };
    let mut faults = Vec::new();
    let mut edges: BTreeMap<Vec<String>, BTreeSet<Vec<String>>> = BTreeMap::new();
    for (own, file) in &modules {
        let top = own.first().map_or("lib", String::as_str);
        let Some(own_layer) = layer_of(top) else {
            faults.push(format!("{}: module `{top}` is in no layer (add it to LAYERS)", file.display()));
            continue;
        };
        let text = std::fs::read_to_string(file).expect("readable file");
        // Unit tests may reach anywhere.
        let text = text.split("#[cfg(test)]").next().unwrap_or_default();
        for path in referenced_paths(&code_only(text), own) {
            let Some(target) = file_of(&path) else { continue };
            if &target == own {
                continue;
            }
            let other = target.first().map_or("lib", String::as_str);
            let Some(other_layer) = layer_of(other) else { continue };
            let leaf_used_by_anyone = LEAVES.contains(&other);
            if LEAVES.contains(&top) && !LEAVES.contains(&other) {
                faults.push(format!("{}: the leaf `{top}` uses `{}`", file.display(), path.join("::")));
            } else if other_layer > own_layer && !leaf_used_by_anyone {
                faults.push(format!("{}: `{top}` uses `{}` from a layer above", file.display(), path.join("::")));
            }
            edges.entry(own.clone()).or_default().insert(target);
        }
    }
    // Cycles between files: a depth-first search for a back edge.
    fn visit(
        node: &Vec<String>,
        edges: &BTreeMap<Vec<String>, BTreeSet<Vec<String>>>,
        state: &mut BTreeMap<Vec<String>, u8>,
        stack: &mut Vec<Vec<String>>,
        cycles: &mut BTreeSet<String>,
    ) {
        state.insert(node.clone(), 1);
        stack.push(node.clone());
        for next in edges.get(node).into_iter().flatten() {
            match state.get(next).copied().unwrap_or(0) {
                0 => visit(next, edges, state, stack, cycles),
                1 => {
                    let from = stack.iter().position(|n| n == next).unwrap_or(0);
                    let mut names: Vec<String> = stack[from..].iter().map(|n| n.join("::")).collect();
                    names.push(next.join("::"));
                    cycles.insert(names.join(" -> "));
                }
                _ => {}
            }
        }
        stack.pop();
        state.insert(node.clone(), 2);
    }
    let mut state = BTreeMap::new();
    let mut cycles = BTreeSet::new();
    for node in modules.keys() {
        if state.get(node).copied().unwrap_or(0) == 0 {
            visit(node, &edges, &mut state, &mut Vec::new(), &mut cycles);
        }
    }
    // A mod.rs re-exporting its children is not a cycle of the code's dependencies.
    for cycle in cycles {
        faults.push(format!("import cycle: {cycle}"));
    }
    assert!(faults.is_empty(), "{} layering faults:\n{}", faults.len(), faults.join("\n"));
}
