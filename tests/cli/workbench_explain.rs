//! Explained rule hits and the case score as its terms (issue 12), on the
//! case pages of a real build.

use crate::common::Workspace;
use crate::serve::{port_of, start_serve};
use crate::workbench_live::{get, rows};

/// Every case page says, for each detection hit, when the rule fires next
/// to the values the hit recorded, and shows the score as weight x value
/// terms that add up to the row's `case_score` (no mismatch note at the
/// default weights).
#[test]
fn issue_12_case_pages_explain_hits_and_the_score() {
    let ws = Workspace::from_repo();
    ws.build(&["-q"]);
    let mut reader = csv::Reader::from_path(ws.join("out/cases.csv")).unwrap();
    let headers = reader.headers().unwrap().clone();
    let col = |name: &str| headers.iter().position(|h| h == name).expect(name);
    let (id, detections, tags) = (col("case_id"), col("detections"), col("evidence_tags"));
    let cases: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(cases.len(), rows(&ws).len());
    let (_server, url) = start_serve(&ws, &[]);
    let port = port_of(&url).to_string();
    let mut enforced = 0;
    for case in &cases {
        let page = get(&port, &format!("/cases/{}", &case[id]));
        assert!(page.contains("id=\"score-terms\""), "{}", &case[id]);
        assert!(
            !page.contains("id=\"score-mismatch\""),
            "{}: the terms do not add up: {page}",
            &case[id]
        );
        for d in case[detections].split(';').filter(|d| !d.is_empty()) {
            assert!(
                page.contains(&format!("data-detection=\"{d}\"")),
                "{}: {d}",
                &case[id]
            );
        }
        assert!(page.contains("Fires when "), "{}", &case[id]);
        if case[tags].contains("suggested_block") {
            enforced += 1;
            assert!(page.contains("suggested block or rate_limit"));
        }
    }
    assert!(enforced > 0, "no case with a suggested block to check");
}
