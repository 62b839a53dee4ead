//! A module's `source` and `policy` fields (see `updates`): their raw form, which
//! both format parsers fill in, and the checks that turn them into a [`Source`] and a
//! [`Policy`], every problem a located diagnostic. The types themselves live here, with
//! the manifest that declares them, so that `updates` (which acts on them) sits above the
//! manifest rather than beside it.

use super::diag::{Reporter, Span};
use crate::text::did_you_mean;
use std::time::Duration;

use super::{Spanned, Spelling};
use crate::duration::parse_duration;
use crate::version::parse_semver;

/// The kind of update, as `upkeep check --type` and schedules select them (the seed's
/// `bot`, `packages`, `config` and `dependencies`; `app` is its `bot`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UpdateType {
    /// The software a module installs (command, git and http sources by default).
    App,
    /// Python packages (pip sources).
    Packages,
    /// Configuration templates.
    Config,
    /// System packages and other dependencies (apt sources).
    Dependencies,
}

impl UpdateType {
    /// Every type, in the order reports list them.
    pub const ALL: [UpdateType; 4] = [
        UpdateType::App,
        UpdateType::Packages,
        UpdateType::Config,
        UpdateType::Dependencies,
    ];

    /// The name manifests and the command line use.
    pub fn name(self) -> &'static str {
        match self {
            UpdateType::App => "app",
            UpdateType::Packages => "packages",
            UpdateType::Config => "config",
            UpdateType::Dependencies => "dependencies",
        }
    }

    /// The type called `name`.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.name() == name)
    }
}

/// Where a module's updates come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceKind {
    /// A program printing the available version: one line of plain text, or a JSON
    /// object with the fields of `updates::Release` (and optionally `current`), or a JSON list of
    /// such objects.
    Command {
        /// Program and arguments.
        argv: Vec<String>,
    },
    /// Tags of a git repository (URL or local path), read with `git ls-remote --tags`.
    Git {
        /// Repository URL, or a path relative to the manifest directory.
        url: String,
        /// The tag name with `{version}` where the version is, e.g. `v{version}` (default)
        /// or `gogs-{version}`; tags that do not match, or whose version is not semver, are
        /// ignored. The default pattern also takes bare versions (`1.2.3` as well as
        /// `v1.2.3`): many projects tag without the `v`, and nobody chose the default.
        tag_pattern: String,
    },
    /// A JSON release feed over HTTP(S): a list of releases, an object with a `releases`
    /// list, or one release object. Field names follow `updates::Release`; `tag_name`, `body`,
    /// `published_at`, `prerelease` (GitHub's) are accepted as well.
    Http {
        /// Feed URL.
        url: String,
    },
    /// Outdated packages in a virtualenv.
    Pip {
        /// The virtualenv (relative to the manifest directory); default: the module's
        /// folder's `venv/`, else the updates directory's `venv/`.
        venv: Option<String>,
        /// Extra arguments for `pip list --outdated` (e.g. `--index-url`, `--find-links`).
        args: Vec<String>,
    },
    /// Upgradable Debian packages (`apt list --upgradable`), restricted to `packages` when
    /// given.
    Apt {
        /// Only these packages; empty: every upgradable package.
        packages: Vec<String>,
    },
}

impl SourceKind {
    /// Every kind's name, as manifests spell them.
    pub const NAMES: [&'static str; 5] = ["command", "git", "http", "pip", "apt"];

    /// The default git tag pattern.
    pub const DEFAULT_TAG_PATTERN: &'static str = "v{version}";

    /// The kind's name as manifests spell it.
    pub fn name(&self) -> &'static str {
        match self {
            SourceKind::Command { .. } => "command",
            SourceKind::Git { .. } => "git",
            SourceKind::Http { .. } => "http",
            SourceKind::Pip { .. } => "pip",
            SourceKind::Apt { .. } => "apt",
        }
    }

    /// Whether the source lists packages rather than releases of one thing.
    pub fn lists_packages(&self) -> bool {
        matches!(self, SourceKind::Pip { .. } | SourceKind::Apt { .. })
    }

    /// The update type a source of this kind has unless the manifest says otherwise.
    pub fn default_type(&self) -> UpdateType {
        match self {
            SourceKind::Pip { .. } => UpdateType::Packages,
            SourceKind::Apt { .. } => UpdateType::Dependencies,
            _ => UpdateType::App,
        }
    }
}

