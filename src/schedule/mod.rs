//! Runs a plan's stages as their deps finish, at most `-j` at a time.
//!
//! The scheduler knows only a graph and an `Executor`; what a stage does is the
//! executor's business. That is what lets tests drive it with a fake executor.

mod progress;
mod scheduler;
mod workspace_lock;

pub use progress::Progress;
pub use scheduler::{run, Event, Executor, Options, Outcome};
pub use workspace_lock::{LockError, WorkspaceLock};
