//! Integration tests of the `upkeep` binary, from the user's side: real processes, real
//! Python modules, real SQLite ledgers in temporary directories.

mod fixture;

mod files;
mod groups;

mod checks;
mod checksums;
mod concurrency;
mod crash_sweep;
mod errors;
mod first_hour;
mod manifest_corpus;
mod notify;
mod output;
mod owned_paths;
mod policies;
mod process_hygiene;
mod runs;
mod safety;
mod schedules;
mod seed_example;
mod settings;
mod use_cases;
mod warm_start;
