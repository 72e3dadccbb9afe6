//! The library's folders depend on each other in one direction only (the order `src/lib.rs`
//! documents), and no two modules import each other.
//!
//! It reads the sources as text: every `crate::a::b` path in a file under `src/a/` or `src/a.rs`
//! is a dependency of module `a` (and of `a::x` on `a::b` for the second level).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Each top-level module and the modules it may use. Everything not listed is a bug in this table.
const LAYERS: &[(&str, &[&str])] = &[
    ("compat", &[]),
    ("k8s", &[]),
    ("release", &["compat", "k8s"]),
    ("deploy", &["compat", "k8s", "release"]),
    ("tools", &["compat", "k8s", "release"]),
    ("plugin", &["compat", "k8s", "release", "deploy"]),
];

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            out.push(path);
        }
    }
}

/// The module path of a source file below `src/` (`src/release/values/model.rs` → release, values).
fn module_of(src: &Path, file: &Path) -> Vec<String> {
    let relative = file.strip_prefix(src).unwrap().with_extension("");
    relative
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .filter(|c| c != "mod")
        .collect()
}

/// `(file's module, referenced module path)` for every `crate::…` path in the library.
fn references() -> Vec<(Vec<String>, Vec<String>, String)> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let path = regex::Regex::new(r"\bcrate((?:::[a-z_][a-z0-9_]*)+)").unwrap();
    let mut files = Vec::new();
    sources(&src, &mut files);
    let mut out = Vec::new();
    for file in files {
        let module = module_of(&src, &file);
        if module
            .first()
            .is_none_or(|top| top == "cli" || top == "main" || top == "lib")
        {
            continue;
        }
        let text = std::fs::read_to_string(&file).unwrap();
        for (number, line) in text.lines().enumerate() {
            if line.trim_start().starts_with("//") {
                continue;
            }
            for found in path.captures_iter(line) {
                let target: Vec<String> = found[1]
                    .split("::")
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect();
                let place = format!("{}:{}: {}", file.display(), number + 1, line.trim());
                out.push((module.clone(), target, place));
            }
        }
    }
    out
}

#[test]
fn top_level_modules_only_use_the_layers_below_them() {
    let layers: BTreeMap<&str, &[&str]> = LAYERS.iter().copied().collect();
    let mut checked = 0;
    for (module, target, place) in references() {
        let (from, to) = (module[0].as_str(), target[0].as_str());
        let allowed = layers
            .get(from)
            .unwrap_or_else(|| panic!("src/{from} is not in LAYERS"));
        assert!(
            from == to || allowed.contains(&to),
            "{from} may use only {allowed:?}, but uses {to}: {place}"
        );
        checked += 1;
    }
    assert!(checked > 50, "only {checked} crate paths found");
}

#[test]
fn no_two_second_level_modules_import_each_other() {
    // Edges between `top::sub` modules, e.g. release::render → release::chart.
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (module, target, _) in references() {
        if module.len() < 2 || target.len() < 2 {
            continue;
        }
        let from = format!("{}::{}", module[0], module[1]);
        let to = format!("{}::{}", target[0], target[1]);
        if from != to {
            edges.entry(from).or_default().insert(to);
        }
    }
    // Depth-first search for a back edge.
    fn visit(
        node: &str,
        edges: &BTreeMap<String, BTreeSet<String>>,
        stack: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) {
        if done.contains(node) {
            return;
        }
        if let Some(at) = stack.iter().position(|n| n == node) {
            panic!("import cycle: {} → {node}", stack[at..].join(" → "));
        }
        stack.push(node.to_owned());
        for next in edges.get(node).into_iter().flatten() {
            visit(next, edges, stack, done);
        }
        stack.pop();
        done.insert(node.to_owned());
    }
    let mut done = BTreeSet::new();
    for node in edges.keys() {
        visit(node, &edges, &mut Vec::new(), &mut done);
    }
    assert!(edges.len() >= 8, "only {} modules with edges", edges.len());
}
