//! The writes the PostgreSQL store's transactions share: messages and the entity rows they
//! create, instance rows, leases and the counts by status.

use std::collections::HashMap;
use std::time::Duration;

use deadpool_postgres::GenericClient;

use crate::clock;
use crate::error::StoreError;
use crate::ids::{EntityId, ExecutionId, InstanceId};
use crate::status::RuntimeStatus;
use crate::store::codec::{backend, decode_event, encode_json, micros, status_from_code};
use crate::store::{
    CorruptMessage, CountDeltas, LockToken, NewInstance, OrchestrationMessage,
    OrchestrationWorkItem, OutboundMessage, is_control, lease_millis,
};

use super::sql::{LEASE_LOCKED, LOCK_ROWS, MARK_DUE, SET_ASIDE};
use super::{Core, FETCH_DUE, INSTANCE_MESSAGES, LEASE_NAMED, WRITE_COUNTS};

/// Which instances [`Core::lease_instances`] leases.
#[derive(Clone, Copy)]
pub(super) enum Claim<'a> {
    /// Up to its `max` due instances, earliest first (`FETCH_DUE`).
    Due,
    /// The named instances that are free, claimed with `SKIP LOCKED` (`LEASE_NAMED`).
    Named(&'a [&'a str]),
    /// The named instances that are free, whose rows the caller has locked
    /// (`LEASE_LOCKED`).
    Locked(&'a [&'a str]),
}

/// The writes every transaction shares: messages (and the entity rows they create),
/// instance rows, leases, the counts by status.
impl Core {
    /// Inserts `messages` (creating the entity rows they are the first for) and brings each
    /// receiving instance's `due_at` forward (`MARK_DUE`), except for the instances in
    /// `skip_due` (sorted): those whose `due_at` the caller sets itself later in the
    /// transaction (a commit's own instances, recomputed when it releases them; a client
    /// batch's receivers, whose rows it locks after this) or has set already (the rows of new
    /// instances).
    ///
    /// `MARK_DUE` needs the receivers' row locks. The caller holds those of the rows that
    /// existed when it took its locks; with `lock_entities`, the entity rows the messages go
    /// to are locked here as well (created or found), for a row another transaction created
    /// after the caller's `LOCK_ROWS`. A client batch, which locks its entity receivers
    /// itself after this, passes `false`: it keeps their locks as short as it can.
    pub(super) async fn insert_messages(
        &self,
        tx: &impl GenericClient,
        messages: &[&OutboundMessage],
        skip_due: &[&str],
        lock_entities: bool,
        counts: &mut CountDeltas,
    ) -> Result<(), StoreError> {
        if messages.is_empty() {
            return Ok(());
        }
        // The entity rows a message creates, in id order, as every writer locks rows: two
        // transactions creating some of the same entities never wait on each other in a cycle.
        let mut entities: Vec<(&str, String)> = Vec::new();
        for message in messages {
            if let Some(entity) = EntityId::from_instance_id(message.instance_id.as_str()) {
                entities.push((message.instance_id.as_str(), entity.name().to_owned()));
            }
        }
        entities.sort_unstable();
        entities.dedup_by(|a, b| a.0 == b.0);
        let (entity_ids, entity_names): (Vec<&str>, Vec<String>) = entities.into_iter().unzip();
        if !entity_ids.is_empty() {
            // A message to an entity that has no row yet creates it. With `lock_entities`
            // the rows that exist are locked too (`DO UPDATE … WHERE false` updates none of
            // them but locks each, and `RETURNING` names only the rows created): a row
            // another transaction created after the caller's `LOCK_ROWS` would otherwise get
            // its `due_at` from `MARK_DUE` below without this transaction holding its lock,
            // and a commit releasing that entity meanwhile could recount its messages
            // without these and clear its due time.
            let sql = if lock_entities {
                "INSERT INTO {s}.instances AS t (instance_id, execution_id, name, status, input, created_at, updated_at)
                 SELECT id, '', name, $3, 'null', $4, $4 FROM UNNEST($1::text[], $2::text[]) AS e(id, name)
                 ON CONFLICT (instance_id) DO UPDATE SET updated_at = t.updated_at WHERE false
                 RETURNING instance_id"
            } else {
                "INSERT INTO {s}.instances (instance_id, execution_id, name, status, input, created_at, updated_at)
                 SELECT id, '', name, $3, 'null', $4, $4 FROM UNNEST($1::text[], $2::text[]) AS e(id, name)
                 ON CONFLICT (instance_id) DO NOTHING RETURNING instance_id"
            };
            let statement = tx.prepare_cached(&self.sql(sql)).await.map_err(backend)?;
            for created in tx
                .query(
                    &statement,
                    &[
                        &entity_ids,
                        &entity_names,
                        &RuntimeStatus::Pending.code(),
                        &micros(clock::now()),
                    ],
                )
                .await
                .map_err(backend)?
            {
                counts.inserted(created.get(0), RuntimeStatus::Pending.code());
            }
        }
        let mut ids = Vec::with_capacity(messages.len());
        let mut executions = Vec::with_capacity(messages.len());
        let mut visible = Vec::with_capacity(messages.len());
        let mut events = Vec::with_capacity(messages.len());
        let mut control = Vec::with_capacity(messages.len());
        for message in messages {
            ids.push(message.instance_id.as_str());
            executions.push(message.execution_id.as_ref().map(ExecutionId::as_str));
            visible.push(message.visible_at.timestamp_millis());
            events.push(encode_json("history event", &message.event)?);
            control.push(is_control(&message.event));
        }
        let statement = tx
            .prepare_cached(&self.sql(
                "INSERT INTO {s}.messages (instance_id, execution_id, visible_at, event, control)
                 SELECT * FROM UNNEST($1::text[], $2::text[], $3::bigint[], $4::text[], $5::bool[])",
            ))
            .await
            .map_err(backend)?;
        tx.execute(
            &statement,
            &[&ids, &executions, &visible, &events, &control],
        )
        .await
        .map_err(backend)?;
        let due: Vec<&OutboundMessage> = messages
            .iter()
            .filter(|m| skip_due.binary_search(&m.instance_id.as_str()).is_err())
            .copied()
            .collect();
        self.mark_due(tx, &due).await
    }

