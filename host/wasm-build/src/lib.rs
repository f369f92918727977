//! Compiles plugin crates to WebAssembly components from a build script, so that building the
//! host (or the tests) builds every plugin with no manual step.
//!
//! It runs a nested `cargo build --target wasm32-wasip2 --release` into a target directory of its
//! own (as wasmtime's test-programs do), then writes a Rust file listing the components, which the
//! caller `include!`s.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The target every plugin is built for.
pub const TARGET: &str = "wasm32-wasip2";

/// One compiled plugin.
pub struct Component {
    /// The plugin's folder name, which is also its id ("change-stage").
    pub name: String,
    /// Where the `.wasm` component was written.
    pub path: PathBuf,
}

/// Builds every crate in `dir` (one folder each, package `{package_prefix}{folder}`) and writes
/// `{OUT_DIR}/{out_file}` defining `pub const {const_name}: &[(&str, &[u8])]` with each
/// component's name and bytes.
pub fn build_folder(dir: &Path, package_prefix: &str, out_file: &str, const_name: &str) {
    let names = plugin_folders(dir);
    let components = build(&names, package_prefix);
    let out_dir = PathBuf::from(std::env::var_os("OUT_DIR").expect("OUT_DIR is set by cargo"));
    let mut source = format!(
        "/// Components built from `{}`.\npub const {const_name}: &[(&str, &[u8])] = &[\n",
        dir.display()
    );
    for c in &components {
        writeln!(source, "    ({:?}, include_bytes!({:?})),", c.name, c.path).expect("write to String");
    }
    source.push_str("];\n");
    std::fs::write(out_dir.join(out_file), source).expect("write the component list");
}

fn plugin_folders(dir: &Path) -> Vec<String> {
    println!("cargo:rerun-if-changed={}", dir.display());
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .filter_map(Result::ok)
        .filter(|e| e.path().join("Cargo.toml").is_file())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn build(names: &[String], package_prefix: &str) -> Vec<Component> {
    let workspace = workspace_root();
    for watched in ["sdk", "wit"] {
        println!("cargo:rerun-if-changed={}", workspace.join(watched).display());
    }
    ensure_target_installed();
    let target_dir = components_target_dir();
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(&workspace)
        .args(["build", "--release", "--target", TARGET, "--target-dir"])
        .arg(&target_dir);
    for name in names {
        cmd.arg("-p").arg(format!("{package_prefix}{name}"));
    }
    for var in [
        "CARGO_ENCODED_RUSTFLAGS",
        "RUSTFLAGS",
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_TARGET",
        "RUSTC_WRAPPER",
        "RUSTC_WORKSPACE_WRAPPER",
        "CARGO_PRIMARY_PACKAGE",
    ] {
        cmd.env_remove(var);
    }
    // Components carry no DWARF: wasmtime never reads it, and the standard library's debug info
    // made each built-in ~3 MB instead of ~220 KB (stored in the database, embedded in every
    // binary). The name section stays, so a trap still names its function.
    cmd.env("CARGO_PROFILE_RELEASE_DEBUG", "false")
        .env("CARGO_PROFILE_RELEASE_STRIP", "debuginfo");
    let status = cmd.status().expect("run cargo for the plugins");
    assert!(
        status.success(),
        "building plugins for {TARGET} failed; is the target installed? (rustup target add {TARGET})"
    );
    names
        .iter()
        .map(|name| {
            let file = format!("{}{}.wasm", package_prefix, name).replace('-', "_");
            let path = target_dir.join(TARGET).join("release").join(file);
            assert!(path.is_file(), "{} was not produced", path.display());
            Component {
                name: name.clone(),
                path,
            }
        })
        .collect()
}

/// rust-toolchain.toml lists the target, but rustup adds listed targets only when it installs the
/// toolchain itself; a machine that already had the toolchain lacks it. Add it here so that a
/// plain `cargo build` works on any machine with rustup.
fn ensure_target_installed() {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let libdir = Command::new(rustc)
        .args(["--print", "target-libdir", "--target", TARGET])
        .output()
        .ok()
        .filter(|out| out.status.success())
        .map(|out| PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()));
    if libdir.is_some_and(|dir| dir.is_dir()) {
        return;
    }
    let added = Command::new("rustup").args(["target", "add", TARGET]).status();
    assert!(
        added.is_ok_and(|status| status.success()),
        "the {TARGET} target is missing and `rustup target add {TARGET}` failed; install it by hand"
    );
}

fn workspace_root() -> PathBuf {
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    manifest
        .ancestors()
        .find(|dir| std::fs::read_to_string(dir.join("Cargo.toml")).is_ok_and(|toml| toml.contains("[workspace]")))
        .expect("a workspace Cargo.toml above the crate")
        .to_path_buf()
}

/// `<target>/<profile>/wasm-components`, shared by every build script of one profile so the SDK
/// and its dependencies compile for wasm once.
fn components_target_dir() -> PathBuf {
    let out_dir = PathBuf::from(std::env::var_os("OUT_DIR").expect("OUT_DIR"));
    out_dir
        .ancestors()
        .nth(3)
        .expect("OUT_DIR is <target>/<profile>/build/<pkg>/out")
        .join("wasm-components")
}
