//! Differential test of the `--set` parser against real Helm.
//!
//! A deterministic generator makes [`COUNT`] distinct `--set` expressions (keys with escapes,
//! dots, unicode and spaces; list indexes, nested and broken; Helm's value typing: numbers,
//! booleans, null, `{a,b}` lists; several assignments per argument). Helm's answer for each —
//! the JSON that a chart printing `.Values | toJson` shows, or an error — was captured once into
//! `tests/fixtures/set-differential/helm-3.19.0.jsonl`, so the comparison runs without Helm.
//! ikp must give the same value tree, or fail where Helm fails, except for the deliberate
//! differences listed in [`deliberate_difference`] (the limits in the README).
//!
//! With `IKP_HELM=/path/to/helm`, the test runs that Helm on every expression instead of reading
//! the corpus (`IKP_HELM_JOBS` processes at a time, default 2: about 10 minutes on 2 idle cores;
//! `IKP_HELM_LIMIT=N` compares the first N only), and with `IKP_SET_DIFF_WRITE=1` as well it rewrites the corpus.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use ikp::compat::strvals::{self, ValueMode};
use ikp::release::values::{SetKind, ValueLayers, compose};
use serde_json::{Value, json};

/// How many expressions are compared.
const COUNT: usize = 10_000;
const CORPUS: &str = "tests/fixtures/set-differential/helm-3.19.0.jsonl";
const CHART: &str = "tests/fixtures/set-differential/chart";

/// xorshift64*: a small deterministic generator, so the expressions never change between runs.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }

    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }
}

const KEYS: &[&str] = &[
    "a", "b", "c", "image", "tag", "ssh", "port", "x1", "A_b-c", "é", "日本", "😀", "a b", " a",
    "a ", r"a\.b", r"a\,b", r"a\=b", r"a\[0", r"a\]", r"\\", r"a\\", "null", "0", "true", "1e3",
    "-", "{", "}", "~", "#", "a:b", "\t",
];

const INDEXES: &[&str] = &[
    "[0]",
    "[1]",
    "[2]",
    "[3]",
    "[10]",
    "[-1]",
    "[x]",
    "[ 1]",
    "[+1]",
    "[01]",
    "[65536]",
    "[65537]",
    "[]",
    "[0][0]",
    "[1][2]",
    "[0][1][0]",
    "[99999999999999999999]",
    "[1.5]",
];

const VALUES: &[&str] = &[
    "",
    "1",
    "0",
    "-0",
    "+5",
    "-5",
    "007",
    "00",
    "01",
    "1e3",
    "1.5",
    "0x1F",
    "1_000",
    "10",
    "9223372036854775807",
    "9223372036854775808",
    "-9223372036854775808",
    "-9223372036854775809",
    "true",
    "TRUE",
    "False",
    "fAlSe",
    "null",
    "NULL",
    "Null",
    "nil",
    "~",
    "yes",
    "no",
    "abc",
    "a b",
    " x ",
    r"a\,b",
    r"a\\b",
    r"a\b",
    "a=b",
    "a=b=c",
    "é",
    "日本語",
    "😀",
    "{a,b}",
    "{}",
    "{a}",
    "{1,true,null}",
    "{ a , b }",
    "{a,b",
    r"{a\,b}",
    "{{a}}",
    "{a,{b}}",
    "}",
    "{",
    "[0]",
    "[a]",
    r"\",
    "a.b",
    "a[0]",
    "\"q\"",
    "'s'",
    "-1.0",
    "Infinity",
    "NaN",
    "0.0",
    "1e400",
    "١٢٣",
    "\u{a0}",
    "a\u{301}",
];

/// One key path: 1–4 keys, some with indexes, sometimes broken (`a..b`, `.a`, `a.`, `a[`).
fn path(rng: &mut Rng) -> String {
    let most = if rng.chance(80) { 2 } else { 4 };
    let segments = 1 + rng.below(most);
    let mut out = String::new();
    for n in 0..segments {
        if n > 0 {
            out.push('.');
        }
        out.push_str(rng.pick(KEYS));
        if rng.chance(25) {
            out.push_str(rng.pick(INDEXES));
        }
    }
    match rng.below(100) {
        0 => out.insert(0, '.'),
        1 => out.push('.'),
        2 => out = out.replacen('.', "..", 1),
        3 => out.push_str("[1"),
        4 => out.push('['),
        _ => {}
    }
    out
}

