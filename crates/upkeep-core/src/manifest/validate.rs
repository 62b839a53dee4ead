//! Checks that cross manifest entries, and the step from raw modules to the model.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use super::diag::Reporter;
use super::health::{check_default_health, health_check};
use super::{
    GitTags, Manifest, ModuleKind, ModuleSpec, OwnedPath, RawKind, RawManifest, RawModule, Spanned,
    Spelling, rules, sources,
};
use crate::duration::parse_duration;
use crate::text::did_you_mean;
use crate::version::Version;

/// Validate raw modules and build the manifest. The caller fails the load whenever any
/// diagnostic was recorded, so a manifest built alongside diagnostics is never used.
pub(crate) fn validate(raw: RawManifest, root: &Path, reporter: &mut Reporter<'_>) -> Manifest {
    let names = check_names(&raw.modules, reporter);
    for module in &raw.modules {
        check_references(module, &names, &raw, reporter);
    }
    let prefix = raw.spelling.settings_prefix;
    if let Some(entry) = &raw.entrypoint {
        check_reference(
            entry,
            &format!("{prefix}entrypoint"),
            "entrypoint",
            &names,
            reporter,
        );
    }
    check_group_dependencies(&raw, &names, reporter);
    check_cycles(&raw, &names, reporter);
    check_default_health(raw.default_health.as_ref(), reporter);
    rules::check_default_run(&raw, reporter);
    let default_timeout = raw
        .timeout
        .as_ref()
        .and_then(|t| timeout(t, &format!("{prefix}timeout"), reporter));
    let modules = raw
        .modules
        .iter()
        .map(|m| build_module(m, root, &raw, reporter))
        .collect();
    let git_tags = GitTags {
        enabled: raw.git_tags.unwrap_or(true),
        format: raw.tag_format.as_ref().map_or_else(
            || GitTags::DEFAULT_FORMAT.to_owned(),
            |f| tag_format(f, &format!("{prefix}{}", raw.spelling.tag_format), reporter),
        ),
    };
    Manifest {
        path: PathBuf::new(),
        root: root.to_path_buf(),
        format: raw.format,
        entrypoint: raw.entrypoint.map(|e| e.value),
        python: raw.python,
        default_timeout,
        modules,
        git_tags,
        warnings: Vec::new(),
    }
}

fn tag_format(format: &Spanned<String>, field: &str, reporter: &mut Reporter<'_>) -> String {
    let rest = format
        .value
        .replace("{module}", "")
        .replace("{version}", "")
        .replace("{timestamp}", "");
    let bad = rest.contains(['{', '}'])
        || !format.value.contains("{version}")
        || format
            .value
            .contains(['~', '^', ':', '?', '*', '[', '\\', ' '])
        || format.value.contains("..");
    if bad {
        let hint = "use `{module}`, `{version}` and `{timestamp}`, e.g. \"{module}-v{version}-{timestamp}\"; git refuses spaces, `~^:?*[\\` and `..` in tag names";
        reporter.error(
            Some(format.span),
            Some(field.to_owned()),
            format!("bad tag format `{}`", format.value),
            Some(hint.into()),
        );
    }
    format.value.clone()
}

fn owned_paths(m: &RawModule, reporter: &mut Reporter<'_>) -> Vec<OwnedPath> {
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for (category, template) in &m.paths {
        let field = Some(format!("{}.paths", m.path));
        if let Err(err) = crate::placeholders::check(&template.value) {
            reporter.error(Some(template.span), field, err.to_string(), None);
        } else if !seen.insert(template.value.clone()) {
            let message = format!("path `{}` is listed twice", template.value);
            reporter.error(Some(template.span), field, message, Some("keep one".into()));
        } else {
            out.push(OwnedPath {
                category: *category,
                template: template.value.clone(),
            });
        }
    }
    out
}

fn valid_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    bytes.next().is_some_and(|b| b.is_ascii_alphanumeric())
        && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
        && !name.contains("..")
        && name.len() <= 128
}

