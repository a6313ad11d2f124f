//! HTTP routes of the workbench.
//!
//! Handlers run their SQLite work on the blocking pool. Every response gets a
//! strict Content-Security-Policy (scripts only from 'self': the keyboard shortcuts). Before any
//! handler runs, the guard refuses a request whose Host is not this server
//! (421: DNS rebinding, see `allowed_hosts`) and a POST that does not come
//! from one of this server's own pages (403), so another site open in the
//! analyst's browser can neither read cases nor file reviews.

use axum::extract::{Form, Path, Query, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use maud::Markup;
use percent_encoding::{percent_decode_str, utf8_percent_encode, NON_ALPHANUMERIC};
use std::collections::HashMap;
use std::sync::Arc;

use super::allowed_hosts::AllowedHosts;
use super::data::Moment;
use super::data::ENTITY_KINDS;
use super::export;
use super::pages::{self, CaseView, ReviewState};
use super::query::{QueryError, QueueQuery};
use super::queue;
use super::review::{
    name_problems, notes_problems, AuditEntry, Evidence, Holding, Recipient, Refused, Review,
    ReviewForm, ReviewStore,
};
use super::routing::LABELS;
use super::sla::now_utc;
use super::timeline::{self, TimelineQuery};
use super::{AppState, View};

const CSS: &str = include_str!("workbench.css");
const JS: &str = include_str!("workbench.js");

pub fn router(state: AppState, hosts: AllowedHosts) -> Router {
    Router::new()
        .route("/", get(dashboard))
        .route("/queue", get(queue))
        .route("/cases/{case_id}", get(case))
        .route("/cases/{case_id}/review", post(review))
        .route("/cases/{case_id}/claim", post(claim))
        .route("/cases/{case_id}/release", post(release))
        .route("/cases/{case_id}/handoff", post(handoff))
        .route("/next", post(next))
        .route("/bulk", post(bulk))
        .route("/export/decisions.csv", get(export_decisions))
        .route("/static/workbench.css", get(css))
        .route("/static/workbench.js", get(js))
        .route("/entities/{kind}/{id}", get(entity))
        .fallback(|| async { not_found("No such page.") })
        .layer(middleware::from_fn_with_state(Arc::new(hosts), guard))
        .with_state(Arc::new(state))
}

/// Refuses foreign hosts and cross-site POSTs, and sets the security headers
/// on every response, refusals included.
async fn guard(State(hosts): State<Arc<AllowedHosts>>, request: Request, next: Next) -> Response {
    let mut response = match refusal(&hosts, request.method(), request.uri(), request.headers()) {
        Some((status, message)) => (status, message).into_response(),
        None => next.run(request).await,
    };
    let headers = response.headers_mut();
    for (name, value) in [
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        // Not `no-referrer`: under it Chromium sends `Origin: null` on form
        // POSTs, which the same-origin check must refuse.
        (header::REFERRER_POLICY, "same-origin"),
        (header::X_FRAME_OPTIONS, "DENY"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

/// Why a request must not reach a handler, if it must not: its status and a
/// plain message naming the header at fault.
fn refusal(
    hosts: &AllowedHosts,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
) -> Option<(StatusCode, String)> {
    let misdirected = |what: String| {
        Some((
            StatusCode::MISDIRECTED_REQUEST,
            format!(
                "{what}: this workbench answers only to {} (a page reaching it under another name is refused)",
                hosts.describe()
            ),
        ))
    };
    let Some(host) = headers.get(header::HOST) else {
        return misdirected("no Host header".to_string());
    };
    let Ok(host) = host.to_str() else {
        return misdirected(format!(
            "unknown Host `{}`",
            String::from_utf8_lossy(host.as_bytes())
        ));
    };
    if !hosts.allows(host) {
        return misdirected(format!("unknown Host `{host}`"));
    }
    // An absolute-form request line names a host of its own.
    if let Some(authority) = uri.authority() {
        if !hosts.allows(authority.as_str()) {
            return misdirected(format!("unknown host `{authority}` in the request line"));
        }
    }
    if method.is_safe() {
        return None;
    }
    cross_site(host, headers).map(|why| {
        (
            StatusCode::FORBIDDEN,
            format!("cross-origin request refused: {why}"),
        )
    })
}

/// Why a POST to `host` does not come from a page of this server, if it does
/// not. Browsers send `Origin` on every form POST, and `Sec-Fetch-Site` to
/// loopback (and HTTPS) servers; a script on this machine sends either
/// (`-H 'Origin: http://HOST'` or `-H 'Sec-Fetch-Site: same-origin'`).
fn cross_site(host: &str, headers: &HeaderMap) -> Option<String> {
    let ours = format!("http://{host}");
    let text = |name: header::HeaderName| {
        headers
            .get(&name)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
    };
    let fetch_site = text(header::HeaderName::from_static("sec-fetch-site"));
    // `none`: the user's own action (typed, bookmarked), no other page.
    let is_ours = |site: &str| matches!(site, "same-origin" | "none");
    if let Some(site) = fetch_site.as_deref().filter(|s| !is_ours(s)) {
        return Some(format!("Sec-Fetch-Site is `{site}`"));
    }
    match text(header::ORIGIN) {
        Some(origin) if !origin.eq_ignore_ascii_case(&ours) => {
            return Some(format!("Origin `{origin}` is not `{ours}`"));
        }
        Some(_) => {}
        None if fetch_site.is_none() => {
            return Some(
                "no Origin header (nor Sec-Fetch-Site: same-origin): send `Origin: http://HOST`"
                    .to_string(),
            );
        }
        None => {}
    }
    if let Some(referer) = text(header::REFERER) {
        let origin = referer
            .parse::<Uri>()
            .ok()
            .and_then(|uri| Some(format!("{}://{}", uri.scheme_str()?, uri.authority()?)));
        if !origin.is_some_and(|o| o.eq_ignore_ascii_case(&ours)) {
            return Some(format!("Referer `{referer}` is not a page of `{ours}`"));
        }
    }
    None
}

/// An internal failure (the database went away): a 500 naming it, or a
/// 507 when the disk holding the review store is full.
struct Failure(StatusCode, String);

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        (self.0, self.1).into_response()
    }
}

impl From<rusqlite::Error> for Failure {
    fn from(e: rusqlite::Error) -> Failure {
        if is_disk_full(&e) {
            Failure(
                StatusCode::INSUFFICIENT_STORAGE,
                format!("not saved: the disk holding the review store is full ({e}); free some space and send it again"),
            )
        } else {
            Failure(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("database error: {e}"),
            )
        }
    }
}

fn is_disk_full(e: &rusqlite::Error) -> bool {
    e.sqlite_error_code() == Some(rusqlite::ErrorCode::DiskFull)
}

/// Runs `work` on the blocking pool with the app state.
async fn blocking<T: Send + 'static>(
    state: Arc<AppState>,
    work: impl FnOnce(&View<'_>) -> Result<T, Failure> + Send + 'static,
) -> Result<T, Failure> {
    tokio::task::spawn_blocking(move || {
        // One build for the whole request, however soon the next lands.
        let loaded = state.live.current(&state.reviews);
        work(&View {
            workbench: &loaded.workbench,
            opened: &loaded.opened,
            reviews: &state.reviews,
        })
    })
    .await
    .map_err(|e| {
        Failure(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("request failed: {e}"),
        )
    })?
}

fn not_found(what: &str) -> Response {
    (StatusCode::NOT_FOUND, pages::not_found(what)).into_response()
}

/// The name/value pairs of a query string or form body, in order.
type Pairs = Vec<(String, String)>;

/// The first value of `name` in `pairs`, or "".
fn field(pairs: &Pairs, name: &str) -> String {
    pairs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.clone())
        .unwrap_or_default()
}

/// The cookie that remembers which reviewer this browser works as, so
/// "next" and the forms are filled in. Not a login: anyone can type any name.
const REVIEWER_COOKIE: &str = "tnsflow_reviewer";

/// The reviewer this browser last worked as, from its cookie.
fn me(headers: &HeaderMap) -> String {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == REVIEWER_COOKIE)
        .map(|(_, v)| percent_decode_str(v).decode_utf8_lossy().into_owned())
        .filter(|name| name_problems("reviewer", name).is_empty())
        .unwrap_or_default()
}

