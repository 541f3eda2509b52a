//! The crate's layering, read from its source: every top-level module sits in one layer and
//! imports only from layers below it, and no two files import each other.
//!
//! The order is the one `lib.rs` and ARCHITECTURE.md describe. A new module goes into a layer
//! here, or this test fails. Unit tests (`#[cfg(test)]` modules and test-only files) may reach
//! up to build real inputs (a policy test compiles a real config), so they are not read;
//! neither are comments, which may link anywhere.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::support::repo;

/// Bottom to top. A module may import modules of lower layers only.
const LAYERS: &[&[&str]] = &[
    // Leaves: codes, codings, PII classes, key material, rustls configurations.
    &["error", "codec", "detect", "keys", "tls"],
    // Primitives over keys; one reading of a request; persistence.
    &["crypto", "canon", "store"],
    // The compiled policy (selectors, actions); the audit log over the store.
    &["policy", "audit"],
    // Payload rewriting under a policy; counters and events of applied actions; the report.
    &["rewrite", "telemetry", "report"],
    // `proxy.toml` compiled into everything below.
    &["config"],
    // Offline operations over a config; process-wide services.
    &["ops", "services"],
    // The network shell.
    &["proxy"],
];

/// Files that import each other because their functions recurse into one another, each with
/// why. A value inside a JSON document or a form can be a document itself (base64 JSON in a
/// form field, a URL's query in a JSON string): `wrap` decodes it and hands it back to the JSON
/// or form rewriter, which may meet another wrapped value. Breaking the import cycle would need
/// a function pointer threaded through every rewriter on the hot path for no gain in clarity.
const RECURSION: &[(&str, &str)] = &[
    ("rewrite/form.rs", "rewrite/wrap.rs"),
    ("rewrite/json/mod.rs", "rewrite/wrap.rs"),
];

/// One source file: its module path (`crate::a::b` is `["a", "b"]`) and its code with
/// comments and unit tests left out.
struct File {
    path: PathBuf,
    module: Vec<String>,
    code: String,
}

#[test]
fn no_module_imports_one_above_its_layer() {
    let layer_of: BTreeMap<&str, usize> = LAYERS
        .iter()
        .enumerate()
        .flat_map(|(i, l)| l.iter().map(move |m| (*m, i)))
        .collect();
    let declared = declared_modules();
    let layered: BTreeSet<String> = layer_of.keys().map(|m| (*m).to_owned()).collect();
    assert_eq!(
        declared, layered,
        "every module of lib.rs has a layer in this test, and only those"
    );
    let mut upward = Vec::new();
    for file in source_files() {
        let Some(own) = file.module.first() else {
            continue;
        };
        for path in crate_paths(&file) {
            let target = &path[0];
            if target == own || !layer_of.contains_key(target.as_str()) {
                continue;
            }
            if layer_of[target.as_str()] >= layer_of[own.as_str()] {
                upward.push(format!(
                    "{} (layer {}) imports crate::{} (layer {})",
                    file.path.display(),
                    layer_of[own.as_str()],
                    path.join("::"),
                    layer_of[target.as_str()]
                ));
            }
        }
    }
    upward.sort();
    upward.dedup();
    assert!(
        upward.is_empty(),
        "imports at or above their own layer:\n{}",
        upward.join("\n")
    );
}

#[test]
fn no_two_files_import_each_other() {
    let files = source_files();
    let modules: BTreeMap<Vec<String>, &Path> = files
        .iter()
        .map(|f| (f.module.clone(), f.path.as_path()))
        .collect();
    let mut edges: BTreeSet<(&Path, &Path)> = BTreeSet::new();
    for file in &files {
        for path in crate_paths(file) {
            // The longest prefix that is a file's module is the file imported from.
            let target = (1..=path.len())
                .rev()
                .find_map(|n| modules.get(&path[..n]).copied());
            if let Some(target) = target
                && target != file.path
            {
                edges.insert((file.path.as_path(), target));
            }
        }
    }
    let mutual: Vec<String> = edges
        .iter()
        .filter(|(a, b)| a < b && edges.contains(&(*b, *a)))
        .filter(|(a, b)| {
            !RECURSION
                .iter()
                .any(|(x, y)| Path::new(x) == *a && Path::new(y) == *b)
        })
        .map(|(a, b)| format!("{} <-> {}", a.display(), b.display()))
        .collect();
    assert!(
        mutual.is_empty(),
        "files that import each other:\n{}",
        mutual.join("\n")
    );
    // A declared recursion that no longer exists comes off the list.
    for (a, b) in RECURSION {
        let (a, b) = (Path::new(a), Path::new(b));
        assert!(
            edges.contains(&(a, b)) && edges.contains(&(b, a)),
            "{} and {} no longer import each other: remove them from RECURSION",
            a.display(),
            b.display()
        );
    }
}

