//! One robot run of a trivial plugin in a fresh sandbox (instantiate, call, drop), next to the
//! same logic as a native Rust function, so the sandbox's cost is one figure in one run.
//!
//! `cargo bench -p stagewright-tests --bench sandbox`

use std::sync::Arc;

use cap_std::ambient_authority;
use cap_std::fs::Dir;
use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::{Value, json};
use stagewright::model::{EntityType, Item, ItemRef};
use stagewright::runtime::bindings::stagewright::action::types::Invocation;
use stagewright::runtime::{HttpPolicy, Limits, RunResult, Runtime, to_wit_item};
use stagewright::store::Store;
use stagewright_tests::test_plugin;

/// What the noop plugin does, natively: read the config, echo it back as return values.
fn native_noop(config: &str) -> String {
    let config: Value = serde_json::from_str(config).expect("config is JSON");
    json!({"echo": config}).to_string()
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio");
    let data = tempfile::tempdir().expect("temp dir");
    let store = rt.block_on(Store::open_sqlite(data.path())).expect("store");
    let cache = Dir::open_ambient_dir(data.path(), ambient_authority()).expect("cache dir");
    let runtime = Arc::new(Runtime::new(cache, Limits::default(), HttpPolicy::default()).expect("runtime"));
    let plugin = rt
        .block_on(runtime.install(&store, test_plugin("noop"), false, 0))
        .expect("install noop");
    let item = Item {
        item_ref: ItemRef {
            entity_type: EntityType::Deal,
            id: 1,
        },
        category_id: Some(0),
        stage_id: Some("NEW".into()),
        stage_semantic: Some("P".into()),
        in_first_stage: true,
        fields: serde_json::Map::new(),
        created_by: 1,
        created_at: 0,
        updated_at: 0,
    };
    let invocation = Invocation {
        run_id: "run_bench".into(),
        rule_id: "r_bench".into(),
        item: to_wit_item(&item),
        config: r#"{"text":"hello"}"#.into(),
        previous: "{}".into(),
        attempt: 1,
        now_ms: 0,
    };

    let mut group = c.benchmark_group("robot_run");
    group.bench_function("sandboxed_noop", |b| {
        b.iter(|| {
            let outcome = rt.block_on(runtime.run(&store, &plugin, &invocation, 0)).expect("run");
            assert!(matches!(outcome.result, RunResult::Succeeded(_)));
        })
    });
    group.bench_function("native_noop", |b| {
        b.iter(|| native_noop(std::hint::black_box(&invocation.config)))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
