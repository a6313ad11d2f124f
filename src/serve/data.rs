//! What the workbench shows, read from a build's exports.
//!
//! The CSVs (cases, alerts, detection hits, entity edges) are small and read
//! once at start-up; per-user detail (the timeline) comes from `sqlite.db`,
//! opened read-only, with parameterized queries on its indexed columns.

use rusqlite::{Connection, OptionalExtension};
use serde::Deserialize;
use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::execute::open_read_only;

pub use super::sources::Sources;

/// One row of `cases.csv`.
#[derive(Debug, Clone, Deserialize)]
pub struct Case {
    pub case_id: String,
    pub user_id: String,
    pub case_score: f64,
    pub priority: String,
    pub recommended_action: String,
    #[serde(deserialize_with = "semicolon_list")]
    pub detections: Vec<String>,
    #[serde(deserialize_with = "semicolon_list")]
    pub evidence_tags: Vec<String>,
    pub findings: String,
    pub max_risk: String,
    pub component_id: String,
    pub component_size: String,
    pub n_reports: String,
    pub first_ts: String,
    pub last_ts: String,
    /// A hash of the row as the build wrote it: what a review was made
    /// against (a later build with another row reopens the case).
    #[serde(skip)]
    pub row_hash: String,
}

fn semicolon_list<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    let text = String::deserialize(d)?;
    Ok(text
        .split(';')
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect())
}

/// One row of `alerts.csv`.
#[derive(Debug, Clone, Deserialize)]
pub struct Alert {
    pub day: String,
    pub alert_type: String,
    pub severity: String,
    pub details: String,
}

/// One row of a `detections/*.csv`.
#[derive(Debug, Clone, Deserialize)]
pub struct Hit {
    pub user_id: String,
    pub detection: String,
    pub severity: String,
    pub evidence: String,
    pub first_ts: String,
    pub last_ts: String,
    #[serde(default)]
    pub related: String,
}

#[derive(Debug, Clone, Deserialize)]
struct Edge {
    user_a: String,
    user_b: String,
    edge_type: String,
    edge_key: String,
}

/// A link from one user to another through a shared identifier.
#[derive(Debug, Clone)]
pub struct Link {
    pub edge_type: String,
    pub edge_key: String,
    pub other: String,
}

/// One entry of a user's timeline.
#[derive(Debug, Clone)]
pub struct Moment {
    pub ts: String,
    /// One of [`super::timeline::KINDS`].
    pub kind: &'static str,
    pub what: String,
    pub detail: String,
    pub flagged: bool,
}

/// The user's account record.
#[derive(Debug, Clone)]
pub struct Account {
    pub created_ts: String,
    pub country: String,
    pub account_status: String,
}

/// One account's use of an identifier (a device, an IP, a payment token).
#[derive(Debug, Clone)]
pub struct Use {
    pub user_id: String,
    pub events: i64,
    pub first_ts: String,
    pub last_ts: String,
}

/// The identifier kinds with an entity page, and their `raw_events` column.
pub const ENTITY_KINDS: [(&str, &str); 3] = [
    ("device", "device_id"),
    ("ip", "ip"),
    ("payment", "payment_id"),
];

pub struct Workbench {
    /// The build these exports come from (a hash of its state file).
    pub build: String,
    pub cases: Vec<Case>,
    by_id: HashMap<String, usize>,
    by_user: HashMap<String, usize>,
    pub alerts: Vec<Alert>,
    hits: HashMap<String, Vec<Hit>>,
    links: HashMap<String, Vec<Link>>,
    db: Mutex<Connection>,
}

/// Why the exports could not be read.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error("cannot read `{path}`: {message}")]
    Csv { path: PathBuf, message: String },
    #[error("cannot open `{path}`: {source}")]
    Db {
        path: PathBuf,
        source: rusqlite::Error,
    },
}

fn read_csv<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<Vec<T>, DataError> {
    let err = |message: String| DataError::Csv {
        path: path.to_path_buf(),
        message,
    };
    let mut reader = csv::Reader::from_path(path).map_err(|e| err(e.to_string()))?;
    reader
        .deserialize()
        .map(|row| row.map_err(|e| err(e.to_string())))
        .collect()
}

/// The rows of `cases.csv`, each with the hash of its fields.
fn read_cases(path: &Path) -> Result<Vec<Case>, DataError> {
    let err = |message: String| DataError::Csv {
        path: path.to_path_buf(),
        message,
    };
    let mut reader = csv::Reader::from_path(path).map_err(|e| err(e.to_string()))?;
    let headers = reader.headers().map_err(|e| err(e.to_string()))?.clone();
    let mut cases = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| err(e.to_string()))?;
        let mut case: Case = record
            .deserialize(Some(&headers))
            .map_err(|e| err(e.to_string()))?;
        case.row_hash = row_hash(&headers, &record);
        cases.push(case);
    }
    Ok(cases)
}

