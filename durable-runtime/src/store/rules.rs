//! The commit rules every back-end applies, in one place: whether a turn may commit to
//! an instance row, and which applied activity's lease was lost. The stores read the row
//! their own way (a SQL row, a map entry) and call these.

use crate::error::StoreError;
use crate::status::RuntimeStatus;

use super::OrchestrationCommit;

/// What a commit's check reads of an instance row.
#[derive(Debug, Clone, Copy)]
pub(crate) struct InstanceRow<'a> {
    /// The live or expired lease's token, if the row is leased.
    pub(crate) lock_token: Option<&'a str>,
    /// When that lease expires (ms since the epoch).
    pub(crate) lock_expires: Option<i64>,
    /// How many history events the row holds.
    pub(crate) history_len: usize,
    /// The current execution.
    pub(crate) execution_id: &'a str,
    /// The runtime status code.
    pub(crate) status: i32,
}

/// Whether `commit` may apply to `row` at `now` (ms): a leased turn must hold the row's
/// lease token; a turn without a lease (an activity result applied by the worker that
/// completed it) needs no live lease on the row, the same execution and status Running.
/// Either way the history must be as long as the turn replayed, or another worker moved
/// it on.
///
/// # Errors
/// [`StoreError::LeaseLost`] naming the instance.
pub(crate) fn check_instance(
    commit: &OrchestrationCommit,
    row: InstanceRow<'_>,
    now: i64,
) -> Result<(), StoreError> {
    let holds = match commit.authority.lock_token() {
        Some(lock_token) => row.lock_token == Some(lock_token.as_str()),
        None => {
            row.lock_expires.is_none_or(|expires| expires <= now)
                && row.execution_id == commit.execution_id.as_str()
                && row.status == RuntimeStatus::Running.code()
        }
    };
    if holds && row.history_len == commit.history_len {
        Ok(())
    } else {
        Err(StoreError::LeaseLost(format!(
            "instance {}",
            commit.instance_id
        )))
    }
}

/// The first activity `commit` applies whose lease `holds` says is no longer its own.
///
/// # Errors
/// [`StoreError::LeaseLost`] naming the activity.
pub(crate) fn check_activities(
    commit: &OrchestrationCommit,
    mut holds: impl FnMut(i64, &str) -> bool,
) -> Result<(), StoreError> {
    match commit
        .authority
        .applied_activities()
        .iter()
        .find(|lease| !holds(lease.id, lease.lock_token.as_str()))
    {
        Some(lease) => Err(StoreError::LeaseLost(format!("activity {}", lease.id))),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{ExecutionId, InstanceId};
    use crate::store::{ActivityLease, CommitAuthority, LockToken};

    fn commit(lock_token: Option<&str>, history_len: usize) -> OrchestrationCommit {
        OrchestrationCommit {
            instance_id: InstanceId::new("a").expect("valid id"),
            execution_id: ExecutionId::generate(),
            authority: lock_token.map_or(
                CommitAuthority::Unleased {
                    applied_activities: Vec::new(),
                },
                |token| CommitAuthority::Leased(LockToken::new(token)),
            ),
            history_len,
            events: Vec::new(),
            consumed: Vec::new(),
            activities: Vec::new(),
            status: RuntimeStatus::Running,
            output: None,
            failure: None,
            custom_status: crate::store::CustomStatus::Unchanged,
            updated_at: crate::clock::now(),
            messages: Vec::new(),
            new_instances: Vec::new(),
            continue_as_new: None,
            lease_activities: None,
        }
    }

    #[test]
    fn leased_and_unleased_turns() {
        let leased = commit(Some("t1"), 4);
        let execution = leased.execution_id.to_string();
        let row = |token: Option<&'static str>, expires, len, status| InstanceRow {
            lock_token: token,
            lock_expires: expires,
            history_len: len,
            execution_id: "",
            status,
        };
        let running = RuntimeStatus::Running.code();
        assert!(check_instance(&leased, row(Some("t1"), Some(10), 4, running), 0).is_ok());
        // Another token, or a history that moved.
        assert!(check_instance(&leased, row(Some("t2"), Some(10), 4, running), 0).is_err());
        assert!(check_instance(&leased, row(Some("t1"), Some(10), 5, running), 0).is_err());
        let unleased = commit(None, 4);
        let same = |expires, status| InstanceRow {
            lock_token: Some("old"),
            lock_expires: expires,
            history_len: 4,
            execution_id: unleased.execution_id.as_str(),
            status,
        };
        assert!(check_instance(&unleased, same(None, running), 100).is_ok());
        assert!(
            check_instance(&unleased, same(Some(100), running), 100).is_ok(),
            "expired"
        );
        assert!(
            check_instance(&unleased, same(Some(101), running), 100).is_err(),
            "live lease"
        );
        let completed = RuntimeStatus::Completed.code();
        assert!(
            check_instance(&unleased, same(None, completed), 100).is_err(),
            "finished"
        );
        let other = InstanceRow {
            execution_id: &execution,
            ..same(None, running)
        };
        assert!(
            check_instance(&unleased, other, 100).is_err(),
            "another execution"
        );
    }

    #[test]
    fn a_lost_activity_lease_is_named() {
        let mut turn = commit(None, 0);
        turn.authority = CommitAuthority::Unleased {
            applied_activities: vec![
                ActivityLease::new(1, LockToken::new("a")),
                ActivityLease::new(2, LockToken::new("b")),
            ],
        };
        assert!(check_activities(&turn, |_, _| true).is_ok());
        let lost = check_activities(&turn, |id, _| id != 2).unwrap_err();
        assert!(lost.to_string().contains("activity 2"), "{lost}");
    }
}
