//! Issue 11, "Signal an analyst can trust": the heuristic flag, the seeded
//! incident, detection precision, strong links and cases, each checked
//! against the exports of a real build and recomputed here independently.

use crate::common::*;
use crate::data::{built, read_csv};

/// The value of one executive-summary row.
fn summary(ws: &Workspace, section: &str, metric: &str) -> String {
    read_csv(ws, "out/executive_summary.csv")
        .into_iter()
        .find(|r| r["section"] == section && r["metric"] == metric)
        .map(|r| r["value"].clone())
        .unwrap_or_else(|| panic!("executive_summary.csv has no {section},{metric} row"))
}

/// The heuristic flag of SPEC section 6, recomputed from user_day_scored.csv:
/// the weighted clipped sum over its largest observed value (plus 1e-9). The
/// summary's flag counts match it; the heuristic fires at defaults.
#[test]
fn heuristic_flag_count_matches_a_recomputation() {
    let ws = built();
    let scored = read_csv(ws, "out/user_day_scored.csv");
    let threshold: f64 = read_csv(ws, "out/model_eval.csv")[0]["threshold"]
        .parse()
        .unwrap();
    let num =
        |r: &std::collections::HashMap<String, String>, c: &str| -> f64 { r[c].parse().unwrap() };
    let raw: Vec<f64> = scored
        .iter()
        .map(|r| {
            0.35 * (num(r, "n_chat") / 50.0).clamp(0.0, 3.0)
                + 0.35 * (num(r, "block_rate") / 0.10).clamp(0.0, 3.0)
                + 0.15 * (num(r, "n_ips") / 3.0).clamp(0.0, 3.0)
                + 0.15 * (num(r, "n_warned") / 5.0).clamp(0.0, 3.0)
        })
        .collect();
    let largest = raw.iter().copied().fold(0.0, f64::max);
    let heuristic = raw.iter().filter(|x| *x / (largest + 1e-9) >= 0.75).count();
    let ml = scored
        .iter()
        .filter(|r| num(r, "risk_score") >= threshold)
        .count();
    let uncertain = scored
        .iter()
        .filter(|r| num(r, "uncertainty") >= 0.75 && num(r, "risk_score") >= 0.35)
        .count();
    assert!(heuristic > 0, "the heuristic never fires");
    assert_eq!(summary(ws, "flags", "heuristic"), heuristic.to_string());
    assert_eq!(summary(ws, "flags", "ml"), ml.to_string());
    assert_eq!(summary(ws, "flags", "uncertain"), uncertain.to_string());
    // The queue holds flagged rows only, each heuristic flag among them.
    let queue = read_csv(ws, "out/review_queue.csv");
    let queued_heur = queue.iter().filter(|r| r["flag_heur"] == "1").count();
    assert!(queued_heur > 0 && queued_heur <= heuristic);
    let report = ws.read("out/report.html");
    assert!(
        report.contains("<td>flags</td><td>heuristic</td>"),
        "the report shows the flag counts"
    );
}

/// The seeds the targets are checked on, besides the default 42.
pub const SEEDS: [u64; 8] = [1, 2, 3, 4, 5, 6, 7, 8];

/// A default-size build of the repository pipeline at `seed`, shared by the
/// read-only tests of this file (42 is the one `data.rs` builds).
pub fn seeded(seed: u64) -> &'static Workspace {
    use std::sync::OnceLock;
    static BUILDS: [OnceLock<Workspace>; 8] = [const { OnceLock::new() }; 8];
    if seed == 42 {
        return built();
    }
    let slot = SEEDS
        .iter()
        .position(|s| *s == seed)
        .unwrap_or_else(|| panic!("seed {seed} is not one of {SEEDS:?}"));
    BUILDS[slot].get_or_init(|| {
        let ws = Workspace::from_repo();
        ws.build(&["-j", "2", "--set", &format!("seed={seed}")]);
        ws
    })
}

