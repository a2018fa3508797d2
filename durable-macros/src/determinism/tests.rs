//! Unit tests of the determinism walker: body in, messages out.

use syn::parse_quote;

use super::*;

fn krate() -> syn::Path {
    parse_quote!(::durable_runtime)
}

/// Runs the walker; returns the error messages and the number of warnings.
fn lint_with(body: syn::Block, allow: &[Rule]) -> (Vec<String>, usize) {
    let (errors, warnings, _) = lint_full(body, allow);
    (errors, warnings)
}

/// Runs the walker; returns the error messages, the number of warnings and the roots of
/// the expressions it wrapped in type probes.
fn lint_full(mut body: syn::Block, allow: &[Rule]) -> (Vec<String>, usize, Vec<String>) {
    let cx = Ctxt::new();
    let context = syn::Ident::new("ctx", Span::call_site());
    let checked = check_body(
        &cx,
        &Punctuated::new(),
        &mut body,
        Some(&context),
        allow,
        &krate(),
    );
    let errors = match cx.check() {
        Ok(()) => Vec::new(),
        Err(error) => error.into_iter().map(|e| e.to_string()).collect(),
    };
    let count = checked.warnings.to_string().matches("deprecated").count();
    (errors, count, checked.probed)
}

fn lint(body: syn::Block) -> Vec<String> {
    lint_with(body, &[]).0
}

fn assert_one(body: syn::Block, needles: &[&str]) {
    let errors = lint(body);
    assert_eq!(errors.len(), 1, "{errors:#?}");
    for needle in needles {
        assert!(
            errors[0].contains(needle),
            "{needle:?} not in {:?}",
            errors[0]
        );
    }
}

#[test]
fn wall_clock() {
    assert_one(
        parse_quote!({
            let started = SystemTime::now();
        }),
        &[
            "`SystemTime::now` is not allowed in an orchestrator",
            "wall clock",
            "ctx.current_time()",
            "rule `wall_clock`",
        ],
    );
    for body in [
        parse_quote!({
            std::time::Instant::now();
        }),
        parse_quote!({
            chrono::Utc::now();
        }),
        parse_quote!({
            Local::now();
        }),
        parse_quote!({
            time::OffsetDateTime::now_utc();
        }),
    ] {
        assert_eq!(lint(body).len(), 1);
    }
}

#[test]
fn randomness() {
    assert_one(
        parse_quote!({
            let x: u8 = rand::random();
        }),
        &["`rand::random`", "ctx.new_guid()"],
    );
    for body in [
        parse_quote!({
            let mut rng = thread_rng();
        }),
        parse_quote!({
            let rng = rand::rng();
        }),
        parse_quote!({
            let id = uuid::Uuid::new_v4();
        }),
        parse_quote!({
            let id = Uuid::now_v7();
        }),
        parse_quote!({
            let mut r = OsRng;
        }),
        parse_quote!({
            let n = fastrand::u32(..);
        }),
    ] {
        assert_eq!(lint(body).len(), 1);
    }
}

#[test]
fn sleep_spawn_env_io() {
    assert_one(
        parse_quote!({
            tokio::time::sleep(d).await;
        }),
        &["`tokio::time::sleep`", "ctx.create_timer"],
    );
    assert_one(
        parse_quote!({
            std::thread::sleep(d);
        }),
        &["rule `sleep`"],
    );
    assert_one(
        parse_quote!({
            tokio::time::timeout(d, f).await;
        }),
        &["rule `sleep`"],
    );
    assert_one(
        parse_quote!({
            tokio::spawn(async {});
        }),
        &["`tokio::spawn`", "join_all"],
    );
    assert_one(
        parse_quote!({
            tokio::task::spawn_blocking(|| 1);
        }),
        &["rule `spawn`"],
    );
    assert_one(
        parse_quote!({
            std::thread::spawn(|| 1);
        }),
        &["rule `spawn`"],
    );
    assert_one(
        parse_quote!({
            let v = std::env::var("HOME");
        }),
        &["`std::env::var`", "orchestration input"],
    );
    assert_one(
        parse_quote!({
            let a: Vec<_> = env::args().collect();
        }),
        &["rule `env`"],
    );
    assert_one(
        parse_quote!({
            let s = std::fs::read_to_string("x");
        }),
        &["`std::fs::read_to_string`", "#[activity]"],
    );
    assert_one(
        parse_quote!({
            let f = File::open("x");
        }),
        &["rule `io`"],
    );
    assert_one(
        parse_quote!({
            let s = TcpStream::connect(addr);
        }),
        &["rule `io`"],
    );
    assert_one(
        parse_quote!({
            let o = std::process::Command::new("ls");
        }),
        &["rule `io`"],
    );
    assert_one(
        parse_quote!({
            let r = reqwest::get(url).await;
        }),
        &["`reqwest::get`"],
    );
}

#[test]
fn generic_names_alone_do_not_match() {
    let body: syn::Block = parse_quote!({
        let a = now();
        sleep(d);
        spawn(x);
        let b = var("X");
        let c = read("x");
        let d = ctx.current_time();
        let e = ctx.new_guid();
        let f = Duration::from_secs(1);
        let g = String::new();
    });
    assert!(lint(body).is_empty());
}

#[test]
fn select_macros() {
    assert_one(
        parse_quote!({
            tokio::select! { _ = a => {}, _ = b => {} }
        }),
        &["`tokio::select!`", "futures::future::select"],
    );
    assert_one(
        parse_quote!({
            futures::select! { x = a => x }
        }),
        &["rule `select`"],
    );
}

#[test]
fn macro_arguments_are_checked() {
    assert_one(
        parse_quote!({
            println!("{:?}", SystemTime::now());
        }),
        &["`SystemTime::now`"],
    );
    assert_one(
        parse_quote!({
            let v = vec![Instant::now()];
        }),
        &["`Instant::now`"],
    );
}

#[test]
fn static_mut() {
    assert_one(
        parse_quote!({
            static mut COUNT: u32 = 0;
        }),
        &["static mut COUNT", "rule `static_mut`"],
    );
    assert_one(
        parse_quote!({
            unsafe {
                COUNTER += 1;
            }
        }),
        &["`COUNTER` is not allowed in an orchestrator: a mutable static"],
    );
    assert!(
        lint(parse_quote!({
            let x = LIMIT + 1;
        }))
        .is_empty(),
        "constants outside unsafe are fine"
    );
}

