//! Helpers shared by the emulator-backed test files.

pub mod schedules;
