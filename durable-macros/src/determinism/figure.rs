//! The case-list figure: how many of `tests/cases/violations.rs` the checks catch and how
//! many of `tests/cases/clean.rs` they accept (see `tests/cases/README.md`).
//!
//! `cargo test -p durable-macros case_list_figure -- --nocapture` prints it; the script
//! `tests/cases/figure.sh` runs it for an older revision too.

use std::collections::BTreeMap;

use proc_macro2::Span;
use quote::ToTokens;

use super::check_body;
use crate::ctxt::Ctxt;

/// One orchestrator body of the case list and what its doc comment says about it.
struct Case {
    name: String,
    /// `kind: ..` for violations, `clean` for clean bodies.
    kind: String,
    /// The expressions whose type is a `HashMap`/`HashSet` (`hash: a, b.c`).
    hash: Vec<String>,
    /// Parts of the text of the awaited expressions whose type is not a
    /// `durable_runtime::DurableFuture` (`await: send_message, sg.send`): what the
    /// compiler's resolution of the `non_durable_await` probe would say.
    awaits: Vec<String>,
    func: syn::ItemFn,
}

/// What the checks said about one body.
struct Finding {
    errors: usize,
    warnings: usize,
    /// Type probes that fire: a probed expression the case lists under `hash:`, which is
    /// what the compiler's resolution of the probe would say.
    firing_probes: usize,
    /// `non_durable_await` probes that fire: a probed await the case lists under `await:`.
    firing_awaits: usize,
    /// Every await given a `non_durable_await` probe.
    probed_awaits: usize,
}

