//! The `error_type`s the runtime itself records in [`FailureDetails`], in one place, and
//! how a panic becomes failure details. Every layer takes its failure vocabulary from here
//! (this module imports nothing above `status`), so no layer needs another for its
//! constants.

use crate::status::FailureDetails;

// Orchestrations the worker fails or ends itself.

/// The `error_type` of an instance whose orchestration no worker has registered.
pub const ORCHESTRATION_NOT_REGISTERED: &str = "durable::OrchestrationNotRegistered";

/// The `error_type` of an instance whose history grew past the limit.
pub const HISTORY_TOO_LONG: &str = "durable::HistoryTooLong";

/// The `error_type` a parent sees when its sub-orchestration was terminated.
pub const TERMINATED: &str = "durable::Terminated";

/// The `error_type` a rewound parent sees when the sub-orchestration it waits for no
/// longer exists (it was purged while the parent was Failed).
pub const SUB_ORCHESTRATION_NOT_FOUND: &str = "durable::SubOrchestrationNotFound";

// Activities.

/// The `error_type` of a call to an activity no worker has registered.
pub const ACTIVITY_NOT_REGISTERED: &str = "durable::ActivityNotRegistered";

// Inputs and outputs of registered functions.

/// The `error_type` of a failure to decode an input.
pub const INPUT_DECODE_ERROR: &str = "durable::InputDecodeError";

/// The `error_type` of a failure to encode an output.
pub const OUTPUT_ENCODE_ERROR: &str = "durable::OutputEncodeError";

// Replay.

/// The `error_type` of a non-determinism failure.
pub const NON_DETERMINISM_ERROR: &str = "durable::NonDeterminismError";

/// The `error_type` of a panic in user code.
pub const PANIC_ERROR: &str = "panic";

/// The `error_type` of an orchestrator that awaited something other than a durable call.
pub const NON_DURABLE_AWAIT_ERROR: &str = "durable::NonDurableAwait";

/// The `error_type` of a `continue_as_new` that could not be honoured.
pub const CONTINUE_AS_NEW_ERROR: &str = "durable::ContinueAsNewError";

// The store.

/// The `error_type` of a sub-orchestration whose instance id is taken.
pub const SUB_ORCHESTRATION_ID_IN_USE: &str = "durable::InstanceAlreadyExists";

/// The `error_type` of an instance failed because a row of its state in the store does not
/// decode (a queued message, a history event: corrupt text, an unknown event kind written by
/// a newer build), and of an activity whose stored input does not decode. The message names
/// the row (table and key) and what was wrong; the other instances of the task hub are not
/// affected. See ARCHITECTURE.md, "Corrupt rows".
pub const CORRUPT_HISTORY: &str = "durable::CorruptHistory";

// Entities.

/// The `error_type` of an operation the entity does not have.
pub const UNKNOWN_OPERATION: &str = "durable::UnknownEntityOperation";

/// The `error_type` of an operation on an entity no worker has registered.
pub const ENTITY_NOT_REGISTERED: &str = "durable::EntityNotRegistered";

/// The `error_type` of an operation on an entity whose stored state does not decode.
pub const ENTITY_STATE_DECODE_ERROR: &str = "durable::EntityStateDecodeError";

/// The `error_type` of an operation whose new state could not be encoded.
pub const ENTITY_STATE_ENCODE_ERROR: &str = "durable::EntityStateEncodeError";

/// The `error_type` of an orchestration that broke a critical-section rule.
pub const LOCKING_RULES_VIOLATION: &str = "durable::LockingRulesViolation";

// Values the orchestration context encodes and decodes.

/// The `error_type` of an input that could not be encoded for a durable call.
pub const INPUT_ENCODE_ERROR: &str = "durable::InputEncodeError";

/// The `error_type` of a durable call's output that did not decode as the expected type.
pub const OUTPUT_DECODE_ERROR: &str = "durable::OutputDecodeError";

/// Turns a caught panic payload into failure details.
pub(crate) fn panic_failure(panic: Box<dyn std::any::Any + Send>) -> FailureDetails {
    let message = if let Some(text) = panic.downcast_ref::<&str>() {
        (*text).to_owned()
    } else if let Some(text) = panic.downcast_ref::<String>() {
        text.clone()
    } else {
        "panic with a non-string payload".to_owned()
    };
    FailureDetails::new(PANIC_ERROR, message)
}
