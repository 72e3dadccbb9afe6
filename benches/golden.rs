//! `ikp golden check` over 200 cases in one process: how long a whole check takes, and per case
//! (criterion's throughput, cases/s).
//!
//! The cases are written to a temporary directory before anything is timed: both charts, with the
//! flags users pass (`--set`, `--set-string`, `--set-file`, `-f`, `--namespace`, `-s`, `--notes`,
//! `--redact-secrets`) and varied release names and values, in the shape of `golden/seed-*`. Their
//! `expected.yaml` files come from `ikp golden update` on that directory, also untimed. The timed step
//! is `ikp golden check DIR` run in this process through the binary's own command-line code (the
//! `cli` module of `src/main.rs`, included below): discovering the cases, parsing each case's
//! arguments, rendering and comparing. Every check must report all 200 cases passed, or the bench
//! panics: a check that finds failures is not what is being measured.
//!
//! It allocates with mimalloc, as the `ikp` binary does (`src/main.rs`).
//!
//! Run: `cargo bench --bench golden` (`--profile dev` builds fast, for trying it; its figures mean
//! nothing).

use std::fmt::Write as _;
use std::path::Path;

use clap::Parser as _;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The command-line code of the `ikp` binary; only `Cli` is used here.
#[allow(dead_code, unused_imports)]
#[path = "../src/cli/mod.rs"]
mod cli;

const CASES: usize = 200;
const PUBLIC_KEY: &str = include_str!("../examples/id_ed25519.pub");
const PRIVATE_KEY_B64: &str = include_str!("../examples/id_ed25519.b64");

/// Runs `ikp ARGS...` in this process; returns its output, panicking on an error exit.
fn ikp(args: &[&str]) -> String {
    let cli = cli::Cli::try_parse_from(std::iter::once("ikp").chain(args.iter().copied()))
        .unwrap_or_else(|err| panic!("ikp {args:?}: {err}"));
    let mut out = Vec::new();
    let code = cli
        .run(&mut out, None)
        .unwrap_or_else(|err| panic!("ikp {args:?}: {err:#}"));
    let out = String::from_utf8(out).expect("UTF-8 output");
    assert_eq!(
        code,
        std::process::ExitCode::SUCCESS,
        "ikp {args:?} failed:\n{out}"
    );
    out
}

/// One case's `args` file and the values file it reads (if any).
struct Case {
    args: Vec<String>,
    values_file: Option<String>,
}

/// A release name of the shapes users pick: short, with dots and digits, containing the chart name
/// (then the objects are named after the release alone), near Helm's 53-character limit.
fn release_name(i: usize, chart: &str) -> String {
    match i % 5 {
        0 => format!("msoff{i}"),
        // Dots are fine in a Deployment's name, not in a Service's (the gateway has Services).
        1 if chart == "bastion" => format!("svc-{i}.v1"),
        1 => format!("svc-{i}-v1"),
        2 => format!("team{i}-{chart}"),
        3 => format!("{}-{i}", "long-release-name-for-a-tunnelled-service"),
        _ => format!("r{i}"),
    }
}

fn gateway_case(i: usize) -> Case {
    let mut args = vec![
        release_name(i, "gateway"),
        "gateway".to_owned(),
        "--namespace".to_owned(),
        format!("ns-{}", i % 7),
        "--set-file".to_owned(),
        "ssh.publicKey=../id_ed25519.pub".to_owned(),
    ];
    let mut set = |arg: String| {
        args.push("--set".to_owned());
        args.push(arg);
    };
    if i.is_multiple_of(3) {
        // The tunnel's port exposed as a node port (one node port per case).
        set(format!("tunnel.service.sourcePort={}", 8000 + i));
        set(format!("tunnel.service.sourceNodePort={}", 30300 + i));
    }
    if i % 4 == 1 {
        set("service.port=null".to_owned());
    } else {
        set(format!("service.port={}", 31000 + i));
    }
    if i % 5 == 2 {
        set(format!("ssh.userName=user{i}"));
    }
    if i % 6 == 3 {
        set("nameOverride=gw".to_owned());
    }
    if i % 10 == 7 {
        set(format!("fullnameOverride=tunnel-gateway-{i}"));
    }
    if i % 8 == 5 {
        args.push("--set-string".to_owned());
        args.push(format!("image.tag=1.{i}.0"));
    }
    let values_file = (i % 4 == 2).then(|| {
        format!(
            "image:\n  pullPolicy: Always\nresources:\n  requests:\n    cpu: {}m\n    memory: 32Mi\n  limits:\n    cpu: 500m\n    memory: 64Mi\n",
            50 + i
        )
    });
    if values_file.is_some() {
        args.push("-f".to_owned());
        args.push("values.yaml".to_owned());
    }
    if i % 9 == 4 {
        args.push("-s".to_owned());
        args.push("templates/service.yaml".to_owned());
    }
    if i.is_multiple_of(11) {
        args.push("--notes".to_owned());
    }
    Case { args, values_file }
}