/// A 303 to `to` that remembers `reviewer` (strict same-site, script-proof).
fn see_other_as(to: &str, reviewer: &str) -> Response {
    let mut response = Redirect::to(to).into_response();
    let cookie = format!(
        "{REVIEWER_COOKIE}={}; Path=/; SameSite=Strict; HttpOnly",
        utf8_percent_encode(reviewer.trim(), NON_ALPHANUMERIC)
    );
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

fn bad_query(err: &QueryError) -> Response {
    (StatusCode::BAD_REQUEST, pages::bad_query(err)).into_response()
}

fn refused(status: StatusCode, title: &str, problems: Vec<String>, back: &str) -> Response {
    (status, pages::refused(title, &problems, back)).into_response()
}

/// Every case's review state, read under the store's lock.
struct Snapshot {
    latest: HashMap<String, Review>,
    first_reviewed: HashMap<String, String>,
    holdings: HashMap<String, Holding>,
    now: String,
}

impl Snapshot {
    fn read(store: &ReviewStore) -> Result<Snapshot, Failure> {
        Ok(Snapshot {
            latest: store.latest()?,
            first_reviewed: store.first_reviewed()?,
            holdings: store.holdings()?,
            now: now_utc(),
        })
    }

    fn state<'a>(&'a self, app: &'a View<'a>) -> ReviewState<'a> {
        ReviewState {
            latest: &self.latest,
            first_reviewed: &self.first_reviewed,
            opened: app.opened,
            holdings: &self.holdings,
            now: &self.now,
        }
    }
}

