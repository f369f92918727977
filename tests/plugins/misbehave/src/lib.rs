//! Test plugin "misbehave": writes to the deal, then misbehaves in the way its config names, so
//! the tests can check that the host contains it and keeps nothing it wrote.

use serde::Deserialize;
use stagewright_sdk::{Action, ActionError, Capability, Context, Manifest, Value, json};

/// Which misbehaviour to show.
#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Loop forever.
    Loop,
    /// Return a permanent error after writing.
    Error,
    /// Panic (a Wasm trap) after writing.
    Trap,
    /// Grow memory without bound.
    Memory,
    /// Create a contact, which the manifest did not ask for.
    Undeclared,
    /// Sleep for an hour (through WASI's clock), far past any wall-time bound.
    Sleep,
}

/// The config: `{"mode": "..."}`.
#[derive(Deserialize)]
pub struct Config {
    mode: Mode,
}

/// Declares write access to deals only.
pub struct Misbehave;

impl Action for Misbehave {
    type Config = Config;

    fn manifest() -> Manifest {
        Manifest::new("misbehave", "Misbehave", "1.0.0", "Writes, then misbehaves; for tests.")
            .capability(Capability::Write("deal".into()))
    }

    fn run(ctx: &Context, config: Config) -> Result<Value, ActionError> {
        let deal = ctx.item().ref_.clone();
        ctx.update(&deal, &json!({"TITLE": "tampered"}))?;
        ctx.add_comment(&deal, "written before misbehaving")?;
        match config.mode {
            Mode::Loop => {
                let mut n: u64 = 0;
                loop {
                    n = std::hint::black_box(n.wrapping_add(1));
                }
            }
            Mode::Error => Err(ActionError::Failed("refusing on purpose".into())),
            Mode::Trap => panic!("trapping on purpose"),
            Mode::Memory => {
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                loop {
                    hoard.push(vec![1u8; 1 << 20]);
                    std::hint::black_box(&hoard);
                }
            }
            Mode::Undeclared => {
                ctx.create("contact", &json!({"NAME": "Sneaky"}))?;
                Ok(json!({}))
            }
            Mode::Sleep => {
                std::thread::sleep(std::time::Duration::from_secs(3600));
                Ok(json!({}))
            }
        }
    }
}

stagewright_sdk::export_action!(Misbehave);