fn bastion_case(i: usize) -> Case {
    let host = if i.is_multiple_of(2) {
        format!("131.154.{}.{}", i % 250, (i * 7) % 250 + 1)
    } else {
        format!("gateway-{i}.example.org")
    };
    let mut args = vec![
        release_name(i, "bastion"),
        "bastion".to_owned(),
        "--namespace".to_owned(),
        format!("remote-{}", i % 5),
        "--set".to_owned(),
        format!("tunnel.gateway.host={host}"),
    ];
    if i.is_multiple_of(3) {
        args.push("--set-file".to_owned());
        args.push("tunnel.gateway.ssh.privateKey=../id_ed25519.b64".to_owned());
    } else {
        args.push("--set".to_owned());
        args.push(format!(
            "tunnel.gateway.ssh.privateKey={}",
            PRIVATE_KEY_B64.trim()
        ));
    }
    let mut set = |arg: String| {
        args.push("--set".to_owned());
        args.push(arg);
    };
    set(format!("tunnel.service.gatewayPort={}", 8000 + i));
    set(format!(
        "tunnel.service.targetHost=inference-{i}.ml-{}.svc.cluster.local",
        i % 4
    ));
    set(format!(
        "tunnel.service.targetPort={}",
        [80, 8080, 443, 9000][i % 4]
    ));
    if i % 4 == 1 {
        set(format!("tunnel.gateway.ssh.port={}", 30000 + i));
    }
    if i % 6 == 5 {
        set(format!("tunnel.gateway.ssh.userName=tunnel{i}"));
    }
    if i % 7 == 3 {
        set("nameOverride=bst".to_owned());
    }
    let values_file = (i % 5 == 4).then(|| {
        format!(
            "image:\n  repository: registry.example.org/ssh-client\n  tag: \"2.{i}\"\nresources:\n  limits:\n    cpu: 300m\n    memory: 48Mi\n"
        )
    });
    if values_file.is_some() {
        args.push("--values".to_owned());
        args.push("values.yaml".to_owned());
    }
    if i % 2 == 1 {
        args.push("--redact-secrets".to_owned());
    }
    if i % 9 == 2 {
        args.push("--show-only".to_owned());
        args.push("templates/configMap.yaml".to_owned());
    }
    if i % 13 == 6 {
        args.push("--notes".to_owned());
    }
    Case { args, values_file }
}

/// Writes the 200 case directories (`NNN-<chart>/args`, and `values.yaml` where a case reads one)
/// and the key files they read.
fn write_cases(root: &Path) {
    std::fs::write(root.join("id_ed25519.pub"), PUBLIC_KEY).expect("write key");
    std::fs::write(root.join("id_ed25519.b64"), PRIVATE_KEY_B64).expect("write key");
    for i in 0..CASES {
        let (chart, case) = if i.is_multiple_of(2) {
            ("gateway", gateway_case(i))
        } else {
            ("bastion", bastion_case(i))
        };
        let dir = root.join(format!("{i:03}-{chart}"));
        std::fs::create_dir_all(&dir).expect("case directory");
        let mut args = format!("# Case {i} of the golden bench.\n");
        for arg in &case.args {
            writeln!(args, "{arg}").expect("write to a String");
        }
        std::fs::write(dir.join("args"), args).expect("write args");
        if let Some(values) = case.values_file {
            std::fs::write(dir.join("values.yaml"), values).expect("write values");
        }
    }
}

fn golden_benches(c: &mut Criterion) {
    let root = tempfile::tempdir().expect("temporary directory");
    write_cases(root.path());
    let dir = root.path().to_str().expect("UTF-8 temporary path");
    // The expected files, from the project's own update path (untimed).
    let updated = ikp(&["golden", "update", dir]);
    assert!(
        updated.ends_with(&format!(
            "golden: {CASES} cases, {CASES} updated, 0 unchanged\n"
        )),
        "{updated}"
    );
    let all_passed = format!("golden: {CASES} passed, 0 failed, 0 missing\n");
    let check = || {
        let out = ikp(&["golden", "check", dir]);
        assert!(out.ends_with(&all_passed), "not every case passed:\n{out}");
        out
    };
    check();

    let mut group = c.benchmark_group("golden");
    group.throughput(Throughput::Elements(CASES as u64));
    // A check is hundreds of renders: fewer, longer samples than criterion's default.
    group.sample_size(20);
    group.measurement_time(std::time::Duration::from_secs(10));
    group.bench_function("check_200_cases", |b| b.iter(check));
    group.finish();
}

criterion_group!(benches, golden_benches);
criterion_main!(benches);
