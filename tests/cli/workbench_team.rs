//! The workbench as a team's console (issue 12), through the real binary
//! over raw HTTP: claim and handoff, "next" under concurrency, saves under
//! load, queue paging and query errors, the decisions export, and the
//! guards on every new route.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Barrier};

use crate::common::Workspace;
use crate::serve::{cases, port_of, start_serve};

/// One HTTP/1.1 request from a page of this server (Host and Origin are
/// the server's): the status, the Location header and the body.
fn send(port: &str, method: &str, path: &str, body: &str) -> (u16, String, String) {
    let host = format!("127.0.0.1:{port}");
    send_as(
        port,
        method,
        path,
        body,
        &[("Host", &host), ("Origin", &format!("http://{host}"))],
    )
}

fn send_as(
    port: &str,
    method: &str,
    path: &str,
    body: &str,
    headers: &[(&str, &str)],
) -> (u16, String, String) {
    let (status, head, body) = crate::serve::http_full(port, method, path, headers, body);
    let location = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("location")
                .then(|| v.trim().to_string())
        })
        .unwrap_or_default();
    (status, location, body)
}

/// The case a "next" redirect points at.
fn case_of(location: &str) -> String {
    location
        .strip_prefix("/cases/")
        .unwrap_or_else(|| panic!("not a case page: {location:?}"))
        .split(['?', '#'])
        .next()
        .unwrap()
        .to_string()
}

/// `/export/decisions.csv` as rows of fields (header dropped).
fn export(port: &str) -> Vec<Vec<String>> {
    let (status, _, body) = send(port, "GET", "/export/decisions.csv", "");
    assert_eq!(status, 200, "{body}");
    // Chunked transfer: the test reads the export through the CLI's twin
    // too; here only the rows between chunk markers matter.
    let text = dechunk(&body);
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    assert_eq!(
        reader.headers().unwrap().iter().collect::<Vec<_>>(),
        [
            "entry_id",
            "at",
            "case_id",
            "entry",
            "actor",
            "disposition",
            "assignee",
            "team",
            "notes"
        ]
    );
    reader
        .records()
        .map(|r| r.unwrap().iter().map(str::to_string).collect())
        .collect()
}

/// Removes HTTP/1.1 chunked framing.
fn dechunk(body: &str) -> String {
    let mut out = String::new();
    let mut rest = body;
    loop {
        let Some((size, after)) = rest.split_once("\r\n") else {
            return out;
        };
        let size = usize::from_str_radix(size.trim(), 16).expect("chunk size");
        if size == 0 {
            return out;
        }
        out.push_str(&after[..size]);
        rest = &after[size + 2..];
    }
}

