//! One action, "comment on the item", in each language an author can write: Rust (the built-in
//! add-comment) and Python and JavaScript (what `stagewright plugin new --lang …` generates, built
//! by the kit as an author builds it), side by side in one run:
//! - the component's size;
//! - install: validate, compile and describe with an empty compiled-code cache, and again from
//!   the cache, as a restarted server loads its plugins;
//! - one run in a fresh instance (instantiate from the plugin's `InstancePre` in the pooling
//!   allocator, then `run`), through the kit's scratch host: median and p99 over the samples,
//!   fuel, and the most linear memory the instance held.
//!
//! `cargo bench -p stagewright-tests --bench languages` (componentize-py, jco and
//! componentize-qjs on PATH, as the kit needs them).

use std::path::Path;
use std::time::{Duration, Instant};

use cap_std::ambient_authority;
use cap_std::fs::Dir;
use serde_json::json;
use stagewright::kit::new::Language;
use stagewright::kit::scratch::{ItemSpec, ScratchHost};
use stagewright::kit::{build, new};
use stagewright::runtime::{HttpPolicy, Limits, Runtime};
use stagewright::server::BUILTIN_PLUGINS;
use stagewright::store::Store;

const SAMPLES: usize = 200;

#[tokio::main]
async fn main() {
    let work = tempfile::tempdir().expect("temp dir");
    let rust = BUILTIN_PLUGINS
        .iter()
        .find(|(name, _)| *name == "add-comment")
        .map(|(_, wasm)| wasm.to_vec())
        .expect("the built-in add-comment");
    let components = [
        ("Rust", rust),
        ("Python", generated(work.path(), Language::Python)),
        ("JavaScript", generated(work.path(), Language::Js)),
    ];
    println!("language    size      install cold  install cached  run median  run p99   fuel      memory");
    for (language, wasm) in &components {
        let (cold, cached) = install_times(wasm).await;
        let runs = runs(wasm).await;
        println!(
            "{language:<11} {:>6.2} MB {:>9.0} ms {:>12.1} ms {:>8.2} ms {:>6.2} ms {:>9} {:>6.1} MiB",
            wasm.len() as f64 / 1e6,
            ms(cold),
            ms(cached),
            ms(runs.median),
            ms(runs.p99),
            runs.fuel,
            runs.memory_bytes as f64 / f64::from(1 << 20),
        );
    }
}

/// The kit's generated action in `language`, built by the kit.
fn generated(work: &Path, language: Language) -> Vec<u8> {
    let name = format!("bench-{language:?}").to_lowercase();
    let dir = work.join(&name);
    new::create(&name, language, Some(&dir), None).expect("plugin new");
    let wasm = build::build(&dir).unwrap_or_else(|e| panic!("plugin build for {language:?}: {e}"));
    std::fs::read(wasm).expect("the built component")
}

/// Installing into an empty cache, then into a second runtime and store sharing that cache.
async fn install_times(wasm: &[u8]) -> (Duration, Duration) {
    let data = tempfile::tempdir().expect("temp dir");
    let cache = data.path().join("cache");
    std::fs::create_dir_all(&cache).expect("cache dir");
    let mut times = Vec::new();
    for round in 0..2 {
        let store = Store::open_sqlite(&data.path().join(format!("store-{round}")))
            .await
            .expect("store");
        let dir = Dir::open_ambient_dir(&cache, ambient_authority()).expect("cache dir");
        let runtime = Runtime::new(dir, Limits::default(), HttpPolicy::default()).expect("runtime");
        let started = Instant::now();
        runtime.install(&store, wasm, false, 0).await.expect("install");
        times.push(started.elapsed());
    }
    (times[0], times[1])
}

/// What the samples of one language's runs show.
struct Runs {
    median: Duration,
    p99: Duration,
    fuel: u64,
    memory_bytes: usize,
}

/// `SAMPLES` runs for as many new deals, each in a fresh instance.
async fn runs(wasm: &[u8]) -> Runs {
    let compiled_code = tempfile::tempdir().expect("temp dir");
    let host = ScratchHost::start(wasm, compiled_code.path())
        .await
        .expect("scratch host");
    let config = json!({"text": "Following up"});
    let mut durations = Vec::with_capacity(SAMPLES);
    let (mut fuel, mut memory_bytes) = (0, 0);
    for _ in 0..SAMPLES {
        let report = host.run(&ItemSpec::default(), &config, 1).await.expect("run");
        assert!(report.error.is_none(), "{report:?}");
        durations.push(report.duration);
        fuel = report.fuel;
        memory_bytes = memory_bytes.max(report.memory_bytes);
    }
    durations.sort();
    Runs {
        median: durations[SAMPLES / 2],
        p99: durations[SAMPLES * 99 / 100],
        fuel,
        memory_bytes,
    }
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}
