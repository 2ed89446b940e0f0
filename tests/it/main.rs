//! Integration tests: the real binary, a real PostgreSQL the harness starts.

#![allow(clippy::unwrap_used)]

mod cli;
mod encryption;
#[allow(dead_code)] // Harness helpers; not every subset of tests uses all of them.
mod pg;

mod blocking;
mod catalog_crash;
mod catalog_damage;
mod copies;
mod failures;
mod fixture;
mod fuzz;
mod hosted;
mod hostile;
mod mirror;
mod projects;
mod regression;
mod roundtrip;
mod s3;
mod schedules;
mod sections;
mod shared_destination;
mod storage;
mod storage_api_url;
mod storage_rest;
mod tool_versions;
mod tools;
#[cfg(feature = "gui")]
mod ui;
#[cfg(feature = "gui")]
mod ui_standin;
mod versions;