fn check_names<'m>(
    modules: &'m [RawModule],
    reporter: &mut Reporter<'_>,
) -> HashMap<&'m str, usize> {
    let mut names: HashMap<&str, usize> = HashMap::new();
    for (index, module) in modules.iter().enumerate() {
        let name = module.name.value.as_str();
        let field = Some(format!("{}.name", module.path));
        if !valid_name(name) {
            let message = format!("invalid module name `{name}`");
            let hint = "names start with a letter or digit and use only letters, digits, `_`, `-` and `.` (no `..`, no `/`)";
            reporter.error(Some(module.name.span), field, message, Some(hint.into()));
            continue;
        }
        if let Some(&first) = names.get(name) {
            let first = &modules[first];
            let message = format!("duplicate module name `{name}`");
            let hint = format!(
                "`{name}` is already defined by `{}`; rename one of them",
                first.path
            );
            reporter.error(Some(module.name.span), field, message, Some(hint));
        } else {
            names.insert(name, index);
        }
    }
    names
}

fn check_references(
    module: &RawModule,
    names: &HashMap<&str, usize>,
    raw: &RawManifest,
    reporter: &mut Reporter<'_>,
) {
    for (i, child) in module.children.iter().enumerate() {
        let field = format!("{}.children[{i}]", module.path);
        check_reference(child, &field, "child", names, reporter);
        if child.value == module.name.value {
            reporter.error(
                Some(child.span),
                Some(field),
                format!("module `{}` lists itself as a child", child.value),
                None,
            );
        }
    }
    for (i, dep) in module.depends_on.iter().enumerate() {
        let field = format!("{}.{}[{i}]", module.path, raw.spelling.depends_on);
        check_reference(dep, &field, "dependency", names, reporter);
        if dep.value == module.name.value {
            reporter.error(
                Some(dep.span),
                Some(field),
                format!("module `{}` depends on itself", dep.value),
                None,
            );
        }
    }
}

fn check_reference(
    reference: &Spanned<String>,
    field: &str,
    what: &str,
    names: &HashMap<&str, usize>,
    reporter: &mut Reporter<'_>,
) {
    if names.contains_key(reference.value.as_str()) {
        return;
    }
    let hint = did_you_mean(&reference.value, names.keys().copied()).map_or_else(
        || "add a module with that name to the manifest, or remove the reference".to_owned(),
        |s| format!("did you mean `{s}`?"),
    );
    let message = format!(
        "unknown {what} `{}`: no module has that name",
        reference.value
    );
    reporter.error(
        Some(reference.span),
        Some(field.to_owned()),
        message,
        Some(hint),
    );
}

/// Every module below `index` through `children` (not `index` itself), by index; a children
/// cycle (reported by [`check_cycles`]) ends where it repeats.
fn descendants(raw: &RawManifest, names: &HashMap<&str, usize>, index: usize) -> Vec<usize> {
    let mut seen = HashSet::from([index]);
    let mut out = Vec::new();
    let mut stack = vec![index];
    while let Some(node) = stack.pop() {
        for child in &raw.modules[node].children {
            if let Some(&c) = names.get(child.value.as_str())
                && seen.insert(c)
            {
                out.push(c);
                stack.push(c);
            }
        }
    }
    out
}

/// A module that depends on a group waits for all of the group's children; one that
/// depends on a group it belongs to would wait for itself. Refuse that.
fn check_group_dependencies(
    raw: &RawManifest,
    names: &HashMap<&str, usize>,
    reporter: &mut Reporter<'_>,
) {
    for (index, module) in raw.modules.iter().enumerate() {
        for (i, dep) in module.depends_on.iter().enumerate() {
            let Some(&d) = names.get(dep.value.as_str()).filter(|&&d| d != index) else {
                continue;
            };
            if descendants(raw, names, d).contains(&index) {
                let field = format!("{}.{}[{i}]", module.path, raw.spelling.depends_on);
                let message = format!(
                    "module `{}` depends on `{}`, a group it belongs to",
                    module.name.value, dep.value
                );
                let hint = format!(
                    "depending on a group means running after all of its children, `{}` among them; remove `{}` from the dependencies (a child already runs after its parent)",
                    module.name.value, dep.value
                );
                reporter.error(Some(dep.span), Some(field), message, Some(hint));
            }
        }
    }
}

