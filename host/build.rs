//! Builds every built-in plugin under plugins/ to a component that the host embeds and installs
//! on first start.

fn main() {
    let plugins = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugins");
    stagewright_wasm_build::build_folder(&plugins, "stagewright-plugin-", "builtin_plugins.rs", "BUILTIN_PLUGINS");
}
