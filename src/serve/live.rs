//! Live builds: the workbench serves the newest build without a restart.
//!
//! Requests ask [`Live::current`] for the build to show. At most once a
//! second, one of them checks the build state file's modification time and
//! size; when they changed, it reads the new build's exports and swaps them
//! in, while every other request goes on with the build it had (an `Arc`:
//! a page is rendered from one build, never half of each). Reviews are keyed
//! by case id in their own store, so they carry over; a case the new build
//! lacks keeps its history there.

use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use super::data::Workbench;
use super::review::ReviewStore;
use super::sla;
use super::sources::{Sources, Stamp};

/// How often the state file is looked at, at most.
const CHECK_EVERY: Duration = Duration::from_secs(1);

/// One build as the workbench serves it.
pub struct Loaded {
    pub workbench: Workbench,
    /// When the workbench first showed each case (its SLA start), this
    /// build's cases and every earlier one's.
    pub opened: HashMap<String, String>,
}

impl Loaded {
    /// Reads a build and marks its new cases opened now.
    pub fn load(sources: &Sources, reviews: &Mutex<ReviewStore>) -> Result<Loaded, String> {
        let workbench = Workbench::load(sources).map_err(|e| e.to_string())?;
        let opened = reviews
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .open_cases(
                workbench.cases.iter().map(|c| c.case_id.as_str()),
                &sla::now_utc(),
            )
            .map_err(|e| format!("cannot record when the new build's cases opened: {e}"))?;
        Ok(Loaded { workbench, opened })
    }
}

/// The last look at the state file.
struct Check {
    at: Instant,
    /// The state file of the build being served.
    served: Option<Stamp>,
    /// A state file whose build could not be read (reported once).
    failed: Option<Stamp>,
}

pub struct Live {
    current: RwLock<Arc<Loaded>>,
    /// Where to look for new builds; None: never (a fixed build).
    watch: Option<(PathBuf, PathBuf)>,
    check: Mutex<Check>,
}

impl Live {
    /// Serves `loaded`, made from `sources`; when `watch` is the workspace
    /// root and its state file, a new build there replaces it.
    pub fn new(loaded: Loaded, sources: &Sources, watch: Option<(PathBuf, PathBuf)>) -> Live {
        Live {
            current: RwLock::new(Arc::new(loaded)),
            watch,
            check: Mutex::new(Check {
                at: Instant::now(),
                served: sources.stamp,
                failed: None,
            }),
        }
    }

    /// The build to serve this request from, after loading a new one if
    /// the state file changed (checked at most once a second, by one
    /// request at a time: the others do not wait).
    pub fn current(&self, reviews: &Mutex<ReviewStore>) -> Arc<Loaded> {
        if let Some((root, state_file)) = &self.watch {
            if let Ok(mut check) = self.check.try_lock() {
                if check.at.elapsed() >= CHECK_EVERY {
                    check.at = Instant::now();
                    let stamp = Stamp::of(state_file);
                    if stamp.is_some() && stamp != check.served && stamp != check.failed {
                        match Sources::discover(root, state_file)
                            .and_then(|sources| Loaded::load(&sources, reviews))
                        {
                            Ok(loaded) => {
                                *self.current.write().unwrap_or_else(|e| e.into_inner()) =
                                    Arc::new(loaded);
                                check.served = stamp;
                                check.failed = None;
                            }
                            Err(why) => {
                                // Keep serving the build we have; say why once.
                                check.failed = stamp;
                                let _ = writeln!(
                                    std::io::stderr().lock(),
                                    "warning: a new build in `{}` could not be loaded, still \
                                     serving the previous one: {why}",
                                    state_file.display()
                                );
                            }
                        }
                    }
                }
            }
        }
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}