/// A module's update source as the manifest declares it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    /// Where to look.
    pub kind: SourceKind,
    /// What kind of update it finds.
    pub update_type: UpdateType,
    /// How long one check may take.
    pub timeout: Duration,
}

impl Source {
    /// Check timeout when the manifest sets none.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
}

/// Which pre-releases count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    /// Releases only; versions with a pre-release part (`2.0.0-rc.1`) are ignored.
    #[default]
    Stable,
    /// Pre-releases too.
    Prerelease,
}

/// What a module's updates may move it to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// Hold every update.
    pub hold: bool,
    /// Be on exactly this version.
    pub pin: Option<semver::Version>,
    /// Only versions matching this requirement.
    pub range: Option<semver::VersionReq>,
    /// Whether pre-releases count.
    pub channel: Channel,
    /// Hold major and breaking updates unless the run allows them.
    pub ask_before_major: bool,
    /// Package sources: hold a package's security update under `ask_before_major` too
    /// when it is major. Off by default: a security update is never held as major unless
    /// the user asks for it.
    pub ask_before_major_security: bool,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            hold: false,
            pin: None,
            range: None,
            channel: Channel::Stable,
            ask_before_major: true,
            ask_before_major_security: false,
        }
    }
}

/// `source` fields by their snake case name, with the source types each applies to
/// (empty: every type).
const SOURCE_FIELDS: &[(&str, &[&str])] = &[
    ("type", &[]),
    ("update_type", &[]),
    ("timeout", &[]),
    ("url", &["git", "http"]),
    ("tag_pattern", &["git"]),
    ("command", &["command"]),
    ("venv", &["pip"]),
    ("args", &["pip"]),
    ("packages", &["apt"]),
];

/// `source` field names as `upkeep.toml` spells them.
pub(crate) const SOURCE_KEYS: &[&str] = &[
    "type",
    "update_type",
    "timeout",
    "url",
    "tag_pattern",
    "command",
    "venv",
    "args",
    "packages",
];

/// `policy` field names as `upkeep.toml` spells them.
pub(crate) const POLICY_KEYS: &[&str] = &[
    "hold",
    "pin",
    "range",
    "channel",
    "ask_before_major",
    "ask_before_major_security",
];

/// The camel case spelling of a snake case field name (`tag_pattern` → `tagPattern`).
pub(crate) fn camel(snake: &str) -> String {
    let mut out = String::with_capacity(snake.len());
    let mut upper = false;
    for c in snake.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.push(c.to_ascii_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// `source` field names as `manifest.json` spells them.
pub(crate) const SOURCE_KEYS_CAMEL: &[&str] = &[
    "type",
    "updateType",
    "timeout",
    "url",
    "tagPattern",
    "command",
    "venv",
    "args",
    "packages",
];

/// `policy` field names as `manifest.json` spells them.
pub(crate) const POLICY_KEYS_CAMEL: &[&str] = &[
    "hold",
    "pin",
    "range",
    "channel",
    "askBeforeMajor",
    "askBeforeMajorSecurity",
];

/// The snake case name of the `source` or `policy` field `manifest.json` calls `key`.
pub(crate) fn snake(key: &str) -> Option<&'static str> {
    SOURCE_KEYS
        .iter()
        .chain(POLICY_KEYS)
        .copied()
        .find(|k| camel(k) == key)
}

/// A `source` as written.
#[derive(Debug, Clone, Default)]
pub(crate) struct RawSource {
    /// Where the whole value is.
    pub(crate) span: Span,
    /// Every field written (snake case name) and where its value is.
    pub(crate) present: Vec<(&'static str, Span)>,
    pub(crate) kind: Option<Spanned<String>>,
    pub(crate) url: Option<Spanned<String>>,
    pub(crate) command: Option<Spanned<Vec<String>>>,
    pub(crate) tag_pattern: Option<Spanned<String>>,
    pub(crate) update_type: Option<Spanned<String>>,
    pub(crate) timeout: Option<Spanned<String>>,
    pub(crate) venv: Option<Spanned<String>>,
    pub(crate) args: Vec<String>,
    pub(crate) packages: Vec<String>,
}

/// A `policy` as written.
#[derive(Debug, Clone, Default)]
pub(crate) struct RawPolicy {
    pub(crate) hold: Option<bool>,
    pub(crate) pin: Option<Spanned<String>>,
    pub(crate) range: Option<Spanned<String>>,
    pub(crate) channel: Option<Spanned<String>>,
    pub(crate) ask_before_major: Option<bool>,
    /// With where it was written: it applies to package sources only.
    pub(crate) ask_before_major_security: Option<Spanned<bool>>,
}

/// Where diagnostics about one module's `source` and `policy` go.
pub(crate) struct At<'s, 'r, 'a> {
    /// The module's field path, e.g. `module[2]`.
    pub(crate) module: &'s str,
    pub(crate) spelling: Spelling,
    pub(crate) reporter: &'r mut Reporter<'a>,
}

impl At<'_, '_, '_> {
    fn field(&self, table: &str, snake: &str) -> String {
        let key = if self.spelling.camel_case {
            camel(snake)
        } else {
            snake.to_owned()
        };
        format!("{}.{table}.{key}", self.module)
    }

    fn error(&mut self, span: Span, field: String, message: String, hint: Option<String>) {
        self.reporter.error(Some(span), Some(field), message, hint);
    }
}

