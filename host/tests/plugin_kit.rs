//! The plugin author's kit as an author uses it: `stagewright plugin new` in an empty folder,
//! `plugin build`, `plugin test` against the generated test cases (and against a case that must
//! fail), then `plugin install` into a running server, which then lists the plugin.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use stagewright::{Server, Settings};

/// The toolchain the workspace pins, so the plugin's build uses it wherever the folder is.
fn pinned_toolchain() -> String {
    let pin = std::fs::read_to_string(workspace().join("rust-toolchain.toml")).unwrap();
    pin.lines()
        .find_map(|line| line.strip_prefix("channel = "))
        .map(|channel| channel.trim_matches('"').to_string())
        .expect("rust-toolchain.toml names a channel")
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").canonicalize().unwrap()
}

/// `stagewright ARGS` in `dir`. The plugin builds into the folder where the workspace builds its
/// own plugins, with the workspace's lockfile, so the SDK's dependencies are not compiled again;
/// the kit keeps its compiled code under the tests' own temporary folder, not the user's cache.
fn stagewright(dir: &Path, args: &[&str]) -> Output {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join("target"));
    Command::new(env!("CARGO_BIN_EXE_stagewright"))
        .args(args)
        .current_dir(dir)
        .env("RUSTUP_TOOLCHAIN", pinned_toolchain())
        .env("CARGO_TARGET_DIR", target.join("debug").join("wasm-components"))
        .env(
            "XDG_CACHE_HOME",
            Path::new(env!("CARGO_TARGET_TMPDIR")).join("kit-cache"),
        )
        .output()
        .unwrap()
}