/// One `--set` argument: 1–3 assignments, sometimes a key without `=` or a trailing comma.
fn expression(rng: &mut Rng) -> String {
    let most = if rng.chance(60) { 1 } else { 3 };
    let parts = 1 + rng.below(most);
    let mut pieces = Vec::new();
    let mut keys: Vec<String> = Vec::new();
    for _ in 0..parts {
        // Re-using an earlier key makes merges and conflicts inside one argument.
        let key = if !keys.is_empty() && rng.chance(30) {
            let base = keys[rng.below(keys.len())].clone();
            match rng.below(3) {
                0 => base,
                1 => format!("{base}.{}", rng.pick(KEYS)),
                _ => format!("{base}{}", rng.pick(INDEXES)),
            }
        } else {
            path(rng)
        };
        keys.push(key.clone());
        match rng.below(100) {
            0..=2 => pieces.push(key),
            _ => pieces.push(format!("{key}={}", rng.pick(VALUES))),
        }
    }
    let mut out = pieces.join(",");
    if rng.chance(3) {
        out.push(',');
    }
    out
}

/// The expressions, in order: [`COUNT`] distinct ones.
fn expressions() -> Vec<String> {
    let mut rng = Rng(0x1DF5_E7A1_C0DE_2026);
    let mut seen = BTreeSet::new();
    let mut out = Vec::with_capacity(COUNT);
    while out.len() < COUNT {
        let expr = expression(&mut rng);
        if seen.insert(expr.clone()) {
            out.push(expr);
        }
    }
    out
}

/// What a parser made of an expression.
#[derive(Debug, Clone, PartialEq)]
enum Outcome {
    Values(Value),
    Error(String),
}

/// ikp's parse of one `--set` argument, as `ikp render` applies it over empty chart defaults
/// (`compose` with no defaults gives the same tree, and also records every value's origin, which
/// only costs time here).
fn ikp_outcome(expr: &str) -> Outcome {
    match strvals::parse(expr, ValueMode::Typed) {
        Ok(tree) => Outcome::Values(tree),
        Err(err) => Outcome::Error(err.to_string()),
    }
}

fn helm_outcome(helm: &str, expr: &str) -> Outcome {
    let output = Command::new(helm)
        .arg("template")
        .arg(CHART)
        .arg(format!("--set={expr}"))
        .output()
        .unwrap_or_else(|e| panic!("cannot run {helm}: {e}"));
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        return Outcome::Error(stderr.lines().next().unwrap_or_default().to_owned());
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    let json = stdout.lines().last().unwrap_or_default();
    match serde_json::from_str(json) {
        Ok(value) => Outcome::Values(value),
        Err(e) => panic!("helm printed no JSON for {expr:?}: {e}\n{stdout}"),
    }
}

fn to_line(expr: &str, outcome: &Outcome) -> String {
    let record = match outcome {
        Outcome::Values(v) => json!({"set": expr, "helm": v}),
        Outcome::Error(e) => json!({"set": expr, "error": e}),
    };
    record.to_string()
}

fn from_line(line: &str) -> (String, Outcome) {
    let record: Value = serde_json::from_str(line).expect("corpus line is JSON");
    let expr = record["set"].as_str().expect("set").to_owned();
    let outcome = match record.get("error") {
        Some(e) => Outcome::Error(e.as_str().unwrap_or_default().to_owned()),
        None => Outcome::Values(record["helm"].clone()),
    };
    (expr, outcome)
}

/// Differences kept on purpose (README "Limits"): ikp refuses values past its size and depth
/// limits, which Helm does not have. `Some(reason)` for such a difference.
fn deliberate_difference(helm: &Outcome, ikp: &Outcome) -> Option<&'static str> {
    match (helm, ikp) {
        (Outcome::Values(_), Outcome::Error(e)) if e.contains("the limit") => {
            Some("a limit ikp has and Helm has not")
        }
        _ => None,
    }
}

