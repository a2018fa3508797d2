//! Workflows shared by the examples (see the `examples/*.rs` files for the programs).
//!
//! `quickstart.rs` stays self-contained because the README shows it in full.

pub mod aggregator;
pub mod approval;
pub mod backup;
pub mod monitor;