/// Check a `source` and build it; `None` (with diagnostics) when it is unusable.
pub(crate) fn source(raw: &RawSource, at: &mut At<'_, '_, '_>) -> Option<Source> {
    let kind_name = source_type(raw, at)?;
    let mut ok = fields_apply(raw, kind_name, at);
    let kind = match kind_name {
        "command" => command_kind(raw, at),
        "git" => git_kind(raw, at),
        "http" => http_kind(raw, at),
        "pip" => Some(SourceKind::Pip {
            venv: raw.venv.as_ref().map(|v| v.value.clone()),
            args: raw.args.clone(),
        }),
        _ => Some(SourceKind::Apt {
            packages: raw.packages.clone(),
        }),
    };
    let update_type = match &raw.update_type {
        Some(written) => {
            let parsed = UpdateType::from_name(&written.value);
            if parsed.is_none() {
                let names = UpdateType::ALL.map(UpdateType::name);
                let hint = Some(suggestion(&written.value, &names, "update types"));
                let message = format!("unknown update type `{}`", written.value);
                at.error(
                    written.span,
                    at.field("source", "update_type"),
                    message,
                    hint,
                );
            }
            parsed
        }
        None => kind.as_ref().map(SourceKind::default_type),
    };
    let timeout = raw
        .timeout
        .as_ref()
        .map_or(Some(Source::DEFAULT_TIMEOUT), |t| {
            let parsed = parse_duration(&t.value).and_then(|d| {
                if d.is_zero() {
                    Err("a check timeout of 0 would fail every check".to_owned())
                } else {
                    Ok(d)
                }
            });
            parsed
                .map_err(|message| at.error(t.span, at.field("source", "timeout"), message, None))
                .ok()
        });
    ok &= update_type.is_some() && timeout.is_some();
    Some(Source {
        kind: kind?,
        update_type: update_type?,
        timeout: timeout?,
    })
    .filter(|_| ok)
}

/// The source's `type`, if it is written and known.
fn source_type(raw: &RawSource, at: &mut At<'_, '_, '_>) -> Option<&'static str> {
    let names = SourceKind::NAMES;
    let Some(kind) = &raw.kind else {
        let field = format!("{}.source", at.module);
        let hint = format!("add `type`: one of {}", names.join(", "));
        at.error(
            raw.span,
            field,
            "source without a `type`".into(),
            Some(hint),
        );
        return None;
    };
    let found = names.iter().copied().find(|n| *n == kind.value);
    if found.is_none() {
        let hint = Some(suggestion(&kind.value, &names, "source types"));
        let message = format!("unknown source type `{}`", kind.value);
        at.error(kind.span, at.field("source", "type"), message, hint);
    }
    found
}

/// Report fields written for another type of source (`url` on a `pip` source).
fn fields_apply(raw: &RawSource, kind: &str, at: &mut At<'_, '_, '_>) -> bool {
    let mut ok = true;
    for (name, span) in &raw.present {
        let Some((_, types)) = SOURCE_FIELDS.iter().find(|(n, _)| n == name) else {
            continue;
        };
        if types.is_empty() || types.contains(&kind) {
            continue;
        }
        let own: Vec<String> = SOURCE_FIELDS
            .iter()
            .filter(|(_, t)| t.contains(&kind))
            .map(|(n, _)| format!("`{}`", spelled(n, at.spelling)))
            .collect();
        let hint = if own.is_empty() {
            format!(
                "{} `{kind}` source takes only `type`, `update_type` and `timeout`",
                article(kind)
            )
        } else {
            format!("{} `{kind}` source takes {}", article(kind), own.join(", "))
        };
        let field_name = spelled(name, at.spelling);
        let message = format!(
            "`{field_name}` does not apply to {} `{kind}` source",
            article(kind)
        );
        at.error(*span, at.field("source", name), message, Some(hint));
        ok = false;
    }
    ok
}

/// "a `git` source", "an `apt` source".
fn article(kind: &str) -> &'static str {
    if matches!(kind, "apt" | "http") {
        "an"
    } else {
        "a"
    }
}