fn lock<'a>(app: &View<'a>) -> std::sync::MutexGuard<'a, ReviewStore> {
    app.reviews.lock().unwrap_or_else(|e| e.into_inner())
}

async fn dashboard(State(app): State<Arc<AppState>>) -> Result<Markup, Failure> {
    blocking(app, |app| {
        let snapshot = Snapshot::read(&lock(app))?;
        Ok(pages::dashboard(app.workbench, &snapshot.state(app)))
    })
    .await
}

async fn queue(
    State(app): State<Arc<AppState>>,
    headers: HeaderMap,
    Query(pairs): Query<Pairs>,
) -> Result<Response, Failure> {
    blocking(app, move |app| {
        let q = match QueueQuery::parse(&pairs, app.workbench, &[]) {
            Ok(q) => q,
            Err(e) => return Ok(bad_query(&e)),
        };
        let snapshot = Snapshot::read(&lock(app))?;
        Ok(pages::queue(app.workbench, &q, &snapshot.state(app), &me(&headers)).into_response())
    })
    .await
}

async fn case(
    State(app): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(case_id): Path<String>,
    Query(pairs): Query<Pairs>,
) -> Result<Response, Failure> {
    blocking(app, move |app| {
        let q = match QueueQuery::parse(&pairs, app.workbench, &timeline::PARAMS) {
            Ok(q) => q,
            Err(e) => return Ok(bad_query(&e)),
        };
        let tl = match TimelineQuery::parse(&pairs) {
            Ok(tl) => tl,
            Err(e) => return Ok(bad_query(&e)),
        };
        render_case(app, &case_id, q, tl, me(&headers), None)
    })
    .await
}

/// Claims the next case of the query for `reviewer`, in one transaction;
/// the case page's address, or None when nothing is left.
fn claim_next(app: &View<'_>, q: &QueueQuery, reviewer: &str) -> Result<Option<String>, Failure> {
    let mut store = lock(app);
    let snapshot = Snapshot::read(&store)?;
    let now = snapshot.now.clone();
    let next = store.claim_next(reviewer, &now, |holdings, reviewed| {
        // The holdings and reviews of the transaction, not of the snapshot.
        let state = ReviewState {
            holdings,
            ..snapshot.state(app)
        };
        queue::next_for(app.workbench, q, &state, reviewed, reviewer)
    })?;
    Ok(next.map(|id| format!("/cases/{id}{}", q.link(0))))
}

async fn next(
    State(app): State<Arc<AppState>>,
    Form(pairs): Form<Pairs>,
) -> Result<Response, Failure> {
    blocking(app, move |app| {
        let q = match QueueQuery::parse(&pairs, app.workbench, &["reviewer"]) {
            Ok(q) => q,
            Err(e) => return Ok(bad_query(&e)),
        };
        let reviewer = field(&pairs, "reviewer");
        let problems = name_problems("reviewer", &reviewer);
        if !problems.is_empty() {
            let back = format!("/queue{}", q.link(0));
            return Ok(refused(
                StatusCode::UNPROCESSABLE_ENTITY,
                "Cannot claim",
                problems,
                &back,
            ));
        }
        Ok(match claim_next(app, &q, reviewer.trim())? {
            Some(to) => see_other_as(&to, &reviewer),
            None => pages::nothing_next(&q).into_response(),
        })
    })
    .await
}

async fn claim(
    state: State<Arc<AppState>>,
    Path(case_id): Path<String>,
    Form(pairs): Form<Pairs>,
) -> Result<Response, Failure> {
    assign(state, case_id, "claim", pairs).await
}

