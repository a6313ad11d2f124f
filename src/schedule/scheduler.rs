//! The ready-queue scheduler.
//!
//! A stage starts as soon as all of its selected producers have finished
//! without failure (not level by level). `jobs` worker threads take stages from
//! a shared queue; the calling thread owns the bookkeeping and the progress
//! display, so workers share nothing but two channels and a stop flag. A
//! failed stage's consumers never become ready; without `keep_going`, no new
//! stage starts after a failure and the running ones are allowed to finish.
//!
//! The queue holds up to `jobs` stages beyond the running ones, so that a
//! worker whose stage ends starts the next at once instead of waiting for the
//! calling thread to wake and hand it one: with thousands of millisecond-long
//! commands that wait left a core idle between stages (ninja, single-threaded,
//! starts the next command in the same loop that reaps the last).

use petgraph::graph::{DiGraph, NodeIndex};
use petgraph::Direction;
use std::cmp::Reverse;
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Mutex};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    UpToDate,
    Restored,
    Ran,
    Failed,
}

#[derive(Debug)]
pub enum Event {
    /// The executor decided stage `i` must actually run (not just be checked).
    Started(usize),
    Finished(usize, Outcome),
}

/// Checks and, where needed, runs one stage.
pub trait Executor: Sync {
    /// A cheap check on the scheduling thread: `Some` settles the stage without
    /// a worker (a fresh stage in a no-op build), `None` sends it to a worker.
    /// Keeps a 1000-stage no-op build free of thread hand-offs.
    fn check(&self, _stage: usize) -> Option<Outcome> {
        None
    }

    /// Brings one stage up to date. Called from worker threads.
    fn execute(&self, stage: usize, events: &Sender<Event>) -> Outcome;

    /// Whether the stage left work its consumers need not wait for (a copy
    /// into the store): `after_finished` does it once the stage's finish is
    /// announced, on a thread of its own, so the workers go on to the next
    /// stages meanwhile.
    fn has_work_after(&self, _stage: usize) -> bool {
        false
    }

    fn after_finished(&self, _stage: usize) {}
}

#[derive(Debug, Clone, Copy)]
pub struct Options {
    pub jobs: usize,
    pub keep_going: bool,
}