/// What must come before what, with the reference that says so, for [`check_cycles`].
type Edges<'r> = Vec<Vec<(usize, &'r Spanned<String>, String)>>;

fn order_edges<'r>(raw: &'r RawManifest, names: &HashMap<&str, usize>) -> Edges<'r> {
    // Self-references are reported by `check_references`; they are not cycles to print.
    let mut edges: Edges<'r> = vec![Vec::new(); raw.modules.len()];
    for (index, module) in raw.modules.iter().enumerate() {
        for (i, child) in module.children.iter().enumerate() {
            if let Some(&c) = names.get(child.value.as_str()).filter(|&&c| c != index) {
                edges[index].push((c, child, format!("{}.children[{i}]", module.path)));
            }
        }
        for (i, dep) in module.depends_on.iter().enumerate() {
            if let Some(&d) = names.get(dep.value.as_str()).filter(|&&d| d != index) {
                let below = descendants(raw, names, d);
                if below.contains(&index) {
                    // Reported by `check_group_dependencies`.
                    continue;
                }
                let field = format!("{}.{}[{i}]", module.path, raw.spelling.depends_on);
                // A dependency on one's own descendant is a cycle by itself: report that
                // one, not the longer ones through the dependency's children as well.
                let own_descendant = descendants(raw, names, index).contains(&d);
                let below = if own_descendant { Vec::new() } else { below };
                for before in std::iter::once(d).chain(below) {
                    edges[before].push((index, dep, field.clone()));
                }
            }
        }
    }
    edges
}

/// Edges run from what must come first to what comes after: parent to child, dependency
/// to dependent (and, for a dependency on a group, each of the group's descendants to the
/// dependent). A cycle means no order exists; print it whole.
fn check_cycles(raw: &RawManifest, names: &HashMap<&str, usize>, reporter: &mut Reporter<'_>) {
    let edges = order_edges(raw, names);
    let mut state = vec![0u8; raw.modules.len()]; // 0 unseen, 1 on the stack, 2 done
    let mut seen_cycles = HashSet::new();
    for origin in 0..raw.modules.len() {
        if state[origin] != 0 {
            continue;
        }
        state[origin] = 1;
        let mut stack: Vec<(usize, usize)> = vec![(origin, 0)];
        while let Some(&(node, next)) = stack.last() {
            let Some((target, reference, field)) = edges[node].get(next) else {
                state[node] = 2;
                stack.pop();
                continue;
            };
            if let Some(top) = stack.last_mut() {
                top.1 += 1;
            }
            let target = *target;
            match state[target] {
                0 => {
                    state[target] = 1;
                    stack.push((target, 0));
                }
                1 => {
                    let path: Vec<usize> = stack
                        .iter()
                        .map(|(n, _)| *n)
                        .skip_while(|n| *n != target)
                        .collect();
                    let mut key = path.clone();
                    key.sort_unstable();
                    if seen_cycles.insert(key) {
                        report_cycle(raw, &path, target, reference, field, reporter);
                    }
                }
                _ => {}
            }
        }
    }
}

fn report_cycle(
    raw: &RawManifest,
    path: &[usize],
    back_to: usize,
    reference: &Spanned<String>,
    field: &str,
    reporter: &mut Reporter<'_>,
) {
    let mut names: Vec<&str> = path
        .iter()
        .map(|&i| raw.modules[i].name.value.as_str())
        .collect();
    names.push(raw.modules[back_to].name.value.as_str());
    let kind = if field.contains(".children[") {
        "cycle"
    } else {
        "dependency cycle"
    };
    let message = format!("{kind}: {}", names.join(" -> "));
    let hint = "a module cannot (directly or through others) come before itself; remove one of the `children` or dependency links in the cycle";
    reporter.error(
        Some(reference.span),
        Some(field.to_owned()),
        message,
        Some(hint.into()),
    );
}

