//! The documentation cannot drift from the code it describes:
//! - every key of `config.yaml` (at any depth) has exactly one row in `docs/CONFIG.md`, with the same
//!   default, and `docs/CONFIG.md` documents no key `config.yaml` lacks;
//! - `README.md` and `docs/*.md` link nowhere outside the repository (the server's own
//!   loopback address aside), and every link to a repository file finds it.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Component, Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// A YAML scalar as the docs write it: strings without their quotes (`""` when empty),
/// `[]` for an empty list, numbers and booleans as written.
fn normalize(value: &str) -> String {
    let v = value.trim();
    match v.strip_prefix('"').and_then(|s| s.strip_suffix('"')) {
        Some("") => "\"\"".into(),
        Some(s) => s.into(),
        None => match v.strip_prefix('\'').and_then(|s| s.strip_suffix('\'')) {
            Some("") => "\"\"".into(),
            Some(s) => s.into(),
            None if v.starts_with('[') => {
                let inner = v.trim_start_matches('[').trim_end_matches(']').trim();
                if inner.is_empty() {
                    "[]".into()
                } else {
                    v.into()
                }
            }
            None => v.into(),
        },
    }
}

/// The value part of `key: value  # comment`: up to a `#` outside quotes.
fn strip_comment(rest: &str) -> &str {
    let mut quote = None;
    for (i, c) in rest.char_indices() {
        match (quote, c) {
            (None, '"' | '\'') => quote = Some(c),
            (Some(q), _) if c == q => quote = None,
            (None, '#') => return &rest[..i],
            _ => {}
        }
    }
    rest
}

/// `config.yaml` read by indentation: `name:` lines open a level, indented
/// `key: value  # comment` lines are leaves, as `section.key` (or `section.group.key`
/// for a deeper level such as `game.arena.presets.field.size`) → the value, normalized.
fn yaml_defaults(yaml: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    // The open levels: (indentation, name).
    let mut open: Vec<(usize, String)> = Vec::new();
    for (n, line) in yaml.lines().enumerate() {
        let content = strip_comment(line);
        if content.trim().is_empty() {
            continue;
        }
        let (name, value) = content
            .split_once(':')
            .unwrap_or_else(|| panic!("config.yaml line {}: expected `name: value`, got {line:?}", n + 1));
        let indent = content.len() - content.trim_start().len();
        while open.last().is_some_and(|(i, _)| *i >= indent) {
            open.pop();
        }
        let path: Vec<&str> = open.iter().map(|(_, s)| s.as_str()).chain([name.trim()]).collect();
        let key = path.join(".");
        if value.trim().is_empty() {
            open.push((indent, name.trim().to_string()));
            continue;
        }
        assert!(path.len() > 1, "config.yaml line {}: a top-level key must be a section: {line:?}", n + 1);
        assert!(out.insert(key.clone(), normalize(value)).is_none(), "config.yaml: {key} appears twice");
    }
    out
}

/// Every leaf key (`section.key`, `section.group.key`…) the `config` crate (the server's
/// own parser) finds in the YAML.
fn yaml_keys_by_config_crate(yaml: &str) -> BTreeSet<String> {
    use config::{File, FileFormat, Source, Value, ValueKind};
    fn leaves(prefix: &str, value: Value, keys: &mut BTreeSet<String>) {
        match value.kind {
            ValueKind::Table(table) => {
                for (k, v) in table {
                    leaves(&format!("{prefix}.{k}"), v, keys);
                }
            }
            _ => {
                keys.insert(prefix.to_string());
            }
        }
    }
    let parsed = File::from_str(yaml, FileFormat::Yaml).collect().expect("config.yaml parses");
    let mut keys = BTreeSet::new();
    for (section, value) in parsed {
        assert!(matches!(value.kind, ValueKind::Table(_)), "config.yaml: {section} is not a section");
        leaves(&section, value, &mut keys);
    }
    keys
}

/// A table cell holding exactly one code span: its text.
fn code_span(cell: &str) -> Option<&str> {
    let s = cell.trim().strip_prefix('`')?.strip_suffix('`')?;
    (!s.contains('`')).then_some(s)
}

/// Looks like `section.key` or `section.group.key` (lowercase words joined by dots).
fn is_key(s: &str) -> bool {
    let ok = |w: &str| !w.is_empty() && w.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    s.contains('.') && s.split('.').all(ok)
}

/// Every table row of CONFIG.md whose first cell is a `section.key`: key → (line,
/// default cell), one entry per row.
fn doc_rows(md: &str) -> Vec<(String, usize, String)> {
    let mut rows = Vec::new();
    for (n, line) in md.lines().enumerate() {
        let Some(row) = line.trim().strip_prefix('|') else { continue };
        let cells: Vec<&str> = row.split('|').collect();
        let Some(key) = cells.first().and_then(|c| code_span(c)).filter(|k| is_key(k)) else { continue };
        let default = cells.get(1).map(|c| c.trim().to_string()).unwrap_or_default();
        rows.push((key.to_string(), n + 1, default));
    }
    rows
}

