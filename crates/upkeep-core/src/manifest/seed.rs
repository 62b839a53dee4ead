//! The seeds' `manifest.json`, in both of its forms: the first (`name`, `module`, `args`,
//! `children`, `entrypoint`) and the second (adding `version`, `lastSafeVersion`,
//! `lastApplied`, `enabled`, `description`, `checksum`), plus upkeep's additions in the
//! same camelCase spelling (`critical`, `dependsOn`, `timeout`, `command`, `script`, `dir`,
//! `paths`, `health`, `rollback`, `source`, `policy`, `run`, `runsChildren`, and
//! top-level `python`, `defaults`, `gitTags`, `tagFormat`, `run`).

use super::diag::{Reporter, Span};
use super::json_syntax::{self, Member, Value};
use super::sources::{POLICY_KEYS_CAMEL, RawPolicy, RawSource, SOURCE_KEYS_CAMEL, snake};
use super::{PathCategory, RawHealth, RawKind, RawManifest, RawModule, Spanned, Spelling};
use crate::text::{did_you_mean, is_slip};

const TOP_FIELDS: &[&str] = &[
    "updates",
    "entrypoint",
    "python",
    "timeout",
    "defaults",
    "gitTags",
    "tagFormat",
    "run",
];
const DEFAULTS_FIELDS: &[&str] = &["rollback", "health"];
const HEALTH_FIELDS: &[&str] = &["command", "timeout", "retries", "interval", "reload"];
const ENTRY_FIELDS: &[&str] = &[
    "name",
    "module",
    "args",
    "children",
    "version",
    "lastSafeVersion",
    "lastApplied",
    "enabled",
    "description",
    "checksum",
    "critical",
    "dependsOn",
    "timeout",
    "command",
    "script",
    "dir",
    "paths",
    "health",
    "rollback",
    "files",
    "destination",
    "placeholders",
    "source",
    "policy",
    "run",
    "runsChildren",
];

type JsonNode = json_syntax::Spanned<Value>;

const SPELLING: Spelling = Spelling {
    depends_on: "dependsOn",
    module: "module",
    tag_format: "tagFormat",
    settings_prefix: "",
    camel_case: true,
    default_run: "run",
    runs_children: "runsChildren",
};

fn span(s: json_syntax::Span) -> Span {
    Span::new(s.start, s.end)
}

/// Parse seed JSON into raw modules, reporting syntax, type and unknown-field problems.
pub(crate) fn parse(source: &str, reporter: &mut Reporter<'_>) -> Option<RawManifest> {
    let root = match json_syntax::parse(source) {
        Ok(root) => root,
        Err(err) => {
            reporter.error(Some(span(err.span)), None, err.message, None);
            return None;
        }
    };
    let Value::Object(members) = &root.value else {
        let message = format!(
            "manifest must be a JSON object, found {}",
            root.value.kind_name()
        );
        let hint = Some(
            "a seed manifest looks like {\"updates\": [...], \"entrypoint\": \"...\"}".to_owned(),
        );
        reporter.error(Some(span(root.span)), None, message, hint);
        return None;
    };
    let mut raw = RawManifest {
        spelling: SPELLING,
        ..RawManifest::default()
    };
    let mut ctx = Ctx { reporter };
    ctx.check_fields(members, TOP_FIELDS, "", Unknown::UserKey);
    for member in members {
        let field = member.key.value.as_str();
        match field {
            "entrypoint" => raw.entrypoint = ctx.opt_string(&member.value, field),
            "python" => raw.python = ctx.opt_string(&member.value, field).map(|s| s.value),
            "timeout" => raw.timeout = ctx.duration(&member.value, field),
            "gitTags" => raw.git_tags = ctx.bool(&member.value, field),
            "tagFormat" => raw.tag_format = ctx.string(&member.value, field),
            "defaults" => ctx.defaults(&member.value, &mut raw),
            "run" => raw.default_run = ctx.string(&member.value, field),
            _ => {}
        }
    }
    let Some(updates) = root.value.get("updates") else {
        ctx.reporter.error(
            Some(Span::new(root.span.start, root.span.start + 1)),
            Some("updates".into()),
            "missing field `updates`",
            Some("add \"updates\": [ ... ] listing the modules".into()),
        );
        return None;
    };
    let Value::Array(entries) = &updates.value else {
        ctx.type_error(updates, "updates", "an array of modules");
        // Without modules every reference would be reported as unknown too.
        return None;
    };
    for (index, entry) in entries.iter().enumerate() {
        if let Some(module) = ctx.entry(entry, &format!("updates[{index}]")) {
            raw.modules.push(module);
        }
    }
    Some(raw)
}