/// 50 "next" requests from 10 reviewers at the same moment: every case goes
/// to one reviewer only. Then 10 reviewers work 5 rounds each of "next" and
/// a decision, all at once: 50 different cases, each claimed once.
#[test]
fn issue_12_next_never_hands_one_case_to_two_reviewers() {
    let ws = Workspace::from_repo();
    ws.build(&["-q"]);
    let (_server, url) = start_serve(&ws, &[]);
    let port = port_of(&url).to_string();

    let barrier = Arc::new(Barrier::new(50));
    let handed: Vec<(String, String)> = (0..50)
        .map(|i| {
            let (port, barrier) = (port.clone(), barrier.clone());
            std::thread::spawn(move || {
                let reviewer = format!("r{}", i % 10);
                barrier.wait();
                let (status, location, body) =
                    send(&port, "POST", "/next", &format!("reviewer={reviewer}"));
                assert_eq!(status, 303, "{body}");
                (reviewer, case_of(&location))
            })
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|t| t.join().unwrap())
        .collect();
    let mut holders: HashMap<String, HashSet<String>> = HashMap::new();
    for (reviewer, case) in &handed {
        holders
            .entry(case.clone())
            .or_default()
            .insert(reviewer.clone());
    }
    for (case, reviewers) in &holders {
        assert_eq!(reviewers.len(), 1, "{case} went to {reviewers:?}");
    }
    assert_eq!(holders.len(), 10, "one case per reviewer: {holders:?}");
    let claims = export(&port);
    assert_eq!(claims.len(), 10, "one claim each: {claims:?}");

    // Rounds: next, decide, next... from 10 reviewers at once.
    let barrier = Arc::new(Barrier::new(10));
    let worked: Vec<String> = (0..10)
        .map(|i| {
            let (port, barrier) = (port.clone(), barrier.clone());
            std::thread::spawn(move || {
                let reviewer = format!("r{i}");
                barrier.wait();
                let mut cases = Vec::new();
                for _ in 0..5 {
                    let (status, location, body) =
                        send(&port, "POST", "/next", &format!("reviewer={reviewer}"));
                    assert_eq!(status, 303, "{body}");
                    let case = case_of(&location);
                    let (status, _, body) = send(
                        &port,
                        "POST",
                        &format!("/cases/{case}/review"),
                        &format!("disposition=no_violation&reviewer={reviewer}"),
                    );
                    assert_eq!(status, 303, "{case}: {body}");
                    cases.push(case);
                }
                cases
            })
        })
        .collect::<Vec<_>>()
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    let distinct: HashSet<&String> = worked.iter().collect();
    assert_eq!(distinct.len(), 50, "every round a new case: {worked:?}");
    let rows = export(&port);
    let mut claimed: HashMap<&str, usize> = HashMap::new();
    for row in rows.iter().filter(|r| r[3] == "claim") {
        *claimed.entry(row[2].as_str()).or_default() += 1;
    }
    assert!(claimed.values().all(|&n| n == 1), "{claimed:?}");
    assert_eq!(rows.iter().filter(|r| r[3] == "decision").count(), 50);
}

/// 1000 saves from 20 connections at once: every one is in the store.
#[test]
fn issue_12_a_thousand_concurrent_saves_lose_none() {
    let ws = Workspace::from_repo();
    ws.build(&["-q"]);
    let ids: Vec<String> = cases(&ws).into_iter().map(|(id, _)| id).take(100).collect();
    let (_server, url) = start_serve(&ws, &[]);
    let port = port_of(&url).to_string();
    let ids = Arc::new(ids);
    let barrier = Arc::new(Barrier::new(20));
    for t in (0..20)
        .map(|t| {
            let (port, ids, barrier) = (port.clone(), ids.clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                for i in 0..50 {
                    let case = &ids[(t * 50 + i) % ids.len()];
                    let (status, _, body) = send(
                        &port,
                        "POST",
                        &format!("/cases/{case}/review"),
                        &format!("disposition=escalated&reviewer=t{t}&notes=save+{i}"),
                    );
                    assert_eq!(status, 303, "{body}");
                }
            })
        })
        .collect::<Vec<_>>()
    {
        t.join().unwrap();
    }
    let rows = export(&port);
    assert_eq!(rows.len(), 1000);
    let distinct: HashSet<(&str, &str)> = rows
        .iter()
        .map(|r| (r[4].as_str(), r[8].as_str()))
        .collect();
    assert_eq!(distinct.len(), 1000, "each save is its own row");
}

