//! Unit tests of the determinism walker: body in, messages out.

use syn::parse_quote;

use super::*;

/// Runs the walker; returns the error messages and the number of warnings.
fn lint_with(body: syn::Block, allow: &[Rule]) -> (Vec<String>, usize) {
    let cx = Ctxt::new();
    let context = syn::Ident::new("ctx", Span::call_site());
    let warnings = check(&cx, &body, Some(&context), allow);
    let errors = match cx.check() {
        Ok(()) => Vec::new(),
        Err(error) => error.into_iter().map(|e| e.to_string()).collect(),
    };
    let count = warnings.to_string().matches("deprecated").count();
    (errors, count)
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
        &["mutable static `COUNTER`"],
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
fn hash_iteration_is_a_warning() {
    let (errors, warnings) = lint_with(
        parse_quote!({
            let mut totals = HashMap::new();
            let seen: HashSet<u32> = other.into_iter().collect();
            let ordered = BTreeMap::new();
            for (key, value) in &totals {}
            let keys: Vec<_> = seen.iter().collect();
            for (key, value) in &ordered {}
            let built = items.into_iter().collect::<HashMap<_, _>>();
            for item in built.values() {}
        }),
        &[],
    );
    assert!(errors.is_empty(), "{errors:#?}");
    assert_eq!(warnings, 3);
}

#[test]
fn allow_switches_off_one_rule_per_function() {
    let body: syn::Block = parse_quote!({
        let now = SystemTime::now();
        let id = Uuid::new_v4();
        let totals = HashMap::new();
        for t in totals.keys() {}
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