/// `ikp_outcome` takes the shortcut of parsing alone: check on a sample that the whole values
/// pipeline gives the same.
#[test]
fn parse_alone_gives_what_compose_gives() {
    for expr in expressions().iter().take(200) {
        let mut layers = ValueLayers::new();
        layers.push_set(SetKind::Set, expr);
        let composed = match compose("", &layers) {
            Ok(values) => Outcome::Values(values.tree),
            Err(_) => Outcome::Error(String::new()),
        };
        let parsed = match ikp_outcome(expr) {
            Outcome::Error(_) => Outcome::Error(String::new()),
            values => values,
        };
        assert_eq!(parsed, composed, "--set {expr:?}");
    }
}

#[test]
fn set_parser_agrees_with_helm() {
    let exprs = expressions();
    let helm_bin = std::env::var("IKP_HELM").ok().filter(|h| !h.is_empty());
    let expected: Vec<(String, Outcome)> = match &helm_bin {
        Some(helm) => {
            let limit = std::env::var("IKP_HELM_LIMIT")
                .ok()
                .and_then(|n| n.parse().ok())
                .unwrap_or(COUNT);
            let jobs: usize = std::env::var("IKP_HELM_JOBS")
                .ok()
                .and_then(|n| n.parse().ok())
                .unwrap_or(2);
            let write = std::env::var("IKP_SET_DIFF_WRITE").is_ok_and(|w| w == "1");
            let chosen: Vec<&String> = exprs.iter().take(limit).collect();
            let next = std::sync::atomic::AtomicUsize::new(0);
            let (send, receive) = std::sync::mpsc::channel::<(usize, Outcome)>();
            let mut live: Vec<(String, Outcome)> = Vec::with_capacity(chosen.len());
            std::thread::scope(|scope| {
                for _ in 0..jobs.max(1) {
                    let send = send.clone();
                    let (next, chosen) = (&next, &chosen);
                    scope.spawn(move || {
                        loop {
                            let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                            let Some(expr) = chosen.get(i) else { break };
                            if send.send((i, helm_outcome(helm, expr))).is_err() {
                                break;
                            }
                        }
                    });
                }
                drop(send);
                // Results are written in generator order as they complete, so an interrupted
                // capture leaves a usable prefix of the corpus.
                let mut file = write.then(|| std::fs::File::create(CORPUS).expect("create corpus"));
                let mut pending = std::collections::BTreeMap::new();
                for (i, outcome) in receive {
                    pending.insert(i, outcome);
                    while let Some(outcome) = pending.remove(&live.len()) {
                        let expr = chosen[live.len()].clone();
                        if let Some(file) = file.as_mut() {
                            use std::io::Write;
                            writeln!(file, "{}", to_line(&expr, &outcome)).expect("write corpus");
                            file.flush().expect("flush corpus");
                        }
                        live.push((expr, outcome));
                    }
                }
            });
            live
        }
        None => {
            let text = std::fs::read_to_string(Path::new(CORPUS)).expect("corpus");
            let recorded: Vec<(String, Outcome)> = text.lines().map(from_line).collect();
            let recorded_exprs: Vec<&String> = recorded.iter().map(|(e, _)| e).collect();
            let generated: Vec<&String> = exprs.iter().take(recorded.len()).collect();
            assert!(
                recorded_exprs == generated,
                "the generator no longer makes the recorded expressions: rerun with IKP_HELM and IKP_SET_DIFF_WRITE=1"
            );
            recorded
        }
    };

    let mut agree = 0usize;
    let mut both_fail = 0usize;
    let mut deliberate = Vec::new();
    let mut disagreements = Vec::new();
    for (expr, helm) in &expected {
        let ikp = ikp_outcome(expr);
        match (helm, &ikp) {
            (Outcome::Values(h), Outcome::Values(i)) if h == i => agree += 1,
            (Outcome::Error(_), Outcome::Error(_)) => both_fail += 1,
            _ => match deliberate_difference(helm, &ikp) {
                Some(reason) => deliberate.push(reason),
                None => {
                    disagreements.push(format!("--set {expr:?}\n  helm: {helm:?}\n  ikp:  {ikp:?}"))
                }
            },
        }
    }
    println!(
        "{} expressions: {agree} same values, {both_fail} errors in both, {} deliberate differences, {} disagreements",
        expected.len(),
        deliberate.len(),
        disagreements.len()
    );
    assert!(expected.len() >= 1_000, "too few expressions compared");
    assert!(
        disagreements.is_empty(),
        "{} disagreements with Helm:\n{}",
        disagreements.len(),
        disagreements
            .iter()
            .take(40)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}