#[test]
fn unbounded_loops() {
    assert_one(
        parse_quote!({
            loop {
                ctx.call_activity(Poll, ()).await?;
            }
        }),
        &[
            "grows the history without bound",
            "continue_as_new",
            "rule `unbounded_loop`",
        ],
    );
    let bounded: [syn::Block; 6] = [
        parse_quote!({
            loop {
                if ctx.call_activity(Poll, ()).await? {
                    break;
                }
            }
        }),
        parse_quote!({
            loop {
                if ctx.call_activity(Poll, ()).await? {
                    return Ok(());
                }
            }
        }),
        parse_quote!({
            'outer: loop {
                for x in xs {
                    if x {
                        break 'outer;
                    }
                }
                ctx.call_activity(Poll, ()).await?;
            }
        }),
        parse_quote!({
            loop {
                ctx.call_activity(Poll, ()).await?;
                ctx.continue_as_new(input);
            }
        }),
        parse_quote!({
            loop {
                counter += 1;
                if counter > 3 {
                    break;
                }
            }
        }),
        parse_quote!({
            loop {
                std::hint::spin_loop();
            }
        }),
    ];
    for body in bounded {
        assert!(lint(body.clone()).is_empty(), "{}", body.to_token_stream());
    }
    // A `break` that leaves only an inner loop, or a closure, does not end the outer loop.
    assert_eq!(
        lint(parse_quote!({
            loop {
                for x in xs {
                    break;
                }
                ctx.call_activity(P, ()).await?;
            }
        }))
        .len(),
        1
    );
    assert_eq!(
        lint(parse_quote!({
            loop {
                let f = || return 1;
                ctx.create_timer(d).await;
            }
        }))
        .len(),
        1
    );
}

#[test]
fn hash_iteration_is_a_warning_where_order_reaches_a_durable_call() {
    let (errors, warnings, probed) = lint_full(
        parse_quote!({
            let mut totals = HashMap::new();
            let seen: HashSet<u32> = other.into_iter().collect();
            let ordered = BTreeMap::new();
            for (key, value) in &totals {
                ctx.call_activity(A, key).await?;
            }
            let keys: Vec<_> = seen.iter().map(|k| ctx.call_activity(A, k)).collect();
            let built = items.into_iter().collect::<HashMap<_, _>>();
            for item in built.values() {
                ctx.create_timer(d).await;
            }
            for (key, value) in &ordered {
                ctx.call_activity(A, key).await?;
            }
        }),
        &[],
    );
    assert!(errors.is_empty(), "{errors:#?}");
    assert_eq!(warnings, 3);
    // `ordered` is not known to be a hash collection: the compiler decides, by its type.
    assert_eq!(probed, ["ordered"]);
}

#[test]
fn hash_iteration_that_no_durable_call_sees_is_fine() {
    let (errors, warnings, probed) = lint_full(
        parse_quote!({
            let totals: HashMap<String, u32> = load();
            let sum: u32 = totals.values().sum();
            for (k, v) in &totals {
                println!("{k}: {v}");
            }
            let mut keys: Vec<_> = totals.keys().cloned().collect();
            keys.sort();
            for key in keys {
                ctx.call_activity(A, key).await?;
            }
            if let Some(v) = totals.get("x") {
                ctx.call_activity(B, *v).await?;
            }
        }),
        &[],
    );
    assert!(errors.is_empty(), "{errors:#?}");
    assert_eq!(warnings, 0);
    assert_eq!(
        probed,
        ["keys"],
        "the sorted Vec is probed, and is not a hash type"
    );
}

#[test]
fn hash_order_through_a_local_is_followed_until_sorted() {
    let (_, warnings, _) = lint_full(
        parse_quote!({
            let totals: HashMap<String, u32> = load();
            let names: Vec<_> = totals.keys().cloned().collect();
            for name in names {
                ctx.call_activity(A, name).await?;
            }
        }),
        &[],
    );
    assert_eq!(warnings, 1);
    let (_, warnings, probed) = lint_full(
        parse_quote!({
            let names: Vec<_> = input.prices.keys().cloned().collect();
            for name in &names {
                ctx.call_activity(A, name).await?;
            }
        }),
        &[],
    );
    assert_eq!(warnings, 0);
    assert_eq!(
        probed,
        ["input.prices", "names"],
        "the probe goes where the order came from, and on the local in case that was a guess"
    );
}

#[test]
fn hash_iteration_of_inputs_fields_and_results_is_probed_by_type() {
    let (errors, warnings, probed) = lint_full(
        parse_quote!({
            let prices = ctx.call_activity(LoadPrices, ()).await?;
            for (sku, price) in prices.iter() {
                ctx.call_activity(Publish, sku).await?;
            }
            for r in &batch.recipients {
                ctx.call_activity(Email, r).await?;
            }
            let calls: Vec<_> = accounts
                .balances
                .keys()
                .map(|id| ctx.call_activity(Close, id))
                .collect();
            for x in 0..10 {
                ctx.call_activity(A, x).await?;
            }
        }),
        &[],
    );
    assert!(errors.is_empty(), "{errors:#?}");
    assert_eq!(warnings, 0);
    assert_eq!(probed.len(), 3, "{probed:?}");
    for root in ["prices", "batch.recipients", "accounts.balances"] {
        assert!(probed.iter().any(|p| p == root), "{root} not in {probed:?}");
    }
}

#[test]
fn probes_are_inserted_into_the_body() {
    let mut body: syn::Block = parse_quote!({
        for r in &batch.recipients {
            ctx.call_activity(Email, r).await?;
        }
    });
    let cx = Ctxt::new();
    let context = syn::Ident::new("ctx", Span::call_site());
    let checked = check_body(
        &cx,
        &Punctuated::new(),
        &mut body,
        Some(&context),
        &[],
        &krate(),
    );
    cx.check().unwrap();
    assert_eq!(checked.probed, ["batch.recipients"]);
    let text = body.to_token_stream().to_string();
    assert!(text.contains("fn __durable_hash_probe"), "{text}");
    assert!(
        text.contains("for r in __durable_hash_probe (& batch . recipients"),
        "{text}"
    );
    assert!(text.contains("deprecated"), "{text}");
    let mut allowed: syn::Block = parse_quote!({
        for r in &batch.recipients {
            ctx.call_activity(Email, r).await?;
        }
    });
    let cx = Ctxt::new();
    let checked = check_body(
        &cx,
        &Punctuated::new(),
        &mut allowed,
        Some(&context),
        &[Rule::HashIteration],
        &krate(),
    );
    cx.check().unwrap();
    assert!(checked.probed.is_empty());
}