/// Every seed the targets hold for: the default, then 1..8.
pub fn all_seeds() -> impl Iterator<Item = (u64, &'static Workspace)> {
    std::iter::once(42)
        .chain(SEEDS)
        .map(|seed| (seed, seeded(seed)))
}

/// The seeded incident (a moderation filter regression on day 10 of the
/// window, `scenarios.incident_day`): at defaults and for seeds 1..8 exactly
/// that day raises a high spike_block_rate alert, and incident_log.csv holds
/// one incident whose summary names the day, the metric and its value.
#[test]
fn incident_day_raises_one_alert_and_one_incident() {
    for (seed, ws) in all_seeds() {
        let alerts = read_csv(ws, "out/alerts.csv");
        let high: Vec<_> = alerts.iter().filter(|a| a["severity"] == "high").collect();
        assert_eq!(high.len(), 1, "seed {seed}: {alerts:?}");
        assert_eq!(
            (&*high[0]["day"], &*high[0]["alert_type"]),
            ("2026-01-10", "spike_block_rate"),
            "seed {seed}"
        );
        let metrics = read_csv(ws, "out/monitoring_metrics.csv");
        let rate = &metrics
            .iter()
            .find(|m| m["day"] == "2026-01-10")
            .expect("day 10 in the metrics")["block_rate"];
        let incidents = read_csv(ws, "out/incident_log.csv");
        assert_eq!(incidents.len(), 1, "seed {seed}");
        let summary = &incidents[0]["summary"];
        for part in [
            "2026-01-10",
            "spike_block_rate",
            &format!("block_rate {rate}"),
        ] {
            assert!(
                summary.contains(part),
                "seed {seed}: `{part}` not in `{summary}`"
            );
        }
    }
}

/// With the scenario off (`scenarios.incident_day=0`) the same seeds raise no
/// high alert and log no incident: the spike is the scenario, not noise.
#[test]
fn no_incident_with_the_scenario_off() {
    for seed in std::iter::once(42).chain(SEEDS) {
        let ws = Workspace::from_repo();
        ws.build(&[
            "incident_log",
            "--set",
            &format!("seed={seed}"),
            "--set",
            "scenarios.incident_day=0",
        ]);
        let alerts = read_csv(&ws, "out/alerts.csv");
        assert!(
            alerts.iter().all(|a| a["severity"] != "high"),
            "seed {seed}: {alerts:?}"
        );
        assert_eq!(
            lines(&ws, "out/incident_log.csv"),
            1,
            "seed {seed}: header only"
        );
    }
}

type Users = std::collections::BTreeSet<String>;

/// A query's first column as a set, on a build's database.
fn users_of(ws: &Workspace, sql: &str) -> Users {
    let conn = rusqlite::Connection::open(ws.join("out/sqlite.db")).unwrap();
    let mut stmt = conn.prepare(sql).unwrap();
    let rows = stmt.query_map([], |r| r.get::<_, String>(0)).unwrap();
    rows.map(Result::unwrap).collect()
}

/// The hits of one detection export.
fn hits(ws: &Workspace, detection: &str) -> Users {
    read_csv(ws, &format!("out/detections/{detection}.csv"))
        .into_iter()
        .map(|r| r["user_id"].clone())
        .collect()
}