async fn release(
    state: State<Arc<AppState>>,
    Path(case_id): Path<String>,
    Form(pairs): Form<Pairs>,
) -> Result<Response, Failure> {
    assign(state, case_id, "release", pairs).await
}

async fn handoff(
    state: State<Arc<AppState>>,
    Path(case_id): Path<String>,
    Form(pairs): Form<Pairs>,
) -> Result<Response, Failure> {
    assign(state, case_id, "handoff", pairs).await
}

/// A claim, release or handoff: 303 to the case page, or the problem.
async fn assign(
    State(app): State<Arc<AppState>>,
    case_id: String,
    action: &'static str,
    pairs: Pairs,
) -> Result<Response, Failure> {
    blocking(app, move |app| {
        if app.workbench.case(&case_id).is_none() {
            return Ok(not_found(&format!("There is no case `{case_id}`.")));
        }
        let q = match QueueQuery::parse(&pairs, app.workbench, &["reviewer", "to", "team", "note"])
        {
            Ok(q) => q,
            Err(e) => return Ok(bad_query(&e)),
        };
        let back = format!("/cases/{case_id}{}", q.link(0));
        let reviewer = field(&pairs, "reviewer");
        let note = field(&pairs, "note");
        let mut problems = name_problems("reviewer", &reviewer);
        problems.extend(notes_problems(&note));
        let (to, team) = (field(&pairs, "to"), field(&pairs, "team"));
        let recipient = match (action, to.trim().is_empty(), team.is_empty()) {
            ("handoff", false, true) => {
                problems.extend(name_problems("to", &to));
                Some(Recipient::Reviewer(to.trim().to_string()))
            }
            ("handoff", true, false) if LABELS.contains(&team.as_str()) => {
                Some(Recipient::Team(team.clone()))
            }
            ("handoff", true, false) => {
                problems.push(format!(
                    "team `{team}` is not a routing label; team must be one of {}",
                    LABELS.join(", ")
                ));
                None
            }
            ("handoff", _, _) => {
                problems
                    .push("a handoff names a reviewer (to) or a team, not both or neither".into());
                None
            }
            _ => None,
        };
        if !problems.is_empty() {
            return Ok(refused(
                StatusCode::UNPROCESSABLE_ENTITY,
                "Not saved",
                problems,
                &back,
            ));
        }
        let reviewer = reviewer.trim();
        let now = now_utc();
        let mut store = lock(app);
        let store_path = store.path().to_string();
        let done = match (action, recipient) {
            ("claim", _) => store.claim(&case_id, reviewer, &now),
            ("release", _) => store.release(&case_id, reviewer, note.trim(), &now),
            (_, Some(to)) => store.handoff(&case_id, reviewer, &to, note.trim(), &now),
            _ => unreachable!("a handoff without a recipient has a problem"),
        };
        drop(store);
        match done {
            Ok(_) => Ok(see_other_as(&format!("{back}#claim"), reviewer)),
            Err(Refused::HeldBy(h)) => Ok(refused(
                StatusCode::CONFLICT,
                "Claimed by another reviewer",
                vec![format!(
                    "{case_id} is claimed by {} since {}; only they can release or hand it off",
                    h.assignee, h.since
                )],
                &back,
            )),
            Err(Refused::NotHeld) => Ok(refused(
                StatusCode::CONFLICT,
                "Not claimed",
                vec![format!(
                    "{case_id} is not claimed by anyone: nothing to release"
                )],
                &back,
            )),
            // What the analyst typed comes back in a form that sends it again.
            Err(Refused::Db(e)) if is_disk_full(&e) => Ok((
                StatusCode::INSUFFICIENT_STORAGE,
                pages::resend(
                    "Not saved",
                    &[format!(
                        "not saved: the disk holding `{store_path}` is full ({e}); your {action} is still in the form below: free some space and send it again"
                    )],
                    &format!("/cases/{case_id}/{action}"),
                    &pairs,
                    &back,
                ),
            )
                .into_response()),
            Err(Refused::Db(e)) => Err(e.into()),
        }
    })
    .await
}

/// What a review of `case_id` is made against: its row in the current
/// build, and that build.
fn evidence(app: &View<'_>, case_id: &str) -> Evidence {
    Evidence {
        case_hash: app
            .workbench
            .case(case_id)
            .map(|c| c.row_hash.clone())
            .unwrap_or_default(),
        build_hash: app.workbench.build.clone(),
    }
}

