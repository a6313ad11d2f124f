//! The case page's timeline (issue 12): every kind of moment in one
//! time-ordered list, type filters and paging, no cap.

use crate::common::Workspace;
use crate::serve::{http, port_of, start_serve};
use crate::workbench_live::get;

/// The `data-moment` (kind) of every moment of a timeline page, in order, and the
/// page's times.
fn moments(page: &str) -> Vec<(String, String)> {
    let list = page
        .split_once("id=\"timeline\"")
        .expect("a timeline")
        .1
        .split("</ol>")
        .next()
        .unwrap();
    list.split("<li ")
        .skip(1)
        .map(|li| {
            let kind = li.split("data-moment=\"").nth(1).unwrap();
            let kind = kind.split('"').next().unwrap().to_string();
            let ts = li.split("<time>").nth(1).unwrap();
            (kind, ts.split('<').next().unwrap().to_string())
        })
        .collect()
}

/// "N moment(s)" of the timeline's count line.
fn matching(page: &str) -> usize {
    let line = page.split_once("id=\"timeline-count\">").unwrap().1;
    line.split(' ').next().unwrap().parse().unwrap()
}

#[test]
fn issue_12_the_timeline_has_every_kind_filters_and_pages() {
    let ws = Workspace::from_repo();
    ws.build(&["-q"]);
    // The case whose user has the most events.
    let db = rusqlite::Connection::open(ws.join("out/sqlite.db")).unwrap();
    let cases = crate::serve::cases(&ws);
    let (mut busiest, mut most) = (String::new(), 0);
    for (case_id, _) in &cases {
        let user = case_id.strip_prefix("case_").unwrap();
        let n: usize = db
            .query_row(
                "SELECT COUNT(*) FROM raw_events WHERE user_id = ?1",
                [user],
                |r| r.get(0),
            )
            .unwrap();
        if n > most {
            (busiest, most) = (case_id.clone(), n);
        }
    }
    let (_server, url) = start_serve(&ws, &[]);
    let port = port_of(&url).to_string();
    let host = format!("127.0.0.1:{port}");
    // Enough reviews that the timeline runs past one page (200 moments)
    // at the default size, where the busiest user has about 50 events.
    let reviews = 201usize.saturating_sub(most) + 1;
    for _ in 0..reviews {
        let (status, _) = http(
            &port,
            "POST",
            &format!("/cases/{busiest}/review"),
            &[("Host", &host), ("Origin", &format!("http://{host}"))],
            "disposition=escalated&reviewer=ana&notes=see+timeline",
        );
        assert_eq!(status, 303);
    }

    let page = get(&port, &format!("/cases/{busiest}"));
    let total = matching(&page);
    // Every event, the account's creation and every review at least.
    assert!(total > most + reviews, "{total} moments for {most} events");
    assert!(total > 200, "one page holds {total}: paging untested");
    let shown = moments(&page);
    assert_eq!(shown.len(), 200);
    assert!(shown.windows(2).all(|w| w[0].1 <= w[1].1), "time order");
    assert_eq!(shown[0].0, "account", "the account's creation comes first");
    for kind in ["login", "content"] {
        assert!(shown.iter().any(|(k, _)| k == kind), "{kind}");
    }

    // Page by page, every moment, the review last (saved now).
    let mut all = Vec::new();
    let mut n = 1;
    loop {
        let page = get(&port, &format!("/cases/{busiest}?tlpage={n}"));
        let got = moments(&page);
        if got.is_empty() {
            break;
        }
        all.extend(got);
        n += 1;
    }
    assert_eq!(all.len(), total);
    assert_eq!(all.last().unwrap().0, "review");

    // A filter keeps only its kinds, and counts them.
    let page = get(&port, &format!("/cases/{busiest}?tl=login&tl=review"));
    let kept = moments(&page);
    assert!(!kept.is_empty());
    assert!(kept.iter().all(|(k, _)| k == "login" || k == "review"));
    assert_eq!(kept.len(), matching(&page).min(200));

    // Linkage shows on some case: when the account first shared an
    // identifier with a linked account.
    assert!(
        cases
            .iter()
            .any(|(id, _)| get(&port, &format!("/cases/{id}?tl=linkage"))
                .contains("data-moment=\"linkage\"")),
        "no case shows a linkage moment"
    );

    // Unknown kinds and pages are 400 pages naming the parameter.
    for (query, param) in [("tl=%3Cb%3E", "tl"), ("tlpage=0", "tlpage")] {
        let (status, body) = http(
            &port,
            "GET",
            &format!("/cases/{busiest}?{query}"),
            &[("Host", &host)],
            "",
        );
        assert_eq!(status, 400, "{query}: {body}");
        assert!(body.contains(&format!("data-param=\"{param}\"")), "{body}");
        assert!(!body.contains("<b>"), "escaped: {body}");
    }
}
