//! Builds every built-in plugin under plugins/ to a component that the host embeds and installs
//! on first start, and makes a new migration rebuild the host.

fn main() {
    // sqlx::migrate! embeds the migrations; once this script names what it watches, cargo reruns
    // it only for those, so new migration files must be named too.
    println!("cargo:rerun-if-changed=migrations");
    let plugins = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugins");
    stagewright_wasm_build::build_folder(&plugins, "stagewright-plugin-", "builtin_plugins.rs", "BUILTIN_PLUGINS");
}