fn text(output: &Output) -> String {
    format!(
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_plugin_builds_passes_its_test_cases_and_installs() {
    let home = tempfile::tempdir().unwrap();
    // A name of its own: the suites of both databases may build at once into the shared folder.
    let name = format!("follow-up-{:08x}", rand::random::<u32>());
    let made = stagewright(home.path(), &["plugin", "new", &name]);
    assert!(made.status.success(), "{}", text(&made));
    let plugin = home.path().join(&name);
    for file in ["Cargo.toml", "src/lib.rs", "plugin-tests.json", "README.md"] {
        assert!(plugin.join(file).is_file(), "{file} was not created");
    }
    std::fs::copy(workspace().join("Cargo.lock"), plugin.join("Cargo.lock")).unwrap();

    let built = stagewright(&plugin, &["plugin", "build"]);
    assert!(built.status.success(), "{}", text(&built));
    let wasm = String::from_utf8_lossy(&built.stdout).trim().to_string();
    let file = format!("{}.wasm", name.replace('-', "_"));
    assert!(wasm.ends_with(&file) && Path::new(&wasm).is_file(), "{wasm}");

    let tested = stagewright(&plugin, &["plugin", "test"]);
    let report = text(&tested);
    assert!(tested.status.success(), "{report}");
    assert!(report.contains("2 passed, 0 failed"), "{report}");
    assert!(report.contains("returns: {\"comment_id\":1}"), "{report}");
    assert!(
        report.contains("\"text\":\"Following up on Office chairs\""),
        "{report}"
    );

    let cases = std::fs::read_to_string(plugin.join("plugin-tests.json")).unwrap();
    let wrong = plugin.join("wrong.json");
    std::fs::write(&wrong, cases.replace("\"comment_id\": 1", "\"comment_id\": 7")).unwrap();
    let failing = stagewright(&plugin, &["plugin", "test", "--cases", "wrong.json"]);
    let report = text(&failing);
    assert_eq!(failing.status.code(), Some(1), "{report}");
    assert!(
        report.contains("FAILED: returns {\"comment_id\":1}, expected {\"comment_id\":7}"),
        "{report}"
    );
    assert!(report.contains("1 passed, 1 failed"), "{report}");

    let denied = stagewright(
        &plugin,
        &[
            "plugin",
            "test",
            &wasm,
            "--config",
            r#"{"text": "Hi"}"#,
            "--item",
            r#"{"entity_type": "contact"}"#,
        ],
    );
    let report = text(&denied);
    assert_eq!(denied.status.code(), Some(1), "{report}");
    assert!(
        report.contains("denied: write:contact is not among the plugin's capabilities"),
        "{report}"
    );

    let data = tempfile::tempdir().unwrap();
    let mut settings = Settings::new(data.path().to_path_buf());
    settings.listen = "127.0.0.1:0".parse().unwrap();
    let server = Server::start(settings).await.unwrap();
    let url = server.base_url();
    let installed = tokio::task::spawn_blocking({
        let (plugin, wasm, url, token) = (plugin.clone(), wasm.clone(), url.clone(), server.admin_token.clone());
        move || {
            stagewright(
                &plugin,
                &["plugin", "install", &wasm, "--url", &url, "--token", &token, "--yes"],
            )
        }
    })
    .await
    .unwrap();
    let report = text(&installed);
    assert!(installed.status.success(), "{report}");
    assert!(
        report.contains("It asks to:\n  - writes deals\n  - writes leads"),
        "{report}"
    );
    assert!(report.contains(&format!("installed {name} 0.1.0")), "{report}");
    let listed: serde_json::Value = reqwest::Client::new()
        .get(format!("{url}/api/v1/plugins"))
        .bearer_auth(&server.admin_token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let ids: Vec<&str> = listed["plugins"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["manifest"]["id"].as_str())
        .collect();
    assert!(ids.contains(&name.as_str()), "{ids:?}");
}

/// `plugin new NAME --lang LANG`, `plugin build` and `plugin test` in a fresh folder, as an
/// author of a language the kit builds with an outside tool (`install` says how to get it) does.
fn new_build_and_test(home: &Path, name: &str, lang: &str, files: &[&str], install: &str) -> PathBuf {
    let made = stagewright(home, &["plugin", "new", name, "--lang", lang]);
    assert!(made.status.success(), "{}", text(&made));
    let plugin = home.join(name);
    for file in files.iter().chain(&["plugin-tests.json", "README.md", ".gitignore"]) {
        assert!(plugin.join(file).is_file(), "{file} was not created");
    }

    let built = stagewright(&plugin, &["plugin", "build"]);
    assert!(built.status.success(), "the build needs {install}: {}", text(&built));
    let wasm = String::from_utf8_lossy(&built.stdout).trim().to_string();
    let file = format!("build/{name}.wasm");
    assert!(wasm.ends_with(&file) && Path::new(&wasm).is_file(), "{wasm}");

    let tested = stagewright(&plugin, &["plugin", "test"]);
    let report = text(&tested);
    assert!(tested.status.success(), "{report}");
    assert!(report.contains(&format!("{name} 0.1.0")), "{report}");
    assert!(report.contains("2 passed, 0 failed"), "{report}");
    assert!(report.contains("returns: {\"comment_id\":1}"), "{report}");
    assert!(
        report.contains("\"text\":\"Following up on Office chairs\""),
        "{report}"
    );
    assert!(report.contains("text must not be empty"), "{report}");
    plugin
}

#[test]
fn a_new_python_plugin_builds_with_componentize_py_and_passes_its_test_cases() {
    let home = tempfile::tempdir().unwrap();
    new_build_and_test(
        home.path(),
        "hello-py",
        "python",
        &["app.py"],
        "componentize-py on PATH (pip install componentize-py==0.25.1)",
    );
}

#[test]
fn a_new_javascript_plugin_builds_with_jco_and_passes_its_test_cases() {
    let home = tempfile::tempdir().unwrap();
    let plugin = new_build_and_test(
        home.path(),
        "hello-js",
        "js",
        &["app.js"],
        "jco and componentize-qjs on PATH (npm install -g @bytecodealliance/jco@1.35.0 componentize-qjs@0.4.5)",
    );
    assert!(
        plugin.join("node_modules/stagewright/stagewright.d.ts").is_file(),
        "the SDK's types are there for the author's editor"
    );
}