/// The problem with deciding a case someone else holds, if it is held.
fn held_by_other(
    store: &ReviewStore,
    case_id: &str,
    reviewer: &str,
) -> Result<Option<String>, Failure> {
    Ok(store
        .holding(case_id)?
        .filter(|h| !h.assignee.is_empty() && h.assignee != reviewer.trim())
        .map(|h| {
            format!(
                "{case_id} is claimed by {} since {}; ask them to release it or hand it off",
                h.assignee, h.since
            )
        }))
}

async fn review(
    State(app): State<Arc<AppState>>,
    Path(case_id): Path<String>,
    Form(pairs): Form<Pairs>,
) -> Result<Response, Failure> {
    blocking(app, move |app| {
        if app.workbench.case(&case_id).is_none() {
            return Ok(not_found(&format!("There is no case `{case_id}`.")));
        }
        let q = match QueueQuery::parse(
            &pairs,
            app.workbench,
            &["disposition", "reviewer", "notes", "then"],
        ) {
            Ok(q) => q,
            Err(e) => return Ok(bad_query(&e)),
        };
        let form = ReviewForm {
            disposition: field(&pairs, "disposition"),
            reviewer: field(&pairs, "reviewer"),
            notes: field(&pairs, "notes"),
        };
        let mut problems = form.problems();
        let mut disk_full = false;
        if problems.is_empty() {
            let store = lock(app);
            problems.extend(held_by_other(&store, &case_id, &form.reviewer)?);
            if problems.is_empty() {
                match store.record(&case_id, &form, &now_utc(), &evidence(app, &case_id)) {
                    Ok(_) => {}
                    // The analyst's notes are not lost: the page comes back
                    // with the form as sent.
                    Err(e) if is_disk_full(&e) => {
                        disk_full = true;
                        problems.push(format!(
                            "not saved: the disk holding `{}` is full ({e}); your review is still in the form below: free some space and submit it again",
                            store.path()
                        ));
                    }
                    Err(e) => return Err(e.into()),
                }
            }
        }
        if !problems.is_empty() {
            let me = form.reviewer.clone();
            let tl = TimelineQuery::parse(&[]).expect("no parameters, no problem");
            let mut page = render_case(app, &case_id, q, tl, me, Some((form, problems)))?;
            if disk_full {
                *page.status_mut() = StatusCode::INSUFFICIENT_STORAGE;
            }
            return Ok(page);
        }
        let reviewer = form.reviewer.trim();
        if field(&pairs, "then") == "next" {
            return Ok(match claim_next(app, &q, reviewer)? {
                Some(to) => see_other_as(&to, reviewer),
                None => pages::nothing_next(&q).into_response(),
            });
        }
        // Post/redirect/get (303): a reload does not file the review twice.
        Ok(see_other_as(
            &format!("/cases/{case_id}{}#audit", q.link(0)),
            reviewer,
        ))
    })
    .await
}

/// Bulk disposition of the selected rows: a confirmation page naming how
/// many cases it touches, then (with `confirm=yes`) one decision per case.
async fn bulk(
    State(app): State<Arc<AppState>>,
    Form(pairs): Form<Pairs>,
) -> Result<Response, Failure> {
    blocking(app, move |app| {
        let q = match QueueQuery::parse(
            &pairs,
            app.workbench,
            &["case", "disposition", "reviewer", "notes", "confirm"],
        ) {
            Ok(q) => q,
            Err(e) => return Ok(bad_query(&e)),
        };
        let back = format!("/queue{}", q.link(0));
        let mut cases: Vec<String> = Vec::new();
        for (k, v) in &pairs {
            if k == "case" && !cases.contains(v) {
                cases.push(v.clone());
            }
        }
        let form = ReviewForm {
            disposition: field(&pairs, "disposition"),
            reviewer: field(&pairs, "reviewer"),
            notes: field(&pairs, "notes"),
        };
        let mut problems = form.problems();
        if cases.is_empty() {
            problems.push("no case is selected: tick the rows to decide".to_string());
        }
        for c in &cases {
            if app.workbench.case(c).is_none() {
                problems.push(format!("there is no case `{c}`"));
            }
        }
        let mut store = lock(app);
        for c in &cases {
            problems.extend(held_by_other(&store, c, &form.reviewer)?);
        }
        if !problems.is_empty() {
            drop(store);
            return Ok(refused(
                StatusCode::UNPROCESSABLE_ENTITY,
                "Bulk disposition not saved",
                problems,
                &back,
            ));
        }
        if field(&pairs, "confirm") != "yes" {
            return Ok(pages::confirm_bulk(&q, &cases, &form, &[]).into_response());
        }
        let cases: Vec<(String, Evidence)> = cases
            .into_iter()
            .map(|c| {
                let e = evidence(app, &c);
                (c, e)
            })
            .collect();
        match store.record_all(&cases, &form, &now_utc()) {
            Ok(_) => {}
            // None of them is saved (one transaction); the page comes back
            // with the form as sent.
            Err(e) if is_disk_full(&e) => {
                let problem = format!(
                    "not saved: the disk holding `{}` is full ({e}); none of the decisions is recorded: free some space and record them again",
                    store.path()
                );
                let ids: Vec<String> = cases.into_iter().map(|(c, _)| c).collect();
                let page = pages::confirm_bulk(&q, &ids, &form, &[problem]);
                return Ok((StatusCode::INSUFFICIENT_STORAGE, page).into_response());
            }
            Err(e) => return Err(e.into()),
        }
        drop(store);
        Ok(see_other_as(&back, &form.reviewer))
    })
    .await
}