#[test]
fn method_call_forms() {
    for (body, needle) in [
        (
            parse_quote!({
                let s = UNIX_EPOCH.elapsed();
            }),
            "`UNIX_EPOCH.elapsed()` is not allowed",
        ),
        (
            parse_quote!({ if STARTED.elapsed() > d {} }),
            "rule `wall_clock`",
        ),
        (
            parse_quote!({
                let h = std::thread::Builder::new().name(n).spawn(f);
            }),
            "`std::thread::Builder::new`",
        ),
        (
            parse_quote!({
                let t = tokio::runtime::Handle::current().spawn(f);
            }),
            "tokio runtime",
        ),
        (
            parse_quote!({
                let mut set = JoinSet::new();
                set.spawn(f);
            }),
            "`JoinSet::new`",
        ),
        (
            parse_quote!({
                pool.spawn(f);
            }),
            "`pool.spawn()`",
        ),
        (
            parse_quote!({
                let v: Vec<_> = docs.par_iter().map(score).collect();
            }),
            "rayon",
        ),
        (
            parse_quote!({
                list.shuffle(&mut r);
            }),
            "rule `randomness`",
        ),
        (
            parse_quote!({
                let x = rng.gen_range(0..3);
            }),
            "rule `randomness`",
        ),
    ] as [(syn::Block, &str); 9]
    {
        assert_one(body, &[needle]);
    }
    // The clock read and its `.elapsed()` are one finding.
    assert_one(
        parse_quote!({
            let started = Instant::now();
            log(started.elapsed());
        }),
        &["`Instant::now`"],
    );
}

#[test]
fn imports_in_the_body_and_qualified_self_paths() {
    for (body, needle) in [
        (
            parse_quote!({
                use std::time::SystemTime as Clock;
                let t = Clock::now();
            }),
            "`Clock::now` (`std::time::SystemTime::now`) is not allowed",
        ),
        (
            parse_quote!({
                use std::thread::sleep;
                sleep(d);
            }),
            "`sleep` (`std::thread::sleep`)",
        ),
        (
            parse_quote!({
                use tokio::time::{Duration, sleep};
                sleep(Duration::from_millis(1)).await;
            }),
            "`tokio::time::sleep`",
        ),
        (
            parse_quote!({
                use std::fs as disk;
                let s = disk::read_to_string("x");
            }),
            "rule `io`",
        ),
        (
            parse_quote!({
                use std::env::*;
                let v = var("X");
            }),
            "`std::env::var`",
        ),
        (
            parse_quote!({
                let t = <std::time::SystemTime>::now();
            }),
            "`<std::time::SystemTime>::now` (`std::time::SystemTime::now`)",
        ),
        (
            parse_quote!({
                let t = <Instant as Now>::now();
            }),
            "rule `wall_clock`",
        ),
        (
            parse_quote!({
                if ok {
                    use uuid::Uuid as Id;
                    let id = Id::new_v4();
                }
            }),
            "rule `randomness`",
        ),
    ] as [(syn::Block, &str); 8]
    {
        assert_one(body, &[needle]);
    }
}

#[test]
fn macro_token_streams_and_local_macros() {
    for (body, needle) in [
        (
            parse_quote!({
                let v = vec![SystemTime::now(); n];
            }),
            "`SystemTime::now`",
        ),
        (
            parse_quote!({
                tracing::info!(at = ?Instant::now(), "start");
            }),
            "`Instant::now`",
        ),
        (
            parse_quote!({
                let b = json!({ "nonce": rand::random::<u64>() });
            }),
            "`rand::random`",
        ),
        (
            parse_quote!({
                log!(target: "x", "{}", std::process::id());
            }),
            "rule `env`",
        ),
        (
            parse_quote!({
                macro_rules! pause {
                    ($ms:expr) => {
                        std::thread::sleep(std::time::Duration::from_millis($ms))
                    };
                }
                pause!(250);
            }),
            "`std::thread::sleep`",
        ),
        (
            parse_quote!({
                macro_rules! stamped {
                    ($v:expr) => {
                        ($v, chrono::Utc::now())
                    };
                }
                ctx.call_activity(Save, stamped!(id)).await?;
            }),
            "`chrono::Utc::now`",
        ),
    ] as [(syn::Block, &str); 6]
    {
        assert_one(body, &[needle]);
    }
    // A local macro that is never called, and one that only builds values, are fine.
    assert!(
        lint(parse_quote!({
            macro_rules! unused {
                () => {
                    std::thread::sleep(d)
                };
            }
            macro_rules! key {
                ($p:expr) => {
                    format!("{}:{}", $p, 1)
                };
            }
            let z = vec![0u8; n];
            let j = json!({ "at": ctx.current_time().to_rfc3339() });
            let k = key!("order");
        }))
        .is_empty()
    );
}

#[test]
fn process_global_state() {
    for (body, needle) in [
        (
            parse_quote!({
                static COUNTER: AtomicU64 = AtomicU64::new(1);
                let n = COUNTER.fetch_add(1, Ordering::Relaxed);
            }),
            "`static COUNTER: AtomicU64` is not allowed",
        ),
        (
            parse_quote!({ if ENABLED.load(Ordering::SeqCst) {} }),
            "`ENABLED.load(..)` is not allowed",
        ),
        (
            parse_quote!({
                thread_local!(static ID: usize = next());
                let id = ID.with(|x| *x);
            }),
            "`thread_local!`",
        ),
        (
            parse_quote!({
                let c = CACHE.with(|c| c.borrow().len());
            }),
            "rule `global_state`",
        ),
        (
            parse_quote!({
                lazy_static! {
                    static ref GEN: AtomicUsize = AtomicUsize::new(1);
                }
                let id = GEN.fetch_add(1, Ordering::AcqRel);
            }),
            "`lazy_static!`",
        ),
        (
            parse_quote!({
                let busy = IN_FLIGHT.lock().unwrap().insert(job);
            }),
            "`IN_FLIGHT.lock(..)`",
        ),
        (
            parse_quote!({
                static SEEN: LazyLock<Mutex<Vec<u64>>> = LazyLock::new(Default::default);
            }),
            "rule `global_state`",
        ),
    ] as [(syn::Block, &str); 7]
    {
        assert_one(body, &[needle]);
    }
    assert!(
        lint(parse_quote!({
            static REGIONS: [&str; 2] = ["eu", "us"];
            const LIMIT: usize = 3;
            let done = AtomicUsize::new(0);
            done.fetch_add(1, Ordering::Relaxed);
            for r in REGIONS.iter() {}
            let first = REGIONS.get(0);
            let m = LIMIT.min(2);
        }))
        .is_empty()
    );
}