pub(super) fn timeout(
    value: &Spanned<String>,
    field: &str,
    reporter: &mut Reporter<'_>,
) -> Option<std::time::Duration> {
    match parse_duration(&value.value) {
        Ok(d) => Some(d),
        Err(message) => {
            reporter.error(Some(value.span), Some(field.to_owned()), message, None);
            None
        }
    }
}

fn build_module(
    m: &RawModule,
    root: &Path,
    raw: &RawManifest,
    reporter: &mut Reporter<'_>,
) -> ModuleSpec {
    let version = m
        .version
        .as_ref()
        .and_then(|v| match Version::parse(&v.value) {
            Ok(version) => Some(version),
            Err(message) => {
                let hint =
                    "use an integer (Plinth style, e.g. 3) or a semantic version (e.g. \"1.4.0\")";
                reporter.error(
                    Some(v.span),
                    Some(format!("{}.version", m.path)),
                    format!("bad version: {message}"),
                    Some(hint.into()),
                );
                None
            }
        });
    let checksum = m.checksum.as_ref().and_then(|c| {
        let ok = c.value.len() == 64 && c.value.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        if !ok {
            let hint = "a checksum is 64 lowercase hex digits; run `upkeep checksum --write` to fill it in";
            reporter.error(Some(c.span), Some(format!("{}.checksum", m.path)), "checksum is not a SHA-256 hex digest", Some(hint.into()));
        }
        ok.then(|| c.value.clone())
    });
    let (kind, code_dir) = resolve_kind(m, root, raw, reporter);
    let dir = match &m.dir {
        Some(dir) => checked_dir(dir, root, &format!("{}.dir", m.path), reporter),
        None => code_dir,
    };
    let dir = dir.filter(|dir| code_inside(m, dir, root, raw, reporter));
    let run = rules::run_rule(m, &kind, raw, root, reporter);
    let runs_children = rules::runs_children(m, &kind, dir.as_deref(), raw, root, reporter);
    ModuleSpec {
        name: m.name.value.clone(),
        kind,
        version,
        description: m.description.clone(),
        enabled: m.enabled,
        critical: m.critical,
        children: m.children.iter().map(|c| c.value.clone()).collect(),
        depends_on: m.depends_on.iter().map(|d| d.value.clone()).collect(),
        timeout: m
            .timeout
            .as_ref()
            .and_then(|t| timeout(t, &format!("{}.timeout", m.path), reporter)),
        dir,
        manifest_checksum: checksum,
        paths: owned_paths(m, reporter),
        health: health_check(m, raw, reporter),
        rollback: m.rollback.or(raw.default_rollback).unwrap_or(true),
        source: None,
        policy: super::Policy::default(),
        run,
        runs_children,
    }
    .with_updates(m, raw.spelling, reporter)
}

impl ModuleSpec {
    /// Check and set the module's update `source` and `policy`.
    fn with_updates(
        mut self,
        m: &RawModule,
        spelling: Spelling,
        reporter: &mut Reporter<'_>,
    ) -> Self {
        let mut at = sources::At {
            module: &m.path,
            spelling,
            reporter,
        };
        self.source = m.source.as_ref().and_then(|s| sources::source(s, &mut at));
        self.policy = sources::policy(m.policy.as_ref(), m.source.as_ref(), &mut at);
        self
    }
}

