//! The router's routes and pages: the workflow endpoints (a WebSocket upgrade, or a
//! readable 426 page naming the URL to register), `/healthz`, the index page on `/`, and the
//! 404 for unknown paths.

use super::admit::Denied;
use super::{App, Route, SDK, SECRET_HEADER, SECRET_PARAM};
use crate::session;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use hyper_util::rt::TokioIo;
use std::sync::Arc;
use tracing::{info, warn, Instrument};

/// The `Sec-WebSocket-Key` of a well-formed WebSocket upgrade request (RFC 6455 §4.2.1).
fn websocket_key(request: &Request) -> Option<&HeaderValue> {
    let headers = request.headers();
    let has_token = |name: header::HeaderName, token: &str| {
        headers.get_all(name).iter().any(|value| {
            value
                .to_str()
                .is_ok_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
        })
    };
    let ok = request.method() == Method::GET
        && request.version() == axum::http::Version::HTTP_11
        && has_token(header::CONNECTION, "upgrade")
        && has_token(header::UPGRADE, "websocket")
        && headers
            .get(header::SEC_WEBSOCKET_VERSION)
            .is_some_and(|v| v == "13");
    if !ok {
        return None;
    }
    headers
        .get(header::SEC_WEBSOCKET_KEY)
        .filter(|key| !key.is_empty())
}

