//! Fuzz both manifest parsers and the validator: any input must produce a manifest or
//! diagnostics, never a panic, a hang or unbounded memory.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    // The first byte picks the format so one corpus exercises both.
    let path = if data.first().is_some_and(|b| b % 2 == 0) {
        Path::new("/nonexistent-upkeep-fuzz/manifest.json")
    } else {
        Path::new("/nonexistent-upkeep-fuzz/upkeep.toml")
    };
    let _ = upkeep_core::manifest::parse(path, text);
});
