//! The determinism rules: their ids, the paths they match and what they say.
//!
//! Matching is by path *suffix*, because a macro sees tokens, not resolved paths: generic
//! names (`now`, `sleep`, `spawn`, `var`) match only with their qualifier
//! (`SystemTime::now`), distinctive ones (`thread_rng`, `spawn_blocking`) on their own.

/// One determinism rule; its id is what `#[orchestrator(allow(...))]` takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Rule {
    WallClock,
    Randomness,
    Sleep,
    Spawn,
    Select,
    Env,
    Io,
    StaticMut,
    UnboundedLoop,
    HashIteration,
}

impl Rule {
    /// Every rule, in documentation order.
    pub(crate) const ALL: [Rule; 10] = [
        Rule::WallClock,
        Rule::Randomness,
        Rule::Sleep,
        Rule::Spawn,
        Rule::Select,
        Rule::Env,
        Rule::Io,
        Rule::StaticMut,
        Rule::UnboundedLoop,
        Rule::HashIteration,
    ];

    /// The rule id, as written in `allow(...)`.
    pub(crate) fn id(self) -> &'static str {
        match self {
            Rule::WallClock => "wall_clock",
            Rule::Randomness => "randomness",
            Rule::Sleep => "sleep",
            Rule::Spawn => "spawn",
            Rule::Select => "select",
            Rule::Env => "env",
            Rule::Io => "io",
            Rule::StaticMut => "static_mut",
            Rule::UnboundedLoop => "unbounded_loop",
            Rule::HashIteration => "hash_iteration",
        }
    }

    /// The rule with this id.
    pub(crate) fn from_id(id: &str) -> Option<Rule> {
        Rule::ALL.into_iter().find(|rule| rule.id() == id)
    }

    /// Every id, formatted for an error message.
    pub(crate) fn all_ids() -> String {
        Rule::ALL
            .iter()
            .map(|rule| format!("`{}`", rule.id()))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Why `what` breaks replay, and what to use instead.
    pub(crate) fn message(self, what: &str) -> String {
        let (why, instead) = match self {
            Rule::WallClock => (
                "it reads the wall clock, which differs on every replay",
                "use `ctx.current_time()` instead",
            ),
            Rule::Randomness => (
                "it makes a different value on every replay",
                "use `ctx.new_guid()` for ids, or make random values in an `#[activity]`",
            ),
            Rule::Sleep => (
                "it is a timer outside the history, so a restart loses it and replay waits again",
                "use a durable timer, `ctx.create_timer(..).await`",
            ),
            Rule::Spawn => (
                "it starts work the history does not track",
                "make each piece a durable call such as `ctx.call_activity(..)` and wait for them with `durable_runtime::join_all`",
            ),
            Rule::Select => (
                "it picks a ready branch at random, so a replay can pick another",
                "use `futures::future::select` or `durable_runtime::join_all` over durable calls, which resolve in history order",
            ),
            Rule::Env => (
                "it differs between workers and over time",
                "pass configuration in the orchestration input, or read it in an `#[activity]`",
            ),
            Rule::Io => (
                "I/O is not recorded in the history, so it runs again on every replay and may see something else",
                "move it into an `#[activity]`",
            ),
            Rule::StaticMut => (
                "a mutable static is not in the history and differs between processes and replays",
                "keep state in local variables, or pass it in the input",
            ),
            Rule::UnboundedLoop => (
                "a `loop` that makes durable calls and never ends grows the history without bound",
                "end it with `break` or `return`, or restart with a fresh history using `ctx.continue_as_new(input)`",
            ),
            Rule::HashIteration => (
                "its iteration order differs between processes, so durable calls made while iterating can be replayed in another order",
                "use a `BTreeMap`/`BTreeSet`, or sort the entries first",
            ),
        };
        let allow = self.id();
        match self {
            Rule::UnboundedLoop => format!("{why}; {instead} (rule `{allow}`)"),
            Rule::StaticMut => format!(
                "`{what}` is not allowed in an orchestrator: {why}; {instead} (rule `{allow}`)"
            ),
            Rule::HashIteration => format!(
                "iterating `{what}`, a `HashMap`/`HashSet` built in this orchestrator: {why}; {instead} (rule `{allow}`)"
            ),
            _ => format!(
                "`{what}` is not allowed in an orchestrator: {why}; {instead} (rule `{allow}`)"
            ),
        }
    }
}

/// How a rule's paths are matched.
enum Pattern {
    /// The path ends with these segments (`*` matches any one segment).
    Suffix(&'static [&'static str]),
    /// The path starts with these segments.
    Prefix(&'static [&'static str]),
}

use Pattern::{Prefix, Suffix};

