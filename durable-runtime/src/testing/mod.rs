#![doc = include_str!("../docs/testing.md")]

mod calls;
mod environment;
mod error;
mod export;
mod fakes;
mod replayer;

pub use calls::DurableCall;
pub use environment::{TestEnvironment, TestEnvironmentBuilder, default_start_time};
pub use error::{HistoryFormatError, ReplayError, SourceLocation, TestError};
pub use export::{HISTORY_FORMAT, HistoryExport};
pub use fakes::{EntityOperationCall, FakeActivity, FakeEntity, FakeOrchestration};
pub use replayer::{FileReplay, Replayer};
