//! Test plugin "other-world": a well-formed component that exports a different world than
//! stagewright:action, to check that installing it is refused with a clear error.

wit_bindgen::generate!({
    inline: "
        package test:other;

        world greeter {
            export greet: func(name: string) -> string;
        }
    ",
});

/// Greets; nothing a Stagewright host can call.
pub struct Greeter;

impl Guest for Greeter {
    fn greet(name: String) -> String {
        format!("hello, {name}")
    }
}

export!(Greeter);