/// The path rules, in matching order.
const PATH_RULES: &[(Rule, Pattern)] = &[
    (Rule::WallClock, Suffix(&["SystemTime", "now"])),
    (Rule::WallClock, Suffix(&["Instant", "now"])),
    (Rule::WallClock, Suffix(&["Utc", "now"])),
    (Rule::WallClock, Suffix(&["Local", "now"])),
    (Rule::WallClock, Suffix(&["OffsetDateTime", "now_utc"])),
    (Rule::WallClock, Suffix(&["OffsetDateTime", "now_local"])),
    (Rule::Randomness, Suffix(&["thread_rng"])),
    (Rule::Randomness, Suffix(&["rand", "random"])),
    (Rule::Randomness, Suffix(&["rand", "rng"])),
    (Rule::Randomness, Suffix(&["OsRng"])),
    (Rule::Randomness, Suffix(&["from_entropy"])),
    (Rule::Randomness, Suffix(&["from_os_rng"])),
    (Rule::Randomness, Suffix(&["Uuid", "new_v4"])),
    (Rule::Randomness, Suffix(&["Uuid", "now_v7"])),
    (Rule::Randomness, Prefix(&["fastrand"])),
    (Rule::Randomness, Prefix(&["getrandom"])),
    (Rule::Sleep, Suffix(&["thread", "sleep"])),
    (Rule::Sleep, Suffix(&["time", "sleep"])),
    (Rule::Sleep, Suffix(&["sleep_until"])),
    (Rule::Sleep, Suffix(&["time", "timeout"])),
    (Rule::Sleep, Suffix(&["timeout_at"])),
    (Rule::Sleep, Suffix(&["time", "interval"])),
    (Rule::Sleep, Suffix(&["interval_at"])),
    (Rule::Spawn, Suffix(&["tokio", "spawn"])),
    (Rule::Spawn, Suffix(&["task", "spawn"])),
    (Rule::Spawn, Suffix(&["spawn_blocking"])),
    (Rule::Spawn, Suffix(&["spawn_local"])),
    (Rule::Spawn, Suffix(&["thread", "spawn"])),
    (Rule::Spawn, Suffix(&["thread", "scope"])),
    (Rule::Env, Suffix(&["env", "var"])),
    (Rule::Env, Suffix(&["env", "var_os"])),
    (Rule::Env, Suffix(&["env", "vars"])),
    (Rule::Env, Suffix(&["env", "vars_os"])),
    (Rule::Env, Suffix(&["env", "args"])),
    (Rule::Env, Suffix(&["env", "args_os"])),
    (Rule::Env, Suffix(&["env", "current_dir"])),
    (Rule::Io, Suffix(&["fs", "*"])),
    (Rule::Io, Suffix(&["File", "open"])),
    (Rule::Io, Suffix(&["File", "create"])),
    (Rule::Io, Suffix(&["OpenOptions", "new"])),
    (Rule::Io, Suffix(&["net", "*"])),
    (Rule::Io, Suffix(&["TcpStream", "connect"])),
    (Rule::Io, Suffix(&["TcpListener", "bind"])),
    (Rule::Io, Suffix(&["UdpSocket", "bind"])),
    (Rule::Io, Suffix(&["process", "Command"])),
    (Rule::Io, Suffix(&["Command", "new"])),
    (Rule::Io, Suffix(&["io", "stdin"])),
    (Rule::Io, Prefix(&["reqwest"])),
];

/// The rule `segments` (a path, leading `::` dropped) breaks, if any.
pub(crate) fn match_path(segments: &[String]) -> Option<Rule> {
    PATH_RULES.iter().find_map(|(rule, pattern)| {
        let matched = match pattern {
            Suffix(suffix) => {
                segments.len() >= suffix.len()
                    && segments[segments.len() - suffix.len()..]
                        .iter()
                        .zip(suffix.iter())
                        .all(|(segment, want)| *want == "*" || segment == want)
            }
            Prefix(prefix) => {
                segments.len() >= prefix.len()
                    && segments
                        .iter()
                        .zip(prefix.iter())
                        .all(|(segment, want)| segment == want)
            }
        };
        matched.then_some(*rule)
    })
}

/// `ctx` methods (and other calls) that are durable: a loop making them grows history.
pub(crate) const DURABLE_METHODS: &[&str] = &[
    "call_activity",
    "call_activity_with_retry",
    "call_sub_orchestrator",
    "call_sub_orchestrator_with_retry",
    "create_timer",
    "wait_for_external_event",
    "wait_for_external_event_with_timeout",
    "call_entity",
    "signal_entity",
    "send_event",
];

/// Methods that iterate a map or set.
pub(crate) const ITERATING_METHODS: &[&str] = &[
    "iter",
    "iter_mut",
    "into_iter",
    "keys",
    "values",
    "values_mut",
    "into_keys",
    "into_values",
    "drain",
];