fn spelled(snake: &str, spelling: Spelling) -> String {
    if spelling.camel_case {
        camel(snake)
    } else {
        snake.to_owned()
    }
}

fn command_kind(raw: &RawSource, at: &mut At<'_, '_, '_>) -> Option<SourceKind> {
    let Some(command) = &raw.command else {
        let hint = "add `command`, an argv list such as [\"./latest-version.sh\"] or a shell command string";
        let field = format!("{}.source", at.module);
        let message = "a `command` source needs a `command`".to_owned();
        at.error(raw.span, field, message, Some(hint.into()));
        return None;
    };
    if command.value.first().is_none_or(String::is_empty) {
        let field = at.field("source", "command");
        at.error(command.span, field, "empty source command".into(), None);
        return None;
    }
    Some(SourceKind::Command {
        argv: command.value.clone(),
    })
}

/// The `url` of a git or http source, which both need.
fn url<'r>(raw: &'r RawSource, kind: &str, at: &mut At<'_, '_, '_>) -> Option<&'r Spanned<String>> {
    let Some(url) = &raw.url else {
        let example = if kind == "git" {
            "\"https://github.com/gogs/gogs.git\""
        } else {
            "\"https://api.github.com/repos/gogs/gogs/releases\""
        };
        let field = format!("{}.source", at.module);
        let message = format!("{} `{kind}` source needs a `url`", article(kind));
        at.error(
            raw.span,
            field,
            message,
            Some(format!("add url = {example}")),
        );
        return None;
    };
    let bad = if url.value.trim().is_empty() {
        Some("empty source url".to_owned())
    } else if url.value.starts_with('-') {
        Some(format!("source url `{}` starts with `-`", url.value))
    } else if url.value.contains(['\n', '\0']) {
        Some("source url holds a newline or NUL".to_owned())
    } else {
        None
    };
    if let Some(message) = bad {
        at.error(url.span, at.field("source", "url"), message, None);
        return None;
    }
    Some(url)
}

fn git_kind(raw: &RawSource, at: &mut At<'_, '_, '_>) -> Option<SourceKind> {
    let url = url(raw, "git", at);
    let pattern = match &raw.tag_pattern {
        Some(pattern) => {
            let ok = pattern.value.matches("{version}").count() == 1
                && !pattern.value.replace("{version}", "").contains(['{', '}']);
            if !ok {
                let message = format!(
                    "tag pattern `{}` must hold `{{version}}` once and no other braces",
                    pattern.value
                );
                let hint = "write where the version is in the tag name, e.g. \"v{version}\" or \"gogs-{version}\"";
                let field = at.field("source", "tag_pattern");
                at.error(pattern.span, field, message, Some(hint.into()));
                return None;
            }
            pattern.value.clone()
        }
        None => SourceKind::DEFAULT_TAG_PATTERN.to_owned(),
    };
    Some(SourceKind::Git {
        url: url?.value.clone(),
        tag_pattern: pattern,
    })
}

fn http_kind(raw: &RawSource, at: &mut At<'_, '_, '_>) -> Option<SourceKind> {
    let url = url(raw, "http", at)?;
    if !(url.value.starts_with("http://") || url.value.starts_with("https://")) {
        let message = format!(
            "`{}` is not an http:// or https:// URL",
            crate::text::redact(&url.value)
        );
        let field = at.field("source", "url");
        at.error(url.span, field, message, None);
        return None;
    }
    Some(SourceKind::Http {
        url: url.value.clone(),
    })
}