    /// Locks the rows of `instance_ids` in the order every writer takes row locks
    /// (orchestrations, then entities, each by id: `LOCK_ROWS`).
    pub(super) async fn lock_rows(
        &self,
        tx: &impl GenericClient,
        instance_ids: &[&str],
    ) -> Result<(), StoreError> {
        if instance_ids.is_empty() {
            return Ok(());
        }
        let statement = tx
            .prepare_cached(&self.sql(LOCK_ROWS))
            .await
            .map_err(backend)?;
        tx.execute(&statement, &[&instance_ids])
            .await
            .map_err(backend)?;
        Ok(())
    }

    /// Brings the `due_at` of the instances `messages` go to forward to the messages'
    /// visibility (`MARK_DUE`), in one statement; the caller holds their rows' locks.
    pub(super) async fn mark_due(
        &self,
        tx: &impl GenericClient,
        messages: &[&OutboundMessage],
    ) -> Result<(), StoreError> {
        if messages.is_empty() {
            return Ok(());
        }
        let ids: Vec<&str> = messages.iter().map(|m| m.instance_id.as_str()).collect();
        let at: Vec<i64> = messages
            .iter()
            .map(|m| m.visible_at.timestamp_millis())
            .collect();
        let control: Vec<bool> = messages.iter().map(|m| is_control(&m.event)).collect();
        let statement = tx
            .prepare_cached(&self.sql(MARK_DUE))
            .await
            .map_err(backend)?;
        tx.execute(&statement, &[&ids, &at, &control])
            .await
            .map_err(backend)?;
        Ok(())
    }

    /// The status of `instance_id`, its row locked until the transaction ends.
    pub(super) async fn instance_status(
        &self,
        tx: &impl GenericClient,
        instance_id: &str,
    ) -> Result<Option<RuntimeStatus>, StoreError> {
        let sql = "SELECT status FROM {s}.instances WHERE instance_id = $1 FOR UPDATE";
        let statement = tx.prepare_cached(&self.sql(sql)).await.map_err(backend)?;
        tx.query_opt(&statement, &[&instance_id])
            .await
            .map_err(backend)?
            .map(|row| status_from_code(row.get(0)))
            .transpose()
    }