pub(super) async fn endpoint(
    State(app): State<Arc<App>>,
    route: Arc<Route>,
    mut request: Request,
) -> Response {
    let Some(key) = websocket_key(&request) else {
        if request.method() == Method::GET || request.method() == Method::HEAD {
            return upgrade_required(&route.path, request.headers(), app.secret.is_some());
        }
        return (
            StatusCode::METHOD_NOT_ALLOWED,
            [(header::ALLOW, "GET")],
            "A Relay workflow endpoint accepts only a WebSocket upgrade (GET).\n",
        )
            .into_response();
    };
    let accept = crate::ws::accept_key(key.as_bytes());
    let secret_header = request
        .headers()
        .get(SECRET_HEADER)
        .map(HeaderValue::as_bytes);
    let slot = match app.admit(secret_header, request.uri().query()) {
        Ok(slot) => slot,
        Err(why) => return refused(&app, &route.path, why),
    };
    let ctx = app.session_context(&route, app.handle.force_close.child_token());
    let workflow = route.workflow.clone();
    let upgrade = hyper::upgrade::on(&mut request);
    drop(request);
    let tracker = &app.handle.tracker;
    tracker.spawn(Instrument::in_current_span(async move {
        let upgraded = match upgrade.await {
            Ok(upgraded) => upgraded,
            Err(e) => {
                warn!("WebSocket upgrade failed: {e}");
                return;
            }
        };
        // The plain TCP connection (Heroku's router terminates TLS) is used directly;
        // anything else (TLS served here, another server) through hyper's wrapper.
        match upgraded.downcast::<TokioIo<tokio::net::TcpStream>>() {
            Ok(parts) => {
                // Bytes the client sent behind its request (usually none); copied, so that
                // hyper's read buffer is freed now rather than held for the session.
                let early = parts.read_buf.to_vec();
                let tcp = parts.io.into_inner();
                drop(parts.read_buf);
                session::run(tcp, early, workflow, ctx, slot).await;
            }
            Err(upgraded) => {
                // Boxed: the common case above keeps a smaller task.
                Box::pin(session::run(
                    TokioIo::new(upgraded),
                    Vec::new(),
                    workflow,
                    ctx,
                    slot,
                ))
                .await;
            }
        }
    }));
    Response::builder()
        .status(StatusCode::SWITCHING_PROTOCOLS)
        .header(header::CONNECTION, "upgrade")
        .header(header::UPGRADE, "websocket")
        .header(header::SEC_WEBSOCKET_ACCEPT, accept)
        .body(Body::empty())
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

/// The answer to an upgrade [`admit`](super::App::admit) refused, and its log line (one per
/// reason every 10 s at most).
fn refused(app: &App, path: &Arc<str>, why: Denied) -> Response {
    let path = path.clone();
    match why {
        Denied::NoSecret | Denied::WrongSecret => {
            let problem = if why == Denied::NoSecret {
                "no secret"
            } else {
                "a wrong secret"
            };
            app.refusals.note(why.refusal(), move |n| warn!(
                "refused a WebSocket upgrade on /{path} with 401: {problem} (the registered URL must end in ?{SECRET_PARAM}=<WORKFLOW_SECRET>){n}"
            ));
            (
                StatusCode::UNAUTHORIZED,
                [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                "This workflow needs its secret: register the URL with ?secret=<WORKFLOW_SECRET> at the end.\n",
            )
                .into_response()
        }
        Denied::ShuttingDown => {
            app.refusals.note(why.refusal(), move |n| {
                info!("refused a WebSocket upgrade on /{path} with 503: shutting down{n}")
            });
            (
                StatusCode::SERVICE_UNAVAILABLE,
                [(header::RETRY_AFTER, "5")],
                "This server is shutting down; Relay will retry on another dyno.\n",
            )
                .into_response()
        }
        Denied::AtCapacity => {
            let max = app.max_sessions;
            app.refusals.note(why.refusal(), move |n| {
                warn!("refused a WebSocket upgrade on /{path} with 503: already {max} sessions (MAX_SESSIONS){n}")
            });
            (
                StatusCode::SERVICE_UNAVAILABLE,
                [(header::RETRY_AFTER, "5")],
                "This server has as many sessions as it may (MAX_SESSIONS); try again later.\n",
            )
                .into_response()
        }
    }
}

fn upgrade_required(path: &str, headers: &HeaderMap, secret: bool) -> Response {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("<your-app-host>");
    let local =
        host.starts_with("localhost") || host.starts_with("127.") || host.starts_with("[::1]");
    let query = if secret {
        "?secret=<WORKFLOW_SECRET>"
    } else {
        ""
    };
    let mut body = format!(
        "This is a Relay workflow endpoint: it speaks WebSocket, not plain HTTP.\n\
         Relay connects here when the workflow is triggered.\n\n\
         Register this URL with Relay:\n\n    wss://{host}/{path}{query}\n\n\
         for example:\n\n    relay workflow:create:phrase --name my-workflow --trigger \"hello\" \\\n        --uri 'wss://{host}/{path}{query}' --install-all\n\n\
         (Opening this page also wakes a sleeping dyno.)\n"
    );
    if secret {
        body.push_str(
            "\nThis server requires a shared secret: replace <WORKFLOW_SECRET> with its value\n\
             (on Heroku: heroku config:get WORKFLOW_SECRET). Connections without it get 401.\n",
        );
    }
    if local {
        body.push_str(&format!(
            "\nThis looks like a local run: try it with the simulator:\n\n    relay-sim 'ws://{host}/{path}{query}' --say Alice\n"
        ));
    }
    (
        StatusCode::UPGRADE_REQUIRED,
        [
            (header::UPGRADE, "websocket"),
            (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
        ],
        body,
    )
        .into_response()
}

pub(super) async fn health(State(app): State<Arc<App>>) -> Json<serde_json::Value> {
    Json(serde_json::json!({
        "status": if app.handle.is_shutting_down() { "shutting down" } else { "ok" },
        "version": app.version,
        "sdk": SDK,
        "workflows": app.paths,
        "sessions": app.handle.live_sessions(),
        "connecting": app.connecting.len(),
        "buffered_bytes": app.budget.used(),
        "buffer_budget": app.budget.limit(),
        "secret": if app.secret.is_some() { "required" } else { "not set" },
    }))
}

/// The index page on `/` when no default workflow is registered. A WebSocket upgrade there
/// is not a browser: it gets the same 404 as any path without a workflow.
pub(super) async fn index(State(app): State<Arc<App>>, request: Request) -> Response {
    let upgrade = request.headers().get_all(header::UPGRADE).iter().any(|v| {
        v.to_str().is_ok_and(|v| {
            v.split(',')
                .any(|t| t.trim().eq_ignore_ascii_case("websocket"))
        })
    });
    if upgrade {
        return not_found(State(app), request.uri().clone())
            .await
            .into_response();
    }
    let mut body = String::from("Relay workflow server. Workflows (WebSocket endpoints):\n\n");
    for path in &app.paths {
        body.push_str(&format!("    {path}\n"));
    }
    body.push_str("\nHealth: /healthz\n");
    ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], body).into_response()
}

pub(super) async fn not_found(State(app): State<Arc<App>>, uri: Uri) -> impl IntoResponse {
    (
        StatusCode::NOT_FOUND,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        format!(
            "No workflow at {}. This server's workflows: {}\n",
            uri.path(),
            app.paths.join(", ")
        ),
    )
}