fn checked_dir(
    dir: &Spanned<String>,
    root: &Path,
    field: &str,
    reporter: &mut Reporter<'_>,
) -> Option<PathBuf> {
    let path = root.join(&dir.value);
    let holds_manifest = path
        .canonicalize()
        .ok()
        .zip(root.canonicalize().ok())
        .is_some_and(|(dir, root)| root.starts_with(dir));
    if holds_manifest {
        let message = format!("module folder `{}` contains the manifest", path.display());
        let hint = "upkeep writes lastApplied and checksums into the manifest, which would change the folder's checksum after every run; point `dir` at a subfolder";
        reporter.error(
            Some(dir.span),
            Some(field.to_owned()),
            message,
            Some(hint.into()),
        );
        None
    } else if path.is_dir() {
        Some(path)
    } else {
        let message = format!("module folder `{}` does not exist", path.display());
        reporter.error(
            Some(dir.span),
            Some(field.to_owned()),
            message,
            Some("create it, or fix the path (relative to the manifest)".into()),
        );
        None
    }
}

/// Whether the module's code folder `dir` is inside the updates directory `root` and not
/// a link to elsewhere: the checksum guards what it hashes, and `checksum --write` writes
/// into the folder, so code from outside (`dir = "../../etc"`, `script = "../x"`, a linked
/// folder) is refused, reported at the field that names it.
fn code_inside(
    m: &RawModule,
    dir: &Path,
    root: &Path,
    raw: &RawManifest,
    reporter: &mut Reporter<'_>,
) -> bool {
    let linked = fs_err::symlink_metadata(dir).is_ok_and(|meta| meta.file_type().is_symlink());
    let outside = match (dir.canonicalize(), root.canonicalize()) {
        (Ok(dir), Ok(root)) => !dir.starts_with(&root),
        _ => false,
    };
    if !linked && !outside {
        return true;
    }
    let (span, field) = match (&m.dir, &m.kind) {
        (Some(d), _) => (d.span, format!("{}.dir", m.path)),
        (None, RawKind::Script(script)) => (script.span, format!("{}.script", m.path)),
        _ => (m.name.span, format!("{}.{}", m.path, raw.spelling.module)),
    };
    let message = if linked {
        format!("module folder `{}` is a symbolic link", dir.display())
    } else {
        format!(
            "module code `{}` lies outside the updates directory `{}`",
            dir.display(),
            root.display()
        )
    };
    let hint = "keep each module's code in a folder of its own inside the manifest's directory; upkeep hashes and approves only what lives there";
    reporter.error(Some(span), Some(field), message, Some(hint.into()));
    false
}

/// Work out what the module runs and which folder guards its code.
fn resolve_kind(
    m: &RawModule,
    root: &Path,
    raw: &RawManifest,
    reporter: &mut Reporter<'_>,
) -> (ModuleKind, Option<PathBuf>) {
    let field = format!("{}.{}", m.path, raw.spelling.module);
    match &m.kind {
        RawKind::Group => (ModuleKind::Group, None),
        RawKind::Implicit => {
            let name = &m.name.value;
            if root.join(name).join("index.py").is_file() {
                let module = format!("{name}.index");
                (
                    ModuleKind::Python {
                        module,
                        args: m.args.clone(),
                    },
                    Some(root.join(name)),
                )
            } else if !m.children.is_empty() {
                (ModuleKind::Group, None)
            } else {
                let message = format!(
                    "module `{name}` has no code: `{}` does not exist",
                    root.join(name).join("index.py").display()
                );
                let hint = format!(
                    "create `{name}/index.py` with a `main(args)` function, set \"module\" to its dotted path, or set \"module\": \"\" to make it a group"
                );
                reporter.error(Some(m.name.span), Some(field), message, Some(hint));
                (ModuleKind::Group, None)
            }
        }
        RawKind::Python(module) => python_kind(module, m, root, &field, reporter),
        RawKind::Command(argv) => {
            if argv.value.first().is_none_or(String::is_empty) {
                reporter.error(Some(argv.span), Some(format!("{}.command", m.path)), "command is empty", Some("give the program and its arguments, e.g. [\"apt-get\", \"upgrade\", \"-y\"]".into()));
            }
            let mut argv = argv.value.clone();
            argv.extend(m.args.iter().map(arg_text));
            (ModuleKind::Command { argv }, None)
        }
        RawKind::Files(dir) => (files_kind(dir, m, root, reporter), None),
        RawKind::Script(script) => {
            let path = root.join(&script.value);
            if !path.is_file() {
                let message = format!("script `{}` does not exist", path.display());
                reporter.error(
                    Some(script.span),
                    Some(format!("{}.script", m.path)),
                    message,
                    Some("the path is relative to the manifest's directory".into()),
                );
            }
            let mut argv = vec![path.to_string_lossy().into_owned()];
            argv.extend(m.args.iter().map(arg_text));
            let dir = path.parent().filter(|p| *p != root).map(Path::to_path_buf);
            (ModuleKind::Command { argv }, dir)
        }
    }
}