/// The hash of a row: every column's name and value, unambiguously framed
/// (a column added or renamed by a later build counts as a change too).
pub fn row_hash(headers: &csv::StringRecord, record: &csv::StringRecord) -> String {
    let mut hasher = blake3::Hasher::new();
    for (name, value) in headers.iter().zip(record.iter()) {
        for part in [name, value] {
            hasher.update(&(part.len() as u64).to_le_bytes());
            hasher.update(part.as_bytes());
        }
    }
    hasher.finalize().to_hex()[..16].to_string()
}

impl Workbench {
    pub fn load(sources: &Sources) -> Result<Workbench, DataError> {
        let cases = read_cases(&sources.cases)?;
        let alerts = match &sources.alerts {
            Some(path) => read_csv(path)?,
            None => Vec::new(),
        };
        let mut hits: HashMap<String, Vec<Hit>> = HashMap::new();
        for path in &sources.detections {
            for hit in read_csv::<Hit>(path)? {
                hits.entry(hit.user_id.clone()).or_default().push(hit);
            }
        }
        let mut links: HashMap<String, Vec<Link>> = HashMap::new();
        if let Some(path) = &sources.edges {
            for e in read_csv::<Edge>(path)? {
                for (from, to) in [(&e.user_a, &e.user_b), (&e.user_b, &e.user_a)] {
                    links.entry(from.clone()).or_default().push(Link {
                        edge_type: e.edge_type.clone(),
                        edge_key: e.edge_key.clone(),
                        other: to.clone(),
                    });
                }
            }
        }
        let db = open_read_only(&sources.db).map_err(|source| DataError::Db {
            path: sources.db.clone(),
            source,
        })?;
        // Fail now, not on the first page, if this is not a built database.
        db.query_row("SELECT COUNT(*) FROM users", [], |r| r.get::<_, i64>(0))
            .map_err(|source| DataError::Db {
                path: sources.db.clone(),
                source,
            })?;
        Ok(Workbench {
            build: sources.build.clone(),
            by_id: cases
                .iter()
                .enumerate()
                .map(|(i, c)| (c.case_id.clone(), i))
                .collect(),
            by_user: cases
                .iter()
                .enumerate()
                .map(|(i, c)| (c.user_id.clone(), i))
                .collect(),
            cases,
            alerts,
            hits,
            links,
            db: Mutex::new(db),
        })
    }

    pub fn case(&self, case_id: &str) -> Option<&Case> {
        self.by_id.get(case_id).map(|&i| &self.cases[i])
    }

    pub fn case_of_user(&self, user_id: &str) -> Option<&Case> {
        self.by_user.get(user_id).map(|&i| &self.cases[i])
    }

    pub fn hits(&self, user_id: &str) -> &[Hit] {
        self.hits
            .get(user_id)
            .map(Vec::as_slice)
            .unwrap_or_default()
    }

    /// Whether the link between two accounts is strong: they share a device
    /// and, besides it, an IP or a payment token (the rule of
    /// `stages/strong_links.rs`, read from the entity-resolution edges).
    /// Any other link (a device, a token or an IP alone) is weak: strangers
    /// collide on those by chance.
    pub fn is_strong(&self, a: &str, b: &str) -> bool {
        let (mut device, mut other) = (false, false);
        for l in self.links(a).iter().filter(|l| l.other == b) {
            match l.edge_type.as_str() {
                "shared_device" => device = true,
                "shared_ip" | "shared_payment" => other = true,
                _ => {}
            }
        }
        device && other
    }

    pub fn links(&self, user_id: &str) -> &[Link] {
        self.links
            .get(user_id)
            .map(Vec::as_slice)
            .unwrap_or_default()
    }

    /// Every value of a case field, sorted, for the queue's filters.
    pub fn choices(&self, field: impl Fn(&Case) -> Vec<&str>) -> Vec<String> {
        let set: BTreeSet<&str> = self.cases.iter().flat_map(field).collect();
        set.into_iter().map(str::to_string).collect()
    }

