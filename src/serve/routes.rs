//! HTTP routes of the workbench.
//!
//! Handlers run their SQLite work on the blocking pool. Every response gets a
//! strict Content-Security-Policy (the pages have no scripts). Before any
//! handler runs, the guard refuses a request whose Host is not this server
//! (421: DNS rebinding, see `allowed_hosts`) and a POST that does not come
//! from one of this server's own pages (403), so another site open in the
//! analyst's browser can neither read cases nor file reviews.

use axum::extract::{Form, Path, Query, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;
use maud::Markup;
use std::sync::Arc;

use super::allowed_hosts::AllowedHosts;
use super::pages::{self, CaseView, QueueFilter, ReviewState};
use super::review::ReviewForm;
use super::sla::now_utc;
use super::AppState;

const CSS: &str = include_str!("workbench.css");

pub fn router(state: AppState, hosts: AllowedHosts) -> Router {
    Router::new()
        .route("/", get(dashboard))
        .route("/queue", get(queue))
        .route("/cases/{case_id}", get(case))
        .route("/cases/{case_id}/review", axum::routing::post(review))
        .route("/static/workbench.css", get(css))
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
            "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
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

/// An internal failure (the database went away): a 500 naming it.
struct Failure(String);

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        (StatusCode::INTERNAL_SERVER_ERROR, self.0).into_response()
    }
}

impl From<rusqlite::Error> for Failure {
    fn from(e: rusqlite::Error) -> Failure {
        Failure(format!("database error: {e}"))
    }
}

/// Runs `work` on the blocking pool with the app state.
async fn blocking<T: Send + 'static>(
    state: Arc<AppState>,
    work: impl FnOnce(&AppState) -> Result<T, Failure> + Send + 'static,
) -> Result<T, Failure> {
    tokio::task::spawn_blocking(move || work(&state))
        .await
        .map_err(|e| Failure(format!("request failed: {e}")))?
}

fn not_found(what: &str) -> Response {
    (StatusCode::NOT_FOUND, pages::not_found(what)).into_response()
}

/// Renders a page that needs every case's review state.
fn with_review_state(
    app: &AppState,
    render: impl FnOnce(&ReviewState) -> Markup,
) -> Result<Markup, Failure> {
    let (latest, first_reviewed) = {
        let store = app.reviews.lock().unwrap_or_else(|e| e.into_inner());
        (store.latest()?, store.first_reviewed()?)
    };
    let now = now_utc();
    Ok(render(&ReviewState {
        latest: &latest,
        first_reviewed: &first_reviewed,
        opened: &app.opened,
        now: &now,
    }))
}

async fn dashboard(State(app): State<Arc<AppState>>) -> Result<Markup, Failure> {
    blocking(app, |app| {
        with_review_state(app, |s| pages::dashboard(&app.workbench, s))
    })
    .await
}

async fn queue(
    State(app): State<Arc<AppState>>,
    Query(filter): Query<QueueFilter>,
) -> Result<Markup, Failure> {
    blocking(app, move |app| {
        with_review_state(app, |s| pages::queue(&app.workbench, &filter, s))
    })
    .await
}

async fn case(
    State(app): State<Arc<AppState>>,
    Path(case_id): Path<String>,
) -> Result<Response, Failure> {
    blocking(app, move |app| render_case(app, &case_id, None)).await
}

async fn review(
    State(app): State<Arc<AppState>>,
    Path(case_id): Path<String>,
    Form(form): Form<ReviewForm>,
) -> Result<Response, Failure> {
    blocking(app, move |app| {
        if app.workbench.case(&case_id).is_none() {
            return Ok(not_found(&format!("There is no case `{case_id}`.")));
        }
        let problems = form.problems();
        if !problems.is_empty() {
            return render_case(app, &case_id, Some((form, problems)));
        }
        let store = app.reviews.lock().unwrap_or_else(|e| e.into_inner());
        store.record(&case_id, &form, &now_utc())?;
        // Post/redirect/get (303): a reload does not file the review twice.
        Ok(Redirect::to(&format!("/cases/{case_id}#audit")).into_response())
    })
    .await
}

/// The case page; a rejected submission is shown again, with a 422.
fn render_case(
    app: &AppState,
    case_id: &str,
    rejected: Option<(ReviewForm, Vec<String>)>,
) -> Result<Response, Failure> {
    let wb = &app.workbench;
    let Some(case) = wb.case(case_id) else {
        return Ok(not_found(&format!("There is no case `{case_id}`.")));
    };
    let (timeline, total_events) = wb.timeline(&case.user_id)?;
    let history = {
        let store = app.reviews.lock().unwrap_or_else(|e| e.into_inner());
        store.history(case_id)?
    };
    let status = if rejected.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let view = CaseView {
        case,
        account: wb.account(&case.user_id)?,
        timeline,
        total_events,
        hits: wb.hits(&case.user_id),
        history,
        opened_at: app.opened.get(case_id).cloned(),
        rejected,
    };
    Ok((status, pages::case_page(wb, &view, &now_utc())).into_response())
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
