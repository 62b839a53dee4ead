//! Fuzz the archive reader: any bytes, read as a (zstd, gzip or plain) archive, must be
//! verified or refused, never panic, hang or use unbounded memory.
#![no_main]

use std::io::Write;

use libfuzzer_sys::fuzz_target;
use upkeep_core::archive::{self, Expected};

fuzz_target!(|data: &[u8]| {
    // The reader takes a path; one file per fuzzing process, rewritten for each input.
    let path = std::env::temp_dir().join(format!("upkeep-fuzz-archive-{}", std::process::id()));
    let mut file = std::fs::File::create(&path).unwrap();
    file.write_all(data).unwrap();
    drop(file);
    // A wrong checksum still scans every member (the checksum is compared at the end),
    // so the whole reader runs; the small limit keeps bombs cheap.
    let expected = Expected {
        sha256: "0000000000000000000000000000000000000000000000000000000000000000",
        entries: None,
        max_bytes: 1 << 20,
    };
    let _ = archive::verify(&path, &expected);
});