#[test]
fn missing_sources() {
    for (body, needle) in [
        (
            parse_quote!({
                let me = std::thread::current().id();
            }),
            "thread's identity",
        ),
        (
            parse_quote!({
                let pid = std::process::id();
            }),
            "rule `env`",
        ),
        (
            parse_quote!({
                let h = hostname::get()?;
            }),
            "rule `env`",
        ),
        (
            parse_quote!({
                let n = std::thread::available_parallelism();
            }),
            "rule `env`",
        ),
        (
            parse_quote!({
                let s = RandomState::new();
            }),
            "seeded per process",
        ),
        (
            parse_quote!({
                let h = DefaultHasher::new();
            }),
            "rule `randomness`",
        ),
        (
            parse_quote!({
                let a = std::ptr::addr_of!(item) as usize;
            }),
            "address",
        ),
        (
            parse_quote!({
                let a = &item as *const Item as usize;
            }),
            "address",
        ),
        (
            parse_quote!({
                let (x, y) = rayon::join(a, b);
            }),
            "rayon",
        ),
        (
            parse_quote!({
                let t = tokio::task::JoinSet::new();
            }),
            "rule `spawn`",
        ),
        (
            parse_quote!({
                futures::executor::block_on(f);
            }),
            "rule `spawn`",
        ),
    ] as [(syn::Block, &str); 11]
    {
        assert_one(body, &[needle]);
    }
}

#[test]
fn unbounded_loops_not_spelled_loop() {
    for body in [
        parse_quote!({
            for tick in 0.. {
                ctx.call_activity(Tick, tick).await?;
            }
        }),
        parse_quote!({
            for page in (1u64..).step_by(2) {
                ctx.call_activity(Fetch, page).await?;
            }
        }),
        parse_quote!({
            for _ in std::iter::repeat(()) {
                ctx.create_timer(d).await;
            }
        }),
        parse_quote!({
            for x in xs.iter().cycle() {
                ctx.call_activity(A, x).await?;
            }
        }),
        parse_quote!({
            while true {
                ctx.call_activity(A, ()).await?;
            }
        }),
        parse_quote!({
            while !false {
                ctx.call_activity(A, ()).await?;
            }
        }),
        parse_quote!({
            loop {
                ctx.call_activity(Poll, ()).await?;
                if false {
                    break;
                }
            }
        }),
    ] as [syn::Block; 7]
    {
        let errors = lint(body.clone());
        assert_eq!(errors.len(), 1, "{}: {errors:#?}", body.to_token_stream());
        assert!(errors[0].contains("rule `unbounded_loop`"), "{errors:#?}");
    }
    for body in [
        parse_quote!({
            for page in (1u64..).take(10) {
                ctx.call_activity(Fetch, page).await?;
            }
        }),
        parse_quote!({
            for (i, x) in (0..).zip(xs) {
                ctx.call_activity(A, (i, x)).await?;
            }
        }),
        parse_quote!({
            for tick in 0.. {
                if ctx.call_activity(Tick, tick).await? {
                    break;
                }
            }
        }),
        parse_quote!({
            while more {
                more = ctx.call_activity(A, ()).await?;
            }
        }),
        parse_quote!({
            while true {
                ctx.call_activity(A, ()).await?;
                ctx.continue_as_new(Me, next);
            }
        }),
        parse_quote!({
            loop {
                ctx.call_activity(Poll, ()).await?;
                if true {
                    break;
                }
            }
        }),
    ] as [syn::Block; 6]
    {
        let errors = lint(body.clone());
        assert!(errors.is_empty(), "{}: {errors:#?}", body.to_token_stream());
    }
}

#[test]
fn consts_and_associated_consts_inside_unsafe_are_fine() {
    assert!(
        lint(parse_quote!({
            const HEADER: usize = 4;
            let len = unsafe { from_utf8_unchecked(&bytes[HEADER..]).len().min(usize::MAX) };
            let first = unsafe { *raw.get_unchecked(MAX_RETRIES) };
        }))
        .is_empty()
    );
    assert_one(
        parse_quote!({
            unsafe {
                CACHE.push(1);
            }
        }),
        &["`CACHE` is not allowed", "rule `static_mut`"],
    );
}

#[test]
fn messages_have_single_backticks() {
    let errors = lint(parse_quote!({
        static mut RUNS: u32 = 0;
        unsafe {
            RUNS += 1;
            TOTAL += 1;
        }
    }));
    assert_eq!(errors.len(), 3, "{errors:#?}");
    for error in &errors {
        assert!(!error.contains("``"), "{error}");
    }
}

#[test]
fn allow_switches_off_one_rule_per_function() {
    let body: syn::Block = parse_quote!({
        let now = SystemTime::now();
        let id = Uuid::new_v4();
        let totals = HashMap::new();
        for t in totals.keys() {
            ctx.call_activity(A, t).await;
        }
    });
    let (errors, warnings) = lint_with(body.clone(), &[Rule::WallClock, Rule::HashIteration]);
    assert_eq!(errors.len(), 1, "{errors:#?}");
    assert!(errors[0].contains("Uuid::new_v4"));
    assert_eq!(warnings, 0);
    assert_eq!(lint_with(body, &[]).0.len(), 2);
}

#[test]
fn every_violation_is_reported_at_once() {
    let errors = lint(parse_quote!({
        let a = SystemTime::now();
        let b = rand::random::<u8>();
        tokio::time::sleep(d).await;
        tokio::spawn(async {});
        let e = std::env::var("X");
        let f = std::fs::read("x");
        loop {
            ctx.call_activity(A, ()).await;
        }
    }));
    let rules: Vec<&str> = [
        "wall_clock",
        "randomness",
        "sleep",
        "spawn",
        "env",
        "io",
        "unbounded_loop",
    ]
    .into();
    assert_eq!(errors.len(), rules.len(), "{errors:#?}");
    for rule in rules {
        assert!(
            errors.iter().any(|e| e.contains(&format!("rule `{rule}`"))),
            "{rule} missing"
        );
    }
}

#[test]
fn rule_ids_round_trip() {
    for rule in Rule::ALL {
        assert_eq!(Rule::from_id(rule.id()), Some(rule));
    }
    assert_eq!(Rule::from_id("wallclock"), None);
    assert!(Rule::all_ids().contains("`hash_iteration`"));
}

