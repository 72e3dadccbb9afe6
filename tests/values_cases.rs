//! Acceptance of the values pipeline against Helm's reference cases
//! (`tests/fixtures/helm-cases`, copied from `shared/reference/helm/cases`): every `reject`
//! case fails to parse, compose or validate with one-line errors; every `match` case composes and
//! validates; every `error` case whose failure lies in the values fails here too.
//!
//! Each case's `cmd` (Helm's arguments) is turned into value layers by a small replay of
//! `helm template`'s argument syntax below; the real CLI replay is the render tests' job.

use std::path::{Path, PathBuf};

use ikp::release::values::{ChartKind, SetKind, ValueLayers, compose, validate};

const CASES: &str = "tests/fixtures/helm-cases";

/// The chart defaults: the charts' own values.yaml.
fn defaults(kind: ChartKind) -> String {
    let path = PathBuf::from(format!("charts/{}/values.yaml", kind.name()));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// What a case's arguments amount to, as far as values are concerned.
enum Parsed {
    /// Release name, chart and layers.
    Release(String, ChartKind, ValueLayers),
    /// Failed before validation (bad values flag, unreadable file, ...): the error text.
    ValuesError(String),
    /// Not a values matter: wrong arguments, unknown chart, render-only flags.
    NotValues(&'static str),
}

fn parse_cmd(dir: &Path) -> Parsed {
    let cmd = std::fs::read_to_string(dir.join("cmd")).expect("cmd");
    let mut args: Vec<String> = cmd.lines().map(str::to_owned).collect();
    assert_eq!(
        args.first().map(String::as_str),
        Some("template"),
        "{}",
        dir.display()
    );
    args.remove(0);
    let mut layers = ValueLayers::new();
    layers.set_file_base(dir.to_path_buf());
    let mut positional = Vec::new();
    let mut name_template = None;
    let mut render_only = false;
    let mut i = 0;
    while i < args.len() {
        let arg = args[i].clone();
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_owned(), Some(v.to_owned())),
            _ => (arg.clone(), None),
        };
        let takes_value = matches!(
            flag.as_str(),
            "--set"
                | "--set-string"
                | "--set-json"
                | "--set-file"
                | "--set-literal"
                | "-f"
                | "--values"
                | "-n"
                | "--namespace"
                | "--show-only"
                | "-s"
                | "--output-dir"
                | "--name-template"
        );
        let value = if takes_value {
            match inline {
                Some(v) => Some(v),
                None => {
                    i += 1;
                    args.get(i).cloned()
                }
            }
        } else {
            None
        };
        i += 1;
        let value_or_empty = value.clone().unwrap_or_default();
        let kind = match flag.as_str() {
            "--set" => Some(SetKind::Set),
            "--set-string" => Some(SetKind::String),
            "--set-json" => Some(SetKind::Json),
            "--set-file" => Some(SetKind::File),
            "--set-literal" => Some(SetKind::Literal),
            _ => None,
        };
        if let Some(kind) = kind {
            layers.push_set(kind, &value_or_empty);
            continue;
        }
        match flag.as_str() {
            "-f" | "--values" => {
                for file in value_or_empty.split(',') {
                    let contents = match std::fs::read_to_string(dir.join(file)) {
                        Ok(c) => c,
                        Err(e) => return Parsed::ValuesError(format!("cannot read {file}: {e}")),
                    };
                    if let Err(e) = layers.push_values_file(PathBuf::from(file), contents) {
                        return Parsed::ValuesError(e.to_string());
                    }
                }
            }
            "--name-template" => name_template = value,
            "--show-only" | "-s" => render_only = true,
            "-n" | "--namespace" | "--output-dir" | "--debug" => {}
            other if other.starts_with('-') => panic!("{}: unhandled flag {other}", dir.display()),
            _ => positional.push(arg),
        }
    }
    if render_only {
        return Parsed::NotValues("--show-only is checked by the renderer");
    }
    let (release, chart) = match positional.as_slice() {
        [chart] => (
            name_template.unwrap_or_else(|| "release-name".into()),
            chart.clone(),
        ),
        [release, chart] => (release.clone(), chart.clone()),
        _ => return Parsed::NotValues("wrong number of arguments"),
    };
    let chart_name = chart
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or_default()
        .to_owned();
    match chart_name.parse::<ChartKind>() {
        Ok(kind) => Parsed::Release(release, kind, layers),
        Err(_) => Parsed::NotValues("no such chart"),
    }
}

