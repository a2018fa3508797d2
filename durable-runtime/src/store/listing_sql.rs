//! The listing statement both SQL stores run: one builder, with what differs between SQLite
//! and PostgreSQL (placeholders, the table's name, how the id range's end and the entity
//! filter are spelled) in a [`Dialect`].

use super::codec::{STATUS_COLUMNS, micros};
use super::{InstanceQuery, list_prefix, prefix_range};
use crate::status::RuntimeStatus;

/// A value bound to a listing statement, in the order of its placeholders.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SqlValue {
    /// A status code (`RuntimeStatus::code`).
    Code(i32),
    /// A time in microseconds since the Unix epoch.
    Micros(i64),
    /// An instance id, a prefix bound or a name.
    Text(String),
}

/// How one SQL store spells the parts of a listing that differ.
#[derive(Debug)]
pub(crate) struct Dialect {
    /// The placeholder's sigil: `?` (SQLite, `?1`) or `$` (PostgreSQL, `$1`).
    pub(crate) sigil: char,
    /// The instances table as the statement names it.
    pub(crate) table: &'static str,
    /// Whether a status is bound (PostgreSQL) or written as a literal code (SQLite).
    pub(crate) bind_status: bool,
    /// Written before the columns an id-prefix listing only filters on (SQLite's `+`, so it
    /// uses no index of theirs and sorts no match).
    pub(crate) filter_mark: &'static str,
    /// The end of an id-prefix range, given its placeholder.
    pub(crate) prefix_end: fn(&str) -> String,
    /// The condition that leaves entity rows out.
    pub(crate) not_entity: &'static str,
    /// Whether a listing by parent or name repeats that column in its range bounds' row
    /// values (`(name, created_at, instance_id) > ($1, $2, $3)`): PostgreSQL's B-tree starts
    /// its scan at such a row comparison. SQLite seeks on a row value only when it begins
    /// at the index column after the equalities (`name = ?1 AND (created_at, instance_id) >
    /// (?2, ?3)`); with the column repeated it reads the name's rows from the first.
    pub(crate) lead_in_bounds: bool,
}