/// Check a `policy` against the module's source and build it.
pub(crate) fn policy(
    raw: Option<&RawPolicy>,
    source: Option<&RawSource>,
    at: &mut At<'_, '_, '_>,
) -> Policy {
    let Some(raw) = raw else {
        return Policy::default();
    };
    let lists_packages = source
        .and_then(|s| s.kind.as_ref())
        .map(|k| k.value.as_str())
        .filter(|k| matches!(*k, "pip" | "apt"));
    fields_fit_the_source(raw, lists_packages, at);
    let pin = raw.pin.as_ref().and_then(|pin| {
        let parsed = parse_semver(&pin.value);
        if parsed.is_none() {
            let message = format!("bad pin `{}`: not a version", pin.value);
            let hint = "pin a version such as \"1.2.3\"".to_owned();
            at.error(pin.span, at.field("policy", "pin"), message, Some(hint));
        }
        parsed
    });
    let range = raw
        .range
        .as_ref()
        .and_then(|range| range_of(range, raw, at));
    let channel = raw
        .channel
        .as_ref()
        .map_or(Channel::Stable, |c| match c.value.as_str() {
            "stable" => Channel::Stable,
            "prerelease" => Channel::Prerelease,
            other => {
                let hint = Some(suggestion(other, &["stable", "prerelease"], "channels"));
                let message = format!("unknown channel `{other}`");
                at.error(c.span, at.field("policy", "channel"), message, hint);
                Channel::Stable
            }
        });
    Policy {
        hold: raw.hold.unwrap_or(false),
        pin,
        range,
        channel,
        ask_before_major: raw.ask_before_major.unwrap_or(true),
        ask_before_major_security: raw
            .ask_before_major_security
            .as_ref()
            .is_some_and(|s| s.value),
    }
}

/// `pin` and `range` name releases of one thing, so a package source refuses them;
/// `ask_before_major_security` is about packages, so a release source refuses it.
fn fields_fit_the_source(raw: &RawPolicy, lists_packages: Option<&str>, at: &mut At<'_, '_, '_>) {
    for (name, written) in [("pin", &raw.pin), ("range", &raw.range)] {
        if let (Some(kind), Some(written)) = (lists_packages, written) {
            let message = format!(
                "`{name}` does not apply to {} `{kind}` source: it lists packages, not releases of one thing",
                article(kind)
            );
            let hint = format!(
                "use `hold` or `{}` to hold package updates",
                spelled("ask_before_major", at.spelling)
            );
            at.error(written.span, at.field("policy", name), message, Some(hint));
        }
    }
    if let (None, Some(written)) = (lists_packages, &raw.ask_before_major_security) {
        let key = spelled("ask_before_major_security", at.spelling);
        let message = format!(
            "`{key}` applies to package sources (pip, apt) only: a release source's major security release is held like any major one"
        );
        let hint = format!(
            "remove it, or set `{}` = false to take major releases without asking",
            spelled("ask_before_major", at.spelling)
        );
        at.error(
            written.span,
            at.field("policy", "ask_before_major_security"),
            message,
            Some(hint),
        );
    }
}

fn range_of(
    range: &Spanned<String>,
    raw: &RawPolicy,
    at: &mut At<'_, '_, '_>,
) -> Option<semver::VersionReq> {
    if raw.pin.is_some() {
        let message = "set `pin` or `range`, not both".to_owned();
        let hint = "a pin names the one version to be on; a range the versions allowed".to_owned();
        at.error(range.span, at.field("policy", "range"), message, Some(hint));
        return None;
    }
    match semver::VersionReq::parse(&range.value) {
        Ok(req) => Some(req),
        Err(err) => {
            let message = format!("bad semver range `{}`: {err}", range.value);
            let hint = "e.g. \"^1.4\", \"~1.2\" or \">=2, <3\"".to_owned();
            at.error(range.span, at.field("policy", "range"), message, Some(hint));
            None
        }
    }
}

