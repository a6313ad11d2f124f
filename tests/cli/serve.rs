//! `tnsflow serve`: the workbench, driven in real headless Chromium.
//!
//! The test builds the repository's pipeline, starts `tnsflow serve` on a
//! free port and Debian's chromedriver beside it, and works a case the way
//! an analyst does: dashboard, filtered queue, case page, two reviews, then a
//! rebuild and a restart, after which both reviews must still be there.
//! Without chromium the browser test is skipped locally and fails under CI.

use fantoccini::{Client, ClientBuilder, Locator};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{find_program, free_port, skip, SmallDisk, Workspace};

/// A child process killed when the test ends, however it ends. Started as
/// a process group leader, so the group goes too: a test that panics before
/// closing its session must not leave chromium behind.
pub(crate) struct Running(Child);

impl Running {
    fn spawn(cmd: &mut Command) -> Running {
        use std::os::unix::process::CommandExt;
        Running(
            cmd.process_group(0)
                .spawn()
                .unwrap_or_else(|e| panic!("start {cmd:?}: {e}")),
        )
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.0.id())])
            .status();
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `tnsflow serve --port 0 ARGS` in the workspace, and the URL it printed.
pub(crate) fn start_serve(ws: &Workspace, args: &[&str]) -> (Running, String) {
    spawn_serve(ws, args, Stdio::inherit())
}

/// `start_serve` with its stderr sent to `stderr` (`Stdio::piped()` to read it).
pub(crate) fn spawn_serve(ws: &Workspace, args: &[&str], stderr: Stdio) -> (Running, String) {
    let mut running = Running::spawn(
        Command::new(assert_cmd::cargo::cargo_bin("tnsflow"))
            .args(["serve", "--port", "0"])
            .args(args)
            .current_dir(ws.path())
            .stdout(Stdio::piped())
            .stderr(stderr),
    );
    let stdout = running.0.stdout.take().expect("piped stdout");
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("read the serving line");
    let url = line
        .trim()
        .strip_prefix("serving ")
        .unwrap_or_else(|| panic!("expected `serving URL`, got {line:?}"))
        .to_string();
    (running, url)
}

/// Chromium and chromedriver ($CHROMIUM, $CHROMEDRIVER or on PATH), or None
/// after saying the browser test skips (a failure under CI).
pub(crate) fn chromium_and_driver() -> Option<(PathBuf, PathBuf)> {
    let chromium = find_program("CHROMIUM", &["chromium", "chromium-browser"]);
    let driver = find_program("CHROMEDRIVER", &["chromedriver"]);
    if let (Some(chromium), Some(driver)) = (chromium, driver) {
        return Some((chromium, driver));
    }
    skip(
        "chromium or chromedriver is not on PATH",
        "apt-get install chromium chromium-driver",
    );
    None
}

/// chromedriver on a free port, once it accepts connections.
pub(crate) fn start_chromedriver(driver: &Path) -> (Running, String) {
    let port = free_port();
    let running = Running::spawn(
        Command::new(driver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "chromedriver did not listen");
        std::thread::sleep(Duration::from_millis(50));
    }
    (running, format!("http://127.0.0.1:{port}"))
}

pub(crate) async fn browser(webdriver: &str, chromium: &Path, profile: &Path) -> Client {
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".to_string(),
        serde_json::json!({
            "binary": chromium,
            "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--no-first-run", "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--window-size=1280,1000",
                format!("--user-data-dir={}", profile.display()),
            ],
        }),
    );
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(webdriver)
        .await
        .expect("a chromium session")
}

/// The element `css` names, once the page has it.
pub(crate) async fn element(client: &Client, css: &str) -> fantoccini::elements::Element {
    client
        .wait()
        .at_most(Duration::from_secs(20))
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("no `{css}`: {e}"))
}

/// The text of the element `css` names. The page can be replaced between
/// finding the element and reading it (a form's navigation landing late, the
/// live reload after a build): then the element is found again.
pub(crate) async fn text(client: &Client, css: &str) -> String {
    for _ in 0..100 {
        match element(client, css).await.text().await {
            Ok(text) => return text,
            Err(e) if e.is_stale_element_reference() => {
                tokio::time::sleep(Duration::from_millis(100)).await
            }
            Err(e) => panic!("text of `{css}`: {e}"),
        }
    }
    panic!("`{css}` kept being replaced for 10 s");
}