/// A listing's statement for one status (any, if `None`) after the keyset position `after`,
/// and its bound values: served by `instances_by_parent` with a parent,
/// `instances_by_status` with a status, `instances_by_name` with a name,
/// `instances_by_created` without, and the primary key (in id order) with an id prefix,
/// from one range start (the later of `created_from` and the token, or of the prefix and
/// the token's id), so a deep page costs what the first does.
pub(crate) fn list_sql(
    dialect: &Dialect,
    query: &InstanceQuery,
    status: Option<RuntimeStatus>,
    after: Option<&(i64, String)>,
    page_size: usize,
) -> (String, Vec<SqlValue>) {
    let mut statement = Statement {
        sigil: dialect.sigil,
        sql: format!("SELECT {STATUS_COLUMNS} FROM {} WHERE true", dialect.table),
        values: Vec::new(),
    };
    if let Some(status) = status {
        if dialect.bind_status {
            let n = statement.bind(SqlValue::Code(status.code()));
            statement.push(&format!(" AND status = {n}"));
        } else {
            statement.push(&format!(" AND status = {}", status.code()));
        }
    }
    let from = query.created_from.map(micros);
    let to = query.created_to.map(micros);
    let prefix = list_prefix(query);
    if let Some(prefix) = prefix {
        // By id prefix: the primary key's range from the prefix (or the token's id) to the
        // prefix's successor, in id order (PostgreSQL compares ids in byte order:
        // migration 6); the other fields filter it.
        let ((start, exclusive), end) = prefix_range(prefix, after);
        let n = statement.bind(SqlValue::Text(start.to_owned()));
        let op = if exclusive { ">" } else { ">=" };
        statement.push(&format!(" AND instance_id {op} {n}"));
        if let Some(end) = end {
            let n = statement.bind(SqlValue::Text(end));
            statement.push(&format!(" AND {}", (dialect.prefix_end)(&n)));
        }
        let mark = dialect.filter_mark;
        filter_statuses_and_name(&mut statement, mark, query);
        if let Some(from) = from {
            let n = statement.bind(SqlValue::Micros(from));
            statement.push(&format!(" AND {mark}created_at >= {n}"));
        }
        if let Some(to) = to {
            let n = statement.bind(SqlValue::Micros(to));
            statement.push(&format!(" AND {mark}created_at < {n}"));
        }
    } else {
        // A parent's children: a range of `instances_by_parent (parent_instance_id,
        // created_at, instance_id)`, the statuses and the name only filtering it (a parent
        // has few children, a status or a name may have millions of rows). One name: a
        // range of `instances_by_name (name, created_at, instance_id)`. Either range's
        // bounds are written as row values of its index after the equality (see
        // `Dialect::lead_in_bounds`), so a deep page starts where the token points and
        // reads no row of another parent or name. Without: a range of
        // `instances_by_created (created_at, instance_id)` (or of the status index).
        let lead = if let Some(parent) = &query.parent_instance_id {
            let k = statement.bind(SqlValue::Text(parent.to_string()));
            statement.push(&format!(" AND parent_instance_id = {k}"));
            // `list_statuses` reads one range (`status` is `None`) for a parent.
            filter_statuses_and_name(&mut statement, dialect.filter_mark, query);
            Some(("parent_instance_id", k))
        } else if let Some(name) = &query.name {
            let k = statement.bind(SqlValue::Text(name.clone()));
            statement.push(&format!(" AND name = {k}"));
            Some(("name", k))
        } else {
            None
        };
        // ` AND columns op values`, the parent or name leading both sides when there is one
        // and the dialect wants it.
        let bound = |columns: &str, op: &str, values: &[&str]| match &lead {
            Some((lead, k)) if dialect.lead_in_bounds => {
                format!(" AND ({lead}, {columns}) {op} ({k}, {})", values.join(", "))
            }
            _ if values.len() == 1 => format!(" AND {columns} {op} {}", values[0]),
            _ => format!(" AND ({columns}) {op} ({})", values.join(", ")),
        };
        match after {
            // Every row after the token is at or after `created_from` too.
            Some((micros, id)) if from.is_none_or(|from| *micros >= from) => {
                let m = statement.bind(SqlValue::Micros(*micros));
                let i = statement.bind(SqlValue::Text(id.clone()));
                statement.push(&bound("created_at, instance_id", ">", &[&m, &i]));
            }
            _ => {
                if let Some(from) = from {
                    let n = statement.bind(SqlValue::Micros(from));
                    statement.push(&bound("created_at", ">=", &[&n]));
                }
            }
        }
        if let Some(to) = to {
            let n = statement.bind(SqlValue::Micros(to));
            statement.push(&bound("created_at", "<", &[&n]));
        }
    }
    if prefix.is_some()
        && let Some(parent) = &query.parent_instance_id
    {
        let n = statement.bind(SqlValue::Text(parent.to_string()));
        statement.push(&format!(
            " AND {}parent_instance_id = {n}",
            dialect.filter_mark
        ));
    }
    if prefix.is_none() {
        // Entities are listed only when asked for by their `@` prefix.
        statement.push(&format!(" AND {}", dialect.not_entity));
    }
    // One name: the order of `instances_by_name` (the same order, `name` being fixed).
    let order = if prefix.is_some() {
        "instance_id"
    } else if query.parent_instance_id.is_some() {
        "parent_instance_id, created_at, instance_id"
    } else if query.name.is_some() {
        "name, created_at, instance_id"
    } else {
        "created_at, instance_id"
    };
    statement.push(&format!(
        " ORDER BY {order} LIMIT {}",
        page_size.saturating_add(1)
    ));
    (statement.sql, statement.values)
}

/// Adds `query`'s statuses (one `IN`) and name as filters on a range another index serves,
/// each column behind `mark` (see [`Dialect::filter_mark`]).
fn filter_statuses_and_name(statement: &mut Statement, mark: &str, query: &InstanceQuery) {
    if !query.statuses.is_empty() {
        let codes: Vec<String> = query
            .statuses
            .iter()
            .map(|s| s.code().to_string())
            .collect();
        statement.push(&format!(" AND {mark}status IN ({})", codes.join(", ")));
    }
    if let Some(name) = &query.name {
        let n = statement.bind(SqlValue::Text(name.clone()));
        statement.push(&format!(" AND {mark}name = {n}"));
    }
}

/// A statement being built and the values bound so far.
struct Statement {
    sigil: char,
    sql: String,
    values: Vec<SqlValue>,
}

impl Statement {
    /// Binds `value`; returns its placeholder.
    fn bind(&mut self, value: SqlValue) -> String {
        self.values.push(value);
        format!("{}{}", self.sigil, self.values.len())
    }

    fn push(&mut self, sql: &str) {
        self.sql.push_str(sql);
    }
}
