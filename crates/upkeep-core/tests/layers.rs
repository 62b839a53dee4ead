//! The layers of `upkeep-core`, kept so: this test reads the crate's sources, builds the
//! graph of which top-level module (`state`, `run`, `notify`, ...) imports which, and fails
//! on any import cycle, on storage (`state/`) importing a domain module, and on anything but
//! `ops` importing `ops` (the use cases, which may call everything and are called by
//! nothing below them).
//!
//! An import is a path that names another top-level module: `crate::X` (also `$crate::X`
//! in macros), an item of `crate::{X, Y::Z}`, or a `super::` chain that climbs out of its
//! top-level module and names `X`. Comments (doc links included), string and character
//! literals, and items under `#[cfg(test)]` are not imports: they do not tie the layers
//! together in the built library.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// What `state/` may not import: the domain modules above it. Storage knows tables and
/// rows; what an outcome means and who gets told are decided above it.
const ABOVE_STATE: &[&str] = &[
    "run", "notify", "updates", "backup", "schedule", "rollback", "deploy", "plan",
];

/// The use cases: they may import anything, and nothing else may import them.
const OPS: &str = "ops";

/// Where one module imports another: `file:line`.
type Sites = Vec<String>;

/// Which top-level module imports which, with where.
#[derive(Debug, Default)]
struct Graph {
    modules: BTreeSet<String>,
    edges: BTreeMap<String, BTreeMap<String, Sites>>,
}

impl Graph {
    fn targets(&self, from: &str) -> impl Iterator<Item = &str> {
        self.edges
            .get(from)
            .into_iter()
            .flat_map(|to| to.keys().map(String::as_str))
    }

    fn sites(&self, from: &str, to: &str) -> &[String] {
        self.edges
            .get(from)
            .and_then(|to_sites| to_sites.get(to))
            .map_or(&[], Vec::as_slice)
    }
}

/// The top-level modules `lib.rs` declares.
fn declared_modules(lib: &str) -> BTreeSet<String> {
    let code = strip(lib);
    code.lines()
        .filter_map(|line| {
            let line = line.trim();
            let rest = line
                .strip_prefix("pub mod ")
                .or_else(|| line.strip_prefix("mod "))
                .or_else(|| line.strip_prefix("pub(crate) mod "))?;
            Some(rest.trim_end_matches(';').trim().to_owned())
        })
        .collect()
}

/// `code` with comments, string and character literals blanked out (newlines kept, so
/// line numbers still hold).
fn strip(code: &str) -> String {
    let chars: Vec<char> = code.chars().collect();
    let mut out = String::with_capacity(code.len());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        let in_word = i > 0 && (chars[i - 1].is_alphanumeric() || chars[i - 1] == '_');
        i = match (c, next) {
            ('/', Some('/')) => chars[i..]
                .iter()
                .position(|&c| c == '\n')
                .map_or(chars.len(), |n| i + n),
            ('/', Some('*')) => block_comment(&chars, i, &mut out),
            ('r', Some('"' | '#')) if !in_word => raw_string(&chars, i, &mut out),
            ('"', _) => string(&chars, i, &mut out),
            ('\'', Some('\\')) => {
                // An escaped character literal: '\n', '\'', '\u{1F600}'.
                // The escaped character itself (at `i + 2`) may be a quote.
                chars[(i + 3).min(chars.len())..]
                    .iter()
                    .position(|&c| c == '\'')
                    .map_or(chars.len(), |n| i + 3 + n + 1)
            }
            ('\'', _) if chars.get(i + 2) == Some(&'\'') => i + 3,
            _ => {
                // Code, including a lifetime's quote ('a).
                out.push(c);
                i + 1
            }
        };
    }
    out
}

/// Blank a character of a comment or literal, keeping newlines.
fn blank(out: &mut String, c: char) {
    out.push(if c == '\n' { '\n' } else { ' ' });
}

