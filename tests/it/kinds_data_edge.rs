//! End-to-end tests of the data_edge resource kinds against the emulator.