/// The values verdict of one case: `Ok(())` if it validates, else the error lines.
fn run_case(dir: &Path) -> Result<Result<(), Vec<String>>, &'static str> {
    match parse_cmd(dir) {
        Parsed::NotValues(why) => Err(why),
        Parsed::ValuesError(text) => Ok(Err(vec![text])),
        Parsed::Release(release, kind, layers) => {
            let values = match compose(&defaults(kind), &layers) {
                Ok(v) => v,
                Err(e) => return Ok(Err(vec![e.to_string()])),
            };
            Ok(validate(kind, &release, &values)
                .map_err(|errors| errors.0.iter().map(ToString::to_string).collect()))
        }
    }
}

fn cases() -> Vec<(String, String, PathBuf)> {
    let mut out: Vec<_> = std::fs::read_dir(CASES)
        .expect("cases")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.join("cmd").exists())
        .map(|p| {
            let name = p
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned();
            let expect = std::fs::read_to_string(p.join("expect"))
                .expect("expect")
                .trim()
                .to_owned();
            (name, expect, p)
        })
        .collect();
    out.sort();
    out
}

/// Private key material from the case arguments and files: none of it may appear in an error.
fn secrets(dir: &Path) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).expect("dir").filter_map(Result::ok) {
        let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
        let holds_pem = text.contains("PRIVATE KEY-----");
        for line in text.lines() {
            if let Some((_, key)) = line.split_once("privateKey=") {
                found.push(key.chars().skip(40).take(40).collect());
            }
            let trimmed = line.trim();
            if holds_pem && trimmed.len() > 40 && !trimmed.starts_with("-----") {
                found.push(trimmed.chars().skip(10).take(30).collect());
            }
        }
    }
    found.retain(|s: &String| s.len() >= 20);
    found
}

/// For each sample reject case, the key (or release name) its error must name — what the case is
/// about, from its `desc`. Cases not listed (new ones) get the generic checks only.
const REJECT_NAMES: [(&str, &str); 29] = [
    ("012-headreadme-bastion", "value tunnel.gateway.port "),
    ("013-plugin-bastion", "value tunnel.gateway.port "),
    ("020-gateway-defaults", "value ssh.publicKey "),
    (
        "021-bastion-defaults",
        "value tunnel.gateway.ssh.privateKey ",
    ),
    (
        "032-release-53-chars",
        "release name \"a2345678901234567890123456789012345678901234567890123\"",
    ),
    (
        "036-release-53-plus-nameoverride",
        "nameOverride = \"abcdefgh-xyz\"",
    ),
    (
        "038-nameoverride-substring-of-release",
        "value nameOverride = \"off\"",
    ),
    (
        "041-fullnameoverride-double-dash",
        "value fullnameOverride = \"abc--\"",
    ),
    ("045-release-name-with-dots", "release name \"my.rel.v1\""),
    (
        "053-service-type-clusterip",
        "value service.type = \"ClusterIP\"",
    ),
    ("060-ssh-port-leading-zero", "value ssh.port = \"0123\""),
    ("062-ssh-port-true", "value ssh.port = true"),
    ("063-ssh-port-big-set", "value ssh.port = 1000000"),
    ("066-ssh-port-float-file", "value service.port = 30222.5"),
    ("068-ssh-port-negative-plus", "value service.port = -1"),
    ("069-set-json-ports", "value ssh.port = 1e+06"),
    (
        "072-tunnel-sourceport-only",
        "value tunnel.service.sourceNodePort ",
    ),
    (
        "078-literal-no-value-string",
        "value ssh.publicKey = \"<no value>\"",
    ),
    ("083-set-escaped-comma", "value ssh.publicKey = \"a,b\""),
    ("086-set-string-null", "value ssh.publicKey = \"null\""),
    (
        "087-publickey-with-hash",
        "value ssh.publicKey = \"ssh-ed25519 AAAA #comment\"",
    ),
    (
        "089-values-file-publickey-block",
        "value ssh.userName = \"user name\"",
    ),
    ("093-image-tag-float-file", "value image.tag = 1.2"),
    (
        "107-resources-list-index-gap",
        "value resources.claims[2] = \"x\"",
    ),
    (
        "108-resources-braces-list",
        "value resources.claims[0] = \"a\"",
    ),
    (
        "111-bastion-gateway-port-ignored",
        "value tunnel.gateway.port ",
    ),
    (
        "114-bastion-username-and-host-quoting",
        "value tunnel.service.targetHost = \"svc:80\"",
    ),
    (
        "116-bastion-targetport-null",
        "value tunnel.service.targetPort ",
    ),
    ("119-resources-string", "value resources = \"abc\""),
];