/// What an unknown key means where it is found.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Unknown {
    /// A key of the user's own: the seeds' Python reads the manifest with `json.load` and
    /// ignores what it does not know, so people keep their own notes in entries and at the
    /// top level. upkeep ignores it too, with a warning, unless it looks like a misspelling
    /// of a known field, which would otherwise be silently lost.
    UserKey,
    /// Inside an object of upkeep's own (`defaults`, `health`, `source`, `policy`): the
    /// seeds have none of these, so an unknown key there is a mistake.
    Refused,
}

struct Ctx<'r, 'a> {
    reporter: &'r mut Reporter<'a>,
}

impl Ctx<'_, '_> {
    fn check_fields(&mut self, members: &[Member], known: &[&str], prefix: &str, unknown: Unknown) {
        let mut seen: Vec<&str> = Vec::new();
        for member in members {
            let key = member.key.value.as_str();
            let field = join(prefix, key);
            if seen.contains(&key) {
                let message = format!("duplicate field `{key}`");
                let hint = Some("JSON readers disagree on which copy wins; keep one".to_owned());
                self.reporter
                    .error(Some(span(member.key.span)), Some(field), message, hint);
                continue;
            }
            seen.push(key);
            if known.contains(&key) {
                continue;
            }
            let at = Some(span(member.key.span));
            let message = format!("unknown field `{key}`");
            let close = did_you_mean(key, known.iter().copied());
            // Among the user's own keys only a near-certain slip is refused; a key merely
            // like a known one (`comment`, `note`) is theirs, and the warning names the
            // field it resembles.
            let refused = match unknown {
                Unknown::Refused => true,
                Unknown::UserKey => close.is_some_and(|c| is_slip(key, c)),
            };
            match (close, refused) {
                (Some(close), true) => {
                    let hint = Some(format!("did you mean `{close}`?"));
                    self.reporter.error(at, Some(field), message, hint);
                }
                (None, true) => {
                    let hint = Some(format!("known fields: {}", known.join(", ")));
                    self.reporter.error(at, Some(field), message, hint);
                }
                (close, false) => {
                    // The message says it is fine; the hint is there in case it was meant
                    // for upkeep after all.
                    let message = format!("{message} ignored: a key of your own");
                    let hint = Some(match close {
                        Some(close) => format!("if you meant upkeep's `{close}`, rename it"),
                        None => format!("known fields: {}", known.join(", ")),
                    });
                    self.reporter.warn(at, Some(field), message, hint);
                }
            }
        }
    }

    fn entry(&mut self, node: &JsonNode, path: &str) -> Option<RawModule> {
        let Value::Object(members) = &node.value else {
            self.type_error(node, path, "an object describing a module");
            return None;
        };
        self.check_fields(members, ENTRY_FIELDS, path, Unknown::UserKey);
        let mut module = RawModule {
            path: path.to_owned(),
            enabled: true,
            ..RawModule::default()
        };
        let mut has_name = false;
        for member in members {
            let key = member.key.value.as_str();
            let field = join(path, key);
            if !self.rule_field(&mut module, key, &member.value, &field) {
                has_name |= self.entry_field(&mut module, key, &member.value, &field);
            }
        }
        if !has_name {
            let at = Some(Span::new(node.span.start, node.span.start + 1));
            let hint = Some("every entry needs a unique \"name\"".to_owned());
            self.reporter
                .error(at, Some(join(path, "name")), "missing field `name`", hint);
            return None;
        }
        Some(module)
    }

