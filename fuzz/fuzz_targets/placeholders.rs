//! Fuzz the placeholder expander and the folder-name decoder: any input expands to an
//! absolute path without `..`, NUL or newlines beneath its base, or is refused; nothing
//! panics; `dedefuse` undoes `defuse`.
#![no_main]

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use libfuzzer_sys::fuzz_target;
use upkeep_core::deploy::{defuse, folders};
use upkeep_core::placeholders;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    // An optional user placeholder value after the first tab, to fuzz values too.
    let (template, value) = text.split_once('\t').unwrap_or((text, "/opt/app"));
    let user: BTreeMap<String, PathBuf> = [("app".to_owned(), PathBuf::from(value))].into();
    let base = Path::new("/base/root");
    for template in [template.to_owned(), defuse::dedefuse(template)] {
        let _ = placeholders::check(&template);
        if let Ok(path) = placeholders::expand_deploy(&template, &user, base) {
            assert!(path.is_absolute(), "{template:?} -> {path:?}");
            assert!(!path.components().any(|c| c == Component::ParentDir), "{template:?}");
            let shown = path.to_string_lossy();
            assert!(!shown.contains(['\0', '\n', '\r']), "{template:?}");
            let roots = [path.clone()];
            assert!(placeholders::beneath(&path.join("file"), &roots).is_some());
        }
    }
    assert_eq!(defuse::dedefuse(&defuse::defuse(text)), text);
    if let Some((_, args)) = folders::parse_name(text) {
        if let Some(to) = args.to_path {
            let _ = placeholders::expand_deploy(&to, &user, base);
        }
    }
});