#[test]
fn elements_picked_by_hash_order_before_a_durable_call() {
    // Known hash locals warn; unknown receivers are probed.
    for body in [
        parse_quote!({
            let m: HashMap<String, u32> = HashMap::new();
            if let Some(k) = m.keys().next() {
                ctx.call_activity(A, k.clone()).await?;
            }
        }),
        parse_quote!({
            let m = HashMap::new();
            let best = m.iter().max_by_key(|(_, v)| **v);
            ctx.call_activity(A, best).await?;
        }),
        parse_quote!({
            let s: HashSet<u64> = HashSet::new();
            let ids: Vec<u64> = s.iter().copied().collect();
            ctx.call_activity(A, ids[0]).await?;
        }),
    ] {
        let (errors, warnings, probed) = lint_full(body, &[]);
        assert!(errors.is_empty(), "{errors:#?}");
        assert_eq!((warnings, probed.len()), (1, 0));
    }
    for body in [
        parse_quote!({
            let (k, _) = input.prices.iter().find(|(_, p)| **p > 0).unwrap();
            ctx.call_activity(A, k.clone()).await?;
        }),
        parse_quote!({
            let keys: Vec<_> = quotas.keys().cloned().collect();
            if let Some(first) = keys.first() {
                ctx.call_activity(A, first.clone()).await?;
            }
        }),
    ] {
        let (errors, warnings, probed) = lint_full(body, &[]);
        assert!(errors.is_empty(), "{errors:#?}");
        // The origin (`quotas`), and the local itself when the order came through one.
        assert_eq!(warnings, 0);
        assert!(matches!(probed.len(), 1 | 2), "{probed:?}");
        assert!(!probed.is_empty() && !probed[0].is_empty(), "{probed:?}");
    }
    // No durable call after the pick, an order-independent consumer, or sorted keys.
    for body in [
        parse_quote!({
            ctx.call_activity(A, ()).await?;
            let m: HashMap<String, u32> = HashMap::new();
            let _first = m.keys().next();
        }),
        parse_quote!({
            let m: HashMap<String, u32> = HashMap::new();
            let top = m.values().copied().max();
            let any = m.values().any(|v| *v > 3);
            ctx.call_activity(A, (top, any, m.len())).await?;
        }),
        parse_quote!({
            let m: HashMap<String, u32> = HashMap::new();
            let mut keys: Vec<_> = m.keys().cloned().collect();
            keys.sort();
            ctx.call_activity(A, keys.first().cloned()).await?;
        }),
        parse_quote!({
            let index: HashMap<u64, Item> = items.iter().map(|i| (i.id, i.clone())).collect();
            ctx.call_activity(A, index.get(&1).cloned()).await?;
        }),
    ] {
        let (errors, warnings, probed) = lint_full(body, &[]);
        assert!(errors.is_empty(), "{errors:#?}");
        assert_eq!((warnings, probed.len()), (0, 0), "{probed:?}");
    }
}

#[test]
fn lazy_globals_read_with_get_and_concurrent_maps_written() {
    for body in [
        parse_quote!({
            let cfg = CONFIG.get().unwrap();
        }),
        parse_quote!({
            SESSIONS.insert(user, ());
        }),
        parse_quote!({
            let e = COUNTS.entry(k).or_insert(0);
        }),
    ] {
        assert_one(
            body,
            &["is not allowed in an orchestrator", "rule `global_state`"],
        );
    }
    // Lookups in a table with an argument: a `const` or immutable static can be that.
    for body in [
        parse_quote!({
            let limit = LIMITS.get(tier);
            let route = ROUTES.get("email");
            let known = NAMES.contains(&name);
        }),
        parse_quote!({
            const TABLE: [u8; 2] = [1, 2];
            let x = TABLE.get(0);
        }),
    ] {
        assert_eq!(lint(body), Vec::<String>::new());
    }
}

#[test]
fn macro_paths_and_more_sources() {
    for (body, needle) in [
        (
            parse_quote!({
                let id = nanoid::nanoid!();
            }),
            "`nanoid::nanoid!`",
        ),
        (
            parse_quote!({
                use nanoid::nanoid;
                let id = nanoid!(10);
            }),
            "`nanoid!` (`nanoid::nanoid!`)",
        ),
        (
            parse_quote!({
                use threadpool::ThreadPool;
                let pool = ThreadPool::new(4);
                pool.execute(|| ());
            }),
            "thread pool",
        ),
        (
            parse_quote!({
                smol::spawn(async {});
            }),
            "`smol::spawn`",
        ),
        (
            parse_quote!({
                async_std::task::sleep(d).await;
            }),
            "rule `sleep`",
        ),
        (
            parse_quote!({
                let d = chrono::Utc::today();
            }),
            "rule `wall_clock`",
        ),
        (
            parse_quote!({
                let u = dotenvy::var("X");
            }),
            "rule `env`",
        ),
        (
            parse_quote!({
                let s = sysinfo::System::new_all();
            }),
            "rule `env`",
        ),
        (
            parse_quote!({
                sqlx::query("x").execute(&pool).await?;
            }),
            "database",
        ),
        (
            parse_quote!({
                let r = ureq::get(url).call();
            }),
            "rule `io`",
        ),
        (
            parse_quote!({
                let id = cuid2::create_id();
            }),
            "rule `randomness`",
        ),
        (
            parse_quote!({
                let r = ring::rand::SystemRandom::new();
            }),
            "rule `randomness`",
        ),
    ] {
        assert_one(body, &[needle]);
    }
    // Compile-time macros and a name-based uuid are fine.
    assert_eq!(
        lint(parse_quote!({
            let v = env!("CARGO_PKG_VERSION");
            let id = uuid::Uuid::new_v5(&NS, b"x");
            let s = std::format!("{v}");
        })),
        Vec::<String>::new()
    );
}

#[test]
fn seeded_generators_repeat_on_replay() {
    assert_eq!(
        lint(parse_quote!({
            let mut rng = StdRng::seed_from_u64(input.seed);
            let n = rng.gen_range(0..10);
            items.shuffle(&mut rng);
            let mut f = fastrand::Rng::with_seed(7);
        })),
        Vec::<String>::new()
    );
    // Reassigned from entropy: no longer seeded.
    assert_one(
        parse_quote!({
            let mut rng = StdRng::seed_from_u64(1);
            let rng = rand::thread_rng();
            let n = rng.gen_range(0..10);
        }),
        &["rand::thread_rng"],
    );
}

#[test]
fn endless_successors_and_folded_conditions() {
    for body in [
        parse_quote!({
            for d in std::iter::successors(Some(1), |d| Some(d * 2)) {
                ctx.create_timer(d).await;
            }
        }),
        parse_quote!({
            use std::iter::from_fn;
            for k in from_fn(|| Some(1)) {
                ctx.call_activity(A, k).await?;
            }
        }),
        parse_quote!({
            loop {
                if n > 3 && false {
                    break;
                }
                ctx.call_activity(A, ()).await?;
            }
        }),
    ] {
        assert_one(body, &["rule `unbounded_loop`"]);
    }
    for body in [
        parse_quote!({
            for d in std::iter::successors(Some(1), |d| (*d < 8).then(|| d * 2)) {
                ctx.create_timer(d).await;
            }
        }),
        parse_quote!({
            for d in std::iter::successors(Some(1), |d| if *d < 8 { Some(d * 2) } else { None }) {
                ctx.create_timer(d).await;
            }
        }),
        parse_quote!({
            loop {
                if n > 3 || false {
                    break;
                }
                ctx.call_activity(A, ()).await?;
            }
        }),
    ] {
        assert_eq!(lint(body), Vec::<String>::new());
    }
}

