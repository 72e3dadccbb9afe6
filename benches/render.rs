//! In-process render throughput of the built-in charts (goal: at least 20,000 bastion renders per
//! second on one core). Three levels:
//! - `render_values`: templates, split, read-back and object checks for an already composed tree;
//! - `pipeline`: `Renderer::render` end to end (compose the `--set` layers, validate, render, check);
//! - `engine_only`: the template execution alone, to show where the time goes.
//!
//! Renders allocate with mimalloc, as they do in the `ikp` binary (`src/main.rs`).
//!
//! Run: `cargo bench --bench render` (criterion prints time per render; throughput is renders/s).

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ikp::release::chart;
use ikp::release::pipeline::Renderer;
use ikp::release::render::{ChartEngine, ReleaseInfo};
use ikp::release::values::{SetKind, ValueLayers, compose};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const PRIVATE_KEY_B64: &str = include_str!("../examples/id_ed25519.b64");
const PUBLIC_KEY: &str = include_str!("../examples/id_ed25519.pub");

fn layers(sets: &[String]) -> ValueLayers {
    let mut layers = ValueLayers::new();
    for arg in sets {
        layers.push_set(SetKind::Set, arg);
    }
    layers
}

fn bastion_sets() -> Vec<String> {
    vec![
        "tunnel.gateway.host=131.154.98.96".to_owned(),
        format!("tunnel.gateway.ssh.privateKey={}", PRIVATE_KEY_B64.trim()),
        "tunnel.service.gatewayPort=8181".to_owned(),
        "tunnel.service.targetHost=mlaas-inference-service-hep-predictor-00001.mlaas.svc.cluster.local"
            .to_owned(),
        "tunnel.service.targetPort=80".to_owned(),
    ]
}

fn gateway_sets() -> Vec<String> {
    vec![
        format!("ssh.publicKey={}", PUBLIC_KEY.trim()),
        "tunnel.service.sourcePort=8181".to_owned(),
        "tunnel.service.sourceNodePort=30181".to_owned(),
    ]
}

fn bench_chart(c: &mut Criterion, name: &str, sets: &[String]) {
    let chart = chart::builtin(name).expect("built-in chart");
    let engine = ChartEngine::new(&chart).expect("templates compile");
    let renderer = Renderer::new(chart.clone()).expect("templates compile");
    let layers = layers(sets);
    let values = compose(&chart.values_yaml, &layers).expect("values compose");
    let release = ReleaseInfo::new("msoff", "myservice");
    // Fail early (outside the timing) if the inputs do not render.
    renderer
        .render("msoff", "myservice", &layers)
        .expect("renders");

    let mut group = c.benchmark_group(name);
    group.throughput(Throughput::Elements(1));
    group.bench_function("engine_only", |b| {
        b.iter(|| {
            engine
                .render(name, &release, &values.tree)
                .expect("renders")
        })
    });
    group.bench_function("render_values", |b| {
        b.iter(|| {
            renderer
                .render_values(&release, &values.tree)
                .expect("renders")
        })
    });
    group.bench_function("pipeline", |b| {
        b.iter(|| {
            renderer
                .render("msoff", "myservice", &layers)
                .expect("renders")
        })
    });
    group.finish();
}

fn render_benches(c: &mut Criterion) {
    bench_chart(c, "bastion", &bastion_sets());
    bench_chart(c, "gateway", &gateway_sets());
}

criterion_group!(benches, render_benches);
criterion_main!(benches);