/// Each seeded scenario's members, from the ground truth and the identifiers
/// each account used (SPEC section 5 and generate.rs), never from a
/// detection's own logic: (detection meant for it, the abusers it seeded).
fn scenarios(ws: &Workspace) -> Vec<(&'static str, Users)> {
    // (user, kind, value) of abusers only.
    const ABUSER_IDS: &str = "(SELECT i.user_id, i.kind, i.value FROM core_user_identifiers i
        JOIN users u ON u.user_id = i.user_id WHERE u.is_abuse_gt = 1 AND i.value IS NOT NULL)";
    vec![
        // Abusers i and i + 30 are on one shared actor device.
        (
            "shared_device",
            users_of(
                ws,
                &format!(
                    "SELECT DISTINCT a.user_id FROM {ABUSER_IDS} a JOIN {ABUSER_IDS} b
                       ON a.kind = 'device' AND b.kind = 'device' AND a.value = b.value
                      AND a.user_id <> b.user_id"
                ),
            ),
        ),
        // For odd i < 30, abuser i + 30 also pays with abuser i's token (on
        // their shared device; two abusers' own tokens may collide too, but
        // that is chance, not the scenario).
        (
            "shared_infrastructure",
            users_of(
                ws,
                &format!(
                    "SELECT DISTINCT a.user_id FROM {ABUSER_IDS} a JOIN {ABUSER_IDS} b
                       ON a.kind = 'payment' AND b.kind = 'payment' AND a.value = b.value
                      AND a.user_id <> b.user_id
                     JOIN {ABUSER_IDS} da ON da.user_id = a.user_id AND da.kind = 'device'
                     JOIN {ABUSER_IDS} db ON db.user_id = b.user_id AND db.kind = 'device'
                      AND db.value = da.value"
                ),
            ),
        ),
        // Active abusers on the device of an older banned abuser.
        (
            "ban_evasion",
            users_of(
                ws,
                &format!(
                    "SELECT DISTINCT b.user_id FROM {ABUSER_IDS} a JOIN {ABUSER_IDS} b
                       ON a.kind = 'device' AND b.kind = 'device' AND a.value = b.value
                      AND a.user_id <> b.user_id
                     JOIN users e ON e.user_id = a.user_id
                     JOIN users n ON n.user_id = b.user_id
                     WHERE e.account_status = 'banned' AND n.account_status = 'active'
                       AND n.created_ts > e.created_ts"
                ),
            ),
        ),
        // Abusers created inside the window burst right after signup.
        (
            "velocity_spike",
            users_of(
                ws,
                "SELECT user_id FROM users WHERE is_abuse_gt = 1
                   AND created_ts >= (SELECT MIN(ts) FROM raw_events)",
            ),
        ),
        // Abusers post the same spam texts.
        (
            "coordinated_activity",
            users_of(
                ws,
                "SELECT DISTINCT user_id FROM raw_events WHERE is_abuse_gt = 1
                   AND event_type = 'chat' AND (prompt LIKE 'BUY CHEAP%'
                   OR prompt LIKE 'Earn $5000%' OR prompt LIKE 'Free crypto%'
                   OR prompt LIKE 'Best deals%')",
            ),
        ),
        // Abusers who wrote two or more evasion prompts.
        (
            "suspicious_prompting",
            users_of(
                ws,
                "SELECT user_id FROM raw_events WHERE is_abuse_gt = 1
                   AND event_type = 'chat' AND (prompt LIKE '%bypass%'
                   OR prompt LIKE '%evade%' OR prompt LIKE '%break the rules%')
                 GROUP BY user_id HAVING COUNT(*) >= 2",
            ),
        ),
    ]
}

/// One row of the precision table: detection, hits, precision, scenario
/// members found / seeded.
pub struct Row {
    pub detection: &'static str,
    pub hits: usize,
    pub precision: f64,
    pub found: usize,
    pub seeded: usize,
}

/// Every detection's precision against is_abuse_gt and its scenario's recall.
pub fn precision_table(ws: &Workspace) -> Vec<Row> {
    let abusers = users_of(ws, "SELECT user_id FROM users WHERE is_abuse_gt = 1");
    scenarios(ws)
        .into_iter()
        .map(|(detection, seeded)| {
            let hit = hits(ws, detection);
            let true_hits = hit.intersection(&abusers).count();
            Row {
                detection,
                hits: hit.len(),
                precision: true_hits as f64 / hit.len().max(1) as f64,
                found: seeded.intersection(&hit).count(),
                seeded: seeded.len(),
            }
        })
        .collect()
}

