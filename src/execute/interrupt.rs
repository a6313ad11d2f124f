//! Ctrl-C (and SIGTERM) during a build: stop cleanly, say what was stopped.
//!
//! The handler kills every running command, waits for the publications in
//! flight to finish or roll back (each holds `publishing()` for its few
//! renames), removes the staging of the stages that were still computing,
//! and exits 130 with a message. No out is left half-replaced: a publication
//! that had not begun never begins, one that had is completed or rolled back.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, RwLock, RwLockReadGuard};

static REQUESTED: AtomicBool = AtomicBool::new(false);
static PUBLISHING: RwLock<()> = RwLock::new(());
static CLEANUP: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());
static RUNNING: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Whether Ctrl-C was pressed: nothing new may start or be published.
pub fn requested() -> bool {
    REQUESTED.load(Ordering::SeqCst)
}

/// Held while outs are being replaced; the handler waits for it.
pub fn publishing() -> RwLockReadGuard<'static, ()> {
    PUBLISHING.read().unwrap_or_else(|e| e.into_inner())
}

/// A folder the handler removes (a temp area), and a lock file it empties.
pub fn clean_up_on_interrupt(path: PathBuf) {
    CLEANUP.lock().expect("cleanup list").push(path);
}

/// The stage names shown in the message while they run.
pub fn running(stage: &str, on: bool) {
    let mut running = RUNNING.lock().expect("running list");
    if on {
        running.push(stage.to_string());
    } else if let Some(i) = running.iter().position(|s| s == stage) {
        running.swap_remove(i);
    }
}

/// Called by the main thread when the build is over: if Ctrl-C came, the
/// handler owns the ending (message, clean-up, exit code 130), so wait for it.
pub fn yield_to_handler() {
    if requested() {
        loop {
            std::thread::park();
        }
    }
}

/// Removes a temp area, except a staging folder whose rollback could not
/// finish: it holds old outs, and the next build puts them back.
fn remove_unless_journaled(area: &std::path::Path) {
    let mut kept = false;
    for entry in std::fs::read_dir(area).into_iter().flatten().flatten() {
        let path = entry.path();
        if super::has_journal(&path) {
            kept = true;
        } else if path.is_dir() {
            let _ = std::fs::remove_dir_all(&path);
        }
    }
    if !kept {
        let _ = std::fs::remove_dir_all(area);
    }
}

/// Installs the handler (once per process; later calls do nothing).
pub fn install() {
    let _ = ctrlc::set_handler(|| {
        let mut running = RUNNING.lock().expect("running list").clone();
        REQUESTED.store(true, Ordering::SeqCst);
        super::children::kill_all();
        let _quiet = PUBLISHING.write().unwrap_or_else(|e| e.into_inner());
        for path in CLEANUP.lock().expect("cleanup list").iter() {
            if path.is_dir() {
                remove_unless_journaled(path);
            } else {
                let _ = std::fs::File::create(path);
            }
        }
        running.sort();
        let what = if running.is_empty() {
            String::new()
        } else {
            format!(" while running {}", running.join(", "))
        };
        use std::io::Write;
        let _ = writeln!(
            std::io::stderr(),
            "interrupted{what}: nothing half-written was kept; outs of stages that had not \
             finished are as they were before this build, finished stages are kept"
        );
        std::process::exit(130);
    });
}