#[test]
fn config_md_documents_every_key_of_config_yaml_with_its_default() {
    let yaml = read(&root().join("config.yaml"));
    let md = read(&root().join("docs/CONFIG.md"));
    let defaults = yaml_defaults(&yaml);

    // The hand parser must see what the server's parser sees, or this test checks less
    // than it claims (a new nesting level, a block list...).
    let by_crate = yaml_keys_by_config_crate(&yaml);
    let by_hand: BTreeSet<String> = defaults.keys().cloned().collect();
    assert_eq!(by_hand, by_crate, "config.yaml: the reading by indentation disagrees with the config crate");
    assert!(defaults.len() > 50, "config.yaml: only {} keys found", defaults.len());

    let mut rows: BTreeMap<String, Vec<(usize, String)>> = BTreeMap::new();
    for (key, line, default) in doc_rows(&md) {
        rows.entry(key).or_default().push((line, default));
    }

    let mut problems = Vec::new();
    for (key, value) in &defaults {
        match rows.get(key).map(Vec::as_slice) {
            None | Some([]) => problems.push(format!("{key}: in config.yaml (default {value}), no row in docs/CONFIG.md")),
            Some([(line, cell)]) => match code_span(cell) {
                Some(doc) if doc == value => {}
                Some(doc) => problems.push(format!(
                    "{key}: default differs: config.yaml has `{value}`, docs/CONFIG.md line {line} has `{doc}`"
                )),
                None => problems.push(format!(
                    "{key}: docs/CONFIG.md line {line}: the default cell {cell:?} is not one code span (expected `{value}`)"
                )),
            },
            Some(many) => {
                let lines: Vec<String> = many.iter().map(|(l, _)| l.to_string()).collect();
                problems.push(format!("{key}: {} rows in docs/CONFIG.md (lines {})", many.len(), lines.join(", ")));
            }
        }
    }
    for (key, found) in &rows {
        if !defaults.contains_key(key) {
            let lines: Vec<String> = found.iter().map(|(l, _)| l.to_string()).collect();
            problems.push(format!(
                "{key}: documented in docs/CONFIG.md (line {}) but not in config.yaml",
                lines.join(", ")
            ));
        }
    }
    assert!(problems.is_empty(), "docs/CONFIG.md and config.yaml disagree:\n  {}", problems.join("\n  "));
}

/// README.md and every docs/*.md.
fn markdown_files() -> Vec<PathBuf> {
    let mut files = vec![root().join("README.md")];
    let mut docs: Vec<PathBuf> = fs::read_dir(root().join("docs"))
        .expect("docs/ exists")
        .map(|e| e.expect("docs/ entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "md"))
        .collect();
    docs.sort();
    files.extend(docs);
    files
}

/// Every inline link target `](target)` outside fenced code blocks, with its line.
fn link_targets(md: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut fenced = false;
    for (n, line) in md.lines().enumerate() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if fenced {
            continue;
        }
        let mut rest = line;
        while let Some(i) = rest.find("](") {
            let after = &rest[i + 2..];
            let end = after.find(')').unwrap_or(after.len());
            out.push((n + 1, after[..end].trim().to_string()));
            rest = &after[end..];
        }
        // Autolinks `<https://...>` and reference definitions `[name]: https://...`.
        let mut rest = line;
        while let Some(i) = rest.find("<http") {
            let after = &rest[i + 1..];
            let end = after.find('>').unwrap_or(after.len());
            out.push((n + 1, after[..end].to_string()));
            rest = &after[end..];
        }
        let t = line.trim_start();
        if let Some((label, target)) = t.strip_prefix('[').and_then(|s| s.split_once("]:")) {
            if !label.contains(']') {
                out.push((n + 1, target.trim().to_string()));
            }
        }
    }
    out
}

fn is_web(target: &str) -> bool {
    let t = target.to_ascii_lowercase();
    t.starts_with("http://") || t.starts_with("https://") || t.starts_with("//") || t.starts_with("www.")
}

/// The server's own address in a quick-start link is not outside the repository.
fn is_loopback(target: &str) -> bool {
    let after_scheme = target.split_once("://").map_or(target, |(_, r)| r);
    let host = after_scheme.split(['/', ':', '?', '#']).next().unwrap_or("");
    host == "127.0.0.1" || host.eq_ignore_ascii_case("localhost")
}

#[test]
fn docs_link_nowhere_outside_the_repository() {
    let root = root();
    let mut problems = Vec::new();
    for file in markdown_files() {
        let name = file.strip_prefix(&root).unwrap_or(&file).display().to_string();
        for (line, target) in link_targets(&read(&file)) {
            if is_web(&target) {
                if !is_loopback(&target) {
                    problems.push(format!("{name}:{line}: links outside the repository: {target}"));
                }
                continue;
            }
            if target.starts_with('#') || target.contains("://") || target.starts_with("mailto:") {
                if !target.starts_with('#') {
                    problems.push(format!("{name}:{line}: links outside the repository: {target}"));
                }
                continue;
            }
            // A repository file, relative to the page: it must exist and stay inside.
            let path = target.split(['#', '?']).next().unwrap_or("");
            let path = path.split_whitespace().next().unwrap_or("");
            let mut resolved = file.parent().expect("a page has a folder").to_path_buf();
            let mut escapes = false;
            for part in Path::new(path).components() {
                match part {
                    Component::ParentDir => escapes |= !resolved.pop() || !resolved.starts_with(&root),
                    Component::Normal(p) => resolved.push(p),
                    Component::CurDir => {}
                    Component::RootDir | Component::Prefix(_) => escapes = true,
                }
            }
            if escapes || !resolved.starts_with(&root) {
                problems.push(format!("{name}:{line}: links outside the repository: {target}"));
            } else if !resolved.exists() {
                problems.push(format!("{name}:{line}: links to a missing file: {target}"));
            }
        }
    }
    assert!(problems.is_empty(), "documentation links:\n  {}", problems.join("\n  "));
}
