//! The workbench across builds (issue 12): reviews bound to the case row
//! they were made against, and a running server that picks up a new build.

use std::collections::HashMap;

use crate::common::Workspace;
use crate::serve::{http, port_of, start_serve};

/// Every row of `out/cases.csv` by case id, as its fields joined.
pub(crate) fn rows(ws: &Workspace) -> HashMap<String, String> {
    let mut reader = csv::Reader::from_path(ws.join("out/cases.csv")).expect("cases.csv");
    reader
        .records()
        .map(|r| {
            let r = r.expect("row");
            (
                r[0].to_string(),
                r.iter().collect::<Vec<_>>().join("\u{1f}"),
            )
        })
        .collect()
}

pub(crate) fn get(port: &str, path: &str) -> String {
    let host = format!("127.0.0.1:{port}");
    let (status, body) = http(port, "GET", path, &[("Host", &host)], "");
    assert_eq!(status, 200, "GET {path}: {body}");
    body
}

fn post(port: &str, path: &str, body: &str) -> (u16, String) {
    let host = format!("127.0.0.1:{port}");
    let origin = format!("http://{host}");
    http(
        port,
        "POST",
        path,
        &[("Host", &host), ("Origin", &origin)],
        body,
    )
}

/// Decides every case of `ids` at once (bulk, confirmed).
fn decide_all<'a>(port: &str, ids: impl IntoIterator<Item = &'a String>) {
    let mut body = String::from("disposition=no_violation&reviewer=ana&confirm=yes");
    for id in ids {
        body.push_str(&format!("&case={id}"));
    }
    let (status, page) = post(port, "/bulk", &body);
    assert_eq!(status, 303, "{page}");
}

/// The ids of the cases present in both builds whose rows differ, and of
/// those whose rows are the same.
fn compare(
    before: &HashMap<String, String>,
    after: &HashMap<String, String>,
) -> (Vec<String>, Vec<String>) {
    let (mut changed, mut same) = (Vec::new(), Vec::new());
    for (id, row) in before {
        match after.get(id) {
            Some(now) if now != row => changed.push(id.clone()),
            Some(_) => same.push(id.clone()),
            None => {}
        }
    }
    changed.sort();
    same.sort();
    (changed, same)
}

/// Every case reviewed at seed 42; after a rebuild at seed 7 (and a
/// restart), a case whose row changed says "evidence changed since review"
/// and is open again in the queue; a case whose row is the same stays
/// reviewed.
#[test]
fn issue_12_a_review_of_another_row_says_the_evidence_changed() {
    let ws = Workspace::from_repo();
    ws.build(&["-q"]);
    let before = rows(&ws);
    {
        let (_server, url) = start_serve(&ws, &[]);
        let port = port_of(&url).to_string();
        decide_all(&port, before.keys());
        let any = before.keys().next().unwrap();
        let page = get(&port, &format!("/cases/{any}"));
        assert!(!page.contains("id=\"evidence-changed\""), "{page}");
    }
    ws.build(&["-q", "--set", "seed=7"]);
    let after = rows(&ws);
    let (changed, same) = compare(&before, &after);
    assert!(!changed.is_empty(), "seed 7 changed no case of seed 42");

    let (_server, url) = start_serve(&ws, &[]);
    let port = port_of(&url).to_string();
    let page = get(&port, &format!("/cases/{}", changed[0]));
    assert!(page.contains("id=\"evidence-changed\""), "{page}");
    assert!(page.contains("Evidence changed since review"), "{page}");
    // Still in the trail: reopened, not forgotten.
    assert!(page.contains("no_violation"), "{page}");
    let reopened = get(&port, "/queue?status=changed");
    for id in &changed {
        assert!(
            reopened.contains(&format!("/cases/{id}")),
            "{id} not reopened"
        );
    }
    let open = get(&port, "/queue?status=open");
    assert!(open.contains(&format!("/cases/{}", changed[0])));
    if let Some(kept) = same.first() {
        let page = get(&port, &format!("/cases/{kept}"));
        assert!(!page.contains("id=\"evidence-changed\""), "{page}");
        assert!(!reopened.contains(&format!("/cases/{kept}\"")));
    }
    // "next" hands a reopened case again.
    let (status, _) = post(&port, "/next", "reviewer=bo&status=changed");
    assert_eq!(status, 303);
}

/// The build id the dashboard shows.
fn build_id(dashboard: &str) -> String {
    let (_, rest) = dashboard
        .split_once("id=\"build-id\">")
        .unwrap_or_else(|| panic!("no build id on the dashboard: {dashboard}"));
    rest.split('<').next().unwrap().to_string()
}

/// A new build made by another process while `serve` runs is served
/// within seconds, without a restart: the dashboard names the new build and
/// counts its cases, a new case has its page, a changed case says its
/// evidence changed, and a case the new build lacks keeps its history and
/// says so.
#[test]
fn issue_12_a_running_server_serves_a_new_build() {
    let ws = Workspace::from_repo();
    ws.build(&["-q"]);
    let before = rows(&ws);
    let (_server, url) = start_serve(&ws, &[]);
    let port = port_of(&url).to_string();
    let first = build_id(&get(&port, "/"));
    decide_all(&port, before.keys());

    let out = ws
        .tnsflow(["build", "-q", "--set", "seed=7"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let after = rows(&ws);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let dashboard = loop {
        let page = get(&port, "/");
        if build_id(&page) != first {
            break page;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "still serving build {first} 20 s after a new build"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    };
    assert!(
        dashboard.contains(&format!("id=\"case-count\">{}<", after.len())),
        "{dashboard}"
    );

    let (changed, _) = compare(&before, &after);
    assert!(!changed.is_empty());
    let page = get(&port, &format!("/cases/{}", changed[0]));
    assert!(page.contains("id=\"evidence-changed\""), "{page}");

    let mut gone: Vec<&String> = before
        .keys()
        .filter(|id| !after.contains_key(*id))
        .collect();
    gone.sort();
    let gone = gone.first().expect("seed 7 drops some case of seed 42");
    let page = get(&port, &format!("/cases/{gone}"));
    assert!(page.contains("id=\"case-missing\""), "{page}");
    assert!(page.contains("not in the current build"), "{page}");
    assert!(page.contains("no_violation"), "its review is kept: {page}");

    let mut new: Vec<&String> = after
        .keys()
        .filter(|id| !before.contains_key(*id))
        .collect();
    new.sort();
    let new = new
        .first()
        .expect("seed 7 flags some account seed 42 did not");
    let page = get(&port, &format!("/cases/{new}"));
    assert!(!page.contains("id=\"evidence-changed\""), "{page}");
}
