//! The determinism rules: their ids, the paths they match and what they say.
//!
//! Matching is by path *suffix*, because a macro sees tokens, not resolved paths: generic
//! names (`now`, `sleep`, `spawn`, `var`) match only with their qualifier
//! (`SystemTime::now`), distinctive ones (`thread_rng`, `spawn_blocking`) on their own.
//! Imports inside the body are resolved before matching (`use std::thread::sleep; sleep(d)`
//! matches as `std::thread::sleep`). Method rules match a method name on any receiver
//! (`.elapsed()`, `.spawn(..)`, `.par_iter()`), so they list only names that have no
//! deterministic meaning in an orchestrator.

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
    GlobalState,
    UnboundedLoop,
    HashIteration,
    NonDurableAwait,
}

impl Rule {
    /// Every rule, in documentation order.
    pub(crate) const ALL: [Rule; 12] = [
        Rule::WallClock,
        Rule::Randomness,
        Rule::Sleep,
        Rule::Spawn,
        Rule::Select,
        Rule::Env,
        Rule::Io,
        Rule::StaticMut,
        Rule::GlobalState,
        Rule::UnboundedLoop,
        Rule::HashIteration,
        Rule::NonDurableAwait,
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
            Rule::GlobalState => "global_state",
            Rule::UnboundedLoop => "unbounded_loop",
            Rule::HashIteration => "hash_iteration",
            Rule::NonDurableAwait => "non_durable_await",
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

    /// Why `what` breaks replay, and what to use instead. `resolved` is the full path an
    /// import in the body made of `what`; `note` replaces the rule's general reason.
    pub(crate) fn message(self, what: &str, resolved: Option<&str>, note: Option<&str>) -> String {
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
            Rule::GlobalState => (
                "process-global state (atomics, locks, lazy and thread-local statics) is not in the history and differs between processes and replays",
                "keep state in local variables, pass it in the input, or read it in an `#[activity]`",
            ),
            Rule::UnboundedLoop => (
                "a loop that makes durable calls and never ends grows the history without bound",
                "end it with `break` or `return`, or restart with a fresh history using `ctx.continue_as_new(input)`",
            ),
            // Reported by the compiler, through `DurableFuture`'s `on_unimplemented`.
            Rule::NonDurableAwait => (
                "a future outside the history runs again on every replay and may see something else, or never resolve there",
                "call it in an `#[activity]` and await `ctx.call_activity(..)`, or use `ctx.create_timer(..)` for waits",
            ),
            Rule::HashIteration => (
                "its iteration order differs between processes, so durable calls made while iterating, or with an element picked by that order (`.next()`, `.find(..)`, `.max_by_key(..)` among ties), can differ on replay",
                "use a `BTreeMap`/`BTreeSet`, or sort the entries first",
            ),
        };
        let why = note.unwrap_or(why);
        let allow = self.id();
        let resolved = resolved.map(|r| format!(" (`{r}`)")).unwrap_or_default();
        match self {
            Rule::UnboundedLoop => format!("{why}; {instead} (rule `{allow}`)"),
            Rule::HashIteration if what.is_empty() => format!(
                "iterating a `HashMap`/`HashSet` where its order reaches durable calls: {why}; {instead} (rule `{allow}`)"
            ),
            Rule::HashIteration => format!(
                "iterating `{what}`, a `HashMap`/`HashSet`, where its order reaches durable calls: {why}; {instead} (rule `{allow}`)"
            ),
            _ => format!(
                "`{what}`{resolved} is not allowed in an orchestrator: {why}; {instead} (rule `{allow}`)"
            ),
        }
    }
}

/// How a rule's paths are matched. In both, `*` matches any one segment, `name*` a
/// segment that starts with `name` (`spawn*`, `aws_sdk_*`) and `*name` one that ends with
/// it (`*_from_env`).
enum Pattern {
    /// The path ends with these segments.
    Suffix(&'static [&'static str]),
    /// The path starts with these segments.
    Prefix(&'static [&'static str]),
}

/// Whether `segment` is matched by the pattern segment `want` (`*` alone: any segment;
/// `name*`: one that starts with `name`; `*name`: one that ends with it).
fn segment_matches(segment: &str, want: &str) -> bool {
    if want == "*" {
        return true;
    }
    if let Some(end) = want.strip_prefix('*') {
        return segment.ends_with(end);
    }
    match want.strip_suffix('*') {
        Some(start) => segment.starts_with(start),
        None => segment == want,
    }
}

use Pattern::{Prefix, Suffix};

