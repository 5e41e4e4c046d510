//! Integration tests, compiled into one binary (faster to build). They talk to real parts: the
//! storage servers started by `scripts/test-servers.sh`, the Home Assistant test double, the real
//! `lifeboat` binary and real archives.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

mod support;

mod addon;
mod addon_install;
mod apparmor;
mod automations;
mod browser;
mod cli;
mod conformance;
mod dashboard;
mod double_faithful;
mod e2e_storage;
mod faults;
mod fuzz_corpora;
mod ha_core;
mod home_server;
mod hostile_storage;
mod inspect;
mod kit;
mod layers;
mod listing_caps;
mod probe;
mod rclone;
mod readiness;
mod recover;
mod report;
mod restore;
mod safe_update;
mod securetar;
mod security;
mod serve;
mod settings_page;
mod setup_apply;
mod setup_every_kind;
mod setup_forms;
mod setup_home;
mod ship_events;
mod sources;
mod upkeep;