    /// Read one field of a module entry into `module`; returns whether it was the name.
    fn entry_field(
        &mut self,
        module: &mut RawModule,
        key: &str,
        value: &JsonNode,
        field: &str,
    ) -> bool {
        match key {
            "name" => {
                if let Some(name) = self.string(value, field) {
                    module.name = name;
                    return true;
                }
            }
            "module" => match self.opt_string(value, field) {
                Some(m) if m.value.is_empty() => module.kind = RawKind::Group,
                Some(m) => module.kind = RawKind::Python(m),
                None => {}
            },
            "command" => {
                if let Some(argv) = self.string_list(value, field) {
                    let span = span(value.span);
                    module.kind = RawKind::Command(Spanned {
                        value: argv.into_iter().map(|s| s.value).collect(),
                        span,
                    });
                }
            }
            "script" => {
                if let Some(script) = self.string(value, field) {
                    module.kind = RawKind::Script(script);
                }
            }
            "args" => module.args = self.args(value, field),
            "children" => module.children = self.string_list(value, field).unwrap_or_default(),
            "dependsOn" => {
                module.depends_on = self.string_list(value, field).unwrap_or_default();
            }
            "version" => module.version = self.version(value, field),
            "enabled" => module.enabled = self.bool(value, field).unwrap_or(true),
            "critical" => module.critical = self.bool(value, field).unwrap_or(false),
            "description" => {
                module.description = self.opt_string(value, field).map(|s| s.value);
            }
            "checksum" => module.checksum = self.opt_string(value, field),
            "timeout" => module.timeout = self.duration(value, field),
            "dir" => module.dir = self.string(value, field),
            "paths" => module.paths = self.paths(value, field),
            "health" => module.health = self.health(value, field),
            "rollback" => module.rollback = self.bool(value, field),
            "files" => {
                if let Some(dir) = self.string(value, field) {
                    module.kind = RawKind::Files(dir);
                }
            }
            "destination" => module.destination = self.string(value, field),
            "placeholders" => module.placeholders = self.placeholders(value, field),
            "source" | "policy" => self.updates_field(module, key, value, field),
            "lastSafeVersion" => {
                self.version(value, field);
            }
            "lastApplied" => {
                self.opt_string(value, field);
            }
            _ => {}
        }
        false
    }

    fn defaults(&mut self, node: &JsonNode, raw: &mut RawManifest) {
        let Value::Object(members) = &node.value else {
            self.type_error(node, "defaults", "an object");
            return;
        };
        self.check_fields(members, DEFAULTS_FIELDS, "defaults", Unknown::Refused);
        for member in members {
            let field = join("defaults", &member.key.value);
            match member.key.value.as_str() {
                "rollback" => raw.default_rollback = self.bool(&member.value, &field),
                "health" => raw.default_health = self.health(&member.value, &field),
                _ => {}
            }
        }
    }

    /// A list of path templates (data), or an object of lists by category.
    fn paths(&mut self, node: &JsonNode, field: &str) -> Vec<(PathCategory, Spanned<String>)> {
        let Value::Object(members) = &node.value else {
            let list = self.string_list(node, field).unwrap_or_default();
            return list.into_iter().map(|p| (PathCategory::Data, p)).collect();
        };
        let mut out = Vec::new();
        for member in members {
            let key = member.key.value.as_str();
            let sub = join(field, key);
            let Some(category) = PathCategory::from_name(key) else {
                let hint = Some("categories are `config`, `data` and `logs`".to_owned());
                let message = format!("unknown path category `{key}`");
                self.reporter
                    .error(Some(span(member.key.span)), Some(sub), message, hint);
                continue;
            };
            let list = self.string_list(&member.value, &sub).unwrap_or_default();
            out.extend(list.into_iter().map(|p| (category, p)));
        }
        out
    }

    fn health(&mut self, node: &JsonNode, field: &str) -> Option<RawHealth> {
        let Value::Object(members) = &node.value else {
            self.type_error(
                node,
                field,
                "an object with `command`, `timeout`, `retries`, `interval`, `reload`",
            );
            return None;
        };
        self.check_fields(members, HEALTH_FIELDS, field, Unknown::Refused);
        let mut health = RawHealth {
            span: span(node.span),
            ..RawHealth::default()
        };
        for member in members {
            let sub = join(field, &member.key.value);
            let value = &member.value;
            match member.key.value.as_str() {
                "command" => health.command = self.argv(value, &sub),
                "timeout" => health.timeout = self.duration(value, &sub),
                "interval" => health.interval = self.duration(value, &sub),
                "retries" => health.retries = self.count(value, &sub),
                "reload" => health.reload = self.argv(value, &sub),
                _ => {}
            }
        }
        Some(health)
    }

    /// Read `run` or `runsChildren` (see `rules`); returns whether `key` was one of them.
    fn rule_field(
        &mut self,
        module: &mut RawModule,
        key: &str,
        value: &JsonNode,
        field: &str,
    ) -> bool {
        match key {
            "run" => module.run = self.string(value, field),
            "runsChildren" => {
                module.runs_children = self.bool(value, field).map(|b| Spanned {
                    value: b,
                    span: span(value.span),
                });
            }
            _ => return false,
        }
        true
    }

