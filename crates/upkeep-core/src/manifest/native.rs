//! The native `upkeep.toml` format.
//!
//! ```toml
//! [upkeep]
//! entrypoint = "all_services"   # optional
//! python = "venv/bin/python"    # optional interpreter
//! timeout = "30m"               # default per-module timeout
//!
//! [[module]]
//! name = "gogs"
//! python = "gogs.index"         # or command = ["argv", ...], or script = "path", or none: a group
//! version = 2
//! depends_on = ["postgres"]
//! paths = { config = ["/etc/gogs"], data = ["{data}/gogs"] }   # or a plain list (data)
//! health = { command = ["curl", "-fsS", "http://127.0.0.1:3000/"], retries = 5, interval = "2s" }
//!                              # reload = "systemctl reload gogs" after a rollback's restore
//! rollback = true               # restore `paths` when the update or health check fails
//! source = { type = "git", url = "https://github.com/gogs/gogs.git", tag_pattern = "v{version}" }
//! policy = { range = "^0.13", ask_before_major = true }
//! run = "every-run"             # or "on-change" (the default here): when its code runs
//! runs_children = true          # its code runs its children; upkeep does not (default false)
//!
//! meta = { owner = "ops", ticket = "OPS-12" }   # free-form: yours, upkeep ignores it
//!
//! [defaults]                    # optional, for every module
//! run = "on-change"
//! rollback = true
//! health = { timeout = "30s", retries = 3, interval = "1s" }
//!
//! [meta]                        # free-form: yours, upkeep ignores it
//! maintainer = "ops@example.org"
//! ```
//!
//! Every other table is strict: an unknown key is an error (with "did you mean" when one is
//! close), so a typo never silently changes what runs. `meta`, at the top level and in each
//! module, is the one place for data of the user's own; it may hold any TOML.

use serde::Deserialize;

use super::diag::{Reporter, Span};
use super::sources::{POLICY_KEYS, RawPolicy, RawSource, SOURCE_KEYS};
use super::{PathCategory, RawHealth, RawKind, RawManifest, RawModule, Spanned, Spelling};
use crate::text::did_you_mean;