/// `pub mod` / `mod` lines of lib.rs.
fn declared_modules() -> BTreeSet<String> {
    let lib = std::fs::read_to_string(repo("src/lib.rs")).expect("lib.rs");
    lib.lines()
        .filter_map(|l| {
            let l = l.trim();
            let rest = l
                .strip_prefix("pub mod ")
                .or_else(|| l.strip_prefix("mod "))?;
            Some(rest.trim_end_matches(';').to_owned())
        })
        .collect()
}

/// Every library source file (not `main.rs`, not `lib.rs`, not test-only files).
fn source_files() -> Vec<File> {
    let src = repo("src");
    let mut paths = Vec::new();
    walk(&src, &mut paths);
    let texts: Vec<(PathBuf, String)> = paths
        .into_iter()
        .map(|p| {
            let text = std::fs::read_to_string(&p).expect("source file");
            (p, text)
        })
        .collect();
    let test_only: BTreeSet<PathBuf> = texts
        .iter()
        .flat_map(|(p, text)| test_only_children(p, text))
        .collect();
    texts
        .into_iter()
        .filter(|(p, _)| {
            !test_only.contains(p) && !p.ends_with("src/main.rs") && !p.ends_with("src/lib.rs")
        })
        .map(|(path, text)| {
            let rel = path.strip_prefix(&src).expect("under src");
            let mut module: Vec<String> = rel
                .with_extension("")
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            if module.last().is_some_and(|m| m == "mod") {
                module.pop();
            }
            File {
                path: rel.to_path_buf(),
                module,
                code: code_of(&text),
            }
        })
        .collect()
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read_dir") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            walk(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Files declared as `#[cfg(test)] mod name;` by the file at `path`.
fn test_only_children(path: &Path, text: &str) -> Vec<PathBuf> {
    let dir = match path.file_name().and_then(|n| n.to_str()) {
        Some("mod.rs" | "lib.rs" | "main.rs") => path.parent().expect("dir").to_path_buf(),
        _ => path.with_extension(""),
    };
    let lines: Vec<&str> = text.lines().map(str::trim).collect();
    lines
        .windows(2)
        .filter(|w| w[0] == "#[cfg(test)]")
        .filter_map(|w| {
            let name = w[1].strip_prefix("mod ")?.strip_suffix(';')?;
            Some([
                dir.join(format!("{name}.rs")),
                dir.join(name).join("mod.rs"),
            ])
        })
        .flatten()
        .collect()
}

/// The code of a file without comments and without its `#[cfg(test)]` modules (which, by the
/// crate's convention, come last).
fn code_of(text: &str) -> String {
    let mut out = String::new();
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        let trimmed = line.trim();
        if trimmed == "#[cfg(test)]"
            && lines
                .peek()
                .is_some_and(|next| next.trim_start().starts_with("mod ") && next.contains('{'))
        {
            break;
        }
        let code = match line.find("//") {
            // `//` inside a string (a URL) is rare in import lines; a comment is what we cut.
            Some(at) if !line[..at].contains('"') => &line[..at],
            _ => line,
        };
        out.push_str(code);
        out.push('\n');
    }
    out
}