/// Issue #17, batch 4: the classes its misses stood for, each in a form the batch did
/// not use.
#[test]
fn batch_four_classes() {
    for (body, needle) in [
        (
            parse_quote!({
                let t = time::UtcDateTime::now();
            }),
            "rule `wall_clock`",
        ),
        (
            parse_quote!({
                let r = rand::rngs::ThreadRng::default();
            }),
            "rule `randomness`",
        ),
        (
            parse_quote!({
                tracing::info!("at {:#p}", &state);
            }),
            "`{:p}` prints an address",
        ),
        (
            parse_quote!({
                let a = std::ptr::from_ref(&x).addr();
            }),
            "an address differs",
        ),
        (
            parse_quote!({
                let p = nix::unistd::getpid();
            }),
            "rule `env`",
        ),
        (
            parse_quote!({
                let c = tonic::transport::Channel::from_static("http://a");
            }),
            "rule `io`",
        ),
        (
            parse_quote!({
                let c = aws_sdk_s3::Client::new(&cfg);
            }),
            "rule `io`",
        ),
        (
            parse_quote!({
                let c = GreeterClient::connect(addr);
            }),
            "rule `io`",
        ),
        (
            parse_quote!({
                let r = DB.query("select 1").await;
            }),
            "awaiting a call on a static",
        ),
        (
            parse_quote!({
                let c = HTTP.clone();
                let r = c.get(u).send().await;
            }),
            "awaiting a call on a static",
        ),
        (
            parse_quote!({
                glommio::spawn_local(f);
            }),
            "rule `spawn`",
        ),
        (
            parse_quote!({
                pollster::block_on(f);
            }),
            "rule `spawn`",
        ),
        (
            parse_quote!({
                rayon::scope(|s| {});
            }),
            "rule `spawn`",
        ),
        (
            parse_quote!({
                glommio::timer::sleep(d).await;
            }),
            "rule `sleep`",
        ),
        (
            parse_quote!({
                let h = std::env::home_dir();
            }),
            "rule `env`",
        ),
        (
            parse_quote!({
                if *BETA_ENABLED {
                    go();
                }
            }),
            "`*BETA_ENABLED`",
        ),
        (
            parse_quote!({
                let c = once_cell::sync::Lazy::force(&CONFIG);
            }),
            "rule `global_state`",
        ),
        (
            parse_quote!({
                let v = FLAGS.blocking_read();
            }),
            "rule `global_state`",
        ),
        (
            parse_quote!({
                let keep = false;
                while !keep {
                    ctx.call_activity(A, ()).await;
                }
            }),
            "never changes",
        ),
        (
            parse_quote!({
                for i in 1..=usize::MAX {
                    ctx.call_activity(A, i).await;
                }
            }),
            "rule `unbounded_loop`",
        ),
    ] {
        let body: syn::Block = body;
        let errors = lint(body.clone());
        assert!(
            errors.iter().any(|e| e.contains(needle)),
            "{needle:?} not in {errors:#?} for {}",
            body.to_token_stream()
        );
    }
}

/// The order of a hash iteration carried into a `Vec` or an iterator local, and visited
/// in place by a closure.
#[test]
fn hash_order_carried() {
    for body in [
        parse_quote!({
            let m: HashMap<String, u32> = load();
            let mut v = Vec::new();
            for k in m.keys() {
                v.push(k.clone());
            }
            for k in v {
                ctx.call_activity(A, k).await;
            }
        }),
        parse_quote!({
            let m: HashSet<u32> = load();
            let v = Vec::from_iter(m.iter().copied());
            for k in v {
                ctx.call_activity(A, k).await;
            }
        }),
        parse_quote!({
            let m: HashMap<u32, u32> = load();
            let mut it = m.into_iter();
            while let Some((k, _)) = it.next() {
                ctx.call_activity(A, k).await;
            }
        }),
        parse_quote!({
            let m: ahash::AHashMap<u32, u32> = load();
            m.retain(|k, _| {
                ctx.signal_entity(E, *k);
                true
            });
        }),
    ] {
        let (errors, warnings) = lint_with(body, &[]);
        assert!(errors.is_empty(), "{errors:#?}");
        assert_eq!(warnings, 1);
    }
    // Sorted after being carried: fine.
    let (errors, warnings) = lint_with(
        parse_quote!({
            let m: HashMap<String, u32> = load();
            let mut v = Vec::new();
            v.extend(m.keys().cloned());
            v.sort();
            for k in v {
                ctx.call_activity(A, k).await;
            }
        }),
        &[],
    );
    assert!(errors.is_empty() && warnings == 0, "{errors:#?} {warnings}");
}

/// Look-alikes of the batch-4 classes that are deterministic.
#[test]
fn batch_four_look_alikes() {
    for body in [
        // A glob import does not capture locals, prelude names or item names.
        parse_quote!({
            use std::env::*;
            let v = 1;
            let r: Result<u32, ()> = Ok(v);
            let s = format!("{v}");
            ctx.call_activity(MyActivity, r).await;
        }),
        parse_quote!({
            let d = tokio::time::Duration::from_secs(1);
            ctx.create_timer(d).await;
        }),
        parse_quote!({
            let p = std::env::split_paths(&s);
            let os = std::env::consts::OS;
        }),
        parse_quote!({
            let mut i = 0;
            while i < 3 {
                ctx.call_activity(A, i).await;
                i += 1;
            }
        }),
        parse_quote!({
            for b in 0..=u8::MAX {
                ctx.call_activity(A, b).await;
            }
        }),
        parse_quote!({
            let s = format!("{:?} {:x} {{:p}}", a, b);
        }),
        parse_quote!({
            let name: &str = DEFAULT_NAME;
            let ok = EMAIL_RE.is_match(name);
        }),
        parse_quote!({
            let now = || ctx.current_time();
            let t = now();
        }),
    ] {
        let body: syn::Block = body;
        let (errors, warnings) = lint_with(body.clone(), &[]);
        assert!(
            errors.is_empty() && warnings == 0,
            "{errors:#?} {warnings} for {}",
            body.to_token_stream()
        );
    }
}

#[test]
fn methods_called_through_their_type() {
    assert_one(
        parse_quote!({
            let waited = SystemTime::elapsed(&job.submitted_at);
        }),
        &["SystemTime::elapsed(..)", "rule `wall_clock`"],
    );
    assert_one(
        parse_quote!({
            if AtomicBool::load(&MAINTENANCE, Ordering::Acquire) {
                ctx.call_activity("drain", ()).await?;
            }
        }),
        &["AtomicBool::load(&MAINTENANCE, ..)", "rule `global_state`"],
    );
    // A local's own method through its type, and a module function, are not flagged.
    assert!(
        lint(parse_quote!({
            let total = Vec::len(&items);
            let text = str::trim(&input);
        }))
        .is_empty()
    );
}

