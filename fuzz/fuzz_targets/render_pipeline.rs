//! The whole render pipeline, as `ikp render` runs it: any arguments (the case format of
//! `ikp_fuzz::parse_case`) against both built-in charts (the case's chart first, then the other
//! one). The outcome is a one-line error (one line per validation problem), or manifests that
//! read as valid Kubernetes objects; never a panic.
#![no_main]

use std::sync::OnceLock;

use ikp::release::pipeline::Renderer;
use ikp_fuzz::{assert_one_line_errors, assert_valid_kubernetes, parse_case};
use libfuzzer_sys::fuzz_target;

fn renderer(chart: &str) -> &'static Renderer {
    static GATEWAY: OnceLock<Renderer> = OnceLock::new();
    static BASTION: OnceLock<Renderer> = OnceLock::new();
    let cell = if chart == "bastion" {
        &BASTION
    } else {
        &GATEWAY
    };
    cell.get_or_init(|| {
        let Some(chart) = ikp::release::chart::builtin(if chart == "bastion" {
            "bastion"
        } else {
            "gateway"
        }) else {
            panic!("built-in chart missing");
        };
        match Renderer::new(chart) {
            Ok(renderer) => renderer,
            Err(err) => panic!("built-in chart does not compile: {err}"),
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let case = parse_case(data);
    let layers = match case.layers() {
        Ok(layers) => layers,
        Err(err) => return assert_one_line_errors(&err.to_string()),
    };
    let first = case.chart.as_deref().unwrap_or("gateway");
    let second = if first == "bastion" {
        "gateway"
    } else {
        "bastion"
    };
    let release = case.release.as_deref().unwrap_or("release-name");
    let namespace = case.namespace.as_deref().unwrap_or("default");
    for chart in [first, second] {
        match renderer(chart).render(release, namespace, &layers) {
            Ok(rendered) => assert_valid_kubernetes(&rendered.rendered.manifests),
            Err(err) => assert_one_line_errors(&format!("{err:#}")),
        }
    }
});