/// Claim, handoff to a reviewer with a note, a refused decision by someone
/// else, release, handoff to a team; each an audit entry on the case page
/// and a row of the export; the queue filters by routing label and
/// assignee.
#[test]
fn issue_12_claim_handoff_and_the_audit_trail() {
    let ws = Workspace::from_repo();
    ws.build(&["-q"]);
    let (_server, url) = start_serve(&ws, &[]);
    let port = port_of(&url);

    let (_, location, _) = send(port, "POST", "/next", "reviewer=ana&priority=P1");
    let case = case_of(&location);
    assert!(location.ends_with("?priority=P1"), "{location}");
    let page = |path: &str| {
        let (status, _, body) = send(port, "GET", path, "");
        assert_eq!(status, 200, "{path}: {body}");
        body
    };
    assert!(page(&format!("/cases/{case}"))
        .contains("Claimed by <strong>ana</strong> at <time id=\"claimed-at\">"));
    // Bo cannot claim, decide or release it.
    let (status, _, body) = send(port, "POST", &format!("/cases/{case}/claim"), "reviewer=bo");
    assert_eq!(status, 409, "{body}");
    assert!(
        body.contains(&format!("{case} is claimed by ana since")),
        "{body}"
    );
    let (status, _, body) = send(
        port,
        "POST",
        &format!("/cases/{case}/review"),
        "disposition=no_violation&reviewer=bo",
    );
    assert_eq!(status, 422, "{body}");
    assert!(body.contains("is claimed by ana"), "{body}");
    let (status, _, _) = send(
        port,
        "POST",
        &format!("/cases/{case}/release"),
        "reviewer=bo",
    );
    assert_eq!(status, 409);
    // Ana hands it to bo with a note; the queue shows it as bo's.
    let (status, _, body) = send(
        port,
        "POST",
        &format!("/cases/{case}/handoff"),
        "reviewer=ana&to=bo&note=device+ring%2C+yours",
    );
    assert_eq!(status, 303, "{body}");
    let queue = page("/queue?assignee=bo");
    assert!(
        queue.contains("1 case(s) match") && queue.contains(&case),
        "{queue}"
    );
    // A handoff naming both or neither, or an unknown team, is refused.
    for form in [
        "reviewer=bo&to=cy&team=general",
        "reviewer=bo",
        "reviewer=bo&team=spam",
    ] {
        let (status, _, body) = send(port, "POST", &format!("/cases/{case}/handoff"), form);
        assert_eq!(status, 422, "{form}: {body}");
    }
    // Bo hands it to the ban-evasion team: unclaimed, routed there.
    let (status, _, _) = send(
        port,
        "POST",
        &format!("/cases/{case}/handoff"),
        "reviewer=bo&team=ban-evasion&note=returning+actor",
    );
    assert_eq!(status, 303);
    let queue = page("/queue?route=ban-evasion&status=unclaimed");
    assert!(queue.contains(&case), "{queue}");
    let case_page = page(&format!("/cases/{case}"));
    assert!(
        case_page.contains("Unclaimed, routed to <strong id=\"case-route\">ban-evasion"),
        "{case_page}"
    );
    // Cy claims it, decides, releases.
    for (path, form) in [
        ("claim", "reviewer=cy"),
        (
            "review",
            "disposition=confirmed_abuse&reviewer=cy&notes=ring",
        ),
        ("release", "reviewer=cy&note=done"),
    ] {
        let (status, _, body) = send(port, "POST", &format!("/cases/{case}/{path}"), form);
        assert_eq!(status, 303, "{path}: {body}");
    }
    let case_page = page(&format!("/cases/{case}"));
    let kinds: Vec<&str> = case_page
        .match_indices("data-kind=\"")
        .map(|(i, m)| case_page[i + m.len()..].split('"').next().unwrap())
        .collect();
    // Newest first.
    assert_eq!(
        kinds,
        ["release", "decision", "claim", "handoff", "handoff", "claim"],
        "{case_page}"
    );
    assert!(
        case_page.contains("handed to team ban-evasion")
            && case_page.contains("device ring, yours")
    );
    let rows = export(port);
    assert_eq!(rows.len(), 6, "{rows:?}");
    assert_eq!(
        rows.iter().map(|r| r[3].as_str()).collect::<Vec<_>>(),
        ["claim", "handoff", "handoff", "claim", "decision", "release"]
    );
    assert_eq!(rows[1][6], "bo");
    assert_eq!(rows[2][7], "ban-evasion");
    // The CLI export has the same rows.
    let out = ws.tnsflow(["reviews", "export"]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let cli = String::from_utf8(out.stdout).unwrap();
    assert_eq!(cli.lines().count(), 7, "{cli}");
    let (_, _, web) = send(port, "GET", "/export/decisions.csv", "");
    assert_eq!(dechunk(&web), cli);
}

/// Every case is reachable through the pages; a bad filter value, a lower
/// case priority, a repeated or unknown parameter is a 400 naming it and
/// what is allowed; counts per filter value are shown.
#[test]
fn issue_12_queue_pages_sorts_and_query_errors() {
    let ws = Workspace::from_repo();
    ws.build(&["-q"]);
    let all = cases(&ws);
    let (_server, url) = start_serve(&ws, &[]);
    let port = port_of(&url);
    let mut seen = HashSet::new();
    for sort in ["priority", "score", "age", "sla"] {
        seen.clear();
        let mut page = 1;
        loop {
            let (status, _, body) =
                send(port, "GET", &format!("/queue?sort={sort}&page={page}"), "");
            assert_eq!(status, 200, "{body}");
            for (i, _) in body.match_indices("data-case=\"") {
                let id = body[i + 11..].split('"').next().unwrap().to_string();
                assert!(seen.insert(id), "a case twice under sort={sort}");
            }
            if !body.contains("id=\"next-page\"") {
                break;
            }
            page += 1;
        }
        assert_eq!(seen.len(), all.len(), "sort={sort}: every case, once");
    }
    let p1 = all.iter().filter(|(_, p)| p == "P1").count();
    let (_, _, body) = send(port, "GET", "/queue", "");
    assert!(
        body.contains(&format!(">P1 ({p1})</option>")),
        "counts per value"
    );
    for (query, param, words) in [
        (
            "status=bogus",
            "status",
            "status must be one of open, reviewed, changed, overdue, claimed, unclaimed",
        ),
        (
            "priority=p1",
            "priority",
            "priority must be one of P1, P2, P3, P4",
        ),
        (
            "priority=P1&priority=P2",
            "priority",
            "`priority` is given more than once",
        ),
        (
            "colour=red",
            "colour",
            "unknown parameter `colour`; the queue takes priority, action",
        ),
        ("page=0", "page", "page must be 1 or more"),
        (
            "route=spam",
            "route",
            "route must be one of ban-evasion, coordinated-abuse, prompt-abuse, general",
        ),
        (
            "sort=%3Cb%3E",
            "sort",
            "`sort=&lt;b&gt;` is not a known value",
        ),
    ] {
        let (status, _, body) = send(port, "GET", &format!("/queue?{query}"), "");
        assert_eq!(status, 400, "{query}: {body}");
        assert!(
            body.contains(&format!("data-param=\"{param}\"")),
            "{query}: {body}"
        );
        assert!(body.contains(words), "{query}: {body}");
    }
    // The case page takes the queue's query too, and refuses a bad one.
    let (status, _, _) = send(port, "GET", &format!("/cases/{}?status=nope", all[0].0), "");
    assert_eq!(status, 400);
}

/// Bulk disposition: a confirmation naming the count, then one decision
/// per selected case; none when a selected case is claimed by another.
#[test]
fn issue_12_bulk_disposition_confirms_then_records_one_entry_per_case() {
    let ws = Workspace::from_repo();
    ws.build(&["-q"]);
    let ids: Vec<String> = cases(&ws).into_iter().map(|(id, _)| id).take(3).collect();
    let (_server, url) = start_serve(&ws, &[]);
    let port = port_of(&url);
    let selected: String = ids.iter().map(|id| format!("case={id}&")).collect();
    let form = format!("{selected}disposition=no_violation&reviewer=ana&notes=batch&priority=P1");
    let (status, _, body) = send(port, "POST", "/bulk", &form);
    assert_eq!(status, 200, "{body}");
    assert!(
        body.contains("<strong id=\"bulk-count\">3</strong>"),
        "{body}"
    );
    assert!(
        export(port).is_empty(),
        "nothing saved before the confirmation"
    );
    let (status, location, body) = send(port, "POST", "/bulk", &format!("{form}&confirm=yes"));
    assert_eq!(status, 303, "{body}");
    assert_eq!(location, "/queue?priority=P1");
    let rows = export(port);
    assert_eq!(rows.len(), 3);
    assert!(rows.iter().all(|r| r[3] == "decision" && r[8] == "batch"));
    // One of them claimed by bo: the whole batch is refused, naming it.
    send(
        port,
        "POST",
        &format!("/cases/{}/claim", ids[1]),
        "reviewer=bo",
    );
    let (status, _, body) = send(port, "POST", "/bulk", &format!("{form}&confirm=yes"));
    assert_eq!(status, 422, "{body}");
    assert!(
        body.contains(&format!("{} is claimed by bo", ids[1])),
        "{body}"
    );
    assert_eq!(export(port).len(), 4, "3 decisions and bo's claim");
}

/// The new routes keep the guards: a foreign Host gets 421, a POST without
/// a same-origin Origin gets 403, nothing is saved; names with control
/// characters are refused.
#[test]
fn issue_12_new_routes_keep_the_guards() {
    let ws = Workspace::from_repo();
    ws.build(&["-q"]);
    let case = cases(&ws)[0].0.clone();
    let (_server, url) = start_serve(&ws, &[]);
    let port = port_of(&url);
    let evil = format!("evil.example:{port}");
    let evil_origin = format!("http://{evil}");
    let ours = format!("127.0.0.1:{port}");
    let posts = [
        ("/next".to_string(), "reviewer=mallory".to_string()),
        (
            format!("/cases/{case}/claim"),
            "reviewer=mallory".to_string(),
        ),
        (
            format!("/cases/{case}/handoff"),
            "reviewer=mallory&to=eve".to_string(),
        ),
        (
            format!("/cases/{case}/release"),
            "reviewer=mallory".to_string(),
        ),
        (
            "/bulk".to_string(),
            format!("case={case}&disposition=no_violation&reviewer=m&confirm=yes"),
        ),
    ];
    for (path, form) in &posts {
        let (status, _, _) = send_as(
            port,
            "POST",
            path,
            form,
            &[("Host", &evil), ("Origin", &evil_origin)],
        );
        assert_eq!(status, 421, "{path}");
        let (status, _, _) = send_as(
            port,
            "POST",
            path,
            form,
            &[("Host", &ours), ("Origin", "http://evil.example")],
        );
        assert_eq!(status, 403, "{path}");
        let (status, _, _) = send_as(port, "POST", path, form, &[("Host", &ours)]);
        assert_eq!(status, 403, "{path}");
    }
    for path in [
        "/export/decisions.csv",
        "/entities/device/x",
        "/static/workbench.js",
    ] {
        let (status, _, _) = send_as(port, "GET", path, "", &[("Host", &evil)]);
        assert_eq!(status, 421, "{path}");
    }
    // Entity pages: an unknown kind or identifier is a 404 naming it, escaped.
    let (status, _, body) = send(port, "GET", "/entities/spam/x", "");
    assert_eq!(status, 404);
    assert!(body.contains("No entity kind `spam`: the workbench has pages for device, ip, payment"));
    let (status, _, body) = send(port, "GET", "/entities/device/%3Cscript%3Ex", "");
    assert_eq!(status, 404);
    assert!(
        body.contains("&lt;script&gt;x") && !body.contains("<script>x"),
        "{body}"
    );
    assert!(export(port).is_empty());
    let (status, _, body) = send(port, "POST", "/next", "reviewer=an%1Ba");
    assert_eq!(status, 422, "{body}");
    assert!(
        body.contains("reviewer contains a control character (U+001B)"),
        "{body}"
    );
    let (status, _, body) = send(
        port,
        "POST",
        &format!("/cases/{case}/handoff"),
        "reviewer=ana&to=%3Cscript%3Ex",
    );
    assert_eq!(status, 303, "{body}");
    let (_, _, page) = send(port, "GET", &format!("/cases/{case}"), "");
    assert!(page.contains("handed to &lt;script&gt;x") && !page.contains("<script>x"));
    let (_, _, queue) = send(port, "GET", "/queue", "");
    assert!(!queue.contains("<script>"), "no markup from a name");
}