#[test]
fn retry_helpers_file_system_and_id_sources() {
    for (body, rule) in [
        (
            parse_quote!({
                let done = Retry::spawn(strategy, || fetch(url)).await;
            }),
            "rule `sleep`",
        ),
        (
            parse_quote!({
                let delays: Vec<_> = ExponentialBackoff::from_millis(200)
                    .map(tokio_retry::strategy::jitter)
                    .collect();
            }),
            "rule `randomness`",
        ),
        (
            parse_quote!({
                limiter.until_ready().await;
            }),
            "rule `sleep`",
        ),
        (
            parse_quote!({ if std::path::Path::new(&marker).exists() {} }),
            "rule `io`",
        ),
        (
            parse_quote!({ for entry in walkdir::WalkDir::new(&root) {} }),
            "rule `io`",
        ),
        (
            parse_quote!({
                let id = snowflake::SnowflakeIdGenerator::new(1, 7);
            }),
            "rule `wall_clock`",
        ),
        (
            parse_quote!({
                let settings = config::Environment::with_prefix("APP");
            }),
            "rule `env`",
        ),
    ] {
        assert_one(body, &[rule]);
    }
    // A lookup that takes a key is not the file system's `exists`.
    assert!(
        lint(parse_quote!({
            if inventory.exists(&sku) {
                ctx.call_activity("reserve", sku).await?;
            }
        }))
        .is_empty()
    );
}

#[test]
fn once_statics_aliased_atomics_and_constant_breaks() {
    assert_one(
        parse_quote!({
            WARMUP.call_once(|| first = true);
        }),
        &["WARMUP.call_once(..)", "rule `global_state`"],
    );
    assert_one(
        parse_quote!({
            use std::sync::atomic::AtomicU32 as Counter;
            static SEQ: Counter = Counter::new(0);
        }),
        &["static SEQ: Counter", "rule `global_state`"],
    );
    assert_one(
        parse_quote!({
            const STOP_ON_IDLE: bool = false;
            loop {
                let idle = ctx.call_activity("poll", ()).await?;
                if STOP_ON_IDLE && idle {
                    break;
                }
            }
        }),
        &["rule `unbounded_loop`"],
    );
    // With the constant true the loop can end.
    assert!(
        lint(parse_quote!({
            const STOP_ON_IDLE: bool = true;
            loop {
                let idle = ctx.call_activity("poll", ()).await?;
                if STOP_ON_IDLE && idle {
                    break;
                }
            }
        }))
        .is_empty()
    );
}

#[test]
fn a_prelude_glob_does_not_claim_the_bodys_helpers() {
    let errors = lint(parse_quote!({
        use rayon::prelude::*;
        let rows = normalise(rows);
    }));
    assert!(errors.is_empty(), "{errors:#?}");
}

#[test]
fn batch_six_forms() {
    for (body, rule) in [
        (
            parse_quote!({
                let args = Cli::parse();
            }),
            "rule `env`",
        ),
        (
            parse_quote!({
                let size = std::path::Path::new(&upload.local_path).metadata();
            }),
            "rule `io`",
        ),
        (
            parse_quote!({
                let stop = AtomicBool::new(false);
                while !stop.load(Ordering::Relaxed) {
                    ctx.call_activity("poll", ()).await?;
                }
            }),
            "rule `unbounded_loop`",
        ),
        (
            parse_quote!({
                let customer = stripe::Customer::create(&client, params).await?;
            }),
            "rule `io`",
        ),
        (
            parse_quote!({
                let nonce = openssl::rand::rand_bytes(&mut buf);
            }),
            "rule `randomness`",
        ),
        (
            parse_quote!({
                let next = schedule.upcoming(chrono::Utc).next();
            }),
            "rule `wall_clock`",
        ),
    ] {
        assert_one(body, &[rule]);
    }
}

#[test]
fn batch_six_look_alikes() {
    // A type of the body's own given the time; a total-order pick; a parse with input; a
    // loop whose flag the body changes.
    let errors = lint(parse_quote!({
        let remaining = timer.elapsed(ctx.current_time());
        let best = scores
            .iter()
            .max_by(|a, b| a.1.cmp(b.1).then_with(|| b.0.cmp(a.0)));
        ctx.call_activity("award", best).await?;
        let url = Url::parse(&input.url)?;
        let mut done = false;
        while !done {
            done = ctx.call_activity("poll", ()).await?;
        }
    }));
    assert!(errors.is_empty(), "{errors:#?}");
}

/// The awaited expressions `check_body` gave the `non_durable_await` probe.
fn probed_awaits(mut body: syn::Block) -> Vec<String> {
    let cx = Ctxt::new();
    let context = syn::Ident::new("ctx", Span::call_site());
    let checked = check_body(
        &cx,
        &Punctuated::new(),
        &mut body,
        Some(&context),
        &[],
        &krate(),
    );
    let _ = cx.check();
    checked.awaited
}

#[test]
fn awaits_the_syntax_shows_durable_get_no_probe() {
    let probed = probed_awaits(parse_quote!({
        ctx.call_activity(A, 1).await?;
        ctx.call_activity_with_retry(A, 1, &policy).await?;
        step(&ctx, 2).await?;
        self.run(ctx.clone()).await?;
        Inventory::call(&ctx, &key).reserve(1).await?;
        let ev = ctx.wait_for_external_event_with_timeout::<u64>("e", d);
        ev.await?;
        let sleep = |s| ctx.create_timer(s);
        sleep(5).await;
        async { ctx.call_activity(A, 3).await }.await?;
        let calls: Vec<_> = items.iter().map(|i| step(&ctx, *i)).collect();
        durable_runtime::try_join_all(calls).await?;
        for call in items.iter().map(|i| step(&ctx, *i)) {
            call.await?;
        }
        durable_runtime::join_all(items.iter().map(|i| async move { 1 })).await;
    }));
    assert!(probed.is_empty(), "{probed:?}");
}

#[test]
fn other_awaits_get_the_probe() {
    let probed = probed_awaits(parse_quote!({
        client.send(mail).await?;
        // A value read from the context does not make a call durable.
        client.send(ctx.instance_id().to_string()).await?;
        let id = ctx.new_guid();
        client.send(id).await?;
        let f = client.send(mail);
        f.await?;
        items.next().await;
        select(a, b).await;
        // A retry helper re-runs the closure's durable call.
        (|| ctx.call_activity(A, 1)).retry(policy).await?;
        let inner = async { client.send(mail).await };
        info!("{}", cache.lock().await.len());
        let (x, y) = futures::join!(ctx.call_activity(A, 1), pause(3));
    }));
    assert_eq!(
        probed,
        [
            "client.send(mail)",
            "client.send(ctx.instance_id().to_string())",
            "client.send(id)",
            "f",
            "items.next()",
            "select(a , b)",
            "(| | ctx.call_activity(A , 1)).retry(policy)",
            "client.send(mail)",
            "cache.lock()",
            "pause(3)",
        ]
    );
}