/// Skip the (possibly nested) block comment at `i`; returns where code resumes.
fn block_comment(chars: &[char], mut i: usize, out: &mut String) -> usize {
    let mut depth = 0;
    while i < chars.len() {
        match (chars[i], chars.get(i + 1)) {
            ('/', Some('*')) => {
                depth += 1;
                i += 2;
            }
            ('*', Some('/')) => {
                depth -= 1;
                i += 2;
                if depth == 0 {
                    break;
                }
            }
            (c, _) => {
                blank(out, c);
                i += 1;
            }
        }
    }
    i
}

/// Skip the raw string (`r"..."`, `r#"..."#`) at `i`, or the `r` of an identifier that
/// merely looks like one; returns where code resumes.
fn raw_string(chars: &[char], i: usize, out: &mut String) -> usize {
    let mut j = i + 1;
    let mut hashes = 0;
    while chars.get(j) == Some(&'#') {
        hashes += 1;
        j += 1;
    }
    if chars.get(j) != Some(&'"') {
        out.push('r');
        return i + 1;
    }
    j += 1;
    while j < chars.len() {
        if chars[j] == '"' && (0..hashes).all(|k| chars.get(j + 1 + k) == Some(&'#')) {
            return j + 1 + hashes;
        }
        blank(out, chars[j]);
        j += 1;
    }
    j
}

/// Skip the string literal at `i`; returns where code resumes.
fn string(chars: &[char], mut i: usize, out: &mut String) -> usize {
    i += 1;
    while i < chars.len() && chars[i] != '"' {
        if chars[i] == '\\' {
            i += 1;
        }
        if let Some(&c) = chars.get(i) {
            blank(out, c);
        }
        i += 1;
    }
    i + 1
}

/// `code` (already stripped) without the items under `#[cfg(test)]`.
fn without_test_items(code: &str) -> String {
    let mut out = String::with_capacity(code.len());
    let mut rest = code;
    while let Some(at) = rest.find("#[cfg(test)]") {
        out.push_str(&rest[..at]);
        let item = &rest[at..];
        // The item ends at its first `;` when that comes before any `{`, else at the brace
        // that closes its first `{`.
        let end = match (item.find(';'), item.find('{')) {
            (Some(semi), Some(brace)) if semi < brace => semi + 1,
            (Some(semi), None) => semi + 1,
            (_, Some(brace)) => {
                let mut depth = 0;
                let mut end = item.len();
                for (i, c) in item[brace..].char_indices() {
                    match c {
                        '{' => depth += 1,
                        '}' => {
                            depth -= 1;
                            if depth == 0 {
                                end = brace + i + 1;
                                break;
                            }
                        }
                        _ => {}
                    }
                }
                end
            }
            (None, None) => item.len(),
        };
        // Keep the line count.
        out.extend(item[..end].chars().filter(|&c| c == '\n'));
        rest = &item[end..];
    }
    out.push_str(rest);
    out
}

/// The top-level modules an item list `{a, b::c, d::{e}}` starts with (the part after
/// its opening brace).
fn group_heads(group: &str) -> Vec<String> {
    let mut heads = Vec::new();
    let mut depth = 0;
    let mut at_start = true;
    let mut current = String::new();
    for c in group.chars() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => break,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                if at_start && !current.is_empty() {
                    heads.push(std::mem::take(&mut current));
                }
                at_start = true;
                continue;
            }
            _ => {}
        }
        if depth == 0 && at_start {
            if c.is_alphanumeric() || c == '_' {
                current.push(c);
            } else if !current.is_empty() {
                heads.push(std::mem::take(&mut current));
                at_start = false;
            }
        }
    }
    if at_start && !current.is_empty() {
        heads.push(current);
    }
    heads
}

fn ident_at(code: &str) -> &str {
    let end = code
        .find(|c: char| !(c.is_alphanumeric() || c == '_'))
        .unwrap_or(code.len());
    &code[..end]
}

/// The top-level modules named at `code`, which follows a path's root (`crate::`).
fn named_at(code: &str) -> Vec<String> {
    match code.strip_prefix('{') {
        Some(group) => group_heads(group),
        None => vec![ident_at(code).to_owned()],
    }
}

