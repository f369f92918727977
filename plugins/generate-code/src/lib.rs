//! Built-in action "generate-code": a random code of a given length and alphabet, as a return
//! value for later robots (a coupon, a confirmation code).

use serde::Deserialize;
use stagewright_sdk::{Action, ActionError, Context, Manifest, Value, json};

/// The robot's configuration.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// How many characters.
    length: usize,
    /// `digits`, `letters`, `alphanumeric`, or the characters to draw from.
    #[serde(default = "alphanumeric")]
    alphabet: String,
}

fn alphanumeric() -> String {
    "alphanumeric".into()
}

/// Draws one code.
pub struct GenerateCode;

impl Action for GenerateCode {
    type Config = Config;

    fn manifest() -> Manifest {
        Manifest::new(
            "generate-code",
            "Generate code",
            env!("CARGO_PKG_VERSION"),
            "Returns a random code of a given length and alphabet for later robots to use.",
        )
        .config_schema(json!({
            "type": "object",
            "required": ["length"],
            "additionalProperties": false,
            "properties": {
                "length": {"type": "integer", "minimum": 1, "maximum": 64, "title": "Length", "description": "Characters in the code."},
                "alphabet": {"type": "string", "minLength": 2, "title": "Alphabet", "description": "digits, letters, alphanumeric (the default), or the characters to use."}
            }
        }))
        .returns_schema(json!({
            "type": "object",
            "properties": {"code": {"type": "string", "title": "Code"}}
        }))
    }

    fn run(_ctx: &Context, config: Config) -> Result<Value, ActionError> {
        let alphabet: Vec<char> = match config.alphabet.as_str() {
            "digits" => ('0'..='9').collect(),
            "letters" => ('A'..='Z').chain('a'..='z').collect(),
            "alphanumeric" => ('0'..='9').chain('A'..='Z').chain('a'..='z').collect(),
            custom => custom.chars().collect(),
        };
        if !(1..=64).contains(&config.length) || alphabet.len() < 2 {
            return Err(ActionError::InvalidConfig(
                "length must be 1 to 64 and the alphabet at least 2 characters".into(),
            ));
        }
        let mut random = vec![0u8; config.length * 4];
        getrandom::fill(&mut random).map_err(|e| ActionError::Transient(format!("no randomness: {e}")))?;
        let code: String = random
            .chunks_exact(4)
            .map(|bytes| {
                let n = u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]) as usize;
                alphabet[n % alphabet.len()]
            })
            .collect();
        Ok(json!({"code": code}))
    }
}

stagewright_sdk::export_action!(GenerateCode);