/// Runs every selected stage whose producers succeed. Returns each stage's
/// outcome; `None` for stages not selected or never started.
pub fn run<E: Executor>(
    graph: &DiGraph<usize, ()>,
    selected: &[bool],
    options: Options,
    executor: &E,
    mut observe: impl FnMut(&Event),
) -> Vec<Option<Outcome>> {
    let n = graph.node_count();
    let mut outcomes: Vec<Option<Outcome>> = vec![None; n];
    let mut pending: Vec<usize> = (0..n)
        .map(|i| {
            graph
                .neighbors_directed(NodeIndex::new(i), Direction::Incoming)
                .filter(|p| selected[p.index()])
                .count()
        })
        .collect();
    // The ready stage with the longest chain of stages behind it first (ninja's
    // critical path, counted in stages): the default pipeline's scoring ->
    // review_queue -> ... -> report chain no longer waits behind six
    // detections. Ties start in file order.
    let chain = chain_lengths(graph, selected);
    let first = |i: usize| (Reverse(chain[i]), i);
    let mut ready: Ready = (0..n)
        .filter(|&i| selected[i] && pending[i] == 0)
        .map(first)
        .collect();
    let total = selected.iter().filter(|s| **s).count();
    let workers = options.jobs.max(1).min(total.max(1));

    let (job_tx, job_rx) = channel::<usize>();
    let mut job_tx = Some(job_tx);
    let job_rx = Arc::new(Mutex::new(job_rx));
    let (event_tx, event_rx) = channel::<Event>();
    // Set at the first failure that stops the build: a queued stage a worker
    // takes after it is dropped, not started.
    let stop = AtomicBool::new(false);

    std::thread::scope(|scope| {
        // One thread does the work stages leave for after their finish, in
        // the order they finish; it ends once every worker has.
        let (after_tx, after_rx) = channel::<usize>();
        scope.spawn(move || {
            for stage in after_rx {
                executor.after_finished(stage);
            }
        });
        for _ in 0..workers {
            let job_rx: Arc<Mutex<Receiver<usize>>> = Arc::clone(&job_rx);
            let events = event_tx.clone();
            let after = after_tx.clone();
            let stop = &stop;
            scope.spawn(move || loop {
                let next = job_rx.lock().expect("job queue lock").recv();
                let Ok(stage) = next else { break };
                if stop.load(Ordering::Acquire) {
                    continue;
                }
                // A panic is that stage's failure: the dispatcher must still
                // hear from every stage that started, or it would wait forever.
                let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    executor.execute(stage, &events)
                }))
                .unwrap_or(Outcome::Failed);
                // Stopped here, not when the dispatcher hears of it: a queued
                // stage must not start in between.
                if outcome == Outcome::Failed && !options.keep_going {
                    stop.store(true, Ordering::Release);
                }
                let announced = events.send(Event::Finished(stage, outcome)).is_ok();
                if executor.has_work_after(stage) {
                    after
                        .send(stage)
                        .expect("the after thread outlives the workers");
                }
                if !announced {
                    break;
                }
            });
        }
        drop(event_tx);
        drop(after_tx);

        // Checked stages that need a worker, waiting for a free one.
        let mut queued: Ready = BTreeSet::new();
        let mut in_flight = 0usize;
        let mut stopping = false;
        let mut settle = |stage: usize, outcome: Outcome, ready: &mut Ready| {
            outcomes[stage] = Some(outcome);
            if outcome == Outcome::Failed {
                return true;
            }
            for next in graph.neighbors_directed(NodeIndex::new(stage), Direction::Outgoing) {
                let j = next.index();
                if selected[j] {
                    pending[j] -= 1;
                    if pending[j] == 0 {
                        ready.insert(first(j));
                    }
                }
            }
            false
        };
        loop {
            while !stopping {
                if let Some(key @ (_, stage)) = ready.pop_first() {
                    match executor.check(stage) {
                        Some(outcome) => {
                            observe(&Event::Finished(stage, outcome));
                            stopping |= settle(stage, outcome, &mut ready) && !options.keep_going;
                        }
                        None => {
                            queued.insert(key);
                        }
                    }
                } else if in_flight < 2 * workers {
                    let (Some((_, stage)), Some(jobs)) = (queued.pop_first(), &job_tx) else {
                        break;
                    };
                    jobs.send(stage).expect("workers outlive the dispatcher");
                    in_flight += 1;
                } else {
                    break;
                }
            }
            if stopping {
                // The workers drop what is queued, finish what runs, and exit
                // once the queue is closed; their events end with them.
                stop.store(true, Ordering::Release);
                job_tx = None;
            } else if in_flight == 0 {
                break;
            }
            let Ok(event) = event_rx.recv() else { break };
            observe(&event);
            if let Event::Finished(stage, outcome) = event {
                in_flight -= 1;
                stopping |= settle(stage, outcome, &mut ready) && !options.keep_going;
            }
        }
        drop(job_tx);
    });
    outcomes
}

/// Stages by start order: the longest chain behind first, then file order.
type Ready = BTreeSet<(Reverse<u32>, usize)>;

