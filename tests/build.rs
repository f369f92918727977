//! Builds the hostile and trivial test plugins under tests/plugins/ with the same mechanism as the
//! built-in ones.

fn main() {
    let plugins = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("plugins");
    stagewright_wasm_build::build_folder(&plugins, "stagewright-test-plugin-", "test_plugins.rs", "TEST_PLUGINS");
}
