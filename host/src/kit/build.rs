//! `stagewright plugin build`: builds the plugin in a folder into a WebAssembly component and
//! says where it is: cargo for the wasm32-wasip2 target for Rust, componentize-py with the
//! contract's WIT and the Python SDK for Python, jco's QuickJS backend with the contract's WIT
//! and the JavaScript SDK for JavaScript.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::KitError;
use super::new::Language;

/// The target every plugin is built for.
pub const TARGET: &str = "wasm32-wasip2";

/// The componentize-py release the Python SDK is built and tested with.
pub const COMPONENTIZE_PY: &str = "componentize-py==0.25.1";

/// The jco release, and the QuickJS backend it loads, the JavaScript SDK is built and tested with.
pub const JCO: &str = "@bytecodealliance/jco@1.35.0 componentize-qjs@0.4.5";

/// The contract the host serves, which Python plugins are built against.
const CONTRACT_WIT: &str = include_str!("../../../wit/action.wit");

/// The Python SDK, written beside a Python plugin when it is built.
const PYTHON_SDK: &str = include_str!("../../../sdk/python/stagewright.py");

/// The JavaScript SDK and its types, written as `node_modules/stagewright` when a JavaScript
/// plugin is built, so that `import … from "stagewright"` resolves as an npm package does.
const JS_SDK: [(&str, &str); 3] = [
    ("stagewright.js", include_str!("../../../sdk/js/stagewright.js")),
    ("stagewright.d.ts", include_str!("../../../sdk/js/stagewright.d.ts")),
    ("package.json", include_str!("../../../sdk/js/package.json")),
];

/// Builds the plugin in `dir` and returns the component's path.
pub fn build(dir: &Path) -> Result<PathBuf, KitError> {
    match Language::of(dir) {
        Some(Language::Rust) => build_rust(dir),
        Some(Language::Python) => build_python(dir),
        Some(Language::Js) => build_js(dir),
        None => Err(KitError::Invalid(format!(
            "{} holds no Cargo.toml, app.py or app.js: run this in a plugin's folder (stagewright plugin new NAME makes one)",
            dir.display()
        ))),
    }
}

/// componentize-py over `app.py`, with the contract's WIT and the SDK written under `build/`.
fn build_python(dir: &Path) -> Result<PathBuf, KitError> {
    let build = dir.join("build");
    let (wit, sdk) = (build.join("wit"), build.join("python"));
    write_files(&wit, &[("action.wit", CONTRACT_WIT)])?;
    write_files(&sdk, &[("stagewright.py", PYTHON_SDK)])?;
    let component = build.join(format!("{}.wasm", plugin_name(dir)));
    let mut componentize = Command::new("componentize-py");
    componentize
        .current_dir(dir)
        .arg("-d")
        .arg(wit.join("action.wit"))
        .args(["-w", "action", "componentize", "-p", "."])
        .arg("-p")
        .arg(&sdk)
        .args(["app", "-o"])
        .arg(&component);
    run_tool(
        componentize,
        "componentize-py",
        &format!("pip install {COMPONENTIZE_PY} (and put it on PATH)"),
    )?;
    component.canonicalize().map_err(|e| KitError::io(&component, e))
}

/// jco's QuickJS backend over `app.js`, synchronous: jco's default QuickJS build uses
/// component-model async (`task.cancel`), which the host's engine does not enable, and its
/// StarlingMonkey backend makes components about eight times larger and slower to start.
fn build_js(dir: &Path) -> Result<PathBuf, KitError> {
    let build = dir.join("build");
    let wit = build.join("wit");
    write_files(&wit, &[("action.wit", CONTRACT_WIT)])?;
    write_files(&dir.join("node_modules").join("stagewright"), &JS_SDK)?;
    let component = build.join(format!("{}.wasm", plugin_name(dir)));
    let mut componentize = Command::new("jco");
    componentize
        .current_dir(dir)
        .args(["componentize", "app.js", "--wit"])
        .arg(wit.join("action.wit"))
        .args([
            "--world-name",
            "action",
            "--backend",
            "quickjs",
            "--backend-qjs-disable-async",
            "-o",
        ])
        .arg(&component);
    run_tool(componentize, "jco", &format!("npm install -g {JCO}"))?;
    component.canonicalize().map_err(|e| KitError::io(&component, e))
}

