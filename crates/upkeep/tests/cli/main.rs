//! Integration tests of the `upkeep` binary, from the user's side: real processes, real
//! Python modules, real SQLite ledgers in temporary directories.

mod fixture;

mod access;
mod btrfs;

mod ae_differential;
mod ae_updater;
mod files;
mod groups;
mod helpers_contained;
mod logs;

mod cancel;
mod checks;
mod checksums;
mod concurrency;
mod crash_sweep;
mod dies_with_upkeep;
mod discord;
mod doctor;
mod errors;
mod first_hour;
mod manifest_corpus;
mod notify;
mod output;
mod owned_paths;
mod policies;
mod process_hygiene;
mod recovery_sweep;
mod reload;
mod reports;
mod run_rules;
mod runs;
mod safety;
mod schedules;
mod seed_example;
mod serve;
mod serve_cache;
mod settings;
mod special_files;
mod status;
mod store;
mod tags;
mod update_fidelity;
mod use_cases;
mod warm_start;
mod web;
