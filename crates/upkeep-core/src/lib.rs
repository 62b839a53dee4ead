#![warn(clippy::print_stdout, clippy::print_stderr, clippy::exit)]
//! The upkeep engine: manifests, plans, runs, the ledger, integrity checks, backups,
//! health checks and rollback, and file deployment.
//!
//! This crate never prints and never exits; it returns values and emits
//! [`run::RunEvent`]s to a [`run::Reporter`] supplied by the caller. The `upkeep` binary is
//! a thin command-line front end over it. Side effects have one home each: only [`exec`]
//! starts processes, only [`state`] speaks SQL, only [`digest`] computes SHA-256 (for
//! [`integrity`], which hashes module folders, and for archives, deployed files and scripts),
//! only [`archive`] reads and writes tar archives, and only [`atomic`] (and the deploy
//! engine's descriptor-relative writes) replaces files.

pub mod archive;
pub mod atomic;
pub mod backup;
pub mod checksum;
pub mod deploy;
pub mod digest;
pub mod duration;
pub mod exec;
pub mod exit_codes;
pub mod failpoint;
pub mod integrity;
pub mod lock;
pub mod manifest;
pub mod message;
pub mod module_env;
pub mod notify;
pub mod ops;
pub mod paths;
pub mod placeholders;
pub mod plan;
pub mod rollback;
pub mod run;
pub mod schedule;
pub mod settings;
pub mod state;
pub mod store;
pub mod text;
pub mod updates;
pub mod version;
