//! The example workflows tested with the test kit (`durable_runtime::testing`): virtual
//! time, fakes, assertions on the durable calls, and the replayer over the histories
//! recorded in `tests/histories/`. Each test takes milliseconds.

mod testing {
    mod aggregator;
    mod approval;
    mod backup;
    mod histories;
    mod monitor;
    mod quickstart;
    mod readme;
}
