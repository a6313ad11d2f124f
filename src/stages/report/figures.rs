//! `Figures`: everything the report shows, read once from the report's deps.
//!
//! The big exports (user_day_scored.csv, the components, cases, detections)
//! are streamed a few columns at a time, never held as tables of strings, so
//! the report stays linear and small at millions of user-days. Columns are
//! found by header name.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;

use crate::execute::{open_read_only, StageContext, StageError};
use crate::stages::csv_stream::CsvStream;
use crate::stages::review_queue::{flag_counts, read_threshold, FlagCounts};
use crate::stages::table::Table;
use crate::StageResult;

/// The suggested actions in severity order, so the summary always lists all five.
pub const ACTIONS: [&str; 5] = ["block", "rate_limit", "escalate", "warn", "allow"];

#[derive(Debug, Default)]
pub struct Figures {
    pub n_events: i64,
    pub n_users: i64,
    pub n_abusers: i64,
    pub n_reports: i64,
    pub n_prior_enforcements: i64,
    /// monitoring_metrics.csv, one entry per day.
    pub days: Vec<String>,
    pub events_per_day: Vec<f64>,
    pub chats_per_day: Vec<f64>,
    pub active_users_per_day: Vec<f64>,
    pub block_rate: Vec<f64>,
    pub warn_rate: Vec<f64>,
    pub events_by_type: Vec<(String, f64)>,
    /// alerts.csv as [day, alert_type, severity, details].
    pub alerts: Vec<[String; 4]>,
    /// Rows per detection file, by detection name (the file stem).
    pub detections: Vec<(String, usize)>,
    /// Distinct users per detection, and how many of them are abusers (is_abuse_gt).
    pub detection_users: Vec<(String, usize, usize)>,
    /// Users with a case, and how many of them are abusers.
    pub case_users: (usize, usize),
    /// Users in P1 cases, and how many of them are abusers.
    pub p1_users: (usize, usize),
    /// model_eval.csv's columns and values, as written.
    pub model: Vec<(String, String)>,
    /// (risk_score, is_abuse_gt) per scored user-day.
    pub scored: Vec<(f64, bool)>,
    /// Scored user-days per flag, with the review queue's own rule.
    pub flags: FlagCounts,
    pub queue_rows: usize,
    pub queue_dups: usize,
    /// Rows per cluster, largest first.
    pub cluster_sizes: Vec<(String, usize)>,
    /// Users per component, largest first.
    pub component_sizes: Vec<usize>,
    /// (feature, psi, drift_flag) in drift_psi.csv's order.
    pub psi: Vec<(String, f64, bool)>,
    pub actions: BTreeMap<String, usize>,
    pub priorities: BTreeMap<String, usize>,
    pub n_cases: usize,
    /// The first rows of cases.csv: case_id, priority, case_score, recommended_action, findings.
    pub top_cases: Vec<[String; 5]>,
    /// incident_log.csv as (incident_id, created_ts, severity, summary).
    pub incidents: Vec<[String; 4]>,
}

fn field(t: &Table, row: &[String], name: &str) -> StageResult<String> {
    Ok(row[t.col(name)?].clone())
}

/// Reads selected columns of a possibly large CSV, one row at a time.
fn each_row(
    path: &Path,
    columns: &[&str],
    mut f: impl FnMut(&[&str]) -> StageResult<()>,
) -> StageResult<()> {
    let mut s = CsvStream::open(path)?;
    let idx: Vec<usize> = columns
        .iter()
        .map(|c| s.col(c))
        .collect::<StageResult<_>>()?;
    while s.advance()? {
        let fields: Vec<&str> = idx.iter().map(|&i| s.text(i)).collect::<StageResult<_>>()?;
        f(&fields)?;
    }
    Ok(())
}

/// Distinct users per detection file, with a case, and with a P1 case.
#[derive(Default)]
struct UserSets {
    detections: Vec<(String, HashSet<String>)>,
    cases: HashSet<String>,
    p1: HashSet<String>,
}

/// What the report reads from the database.
struct Database {
    n_events: i64,
    n_users: i64,
    n_abusers: i64,
    n_reports: i64,
    n_prior_enforcements: i64,
    events_by_type: Vec<(String, f64)>,
    /// The users the ground truth marks as abusers. Only the report reads
    /// it, to evaluate the pipeline; no detection or score does.
    abusers: HashSet<String>,
}