/// A path rule: the rule, how it matches, and a reason that replaces the rule's general one.
struct PathRule(Rule, Pattern, Option<&'static str>);

const THREAD_ID: Option<&str> =
    Some("a thread's identity differs between workers and between replays");
const PROCESS_ID: Option<&str> =
    Some("the process, host and machine differ between workers and between replays");
pub(crate) const HASH_SEED: Option<&str> = Some(
    "it is seeded per process (`RandomState`), or its algorithm may change between Rust releases (`DefaultHasher`), so hashes differ on replay",
);
const RAYON: Option<&str> =
    Some("it runs work on rayon's thread pool, which the history does not track");
const RETRY_HELPER: Option<&str> = Some(
    "a retry helper waits between attempts on a timer the history does not record; give the durable call a retry policy instead",
);
const RUNTIME: Option<&str> = Some("it runs work on a tokio runtime the history does not track");
const THREAD_POOL: Option<&str> =
    Some("it runs work on a thread pool, which the history does not track");
const DATABASE: Option<&str> = Some(
    "a database query is I/O the history does not record, so it runs again on every replay and may see other rows",
);
const HARDWARE: Option<&str> =
    Some("the machine's devices (GPUs, network interfaces) differ between workers and over time");
pub(crate) const PROCESS: Option<&str> = Some(
    "it runs a process, which the history does not record, so it runs again on every replay and may do something else",
);
const FILE: Option<&str> = Some(
    "it reads a file, which is I/O the history does not record, so it runs again on every replay and may see something else",
);
const SYSTEM: Option<&str> = Some(
    "a call into the operating system is not recorded in the history, so it runs again on every replay and may see something else",
);
pub(crate) const ADDRESS: Option<&str> = Some(
    "an address differs between processes (address-space layout randomisation) and between replays",
);

/// The path rules, in matching order.
const PATH_RULES: &[PathRule] = &[
    PathRule(Rule::WallClock, Suffix(&["SystemTime", "now"]), None),
    PathRule(Rule::WallClock, Suffix(&["Instant", "now"]), None),
    PathRule(Rule::WallClock, Suffix(&["Utc", "now"]), None),
    PathRule(Rule::WallClock, Suffix(&["Local", "now"]), None),
    PathRule(
        Rule::WallClock,
        Suffix(&["OffsetDateTime", "now_utc"]),
        None,
    ),
    PathRule(
        Rule::WallClock,
        Suffix(&["OffsetDateTime", "now_local"]),
        None,
    ),
    PathRule(Rule::WallClock, Suffix(&["Timestamp", "now"]), None),
    PathRule(Rule::WallClock, Suffix(&["Zoned", "now"]), None),
    PathRule(Rule::WallClock, Suffix(&["Utc", "today"]), None),
    PathRule(Rule::WallClock, Suffix(&["Local", "today"]), None),
    PathRule(Rule::WallClock, Prefix(&["coarsetime"]), None),
    PathRule(Rule::WallClock, Prefix(&["quanta"]), None),
    // Whatever the type: a function named `now` / `today` reads a clock (`UtcDateTime::now`,
    // `minstant::Instant::now`, a re-exported or renamed `Utc`).
    PathRule(Rule::WallClock, Suffix(&["*", "now"]), None),
    PathRule(Rule::WallClock, Suffix(&["*", "now_utc"]), None),
    PathRule(Rule::WallClock, Suffix(&["*", "now_local"]), None),
    PathRule(Rule::WallClock, Suffix(&["*", "today"]), None),
    PathRule(Rule::WallClock, Suffix(&["libc", "time"]), None),
    PathRule(Rule::WallClock, Suffix(&["clock_gettime"]), None),
    PathRule(Rule::WallClock, Suffix(&["gettimeofday"]), None),
    PathRule(Rule::Randomness, Suffix(&["thread_rng"]), None),
    PathRule(Rule::Randomness, Suffix(&["rand", "random"]), None),
    PathRule(Rule::Randomness, Suffix(&["rand", "rng"]), None),
    PathRule(Rule::Randomness, Suffix(&["rand", "random_range"]), None),
    PathRule(Rule::Randomness, Suffix(&["rand", "random_bool"]), None),
    PathRule(Rule::Randomness, Suffix(&["rand", "random_ratio"]), None),
    PathRule(Rule::Randomness, Suffix(&["rand", "random_iter"]), None),
    PathRule(Rule::Randomness, Suffix(&["rand", "fill"]), None),
    PathRule(Rule::Randomness, Suffix(&["ThreadRng", "*"]), None),
    PathRule(Rule::Randomness, Suffix(&["EntropyRng", "*"]), None),
    PathRule(Rule::Randomness, Suffix(&["from_thread_rng"]), None),
    PathRule(Rule::Randomness, Suffix(&["libc", "rand"]), None),
    PathRule(Rule::Randomness, Suffix(&["libc", "random"]), None),
    PathRule(Rule::Randomness, Suffix(&["OsRng"]), None),
    PathRule(Rule::Randomness, Suffix(&["from_entropy"]), None),
    PathRule(Rule::Randomness, Suffix(&["from_os_rng"]), None),
    PathRule(Rule::Randomness, Suffix(&["Uuid", "new_v4"]), None),
    PathRule(Rule::Randomness, Suffix(&["Uuid", "now_v7"]), None),
    PathRule(Rule::Randomness, Suffix(&["Uuid", "now_v1"]), None),
    PathRule(Rule::Randomness, Suffix(&["Ulid", "new"]), None),
    PathRule(Rule::Randomness, Suffix(&["Ulid", "generate"]), None),
    PathRule(Rule::Randomness, Prefix(&["rusty_ulid"]), None),
    PathRule(Rule::Randomness, Suffix(&["openssl", "rand", "*"]), None),
    PathRule(Rule::Randomness, Prefix(&["petname"]), None),
    PathRule(Rule::Randomness, Suffix(&["ObjectId", "new"]), None),
    PathRule(Rule::Randomness, Suffix(&["Uuid", "now_v6"]), None),
    PathRule(Rule::Randomness, Suffix(&["Uuid", "new_v6"]), None),
    PathRule(Rule::Randomness, Prefix(&["ulid", "Generator"]), None),
    PathRule(Rule::Randomness, Suffix(&["ulid", "Generator", "*"]), None),
    // Snowflake-style ids are made of the clock.
    PathRule(Rule::WallClock, Prefix(&["snowflake"]), None),
    PathRule(Rule::WallClock, Prefix(&["rs_snowflake"]), None),
    PathRule(Rule::WallClock, Prefix(&["sonyflake"]), None),
    PathRule(
        Rule::WallClock,
        Suffix(&["SnowflakeIdGenerator", "*"]),
        None,
    ),
    PathRule(Rule::Randomness, Suffix(&["Ksuid", "new"]), None),
    PathRule(Rule::Randomness, Suffix(&["Ksuid", "generate"]), None),
    PathRule(Rule::Randomness, Suffix(&["xid", "new"]), None),
    PathRule(Rule::Randomness, Prefix(&["scru128"]), None),
    PathRule(Rule::Randomness, Prefix(&["uuid7"]), None),
    PathRule(Rule::Randomness, Prefix(&["fastrand"]), None),
    PathRule(Rule::Randomness, Prefix(&["getrandom"]), None),
    PathRule(Rule::Randomness, Prefix(&["nanoid"]), None),
    PathRule(Rule::Randomness, Prefix(&["cuid"]), None),
    PathRule(Rule::Randomness, Prefix(&["cuid2"]), None),
    PathRule(Rule::Randomness, Suffix(&["SystemRandom", "new"]), None),
    PathRule(Rule::Randomness, Prefix(&["ring", "rand"]), None),
    PathRule(Rule::Randomness, Suffix(&["RandomState", "new"]), HASH_SEED),
    PathRule(
        Rule::Randomness,
        Suffix(&["RandomState", "default"]),
        HASH_SEED,
    ),
    PathRule(
        Rule::Randomness,
        Suffix(&["DefaultHasher", "new"]),
        HASH_SEED,
    ),
    PathRule(
        Rule::Randomness,
        Suffix(&["DefaultHasher", "default"]),
        HASH_SEED,
    ),
    PathRule(Rule::Randomness, Suffix(&["ptr", "hash"]), ADDRESS),
    PathRule(Rule::Sleep, Suffix(&["thread", "sleep"]), None),
    PathRule(Rule::Sleep, Suffix(&["thread", "sleep_ms"]), None),
    PathRule(Rule::Sleep, Suffix(&["thread", "park_timeout"]), None),
    PathRule(Rule::Sleep, Suffix(&["time", "sleep"]), None),
    PathRule(Rule::Sleep, Suffix(&["task", "sleep"]), None),
    PathRule(Rule::Sleep, Suffix(&["Timer", "after"]), None),
    PathRule(Rule::Sleep, Suffix(&["Timer", "at"]), None),
    PathRule(Rule::Sleep, Suffix(&["Timer", "interval"]), None),
    PathRule(Rule::Sleep, Suffix(&["sleep_until"]), None),
    PathRule(Rule::Sleep, Suffix(&["time", "timeout"]), None),
    PathRule(Rule::Sleep, Suffix(&["timeout_at"]), None),
    PathRule(Rule::Sleep, Suffix(&["time", "interval"]), None),
    PathRule(Rule::Sleep, Suffix(&["interval_at"]), None),
    PathRule(Rule::Sleep, Suffix(&["Delay", "new"]), None),
    // Retry helpers sleep between attempts on their own timer (use a retry policy on the
    // durable call instead).
    PathRule(Rule::Sleep, Suffix(&["Retry", "spawn"]), RETRY_HELPER),
    PathRule(Rule::Sleep, Suffix(&["RetryIf", "spawn"]), RETRY_HELPER),
    PathRule(Rule::Sleep, Prefix(&["backoff", "future"]), RETRY_HELPER),
    PathRule(Rule::Sleep, Suffix(&["backoff", "retry"]), RETRY_HELPER),
    PathRule(Rule::Sleep, Prefix(&["tryhard"]), RETRY_HELPER),
    PathRule(Rule::Sleep, Prefix(&["leaky_bucket"]), None),
    PathRule(
        Rule::Sleep,
        Suffix(&["backoff", "retry_notify"]),
        RETRY_HELPER,
    ),
    PathRule(Rule::Randomness, Suffix(&["strategy", "jitter"]), None),
    // Whatever the module: `glommio::timer::sleep`, `actix_rt::time::sleep`,
    // `async_std::future::timeout`.
    PathRule(Rule::Sleep, Suffix(&["*", "sleep"]), None),
    PathRule(Rule::Sleep, Suffix(&["*", "sleep_ms"]), None),
    PathRule(Rule::Sleep, Suffix(&["*", "timeout"]), None),
    PathRule(Rule::Sleep, Suffix(&["thread", "park"]), None),
    PathRule(Rule::Spawn, Suffix(&["tokio", "spawn"]), None),
    PathRule(Rule::Spawn, Suffix(&["task", "spawn"]), None),
    PathRule(Rule::Spawn, Suffix(&["smol", "spawn"]), None),
    PathRule(Rule::Spawn, Suffix(&["smol", "block_on"]), None),
    PathRule(Rule::Spawn, Suffix(&["task", "block_on"]), None),
    PathRule(Rule::Spawn, Prefix(&["threadpool"]), THREAD_POOL),
    PathRule(Rule::Spawn, Suffix(&["ThreadPool", "new"]), THREAD_POOL),
    PathRule(Rule::Spawn, Suffix(&["ThreadPool", "default"]), THREAD_POOL),
    PathRule(
        Rule::Spawn,
        Suffix(&["ThreadPool", "with_name"]),
        THREAD_POOL,
    ),
    PathRule(Rule::Spawn, Suffix(&["spawn_blocking"]), None),
    PathRule(Rule::Spawn, Suffix(&["spawn_local"]), None),
    PathRule(Rule::Spawn, Suffix(&["block_in_place"]), RUNTIME),
    PathRule(Rule::Spawn, Suffix(&["thread", "spawn"]), None),
    PathRule(Rule::Spawn, Suffix(&["thread", "scope"]), None),
    PathRule(Rule::Spawn, Suffix(&["thread", "Builder", "new"]), None),
    PathRule(Rule::Spawn, Suffix(&["JoinSet", "new"]), None),
    PathRule(Rule::Spawn, Suffix(&["JoinSet", "default"]), None),
    PathRule(Rule::Spawn, Suffix(&["Handle", "current"]), RUNTIME),
    PathRule(Rule::Spawn, Suffix(&["Handle", "try_current"]), RUNTIME),
    PathRule(Rule::Spawn, Suffix(&["Runtime", "new"]), RUNTIME),
    PathRule(Rule::Spawn, Suffix(&["executor", "block_on"]), None),
    PathRule(Rule::Spawn, Prefix(&["rayon"]), RAYON),
    PathRule(Rule::Spawn, Prefix(&["crossbeam", "thread"]), None),
    // Whatever the runtime: `actix_rt::spawn`, `glommio::spawn_local`,
    // `crossbeam::scope`, `rayon::scope`, `pollster::block_on`.
    PathRule(Rule::Spawn, Suffix(&["*", "spawn*"]), None),
    PathRule(Rule::Spawn, Suffix(&["*", "block_on"]), None),
    PathRule(Rule::Spawn, Suffix(&["*", "scope"]), None),
    PathRule(Rule::Spawn, Suffix(&["LocalSet", "new"]), RUNTIME),
    PathRule(Rule::Spawn, Suffix(&["LocalPool", "new"]), None),
    PathRule(
        Rule::Spawn,
        Suffix(&["Builder", "new_multi_thread"]),
        RUNTIME,
    ),
    PathRule(
        Rule::Spawn,
        Suffix(&["Builder", "new_current_thread"]),
        RUNTIME,
    ),
    PathRule(Rule::Env, Suffix(&["env", "var"]), None),
    PathRule(Rule::Env, Suffix(&["env", "var_os"]), None),
    PathRule(Rule::Env, Suffix(&["env", "vars"]), None),
    PathRule(Rule::Env, Suffix(&["env", "vars_os"]), None),
    PathRule(Rule::Env, Suffix(&["env", "args"]), None),
    PathRule(Rule::Env, Suffix(&["env", "args_os"]), None),
    PathRule(Rule::Env, Suffix(&["env", "current_dir"]), None),
    PathRule(Rule::Env, Suffix(&["env", "current_exe"]), None),
    PathRule(Rule::Env, Suffix(&["env", "temp_dir"]), None),
    PathRule(Rule::Env, Suffix(&["env", "*"]), None),
    PathRule(Rule::Env, Suffix(&["Env", "prefixed"]), None),
    PathRule(Rule::Env, Suffix(&["Env", "raw"]), None),
    PathRule(Rule::Env, Suffix(&["home_dir"]), None),
    PathRule(Rule::Env, Prefix(&["dirs"]), None),
    PathRule(Rule::Env, Prefix(&["whoami"]), PROCESS_ID),
    PathRule(Rule::Env, Suffix(&["getpid"]), PROCESS_ID),
    PathRule(Rule::Env, Suffix(&["getppid"]), PROCESS_ID),
    PathRule(Rule::Env, Suffix(&["gettid"]), THREAD_ID),
    PathRule(Rule::Env, Suffix(&["process", "parent_id"]), PROCESS_ID),
    PathRule(Rule::Env, Prefix(&["thread_id"]), THREAD_ID),
    PathRule(Rule::Env, Suffix(&["thread", "current"]), THREAD_ID),
    PathRule(Rule::Env, Suffix(&["available_parallelism"]), PROCESS_ID),
    PathRule(Rule::Env, Suffix(&["process", "id"]), PROCESS_ID),
    PathRule(Rule::Env, Prefix(&["hostname"]), PROCESS_ID),
    PathRule(Rule::Env, Prefix(&["gethostname"]), PROCESS_ID),
    PathRule(Rule::Env, Prefix(&["num_cpus"]), PROCESS_ID),
    PathRule(Rule::Env, Prefix(&["sysinfo"]), PROCESS_ID),
    PathRule(Rule::Env, Prefix(&["dotenvy"]), None),
    PathRule(Rule::Env, Prefix(&["dotenv"]), None),
    PathRule(Rule::Env, Prefix(&["envy"]), None),
    PathRule(Rule::Env, Prefix(&["sys_locale"]), PROCESS_ID),
    PathRule(Rule::Env, Prefix(&["machine_uid"]), PROCESS_ID),
    PathRule(Rule::Env, Prefix(&["terminal_size"]), PROCESS_ID),
    PathRule(Rule::Env, Suffix(&["current_local_offset"]), None),
    PathRule(Rule::Env, Suffix(&["config", "Environment", "*"]), None),
    PathRule(Rule::Env, Suffix(&["Environment", "with_prefix"]), None),
    PathRule(Rule::Io, Suffix(&["fs", "*"]), None),
    PathRule(Rule::Io, Suffix(&["File", "open"]), None),
    PathRule(Rule::Io, Suffix(&["File", "create"]), None),
    PathRule(Rule::Io, Suffix(&["OpenOptions", "new"]), None),
    PathRule(Rule::Io, Suffix(&["net", "*"]), None),
    PathRule(Rule::Io, Suffix(&["TcpStream", "connect"]), None),
    PathRule(Rule::Io, Suffix(&["TcpListener", "bind"]), None),
    PathRule(Rule::Io, Suffix(&["UdpSocket", "bind"]), None),
    PathRule(Rule::Io, Suffix(&["process", "Command"]), None),
    PathRule(Rule::Io, Suffix(&["Command", "new"]), None),
    PathRule(Rule::Io, Suffix(&["io", "stdin"]), None),
    PathRule(Rule::Io, Prefix(&["reqwest"]), None),
    PathRule(Rule::Io, Prefix(&["walkdir"]), None),
    PathRule(Rule::Io, Prefix(&["stripe"]), None),
    PathRule(Rule::Io, Prefix(&["minreq"]), None),
    PathRule(Rule::Io, Prefix(&["fcm"]), None),
    PathRule(Rule::Io, Prefix(&["paho_mqtt"]), None),
    PathRule(Rule::Io, Prefix(&["influxdb"]), None),
    PathRule(Rule::Io, Prefix(&["influxdb2"]), None),
    PathRule(Rule::Io, Prefix(&["serialport"]), None),
    PathRule(Rule::Io, Prefix(&["tempfile"]), None),
    PathRule(Rule::Io, Prefix(&["fred"]), DATABASE),
    PathRule(Rule::Io, Prefix(&["celery"]), None),
    PathRule(Rule::Io, Prefix(&["unleash_api_client"]), None),
    PathRule(Rule::Io, Suffix(&["which", "which"]), None),
    PathRule(Rule::Io, Suffix(&["Reader", "from_path"]), None),
    PathRule(Rule::Io, Suffix(&["Writer", "from_path"]), None),
    PathRule(Rule::Io, Suffix(&["LazyCsvReader", "new"]), None),
    PathRule(Rule::Io, Suffix(&["CsvReader", "from_path"]), None),
    PathRule(Rule::Io, Suffix(&["RedisClient", "new"]), DATABASE),
    PathRule(Rule::Io, Suffix(&["config", "File", "*"]), None),
    PathRule(Rule::Io, Suffix(&["WalkDir", "new"]), None),
    PathRule(Rule::Io, Suffix(&["glob", "glob"]), None),
    PathRule(Rule::Io, Suffix(&["glob", "glob_with"]), None),
    PathRule(Rule::Io, Prefix(&["ureq"]), None),
    PathRule(Rule::Io, Prefix(&["surf"]), None),
    PathRule(Rule::Io, Prefix(&["isahc"]), None),
    PathRule(Rule::Io, Prefix(&["attohttpc"]), None),
    PathRule(Rule::Io, Prefix(&["sqlx"]), DATABASE),
    PathRule(Rule::Io, Prefix(&["tokio_postgres"]), DATABASE),
    PathRule(Rule::Io, Prefix(&["postgres"]), DATABASE),
    PathRule(Rule::Io, Prefix(&["rusqlite"]), DATABASE),
    PathRule(Rule::Io, Prefix(&["redis"]), DATABASE),
    PathRule(Rule::Io, Prefix(&["mongodb"]), DATABASE),
    PathRule(Rule::Io, Prefix(&["diesel"]), DATABASE),
    PathRule(Rule::Io, Prefix(&["sea_orm"]), DATABASE),
    PathRule(Rule::Io, Prefix(&["mysql*"]), DATABASE),
    PathRule(Rule::Io, Prefix(&["tiberius"]), DATABASE),
    PathRule(Rule::Io, Prefix(&["scylla"]), DATABASE),
    PathRule(Rule::Io, Prefix(&["deadpool*"]), DATABASE),
    PathRule(Rule::Io, Prefix(&["bb8*"]), DATABASE),
    PathRule(Rule::Io, Prefix(&["r2d2*"]), DATABASE),
    PathRule(Rule::Io, Prefix(&["fred"]), DATABASE),
    PathRule(Rule::Io, Prefix(&["sled"]), DATABASE),
    PathRule(Rule::Io, Prefix(&["rocksdb"]), DATABASE),
    PathRule(Rule::Io, Prefix(&["elasticsearch"]), DATABASE),
    PathRule(Rule::Io, Prefix(&["opensearch"]), DATABASE),
    // Network clients: HTTP, gRPC, cloud SDKs, message brokers, mail, DNS.
    PathRule(Rule::Io, Prefix(&["hyper*"]), None),
    PathRule(Rule::Io, Prefix(&["tonic"]), None),
    PathRule(Rule::Io, Prefix(&["h2"]), None),
    PathRule(Rule::Io, Prefix(&["quinn"]), None),
    PathRule(Rule::Io, Prefix(&["awc"]), None),
    PathRule(Rule::Io, Prefix(&["*tungstenite"]), None),
    PathRule(Rule::Io, Prefix(&["aws_sdk_*"]), None),
    PathRule(Rule::Io, Prefix(&["aws_config"]), None),
    PathRule(Rule::Io, Prefix(&["rusoto_*"]), None),
    PathRule(Rule::Io, Prefix(&["google_cloud_*"]), None),
    PathRule(Rule::Io, Prefix(&["azure_*"]), None),
    PathRule(Rule::Io, Prefix(&["object_store"]), None),
    PathRule(Rule::Io, Prefix(&["rdkafka"]), None),
    PathRule(Rule::Io, Prefix(&["lapin"]), None),
    PathRule(Rule::Io, Prefix(&["async_nats"]), None),
    PathRule(Rule::Io, Prefix(&["nats"]), None),
    PathRule(Rule::Io, Prefix(&["rumqttc"]), None),
    PathRule(Rule::Io, Prefix(&["lettre"]), None),
    PathRule(Rule::Io, Prefix(&["ssh2"]), None),
    PathRule(Rule::Io, Prefix(&["bollard"]), None),
    PathRule(Rule::Io, Prefix(&["kube"]), None),
    PathRule(Rule::Io, Prefix(&["octocrab"]), None),
    PathRule(Rule::Io, Prefix(&["dns_lookup"]), None),
    PathRule(Rule::Io, Prefix(&["hickory_resolver"]), None),
    PathRule(Rule::Io, Prefix(&["trust_dns_resolver"]), None),
    // Whatever the client: `GreeterClient::connect`, `PgConnection::connect`.
    PathRule(Rule::Io, Suffix(&["*", "connect"]), None),
    PathRule(Rule::Io, Suffix(&["*", "connect_*"]), None),
    // The operating system, directly.
    PathRule(Rule::Io, Prefix(&["libc"]), SYSTEM),
    PathRule(Rule::Io, Prefix(&["nix"]), SYSTEM),
    PathRule(Rule::Io, Prefix(&["winapi"]), SYSTEM),
    PathRule(Rule::Io, Prefix(&["windows_sys"]), SYSTEM),
    // (Crate prefixes need a second segment: a bare `notify` or `fake` is a local's name.)
    // Batch-7 sources, by kind rather than by crate where a name says what a function
    // does: a clock read named `*current_timestamp*` / `now_*` whatever its crate,
    // configuration read from the environment (`init_from_env`, `from_env`,
    // `*_from_env`), an index or model opened from a directory or file
    // (`open_in_dir`, `from_file`, `*_from_file`), an image or PDF opened from a path.
    PathRule(Rule::WallClock, Suffix(&["*current_timestamp"]), None),
    PathRule(Rule::WallClock, Suffix(&["*current_timestamp_*"]), None),
    PathRule(Rule::Randomness, Prefix(&["tsid", "*"]), None),
    PathRule(Rule::Randomness, Prefix(&["fake", "*"]), None),
    PathRule(Rule::Env, Suffix(&["from_env"]), None),
    PathRule(Rule::Env, Suffix(&["*_from_env"]), None),
    PathRule(Rule::Env, Prefix(&["iana_time_zone", "*"]), None),
    PathRule(Rule::Env, Prefix(&["local_ip_address", "*"]), HARDWARE),
    PathRule(Rule::Env, Suffix(&["cuda_if_available"]), HARDWARE),
    PathRule(Rule::Env, Prefix(&["nvml_wrapper", "*"]), HARDWARE),
    PathRule(Rule::Io, Suffix(&["*", "open_in_dir"]), FILE),
    PathRule(Rule::Io, Suffix(&["*", "from_file"]), FILE),
    PathRule(Rule::Io, Suffix(&["*", "*_from_file"]), FILE),
    PathRule(Rule::Io, Suffix(&["image", "open"]), FILE),
    PathRule(Rule::Io, Prefix(&["pdf_extract", "*"]), FILE),
    PathRule(Rule::Io, Prefix(&["lopdf", "*"]), FILE),
    PathRule(Rule::Io, Prefix(&["leptess", "*"]), FILE),
    PathRule(Rule::Io, Prefix(&["ffmpeg_next", "*"]), FILE),
    PathRule(Rule::Io, Prefix(&["ffmpeg_sidecar", "*"]), PROCESS),
    PathRule(Rule::Io, Prefix(&["notify", "*"]), FILE),
    PathRule(Rule::Io, Prefix(&["slack_hook", "*"]), None),
    PathRule(Rule::Io, Prefix(&["web_sys", "*"]), None),
    PathRule(Rule::Io, Prefix(&["duct", "*"]), PROCESS),
    PathRule(Rule::Io, Prefix(&["xshell", "*"]), PROCESS),
    PathRule(Rule::Sleep, Suffix(&["retry", "retry"]), RETRY_HELPER),
    PathRule(
        Rule::Sleep,
        Suffix(&["retry", "retry_with_index"]),
        RETRY_HELPER,
    ),
    PathRule(Rule::Sleep, Suffix(&["crossbeam*", "after"]), None),
    PathRule(Rule::Sleep, Suffix(&["crossbeam*", "tick"]), None),
    PathRule(Rule::Sleep, Prefix(&["settimeout", "*"]), None),
    PathRule(Rule::Sleep, Prefix(&["gloo_timers", "*"]), None),
    PathRule(Rule::WallClock, Suffix(&["*", "now_*"]), None),
    PathRule(Rule::GlobalState, Suffix(&["Lazy", "force"]), None),
    PathRule(Rule::GlobalState, Suffix(&["LazyLock", "force"]), None),
    PathRule(Rule::GlobalState, Suffix(&["LazyCell", "force"]), None),
];

/// Constructors of a random generator from a seed: what they make repeats on replay, so
/// neither the path nor the random methods called on the result (or with it) break a rule.
pub(crate) const SEEDED_CONSTRUCTORS: &[&str] = &["seed_from_u64", "from_seed", "with_seed"];

/// Paths (suffixes) that a wider rule below would match but that are deterministic:
/// `std::env::split_paths` parses its argument, `tokio::time::Duration` is std's.
const PURE_PATHS: &[&[&str]] = &[
    &["env", "split_paths"],
    &["env", "join_paths"],
    &["time", "Duration", "*"],
    &["Duration", "*"],
];

/// A path rule that matched.
pub(crate) struct Matched {
    pub(crate) rule: Rule,
    /// Replaces the rule's general reason.
    pub(crate) note: Option<&'static str>,
}

/// The rule `segments` (a path, leading `::` dropped) breaks, if any.
pub(crate) fn match_path(segments: &[String]) -> Option<Matched> {
    // A generator seeded from a value is deterministic (`fastrand::Rng::with_seed(seed)`).
    if segments
        .last()
        .is_some_and(|last| SEEDED_CONSTRUCTORS.contains(&last.as_str()))
    {
        return None;
    }
    // Pure functions under a module whose other functions break a rule.
    if PURE_PATHS.iter().any(|pure| {
        segments.len() >= pure.len()
            && segments[segments.len() - pure.len()..]
                .iter()
                .zip(pure.iter())
                .all(|(segment, want)| segment_matches(segment, want))
    }) {
        return None;
    }
    PATH_RULES.iter().find_map(|PathRule(rule, pattern, note)| {
        let matched = match pattern {
            Suffix(suffix) => {
                segments.len() >= suffix.len()
                    && segments[segments.len() - suffix.len()..]
                        .iter()
                        .zip(suffix.iter())
                        .all(|(segment, want)| segment_matches(segment, want))
            }
            Prefix(prefix) => {
                segments.len() >= prefix.len()
                    && segments
                        .iter()
                        .zip(prefix.iter())
                        .all(|(segment, want)| segment_matches(segment, want))
            }
        };
        matched.then_some(Matched {
            rule: *rule,
            note: *note,
        })
    })
}

/// Method rules: a method with this name breaks the rule on any receiver.
const METHOD_RULES: &[(&str, Rule, Option<&str>)] = &[
    ("spawn", Rule::Spawn, None),
    ("spawn_blocking", Rule::Spawn, None),
    ("spawn_local", Rule::Spawn, None),
    ("spawn_on", Rule::Spawn, None),
    ("block_on", Rule::Spawn, RUNTIME),
    ("par_iter", Rule::Spawn, RAYON),
    ("par_iter_mut", Rule::Spawn, RAYON),
    ("into_par_iter", Rule::Spawn, RAYON),
    ("par_bridge", Rule::Spawn, RAYON),
    ("par_chunks", Rule::Spawn, RAYON),
    ("par_chunks_mut", Rule::Spawn, RAYON),
    ("par_extend", Rule::Spawn, RAYON),
    ("shuffle", Rule::Randomness, None),
    ("partial_shuffle", Rule::Randomness, None),
    ("choose", Rule::Randomness, None),
    ("choose_multiple", Rule::Randomness, None),
    ("choose_weighted", Rule::Randomness, None),
    ("gen_range", Rule::Randomness, None),
    ("gen_bool", Rule::Randomness, None),
    ("gen_ratio", Rule::Randomness, None),
    ("random_range", Rule::Randomness, None),
    ("random_bool", Rule::Randomness, None),
    ("random_ratio", Rule::Randomness, None),
    ("connect", Rule::Io, None),
    ("to_socket_addrs", Rule::Io, None),
    ("until_ready", Rule::Sleep, None),
    ("acquire_one", Rule::Sleep, None),
    ("upcoming", Rule::WallClock, None),
    ("socket_addrs", Rule::Io, None),
    ("perform_async", Rule::Io, None),
    ("send_task", Rule::Io, None),
    ("until_n_ready", Rule::Sleep, None),
    ("real_time_generate", Rule::WallClock, None),
    ("read_dir", Rule::Io, None),
    ("try_exists", Rule::Io, None),
    ("canonicalize", Rule::Io, None),
    ("read_link", Rule::Io, None),
    ("symlink_metadata", Rule::Io, None),
    ("generate_current", Rule::WallClock, None),
    ("commit_from_file", Rule::Io, FILE),
];

/// Method rules that apply only with no arguments: `path.exists()` asks the file system,
/// `set.exists(&k)` is a lookup.
const NULLARY_METHOD_RULES: &[(&str, Rule, Option<&str>)] = &[
    // `Instant::elapsed` / `SystemTime::elapsed` take no argument; a type of the body's own
    // with `elapsed(now)` is given the time.
    ("elapsed", Rule::WallClock, None),
    ("exists", Rule::Io, None),
    ("is_file", Rule::Io, None),
    ("is_dir", Rule::Io, None),
    ("is_symlink", Rule::Io, None),
    // `fake`'s `Word().fake()`: a random fake value.
    ("fake", Rule::Randomness, None),
];

/// The rule a call of method `name` with `args` arguments breaks, whatever its receiver
/// (`None`: the arguments are not known, as in a macro's tokens; only rules that do not
/// depend on them apply).
pub(crate) fn match_method_call(name: &str, args: Option<usize>) -> Option<Matched> {
    let nullary = NULLARY_METHOD_RULES.iter().filter(|_| args == Some(0));
    let found = METHOD_RULES
        .iter()
        .chain(nullary)
        .find(|(method, _, _)| *method == name)
        .map(|(_, rule, note)| Matched {
            rule: *rule,
            note: *note,
        });
    // Whatever the pool: `.spawn_pinned(..)`, `.spawn_with_handle(..)`, `.spawn_obj(..)`.
    found.or_else(|| {
        name.starts_with("spawn_").then_some(Matched {
            rule: Rule::Spawn,
            note: None,
        })
    })
}

/// Macros whose use in the body is itself process-global state.
pub(crate) const GLOBAL_STATE_MACROS: &[&str] = &["thread_local", "lazy_static"];

/// Methods that read or change a process-global value when called on a `SCREAMING_CASE`
/// static: atomics, `LocalKey` (`thread_local!`), locks, cells and lazy values.
pub(crate) const GLOBAL_STATE_METHODS: &[&str] = &[
    "load",
    "store",
    "swap",
    "fetch_add",
    "fetch_sub",
    "fetch_and",
    "fetch_or",
    "fetch_xor",
    "fetch_nand",
    "fetch_max",
    "fetch_min",
    "fetch_update",
    "compare_exchange",
    "compare_exchange_weak",
    "with",
    "with_borrow",
    "with_borrow_mut",
    "set",
    "take",
    "replace",
    "lock",
    "try_lock",
    "read",
    "write",
    "try_read",
    "try_write",
    "borrow",
    "borrow_mut",
    "get_or_init",
    "get_or_try_init",
    "force",
    "try_borrow",
    "try_borrow_mut",
    "try_with",
    "update",
    "get_or_insert_with",
    "blocking_lock",
    "blocking_read",
    "blocking_write",
    "lock_owned",
    "read_owned",
    "write_owned",
    "upgradable_read",
    "try_lock_for",
    "try_read_for",
    "try_write_for",
    "load_full",
    "rcu",
    "deref",
    "deref_mut",
    "call_once",
    "call_once_force",
    "is_completed",
];

/// Type names that make a `static` process-global mutable state.
pub(crate) fn interior_mutable(type_name: &str) -> bool {
    type_name.starts_with("Atomic")
        || matches!(
            type_name,
            "Mutex"
                | "RwLock"
                | "Cell"
                | "RefCell"
                | "UnsafeCell"
                | "SyncUnsafeCell"
                | "OnceCell"
                | "OnceLock"
                | "LazyLock"
                | "LazyCell"
                | "Lazy"
                | "ArcSwap"
                | "DashMap"
        )
}

/// Methods with no arguments that read a lazily set global (`OnceLock::get`,
/// `OnceCell::get`) when called on a `SCREAMING_CASE` static; with an argument (`.get(i)`,
/// `.get(key)`) they are lookups in a table, which a `const` or an immutable static can be.
pub(crate) const GLOBAL_STATE_NULLARY_METHODS: &[&str] = &["get", "get_mut", "wait", "into_inner"];

/// Methods that change a collection through `&self` when called on a `SCREAMING_CASE`
/// static outside `unsafe`: only interior mutability (`DashMap`, a concurrent map) allows it.
pub(crate) const GLOBAL_STATE_WRITES: &[&str] = &[
    "insert", "remove", "entry", "clear", "retain", "alter", "upsert", "push", "pop", "extend",
];

/// Methods that pick elements of an iteration by its position or by order among ties:
/// on a `HashMap`/`HashSet` iteration, which one they pick differs between processes
/// (`map.keys().next()`, `.iter().max_by_key(..)` with equal keys, `.find(..)`).
pub(crate) const PICKING_METHODS: &[&str] = &[
    "next",
    "next_back",
    "nth",
    "last",
    "find",
    "find_map",
    "position",
    "max_by_key",
    "min_by_key",
    "max_by",
    "min_by",
    "take",
    "skip",
    "step_by",
];

/// Methods that pick elements of a `Vec` by position (`keys.first()`), order-sensitive
/// when the `Vec` holds a hash iteration's order.
pub(crate) const VEC_PICKING_METHODS: &[&str] = &[
    "first",
    "last",
    "pop",
    "pop_front",
    "pop_back",
    "front",
    "back",
    "get",
    "split_first",
    "split_last",
    "swap_remove",
    "truncate",
];

/// Slice methods that view a `Vec` in its own order (`keys.chunks(10)`): iterating the view
/// iterates the `Vec`.
pub(crate) const SLICE_VIEWS: &[&str] = &["chunks", "chunks_exact", "rchunks", "windows"];

/// Sorts that take a key or a comparator: they keep the order of equal elements (or, the
/// unstable ones, an order that depends on it), so when the key reads only part of a map's
/// entries the ties still come in the map's order.
pub(crate) const KEYED_SORTS: &[&str] = &[
    "sort_by_key",
    "sort_unstable_by_key",
    "sort_by_cached_key",
    "sort_by",
    "sort_unstable_by",
];

/// Methods that change a `static mut` they are called on (inside `unsafe`).
pub(crate) const MUTATING_METHODS: &[&str] = &[
    "push", "push_str", "insert", "remove", "clear", "extend", "pop", "take", "replace", "get_mut",
    "iter_mut", "as_mut",
];

/// `ctx` methods (and other calls) that are durable: a loop making them grows history.
pub(crate) const DURABLE_METHODS: &[&str] = &[
    "call_activity",
    "call_activity_with_retry",
    "call_sub_orchestrator",
    "call_sub_orchestrator_with_id",
    "call_sub_orchestrator_with_retry",
    "create_timer",
    "wait_for_external_event",
    "wait_for_external_event_with_timeout",
    "wait_for_event",
    "call_entity",
    "signal_entity",
    "lock_entities",
    "send_event",
    "new_guid",
];

/// `ctx` methods that read something replay-safe and record nothing: calling them in an
/// order does not matter.
pub(crate) const PURE_CONTEXT_METHODS: &[&str] = &[
    "logger",
    "is_replaying",
    "instance_id",
    "execution_id",
    "name",
    "version",
    "parent_instance_id",
    "current_time",
    "clone",
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
    "union",
    "intersection",
    "difference",
    "symmetric_difference",
];

/// Stream methods whose future consumes the whole stream (`StreamExt`, `TryStreamExt`).
pub(crate) const CONSUMING_STREAM_METHODS: &[&str] = &[
    "collect",
    "try_collect",
    "for_each",
    "try_for_each",
    "for_each_concurrent",
    "try_for_each_concurrent",
    "fold",
    "try_fold",
    "count",
    "concat",
    "try_concat",
];

/// Iterator adaptors that make an endless iterator end.
pub(crate) const BOUNDING_ADAPTORS: &[&str] = &["take", "take_while", "zip", "map_while"];

/// Methods that visit a collection's elements in place, in its order, with a closure
/// (`set.retain(|k| ..)`): on a hash collection, durable calls in the closure follow its
/// order.
pub(crate) const IN_PLACE_VISITING_METHODS: &[&str] = &[
    "retain",
    "retain_mut",
    "extract_if",
    "drain_filter",
    "for_each",
];

/// Methods that append to a `Vec` (or deque) in the order they are given elements: the
/// `Vec` keeps a hash iteration's order (`queue.extend(set.iter())`, `v.push(k)` in a
/// `for` over a map).
pub(crate) const APPENDING_METHODS: &[&str] =
    &["extend", "push", "push_back", "push_front", "append"];

/// Collection types whose iteration order differs between processes: std's, and the
/// hash maps of `dashmap`, `ahash`, `rustc-hash` / `fxhash` and `fnv` (a hash map of
/// `hashbrown` or `foldhash` is named `HashMap` too).
pub(crate) const HASH_COLLECTIONS: &[&str] = &[
    "HashMap",
    "HashSet",
    "DashMap",
    "DashSet",
    "AHashMap",
    "AHashSet",
    "FxHashMap",
    "FxHashSet",
    "FnvHashMap",
    "FnvHashSet",
];