    /// Writes a transaction's counts-by-status changes (nothing when there are none).
    pub(super) async fn write_counts(
        &self,
        tx: &impl GenericClient,
        mut counts: CountDeltas,
    ) -> Result<(), StoreError> {
        let changes = counts.take();
        if changes.is_empty() {
            return Ok(());
        }
        let entities: Vec<bool> = changes.iter().map(|c| c.0).collect();
        let statuses: Vec<i32> = changes.iter().map(|c| c.1).collect();
        let by: Vec<i64> = changes.iter().map(|c| c.2).collect();
        let statement = tx
            .prepare_cached(&self.sql(WRITE_COUNTS))
            .await
            .map_err(backend)?;
        tx.execute(&statement, &[&entities, &statuses, &by])
            .await
            .map_err(backend)?;
        Ok(())
    }

    pub(super) async fn delete_instance(
        &self,
        tx: &impl GenericClient,
        instance_ids: &[&str],
        counts: &mut CountDeltas,
    ) -> Result<(), StoreError> {
        for table in ["history", "messages", "activities"] {
            let statement = tx
                .prepare_cached(&self.sql(&format!(
                    "DELETE FROM {{s}}.{table} WHERE instance_id = ANY($1)"
                )))
                .await
                .map_err(backend)?;
            tx.execute(&statement, &[&instance_ids])
                .await
                .map_err(backend)?;
        }
        let statement = tx
            .prepare_cached(&self.sql(
                "DELETE FROM {s}.instances WHERE instance_id = ANY($1) RETURNING instance_id, status",
            ))
            .await
            .map_err(backend)?;
        for row in tx
            .query(&statement, &[&instance_ids])
            .await
            .map_err(backend)?
        {
            counts.deleted(row.get(0), row.get(1));
        }
        Ok(())
    }

    /// Creates an instance inside the open transaction (which holds a savepoint for it).
    pub(super) async fn create_in(
        &self,
        tx: &impl GenericClient,
        new: &NewInstance,
        counts: &mut CountDeltas,
    ) -> Result<(), StoreError> {
        if let Some(status) = self.instance_status(tx, new.instance_id.as_str()).await? {
            if !status.is_terminal() {
                return Err(StoreError::InstanceAlreadyExists {
                    instance_id: new.instance_id.clone(),
                    status,
                });
            }
            self.delete_instance(tx, &[new.instance_id.as_str()], counts)
                .await?;
        }
        let statement = tx
            .prepare_cached(&self.sql(
                "INSERT INTO {s}.instances (instance_id, execution_id, name, version, status, input, created_at, updated_at, parent_instance_id)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $7, $8)",
            ))
            .await
            .map_err(backend)?;
        let inserted = tx
            .execute(
                &statement,
                &[
                    &new.instance_id.as_str(),
                    &new.execution_id.as_str(),
                    &new.name,
                    &new.version,
                    &RuntimeStatus::Pending.code(),
                    &new.input.as_json(),
                    &micros(new.created_at),
                    &new.parent_instance_id.as_ref().map(InstanceId::as_str),
                ],
            )
            .await;
        if let Err(error) = inserted {
            // Another worker created it between our check and insert.
            if error.code() == Some(&tokio_postgres::error::SqlState::UNIQUE_VIOLATION) {
                return Err(StoreError::InstanceAlreadyExists {
                    instance_id: new.instance_id.clone(),
                    status: RuntimeStatus::Pending,
                });
            }
            return Err(backend(error));
        }
        counts.inserted(new.instance_id.as_str(), RuntimeStatus::Pending.code());
        let started = OutboundMessage {
            instance_id: new.instance_id.clone(),
            execution_id: Some(new.execution_id.clone()),
            visible_at: new.created_at,
            event: new.started.clone(),
        };
        self.insert_messages(tx, &[&started], &[], true, counts)
            .await
    }