type TomlSpanned<T> = toml::Spanned<T>;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NativeFile {
    upkeep: Option<Settings>,
    defaults: Option<Defaults>,
    #[serde(default)]
    module: Vec<TomlSpanned<NativeModule>>,
    /// The user's own data; upkeep only checks that it is a table.
    #[expect(
        dead_code,
        reason = "read so that it is accepted; upkeep never uses it"
    )]
    meta: Option<toml::Table>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Settings {
    entrypoint: Option<TomlSpanned<String>>,
    python: Option<String>,
    timeout: Option<TomlSpanned<toml::Value>>,
    git_tags: Option<bool>,
    tag_format: Option<TomlSpanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Defaults {
    run: Option<TomlSpanned<String>>,
    rollback: Option<bool>,
    health: Option<TomlSpanned<Health>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Health {
    command: Option<TomlSpanned<toml::Value>>,
    timeout: Option<TomlSpanned<toml::Value>>,
    retries: Option<u32>,
    interval: Option<TomlSpanned<toml::Value>>,
    reload: Option<TomlSpanned<toml::Value>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NativeModule {
    name: TomlSpanned<String>,
    description: Option<String>,
    version: Option<TomlSpanned<toml::Value>>,
    enabled: Option<bool>,
    critical: Option<bool>,
    #[serde(default)]
    children: Vec<TomlSpanned<String>>,
    #[serde(default)]
    depends_on: Vec<TomlSpanned<String>>,
    timeout: Option<TomlSpanned<toml::Value>>,
    checksum: Option<TomlSpanned<String>>,
    dir: Option<TomlSpanned<String>>,
    python: Option<TomlSpanned<String>>,
    command: Option<TomlSpanned<Vec<String>>>,
    script: Option<TomlSpanned<String>>,
    #[serde(default)]
    args: Vec<toml::Value>,
    paths: Option<TomlSpanned<toml::Value>>,
    health: Option<TomlSpanned<Health>>,
    rollback: Option<bool>,
    files: Option<TomlSpanned<String>>,
    destination: Option<TomlSpanned<String>>,
    #[serde(default)]
    placeholders: std::collections::BTreeMap<TomlSpanned<String>, String>,
    source: Option<TomlSpanned<NativeSource>>,
    policy: Option<TomlSpanned<NativePolicy>>,
    run: Option<TomlSpanned<String>>,
    runs_children: Option<TomlSpanned<bool>>,
    /// The user's own data about the module; upkeep only checks that it is a table.
    #[expect(
        dead_code,
        reason = "read so that it is accepted; upkeep never uses it"
    )]
    meta: Option<toml::Table>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NativeSource {
    #[serde(rename = "type")]
    kind: Option<TomlSpanned<String>>,
    update_type: Option<TomlSpanned<String>>,
    timeout: Option<TomlSpanned<toml::Value>>,
    url: Option<TomlSpanned<String>>,
    tag_pattern: Option<TomlSpanned<String>>,
    command: Option<TomlSpanned<toml::Value>>,
    venv: Option<TomlSpanned<String>>,
    args: Option<TomlSpanned<Vec<String>>>,
    packages: Option<TomlSpanned<Vec<String>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NativePolicy {
    hold: Option<bool>,
    pin: Option<TomlSpanned<toml::Value>>,
    range: Option<TomlSpanned<String>>,
    channel: Option<TomlSpanned<String>>,
    ask_before_major: Option<bool>,
    ask_before_major_security: Option<TomlSpanned<bool>>,
}

const SECTIONS: &[&str] = &["upkeep", "defaults", "module", "meta"];
const SETTINGS_FIELDS: &[&str] = &["entrypoint", "python", "timeout", "git_tags", "tag_format"];
const HEALTH_FIELDS: &[&str] = &[
    "command", "timeout", "retries", "interval", "reload", "rollback", "health",
];
const MODULE_FIELDS: &[&str] = &[
    "name",
    "description",
    "version",
    "enabled",
    "critical",
    "children",
    "depends_on",
    "timeout",
    "checksum",
    "dir",
    "python",
    "command",
    "script",
    "args",
    "paths",
    "health",
    "rollback",
    "files",
    "destination",
    "placeholders",
    "source",
    "policy",
    "run",
    "runs_children",
    "meta",
];

fn span<T>(spanned: &TomlSpanned<T>) -> Span {
    let range = spanned.span();
    Span::new(range.start, range.end)
}

fn keep<T: Clone>(spanned: &TomlSpanned<T>) -> Spanned<T> {
    Spanned {
        value: spanned.get_ref().clone(),
        span: span(spanned),
    }
}

/// Parse `upkeep.toml` into raw modules, reporting syntax, type and unknown-field problems.
pub(crate) fn parse(source: &str, reporter: &mut Reporter<'_>) -> Option<RawManifest> {
    let file: NativeFile = match toml::from_str(source) {
        Ok(file) => file,
        Err(err) => {
            syntax_error(source, &err, reporter);
            return None;
        }
    };
    let mut raw = RawManifest {
        spelling: Spelling {
            depends_on: "depends_on",
            module: "python",
            tag_format: "tag_format",
            settings_prefix: "upkeep.",
            camel_case: false,
            default_run: "defaults.run",
            runs_children: "runs_children",
        },
        format: super::ManifestFormat::NativeToml,
        ..RawManifest::default()
    };
    if let Some(settings) = file.upkeep {
        raw.entrypoint = settings.entrypoint.as_ref().map(keep);
        raw.python = settings.python;
        raw.timeout = settings
            .timeout
            .as_ref()
            .and_then(|t| duration(t, "upkeep.timeout", reporter));
        raw.git_tags = settings.git_tags;
        raw.tag_format = settings.tag_format.as_ref().map(keep);
    }
    if let Some(defaults) = file.defaults {
        raw.default_run = defaults.run.as_ref().map(keep);
        raw.default_rollback = defaults.rollback;
        raw.default_health = defaults
            .health
            .as_ref()
            .map(|h| health(h, "defaults.health", reporter));
    }
    for (index, entry) in file.module.iter().enumerate() {
        raw.modules.push(module(entry, index, reporter));
    }
    Some(raw)
}

/// Report a TOML syntax, type or unknown-field error with the field path it is in.
fn syntax_error(source: &str, err: &toml::de::Error, reporter: &mut Reporter<'_>) {
    let at = err.span().map(|r| Span::new(r.start, r.end));
    let message = err.message().trim_end().to_owned();
    let hint = unknown_field_hint(&message);
    let mut field = at.and_then(|span| field_at(source, span.start));
    if let (Some(path), Some(missing)) = (&mut field, message.strip_prefix("missing field `"))
        && !path.contains('.')
    {
        path.push('.');
        path.push_str(missing.trim_end_matches('`'));
    }
    // In an inline table (`source = { ..., tag_patern = "x" }`) the line's key is the
    // table's; name the unknown key inside it.
    if let (Some(path), Some(unknown)) = (
        &mut field,
        message
            .strip_prefix("unknown field `")
            .and_then(|rest| rest.split('`').next()),
    ) && path
        .rsplit('.')
        .next()
        .is_some_and(|key| ["source", "policy", "health"].contains(&key))
    {
        path.push('.');
        path.push_str(unknown);
    }
    let message = match message.split_once(", expected one of") {
        Some((head, _)) if hint.is_some() => head.to_owned(),
        _ => message,
    };
    reporter.error(at, field, message, hint);
}

fn module(
    entry: &TomlSpanned<NativeModule>,
    index: usize,
    reporter: &mut Reporter<'_>,
) -> RawModule {
    let path = format!("module[{index}]");
    let m = entry.get_ref();
    let kind = kind(m, &path, reporter);
    RawModule {
        name: keep(&m.name),
        kind,
        args: m.args.iter().map(toml_to_json).collect(),
        version: m
            .version
            .as_ref()
            .and_then(|v| version(v, &format!("{path}.version"), reporter)),
        description: m.description.clone(),
        enabled: m.enabled.unwrap_or(true),
        critical: m.critical.unwrap_or(false),
        children: m.children.iter().map(keep).collect(),
        depends_on: m.depends_on.iter().map(keep).collect(),
        timeout: m
            .timeout
            .as_ref()
            .and_then(|t| duration(t, &format!("{path}.timeout"), reporter)),
        checksum: m.checksum.as_ref().map(keep),
        dir: m.dir.as_ref().map(keep),
        paths: m
            .paths
            .as_ref()
            .map(|p| paths(p, &format!("{path}.paths"), reporter))
            .unwrap_or_default(),
        health: m
            .health
            .as_ref()
            .map(|h| health(h, &format!("{path}.health"), reporter)),
        rollback: m.rollback,
        destination: m.destination.as_ref().map(keep),
        placeholders: m
            .placeholders
            .iter()
            .map(|(name, value)| (keep(name), value.clone()))
            .collect(),
        source: m
            .source
            .as_ref()
            .map(|s| source(s, &format!("{path}.source"), reporter)),
        policy: m
            .policy
            .as_ref()
            .map(|p| policy(p, &format!("{path}.policy"), reporter)),
        run: m.run.as_ref().map(keep),
        runs_children: m.runs_children.as_ref().map(keep),
        path,
    }
}

fn source(
    value: &TomlSpanned<NativeSource>,
    field: &str,
    reporter: &mut Reporter<'_>,
) -> RawSource {
    let s = value.get_ref();
    let mut present = Vec::new();
    let mut mark = |name: &'static str, at: Option<Span>| {
        if let Some(at) = at {
            present.push((name, at));
        }
    };
    mark("type", s.kind.as_ref().map(span));
    mark("update_type", s.update_type.as_ref().map(span));
    mark("timeout", s.timeout.as_ref().map(span));
    mark("url", s.url.as_ref().map(span));
    mark("tag_pattern", s.tag_pattern.as_ref().map(span));
    mark("command", s.command.as_ref().map(span));
    mark("venv", s.venv.as_ref().map(span));
    mark("args", s.args.as_ref().map(span));
    mark("packages", s.packages.as_ref().map(span));
    RawSource {
        span: span(value),
        present,
        kind: s.kind.as_ref().map(keep),
        url: s.url.as_ref().map(keep),
        command: s
            .command
            .as_ref()
            .and_then(|c| argv(c, &format!("{field}.command"), reporter)),
        tag_pattern: s.tag_pattern.as_ref().map(keep),
        update_type: s.update_type.as_ref().map(keep),
        timeout: s
            .timeout
            .as_ref()
            .and_then(|t| duration(t, &format!("{field}.timeout"), reporter)),
        venv: s.venv.as_ref().map(keep),
        args: s
            .args
            .as_ref()
            .map(|a| a.get_ref().clone())
            .unwrap_or_default(),
        packages: s
            .packages
            .as_ref()
            .map(|p| p.get_ref().clone())
            .unwrap_or_default(),
    }
}

fn policy(
    value: &TomlSpanned<NativePolicy>,
    field: &str,
    reporter: &mut Reporter<'_>,
) -> RawPolicy {
    let p = value.get_ref();
    RawPolicy {
        hold: p.hold,
        pin: p
            .pin
            .as_ref()
            .and_then(|v| version(v, &format!("{field}.pin"), reporter)),
        range: p.range.as_ref().map(keep),
        channel: p.channel.as_ref().map(keep),
        ask_before_major: p.ask_before_major,
        ask_before_major_security: p.ask_before_major_security.as_ref().map(keep),
    }
}

/// An argv array, or a string run through `sh -c`.
fn argv(
    value: &TomlSpanned<toml::Value>,
    field: &str,
    reporter: &mut Reporter<'_>,
) -> Option<Spanned<Vec<String>>> {
    let argv = match value.get_ref() {
        toml::Value::String(script) => Some(vec!["sh".to_owned(), "-c".to_owned(), script.clone()]),
        toml::Value::Array(items) => items
            .iter()
            .map(|i| i.as_str().map(str::to_owned))
            .collect(),
        _ => None,
    };
    let at = span(value);
    if argv.is_none() {
        let message = "expected an argv array of strings or a shell command string";
        reporter.error(Some(at), Some(field.to_owned()), message, None);
    }
    argv.map(|value| Spanned { value, span: at })
}

/// What the module runs: at most one of `python`, `command`, `script` and `files`.
fn kind(m: &NativeModule, path: &str, reporter: &mut Reporter<'_>) -> RawKind {
    let mut kinds = Vec::new();
    if let Some(python) = &m.python {
        kinds.push((span(python), RawKind::Python(keep(python))));
    }
    if let Some(command) = &m.command {
        kinds.push((span(command), RawKind::Command(keep(command))));
    }
    if let Some(script) = &m.script {
        kinds.push((span(script), RawKind::Script(keep(script))));
    }
    if let Some(files) = &m.files {
        kinds.push((span(files), RawKind::Files(keep(files))));
    }
    if kinds.len() > 1 {
        let message =
            "a module runs one thing: set only one of `python`, `command`, `script` and `files`";
        reporter.error(Some(kinds[1].0), Some(path.to_owned()), message, None);
    }
    kinds
        .into_iter()
        .next()
        .map_or(RawKind::Group, |(_, kind)| kind)
}

/// `paths` is a list of templates (data) or a table of lists by category.
fn paths(
    value: &TomlSpanned<toml::Value>,
    field: &str,
    reporter: &mut Reporter<'_>,
) -> Vec<(PathCategory, Spanned<String>)> {
    let at = span(value);
    let mut out = Vec::new();
    let mut list = |category, items: &toml::Value, field: &str, reporter: &mut Reporter<'_>| {
        let Some(items) = items.as_array() else {
            let message = format!("expected an array of paths, found {}", items.type_str());
            reporter.error(Some(at), Some(field.to_owned()), message, None);
            return;
        };
        for (i, item) in items.iter().enumerate() {
            if let Some(text) = item.as_str() {
                let value = text.to_owned();
                out.push((category, Spanned { value, span: at }));
            } else {
                let message = format!("expected a path string, found {}", item.type_str());
                reporter.error(Some(at), Some(format!("{field}[{i}]")), message, None);
            }
        }
    };
    match value.get_ref() {
        toml::Value::Table(table) => {
            for (key, items) in table {
                let sub = format!("{field}.{key}");
                if let Some(category) = PathCategory::from_name(key) {
                    list(category, items, &sub, reporter);
                } else {
                    let message = format!("unknown path category `{key}`");
                    let hint = Some("categories are `config`, `data` and `logs`".to_owned());
                    reporter.error(Some(at), Some(sub), message, hint);
                }
            }
        }
        items => list(PathCategory::Data, items, field, reporter),
    }
    out
}

fn health(value: &TomlSpanned<Health>, field: &str, reporter: &mut Reporter<'_>) -> RawHealth {
    let h = value.get_ref();
    let command = h
        .command
        .as_ref()
        .and_then(|c| argv(c, &format!("{field}.command"), reporter));
    RawHealth {
        span: span(value),
        command,
        timeout: h
            .timeout
            .as_ref()
            .and_then(|t| duration(t, &format!("{field}.timeout"), reporter)),
        retries: h.retries,
        interval: h
            .interval
            .as_ref()
            .and_then(|t| duration(t, &format!("{field}.interval"), reporter)),
        reload: h
            .reload
            .as_ref()
            .and_then(|c| argv(c, &format!("{field}.reload"), reporter)),
    }
}

fn version(
    value: &TomlSpanned<toml::Value>,
    field: &str,
    reporter: &mut Reporter<'_>,
) -> Option<Spanned<String>> {
    let expected = "a non-negative integer or a version string like \"1.2.3\"";
    count_or_text(value, field, "a version", expected, reporter)
}

fn duration(
    value: &TomlSpanned<toml::Value>,
    field: &str,
    reporter: &mut Reporter<'_>,
) -> Option<Spanned<String>> {
    let expected = "a duration such as \"10m\" or a number of seconds";
    count_or_text(value, field, "a timeout", expected, reporter)
}

/// A value written either as a non-negative integer or as a string, kept as text for the
/// format-independent checks in `validate`.
fn count_or_text(
    value: &TomlSpanned<toml::Value>,
    field: &str,
    what: &str,
    expected: &str,
    reporter: &mut Reporter<'_>,
) -> Option<Spanned<String>> {
    let message = match value.get_ref() {
        toml::Value::Integer(n) if *n >= 0 => {
            return Some(Spanned {
                value: n.to_string(),
                span: span(value),
            });
        }
        toml::Value::String(s) => {
            return Some(Spanned {
                value: s.clone(),
                span: span(value),
            });
        }
        toml::Value::Integer(n) => format!("{what} must not be negative, found {n}"),
        other => format!("expected {expected}, found {}", other.type_str()),
    };
    reporter.error(Some(span(value)), Some(field.to_owned()), message, None);
    None
}

/// The field path (`module[2].enabled`, `upkeep.timeout`) of the key written on the line
/// holding byte `offset`, worked out from the table headers above it. serde's errors
/// carry a span but no path, and a path is what a person searches the file for.
fn field_at(source: &str, offset: usize) -> Option<String> {
    let offset = offset.min(source.len());
    let line_end = source[offset..]
        .find('\n')
        .map_or(source.len(), |i| offset + i);
    let mut table: Option<String> = None;
    let mut modules = 0usize;
    for line in source[..line_end].lines() {
        let line = line.trim();
        if line.starts_with("[[module]]") {
            table = Some(format!("module[{modules}]"));
            modules += 1;
        } else if let Some(name) = line.strip_prefix('[').and_then(|l| l.split(']').next()) {
            table = Some(name.trim().to_owned());
        }
    }
    let line_start = source[..offset].rfind('\n').map_or(0, |i| i + 1);
    let line = source[line_start..].lines().next().unwrap_or("").trim();
    let key = line.split('=').next().map(str::trim).filter(|k| {
        line.contains('=')
            && !k.is_empty()
            && k.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    });
    match (table, key) {
        (Some(table), Some(key)) => Some(format!("{table}.{key}")),
        (Some(table), None) => Some(table),
        (None, key) => key.map(str::to_owned),
    }
}

/// serde reports "unknown field `x`, expected one of ..."; add the closest known name.
fn unknown_field_hint(message: &str) -> Option<String> {
    let rest = message.strip_prefix("unknown field `")?;
    let field = &rest[..rest.find('`')?];
    // A real field in the wrong table: say where it belongs rather than suggest itself.
    let homes: Vec<&str> = [
        ("`[upkeep]`", SETTINGS_FIELDS),
        ("`[[module]]`", MODULE_FIELDS),
        ("`[defaults]`", &["run"]),
        ("`health`", HEALTH_FIELDS),
        ("`source`", SOURCE_KEYS),
        ("`policy`", POLICY_KEYS),
    ]
    .iter()
    .filter(|(_, fields)| fields.contains(&field))
    .map(|(table, _)| *table)
    .collect();
    if !homes.is_empty() {
        return Some(format!(
            "`{field}` is a field of {}; move it into that table",
            homes.join(" or ")
        ));
    }
    let known = SECTIONS
        .iter()
        .chain(SETTINGS_FIELDS)
        .chain(MODULE_FIELDS)
        .chain(HEALTH_FIELDS)
        .chain(SOURCE_KEYS)
        .chain(POLICY_KEYS)
        .copied();
    Some(did_you_mean(field, known).map_or_else(
        || {
            "data of your own goes in a `meta` table (top level `[meta]`, or `meta = { ... }` in a module)"
                .to_owned()
        },
        |s| format!("did you mean `{s}`?"),
    ))
}

fn toml_to_json(value: &toml::Value) -> serde_json::Value {
    match value {
        toml::Value::String(s) => serde_json::Value::String(s.clone()),
        toml::Value::Integer(n) => serde_json::Value::from(*n),
        toml::Value::Float(f) => serde_json::Value::from(*f),
        toml::Value::Boolean(b) => serde_json::Value::Bool(*b),
        toml::Value::Datetime(d) => serde_json::Value::String(d.to_string()),
        toml::Value::Array(items) => items.iter().map(toml_to_json).collect(),
        toml::Value::Table(table) => serde_json::Value::Object(
            table
                .iter()
                .map(|(k, v)| (k.clone(), toml_to_json(v)))
                .collect(),
        ),
    }
}