#[test]
fn reject_cases_fail_with_one_line_errors() {
    let mut checked = 0;
    let mut named_checked = 0;
    for (name, expect, dir) in cases() {
        if expect != "reject" {
            continue;
        }
        checked += 1;
        let outcome = run_case(&dir)
            .unwrap_or_else(|why| panic!("{name}: reject case not a values case? {why}"));
        let errors = match outcome {
            Ok(()) => panic!("{name}: expected a rejection, but the values validated"),
            Err(errors) => errors,
        };
        assert!(!errors.is_empty(), "{name}");
        for error in &errors {
            assert!(!error.contains('\n'), "{name}: multi-line error {error:?}");
            assert!(
                error.contains(" value ")
                    || error.contains("release name")
                    || error.contains("--set"),
                "{name}: error does not name a key or the release: {error}"
            );
        }
        for secret in secrets(&dir) {
            for error in &errors {
                assert!(
                    !error.contains(&secret),
                    "{name}: error shows key material: {error}"
                );
            }
        }
        if let Some((_, named)) = REJECT_NAMES.iter().find(|(case, _)| *case == name) {
            named_checked += 1;
            assert!(
                errors.iter().any(|e| e.contains(named)),
                "{name}: no error names {named}:\n  {}",
                errors.join("\n  ")
            );
        }
        println!("{name}:\n  {}", errors.join("\n  "));
    }
    // The sample has 29 reject cases; all of them must be checked.
    assert!(checked >= 29, "only {checked} reject cases found");
    assert_eq!(
        named_checked,
        REJECT_NAMES.len(),
        "a REJECT_NAMES entry matches no reject case"
    );
    println!("{checked} reject cases rejected");
}

#[test]
fn match_cases_validate() {
    let mut checked = 0;
    for (name, expect, dir) in cases() {
        if expect != "match" {
            continue;
        }
        match run_case(&dir) {
            Err(why) => println!("{name}: skipped by the values test ({why})"),
            Ok(Ok(())) => checked += 1,
            Ok(Err(errors)) => panic!(
                "{name}: a match case was rejected:\n  {}",
                errors.join("\n  ")
            ),
        }
    }
    assert!(checked >= 30, "only {checked} match cases validated");
    println!("{checked} match cases validated");
}

#[test]
fn error_cases_with_bad_values_fail() {
    for (name, expect, dir) in cases() {
        if expect != "error" {
            continue;
        }
        match run_case(&dir) {
            Err(why) => println!("{name}: left to the renderer ({why})"),
            Ok(Err(errors)) => {
                for secret in secrets(&dir) {
                    assert!(
                        errors.iter().all(|e| !e.contains(&secret)),
                        "{name}: shows key material"
                    );
                }
                println!("{name}:\n  {}", errors.join("\n  "));
            }
            Ok(Ok(())) => panic!("{name}: an error case's values validated"),
        }
    }
}
