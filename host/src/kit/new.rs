//! `stagewright plugin new NAME`: a working action to start from, with a manifest, a config
//! schema, a return-values schema, the capabilities it needs, a README and test cases, so
//! `new`, `build` and `test` pass before the author changes a line.

use std::path::{Path, PathBuf};

use super::KitError;

/// The languages a plugin can be written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Language {
    /// Rust, with the `stagewright-sdk` crate, built by cargo.
    Rust,
    /// Python, with the `stagewright` module (sdk/python), built by componentize-py.
    Python,
    /// JavaScript, with the `stagewright` module (sdk/js), built by jco's QuickJS backend.
    Js,
}

impl Language {
    /// The language of the plugin in `dir`, by the file its template starts from.
    pub fn of(dir: &Path) -> Option<Self> {
        if dir.join("Cargo.toml").is_file() {
            Some(Self::Rust)
        } else if dir.join("app.py").is_file() {
            Some(Self::Python)
        } else if dir.join("app.js").is_file() {
            Some(Self::Js)
        } else {
            None
        }
    }
}

/// Where the SDK sources are when the `stagewright` binary runs from the clone it was built in.
pub fn default_sdk_dir() -> Option<PathBuf> {
    let sdk = Path::new(env!("CARGO_MANIFEST_DIR")).join("../sdk");
    sdk.join("Cargo.toml")
        .is_file()
        .then(|| sdk.canonicalize().unwrap_or(sdk))
}

/// Writes a new plugin named `name` into `./name` (or `dir`); returns the folder.
pub fn create(name: &str, language: Language, dir: Option<&Path>, sdk: Option<&Path>) -> Result<PathBuf, KitError> {
    check_name(name)?;
    let folder = dir.map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from(name));
    if folder.exists() {
        return Err(KitError::Invalid(format!("{} already exists", folder.display())));
    }
    let title = title_of(name);
    let files = match language {
        Language::Rust => files(RUST, name, &title, &rust_sdk(sdk)?.display().to_string()),
        Language::Python => files(PYTHON, name, &title, ""),
        Language::Js => files(JS, name, &title, ""),
    };
    for (file, text) in files {
        let path = folder.join(file);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| KitError::io(parent, e))?;
        }
        std::fs::write(&path, text).map_err(|e| KitError::io(&path, e))?;
    }
    Ok(folder)
}

/// The Rust SDK's folder, which the new crate depends on by path.
fn rust_sdk(sdk: Option<&Path>) -> Result<PathBuf, KitError> {
    match sdk.map(Path::to_path_buf).or_else(default_sdk_dir) {
        Some(sdk) if sdk.join("Cargo.toml").is_file() => Ok(sdk),
        _ => Err(KitError::Invalid(
            "where is the Stagewright SDK? pass --sdk PATH (the sdk/ folder of a Stagewright clone)".into(),
        )),
    }
}

/// Fills a template's `{{name}}`, `{{crate}}`, `{{title}}` and `{{sdk}}`.
fn fill(template: &str, name: &str, title: &str, sdk: &str) -> String {
    template
        .replace("{{name}}", name)
        .replace("{{crate}}", &name.replace('-', "_"))
        .replace("{{title}}", title)
        .replace("{{sdk}}", sdk)
}

/// One file of a new plugin: its path in the folder and its template.
type Template = (&'static str, &'static str);

const RUST: &[Template] = &[
    ("Cargo.toml", include_str!("templates/rust/Cargo.toml.tmpl")),
    ("src/lib.rs", include_str!("templates/rust/lib.rs.tmpl")),
    (
        "plugin-tests.json",
        include_str!("templates/rust/plugin-tests.json.tmpl"),
    ),
    ("README.md", include_str!("templates/rust/README.md.tmpl")),
    (".gitignore", "/target\n"),
];

const PYTHON: &[Template] = &[
    ("app.py", include_str!("templates/python/app.py.tmpl")),
    (
        "plugin-tests.json",
        include_str!("templates/python/plugin-tests.json.tmpl"),
    ),
    ("README.md", include_str!("templates/python/README.md.tmpl")),
    (".gitignore", "/build\n__pycache__/\n"),
];

const JS: &[Template] = &[
    ("app.js", include_str!("templates/js/app.js.tmpl")),
    ("plugin-tests.json", include_str!("templates/js/plugin-tests.json.tmpl")),
    ("README.md", include_str!("templates/js/README.md.tmpl")),
    (".gitignore", "/build\n/node_modules\n"),
];

/// The language's files, filled in (`sdk` is only used by Rust's Cargo.toml).
fn files(templates: &[Template], name: &str, title: &str, sdk: &str) -> Vec<(&'static str, String)> {
    templates
        .iter()
        .map(|(path, template)| (*path, fill(template, name, title, sdk)))
        .collect()
}

/// A plugin id: lowercase letters, digits and dashes, as manifests require.
fn check_name(name: &str) -> Result<(), KitError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && name.starts_with(|c: char| c.is_ascii_lowercase());
    if ok {
        Ok(())
    } else {
        Err(KitError::Invalid(format!(
            "'{name}' cannot be a plugin id: use lowercase letters, digits and dashes, starting with a letter"
        )))
    }
}

/// "follow-up" becomes "Follow up".
fn title_of(name: &str) -> String {
    let words = name.replace('-', " ");
    let mut chars = words.chars();
    chars
        .next()
        .map(|first| first.to_ascii_uppercase().to_string() + chars.as_str())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_plugin_ids() {
        assert!(check_name("follow-up2").is_ok());
        for bad in ["", "Follow", "2fast", "a_b", "a b"] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
        assert_eq!(title_of("follow-up"), "Follow up");
    }
}