/// Writes `files` (name, text) into `folder`, making it first.
fn write_files(folder: &Path, files: &[(&str, &str)]) -> Result<(), KitError> {
    std::fs::create_dir_all(folder).map_err(|e| KitError::io(folder, e))?;
    for (file, text) in files {
        let path = folder.join(file);
        std::fs::write(&path, text).map_err(|e| KitError::io(&path, e))?;
    }
    Ok(())
}

/// The plugin's folder name, which names its component.
fn plugin_name(dir: &Path) -> String {
    dir.canonicalize()
        .ok()
        .and_then(|d| d.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "plugin".into())
}

/// Runs a build tool, its output quiet; says what to install when it is missing.
fn run_tool(mut command: Command, tool: &str, install: &str) -> Result<(), KitError> {
    let status = command
        .stdout(Stdio::null())
        .status()
        .map_err(|_| KitError::MissingTool {
            tool: tool.into(),
            install: install.into(),
        })?;
    if status.success() {
        Ok(())
    } else {
        Err(KitError::BuildFailed)
    }
}

/// cargo for the wasm32-wasip2 target.
fn build_rust(dir: &Path) -> Result<PathBuf, KitError> {
    check_target()?;
    let mut build = Command::new(cargo())
        .current_dir(dir)
        .args([
            "build",
            "--release",
            "--target",
            TARGET,
            "--message-format=json-render-diagnostics",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|_| missing_rust())?;
    let stdout = build.stdout.take().expect("piped stdout");
    let messages = std::io::read_to_string(stdout).map_err(|e| KitError::io(dir, e))?;
    let status = build.wait().map_err(|e| KitError::io(dir, e))?;
    if !status.success() {
        return Err(KitError::BuildFailed);
    }
    component_in(&messages).ok_or_else(|| {
        KitError::Invalid(
            "the build produced no .wasm: is the crate a `cdylib` (`[lib] crate-type = [\"cdylib\"]`)?".into(),
        )
    })
}

/// The `.wasm` among the artifacts cargo reported, the last one built.
fn component_in(messages: &str) -> Option<PathBuf> {
    messages
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|m| m["reason"] == "compiler-artifact")
        .flat_map(|m| {
            m["filenames"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|f| f.as_str().map(PathBuf::from))
                .collect::<Vec<_>>()
        })
        .rfind(|f| f.extension().is_some_and(|e| e == "wasm"))
}

fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".into())
}

fn missing_rust() -> KitError {
    KitError::MissingTool {
        tool: "cargo".into(),
        install: "install Rust with rustup (https://rustup.rs), then `rustup target add wasm32-wasip2`".into(),
    }
}

/// The wasm32-wasip2 standard library, where rustup manages the toolchain.
fn check_target() -> Result<(), KitError> {
    let libdir = Command::new("rustc")
        .args(["--print", "target-libdir", "--target", TARGET])
        .output()
        .map_err(|_| missing_rust())?;
    let dir = PathBuf::from(String::from_utf8_lossy(&libdir.stdout).trim());
    if libdir.status.success() && dir.is_dir() {
        Ok(())
    } else {
        Err(KitError::MissingTool {
            tool: format!("the {TARGET} target"),
            install: format!("rustup target add {TARGET}"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_component_is_found_among_the_artifacts() {
        let messages = [
            r#"{"reason":"compiler-artifact","filenames":["/t/release/deps/libserde.rlib"]}"#,
            r#"{"reason":"build-script-executed"}"#,
            r#"{"reason":"compiler-artifact","filenames":["/t/wasm32-wasip2/release/greet.wasm"]}"#,
            r#"{"reason":"build-finished","success":true}"#,
        ]
        .join("\n");
        assert_eq!(
            component_in(&messages),
            Some(PathBuf::from("/t/wasm32-wasip2/release/greet.wasm"))
        );
        assert_eq!(component_in(""), None);
    }
}