/// The imports in one file: (top-level module named, line). `module_path` is the file's
/// module path below the crate root (`["state", "outbox"]`).
fn imports(code: &str, module_path: &[String]) -> Vec<(String, usize)> {
    let code = without_test_items(&strip(code));
    let line_of = |at: usize| code[..at].matches('\n').count() + 1;
    let mut found = Vec::new();
    for (at, _) in code.match_indices("crate::") {
        let before = code[..at].chars().next_back();
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue;
        }
        for name in named_at(&code[at + "crate::".len()..]) {
            found.push((name, line_of(at)));
        }
    }
    let bytes = code.as_bytes();
    let mut at = 0;
    while let Some(offset) = code[at..].find("super::") {
        let start = at + offset;
        let before = code[..start].chars().next_back();
        let mut end = start;
        let mut climbs = 0;
        while code[end..].starts_with("super::") {
            climbs += 1;
            end += "super::".len();
        }
        at = end;
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
            continue;
        }
        // `super` climbs from the file's module; it leaves the top-level module when it
        // climbs as many levels as the path is deep.
        if climbs == module_path.len() && end < bytes.len() {
            for name in named_at(&code[end..]) {
                found.push((name, line_of(start)));
            }
        }
    }
    found
}

fn rust_files(dir: &Path, files: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = fs_err::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            rust_files(&path, files);
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
}

/// The module path of a file below `src` (`state/outbox.rs` is `["state", "outbox"]`,
/// `state/mod.rs` is `["state"]`).
fn module_path(relative: &Path) -> Vec<String> {
    let mut parts: Vec<String> = relative
        .iter()
        .map(|p| p.to_string_lossy().trim_end_matches(".rs").to_owned())
        .collect();
    if parts.last().is_some_and(|p| p == "mod") {
        parts.pop();
    }
    parts
}

fn graph_of(files: &[(PathBuf, String)], modules: BTreeSet<String>) -> Graph {
    let mut graph = Graph {
        modules,
        ..Graph::default()
    };
    for (relative, code) in files {
        let path = module_path(relative);
        let Some(top) = path.first().cloned() else {
            continue;
        };
        if top == "lib" {
            continue;
        }
        for (name, line) in imports(code, &path) {
            if name != top && graph.modules.contains(&name) {
                graph
                    .edges
                    .entry(top.clone())
                    .or_default()
                    .entry(name)
                    .or_default()
                    .push(format!("{}:{line}", relative.display()));
            }
        }
    }
    graph
}

fn crate_graph() -> Graph {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let modules = declared_modules(&fs_err::read_to_string(src.join("lib.rs")).unwrap());
    let mut paths = Vec::new();
    rust_files(&src, &mut paths);
    let files: Vec<(PathBuf, String)> = paths
        .into_iter()
        .map(|p| {
            let code = fs_err::read_to_string(&p).unwrap();
            (p.strip_prefix(&src).unwrap().to_path_buf(), code)
        })
        .collect();
    graph_of(&files, modules)
}

/// The strongly connected components with more than one module (Tarjan's algorithm).
fn cycles(graph: &Graph) -> Vec<Vec<String>> {
    struct Walk<'g> {
        graph: &'g Graph,
        index: BTreeMap<&'g str, usize>,
        low: BTreeMap<&'g str, usize>,
        stack: Vec<&'g str>,
        found: Vec<Vec<String>>,
    }
    fn visit<'g>(walk: &mut Walk<'g>, v: &'g str) {
        let n = walk.index.len();
        walk.index.insert(v, n);
        walk.low.insert(v, n);
        walk.stack.push(v);
        for w in walk.graph.targets(v) {
            if !walk.index.contains_key(w) {
                visit(walk, w);
                let low = walk.low[v].min(walk.low[w]);
                walk.low.insert(v, low);
            } else if walk.stack.contains(&w) {
                let low = walk.low[v].min(walk.index[w]);
                walk.low.insert(v, low);
            }
        }
        if walk.low[v] == walk.index[v] {
            let mut component = Vec::new();
            while let Some(w) = walk.stack.pop() {
                component.push(w.to_owned());
                if w == v {
                    break;
                }
            }
            if component.len() > 1 {
                component.sort();
                walk.found.push(component);
            }
        }
    }
    let mut walk = Walk {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        found: Vec::new(),
    };
    for module in &graph.modules {
        if !walk.index.contains_key(module.as_str()) {
            visit(&mut walk, module);
        }
    }
    walk.found
}

