//! Writing state back into the manifest file the user owns.
//!
//! For a seed `manifest.json`, a successful module's `lastApplied` and `lastSafeVersion`
//! (and `checksum` after `upkeep checksum --write`) are spliced into the file in place:
//! every other byte, key order and formatting included, stays as the user wrote it. A key
//! the entry lacks is inserted only when the manifest is in the seeds' second form (some
//! entry already carries `version`, `lastApplied` or `lastSafeVersion`), so a first-form
//! manifest never grows fields its owner did not ask for. For `upkeep.toml`, only
//! `checksum` is written, with `toml_edit`, which preserves comments. The file is replaced
//! atomically.

use std::path::{Path, PathBuf};

use super::json_syntax::{self, Value};
use crate::atomic::write_atomic;

/// What a successful module leaves to write back.
#[derive(Debug, Clone)]
pub struct Applied {
    /// The module.
    pub module: String,
    /// When it was applied (RFC 3339, UTC).
    pub last_applied: String,
    /// Its version, now the last safe one.
    pub last_safe_version: Option<String>,
}

/// Errors writing back.
#[derive(Debug, thiserror::Error)]
pub enum WriteBackError {
    /// The manifest could not be read or replaced.
    #[error("write back to the manifest {path}")]
    Io {
        /// The manifest.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The manifest changed on disk into something that no longer parses.
    #[error(
        "write back to the manifest {path}: it no longer parses ({message}); the ledger has the state"
    )]
    Unparsable {
        /// The manifest.
        path: PathBuf,
        /// The parse error.
        message: String,
    },
}

/// Write `lastApplied` and `lastSafeVersion` of successful modules into a seed manifest.
///
/// # Errors
/// [`WriteBackError`] when the file cannot be read, parsed or replaced.
pub fn write_back(path: &Path, applied: &[Applied]) -> Result<(), WriteBackError> {
    let fields: Vec<(String, &'static str, String)> = applied
        .iter()
        .flat_map(|a| {
            let mut fields = vec![(
                a.module.clone(),
                "lastApplied",
                json_syntax::encode_string(&a.last_applied),
            )];
            if let Some(version) = &a.last_safe_version {
                fields.push((
                    a.module.clone(),
                    "lastSafeVersion",
                    json_syntax::encode_string(version),
                ));
            }
            fields
        })
        .collect();
    set_json_fields(path, &fields)
}

/// Record a module's checksum in its manifest entry (JSON `checksum` field, or the TOML
/// module's `checksum` key).
///
/// # Errors
/// [`WriteBackError`] when the file cannot be read, parsed or replaced.
pub fn set_checksum(path: &Path, module: &str, checksum: &str) -> Result<(), WriteBackError> {
    if path.extension().is_some_and(|e| e == "toml") {
        return set_toml_field(path, module, "checksum", &toml_edit::value(checksum));
    }
    set_json_fields(
        path,
        &[(
            module.to_owned(),
            "checksum",
            json_syntax::encode_string(checksum),
        )],
    )
}

/// Set a module's declared `version` (after a rollback, so the next run does not upgrade
/// straight back). An all-digit version is written as an integer (Plinth style).
///
/// # Errors
/// [`WriteBackError`] when the file cannot be read, parsed or replaced.
pub fn set_version(path: &Path, module: &str, version: &str) -> Result<(), WriteBackError> {
    let integer = version
        .parse::<i64>()
        .ok()
        .filter(|_| version.bytes().all(|b| b.is_ascii_digit()));
    if path.extension().is_some_and(|e| e == "toml") {
        let item = integer.map_or_else(|| toml_edit::value(version), toml_edit::value);
        return set_toml_field(path, module, "version", &item);
    }
    let raw = integer.map_or_else(|| json_syntax::encode_string(version), |n| n.to_string());
    set_json_fields(path, &[(module.to_owned(), "version", raw)])
}

fn read(path: &Path) -> Result<String, WriteBackError> {
    fs_err::read_to_string(path).map_err(|source| WriteBackError::Io {
        path: path.to_path_buf(),
        source,
    })
}

fn set_json_fields(
    path: &Path,
    fields: &[(String, &'static str, String)],
) -> Result<(), WriteBackError> {
    let source = read(path)?;
    let root = json_syntax::parse(&source).map_err(|err| WriteBackError::Unparsable {
        path: path.to_path_buf(),
        message: err.message,
    })?;
    let Some(Value::Array(entries)) = root.value.get("updates").map(|u| &u.value) else {
        return Err(WriteBackError::Unparsable {
            path: path.to_path_buf(),
            message: "no `updates` array".to_owned(),
        });
    };
    let second_form = entries.iter().any(|e| {
        ["version", "lastApplied", "lastSafeVersion", "checksum"]
            .iter()
            .any(|k| e.value.get(k).is_some())
    });
    let mut edits = Vec::new();
    for (module, key, value) in fields {
        let entry = entries.iter().find(|e| matches!(e.value.get("name").map(|n| &n.value), Some(Value::String(n)) if n == module));
        let Some(entry) = entry else { continue };
        if entry.value.get(key).is_none() && !second_form {
            continue;
        }
        edits.push(json_syntax::set_member(&source, entry, key, value));
    }
    if edits.is_empty() {
        return Ok(());
    }
    let updated = json_syntax::apply_edits(&source, &edits);
    write_atomic(path, updated.as_bytes()).map_err(|source| WriteBackError::Io {
        path: path.to_path_buf(),
        source,
    })
}

fn set_toml_field(
    path: &Path,
    module: &str,
    key: &str,
    item: &toml_edit::Item,
) -> Result<(), WriteBackError> {
    let source = read(path)?;
    let mut doc: toml_edit::DocumentMut =
        source
            .parse()
            .map_err(|err: toml_edit::TomlError| WriteBackError::Unparsable {
                path: path.to_path_buf(),
                message: err.to_string(),
            })?;
    let Some(modules) = doc
        .get_mut("module")
        .and_then(toml_edit::Item::as_array_of_tables_mut)
    else {
        return Ok(());
    };
    for table in modules.iter_mut() {
        if table.get("name").and_then(toml_edit::Item::as_str) == Some(module) {
            table[key] = item.clone();
        }
    }
    let updated = doc.to_string();
    if updated == source {
        return Ok(());
    }
    write_atomic(path, updated.as_bytes()).map_err(|source| WriteBackError::Io {
        path: path.to_path_buf(),
        source,
    })
}