fn files_kind(
    dir: &Spanned<String>,
    m: &RawModule,
    root: &Path,
    reporter: &mut Reporter<'_>,
) -> ModuleKind {
    let path = root.join(&dir.value);
    if !path.is_dir() {
        let message = format!("deployment folder `{}` does not exist", path.display());
        let hint =
            "it holds the `ae_updater_*` folders and scripts; the path is relative to the manifest";
        reporter.error(
            Some(dir.span),
            Some(format!("{}.files", m.path)),
            message,
            Some(hint.into()),
        );
    }
    let mut placeholders = std::collections::BTreeMap::new();
    for (name, value) in &m.placeholders {
        let ok = !name.value.is_empty()
            && name
                .value
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if !ok || !value.starts_with('/') || value.contains(['\0', '\n']) {
            let message = format!(
                "placeholder `{}` = `{value}` is not a name and an absolute path",
                name.value
            );
            let hint = "names are letters, digits and `_`; values are absolute paths";
            reporter.error(
                Some(name.span),
                Some(format!("{}.placeholders", m.path)),
                message,
                Some(hint.into()),
            );
        }
        placeholders.insert(name.value.clone(), PathBuf::from(value));
    }
    ModuleKind::Files {
        root: path,
        destination: m.destination.as_ref().map(|d| d.value.clone()),
        placeholders,
    }
}

fn python_kind(
    module: &Spanned<String>,
    m: &RawModule,
    root: &Path,
    field: &str,
    reporter: &mut Reporter<'_>,
) -> (ModuleKind, Option<PathBuf>) {
    let dotted = match module.value.strip_suffix(".py") {
        Some(path) => path.replace('/', "."),
        None => module.value.clone(),
    };
    let parts: Vec<&str> = dotted.split('.').collect();
    if parts.iter().any(|p| !is_identifier(p)) {
        let message = format!("`{}` is not a Python module path", module.value);
        let hint =
            "use a dotted path like \"adblock.index\" or a file path like \"adblock/index.py\"";
        reporter.error(
            Some(module.span),
            Some(field.to_owned()),
            message,
            Some(hint.into()),
        );
        return (ModuleKind::Group, None);
    }
    let file = parts
        .iter()
        .fold(root.to_path_buf(), |p, part| p.join(part));
    if !file.with_extension("py").is_file() && !file.join("__init__.py").is_file() {
        let message = format!(
            "Python module `{dotted}` not found: neither `{}` nor `{}` exists",
            file.with_extension("py").display(),
            file.join("__init__.py").display()
        );
        let hint = format!(
            "module paths are relative to the manifest's directory `{}`",
            root.display()
        );
        reporter.error(
            Some(module.span),
            Some(field.to_owned()),
            message,
            Some(hint),
        );
        return (ModuleKind::Group, None);
    }
    let top = root.join(parts[0]);
    let dir = top.is_dir().then_some(top);
    (
        ModuleKind::Python {
            module: dotted,
            args: m.args.clone(),
        },
        dir,
    )
}

fn is_identifier(part: &str) -> bool {
    let mut chars = part.chars();
    chars.next().is_some_and(|c| c.is_alphabetic() || c == '_')
        && chars.all(|c| c.is_alphanumeric() || c == '_')
}

fn arg_text(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}
