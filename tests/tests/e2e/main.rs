//! The end-to-end suite: real servers (in-process and as processes), real SDK devices and the real CLI,
//! on SQLite and, where `FIELDSYNC_TEST_POSTGRES_URL` is set, on PostgreSQL. One test binary with a
//! module per area, so the server, SDK, CLI and load generator are linked once.

mod api;
mod app;
mod attachments;
mod authors;
mod authz;
mod backup;
mod browser;
mod campaigns;
mod cli;
mod convergence;
mod dashboard;
mod devices;
mod duplicates;
mod erasure;
mod faults;
mod feed;
mod fuzz;
mod history;
mod hostile_changes;
mod import;
mod keys;
mod leads;
mod loadgen;
mod memory;
mod merge;
mod migrations;
mod ops;
mod orders;
mod privacy;
mod records;
mod reports;
mod scope_edges;
mod scopes;
mod sealed;
mod server_cli;
mod slow_clients;
mod upgrade;
mod users;
