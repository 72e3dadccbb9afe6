//! The values loader and merge: values documents and `--set` flags (the case format of
//! `ikp_fuzz::parse_case`) composed over each chart's defaults and validated. Any of it may fail
//! with a one-line error (validation: one line per problem); nothing may panic or leave the
//! limits.
#![no_main]

use ikp::compat::yaml;
use ikp::release::values::limits::{self, MAX_DEPTH};
use ikp::release::values::{ChartKind, compose, validate};
use ikp_fuzz::{assert_one_line_errors, parse_case};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let case = parse_case(data);
    for file in &case.files {
        if let Ok(loaded) = yaml::load(file) {
            assert!(limits::depth(&loaded.tree, usize::MAX) <= MAX_DEPTH + 1);
        }
    }
    let layers = match case.layers() {
        Ok(layers) => layers,
        Err(err) => return assert_one_line_errors(&err.to_string()),
    };
    for (kind, defaults) in [
        (
            ChartKind::Gateway,
            include_str!("../../charts/gateway/values.yaml"),
        ),
        (
            ChartKind::Bastion,
            include_str!("../../charts/bastion/values.yaml"),
        ),
    ] {
        match compose(defaults, &layers) {
            Ok(values) => {
                if let Err(errors) = validate(kind, case.release.as_deref().unwrap_or("r"), &values)
                {
                    assert!(!errors.0.is_empty());
                    assert_one_line_errors(&errors.to_string());
                }
            }
            Err(err) => assert_one_line_errors(&err.to_string()),
        }
    }
});