/// A response body fed chunk by chunk from a channel (each chunk wrapped
/// in a one-frame `Body`).
struct ChannelBody {
    chunks: tokio::sync::mpsc::Receiver<Vec<u8>>,
    current: Option<axum::body::Body>,
}

impl axum::body::HttpBody for ChannelBody {
    type Data = axum::body::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        use std::task::Poll;
        loop {
            if let Some(body) = self.current.as_mut() {
                match std::pin::Pin::new(body).poll_frame(cx) {
                    Poll::Ready(None) => self.current = None,
                    other => return other,
                }
            }
            match self.chunks.poll_recv(cx) {
                Poll::Ready(Some(chunk)) => self.current = Some(axum::body::Body::from(chunk)),
                Poll::Ready(None) => return Poll::Ready(None),
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

/// Writes into the channel in 64 KiB chunks.
struct ChunkWriter {
    buf: Vec<u8>,
    tx: tokio::sync::mpsc::Sender<Vec<u8>>,
}

impl std::io::Write for ChunkWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= 64 * 1024 {
            self.flush()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if !self.buf.is_empty() {
            let chunk = std::mem::take(&mut self.buf);
            self.tx
                .blocking_send(chunk)
                .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "client gone"))?;
        }
        Ok(())
    }
}

/// `/export/decisions.csv`: every audit entry, streamed from its own
/// connection (a long download never holds up the reviewers' saves).
async fn export_decisions(State(app): State<Arc<AppState>>) -> Response {
    let (tx, rx) = tokio::sync::mpsc::channel(8);
    let path = app.review_db.clone();
    tokio::task::spawn_blocking(move || {
        let mut out = ChunkWriter {
            buf: Vec::new(),
            tx,
        };
        // Errors after the first byte can only cut the download short.
        if let Ok(mut store) = ReviewStore::open(&path) {
            let _ = export::write_csv(&mut store, &mut out);
        }
        let _ = std::io::Write::flush(&mut out);
    });
    let body = axum::body::Body::new(ChannelBody {
        chunks: rx,
        current: None,
    });
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"decisions.csv\"",
            ),
        ],
        body,
    )
        .into_response()
}

/// The case page; a rejected submission is shown again, with a 422.
fn render_case(
    app: &View<'_>,
    case_id: &str,
    query: QueueQuery,
    tl: TimelineQuery,
    me: String,
    rejected: Option<(ReviewForm, Vec<String>)>,
) -> Result<Response, Failure> {
    let wb = app.workbench;
    let Some(case) = wb.case(case_id) else {
        // A case of an earlier build keeps its history, and says so.
        let trail = lock(app).trail(case_id)?;
        if trail.is_empty() {
            return Ok(not_found(&format!("There is no case `{case_id}`.")));
        }
        return Ok(pages::missing_case(case_id, &wb.build, &trail).into_response());
    };
    let mut timeline = wb.timeline(&case.user_id)?;
    let (history, trail, holding) = {
        let store = lock(app);
        (
            store.history(case_id)?,
            store.trail(case_id)?,
            store.holding(case_id)?,
        )
    };
    // The workbench's own entries join the build's, in time order.
    timeline.extend(trail.iter().map(|e| match e {
        AuditEntry::Decision(r) => Moment {
            ts: r.reviewed_at.clone(),
            kind: "review",
            what: format!("reviewed: {}", r.disposition),
            detail: format!("by {} {}", r.reviewer, r.notes),
            flagged: false,
        },
        AuditEntry::Assignment(a) => Moment {
            ts: a.at.clone(),
            kind: "review",
            what: a.action.clone(),
            detail: format!("by {} {}", a.actor, a.note),
            flagged: false,
        },
    }));
    timeline.sort_by(|a, b| a.ts.cmp(&b.ts));
    let status = if rejected.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let view = CaseView {
        case,
        account: wb.account(&case.user_id)?,
        timeline,
        tl,
        hits: wb.hits(&case.user_id),
        history,
        trail,
        holding,
        opened_at: app.opened.get(case_id).cloned(),
        query,
        me,
        rejected,
    };
    Ok((status, pages::case_page(wb, &view, &now_utc())).into_response())
}

