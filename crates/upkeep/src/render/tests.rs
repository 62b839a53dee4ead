//! Snapshot tests of the renderers, built from constructed engine values: nothing is
//! spawned and no ledger is opened.