/// One cycle through `component`, as `a -> b (file:line) -> ... -> a`, for the message.
fn describe_cycle(graph: &Graph, component: &[String]) -> String {
    let inside: BTreeSet<&str> = component.iter().map(String::as_str).collect();
    let start = component[0].as_str();
    // Breadth-first from `start` back to `start` inside the component.
    let mut came_from: BTreeMap<&str, &str> = BTreeMap::new();
    let mut queue = std::collections::VecDeque::from([start]);
    let mut last = None;
    'search: while let Some(v) = queue.pop_front() {
        for w in graph.targets(v).filter(|w| inside.contains(w)) {
            if w == start {
                last = Some(v);
                break 'search;
            }
            if !came_from.contains_key(w) {
                came_from.insert(w, v);
                queue.push_back(w);
            }
        }
    }
    let mut back = Vec::new();
    let mut v = last.unwrap_or(start);
    while v != start {
        back.push(v);
        v = came_from[v];
    }
    let path: Vec<&str> = std::iter::once(start)
        .chain(back.into_iter().rev())
        .chain(std::iter::once(start))
        .collect();
    let mut text = start.to_owned();
    for pair in path.windows(2) {
        let site = graph.sites(pair[0], pair[1]).first().cloned();
        let _ = write!(text, " -> {} ({})", pair[1], site.unwrap_or_default());
    }
    format!("  {{{}}}: {text}", component.join(", "))
}

/// Every rule the layers break, as lines of a message; empty when they hold.
fn violations(graph: &Graph) -> Vec<String> {
    let mut problems = Vec::new();
    for component in cycles(graph) {
        problems.push(format!(
            "import cycle among top-level modules:\n{}",
            describe_cycle(graph, &component)
        ));
    }
    for to in ABOVE_STATE {
        for site in graph.sites("state", to) {
            problems.push(format!(
                "state/ imports `{to}` at {site}: storage only stores; build the rows in `{to}` (or below) and hand them to the ledger"
            ));
        }
    }
    for from in &graph.modules {
        if from == OPS {
            continue;
        }
        for site in graph.sites(from, OPS) {
            problems.push(format!(
                "`{from}` imports `ops` at {site}: `ops` holds the use cases and may call anything, but nothing below it may call it"
            ));
        }
    }
    problems
}

/// How many layers `v` sits above the bottom (memoized in `level`).
fn depth<'g>(graph: &'g Graph, v: &'g str, level: &mut BTreeMap<&'g str, usize>) -> usize {
    if let Some(&l) = level.get(v) {
        return l;
    }
    // Mark before descending, so a cycle (reported elsewhere) cannot recurse forever.
    level.insert(v, 0);
    let l = graph
        .targets(v)
        .map(|w| depth(graph, w, level) + 1)
        .max()
        .unwrap_or(0);
    level.insert(v, l);
    l
}

/// The layers, lowest first: each module sits one above the highest module it imports.
fn layers(graph: &Graph) -> Vec<Vec<String>> {
    let mut level: BTreeMap<&str, usize> = BTreeMap::new();
    for module in &graph.modules {
        depth(graph, module, &mut level);
    }
    let mut layers: Vec<Vec<String>> = Vec::new();
    for (module, l) in level {
        if layers.len() <= l {
            layers.resize(l + 1, Vec::new());
        }
        layers[l].push(module.to_owned());
    }
    layers
}

