//! Two reviewers in headless Chromium (issue 12): "next" hands them
//! different cases, a handoff with a note, a keyboard decision with "save
//! and next", an entity page, a bulk disposition of N rows adding N audit
//! entries, and an export with as many rows as the audit trail. With
//! `TNSFLOW_SCREENSHOTS=1` it saves the screenshots of docs/screenshots/.

use fantoccini::{Client, Locator};
use std::path::Path;

use crate::common::Workspace;
use crate::serve::{
    browser, choose, chromium_and_driver, click, element, fill, port_of, start_chromedriver,
    start_serve, text, wait_for_count,
};

async fn screenshot(client: &Client, name: &str) {
    if std::env::var_os("TNSFLOW_SCREENSHOTS").is_none() {
        return;
    }
    let png = client.screenshot().await.expect("screenshot");
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
}

async fn case_shown(client: &Client) -> String {
    text(client, "#case-id").await
}

/// Rows of the export, by raw HTTP from this machine.
fn export_rows(port: &str) -> usize {
    let (status, body) = crate::serve::http(
        port,
        "GET",
        "/export/decisions.csv",
        &[("Host", &format!("127.0.0.1:{port}"))],
        "",
    );
    assert_eq!(status, 200);
    // Chunked: count CSV lines that start with an entry id.
    body.lines()
        .filter(|l| l.starts_with('a') || l.starts_with('d'))
        .filter(|l| l.contains(",case_"))
        .count()
}

#[test]
fn issue_12_two_reviewers_in_chromium() {
    let Some((chromium, driver)) = chromium_and_driver() else {
        return;
    };
    let ws = Workspace::from_repo();
    ws.build(&["-q"]);
    let (_server, url) = start_serve(&ws, &[]);
    let port = port_of(&url).to_string();
    let (_driver, webdriver) = start_chromedriver(&driver);
    let (profile_a, profile_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let a = browser(&webdriver, &chromium, profile_a.path()).await;
        let b = browser(&webdriver, &chromium, profile_b.path()).await;
        a.goto(&url).await.unwrap();
        screenshot(&a, "dashboard").await;

        // A and B press "next" on the P1 queue: different cases.
        for (client, name) in [(&a, "ana"), (&b, "bo")] {
            client
                .goto(&format!("{url}/queue?priority=P1"))
                .await
                .unwrap();
            fill(client, "#next-reviewer", name).await;
            click(client, "#next-case").await;
        }
        let case_a = case_shown(&a).await;
        let case_b = case_shown(&b).await;
        assert_ne!(case_a, case_b);
        assert!(text(&a, "#case-assignee")
            .await
            .starts_with("Claimed by ana at"));
        screenshot(&a, "case").await;

        // A hands the case to B with a note.
        fill(&a, "#handoff-to", "bo").await;
        fill(&a, "#handoff-note", "same device ring as yours").await;
        click(&a, "#handoff").await;
        element(&a, "#audit tr[data-kind='handoff']").await;
        assert!(text(&a, "#case-assignee")
            .await
            .starts_with("Claimed by bo at"));

        // B decides it with the keyboard ("2", then "s": save and next).
        b.goto(&format!("{url}/cases/{case_a}?priority=P1"))
            .await
            .unwrap();
        assert_eq!(
            element(&b, "#reviewer")
                .await
                .prop("value")
                .await
                .unwrap()
                .as_deref(),
            Some("bo")
        );
        let body = element(&b, "body").await;
        body.send_keys("2").await.unwrap();
        assert_eq!(
            element(&b, "#disposition")
                .await
                .prop("value")
                .await
                .unwrap()
                .as_deref(),
            Some("no_violation")
        );
        body.send_keys("s").await.unwrap();
        // Save and next: B is back on the case B holds, undecided.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while case_shown(&b).await != case_b {
            assert!(
                std::time::Instant::now() < deadline,
                "save and next did not move on"
            );
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        a.goto(&format!("{url}/cases/{case_a}")).await.unwrap();
        assert!(text(&a, "#case-status")
            .await
            .starts_with("no_violation by bo"));
        wait_for_count(&a, "#audit tr.audit-row", 3).await;

        // The entity page of one of its identifiers lists the accounts.
        click(&a, "#identifiers a").await;
        let accounts: usize = text(&a, "#entity-accounts").await.parse().unwrap();
        assert!(accounts >= 2, "a shared identifier has accounts");
        wait_for_count(&a, "#entity-uses tr.use-row", accounts).await;
        screenshot(&a, "entity").await;

        // Bulk: 3 unclaimed open rows, confirmed, 3 decisions.
        a.goto(&format!("{url}/queue?status=unclaimed"))
            .await
            .unwrap();
        screenshot(&a, "queue").await;
        let boxes = a
            .find_all(Locator::Css("#queue input[name='case']"))
            .await
            .unwrap();
        for checkbox in &boxes[..3] {
            checkbox.click().await.unwrap();
        }
        choose(&a, "#bulk-disposition", "needs_more_info").await;
        fill(&a, "#bulk-notes", "batch of three").await;
        let before = export_rows(&port);
        click(&a, "#bulk-apply").await;
        assert_eq!(text(&a, "#bulk-count").await, "3");
        click(&a, "#bulk-confirm").await;
        element(&a, "#queue").await;
        assert_eq!(export_rows(&port), before + 3);

        // The export has as many rows as the case pages' audit trails.
        a.goto(&format!("{url}/queue?status=reviewed"))
            .await
            .unwrap();
        let mut ids = Vec::new();
        for row in a
            .find_all(Locator::Css("#queue tr.case-row"))
            .await
            .unwrap()
        {
            ids.push(row.attr("data-case").await.unwrap().unwrap());
        }
        ids.push(case_b.clone());
        let mut trail = 0;
        for id in &ids {
            a.goto(&format!("{url}/cases/{id}")).await.unwrap();
            trail += a
                .find_all(Locator::Css("#audit tr.audit-row"))
                .await
                .unwrap()
                .len();
        }
        assert_eq!(export_rows(&port), trail);
        a.close().await.unwrap();
        b.close().await.unwrap();
    });
}