/// Asserts the detection targets on one build, printing its table.
pub fn assert_detection_targets(label: &str, ws: &Workspace) {
    for r in precision_table(ws) {
        eprintln!(
            "{label}\t{}\thits {}\tprecision {:.3}\tscenario {}/{}",
            r.detection, r.hits, r.precision, r.found, r.seeded
        );
        assert!(
            r.seeded > 0,
            "{label}: {} has no seeded members",
            r.detection
        );
        assert!(
            r.precision >= 0.8,
            "{label}: {} precision {:.3} < 0.8",
            r.detection,
            r.precision
        );
        assert_eq!(
            r.found, r.seeded,
            "{label}: {} finds {} of its {} seeded accounts",
            r.detection, r.found, r.seeded
        );
    }
}

/// Every detection has precision >= 0.8 against is_abuse_gt and finds every
/// account of the scenario seeded for it, at defaults and for seeds 1..8.
#[test]
fn detections_are_precise_and_find_their_scenarios() {
    for (seed, ws) in all_seeds() {
        assert_detection_targets(&format!("seed {seed}"), ws);
    }
}

/// The same targets at 15,000 users and 500,000 events (events scaled with
/// users). Slow on a shared machine: run by scripts/signal-targets.sh.
#[test]
#[ignore]
fn detections_at_15k_users() {
    let ws = Workspace::from_repo();
    ws.build(&["-j", "2", "--set", "users=15000", "--set", "events=500000"]);
    assert_detection_targets("15k", &ws);
    assert_case_targets("15k", &ws);
}

/// The same targets at 150,000 users and 5,000,000 events. Minutes and
/// about 2 GB of disk: run by scripts/signal-targets.sh with `--150k`.
#[test]
#[ignore]
fn detections_at_150k_users() {
    let ws = Workspace::from_repo();
    ws.build(&[
        "-j",
        "2",
        "--set",
        "users=150000",
        "--set",
        "events=5000000",
    ]);
    assert_detection_targets("150k", &ws);
    assert_case_targets("150k", &ws);
}

/// The notebook's exports are untouched by strong links: at defaults the
/// edges and components are byte for byte what the build before issue 11
/// wrote (blake3 of the files at commit 79d49b7; the incident scenario
/// changes only `blocked` bits, which entity resolution never reads).
#[test]
fn entity_exports_are_the_notebooks() {
    let ws = built();
    let hash = |p: &str| {
        blake3::hash(&std::fs::read(ws.join(p)).unwrap())
            .to_hex()
            .to_string()
    };
    assert_eq!(
        hash("out/entity_resolution_edges.csv"),
        "5e80e9b28129ba3093b1eca5c77979a34f33a65a37363b0e9d37eeba65846f95",
        "entity_resolution_edges.csv changed"
    );
    assert_eq!(
        hash("out/entity_resolution_components.csv"),
        "c0f9a8953b7a63c8ec7b46a593250147feeb3569f00499590dcdda76b4d77681",
        "entity_resolution_components.csv changed"
    );
}

/// Accounts strongly linked to another (a shared device plus a shared IP or
/// payment token), recomputed from the raw events.
fn strongly_linked(ws: &Workspace) -> Users {
    users_of(
        ws,
        "SELECT DISTINCT a.user_id FROM core_user_identifiers a
         JOIN core_user_identifiers b ON b.kind = 'device' AND b.value = a.value
          AND b.user_id <> a.user_id
         JOIN core_user_identifiers x ON x.user_id = a.user_id AND x.kind IN ('ip', 'payment')
         JOIN core_user_identifiers y ON y.user_id = b.user_id AND y.kind = x.kind
          AND y.value = x.value
         WHERE a.kind = 'device' AND x.value IS NOT NULL",
    )
}

