//! `Progress`: what a build shows while it runs.
//!
//! On a terminal, an indicatif bar with the running stages; otherwise (CI
//! logs, pipes) one plain line per stage that ran, was restored or failed.
//! Owned by the scheduling thread only. Everything goes to stderr: stdout is
//! kept for the summary line that scripts read.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::io::Write;
use std::time::{Duration, Instant};

use super::Outcome;

pub struct Progress {
    mode: Mode,
    started: BTreeMap<usize, Instant>,
}

enum Mode {
    Quiet,
    Plain,
    Bar(ProgressBar),
}

impl Progress {
    pub fn new(total: usize, quiet: bool) -> Progress {
        let mode = if quiet {
            Mode::Quiet
        } else if std::io::stderr().is_terminal() {
            let bar =
                ProgressBar::with_draw_target(Some(total as u64), ProgressDrawTarget::stderr());
            bar.set_style(
                ProgressStyle::with_template("{spinner} [{pos}/{len}] {wide_msg} {elapsed}")
                    .expect("the template is valid"),
            );
            bar.enable_steady_tick(Duration::from_millis(120));
            Mode::Bar(bar)
        } else {
            Mode::Plain
        };
        Progress {
            mode,
            started: BTreeMap::new(),
        }
    }

    pub fn started(&mut self, stage: usize, names: &[&str]) {
        self.started.insert(stage, Instant::now());
        if let Mode::Bar(bar) = &self.mode {
            bar.set_message(self.running(names));
        }
    }

    pub fn finished(&mut self, stage: usize, name: &str, outcome: Outcome, names: &[&str]) {
        let took = self.started.remove(&stage).map(|t| t.elapsed());
        let line = match (outcome, took) {
            (Outcome::Ran, Some(t)) => Some(format!("ran       {name} ({:.2}s)", t.as_secs_f64())),
            (Outcome::Restored, _) => Some(format!("restored  {name}")),
            (Outcome::Failed, _) => Some(format!("failed    {name}")),
            _ => None,
        };
        match &self.mode {
            Mode::Quiet => {}
            Mode::Plain => {
                if let Some(line) = line {
                    let _ = writeln!(std::io::stderr(), "{line}");
                }
            }
            Mode::Bar(bar) => {
                if let Some(line) = line {
                    bar.println(line);
                }
                bar.inc(1);
                bar.set_message(self.running(names));
            }
        }
    }

    fn running(&self, names: &[&str]) -> String {
        self.started
            .keys()
            .map(|&i| names[i])
            .collect::<Vec<_>>()
            .join(", ")
    }

    pub fn finish(self) {
        if let Mode::Bar(bar) = self.mode {
            bar.finish_and_clear();
        }
    }
}
