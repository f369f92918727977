//! Builds every built-in plugin under plugins/ to a component that the host embeds and installs
//! on first start, makes a new migration rebuild the host, and has a release build's line tables
//! compressed.

fn main() {
    // sqlx::migrate! embeds the migrations; once this script names what it watches, cargo reruns
    // it only for those, so new migration files must be named too.
    println!("cargo:rerun-if-changed=migrations");
    compress_release_debug_info();
    let plugins = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugins");
    stagewright_wasm_build::build_folder(&plugins, "stagewright-plugin-", "builtin_plugins.rs", "BUILTIN_PLUGINS");
}

/// A release binary keeps line tables for Stagewright's code (docs/decisions.md), and they were
/// 60 MB of its 139. Compressed (zlib, the ELF way every Linux linker writes and the standard
/// library's backtraces read) they take a quarter of that. Test builds link uncompressed: linking
/// them is on every test run's path.
fn compress_release_debug_info() {
    let release = std::env::var("PROFILE").is_ok_and(|p| p == "release");
    let linux = std::env::var("CARGO_CFG_TARGET_OS").is_ok_and(|os| os == "linux");
    if release && linux {
        println!("cargo:rustc-link-arg-bins=-Wl,--compress-debug-sections=zlib");
    }
}