    /// Leases the instances `claim` picks (those whose claim succeeds) and reads their
    /// visible messages.
    pub(super) async fn lease_instances(
        &self,
        tx: &impl GenericClient,
        claim: Claim<'_>,
        max: i64,
        lease: Duration,
        allow_suspended: bool,
    ) -> Result<Vec<OrchestrationWorkItem>, StoreError> {
        let now = clock::now_millis();
        let token = LockToken::generate();
        let expires = now + lease_millis(lease);
        let rows = match claim {
            Claim::Due => {
                let statement = tx
                    .prepare_cached(&self.sql(FETCH_DUE))
                    .await
                    .map_err(backend)?;
                tx.query(&statement, &[&token.as_str(), &expires, &now, &max])
                    .await
                    .map_err(backend)?
            }
            Claim::Named(ids) | Claim::Locked(ids) => {
                let sql = if matches!(claim, Claim::Named(_)) {
                    LEASE_NAMED
                } else {
                    LEASE_LOCKED
                };
                let statement = tx.prepare_cached(&self.sql(sql)).await.map_err(backend)?;
                tx.query(
                    &statement,
                    &[&token.as_str(), &expires, &now, &ids, &allow_suspended],
                )
                .await
                .map_err(backend)?
            }
        };
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let mut items = Vec::with_capacity(rows.len());
        let mut ids: Vec<String> = Vec::with_capacity(rows.len());
        let mut set_aside: Vec<String> = Vec::new();
        for row in &rows {
            let instance_id: String = row.get(0);
            // A status code this build does not know (a corrupt row, or one a newer build
            // wrote): the instance is set aside, not fetched again until a message arrives
            // for it or an operator repairs the row; the fetch goes on with the others.
            let Ok(status) = status_from_code(row.get(3)) else {
                tracing::error!(
                    instance_id,
                    status = row.get::<_, i32>(3),
                    "instance row has an unknown status code; set aside (repair the row's `status` to resume it)"
                );
                set_aside.push(instance_id);
                continue;
            };
            ids.push(instance_id.clone());
            items.push(OrchestrationWorkItem {
                instance_id: InstanceId::from_trusted(instance_id),
                execution_id: ExecutionId::from_trusted(row.get(1)),
                name: row.get(2),
                version: row.get(5),
                status,
                history_len: usize::try_from(row.get::<_, i64>(4)).unwrap_or(0),
                messages: Vec::new(),
                corrupt_messages: Vec::new(),
                lock_token: Some(token.clone()),
            });
        }
        if !set_aside.is_empty() {
            let statement = tx
                .prepare_cached(&self.sql(SET_ASIDE))
                .await
                .map_err(backend)?;
            tx.execute(&statement, &[&set_aside, &token.as_str()])
                .await
                .map_err(backend)?;
        }
        if ids.is_empty() {
            return Ok(items);
        }
        let statement = tx
            .prepare_cached(&self.sql(INSTANCE_MESSAGES))
            .await
            .map_err(backend)?;
        // `ids[n]` is `items[n]`'s instance: each row finds its item through this map, not
        // by a pass over the batch.
        let position: HashMap<&str, usize> = ids
            .iter()
            .enumerate()
            .map(|(n, id)| (id.as_str(), n))
            .collect();
        for row in tx.query(&statement, &[&ids, &now]).await.map_err(backend)? {
            let instance_id: &str = row.get(1);
            let execution_id: Option<String> = row.get(2);
            let event: String = row.get(3);
            if let Some(item) = position.get(instance_id).and_then(|&n| items.get_mut(n)) {
                // One that does not decode fails its instance only (see
                // `OrchestrationWorkItem::corrupt_messages`).
                match decode_event(&event) {
                    Ok(event) => item.messages.push(OrchestrationMessage {
                        id: row.get(0),
                        execution_id: execution_id.map(ExecutionId::from_trusted),
                        event,
                    }),
                    Err(error) => item.corrupt_messages.push(CorruptMessage {
                        id: row.get(0),
                        reason: error.to_string(),
                    }),
                }
            }
        }
        Ok(items)
    }
}
