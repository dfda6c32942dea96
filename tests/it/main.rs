//! End-to-end tests: the real `cairn` binary against a real AWS emulator (moto, or LocalStack via CAIRN_TEST_ENDPOINT).

mod api_calls;
mod conformance;
mod faults;
mod github_actions;
mod governance;
mod harness;
mod hostile;
mod kinds_cluster;
mod kinds_data_edge;
mod kinds_network;
mod lifecycle;
mod moto_vars;
mod platform;
mod safety;
mod secrets;
mod tf_import;
mod tf_import_families;
mod verify;