    /// Every account that used identifier `id` of `kind` (one of
    /// [`ENTITY_KINDS`]), with its event count and first and last use, by
    /// first use. Devices and IPs are read through their indexes; payment
    /// tokens (unindexed in `raw_events`) through the accounts that
    /// `core_user_identifiers` lists for them, then each account's events.
    pub fn uses(&self, kind: &str, id: &str) -> rusqlite::Result<Vec<Use>> {
        let row = |r: &rusqlite::Row<'_>| {
            Ok(Use {
                user_id: r.get(0)?,
                events: r.get(1)?,
                first_ts: r.get(2)?,
                last_ts: r.get(3)?,
            })
        };
        let db = self.db.lock().unwrap_or_else(|e| e.into_inner());
        // The column names are constants, never the request's text.
        let sql = match kind {
            "device" => {
                "SELECT user_id, COUNT(*), MIN(ts), MAX(ts) FROM raw_events
                 WHERE device_id = ?1 GROUP BY user_id ORDER BY MIN(ts), user_id"
            }
            "ip" => {
                "SELECT user_id, COUNT(*), MIN(ts), MAX(ts) FROM raw_events
                 WHERE ip = ?1 GROUP BY user_id ORDER BY MIN(ts), user_id"
            }
            _ => {
                "SELECT e.user_id, COUNT(*), MIN(e.ts), MAX(e.ts)
                 FROM (SELECT DISTINCT user_id FROM core_user_identifiers
                       WHERE kind = 'payment' AND value = ?1) u
                 JOIN raw_events e ON e.user_id = u.user_id AND e.payment_id = ?1
                 GROUP BY e.user_id ORDER BY MIN(e.ts), e.user_id"
            }
        };
        let mut stmt = db.prepare_cached(sql)?;
        let rows = stmt.query_map([id], row)?;
        rows.collect()
    }

    pub fn account(&self, user_id: &str) -> rusqlite::Result<Option<Account>> {
        let db = self.db.lock().unwrap_or_else(|e| e.into_inner());
        db.query_row(
            "SELECT created_ts, country, account_status FROM users WHERE user_id = ?1",
            [user_id],
            |r| {
                Ok(Account {
                    created_ts: r.get(0)?,
                    country: r.get(1)?,
                    account_status: r.get(2)?,
                })
            },
        )
        .optional()
    }

    /// Everything the build knows happened to the user, in time order:
    /// account creation, every event (logins, and content: chats, uploads,
    /// billing, blocks, warnings), the reports about them, the first time
    /// they shared each identifier with a linked account, and their
    /// enforcements. No cap: the page shows it a page at a time.
    pub fn timeline(&self, user_id: &str) -> rusqlite::Result<Vec<Moment>> {
        let db = self.db.lock().unwrap_or_else(|e| e.into_inner());
        let mut moments = Vec::new();
        let created: Option<(String, String, String)> = db
            .query_row(
                "SELECT created_ts, country, account_status FROM users WHERE user_id = ?1",
                [user_id],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?;
        if let Some((ts, country, status)) = created {
            moments.push(Moment {
                ts,
                kind: "account",
                what: "account created".to_string(),
                detail: format!("in {country}; now {status}"),
                flagged: false,
            });
        }
        let mut events = db.prepare_cached(
            "SELECT ts, event_type, surface, product, prompt, ip, device_id, blocked, warned
             FROM raw_events WHERE user_id = ?1 ORDER BY ts, event_id",
        )?;
        let rows = events.query_map([user_id], |r| {
            let (blocked, warned): (i64, i64) = (r.get(7)?, r.get(8)?);
            let prompt: String = r.get(4)?;
            let what: String = r.get(1)?;
            let mut detail = format!(
                "{} / {} from {} on {}",
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, String>(5)?,
                r.get::<_, String>(6)?
            );
            if !prompt.is_empty() {
                detail = format!("\u{201c}{prompt}\u{201d} ({detail})");
            }
            if blocked == 1 {
                detail.push_str(" [blocked]");
            }
            if warned == 1 {
                detail.push_str(" [warned]");
            }
            Ok(Moment {
                ts: r.get(0)?,
                kind: if matches!(what.as_str(), "signup" | "login") {
                    "login"
                } else {
                    "content"
                },
                what,
                detail,
                flagged: blocked == 1 || warned == 1,
            })
        })?;
        for row in rows {
            moments.push(row?);
        }
        let mut reports = db.prepare_cached(
            "SELECT ts, reason, reporter_user_id, event_id FROM reports
             WHERE reported_user_id = ?1",
        )?;
        for row in reports.query_map([user_id], |r| {
            Ok(Moment {
                ts: r.get(0)?,
                kind: "report",
                what: format!("reported: {}", r.get::<_, String>(1)?),
                detail: format!(
                    "by {} about {}",
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?
                ),
                flagged: true,
            })
        })? {
            moments.push(row?);
        }
        // Linkage: an identifier shared with a linked account counts from
        // when the later of the two first used it.
        let mut first_use = db.prepare_cached(
            "SELECT MIN(first_ts) FROM core_user_identifiers
             WHERE kind = ?1 AND value = ?2 AND user_id = ?3",
        )?;
        for link in self.links(user_id) {
            let kind = link.edge_type.trim_start_matches("shared_");
            let mut at = |who: &str| -> rusqlite::Result<Option<String>> {
                first_use.query_row(rusqlite::params![kind, link.edge_key, who], |r| r.get(0))
            };
            let (Some(mine), Some(theirs)) = (at(user_id)?, at(&link.other)?) else {
                continue;
            };
            moments.push(Moment {
                ts: mine.max(theirs),
                kind: "linkage",
                what: format!("shares {kind} {}", link.edge_key),
                detail: format!("with {}", link.other),
                flagged: false,
            });
        }
        let mut enforcements = db.prepare_cached(
            "SELECT ts, action, reason, enforcement_id FROM enforcements WHERE user_id = ?1",
        )?;
        for row in enforcements.query_map([user_id], |r| {
            Ok(Moment {
                ts: r.get(0)?,
                kind: "enforcement",
                what: r.get(1)?,
                detail: format!("{} ({})", r.get::<_, String>(2)?, r.get::<_, String>(3)?),
                flagged: true,
            })
        })? {
            moments.push(row?);
        }
        // Stable: at the same second, events come before what followed them.
        moments.sort_by(|a, b| a.ts.cmp(&b.ts));
        Ok(moments)
    }
}