/// The linked_accounts tag and the component size of a case follow strong
/// links only: the tag is on exactly the cases whose user is strongly linked.
#[test]
fn linked_accounts_means_strongly_linked() {
    let ws = built();
    let strong = strongly_linked(ws);
    for case in read_csv(ws, "out/cases.csv") {
        let tagged = case["evidence_tags"]
            .split(';')
            .any(|t| t == "linked_accounts");
        assert_eq!(
            tagged,
            strong.contains(&case["user_id"]),
            "{}: tags {}",
            case["case_id"],
            case["evidence_tags"]
        );
        assert_eq!(tagged, case["component_size"] != "1", "{}", case["case_id"]);
    }
    // The notebook's components join nearly everyone; strong ones do not.
    assert!(
        strong.len() < 100,
        "{} strongly linked accounts",
        strong.len()
    );
}

/// Asserts the case targets on one build: every seeded abuser has a case,
/// P1 precision >= 0.95, at most 3 cases per seeded abuser.
pub fn assert_case_targets(label: &str, ws: &Workspace) {
    let abusers = users_of(ws, "SELECT user_id FROM users WHERE is_abuse_gt = 1");
    let cases = read_csv(ws, "out/cases.csv");
    let with_case: Users = cases.iter().map(|c| c["user_id"].clone()).collect();
    let missing: Vec<&String> = abusers.difference(&with_case).collect();
    let p1: Vec<&String> = cases
        .iter()
        .filter(|c| c["priority"] == "P1")
        .map(|c| &c["user_id"])
        .collect();
    let p1_true = p1.iter().filter(|u| abusers.contains(**u)).count();
    let precision = p1_true as f64 / p1.len().max(1) as f64;
    eprintln!(
        "{label}\tcases {}\tabusers {}\tP1 {}\tP1 precision {precision:.3}",
        cases.len(),
        abusers.len(),
        p1.len()
    );
    assert!(
        missing.is_empty(),
        "{label}: abusers without a case: {missing:?}"
    );
    assert!(precision >= 0.95, "{label}: P1 precision {precision:.3}");
    assert!(
        cases.len() <= 3 * abusers.len(),
        "{label}: {} cases for {} abusers",
        cases.len(),
        abusers.len()
    );
}

/// Cases are an inbox: the case targets at defaults and for seeds 1..8.
#[test]
fn cases_are_an_inbox() {
    for (seed, ws) in all_seeds() {
        assert_case_targets(&format!("seed {seed}"), ws);
    }
}

/// Every case of a default build has one recommended action that agrees
/// with its evidence: never weaker than the enforcement suggestion it
/// carries, and where it differs from what its priority alone asks for, the
/// findings name the rule (high-severity ban evasion, or the suggestion).
#[test]
fn recommended_action_agrees_with_the_suggestion() {
    let rank = |a: &str| {
        [
            "no_action",
            "monitor",
            "manual_review",
            "suspend_pending_review",
        ]
        .iter()
        .position(|x| *x == a)
        .unwrap_or_else(|| panic!("unknown action {a}"))
    };
    let asks_for = |suggestion: &str| match suggestion {
        "block" => "suspend_pending_review",
        "rate_limit" | "escalate" => "manual_review",
        "warn" => "monitor",
        other => panic!("unknown suggestion {other}"),
    };
    let cases = read_csv(built(), "out/cases.csv");
    assert!(!cases.is_empty());
    for c in &cases {
        let action = c["recommended_action"].as_str();
        let by_priority = match c["priority"].as_str() {
            "P1" => "suspend_pending_review",
            "P2" => "manual_review",
            "P3" => "monitor",
            _ => "no_action",
        };
        if let Some(s) = c["evidence_tags"]
            .split(';')
            .find_map(|t| t.strip_prefix("suggested_"))
        {
            assert!(
                rank(action) >= rank(asks_for(s)),
                "{}: {action} is weaker than the suggested {s}",
                c["case_id"]
            );
        }
        if action != by_priority {
            let why = c["findings"].contains(&format!("{action} follows the suggested"))
                || (action == "suspend_pending_review"
                    && c["findings"].contains("ban_evasion (high)"));
            assert!(
                why,
                "{}: {action} at {} without a reason: {}",
                c["case_id"], c["priority"], c["findings"]
            );
        }
    }
}

