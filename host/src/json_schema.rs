//! JSON Schema checks: a plugin's config and returns schemas, and a robot's config against them.
//!
//! Built on boon, which follows drafts 4 to 2020-12. A schema comes from a plugin an admin
//! uploaded, so it may not load anything: a `$ref` to a file or a URL fails to compile instead
//! of reading the server's disk or the network.

use std::error::Error;
use std::fmt;

use boon::{Compiler, ErrorKind, SchemaIndex, Schemas, UrlLoader, ValidationError};
use serde_json::Value;

/// Where a schema lives while it compiles; a relative `$ref` resolves under it and is refused.
const SCHEMA_URL: &str = "https://stagewright.invalid/schema.json";

/// A compiled JSON Schema.
pub struct JsonSchema {
    schemas: Schemas,
    root: SchemaIndex,
}

/// Why a value is not a JSON Schema.
#[derive(Debug)]
pub struct InvalidSchema(String);

impl fmt::Display for InvalidSchema {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Error for InvalidSchema {}

/// One way a value breaks a schema: where (a JSON Pointer, empty for the whole value) and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// The JSON Pointer of the offending part, `/text`; empty for the whole value.
    pub path: String,
    /// What is wrong there, `5 is not of type "string"`.
    pub message: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

/// Refuses every document a schema names: a plugin's schema must be self-contained.
struct NoLoading;

impl UrlLoader for NoLoading {
    fn load(&self, url: &str) -> Result<Value, Box<dyn Error>> {
        Err(format!("a schema may not load {url}").into())
    }
}

impl JsonSchema {
    /// Compiles `schema`, checking it against its draft's meta-schema.
    pub fn compile(schema: &Value) -> Result<Self, InvalidSchema> {
        let mut compiler = Compiler::new();
        compiler.use_loader(Box::new(NoLoading));
        let invalid = |e: &dyn Error| InvalidSchema(describe_compile_error(e));
        compiler
            .add_resource(SCHEMA_URL, schema.clone())
            .map_err(|e| invalid(&e))?;
        let mut schemas = Schemas::new();
        let root = compiler.compile(SCHEMA_URL, &mut schemas).map_err(|e| invalid(&e))?;
        Ok(Self { schemas, root })
    }

    /// Every way `value` breaks the schema, the innermost reasons only; empty when it fits.
    pub fn violations(&self, value: &Value) -> Vec<Violation> {
        let mut found = Vec::new();
        if let Err(error) = self.schemas.validate(value, self.root) {
            collect_leaves(&error, value, &mut found);
        }
        found
    }
}

/// A compile error with its sources, which hold the useful part ("want string, but got number").
fn describe_compile_error(error: &dyn Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Adds the reasons `error` holds. A failed `oneOf` or `anyOf` is one reason listing its
/// alternatives' own, since no single alternative's failure is the whole story.
fn collect_leaves(error: &ValidationError, value: &Value, found: &mut Vec<Violation>) {
    let path = error.instance_location.to_string();
    match &error.kind {
        ErrorKind::OneOf(None) | ErrorKind::AnyOf => {
            let keyword = if matches!(error.kind, ErrorKind::AnyOf) {
                "anyOf"
            } else {
                "oneOf"
            };
            let mut alternatives = Vec::new();
            for cause in &error.causes {
                collect_leaves(cause, value, &mut alternatives);
            }
            let reasons: Vec<String> = alternatives.iter().map(ToString::to_string).collect();
            let message = format!("fits none of the {keyword} alternatives ({})", reasons.join("; "));
            found.push(Violation { path, message });
        }
        _ if !error.causes.is_empty() => {
            for cause in &error.causes {
                collect_leaves(cause, value, found);
            }
        }
        kind => {
            let shown = value.pointer(&path).map(Value::to_string).unwrap_or_default();
            let message = describe(kind, &shown);
            found.push(Violation { path, message });
        }
    }
}

/// One reason in words, with the offending value `shown` where the library's text lacks it
/// and the keyword an author can look up.
fn describe(kind: &ErrorKind, shown: &str) -> String {
    match kind {
        ErrorKind::Required { want } => want
            .iter()
            .map(|name| format!("\"{name}\" is a required property"))
            .collect::<Vec<_>>()
            .join("; "),
        ErrorKind::Type { want, .. } => {
            let want: Vec<String> = want.iter().map(|t| format!("\"{t}\"")).collect();
            format!("{shown} is not of type {}", want.join(" or "))
        }
        ErrorKind::Enum { want } => {
            let want: Vec<String> = want.iter().map(Value::to_string).collect();
            format!("{shown} is not one of {}", want.join(", "))
        }
        ErrorKind::Const { want } => format!("{shown} is not {want}"),
        ErrorKind::OneOf(Some((first, second))) => {
            format!("fits oneOf alternatives {first} and {second}, but must fit exactly one")
        }
        kind => match kind.keyword_path() {
            Some(keyword) => format!("{kind} ({})", keyword.keyword),
            None => kind.to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_value_that_fits_has_no_violations() {
        let schema = JsonSchema::compile(&json!({"type": "object", "properties": {"n": {"type": "integer"}}})).unwrap();
        assert!(schema.violations(&json!({"n": 3})).is_empty());
    }

    #[test]
    fn violations_name_the_place_and_the_reason() {
        let schema = JsonSchema::compile(&json!({
            "type": "object",
            "required": ["title"],
            "properties": {"text": {"type": "string"}, "n": {"minimum": 1}}
        }))
        .unwrap();
        let found: Vec<String> = schema
            .violations(&json!({"text": 5, "n": 0}))
            .iter()
            .map(ToString::to_string)
            .collect();
        assert!(
            found.contains(&"\"title\" is a required property".to_string()),
            "{found:?}"
        );
        assert!(
            found.contains(&"/text: 5 is not of type \"string\"".to_string()),
            "{found:?}"
        );
        assert!(
            found.contains(&"/n: must be >=1, but got 0 (minimum)".to_string()),
            "{found:?}"
        );
    }

    #[test]
    fn an_enum_names_the_value_it_refuses() {
        let schema = JsonSchema::compile(&json!({"properties": {"to": {"enum": ["user", "team"]}}})).unwrap();
        let found = schema.violations(&json!({"to": "everyone"}));
        assert_eq!(found[0].to_string(), r#"/to: "everyone" is not one of "user", "team""#);
    }

    #[test]
    fn one_of_says_whether_none_or_several_alternatives_fit() {
        let schema = JsonSchema::compile(&json!({"oneOf": [{"required": ["a"]}, {"required": ["b"]}]})).unwrap();
        let none = schema.violations(&json!({}));
        assert_eq!(
            none[0].to_string(),
            r#"fits none of the oneOf alternatives ("a" is a required property; "b" is a required property)"#
        );
        let both = schema.violations(&json!({"a": 1, "b": 2}));
        assert_eq!(
            both[0].to_string(),
            "fits oneOf alternatives 0 and 1, but must fit exactly one"
        );
    }

    #[test]
    fn a_broken_schema_is_refused() {
        let error = JsonSchema::compile(&json!({"type": 5})).err().expect("refused");
        assert!(!error.to_string().is_empty());
    }

    #[test]
    fn a_schema_may_not_read_files_or_the_network() {
        for target in ["file:///etc/passwd", "https://example.com/s.json", "other.json"] {
            let error = JsonSchema::compile(&json!({"$ref": target})).err().expect("refused");
            assert!(error.to_string().contains("may not load"), "{target}: {error}");
        }
    }
}