#[test]
fn the_layers_of_upkeep_core_import_downward_only() {
    let graph = crate_graph();
    assert!(
        graph.modules.contains("state") && graph.modules.contains("run"),
        "lib.rs was not read: {:?}",
        graph.modules
    );
    assert!(
        !graph.sites("run", "state").is_empty(),
        "the import scan found nothing: run/ surely uses the ledger"
    );
    // Printed for `--nocapture`, to keep ARCHITECTURE.md's diagram true.
    for (n, layer) in layers(&graph).iter().enumerate() {
        println!("layer {n}: {}", layer.join(" "));
    }
    let problems = violations(&graph);
    assert!(
        problems.is_empty(),
        "upkeep-core's layers are broken:\n{}",
        problems.join("\n")
    );
}

fn graph_from(files: &[(&str, &str)]) -> Graph {
    let files: Vec<(PathBuf, String)> = files
        .iter()
        .map(|(path, code)| (PathBuf::from(path), (*code).to_owned()))
        .collect();
    let modules = files
        .iter()
        .filter_map(|(p, _)| module_path(p).first().cloned())
        .collect();
    graph_from_parts(&files, modules)
}

fn graph_from_parts(files: &[(PathBuf, String)], modules: BTreeSet<String>) -> Graph {
    graph_of(files, modules)
}

#[test]
fn the_scan_finds_every_spelling_of_an_import() {
    let graph = graph_from(&[
        (
            "a/mod.rs",
            "use crate::{b, c::X};\nfn f() { crate::d::g(); }",
        ),
        ("a/inner.rs", "use super::super::e::Y;\nuse super::sibling;"),
        ("b.rs", "use super::{f, g::Z};"),
        ("c.rs", "macro_rules! m { () => { $crate::d::h() } }"),
        ("d.rs", ""),
        ("e.rs", ""),
        ("f.rs", ""),
        ("g.rs", ""),
    ]);
    let targets = |m: &str| graph.targets(m).collect::<Vec<_>>();
    assert_eq!(targets("a"), ["b", "c", "d", "e"]);
    assert_eq!(targets("b"), ["f", "g"]);
    assert_eq!(targets("c"), ["d"]);
    assert_eq!(graph.sites("a", "e"), ["a/inner.rs:1"]);
}

#[test]
fn comments_strings_and_test_items_are_not_imports() {
    let graph = graph_from(&[
        (
            "state/mod.rs",
            "//! See [`crate::run`].\n/* crate::notify */\nconst S: &str = \"crate::updates\";\nconst R: &str = r#\"crate::plan\"#;\nfn f<'a>(x: &'a str) -> [char; 3] { ['c', '\\'', '\\n'] }\n#[cfg(test)]\nmod tests {\n    use crate::backup;\n}\n#[cfg(test)]\nuse crate::files;\nuse crate::archive;",
        ),
        ("run.rs", ""),
        ("notify.rs", ""),
        ("updates.rs", ""),
        ("plan.rs", ""),
        ("backup.rs", ""),
        ("files.rs", ""),
        ("archive.rs", ""),
    ]);
    assert_eq!(graph.targets("state").collect::<Vec<_>>(), ["archive"]);
    assert_eq!(graph.sites("state", "archive"), ["state/mod.rs:12"]);
}

#[test]
fn cycles_upward_imports_and_calls_into_ops_are_named() {
    let graph = graph_from(&[
        ("state/outbox.rs", "use crate::notify::Event;"),
        ("notify.rs", "use crate::state::Ledger;"),
        ("run.rs", "use crate::ops;"),
        ("ops.rs", "use crate::{run, state, notify};"),
    ]);
    let problems = violations(&graph).join("\n");
    assert!(
        problems.contains("import cycle among top-level modules:\n  {notify, state}: notify -> state (notify.rs:1) -> notify (state/outbox.rs:1)"),
        "{problems}"
    );
    assert!(
        problems.contains("state/ imports `notify` at state/outbox.rs:1"),
        "{problems}"
    );
    assert!(
        problems.contains("`run` imports `ops` at run.rs:1"),
        "{problems}"
    );
    assert!(!problems.contains("`ops` imports"), "{problems}");
}