async fn js() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        JS,
    )
}

/// `/entities/{device,ip,payment}/{id}`: every account that used it.
async fn entity(
    State(app): State<Arc<AppState>>,
    Path((kind, id)): Path<(String, String)>,
) -> Result<Response, Failure> {
    blocking(app, move |app| {
        if !ENTITY_KINDS.iter().any(|(k, _)| *k == kind) {
            let kinds: Vec<&str> = ENTITY_KINDS.iter().map(|(k, _)| *k).collect();
            return Ok(not_found(&format!(
                "No entity kind `{kind}`: the workbench has pages for {}.",
                kinds.join(", ")
            )));
        }
        let uses = app.workbench.uses(&kind, &id)?;
        if uses.is_empty() {
            return Ok(not_found(&format!(
                "No account used {kind} `{id}` in this build."
            )));
        }
        let snapshot = Snapshot::read(&lock(app))?;
        Ok(
            pages::entity_page(app.workbench, &kind, &id, &uses, &snapshot.state(app))
                .into_response(),
        )
    })
    .await
}

async fn css() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        CSS,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use std::sync::atomic::{AtomicBool, Ordering};
    use tower::ServiceExt;

    /// The guard of a server bound to `bound`, around a route that records
    /// whether it ran.
    fn guarded(bound: &str, ran: Arc<AtomicBool>) -> Router {
        let hosts = AllowedHosts::for_listener(bound.parse().unwrap());
        Router::new()
            .route(
                "/",
                get(|| async { "page" }).post(move || async move {
                    ran.store(true, Ordering::SeqCst);
                    "saved"
                }),
            )
            .layer(middleware::from_fn_with_state(Arc::new(hosts), guard))
    }

    fn request(method: &str, headers: &[(&str, &str)]) -> Request {
        let mut builder = Request::builder().method(method).uri("/");
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        builder.body(Body::empty()).unwrap()
    }

    /// The status a server on 127.0.0.1:8080 answers, and whether the
    /// handler ran.
    async fn send(method: &str, headers: &[(&str, &str)]) -> (StatusCode, bool, Response) {
        let ran = Arc::new(AtomicBool::new(false));
        let response = guarded("127.0.0.1:8080", ran.clone())
            .oneshot(request(method, headers))
            .await
            .unwrap();
        (response.status(), ran.load(Ordering::SeqCst), response)
    }

    const HOST: (&str, &str) = ("host", "127.0.0.1:8080");
    const ORIGIN: (&str, &str) = ("origin", "http://127.0.0.1:8080");

    #[tokio::test]
    async fn every_response_is_locked_down_and_foreign_posts_never_reach_a_handler() {
        let (status, _, page) = send("GET", &[HOST]).await;
        assert_eq!(status, StatusCode::OK);
        let csp = page.headers()[header::CONTENT_SECURITY_POLICY]
            .to_str()
            .unwrap();
        assert!(csp.starts_with("default-src 'none'"), "{csp}");
        assert_eq!(page.headers()[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
        assert_eq!(page.headers()[header::REFERRER_POLICY], "same-origin");

        let (status, ran, refused) = send("POST", &[HOST, ("origin", "http://evil.example")]).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert!(!ran);
        // Refusals are locked down too.
        assert_eq!(refused.headers()[header::X_CONTENT_TYPE_OPTIONS], "nosniff");

        let (status, ran, _) = send("POST", &[HOST, ORIGIN]).await;
        assert_eq!(status, StatusCode::OK);
        assert!(ran);
    }

    /// DNS rebinding: a request naming another host gets a 421 on GET and
    /// POST alike, even with an Origin that matches it. Issue 10, item 20.
    #[tokio::test]
    async fn a_foreign_host_is_misdirected_on_every_method() {
        for headers in [
            vec![("host", "evil.example:8080")],
            vec![
                ("host", "evil.example:8080"),
                ("origin", "http://evil.example:8080"),
            ],
            vec![("host", "127.0.0.1:9999")],
            vec![("host", "127.0.0.1")],
            vec![],
        ] {
            for method in ["GET", "POST"] {
                let (status, ran, response) = send(method, &headers).await;
                assert_eq!(
                    status,
                    StatusCode::MISDIRECTED_REQUEST,
                    "{method} {headers:?}"
                );
                assert!(!ran);
                let body = axum::body::to_bytes(response.into_body(), 4096)
                    .await
                    .unwrap();
                let body = String::from_utf8_lossy(&body);
                assert!(
                    body.contains("answers only to 127.0.0.1:8080, localhost:8080, [::1]:8080"),
                    "{body}"
                );
            }
        }
        for host in ["127.0.0.1:8080", "localhost:8080", "[::1]:8080"] {
            let (status, _, _) = send("GET", &[("host", host)]).await;
            assert_eq!(status, StatusCode::OK, "{host}");
        }
        // An absolute-form request line with a foreign host.
        let ran = Arc::new(AtomicBool::new(false));
        let absolute = Request::builder()
            .uri("http://evil.example:8080/")
            .header("host", "127.0.0.1:8080")
            .body(Body::empty())
            .unwrap();
        let response = guarded("127.0.0.1:8080", ran)
            .oneshot(absolute)
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::MISDIRECTED_REQUEST);
    }

    /// A bound address other than loopback is answered too.
    #[tokio::test]
    async fn the_bound_address_is_answered() {
        let ran = Arc::new(AtomicBool::new(false));
        for (host, expected) in [
            ("192.168.1.5:8080", StatusCode::OK),
            ("localhost:8080", StatusCode::OK),
            ("evil.example:8080", StatusCode::MISDIRECTED_REQUEST),
        ] {
            let response = guarded("192.168.1.5:8080", ran.clone())
                .oneshot(request("GET", &[("host", host)]))
                .await
                .unwrap();
            assert_eq!(response.status(), expected, "{host}");
        }
    }

    /// Which POSTs on the right Host reach the handler: each header
    /// combination a browser or a script sends. Issue 10, item 20.
    #[tokio::test]
    async fn posts_must_come_from_a_page_of_this_server() {
        let ok = StatusCode::OK;
        let refused = StatusCode::FORBIDDEN;
        for (headers, expected) in [
            (vec![HOST, ORIGIN], ok),
            (
                vec![
                    ("host", "LOCALHOST:8080"),
                    ("origin", "http://localhost:8080"),
                ],
                ok,
            ),
            (vec![HOST, ORIGIN, ("sec-fetch-site", "same-origin")], ok),
            (
                vec![HOST, ORIGIN, ("referer", "http://127.0.0.1:8080/cases/c_1")],
                ok,
            ),
            (vec![HOST, ("sec-fetch-site", "same-origin")], ok),
            (vec![HOST, ("sec-fetch-site", "none")], ok),
            // No Origin and nothing else that vouches for the request.
            (vec![HOST], refused),
            (
                vec![HOST, ("referer", "http://127.0.0.1:8080/cases/c_1")],
                refused,
            ),
            (vec![HOST, ("sec-fetch-site", "cross-site")], refused),
            (vec![HOST, ("sec-fetch-site", "same-site")], refused),
            // Another origin, an opaque one, another port or scheme.
            (vec![HOST, ("origin", "http://evil.example")], refused),
            (vec![HOST, ("origin", "null")], refused),
            (vec![HOST, ("origin", "http://127.0.0.1:3000")], refused),
            (vec![HOST, ("origin", "https://127.0.0.1:8080")], refused),
            (vec![HOST, ("origin", "http://localhost:8080")], refused),
            (
                vec![HOST, ORIGIN, ("sec-fetch-site", "cross-site")],
                refused,
            ),
            // A foreign or unreadable Referer.
            (
                vec![HOST, ORIGIN, ("referer", "http://evil.example/x")],
                refused,
            ),
            (
                vec![HOST, ORIGIN, ("referer", "http://127.0.0.1:3000/")],
                refused,
            ),
            (vec![HOST, ORIGIN, ("referer", "not a url")], refused),
            (
                vec![
                    HOST,
                    ("sec-fetch-site", "same-origin"),
                    ("referer", "http://evil.example/"),
                ],
                refused,
            ),
        ] {
            let (status, ran, _) = send("POST", &headers).await;
            assert_eq!(status, expected, "{headers:?}");
            assert_eq!(ran, expected == ok, "{headers:?}");
        }
    }
}