/// Every path the file names through `crate::`, `super::` or `self::`, as absolute module
/// paths; `use` groups (`crate::a::{b, c::d}`) are expanded.
fn crate_paths(file: &File) -> Vec<Vec<String>> {
    let code = &file.code;
    let mut out = Vec::new();
    let bytes = code.as_bytes();
    let mut i = 0;
    while i < code.len() {
        let rest = &code[i..];
        let starts_word = i == 0
            || !(bytes[i - 1].is_ascii_alphanumeric()
                || bytes[i - 1] == b'_'
                || bytes[i - 1] == b':');
        let base = if !starts_word {
            None
        } else if rest.starts_with("crate::") {
            Some((Vec::new(), "crate::".len()))
        } else if rest.starts_with("super::") || rest.starts_with("self::") {
            Some((relative_base(file, rest), 0))
        } else {
            None
        };
        let Some((base, skip)) = base else {
            i += rest.chars().next().map_or(1, char::len_utf8);
            continue;
        };
        let (tree, len) = use_tree(&rest[skip..]);
        for path in tree {
            let mut full = base.clone();
            full.extend(path);
            if !full.is_empty() {
                out.push(full);
            }
        }
        i += skip + len.max(1);
    }
    out
}

/// The absolute module that a leading run of `super::`/`self::` names from `file`.
fn relative_base(file: &File, rest: &str) -> Vec<String> {
    let mut base = file.module.clone();
    let mut rest = rest;
    loop {
        if let Some(r) = rest.strip_prefix("super::") {
            base.pop();
            rest = r;
        } else if let Some(r) = rest.strip_prefix("self::") {
            rest = r;
        } else {
            return base;
        }
    }
}

/// Parses a path or use tree at the start of `s` (after `crate::`, or a `super::`/`self::`
/// run, which is skipped): its paths and the bytes consumed.
fn use_tree(s: &str) -> (Vec<Vec<String>>, usize) {
    let mut i = 0;
    let b = s.as_bytes();
    // Skip the relative prefix, if any.
    loop {
        if s[i..].starts_with("super::") {
            i += "super::".len();
        } else if s[i..].starts_with("self::") {
            i += "self::".len();
        } else {
            break;
        }
    }
    let mut segments = Vec::new();
    loop {
        let start = i;
        while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
            i += 1;
        }
        if i > start {
            segments.push(s[start..i].to_owned());
        }
        let group = if s[i..].starts_with("::{") {
            Some(3)
        } else if i == start && s[i..].starts_with('{') {
            Some(1)
        } else {
            None
        };
        if let Some(skip) = group {
            i += skip;
            let mut paths = Vec::new();
            loop {
                while i < b.len() && (b[i].is_ascii_whitespace() || b[i] == b',') {
                    i += 1;
                }
                if i >= b.len() || b[i] == b'}' {
                    i += 1;
                    break;
                }
                let (inner, len) = use_tree(&s[i..]);
                for p in inner {
                    let mut full = segments.clone();
                    full.extend(p);
                    paths.push(full);
                }
                i += len.max(1);
            }
            return (paths, i);
        }
        if s[i..].starts_with("::")
            && s[i + 2..].starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        {
            i += 2;
            continue;
        }
        // `self` inside a group names the group's own path.
        if segments.last().is_some_and(|s| s == "self") {
            segments.pop();
        }
        return (vec![segments], i);
    }
}

#[test]
fn the_reader_expands_use_groups_and_resolves_relative_paths() {
    let file = File {
        path: PathBuf::from("proxy/reload.rs"),
        module: vec!["proxy".into(), "reload".into()],
        code: code_of(
            "//! Links to [`crate::report`] are comments.
use crate::{audit::{AuditEvent, Outcome}, config::{self, Env}};
use super::generation::Current;
fn f() { let _ = crate::store::StoreConfig::Embedded; } // crate::ops
#[cfg(test)]
mod tests {
    use crate::telemetry::Metrics;
}
",
        ),
    };
    let paths: Vec<String> = crate_paths(&file).iter().map(|p| p.join("::")).collect();
    assert_eq!(
        paths,
        [
            "audit::AuditEvent",
            "audit::Outcome",
            "config",
            "config::Env",
            "proxy::generation::Current",
            "store::StoreConfig::Embedded",
        ]
    );
}