/// For each selected stage, the most selected stages on a path from it to
/// the end of the graph, itself included (0 for the others). Linear: one
/// pass in reverse topological order.
fn chain_lengths(graph: &DiGraph<usize, ()>, selected: &[bool]) -> Vec<u32> {
    let mut chain = vec![0u32; graph.node_count()];
    // The planner has refused cycles; were there one, every stage ties.
    let Ok(order) = petgraph::algo::toposort(graph, None) else {
        return chain;
    };
    for node in order.into_iter().rev() {
        let i = node.index();
        if selected[i] {
            let below = graph
                .neighbors_directed(node, Direction::Outgoing)
                .map(|next| chain[next.index()])
                .max()
                .unwrap_or(0);
            chain[i] = below + 1;
        }
    }
    chain
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    struct Fake {
        fail: Vec<usize>,
        running: AtomicUsize,
        peak: AtomicUsize,
        log: Mutex<Vec<usize>>,
    }

    impl Executor for Fake {
        fn execute(&self, stage: usize, _: &Sender<Event>) -> Outcome {
            let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
            self.peak.fetch_max(now, Ordering::SeqCst);
            std::thread::sleep(std::time::Duration::from_millis(2));
            self.log.lock().unwrap().push(stage);
            self.running.fetch_sub(1, Ordering::SeqCst);
            if self.fail.contains(&stage) {
                Outcome::Failed
            } else {
                Outcome::Ran
            }
        }
    }

    fn fake(fail: Vec<usize>) -> Fake {
        Fake {
            fail,
            running: AtomicUsize::new(0),
            peak: AtomicUsize::new(0),
            log: Mutex::new(Vec::new()),
        }
    }

    struct Panics;

    impl Executor for Panics {
        fn execute(&self, stage: usize, _: &Sender<Event>) -> Outcome {
            if stage == 2 {
                panic!("a bug in stage 2");
            }
            Outcome::Ran
        }
    }

    /// A panicking stage fails like any other; the build does not hang.
    #[test]
    fn a_panic_is_a_failure() {
        for jobs in [1, 2] {
            let opts = Options {
                jobs,
                keep_going: true,
            };
            let out = run(&diamond(), &[true; 5], opts, &Panics, |_| {});
            assert_eq!(out[2], Some(Outcome::Failed));
            assert_eq!(out[3], None);
            assert_eq!(out[1], Some(Outcome::Ran));
            assert_eq!(out[4], Some(Outcome::Ran));
        }
    }

    /// 0 -> 1 -> 3, 0 -> 2 -> 3, 4 alone.
    fn diamond() -> DiGraph<usize, ()> {
        let mut g = DiGraph::new();
        for i in 0..5 {
            g.add_node(i);
        }
        for (a, b) in [(0, 1), (0, 2), (1, 3), (2, 3)] {
            g.add_edge(NodeIndex::new(a), NodeIndex::new(b), ());
        }
        g
    }

    /// The ready stage with the longest chain behind it starts first; ties
    /// go in file order. Stages 0-3 stand alone, 4 -> 5 -> 6 is a chain (the
    /// default pipeline's detections and its scoring chain, in file order).
    #[test]
    fn the_longest_chain_starts_first() {
        let mut g = DiGraph::new();
        for i in 0..7 {
            g.add_node(i);
        }
        for (a, b) in [(4, 5), (5, 6)] {
            g.add_edge(NodeIndex::new(a), NodeIndex::new(b), ());
        }
        assert_eq!(chain_lengths(&g, &[true; 7]), [1, 1, 1, 1, 3, 2, 1]);
        let only_head = [false, false, false, false, true, false, false];
        assert_eq!(chain_lengths(&g, &only_head), [0, 0, 0, 0, 1, 0, 0]);
        let exec = fake(vec![]);
        let opts = Options {
            jobs: 1,
            keep_going: false,
        };
        run(&g, &[true; 7], opts, &exec, |_| {});
        // 0 was handed over with 4 (a worker keeps one stage queued ahead).
        assert_eq!(*exec.log.lock().unwrap(), [4, 0, 5, 1, 2, 3, 6]);
    }

    /// Deps finish before consumers start, and -j bounds concurrency.
    #[test]
    fn respects_deps_and_jobs() {
        let exec = fake(vec![]);
        let opts = Options {
            jobs: 2,
            keep_going: false,
        };
        let out = run(&diamond(), &[true; 5], opts, &exec, |_| {});
        assert!(out.iter().all(|o| *o == Some(Outcome::Ran)));
        let log = exec.log.lock().unwrap().clone();
        let pos = |s| log.iter().position(|&x| x == s).unwrap();
        assert!(pos(0) < pos(1) && pos(0) < pos(2) && pos(1) < pos(3) && pos(2) < pos(3));
        assert!(exec.peak.load(Ordering::SeqCst) <= 2);
    }

    /// Three independent stages, no edges.
    fn three_apart() -> DiGraph<usize, ()> {
        let mut g = DiGraph::new();
        for i in 0..3 {
            g.add_node(i);
        }
        g
    }

    /// A worker whose stage ends starts the next queued one without waiting
    /// for the dispatching thread: here that thread is held in its observer
    /// until stage 1 has started, which before the queue ran ahead never
    /// happened (the wait timed out).
    #[test]
    fn the_next_stage_starts_while_the_dispatcher_is_busy() {
        let exec = fake(vec![]);
        let opts = Options {
            jobs: 1,
            keep_going: false,
        };
        let mut started_meanwhile = None;
        run(&three_apart(), &[true; 3], opts, &exec, |event| {
            if matches!(event, Event::Finished(0, _)) {
                let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
                while !exec.log.lock().unwrap().contains(&1) && std::time::Instant::now() < deadline
                {
                    std::thread::sleep(std::time::Duration::from_millis(1));
                }
                started_meanwhile = Some(exec.log.lock().unwrap().contains(&1));
            }
        });
        assert_eq!(started_meanwhile, Some(true));
    }

    /// Without keep-going, a stage queued behind a failure never starts, though
    /// a worker takes it from the queue.
    #[test]
    fn a_failure_drops_the_queued_stages() {
        let exec = fake(vec![0]);
        let opts = Options {
            jobs: 1,
            keep_going: false,
        };
        let out = run(&three_apart(), &[true; 3], opts, &exec, |_| {});
        assert_eq!(out, [Some(Outcome::Failed), None, None]);
        assert_eq!(*exec.log.lock().unwrap(), [0]);
    }

    /// A failure stops its consumers; keep-going still runs independent stages.
    #[test]
    fn failure_stops_consumers() {
        let exec = fake(vec![1]);
        let opts = Options {
            jobs: 1,
            keep_going: true,
        };
        let out = run(&diamond(), &[true; 5], opts, &exec, |_| {});
        assert_eq!(out[1], Some(Outcome::Failed));
        assert_eq!(out[3], None);
        assert_eq!(out[2], Some(Outcome::Ran));
        assert_eq!(out[4], Some(Outcome::Ran));
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;
        use std::collections::HashSet;

        /// Records start and finish order for every stage.
        struct Recorder {
            fail: HashSet<usize>,
            running: AtomicUsize,
            peak: AtomicUsize,
            events: Mutex<Vec<(usize, bool)>>,
        }

        impl Executor for Recorder {
            fn execute(&self, stage: usize, _: &Sender<Event>) -> Outcome {
                let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
                self.peak.fetch_max(now, Ordering::SeqCst);
                self.events.lock().unwrap().push((stage, true));
                std::thread::yield_now();
                self.events.lock().unwrap().push((stage, false));
                self.running.fetch_sub(1, Ordering::SeqCst);
                if self.fail.contains(&stage) {
                    Outcome::Failed
                } else {
                    Outcome::Ran
                }
            }
        }

        fn dag() -> impl Strategy<Value = (usize, Vec<(usize, usize)>)> {
            (1usize..12).prop_flat_map(|n| {
                let edges = proptest::collection::vec((0..n, 0..n), 0..(n * 2));
                (
                    Just(n),
                    edges.prop_map(|e| e.into_iter().filter(|(a, b)| a < b).collect()),
                )
            })
        }

        fn descendants(g: &DiGraph<usize, ()>, roots: &HashSet<usize>) -> HashSet<usize> {
            let mut seen = HashSet::new();
            let mut stack: Vec<usize> = roots.iter().copied().collect();
            while let Some(i) = stack.pop() {
                for next in g.neighbors_directed(NodeIndex::new(i), Direction::Outgoing) {
                    if seen.insert(next.index()) {
                        stack.push(next.index());
                    }
                }
            }
            seen
        }

        proptest! {
            /// Deps finish before consumers start, at most -j run at once, each
            /// stage runs at most once, a failure's descendants never run, and
            /// with keep-going everything else does.
            #[test]
            fn schedules_correctly((n, edges) in dag(), jobs in 1usize..5, fail in proptest::collection::hash_set(0usize..12, 0..3), keep_going in any::<bool>()) {
                let mut g = DiGraph::new();
                for i in 0..n {
                    g.add_node(i);
                }
                for &(a, b) in &edges {
                    g.add_edge(NodeIndex::new(a), NodeIndex::new(b), ());
                }
                let exec = Recorder { fail: fail.clone(), running: AtomicUsize::new(0), peak: AtomicUsize::new(0), events: Mutex::new(Vec::new()) };
                let out = run(&g, &vec![true; n], Options { jobs, keep_going }, &exec, |_| {});
                let events = exec.events.lock().unwrap().clone();
                prop_assert!(exec.peak.load(Ordering::SeqCst) <= jobs);
                let starts: Vec<usize> = events.iter().filter(|e| e.1).map(|e| e.0).collect();
                let unique: HashSet<usize> = starts.iter().copied().collect();
                prop_assert_eq!(unique.len(), starts.len(), "a stage ran twice");
                for &(a, b) in &edges {
                    if let Some(start_b) = events.iter().position(|e| *e == (b, true)) {
                        let end_a = events.iter().position(|e| *e == (a, false));
                        prop_assert!(end_a.is_some_and(|end| end < start_b), "{} started before {} finished", b, a);
                    }
                }
                let failed: HashSet<usize> = fail.iter().copied().filter(|f| unique.contains(f)).collect();
                let doomed = descendants(&g, &failed);
                for (i, outcome) in out.iter().enumerate() {
                    if doomed.contains(&i) {
                        prop_assert_eq!(*outcome, None);
                    } else if keep_going {
                        prop_assert!(outcome.is_some(), "stage {} should have run", i);
                    }
                }
            }
        }
    }
}