fn cases(file: &str) -> Vec<Case> {
    let path = format!("{}/tests/cases/{file}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let parsed = syn::parse_file(&text).unwrap_or_else(|e| panic!("{path}: {e}"));
    parsed
        .items
        .into_iter()
        .filter_map(|item| match item {
            syn::Item::Fn(func) => Some(func),
            _ => None,
        })
        .map(|func| {
            let doc = doc_text(&func);
            let kind = field(&doc, "kind").unwrap_or_else(|| "clean".to_owned());
            let hash = field(&doc, "hash")
                .map(|list| list.split(',').map(|s| s.trim().to_owned()).collect())
                .unwrap_or_default();
            let awaits = field(&doc, "await")
                .map(|list| list.split(',').map(|s| s.replace(' ', "")).collect())
                .unwrap_or_default();
            Case {
                name: func.sig.ident.to_string(),
                kind,
                hash,
                awaits,
                func,
            }
        })
        .collect()
}

fn doc_text(func: &syn::ItemFn) -> String {
    func.attrs
        .iter()
        .filter(|attr| attr.path().is_ident("doc"))
        .map(|attr| attr.meta.to_token_stream().to_string())
        .collect::<Vec<_>>()
        .join(" ")
}

fn field(doc: &str, key: &str) -> Option<String> {
    let start = doc.find(&format!("{key}:"))? + key.len() + 1;
    let rest = &doc[start..];
    let end = rest.find([';', '"']).unwrap_or(rest.len());
    Some(rest[..end].trim().to_owned())
}

fn context_ident(func: &syn::ItemFn) -> Option<syn::Ident> {
    match func.sig.inputs.first()? {
        syn::FnArg::Typed(typed) => match &*typed.pat {
            syn::Pat::Ident(ident) => Some(ident.ident.clone()),
            _ => None,
        },
        syn::FnArg::Receiver(_) => None,
    }
}

fn run(case: &Case) -> Finding {
    let cx = Ctxt::new();
    let context =
        context_ident(&case.func).unwrap_or_else(|| syn::Ident::new("ctx", Span::call_site()));
    let mut func = case.func.clone();
    let checked = check_body(
        &cx,
        &func.sig.inputs,
        &mut func.block,
        Some(&context),
        &[],
        &syn::parse_quote!(::durable_runtime),
    );
    let detail = std::env::var_os("DURABLE_CASE_DETAIL").is_some();
    let errors = match cx.check() {
        Ok(()) => 0,
        Err(error) => {
            if detail {
                for e in error.clone() {
                    println!("DETAIL {}: {e}", case.name);
                }
            }
            error.into_iter().count()
        }
    };
    let warnings = checked.warnings.to_string().matches("deprecated").count();
    if detail {
        for root in &checked.probed {
            println!("DETAIL {}: probe on `{root}`", case.name);
        }
        for awaited in &checked.awaited {
            println!("DETAIL {}: await probe on `{awaited}`", case.name);
        }
        if !checked.warnings.is_empty() {
            println!("DETAIL {}: hash_iteration warning", case.name);
        }
    }
    let firing_probes = checked
        .probed
        .iter()
        .filter(|root| case.hash.contains(&root.replace(' ', "")))
        .count();
    let firing_awaits = checked
        .awaited
        .iter()
        .filter(|awaited| {
            let awaited = awaited.replace(' ', "");
            case.awaits
                .iter()
                .any(|part| awaited.contains(part.as_str()))
        })
        .count();
    Finding {
        errors,
        warnings,
        firing_probes,
        firing_awaits,
        probed_awaits: checked.awaited.len(),
    }
}

#[test]
fn case_list_figure() {
    let mut by_kind: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    let mut missed = Vec::new();
    // `DURABLE_CASE_BATCH=2` measures the second batch (`violations-2.rs`, `clean-2.rs`),
    // `DURABLE_CASE_BATCH=3` the third, `DURABLE_CASE_BATCH=4` the fourth,
    // `DURABLE_CASE_BATCH=5` the fifth, `DURABLE_CASE_BATCH=6` the sixth,
    // `DURABLE_CASE_BATCH=7` the seventh.
    let batch = match std::env::var("DURABLE_CASE_BATCH").as_deref() {
        Ok("2") => "-2",
        Ok("3") => "-3",
        Ok("4") => "-4",
        Ok("5") => "-5",
        Ok("6") => "-6",
        Ok("7") => "-7",
        _ => "",
    };
    // Caught by the walker or the hash probe (what the figure measured before the await
    // probe), and caught only by the `non_durable_await` probe.
    let mut only_by_await_probe = Vec::new();
    for case in cases(&format!("violations{batch}.rs")) {
        let finding = run(&case);
        let before = finding.errors + finding.warnings + finding.firing_probes > 0;
        let caught = before || finding.firing_awaits > 0;
        if !before && caught {
            only_by_await_probe.push(case.name.clone());
        }
        let entry = by_kind.entry(case.kind.clone()).or_default();
        entry.1 += 1;
        if caught {
            entry.0 += 1;
        } else {
            missed.push(format!("{} ({})", case.name, case.kind));
        }
    }
    let mut refused = Vec::new();
    let mut clean_probed_awaits = 0;
    let clean = cases(&format!("clean{batch}.rs"));
    for case in &clean {
        let finding = run(case);
        // A clean body lists no `await:`; its probed awaits are durable by type (the
        // pass cases in `tests/ui/determinism/pass/durable_awaits.rs` have their shapes).
        clean_probed_awaits += finding.probed_awaits;
        if finding.errors + finding.warnings + finding.firing_probes + finding.firing_awaits > 0 {
            refused.push(case.name.clone());
        }
    }
    let (caught, total) = by_kind
        .values()
        .fold((0, 0), |(c, t), (kc, kt)| (c + kc, t + kt));
    println!("FIGURE violations caught: {caught}/{total}");
    println!(
        "FIGURE   without the await probe: {}/{total}; only by the await probe: {}",
        caught - only_by_await_probe.len(),
        only_by_await_probe.len()
    );
    for (kind, (c, t)) in &by_kind {
        println!("FIGURE   {kind}: {c}/{t}");
    }
    println!(
        "FIGURE clean accepted: {}/{}",
        clean.len() - refused.len(),
        clean.len()
    );
    println!("FIGURE clean bodies' awaits given the await probe: {clean_probed_awaits}");
    println!("FIGURE missed: {}", missed.join(", "));
    println!(
        "FIGURE only by the await probe: {}",
        only_by_await_probe.join(", ")
    );
    println!("FIGURE refused: {}", refused.join(", "));
}