impl Database {
    fn read(db: &Path) -> StageResult<Database> {
        let conn = open_read_only(db)?;
        let scalar = |sql: &str| -> StageResult<i64> { Ok(conn.query_row(sql, [], |r| r.get(0))?) };
        // No core table counts event types, and a GROUP BY on an unindexed
        // column sorts every event; one streaming scan counted in a map is
        // linear and keeps SQLite's sorter out of it.
        let mut by_type: BTreeMap<String, f64> = BTreeMap::new();
        let mut stmt = conn.prepare("SELECT event_type FROM raw_events")?;
        let mut rows = stmt.query([])?;
        while let Some(r) = rows.next()? {
            let kind = r.get_ref(0)?.as_str().unwrap_or_default();
            match by_type.get_mut(kind) {
                Some(n) => *n += 1.0,
                None => {
                    by_type.insert(kind.to_string(), 1.0);
                }
            }
        }
        let mut stmt = conn.prepare("SELECT user_id FROM users WHERE is_abuse_gt = 1")?;
        let abusers = stmt
            .query_map([], |r| r.get::<_, String>(0))?
            .collect::<Result<_, _>>()?;
        Ok(Database {
            n_events: scalar("SELECT COALESCE(SUM(n_events), 0) FROM core_day_metrics")?,
            n_users: scalar("SELECT COUNT(*) FROM users")?,
            n_abusers: scalar("SELECT COUNT(*) FROM users WHERE is_abuse_gt = 1")?,
            n_reports: scalar("SELECT COUNT(*) FROM reports")?,
            n_prior_enforcements: scalar("SELECT COUNT(*) FROM enforcements")?,
            events_by_type: by_type.into_iter().collect(),
            abusers,
        })
    }
}

fn number(text: &str, what: &str) -> StageResult<f64> {
    text.parse()
        .map_err(|_| StageError::Failed(format!("{what}: `{text}` is not a number")))
}

impl Figures {
    /// The three big reads (the database's scan of raw_events and two of
    /// user_day_scored.csv's) run on their own threads while this one reads
    /// the small exports: the report is the build's last stage, alone on the
    /// machine, and at 5 M events its reads were 2.6 s on one core.
    pub fn read(ctx: &StageContext) -> StageResult<Figures> {
        let db = ctx.dep("sqlite.db")?;
        let scored = ctx.dep("user_day_scored.csv")?;
        let model_eval = ctx.dep("model_eval.csv")?;
        std::thread::scope(|scope| {
            let database = scope.spawn(|| Database::read(&db));
            let risks = scope.spawn(|| {
                let mut risks = Vec::new();
                each_row(&scored, &["risk_score", "is_abuse_gt"], |r| {
                    risks.push((
                        number(r[0], "risk_score")?,
                        number(r[1], "is_abuse_gt")? == 1.0,
                    ));
                    Ok(())
                })?;
                StageResult::Ok(risks)
            });
            // The queue's own rule, not a second copy of it: the report cannot
            // disagree with review_queue about what was flagged.
            let flags = scope.spawn(|| flag_counts(&scored, read_threshold(&model_eval)?));
            let mut f = Figures::default();
            let exports = f.read_exports(ctx);
            let database = database
                .join()
                .expect("reading the database does not panic")?;
            f.scored = risks.join().expect("reading the scores does not panic")?;
            f.flags = flags.join().expect("counting the flags does not panic")?;
            let users = exports?;
            f.apply(database, &users);
            Ok(f)
        })
    }