/// "did you mean `x`?", else the list of what is allowed.
fn suggestion(written: &str, known: &[&str], what: &str) -> String {
    did_you_mean(written, known.iter().copied()).map_or_else(
        || format!("{what} are {}", known.join(", ")),
        |s| format!("did you mean `{s}`?"),
    )
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::time::Duration;

    use super::*;
    use crate::manifest::{ManifestError, parse};

    const TOML: &str = include_str!("../../../../examples/sources/upkeep.toml");
    const JSON: &str = include_str!("../../../../examples/sources/manifest.json");

    #[test]
    fn both_example_formats_give_the_same_sources_and_policies() {
        let toml = parse(Path::new("/none/upkeep.toml"), TOML).unwrap();
        let json = parse(Path::new("/none/manifest.json"), JSON).unwrap();
        assert_eq!(toml.modules.len(), json.modules.len());
        for (t, j) in toml.modules.iter().zip(&json.modules) {
            assert_eq!((&t.name, &t.source), (&j.name, &j.source));
            assert_eq!(t.policy, j.policy, "{}", t.name);
        }
        assert!(
            toml.module("system")
                .unwrap()
                .policy
                .ask_before_major_security
        );
        let gogs = toml.module("gogs").unwrap();
        assert_eq!(
            gogs.source,
            Some(Source {
                kind: SourceKind::Git {
                    url: "https://github.com/gogs/gogs.git".into(),
                    tag_pattern: "v{version}".into(),
                },
                update_type: UpdateType::App,
                timeout: Duration::from_secs(30),
            })
        );
        assert_eq!(
            gogs.policy.range,
            Some(semver::VersionReq::parse("^0.13").unwrap())
        );
        let tools = toml.module("tools").unwrap();
        assert_eq!(
            tools.source.as_ref().unwrap().update_type,
            UpdateType::Packages
        );
        assert!(tools.policy.hold);
        assert!(toml.modules.iter().any(|m| m.source.is_none()));
    }

    fn problems(path: &str, text: &str) -> Vec<String> {
        match parse(Path::new(path), text) {
            Ok(_) => Vec::new(),
            Err(ManifestError::Invalid { diagnostics, .. }) => diagnostics
                .iter()
                .map(|d| format!("{}:{} {} | {:?}", d.line, d.column, d.message, d.hint))
                .collect(),
            Err(other) => panic!("{other}"),
        }
    }

    #[test]
    fn source_problems_are_located_in_both_formats() {
        let toml = "[[module]]\nname = \"a\"\ncommand = [\"true\"]\nsource = { type = \"git\", url = \"x\", venv = \"v\", update_type = \"ap\" }\npolicy = { pin = \"one\", channel = \"beta\" }\n";
        let found = problems("/none/upkeep.toml", toml);
        assert_eq!(found.len(), 4, "{found:#?}");
        assert!(
            found[0].contains("`venv` does not apply to a `git` source"),
            "{found:#?}"
        );
        assert!(found[1].contains("did you mean `app`?"), "{found:#?}");
        assert!(found[2].starts_with("5:18 bad pin `one`"), "{found:#?}");
        assert!(found[3].contains("unknown channel `beta`"), "{found:#?}");

        let json = r#"{"updates": [{"name": "a", "command": ["true"],
            "source": {"type": "pip", "venv": "v"},
            "policy": {"range": "^1", "askBeforeMajor": false}}]}"#;
        let found = problems("/none/manifest.json", json);
        assert_eq!(found.len(), 1, "{found:#?}");
        assert!(
            found[0].starts_with("3:33 `range` does not apply to a `pip` source"),
            "{found:#?}"
        );
        assert!(found[0].contains("`askBeforeMajor`"), "{found:#?}");
    }

    #[test]
    fn major_security_updates_wait_only_where_packages_are_listed() {
        let toml = "[[module]]\nname = \"a\"\ncommand = [\"true\"]\nsource = { type = \"apt\" }\npolicy = { ask_before_major_security = true }\n";
        let manifest = parse(Path::new("/none/upkeep.toml"), toml).unwrap();
        assert!(manifest.modules[0].policy.ask_before_major_security);
        let json = r#"{"updates": [{"name": "a", "command": ["true"],
            "source": {"type": "pip"}, "policy": {"askBeforeMajorSecurity": true}}]}"#;
        let manifest = parse(Path::new("/none/manifest.json"), json).unwrap();
        assert!(manifest.modules[0].policy.ask_before_major_security);
        assert!(!Policy::default().ask_before_major_security);

        let json = r#"{"updates": [{"name": "a", "command": ["true"],
            "source": {"type": "git", "url": "x"}, "policy": {"askBeforeMajorSecurity": true}}]}"#;
        let found = problems("/none/manifest.json", json);
        assert_eq!(found.len(), 1, "{found:#?}");
        assert!(
            found[0].starts_with(
                "2:89 `askBeforeMajorSecurity` applies to package sources (pip, apt) only"
            ),
            "{found:#?}"
        );
    }

    #[test]
    fn camel_case_spellings() {
        assert_eq!(camel("tag_pattern"), "tagPattern");
        assert_eq!(camel("ask_before_major"), "askBeforeMajor");
        assert_eq!(snake("updateType"), Some("update_type"));
        assert_eq!(snake("update_type"), None);
        for (snake_key, camel_key) in SOURCE_KEYS.iter().zip(SOURCE_KEYS_CAMEL) {
            assert_eq!(camel(snake_key), *camel_key);
        }
        for (snake_key, camel_key) in POLICY_KEYS.iter().zip(POLICY_KEYS_CAMEL) {
            assert_eq!(camel(snake_key), *camel_key);
        }
    }
}