/// Clicks the element `css` names, found again if the page replaced it.
pub(crate) async fn click(client: &Client, css: &str) {
    for _ in 0..100 {
        match element(client, css).await.click().await {
            Ok(()) => return,
            Err(e) if e.is_stale_element_reference() => {
                tokio::time::sleep(Duration::from_millis(100)).await
            }
            Err(e) => panic!("click on `{css}`: {e}"),
        }
    }
    panic!("`{css}` kept being replaced for 10 s");
}

pub(crate) async fn choose(client: &Client, css: &str, value: &str) {
    element(client, css)
        .await
        .select_by_value(value)
        .await
        .unwrap_or_else(|e| panic!("choose {value} in `{css}`: {e}"));
}

pub(crate) async fn fill(client: &Client, css: &str, value: &str) {
    let input = element(client, css).await;
    input.clear().await.expect("clear");
    input.send_keys(value).await.expect("type");
}

/// Waits until `css` matches `n` elements (pages load after clicks).
pub(crate) async fn wait_for_count(client: &Client, css: &str, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let found = client
            .find_all(Locator::Css(css))
            .await
            .expect("find")
            .len();
        if found == n {
            return;
        }
        if Instant::now() >= deadline {
            let page = client.source().await.unwrap_or_default();
            let url = client
                .current_url()
                .await
                .map(|u| u.to_string())
                .unwrap_or_default();
            panic!("`{css}`: {found} element(s), expected {n}, at {url}:\n{page}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn submit_review(client: &Client, disposition: &str, reviewer: &str, notes: &str) {
    choose(client, "#disposition", disposition).await;
    fill(client, "#reviewer", reviewer).await;
    fill(client, "#notes", notes).await;
    click(client, "#save-review").await;
}

/// The cases of `out/cases.csv` as (case_id, priority), read independently.
pub(crate) fn cases(ws: &Workspace) -> Vec<(String, String)> {
    let mut reader = csv::Reader::from_path(ws.join("out/cases.csv")).expect("cases.csv");
    let headers = reader.headers().expect("header").clone();
    let col = |name: &str| headers.iter().position(|h| h == name).expect(name);
    let (id, priority) = (col("case_id"), col("priority"));
    reader
        .records()
        .map(|r| {
            let r = r.expect("row");
            (r[id].to_string(), r[priority].to_string())
        })
        .collect()
}

#[test]
fn serve_before_any_build_is_a_usage_error() {
    let ws = Workspace::from_repo();
    let out = ws.tnsflow(["serve", "--port", "0"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("no `cases.csv` among the outs of the last build")
            && stderr.contains("run `tnsflow build` first"),
        "{stderr}"
    );
}

/// Without chromium on PATH the browser test says so in the plain `cargo test`
/// output (the process's stderr, not libtest's captured output), and under CI
/// it fails instead. Issue 13. Runs this test binary again on that one test.
#[test]
fn issue_13_without_chromium_the_browser_test_says_skipped_and_fails_under_ci() {
    let test = "serve::analyst_reviews_a_case_in_chromium_and_the_review_survives_a_rebuild";
    let empty = tempfile::tempdir().unwrap();
    let run = |ci: bool| {
        let mut cmd = Command::new(std::env::current_exe().unwrap());
        cmd.args(["--exact", test, "--test-threads", "2"])
            .env("PATH", empty.path())
            .env_remove("CHROMIUM")
            .env_remove("CHROMEDRIVER")
            .env_remove("CI");
        if ci {
            cmd.env("CI", "true");
        }
        let out = cmd.output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        (out.status.success(), stdout, stderr)
    };
    let (ok, stdout, stderr) = run(false);
    assert!(ok, "skipping is not failing:\n{stdout}\n{stderr}");
    let line = crate::common::skip_line(
        test,
        "chromium or chromedriver is not on PATH",
        "apt-get install chromium chromium-driver",
    );
    assert_eq!(stderr.trim_end(), line, "stdout:\n{stdout}");
    assert!(stdout.contains("1 passed"), "{stdout}");

    let (ok, stdout, stderr) = run(true);
    assert!(!ok, "under CI a skip must fail:\n{stdout}\n{stderr}");
    assert!(
        stdout.contains("CI is set, so the test fails rather than skips"),
        "{stdout}"
    );
}

#[test]
fn analyst_reviews_a_case_in_chromium_and_the_review_survives_a_rebuild() {
    let Some((chromium, driver)) = chromium_and_driver() else {
        return;
    };

    let ws = Workspace::from_repo();
    ws.build(&["-q"]);
    let cases = cases(&ws);
    let p1: Vec<&(String, String)> = cases.iter().filter(|(_, p)| p == "P1").collect();
    assert!(!p1.is_empty(), "the default build has P1 cases");

    let (server, url) = start_serve(&ws, &[]);
    // A second server on the same port is a usage error naming the address.
    let port = url.rsplit(':').next().expect("a port");
    let busy = ws.tnsflow(["serve", "--port", port]).output().unwrap();
    assert_eq!(busy.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&busy.stderr);
    assert!(
        stderr.contains(&format!("cannot listen on 127.0.0.1:{port}")),
        "{stderr}"
    );

    let (_driver, webdriver) = start_chromedriver(&driver);
    let profile = tempfile::tempdir().expect("profile dir");
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let case_id = runtime.block_on(async {
        let client = browser(&webdriver, &chromium, profile.path()).await;

        // Dashboard: the case count is cases.csv's.
        client.goto(&url).await.expect("open dashboard");
        assert_eq!(text(&client, "#case-count").await, cases.len().to_string());
        assert_eq!(text(&client, "#reviewed-count").await, "0");

        // Queue, filtered to P1 in the form.
        click(&client, "nav a[href='/queue']").await;
        choose(&client, "#filter-priority", "P1").await;
        click(&client, "#apply-filters").await;
        wait_for_count(&client, "#queue tr.case-row", p1.len()).await;
        assert!(text(&client, "#queue-count")
            .await
            .starts_with(&format!("{} case(s) match", p1.len())));
        for row in client
            .find_all(Locator::Css("#queue tr.case-row"))
            .await
            .unwrap()
        {
            assert_eq!(
                row.attr("data-priority").await.unwrap().as_deref(),
                Some("P1")
            );
        }

        // The first case of the queue: summary, timeline, graph.
        let case_id = text(&client, "#queue tr.case-row a").await;
        click(&client, "#queue tr.case-row a").await;
        assert_eq!(text(&client, "#case-id").await, case_id);
        assert_eq!(text(&client, "#case-priority").await, "P1");
        assert!(!text(&client, "#findings").await.is_empty());
        let moments = client.find_all(Locator::Css("#timeline li")).await.unwrap();
        assert!(!moments.is_empty(), "a P1 case has a timeline");
        assert!(
            client.find(Locator::Css("#graph svg")).await.is_ok(),
            "the linked-accounts graph is drawn"
        );

        // A review whose notes hold markup: shown as text, never run.
        let hostile = "<script>alert('x')</script> seen <b>twice</b>";
        submit_review(&client, "confirmed_abuse", "ana", hostile).await;
        wait_for_count(&client, "#audit tr.audit-row", 1).await;
        assert_eq!(text(&client, "#audit tr.audit-row td.notes").await, hostile);
        let injected = client
            .execute(
                "return document.querySelectorAll('#audit script, #audit b').length",
                vec![],
            )
            .await
            .expect("count injected elements");
        assert_eq!(injected, serde_json::json!(0));

        // A reviewer of only spaces is refused, with the problem named.
        submit_review(&client, "no_violation", "   ", "").await;
        assert!(text(&client, "#review-problems")
            .await
            .contains("reviewer is required"));
        wait_for_count(&client, "#audit tr.audit-row", 1).await;

        // A second review: the case's state is the latest, the trail has both.
        client
            .goto(&format!("{url}/cases/{case_id}"))
            .await
            .unwrap();
        submit_review(
            &client,
            "no_violation",
            "ben",
            "false positive: shared office",
        )
        .await;
        wait_for_count(&client, "#audit tr.audit-row", 2).await;
        assert!(text(&client, "#case-status")
            .await
            .starts_with("no_violation by ben"));

        client.goto(&url).await.unwrap();
        assert_eq!(text(&client, "#reviewed-count").await, "1");
        client.close().await.expect("close the browser");
        case_id
    });
    drop(server);

    // Rebuild the cases and restart: the reviews are still there.
    let summary = ws.build(&["--force", "cases", "-q"]);
    assert!(summary.starts_with("1 ran"), "{summary}");
    let (server, url) = start_serve(&ws, &[]);
    let (_other, other_url) = start_serve(&ws, &["--review-db", "elsewhere/team-b.db"]);
    runtime.block_on(async {
        let client = browser(&webdriver, &chromium, profile.path()).await;
        client
            .goto(&format!("{url}/cases/{case_id}"))
            .await
            .unwrap();
        wait_for_count(&client, "#audit tr.audit-row", 2).await;
        let notes = client
            .find_all(Locator::Css("#audit td.notes"))
            .await
            .unwrap();
        assert_eq!(
            notes[0].text().await.unwrap(),
            "false positive: shared office"
        );
        assert!(notes[1].text().await.unwrap().starts_with("<script>"));

        // Another review database is another team's work: none of these reviews.
        client
            .goto(&format!("{other_url}/cases/{case_id}"))
            .await
            .unwrap();
        assert_eq!(text(&client, "#audit").await, "No reviews yet.");
        client.close().await.expect("close the browser");
    });
    drop(server);
    assert!(ws.exists("review/reviews.db"));
    assert!(ws.exists("elsewhere/team-b.db"));
}

/// The port of a `http://ADDR:PORT` URL.
pub(crate) fn port_of(url: &str) -> &str {
    url.rsplit(':').next().expect("a port")
}

/// Sends one raw HTTP/1.1 request to 127.0.0.1:`port` with exactly the
/// `headers` given (Host included, or not), and returns the status and body.
pub(crate) fn http(
    port: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, String) {
    let (status, _, body) = http_full(port, method, path, headers, body);
    (status, body)
}

/// POSTs a review `form` for `case_id`, as the workbench's own page does.
fn post_review(port: &str, case_id: &str, form: &str) -> (u16, String) {
    post_case(port, case_id, "review", form)
}

/// POSTs `form` to the case's `action` (review, claim, release, handoff).
fn post_case(port: &str, case_id: &str, action: &str, form: &str) -> (u16, String) {
    let host = format!("127.0.0.1:{port}");
    let origin = format!("http://{host}");
    http(
        port,
        "POST",
        &format!("/cases/{case_id}/{action}"),
        &[("Host", &host), ("Origin", &origin)],
        form,
    )
}

/// `http`, also returning the response's head (status line and headers).
pub(crate) fn http_full(
    port: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, String, String) {
    let mut stream = std::net::TcpStream::connect(format!("127.0.0.1:{port}")).expect("connect");
    let mut request = format!("{method} {path} HTTP/1.1\r\nConnection: close\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    if method == "POST" {
        request.push_str("Content-Type: application/x-www-form-urlencoded\r\n");
        request.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    request.push_str("\r\n");
    request.push_str(body);
    stream.write_all(request.as_bytes()).expect("send");
    let mut response = String::new();
    stream
        .read_to_string(&mut response)
        .expect("read the response");
    let status = response
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {response:?}"));
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    (status, head.to_string(), body.to_string())
}

/// How many reviews the case page lists, asked the way a browser on this
/// machine would.
fn review_count(port: &str, case_id: &str) -> usize {
    let host = format!("127.0.0.1:{port}");
    let (status, page) = http(
        port,
        "GET",
        &format!("/cases/{case_id}"),
        &[("Host", &host)],
        "",
    );
    assert_eq!(status, 200, "{page}");
    page.matches("class=\"audit-row\"").count()
}

/// A page on another site that the analyst's browser resolves to the
/// workbench (DNS rebinding) sends its own name as Host, with a matching
/// Origin: every route refuses it, GET included, and nothing is saved.
/// Issue 10, item 20.
#[test]
fn issue_10_a_foreign_host_is_refused_on_every_route() {
    let ws = Workspace::from_repo();
    ws.build(&["-q"]);
    let case_id = cases(&ws)[0].0.clone();
    let (_server, url) = start_serve(&ws, &[]);
    let port = port_of(&url);
    let evil = format!("evil.example:{port}");
    let evil_origin = format!("http://{evil}");
    let review = format!("/cases/{case_id}/review");
    let form = "disposition=no_violation&reviewer=mallory&notes=rebound";

    for path in [
        "/",
        "/queue",
        &format!("/cases/{case_id}"),
        "/static/workbench.css",
        "/nope",
    ] {
        let (status, body) = http(port, "GET", path, &[("Host", &evil)], "");
        assert_eq!(status, 421, "GET {path}: {body}");
        assert!(body.contains(&format!("`{evil}`")), "{body}");
    }
    let (status, _) = http(
        port,
        "POST",
        &review,
        &[("Host", &evil), ("Origin", &evil_origin)],
        form,
    );
    assert_eq!(status, 421);
    let (status, _) = http(port, "GET", "/", &[], "");
    assert_eq!(status, 421, "a request without Host is refused too");

    // The names of this machine are answered.
    for host in [
        format!("127.0.0.1:{port}"),
        format!("localhost:{port}"),
        format!("LocalHost:{port}"),
    ] {
        let (status, body) = http(port, "GET", "/", &[("Host", &host)], "");
        assert_eq!(status, 200, "{host}: {body}");
    }
    let ours = format!("127.0.0.1:{port}");
    let our_origin = format!("http://{ours}");
    // No Origin and no Sec-Fetch-Site, or a foreign Referer: refused.
    for headers in [
        vec![("Host", ours.as_str())],
        vec![("Host", &ours), ("Sec-Fetch-Site", "cross-site")],
        vec![
            ("Host", &ours),
            ("Origin", &our_origin),
            ("Referer", "http://evil.example/x"),
        ],
    ] {
        let (status, body) = http(port, "POST", &review, &headers, form);
        assert_eq!(status, 403, "{headers:?}: {body}");
    }
    assert_eq!(review_count(port, &case_id), 0);
    // A form posted from the workbench's own page is saved.
    let referer = format!("{our_origin}/cases/{case_id}");
    let (status, body) = http(
        port,
        "POST",
        &review,
        &[
            ("Host", &ours),
            ("Origin", &our_origin),
            ("Referer", &referer),
            ("Sec-Fetch-Site", "same-origin"),
        ],
        form,
    );
    assert_eq!(status, 303, "{body}");
    let (status, body) = http(
        port,
        "POST",
        &review,
        &[("Host", &ours), ("Sec-Fetch-Site", "same-origin")],
        form,
    );
    assert_eq!(status, 303, "{body}");
    assert_eq!(review_count(port, &case_id), 2);
}

/// Reviewer and notes refuse control characters (an escape sequence, a NUL, a
/// bell, a line break in a name) with a 422 naming the field; the notes keep
/// line breaks (CRLF from a textarea) and tabs. Issue 10, item 22.
#[test]
fn issue_10_control_characters_in_a_review_are_refused() {
    let ws = Workspace::from_repo();
    ws.build(&["-q"]);
    let case_id = cases(&ws)[0].0.clone();
    let (_server, url) = start_serve(&ws, &[]);
    let port = port_of(&url);
    let post = |form: &str| post_review(port, &case_id, form);

    for (form, field) in [
        (
            "disposition=escalated&reviewer=ana&notes=%1B%5B2Jcleared",
            "notes",
        ),
        ("disposition=escalated&reviewer=ana&notes=a%00b", "notes"),
        ("disposition=escalated&reviewer=an%07a&notes=", "reviewer"),
        (
            "disposition=escalated&reviewer=ana%0D%0Abo&notes=",
            "reviewer",
        ),
    ] {
        let (status, page) = post(form);
        assert_eq!(status, 422, "{form}: {page}");
        assert!(
            page.contains(&format!("{field} contain")) && page.contains("a control character"),
            "{form}: {page}"
        );
    }
    assert_eq!(review_count(port, &case_id), 0);
    let (status, page) =
        post("disposition=escalated&reviewer=ana&notes=line%0D%0Aline%0Acol%09col");
    assert_eq!(status, 303, "{page}");
    assert_eq!(review_count(port, &case_id), 1);
}

/// `--bind 0.0.0.0` warns on stderr that every case, review and note is
/// reachable from the network; the default loopback address does not.
/// Issue 10, item 21.
#[test]
fn issue_10_a_non_loopback_bind_warns_what_it_exposes() {
    let ws = Workspace::from_repo();
    ws.build(&["-q"]);
    let stderr_of = |args: &[&str]| {
        let (mut server, url) = spawn_serve(&ws, args, Stdio::piped());
        let mut stderr = server.0.stderr.take().expect("piped stderr");
        drop(server);
        let mut text = String::new();
        stderr.read_to_string(&mut text).expect("read stderr");
        (url, text)
    };
    let (url, warning) = stderr_of(&["--bind", "0.0.0.0"]);
    let port = port_of(&url);
    assert!(url.starts_with("http://0.0.0.0:"), "{url}");
    for words in [
        "warning:".to_string(),
        format!("0.0.0.0:{port} is not a loopback address"),
        "every case, review and note of this workspace".to_string(),
        format!("anyone who can reach this machine on port {port}"),
    ] {
        assert!(warning.contains(&words), "no {words:?} in:\n{warning}");
    }
    let (url, quiet) = stderr_of(&[]);
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    assert_eq!(quiet, "");
    let (_, quiet) = stderr_of(&["--bind", "127.0.0.1"]);
    assert_eq!(quiet, "");
}

/// The review database the workbench made refuses every rewrite from a raw
/// `sqlite3` session (which never sets recursive_triggers): REPLACE, upsert,
/// UPDATE and DELETE on both tables, each an error, the dump unchanged.
/// Issue 10, item 5.
#[test]
fn issue_10_a_raw_sqlite3_session_cannot_rewrite_reviews() {
    let Some(sqlite3) = find_program("SQLITE3", &["sqlite3"]) else {
        skip("sqlite3 is not on PATH", "apt-get install sqlite3");
        return;
    };
    let ws = Workspace::from_repo();
    ws.build(&["-q"]);
    let all = cases(&ws);
    let (first, second) = (&all[0].0, &all[1].0);
    let (server, url) = start_serve(&ws, &[]);
    let port = port_of(&url);
    let host = format!("127.0.0.1:{port}");
    let origin = format!("http://{host}");
    for case_id in [first, second] {
        let (status, body) = http(
            port,
            "POST",
            &format!("/cases/{case_id}/review"),
            &[("Host", &host), ("Origin", &origin)],
            "disposition=confirmed_abuse&reviewer=ana&notes=seen",
        );
        assert_eq!(status, 303, "{body}");
    }
    drop(server);

    let db = ws.join("review/reviews.db");
    let sql = |statement: &str| {
        Command::new(&sqlite3)
            .arg(&db)
            .arg(statement)
            .output()
            .expect("run sqlite3")
    };
    let dump = || String::from_utf8(sql(".dump").stdout).expect("utf-8 dump");
    let before = dump();
    assert!(
        before.contains("'seen'") && before.contains(&format!("'{second}'")),
        "{before}"
    );
    // Every column, the evidence hashes included.
    let row = "'confirmed_abuse', 'mallory', 'rewritten', '2020-01-01T00:00:00Z', '', ''";
    for statement in [
        format!("INSERT OR REPLACE INTO reviews VALUES (1, '{first}', {row})"),
        format!("REPLACE INTO reviews VALUES (1, '{first}', {row})"),
        format!("INSERT INTO reviews VALUES (1, '{first}', {row}) ON CONFLICT DO UPDATE SET notes = excluded.notes"),
        "UPDATE reviews SET notes = 'rewritten'".to_string(),
        "DELETE FROM reviews".to_string(),
        format!("INSERT OR REPLACE INTO case_opened VALUES ('{first}', '2099-01-01T00:00:00Z')"),
        format!("REPLACE INTO case_opened VALUES ('{first}', '2099-01-01T00:00:00Z')"),
        format!("INSERT INTO case_opened VALUES ('{first}', '2099-01-01T00:00:00Z') ON CONFLICT DO UPDATE SET opened_at = excluded.opened_at"),
        "UPDATE case_opened SET opened_at = '2099-01-01T00:00:00Z'".to_string(),
        "DELETE FROM case_opened".to_string(),
    ] {
        let out = sql(&statement);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && stderr.contains("append-only"), "{statement}: {stderr}");
        assert_eq!(dump(), before, "{statement}");
    }
}

/// A full disk under the review store: the review comes back refused
/// (507) on the case page, which names `review/reviews.db` and the full
/// disk and still holds the analyst's notes in its form; the reviews before
/// it are intact, and once there is room the same form sent again is
/// recorded (a bulk disposition too, from its confirmation page); `reviews export --out` on the full disk keeps the previous
/// export whole. Before, a bare 500 "database error" and the notes were
/// gone, and the export was cut short.
#[test]
fn full_disk_keeps_the_analysts_review_in_the_form() {
    let Some(disk) = SmallDisk::mount(64 << 20) else {
        return;
    };
    let ws = Workspace::from_repo_in(disk.path());
    ws.build(&["-q", "--set", "events=20000", "--set", "users=600"]);
    let case_id = cases(&ws)[0].0.clone();
    let (_server, url) = start_serve(&ws, &[]);
    let port = port_of(&url);
    let post = |notes: &str| {
        let form = format!("disposition=escalated&reviewer=ana&notes={notes}");
        post_review(port, &case_id, &form)
    };
    assert_eq!(post("first").0, 303);
    let held = cases(&ws)[2].0.clone();
    assert_eq!(post_case(port, &held, "claim", "reviewer=ana").0, 303);

    disk.fill_to(0);
    // A handoff's note comes back in a form that sends it again.
    let handoff = "reviewer=ana&to=bo&team=&note=the+device+matches+a+ban+from+March";
    let (status, page) = post_case(port, &held, "handoff", handoff);
    assert_eq!(status, 507, "{page}");
    assert!(
        page.contains("is full")
            && page.contains("value=\"the device matches a ban from March\"")
            && page.contains(&format!("action=\"/cases/{held}/handoff\"")),
        "the handoff's note is gone from the page: {page}"
    );
    assert_eq!(review_count(port, &held), 1);
    let note = "seen the same prompt from five new accounts within the hour";
    let (status, page) = post(&note.replace(' ', "+"));
    assert_eq!(status, 507, "{page}");
    let store = ws.join("review/reviews.db");
    assert!(
        page.contains(&format!("the disk holding `{}` is full", store.display())),
        "{page}"
    );
    assert!(
        page.contains(note),
        "the notes are gone from the page: {page}"
    );
    assert_eq!(review_count(port, &case_id), 1);
    // A bulk disposition comes back on its confirmation page, notes kept,
    // none of its decisions recorded.
    let other = cases(&ws)[1].0.clone();
    let host = format!("127.0.0.1:{port}");
    let bulk = format!(
        "case={case_id}&case={other}&disposition=escalated&reviewer=ana&notes={}&confirm=yes",
        note.replace(' ', "+")
    );
    let post_bulk = || {
        let origin = format!("http://{host}");
        http(
            port,
            "POST",
            "/bulk",
            &[("Host", &host), ("Origin", &origin)],
            &bulk,
        )
    };
    let (status, page) = post_bulk();
    assert_eq!(status, 507, "{page}");
    assert!(
        page.contains("is full") && page.contains(note) && page.contains(&other),
        "{page}"
    );
    assert_eq!(review_count(port, &other), 0);

    disk.empty();
    assert_eq!(post_case(port, &held, "handoff", handoff).0, 303);
    assert_eq!(review_count(port, &held), 2);
    assert_eq!(post(&note.replace(' ', "+")).0, 303);
    assert_eq!(review_count(port, &case_id), 2);
    assert_eq!(post_bulk().0, 303);
    assert_eq!(review_count(port, &other), 1);
    assert_eq!(review_count(port, &case_id), 3);

    // `reviews export --out` on the full disk fails naming its file and
    // leaves the previous export whole (it was rewritten in place and cut).
    let export = ws.join("decisions.csv");
    let run_export = || {
        ws.tnsflow(["reviews", "export", "--out", export.to_str().unwrap()])
            .output()
            .unwrap()
    };
    assert!(run_export().status.success());
    let exported = std::fs::read_to_string(&export).unwrap();
    // The header, four decisions, the claim and the handoff.
    assert_eq!(exported.lines().count(), 7, "{exported}");
    // The next export is longer than the room this one frees.
    for _ in 0..3 {
        assert_eq!(post(&"x".repeat(1500)).0, 303);
    }
    disk.fill_to(0);
    let out = run_export();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!("cannot write `{}`: ", export.display())),
        "{stderr}"
    );
    assert_eq!(std::fs::read_to_string(&export).unwrap(), exported);

    // With no server holding the store, opening it needs room for its
    // shared-memory file: the error says the disk is full, not just "disk
    // I/O error".
    drop(_server);
    disk.empty();
    // The last connection to close (this export's) removes the -shm.
    assert!(run_export().status.success());
    assert!(!ws.join("review/reviews.db-shm").exists());
    disk.fill_to(0);
    let out = run_export();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!("`{}`", store.display()))
            && stderr.contains("the disk holding it is full"),
        "{stderr}"
    );
    disk.empty();
    assert!(run_export().status.success());
}