    /// Everything but the three big reads; returns the user sets that are
    /// scored against the ground truth once the database is read.
    fn read_exports(&mut self, ctx: &StageContext) -> StageResult<UserSets> {
        let mut sets = UserSets::default();
        let metrics = Table::read(&ctx.dep("monitoring_metrics.csv")?)?;
        self.days = {
            let c = metrics.col("day")?;
            metrics.rows.iter().map(|r| r[c].clone()).collect()
        };
        self.events_per_day = metrics.floats("n_events")?;
        self.chats_per_day = metrics.floats("n_chat")?;
        self.active_users_per_day = metrics.floats("n_active_users")?;
        self.block_rate = metrics.floats("block_rate")?;
        self.warn_rate = metrics.floats("warn_rate")?;

        let alerts = Table::read(&ctx.dep("alerts.csv")?)?;
        for r in &alerts.rows {
            self.alerts.push([
                field(&alerts, r, "day")?,
                field(&alerts, r, "alert_type")?,
                field(&alerts, r, "severity")?,
                field(&alerts, r, "details")?,
            ]);
        }

        let dir = ctx.dep("detections")?;
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .map_err(|source| StageError::Read {
                path: dir.clone(),
                source,
            })?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "csv"))
            .collect();
        files.sort();
        for file in files {
            let name = file
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            let mut rows = 0;
            let mut users = HashSet::new();
            each_row(&file, &["user_id"], |r| {
                rows += 1;
                users.insert(r[0].to_string());
                Ok(())
            })?;
            sets.detections.push((name.clone(), users));
            self.detections.push((name, rows));
        }

        let eval = Table::read(&ctx.dep("model_eval.csv")?)?;
        if let Some(row) = eval.rows.first() {
            self.model = eval
                .header
                .iter()
                .cloned()
                .zip(row.iter().cloned())
                .collect();
        }

        each_row(&ctx.dep("review_queue_dedup.csv")?, &["is_dup"], |r| {
            self.queue_rows += 1;
            self.queue_dups += usize::from(r[0] == "1");
            Ok(())
        })?;

        let mut clusters: BTreeMap<String, usize> = BTreeMap::new();
        each_row(&ctx.dep("clusters.csv")?, &["cluster_id"], |r| {
            *clusters.entry(r[0].to_string()).or_default() += 1;
            Ok(())
        })?;
        self.cluster_sizes = clusters.into_iter().collect();
        // Largest first; ties by cluster id as text, so the order is fixed.
        self.cluster_sizes
            .sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));

        let mut components: HashMap<String, usize> = HashMap::new();
        each_row(
            &ctx.dep("entity_resolution_components.csv")?,
            &["component_id"],
            |r| {
                *components.entry(r[0].to_string()).or_default() += 1;
                Ok(())
            },
        )?;
        self.component_sizes = components.into_values().collect();
        self.component_sizes.sort_by(|a, b| b.cmp(a));

        each_row(
            &ctx.dep("drift_psi.csv")?,
            &["feature", "psi", "drift_flag"],
            |r| {
                let flagged = matches!(r[2], "1" | "true" | "True");
                self.psi
                    .push((r[0].to_string(), number(r[1], "psi")?, flagged));
                Ok(())
            },
        )?;

        each_row(
            &ctx.dep("enforcement_actions.csv")?,
            &["suggested_action"],
            |r| {
                *self.actions.entry(r[0].to_string()).or_default() += 1;
                Ok(())
            },
        )?;

        let (case_users, p1_users) = (&mut sets.cases, &mut sets.p1);
        each_row(
            &ctx.dep("cases.csv")?,
            &[
                "case_id",
                "priority",
                "case_score",
                "recommended_action",
                "findings",
                "user_id",
            ],
            |r| {
                case_users.insert(r[5].to_string());
                if r[1] == "P1" {
                    p1_users.insert(r[5].to_string());
                }
                self.n_cases += 1;
                *self.priorities.entry(r[1].to_string()).or_default() += 1;
                if self.top_cases.len() < 10 {
                    self.top_cases
                        .push([r[0], r[1], r[2], r[3], r[4]].map(str::to_string));
                }
                Ok(())
            },
        )?;

        let incidents = Table::read(&ctx.dep("incident_log.csv")?)?;
        for r in &incidents.rows {
            self.incidents.push([
                field(&incidents, r, "incident_id")?,
                field(&incidents, r, "created_ts")?,
                field(&incidents, r, "severity")?,
                field(&incidents, r, "summary")?,
            ]);
        }
        Ok(sets)
    }

    /// Puts the database's figures in, and scores each user set against
    /// the ground truth.
    fn apply(&mut self, db: Database, users: &UserSets) {
        let score = |set: &HashSet<String>| {
            let abusers = set.iter().filter(|u| db.abusers.contains(*u)).count();
            (set.len(), abusers)
        };
        self.detection_users = users
            .detections
            .iter()
            .map(|(name, set)| {
                let (n, true_hits) = score(set);
                (name.clone(), n, true_hits)
            })
            .collect();
        self.case_users = score(&users.cases);
        self.p1_users = score(&users.p1);
        self.n_events = db.n_events;
        self.n_users = db.n_users;
        self.n_abusers = db.n_abusers;
        self.n_reports = db.n_reports;
        self.n_prior_enforcements = db.n_prior_enforcements;
        self.events_by_type = db.events_by_type;
    }

    /// Every action's count, zeros included, in severity order; then any
    /// action name this stage does not know, alphabetically.
    pub fn action_counts(&self) -> Vec<(String, usize)> {
        let mut counts: Vec<(String, usize)> = ACTIONS
            .iter()
            .map(|a| (a.to_string(), self.actions.get(*a).copied().unwrap_or(0)))
            .collect();
        counts.extend(
            self.actions
                .iter()
                .filter(|(a, _)| !ACTIONS.contains(&a.as_str()))
                .map(|(a, n)| (a.clone(), *n)),
        );
        counts
    }
}
