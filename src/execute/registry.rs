//! `Registry`: the builtins a pipeline may name, handed to the planner.
//!
//! The planner resolves `builtin: NAME` through a registry it is given rather
//! than through `stages::`, so `plan` knows nothing of the Trust & Safety
//! catalogue and its tests can plan against fake builtins. `stages::registry()`
//! is the real one; only `commands/` passes it in.

use super::Builtin;

#[derive(Clone, Copy)]
pub struct Registry {
    builtins: &'static [&'static dyn Builtin],
}

impl Registry {
    pub const fn new(builtins: &'static [&'static dyn Builtin]) -> Registry {
        Registry { builtins }
    }

    /// The builtin called `name` in pipeline.yaml.
    pub fn find(&self, name: &str) -> Option<&'static dyn Builtin> {
        self.builtins.iter().copied().find(|b| b.name() == name)
    }

    /// Every builtin's name, in registration order (for "did you mean").
    pub fn names(&self) -> Vec<&'static str> {
        self.builtins.iter().map(|b| b.name()).collect()
    }

    /// Every builtin's name and implementation version (`load=9 ...`): what
    /// a build's result depends on in the tool besides its release.
    pub fn versions(&self) -> String {
        let versions: Vec<String> = self
            .builtins
            .iter()
            .map(|b| format!("{}={}", b.name(), b.version()))
            .collect();
        versions.join(" ")
    }
}