/// A sweep over seeds of the repository pipeline: its summary has each
/// detection's precision and recall and the cases' per point, and they are
/// the point's own exports scored against its ground truth.
#[test]
fn sweep_summary_has_precision_and_recall() {
    let ws = Workspace::from_repo();
    let out = ws
        .tnsflow([
            "sweep",
            "--set",
            "seed=1..2",
            "--set",
            "users=400",
            "--set",
            "events=8000",
            "-j",
            "2",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows = read_csv(&ws, "sweeps/summary.csv");
    assert_eq!(rows.len(), 2);
    let detections = [
        "ban_evasion",
        "coordinated_activity",
        "shared_device",
        "shared_infrastructure",
        "suspicious_prompting",
        "velocity_spike",
        "cases",
        "cases_p1",
    ];
    for (n, row) in rows.iter().enumerate() {
        for d in detections {
            for m in ["precision", "recall"] {
                let v: f64 = row[&format!("evaluation.{d}_{m}")].parse().unwrap();
                assert!((0.0..=1.0).contains(&v), "{d}_{m} = {v}");
            }
        }
        // The cases' figures, recomputed from the point's exports.
        let point = format!("sweeps/point-{n:03}/out");
        let abusers: Users = read_csv(&ws, &format!("{point}/users.csv"))
            .into_iter()
            .filter(|u| u["is_abuse_gt"] == "1")
            .map(|u| u["user_id"].clone())
            .collect();
        let cases: Users = read_csv(&ws, &format!("{point}/cases.csv"))
            .into_iter()
            .map(|c| c["user_id"].clone())
            .collect();
        let true_hits = cases.intersection(&abusers).count() as f64;
        let close = |col: &str, want: f64| {
            let got: f64 = row[col].parse().unwrap();
            assert!((got - want).abs() < 1e-6, "{col}: {got} != {want}");
        };
        close("evaluation.cases_precision", true_hits / cases.len() as f64);
        close("evaluation.cases_recall", true_hits / abusers.len() as f64);
    }
}

/// The figures the case studies quote (the table at the end of each
/// docs/case-studies/*.md: export, key column, key, column, value) hold in a
/// default build. On a mismatch the message lists every stale figure with
/// the build's value, to copy into the walkthrough.
#[test]
fn case_studies_quote_the_build() {
    let ws = built();
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/case-studies");
    let mut checked = 0;
    let mut stale = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.file_name().is_some_and(|n| n == "README.md") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let figures = text
            .split("## Figures")
            .nth(1)
            .unwrap_or_else(|| panic!("{}: no ## Figures table", path.display()));
        for line in figures.lines().filter(|l| l.starts_with("| ")).skip(2) {
            let cells: Vec<&str> = line.trim_matches('|').split(" | ").map(str::trim).collect();
            let [export, key_col, key, column, value] = cells[..] else {
                panic!("{}: a figure row needs 5 cells: {line}", path.display());
            };
            let rows = read_csv(ws, &format!("out/{export}"));
            let actual = rows
                .iter()
                .find(|r| r[key_col] == key)
                .map(|r| r[column].clone())
                .unwrap_or_else(|| format!("(no row with {key_col} = {key})"));
            if actual != value {
                stale.push(format!(
                    "{}: {export} {key} {column}: quoted `{value}`, built `{actual}`",
                    path.file_name().unwrap().to_string_lossy()
                ));
            }
            checked += 1;
        }
    }
    assert!(checked >= 30, "only {checked} figures found");
    assert!(stale.is_empty(), "stale figures:\n{}", stale.join("\n"));
}