    fn updates_field(&mut self, module: &mut RawModule, key: &str, value: &JsonNode, field: &str) {
        if key == "source" {
            module.source = self.source(value, field);
        } else {
            module.policy = self.policy(value, field);
        }
    }

    fn source(&mut self, node: &JsonNode, field: &str) -> Option<RawSource> {
        let Value::Object(members) = &node.value else {
            self.type_error(
                node,
                field,
                "an object with a `type`, e.g. {\"type\": \"git\", \"url\": \"...\"}",
            );
            return None;
        };
        self.check_fields(members, SOURCE_KEYS_CAMEL, field, Unknown::Refused);
        let mut source = RawSource {
            span: span(node.span),
            ..RawSource::default()
        };
        for member in members {
            let Some(name) = snake(&member.key.value) else {
                continue;
            };
            let sub = join(field, &member.key.value);
            let value = &member.value;
            source.present.push((name, span(value.span)));
            match name {
                "type" => source.kind = self.string(value, &sub),
                "update_type" => source.update_type = self.string(value, &sub),
                "timeout" => source.timeout = self.duration(value, &sub),
                "url" => source.url = self.string(value, &sub),
                "tag_pattern" => source.tag_pattern = self.string(value, &sub),
                "command" => source.command = self.argv(value, &sub),
                "venv" => source.venv = self.string(value, &sub),
                "args" => source.args = self.plain_list(value, &sub),
                "packages" => source.packages = self.plain_list(value, &sub),
                _ => {}
            }
        }
        Some(source)
    }

    fn policy(&mut self, node: &JsonNode, field: &str) -> Option<RawPolicy> {
        let Value::Object(members) = &node.value else {
            self.type_error(
                node,
                field,
                "an object such as {\"hold\": false, \"range\": \"^1.4\"}",
            );
            return None;
        };
        self.check_fields(members, POLICY_KEYS_CAMEL, field, Unknown::Refused);
        let mut policy = RawPolicy::default();
        for member in members {
            let sub = join(field, &member.key.value);
            let value = &member.value;
            match snake(&member.key.value) {
                Some("hold") => policy.hold = self.bool(value, &sub),
                Some("pin") => policy.pin = self.version(value, &sub),
                Some("range") => policy.range = self.string(value, &sub),
                Some("channel") => policy.channel = self.string(value, &sub),
                Some("ask_before_major") => policy.ask_before_major = self.bool(value, &sub),
                Some("ask_before_major_security") => {
                    let at = span(value.span);
                    policy.ask_before_major_security = self.bool(value, &sub).map(|on| Spanned {
                        value: on,
                        span: at,
                    });
                }
                _ => {}
            }
        }
        Some(policy)
    }

    /// An argv list, or a string run through `sh -c`.
    fn argv(&mut self, node: &JsonNode, field: &str) -> Option<Spanned<Vec<String>>> {
        let value = match &node.value {
            Value::String(script) => vec!["sh".into(), "-c".into(), script.clone()],
            _ => self
                .string_list(node, field)?
                .into_iter()
                .map(|s| s.value)
                .collect(),
        };
        Some(Spanned {
            value,
            span: span(node.span),
        })
    }

    fn plain_list(&mut self, node: &JsonNode, field: &str) -> Vec<String> {
        let list = self.string_list(node, field).unwrap_or_default();
        list.into_iter().map(|s| s.value).collect()
    }

    fn placeholders(&mut self, node: &JsonNode, field: &str) -> Vec<(Spanned<String>, String)> {
        let Value::Object(members) = &node.value else {
            self.type_error(
                node,
                field,
                "an object of placeholder names and absolute paths",
            );
            return Vec::new();
        };
        let mut out = Vec::new();
        for member in members {
            let sub = join(field, &member.key.value);
            if let Some(value) = self.string(&member.value, &sub) {
                let name = Spanned {
                    value: member.key.value.clone(),
                    span: span(member.key.span),
                };
                out.push((name, value.value));
            }
        }
        out
    }

    fn count(&mut self, node: &JsonNode, field: &str) -> Option<u32> {
        if let Value::Number(raw) = &node.value
            && let Ok(n) = raw.parse::<u32>()
        {
            return Some(n);
        }
        self.type_error(node, field, "a non-negative integer");
        None
    }

    fn type_error(&mut self, node: &JsonNode, field: &str, expected: &str) {
        let message = format!("expected {expected}, found {}", node.value.kind_name());
        self.reporter
            .error(Some(span(node.span)), Some(field.to_owned()), message, None);
    }