#[test]
fn the_await_probe_wraps_the_expression_and_can_be_allowed() {
    let mut body: syn::Block = parse_quote!({
        client.send(mail).await?;
    });
    let cx = Ctxt::new();
    let context = syn::Ident::new("ctx", Span::call_site());
    check_body(
        &cx,
        &Punctuated::new(),
        &mut body,
        Some(&context),
        &[],
        &krate(),
    );
    cx.check().unwrap();
    let text = body.to_token_stream().to_string();
    assert!(
        text.contains(
            ":: durable_runtime :: __private :: durable_await (client . send (mail)) . await"
        ),
        "{text}"
    );
    let mut allowed: syn::Block = parse_quote!({
        client.send(mail).await?;
    });
    let cx = Ctxt::new();
    let checked = check_body(
        &cx,
        &Punctuated::new(),
        &mut allowed,
        Some(&context),
        &[Rule::NonDurableAwait],
        &krate(),
    );
    cx.check().unwrap();
    assert!(checked.awaited.is_empty());
    assert!(
        !allowed
            .to_token_stream()
            .to_string()
            .contains("durable_await")
    );
}

#[test]
fn batch_seven_sources_by_kind() {
    for (body, needle) in [
        (
            parse_quote!({
                let n = tsid::create_tsid();
            }),
            "randomness",
        ),
        (
            parse_quote!({
                let w: String = Word().fake();
            }),
            "randomness",
        ),
        (
            parse_quote!({
                let t = jsonwebtoken::get_current_timestamp();
            }),
            "wall_clock",
        ),
        (
            parse_quote!({
                let c = totp.generate_current();
            }),
            "wall_clock",
        ),
        (
            parse_quote!({
                let c = SalesforceConfig::init_from_env();
            }),
            "env",
        ),
        (
            parse_quote!({
                let c = Settings::from_env();
            }),
            "env",
        ),
        (
            parse_quote!({
                let tz = iana_time_zone::get_timezone();
            }),
            "env",
        ),
        (
            parse_quote!({
                let d = candle_core::Device::cuda_if_available(0);
            }),
            "env",
        ),
        (
            parse_quote!({
                let ip = local_ip_address::local_ip();
            }),
            "env",
        ),
        (
            parse_quote!({
                let i = tantivy::Index::open_in_dir(&p);
            }),
            "io",
        ),
        (
            parse_quote!({
                let m = Model::load_from_file(&p);
            }),
            "io",
        ),
        (
            parse_quote!({
                let s = b.commit_from_file(&p);
            }),
            "io",
        ),
        (
            parse_quote!({
                let img = image::open(&p);
            }),
            "io",
        ),
        (
            parse_quote!({
                let t = pdf_extract::extract_text(&p);
            }),
            "io",
        ),
        (
            parse_quote!({
                let out = duct::cmd!("terraform", "apply").read();
            }),
            "io",
        ),
        (
            parse_quote!({
                use xshell::cmd;
                cmd!(sh, "kubectl apply").run();
            }),
            "io",
        ),
        (
            parse_quote!({
                retry::retry(delays, || check());
            }),
            "sleep",
        ),
        (
            parse_quote!({
                let s = crossbeam_channel::after(d);
            }),
            "sleep",
        ),
        (
            parse_quote!({
                pool.spawn_pinned(|| async { 1 });
            }),
            "spawn",
        ),
        (
            parse_quote!({
                let b = seen.hasher().hash_one(&k);
            }),
            "randomness",
        ),
        (
            parse_quote!({
                crate::state::RESERVED.insert(k, v);
            }),
            "global_state",
        ),
        (
            parse_quote!({
                let n = super::routing::NEXT.fetch_add(1, Relaxed);
            }),
            "global_state",
        ),
    ] {
        let errors = lint(body);
        assert_eq!(errors.len(), 1, "{needle}: {errors:#?}");
        assert!(
            errors[0].contains(&format!("rule `{needle}`")),
            "{errors:?}"
        );
    }
}

#[test]
fn batch_seven_look_alikes_pass() {
    for body in [
        parse_quote!({
            let m = u64::MAX.min(n);
            let p = std::f64::consts::PI;
        }),
        parse_quote!({
            let clock = Clock(&ctx);
            let t = clock.now();
        }),
        parse_quote!({
            let h = crc32fast::hash(&bytes);
            let b = BuildHasherDefault::<Fnv>::default();
        }),
        parse_quote!({
            let n = crate::limits::MAX_ITEMS;
            let v = crate::limits::MAX_ITEMS.min(n);
        }),
    ] {
        let body: syn::Block = body;
        let text = body.to_token_stream().to_string();
        let errors = lint(body);
        assert!(errors.is_empty(), "{text}: {errors:#?}");
    }
}

#[test]
fn batch_seven_loops() {
    for body in [
        parse_quote!({
            while u8::MAX > 0 {
                ctx.call_activity(A, 1).await?;
            }
        }),
        parse_quote!({
            let mut delays = std::iter::repeat_with(|| d);
            while let Some(delay) = delays.next() {
                ctx.create_timer(delay).await;
            }
        }),
        parse_quote!({
            let pages: Vec<u64> = stream::iter(0u64..)
                .then(|p| ctx.call_activity(Index, p))
                .try_collect()
                .await?;
        }),
        parse_quote!({
            loop {
                match ctx.call_activity(Status, ()).await? {
                    Status::Running => {}
                    _ => ctx.create_timer(d).await,
                    Status::Done => break,
                }
            }
        }),
    ] {
        let errors = lint(body);
        assert_eq!(errors.len(), 1, "{errors:#?}");
        assert!(errors[0].contains("rule `unbounded_loop`"), "{errors:?}");
    }
    for body in [
        parse_quote!({
            while u8::MAX < 10 {
                ctx.call_activity(A, 1).await?;
            }
        }),
        parse_quote!({
            let pages: Vec<u64> = stream::iter(0u64..)
                .take(10)
                .then(|p| ctx.call_activity(Index, p))
                .try_collect()
                .await?;
        }),
        parse_quote!({
            loop {
                match ctx.call_activity(Status, ()).await? {
                    Status::Done => break,
                    _ => ctx.create_timer(d).await,
                }
            }
        }),
    ] {
        let body: syn::Block = body;
        let errors = lint(body);
        assert!(errors.is_empty(), "{errors:#?}");
    }
}
