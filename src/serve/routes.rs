//! HTTP routes of the workbench.
//!
//! Handlers run their SQLite work on the blocking pool. Every response gets a
//! strict Content-Security-Policy (the pages have no scripts), and a POST
//! whose Origin is not this server is refused, so another site open in the
//! analyst's browser cannot file reviews.

use axum::extract::{Form, Path, Query, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;
use maud::Markup;
use std::sync::Arc;

use super::pages::{self, CaseView, QueueFilter, ReviewState};
use super::review::ReviewForm;
use super::sla::now_utc;
use super::AppState;

const CSS: &str = include_str!("workbench.css");

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/", get(dashboard))
        .route("/queue", get(queue))
        .route("/cases/{case_id}", get(case))
        .route("/cases/{case_id}/review", axum::routing::post(review))
        .route("/static/workbench.css", get(css))
        .fallback(|| async { not_found("No such page.") })
        .layer(middleware::from_fn(guard))
        .with_state(Arc::new(state))
}

/// Refuses cross-site POSTs and sets the security headers on every response.
async fn guard(request: Request, next: Next) -> Response {
    if request.method() == axum::http::Method::POST && !same_origin(request.headers()) {
        return (StatusCode::FORBIDDEN, "cross-origin request refused").into_response();
    }
    let mut response = next.run(request).await;
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

/// A POST from a page of this server: its Origin (sent by every current
/// browser on a form POST) names the Host it was sent to. Requests without
/// an Origin (curl, scripts on this machine) are let through.
fn same_origin(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return true;
    };
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    let origin_host = origin.to_str().ok().and_then(|o| o.strip_prefix("http://"));
    matches!((origin_host, host), (Some(o), Some(h)) if o == h)
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
    use tower::ServiceExt;

    /// The guard around a route that records whether it ran.
    fn guarded(ran: Arc<std::sync::atomic::AtomicBool>) -> Router {
        Router::new()
            .route(
                "/",
                get(|| async { "page" }).post(move || async move {
                    ran.store(true, std::sync::atomic::Ordering::SeqCst);
                    "saved"
                }),
            )
            .layer(middleware::from_fn(guard))
    }

    fn request(method: &str, origin: Option<&str>) -> Request {
        let mut builder = Request::builder()
            .method(method)
            .uri("/")
            .header(header::HOST, "127.0.0.1:8080");
        if let Some(origin) = origin {
            builder = builder.header(header::ORIGIN, origin);
        }
        builder.body(Body::empty()).unwrap()
    }

    #[tokio::test]
    async fn every_response_is_locked_down_and_foreign_posts_never_reach_a_handler() {
        let ran = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let page = guarded(ran.clone())
            .oneshot(request("GET", None))
            .await
            .unwrap();
        assert_eq!(page.status(), StatusCode::OK);
        let csp = page.headers()[header::CONTENT_SECURITY_POLICY]
            .to_str()
            .unwrap();
        assert!(csp.starts_with("default-src 'none'"), "{csp}");
        assert_eq!(page.headers()[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
        assert_eq!(page.headers()[header::REFERRER_POLICY], "same-origin");

        let foreign = guarded(ran.clone())
            .oneshot(request("POST", Some("http://evil.example")))
            .await
            .unwrap();
        assert_eq!(foreign.status(), StatusCode::FORBIDDEN);
        assert!(!ran.load(std::sync::atomic::Ordering::SeqCst));

        let ours = guarded(ran.clone())
            .oneshot(request("POST", Some("http://127.0.0.1:8080")))
            .await
            .unwrap();
        assert_eq!(ours.status(), StatusCode::OK);
        assert!(ran.load(std::sync::atomic::Ordering::SeqCst));
    }

    fn headers(pairs: &[(header::HeaderName, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(name.clone(), HeaderValue::from_str(value).unwrap());
        }
        map
    }

    #[test]
    fn posts_from_other_sites_are_refused() {
        let ours = headers(&[
            (header::HOST, "127.0.0.1:8080"),
            (header::ORIGIN, "http://127.0.0.1:8080"),
        ]);
        assert!(same_origin(&ours));
        let theirs = headers(&[
            (header::HOST, "127.0.0.1:8080"),
            (header::ORIGIN, "http://evil.example"),
        ]);
        assert!(!same_origin(&theirs));
        let opaque = headers(&[(header::HOST, "127.0.0.1:8080"), (header::ORIGIN, "null")]);
        assert!(!same_origin(&opaque));
        assert!(same_origin(&headers(&[(header::HOST, "127.0.0.1:8080")])));
    }
}