    fn string(&mut self, node: &JsonNode, field: &str) -> Option<Spanned<String>> {
        if let Value::String(s) = &node.value {
            Some(Spanned {
                value: s.clone(),
                span: span(node.span),
            })
        } else {
            self.type_error(node, field, "a string");
            None
        }
    }

    fn opt_string(&mut self, node: &JsonNode, field: &str) -> Option<Spanned<String>> {
        match &node.value {
            Value::Null => None,
            _ => self.string(node, field),
        }
    }

    fn bool(&mut self, node: &JsonNode, field: &str) -> Option<bool> {
        if let Value::Bool(b) = node.value {
            Some(b)
        } else {
            self.type_error(node, field, "`true` or `false`");
            None
        }
    }

    fn string_list(&mut self, node: &JsonNode, field: &str) -> Option<Vec<Spanned<String>>> {
        let Value::Array(items) = &node.value else {
            self.type_error(node, field, "an array of strings");
            return None;
        };
        let strings = items.iter().enumerate();
        Some(
            strings
                .filter_map(|(i, item)| self.string(item, &format!("{field}[{i}]")))
                .collect(),
        )
    }

    fn args(&mut self, node: &JsonNode, field: &str) -> Vec<serde_json::Value> {
        let Value::Array(items) = &node.value else {
            self.type_error(node, field, "an array");
            return Vec::new();
        };
        items.iter().map(|item| to_json(&item.value)).collect()
    }

    /// A version is a non-negative integer number or a string; the string's form is
    /// checked during validation so both formats share one message.
    fn version(&mut self, node: &JsonNode, field: &str) -> Option<Spanned<String>> {
        match &node.value {
            Value::Null => None,
            Value::Number(raw) if raw.bytes().all(|b| b.is_ascii_digit()) => Some(Spanned {
                value: raw.clone(),
                span: span(node.span),
            }),
            Value::String(s) => Some(Spanned {
                value: s.clone(),
                span: span(node.span),
            }),
            _ => {
                self.type_error(
                    node,
                    field,
                    "a non-negative integer or a version string like \"1.2.3\"",
                );
                None
            }
        }
    }

    fn duration(&mut self, node: &JsonNode, field: &str) -> Option<Spanned<String>> {
        match &node.value {
            Value::Number(raw) => Some(Spanned {
                value: raw.clone(),
                span: span(node.span),
            }),
            _ => self.opt_string(node, field),
        }
    }
}

fn join(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_owned()
    } else {
        format!("{prefix}.{key}")
    }
}

fn to_json(value: &Value) -> serde_json::Value {
    match value {
        Value::Null => serde_json::Value::Null,
        Value::Bool(b) => serde_json::Value::Bool(*b),
        Value::Number(raw) => serde_json::from_str(raw).unwrap_or(serde_json::Value::Null),
        Value::String(s) => serde_json::Value::String(s.clone()),
        Value::Array(items) => items.iter().map(|i| to_json(&i.value)).collect(),
        Value::Object(members) => serde_json::Value::Object(
            members
                .iter()
                .map(|m| (m.key.value.clone(), to_json(&m.value.value)))
                .collect(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::manifest::{ManifestError, Severity, parse};

    #[test]
    fn keys_of_the_users_own_are_warnings_and_near_misses_errors() {
        let text = r#"{"updates": [{"name": "a", "module": "", "owner": "me"}], "notes": 1}"#;
        let manifest = parse(Path::new("/none/manifest.json"), text).unwrap();
        let fields: Vec<_> = manifest
            .warnings
            .iter()
            .map(|w| w.field.clone().unwrap())
            .collect();
        assert_eq!(fields, ["updates[0].owner", "notes"]);
        assert!(
            manifest
                .warnings
                .iter()
                .all(|w| w.severity == Severity::Warning)
        );

        let text = r#"{"updates": [{"name": "a", "module": "", "childern": []}]}"#;
        let Err(ManifestError::Invalid { diagnostics, .. }) =
            parse(Path::new("/none/manifest.json"), text)
        else {
            panic!("a near miss is refused");
        };
        assert_eq!(
            diagnostics[0].hint.as_deref(),
            Some("did you mean `children`?")
        );
        assert_eq!(diagnostics[0].severity, Severity::Error);

        // Objects of upkeep's own stay strict.
        let text = r#"{"updates": [{"name": "a", "module": "", "health": {"owner": 1}}]}"#;
        assert!(parse(Path::new("/none/manifest.json"), text).is_err());
    }
}
