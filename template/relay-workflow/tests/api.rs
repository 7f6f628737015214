//! The Relay HTTP API client against a local axum server that plays both the auth server and
//! the API, recording every request so the tests can assert its exact shape.
#![cfg(feature = "api")]

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::IntoResponse;
use axum::Router;
use relay_workflow::api::{ApiError, Environment, RelayApi};
use serde_json::{json, Value};
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const API_KEY: &str = "refresh-SECRET-7f3a9c";
const ACCESS_1: &str = "access-SECRET-one-51d2";
const ACCESS_2: &str = "access-SECRET-two-88e0";
const SUB: &str = "sub-1234";
const CLIENT: &str = "TestClient";

/// One request the fake server received.
#[derive(Debug, Clone)]
struct Seen {
    method: Method,
    path: String,
    query: HashMap<String, String>,
    headers: HeaderMap,
    body: Bytes,
}

impl Seen {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
    fn form(&self) -> HashMap<String, String> {
        url_form(&self.body)
    }
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("the body is JSON")
    }
}

fn url_form(body: &[u8]) -> HashMap<String, String> {
    // A minimal x-www-form-urlencoded parser for the assertions.
    let text = std::str::from_utf8(body).expect("the form is UTF-8");
    text.split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (decode(k), decode(v))
        })
        .collect()
}

fn decode(s: &str) -> String {
    percent_encoding::percent_decode_str(&s.replace('+', " "))
        .decode_utf8()
        .expect("valid percent-encoding")
        .into_owned()
}

/// Scripted answers: token endpoint and API each pop the next (status, body).
#[derive(Default)]
struct Script {
    token: Mutex<VecDeque<(u16, String)>>,
    api: Mutex<VecDeque<(u16, String)>>,
    /// API requests bearing this access token get 401 without using the script.
    reject: Mutex<Option<String>>,
    seen: Mutex<Vec<Seen>>,
}

struct Fake {
    base: String,
    script: Arc<Script>,
    _task: tokio::task::JoinHandle<()>,
}

impl Fake {
    async fn start() -> Fake {
        let script = Arc::new(Script::default());
        let app = Router::new().fallback(record).with_state(script.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Fake {
            base: format!("http://{addr}"),
            script,
            _task: task,
        }
    }

    fn token(&self, status: u16, body: impl Into<String>) -> &Self {
        self.script
            .token
            .lock()
            .unwrap()
            .push_back((status, body.into()));
        self
    }

    fn api(&self, status: u16, body: impl Into<String>) -> &Self {
        self.script
            .api
            .lock()
            .unwrap()
            .push_back((status, body.into()));
        self
    }

    fn seen(&self) -> Vec<Seen> {
        self.script.seen.lock().unwrap().clone()
    }

    fn client(&self) -> RelayApi {
        RelayApi::builder()
            .subscriber_id(SUB)
            .api_key(API_KEY)
            .client_id(CLIENT)
            .environment(Environment::Qa)
            .api_url(format!("{}/", self.base))
            .token_url(format!("{}/oauth2/token", self.base))
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap()
    }
}

async fn record(
    State(script): State<Arc<Script>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> impl IntoResponse {
    let query = uri
        .query()
        .map(|q| url_form(q.as_bytes()))
        .unwrap_or_default();
    let path = uri.path().to_owned();
    let bearer = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let is_token = path == "/oauth2/token";
    let rejected = script
        .reject
        .lock()
        .unwrap()
        .as_ref()
        .is_some_and(|t| bearer == Some(format!("Bearer {t}")));
    script.seen.lock().unwrap().push(Seen {
        method,
        path: path.clone(),
        query,
        headers,
        body,
    });
    if rejected && !is_token {
        return (
            StatusCode::UNAUTHORIZED,
            [("content-type", "application/json")],
            r#"{"error":"expired"}"#.to_owned(),
        );
    }
    let queue = if is_token { &script.token } else { &script.api };
    let (status, body) = queue
        .lock()
        .unwrap()
        .pop_front()
        .unwrap_or((599, format!("unscripted request to {path}")));
    (
        StatusCode::from_u16(status).unwrap(),
        [("content-type", "application/json")],
        body,
    )
}

fn token_ok(access: &str) -> String {
    json!({"access_token": access, "token_type": "Bearer", "expires_in": 3600}).to_string()
}

fn assert_token_request(seen: &Seen) {
    assert_eq!(seen.method, Method::POST);
    assert_eq!(seen.path, "/oauth2/token");
    assert!(
        seen.query.is_empty(),
        "no query on the token request: {:?}",
        seen.query
    );
    assert_eq!(seen.header("accept"), Some("application/json"));
    assert_eq!(
        seen.header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
    assert_eq!(seen.header("authorization"), None);
    let form = seen.form();
    let expected: HashMap<String, String> = [
        ("grant_type", "refresh_token"),
        ("refresh_token", API_KEY),
        ("client_id", CLIENT),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    assert_eq!(form, expected);
}

fn assert_trigger_request(seen: &Seen, access: &str) {
    assert_eq!(seen.method, Method::POST);
    assert_eq!(seen.path, "/ibot/workflow/wf_hello_abc");
    let expected_query: HashMap<String, String> = [("subscriber_id".to_owned(), SUB.to_owned())]
        .into_iter()
        .collect();
    assert_eq!(seen.query, expected_query);
    assert_eq!(
        seen.header("authorization").map(str::to_owned),
        Some(format!("Bearer {access}"))
    );
    assert_eq!(seen.header("content-type"), Some("application/json"));
    assert_eq!(seen.header("accept"), Some("application/json"));
    assert_eq!(
        seen.json(),
        json!({
            "action": "invoke",
            "target_device_ids": ["990007560023456", "990007560099999"],
            "action_args": {"greeting": "hi", "count": 2, "urgent": true}
        })
    );
}

async fn trigger(api: &RelayApi) -> Result<Value, ApiError> {
    api.trigger_workflow(
        "wf_hello_abc",
        &["990007560023456", "990007560099999"],
        json!({"greeting": "hi", "count": 2, "urgent": true}),
    )
    .await
}

#[tokio::test]
async fn token_fetch_then_trigger_with_the_exact_body() {
    let fake = Fake::start().await;
    fake.token(200, token_ok(ACCESS_1))
        .api(200, r#"{"workflow_instance_id":"wfi_1"}"#);
    let api = fake.client();
    let out = trigger(&api).await.unwrap();
    assert_eq!(out, json!({"workflow_instance_id": "wfi_1"}));
    let seen = fake.seen();
    assert_eq!(seen.len(), 2, "{seen:#?}");
    assert_token_request(&seen[0]);
    assert_trigger_request(&seen[1], ACCESS_1);
}

#[tokio::test]
async fn empty_args_and_empty_response() {
    let fake = Fake::start().await;
    fake.token(200, token_ok(ACCESS_1)).api(200, "");
    let api = fake.client();
    let out = api.trigger_workflow("wf_x", &["d1"], ()).await.unwrap();
    assert_eq!(out, Value::Null);
    assert_eq!(
        fake.seen()[1].json(),
        json!({"action": "invoke", "target_device_ids": ["d1"], "action_args": {}})
    );
}

#[tokio::test]
async fn non_object_args_are_refused_before_any_request() {
    let fake = Fake::start().await;
    let api = fake.client();
    let err = api
        .trigger_workflow("wf_x", &["d1"], json!(["a", "b"]))
        .await
        .unwrap_err();
    assert!(matches!(err, ApiError::Config(_)), "{err:?}");
    assert!(err.to_string().contains("JSON object"), "{err}");
    assert!(fake.seen().is_empty());
}

#[tokio::test]
async fn user_id_is_sent_when_configured() {
    let fake = Fake::start().await;
    fake.token(200, token_ok(ACCESS_1)).api(200, "{}");
    let api = RelayApi::builder()
        .subscriber_id(SUB)
        .api_key(API_KEY)
        .client_id(CLIENT)
        .user_id("VIRT1user")
        .api_url(&fake.base)
        .token_url(format!("{}/oauth2/token", fake.base))
        .build()
        .unwrap();
    api.fetch_device("d1").await.unwrap();
    let q = &fake.seen()[1].query;
    assert_eq!(q.get("subscriber_id").map(String::as_str), Some(SUB));
    assert_eq!(q.get("user_id").map(String::as_str), Some("VIRT1user"));
    assert_eq!(q.len(), 2);
}

#[tokio::test]
async fn the_access_token_is_reused_across_calls() {
    let fake = Fake::start().await;
    fake.token(200, token_ok(ACCESS_1))
        .api(200, "{}")
        .api(200, "{}")
        .api(200, r#"{"device_label":"Bob"}"#);
    let api = fake.client();
    trigger(&api).await.unwrap();
    trigger(&api).await.unwrap();
    api.fetch_device("990007560023456").await.unwrap();
    let seen = fake.seen();
    let token_calls = seen.iter().filter(|s| s.path == "/oauth2/token").count();
    assert_eq!(token_calls, 1, "{seen:#?}");
    assert_eq!(seen.len(), 4);
    for s in &seen[1..] {
        assert_eq!(
            s.header("authorization").map(str::to_owned),
            Some(format!("Bearer {ACCESS_1}"))
        );
    }
}

#[tokio::test]
async fn a_401_refreshes_once_and_retries_once() {
    let fake = Fake::start().await;
    fake.token(200, token_ok(ACCESS_1))
        .token(200, token_ok(ACCESS_2))
        .api(401, r#"{"error":"token expired"}"#)
        .api(200, r#"{"ok":true}"#);
    let api = fake.client();
    assert_eq!(trigger(&api).await.unwrap(), json!({"ok": true}));
    let seen = fake.seen();
    assert_eq!(seen.len(), 4, "{seen:#?}");
    assert_token_request(&seen[0]);
    assert_trigger_request(&seen[1], ACCESS_1);
    assert_token_request(&seen[2]);
    assert_trigger_request(&seen[3], ACCESS_2);
    // The fresh token is cached for the next call.
    fake.api(200, "{}");
    trigger(&api).await.unwrap();
    assert_trigger_request(&fake.seen()[4], ACCESS_2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_calls_share_one_token_request_and_one_refresh() {
    let fake = Fake::start().await;
    fake.token(200, token_ok(ACCESS_1))
        .token(200, token_ok(ACCESS_2))
        .token(200, token_ok("a-third-token-is-a-bug"));
    for _ in 0..8 {
        fake.api(200, "{}");
    }
    let api = Arc::new(fake.client());
    // Four calls at once with no token yet: one token request.
    let calls: Vec<_> = (0..4)
        .map(|i| {
            let api = api.clone();
            tokio::spawn(async move { api.fetch_device(&format!("d{i}")).await })
        })
        .collect();
    for c in calls {
        c.await.unwrap().unwrap();
    }
    let tokens = |f: &Fake| {
        f.seen()
            .iter()
            .filter(|s| s.path == "/oauth2/token")
            .count()
    };
    assert_eq!(tokens(&fake), 1);
    // The token expires: four calls at once all meet a 401, and one refresh serves them all.
    *fake.script.reject.lock().unwrap() = Some(ACCESS_1.to_owned());
    let calls: Vec<_> = (0..4)
        .map(|i| {
            let api = api.clone();
            tokio::spawn(async move { api.fetch_device(&format!("e{i}")).await })
        })
        .collect();
    for c in calls {
        c.await.unwrap().unwrap();
    }
    assert_eq!(tokens(&fake), 2, "{:#?}", fake.seen());
    let last = fake.seen();
    let last = last.last().unwrap();
    assert_eq!(
        last.header("authorization").map(str::to_owned),
        Some(format!("Bearer {ACCESS_2}"))
    );
}

#[tokio::test]
async fn an_announced_expiry_is_respected() {
    let fake = Fake::start().await;
    // Expires in 1 s, within the 30 s safety margin: every call needs a new token.
    fake.token(
        200,
        json!({"access_token": ACCESS_1, "expires_in": 1}).to_string(),
    )
    .token(
        200,
        json!({"access_token": ACCESS_2, "expires_in": "3600"}).to_string(),
    )
    .api(200, "{}")
    .api(200, "{}")
    .api(200, "{}");
    let api = fake.client();
    for i in 0..3 {
        api.fetch_device(&format!("d{i}")).await.unwrap();
    }
    let seen = fake.seen();
    let paths: Vec<_> = seen.iter().map(|s| s.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "/oauth2/token",
            "/relaypro/api/v1/device/d0",
            "/oauth2/token",
            "/relaypro/api/v1/device/d1",
            "/relaypro/api/v1/device/d2",
        ]
    );
    assert_eq!(
        seen[4].header("authorization").map(str::to_owned),
        Some(format!("Bearer {ACCESS_2}"))
    );
}

#[tokio::test]
async fn a_second_401_is_a_typed_error_not_a_loop() {
    let fake = Fake::start().await;
    fake.token(200, token_ok(ACCESS_1))
        .token(200, token_ok(ACCESS_2))
        .token(200, token_ok("never-used"))
        .api(401, "{}")
        .api(401, r#"{"error":"not allowed"}"#)
        .api(200, "{}");
    let api = fake.client();
    let err = trigger(&api).await.unwrap_err();
    match &err {
        ApiError::Unauthorized {
            call,
            subscriber_id,
            body,
        } => {
            assert_eq!(*call, "trigger_workflow");
            assert_eq!(subscriber_id, SUB);
            assert!(body.contains("not allowed"), "{body}");
        }
        other => panic!("expected Unauthorized, got {other:?}"),
    }
    assert!(err.to_string().contains("401"), "{err}");
    let seen = fake.seen();
    assert_eq!(
        seen.len(),
        4,
        "two token requests and two API requests: {seen:#?}"
    );
    assert_eq!(seen.iter().filter(|s| s.path == "/oauth2/token").count(), 2);
}

#[tokio::test]
async fn a_rejected_refresh_token_is_an_auth_error_with_the_servers_words() {
    for status in [400u16, 401] {
        let fake = Fake::start().await;
        fake.token(
            status,
            json!({"error": "invalid_grant", "error_description": "Token is not active"})
                .to_string(),
        );
        let api = fake.client();
        let err = trigger(&api).await.unwrap_err();
        match &err {
            ApiError::Auth {
                status: s, message, ..
            } => {
                assert_eq!(*s, status);
                assert_eq!(message, "invalid_grant: Token is not active");
            }
            other => panic!("expected Auth, got {other:?}"),
        }
        let text = err.to_string();
        assert!(text.contains("relay token generate"), "{text}");
        assert!(!text.contains(API_KEY), "{text}");
        // No API request was attempted without a token.
        assert_eq!(fake.seen().len(), 1);
    }
}

#[tokio::test]
async fn an_auth_error_body_echoing_the_key_is_redacted() {
    let fake = Fake::start().await;
    fake.token(400, format!("bad refresh_token={API_KEY}"));
    let err = fake.client().fetch_device("d1").await.unwrap_err();
    let text = format!("{err} {err:?}");
    assert!(matches!(err, ApiError::Auth { .. }), "{err:?}");
    assert!(!text.contains(API_KEY), "{text}");
    assert!(text.contains("[redacted]"), "{text}");
}

#[tokio::test]
async fn a_500_is_a_status_error_with_a_body_excerpt() {
    let fake = Fake::start().await;
    let long_tail = "x".repeat(5000);
    fake.token(200, token_ok(ACCESS_1))
        .api(500, format!("internal failure in ibot {long_tail}"));
    let err = trigger(&fake.client()).await.unwrap_err();
    match &err {
        ApiError::Status {
            call,
            status,
            body,
            url,
            ..
        } => {
            assert_eq!(*call, "trigger_workflow");
            assert_eq!(*status, 500);
            assert!(body.starts_with("internal failure in ibot"), "{body}");
            assert!(body.len() < 1000, "an excerpt, not the whole body");
            assert!(url.ends_with("/ibot/workflow/wf_hello_abc"), "{url}");
        }
        other => panic!("expected Status, got {other:?}"),
    }
    assert!(err.to_string().contains("HTTP 500"), "{err}");
}

#[tokio::test]
async fn a_404_says_what_to_check() {
    let fake = Fake::start().await;
    fake.token(200, token_ok(ACCESS_1)).api(404, "not found");
    let err = trigger(&fake.client()).await.unwrap_err();
    assert!(
        matches!(err, ApiError::Status { status: 404, .. }),
        "{err:?}"
    );
    assert!(
        err.to_string().contains("relay workflow create http"),
        "{err}"
    );
}

#[tokio::test]
async fn malformed_json_is_a_decode_error() {
    let fake = Fake::start().await;
    fake.token(200, token_ok(ACCESS_1))
        .api(200, r#"{"device_label": "Bob""#);
    let err = fake.client().fetch_device("d1").await.unwrap_err();
    match &err {
        ApiError::Decode { call, body, .. } => {
            assert_eq!(*call, "fetch_device");
            assert!(body.contains("device_label"), "{body}");
        }
        other => panic!("expected Decode, got {other:?}"),
    }
}

#[tokio::test]
async fn a_token_response_without_a_token_is_a_decode_error() {
    let fake = Fake::start().await;
    fake.token(200, r#"{"token_type":"Bearer"}"#);
    let err = fake.client().fetch_device("d1").await.unwrap_err();
    assert!(matches!(err, ApiError::Decode { .. }), "{err:?}");
    assert!(err.to_string().contains("no access_token"), "{err}");
    fake.token(200, "<html>oops</html>");
    let err = fake.client().fetch_device("d1").await.unwrap_err();
    assert!(matches!(err, ApiError::Decode { .. }), "{err:?}");
}

#[tokio::test]
async fn fetch_device_maps_a_realistic_document() {
    let doc = json!({
        "device_id": "990007560023456",
        "device_label": "Bob",
        "device_status": "online",
        "mode": "dnd",
        "last_connect_timestamp": 1714557600000u64,
        "active_channel": "main",
        "background_audio": false,
        "features": {"sos": true},
        "capabilities": ["location", "wifi"],
        "groups": [{"group_id": "g1", "name": "Nurses"}],
        "channels": [{"name": "main"}],
        "emergency_info": null,
        "active_incidents": [],
        "device_details": {
            "device_info": {
                "battery_level": 87,
                "battery_status": "charging",
                "rom_version": "5.2.1",
                "app_version": "3.11.0",
                "apk_version": "3.11.0-b7",
                "build_id": "B123",
                "product_name": "Relay 2",
                "model": "R2",
                "wifi_mac": "00:11:22:33:44:55",
                "volume_level": "60",
                "imei": "990007560023456",
                "iccid": "8901260000000000000",
                "fcc_id": "FCC1",
                "ic_id": "IC1",
                "bluetooth_status": "on",
                "network_status": {"connection_type": "wifi", "wifi_bars": 3, "cell_bars": 2},
                "bluetooth_info": {"address": "AA:BB", "name": "Bob's Relay"}
            },
            "location": {
                "lat": 35.78,
                "long": -78.64,
                "accuracy": 12.5,
                "address": "1 Main St",
                "indoor_position": {"venue_id": "v1"},
                "geofence_state": "entry",
                "geofence_id": "gf1",
                "geofence_events": [],
                "timestamp": "2024-05-01T10:00:00"
            }
        }
    });
    let fake = Fake::start().await;
    fake.token(200, token_ok(ACCESS_1))
        .api(200, doc.to_string());
    let d = fake.client().fetch_device("990007560023456").await.unwrap();

    let seen = fake.seen();
    let req = &seen[1];
    assert_eq!(req.method, Method::GET);
    assert_eq!(req.path, "/relaypro/api/v1/device/990007560023456");
    assert_eq!(
        req.query.get("subscriber_id").map(String::as_str),
        Some(SUB)
    );
    assert_eq!(req.query.len(), 1);
    assert_eq!(
        req.header("authorization").map(str::to_owned),
        Some(format!("Bearer {ACCESS_1}"))
    );
    assert_eq!(req.header("accept"), Some("application/json"));
    assert!(req.body.is_empty());

    assert_eq!(d.name.as_deref(), Some("Bob"));
    assert_eq!(d.status.as_deref(), Some("online"));
    assert_eq!(d.mode.as_deref(), Some("dnd"));
    assert_eq!(d.last_connect_timestamp, Some(json!(1714557600000u64)));
    assert_eq!(d.active_channel, Some(json!("main")));
    assert_eq!(d.background_audio, Some(json!(false)));
    assert_eq!(d.features, Some(json!({"sos": true})));
    assert_eq!(d.capabilities, Some(json!(["location", "wifi"])));
    assert_eq!(
        d.groups,
        Some(json!([{"group_id": "g1", "name": "Nurses"}]))
    );
    assert_eq!(d.channels, Some(json!([{"name": "main"}])));
    assert_eq!(d.emergency_info, None);
    assert_eq!(d.active_incidents, Some(json!([])));
    assert_eq!(d.battery_level, Some(87.0));
    assert_eq!(d.battery_status.as_deref(), Some("charging"));
    assert_eq!(d.rom_version.as_deref(), Some("5.2.1"));
    assert_eq!(d.app_version.as_deref(), Some("3.11.0"));
    assert_eq!(d.apk_version.as_deref(), Some("3.11.0-b7"));
    assert_eq!(d.build_id.as_deref(), Some("B123"));
    assert_eq!(d.product_name.as_deref(), Some("Relay 2"));
    assert_eq!(d.model.as_deref(), Some("R2"));
    assert_eq!(d.wifi_mac.as_deref(), Some("00:11:22:33:44:55"));
    assert_eq!(d.volume_level, Some(60.0));
    assert_eq!(d.imei.as_deref(), Some("990007560023456"));
    assert_eq!(d.iccid.as_deref(), Some("8901260000000000000"));
    assert_eq!(d.fcc_id.as_deref(), Some("FCC1"));
    assert_eq!(d.ic_id.as_deref(), Some("IC1"));
    assert_eq!(d.bluetooth_status.as_deref(), Some("on"));
    assert_eq!(d.connection_type.as_deref(), Some("wifi"));
    assert_eq!(d.wifi_signal, Some(3.0));
    assert_eq!(d.cell_signal, Some(2.0));
    assert_eq!(d.bluetooth_address.as_deref(), Some("AA:BB"));
    assert_eq!(d.bluetooth_name.as_deref(), Some("Bob's Relay"));
    let loc = d.location.as_ref().expect("a location");
    assert_eq!(loc.lat, Some(35.78));
    assert_eq!(loc.long, Some(-78.64));
    assert_eq!(loc.accuracy, Some(12.5));
    assert_eq!(loc.address.as_deref(), Some("1 Main St"));
    assert_eq!(loc.indoor_position, Some(json!({"venue_id": "v1"})));
    assert_eq!(loc.geofence_state.as_deref(), Some("entry"));
    assert_eq!(loc.geofence_id.as_deref(), Some("gf1"));
    assert_eq!(loc.geofence_events, Some(json!([])));
    assert_eq!(loc.date.as_deref(), Some("2024-05-01T10:00:00Z"));
    assert_eq!(d.raw, doc);
}

#[tokio::test]
async fn fetch_device_tolerates_missing_fields() {
    let fake = Fake::start().await;
    fake.token(200, token_ok(ACCESS_1))
        .api(
            200,
            r#"{"device_label":"Ann","mode":"undefined","device_details":{}}"#,
        )
        .api(200, "{}");
    let api = fake.client();
    let d = api.fetch_device("d1").await.unwrap();
    assert_eq!(d.name.as_deref(), Some("Ann"));
    assert_eq!(d.mode, None);
    assert_eq!(d.battery_level, None);
    assert_eq!(d.connection_type, None);
    assert_eq!(d.location, None);
    assert_eq!(
        d.raw,
        json!({"device_label":"Ann","mode":"undefined","device_details":{}})
    );
    let empty = api.fetch_device("d2").await.unwrap();
    assert_eq!(empty.name, None);
    assert_eq!(empty.raw, json!({}));
}

#[tokio::test]
async fn ids_are_escaped_in_the_path() {
    let fake = Fake::start().await;
    fake.token(200, token_ok(ACCESS_1)).api(200, "{}");
    fake.client().fetch_device("a/b c").await.unwrap();
    assert_eq!(fake.seen()[1].path, "/relaypro/api/v1/device/a%2Fb%20c");
}

#[tokio::test]
async fn a_closed_port_is_a_network_error() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let api = RelayApi::builder()
        .subscriber_id(SUB)
        .api_key(API_KEY)
        .client_id(CLIENT)
        .api_url(format!("http://{addr}"))
        .token_url(format!("http://{addr}/oauth2/token"))
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let err = api.fetch_device("d1").await.unwrap_err();
    match &err {
        ApiError::Network { url, .. } => assert!(url.ends_with("/oauth2/token"), "{url}"),
        other => panic!("expected Network, got {other:?}"),
    }
    let text = err.to_string();
    assert!(text.contains("cannot reach"), "{text}");
    assert!(!text.contains(API_KEY), "{text}");
}

#[tokio::test]
async fn debug_output_never_shows_the_tokens() {
    let fake = Fake::start().await;
    fake.token(200, token_ok(ACCESS_1)).api(200, "{}");
    let api = fake.client();
    let before = format!("{api:?} {api:#?}");
    trigger(&api).await.unwrap();
    let after = format!("{api:?} {api:#?}");
    for text in [&before, &after] {
        assert!(text.contains(SUB), "Debug shows the settings: {text}");
        assert!(!text.contains(API_KEY), "{text}");
        assert!(!text.contains(ACCESS_1), "{text}");
        assert!(!text.contains("SECRET"), "{text}");
    }
    let builder = RelayApi::builder().api_key(API_KEY);
    assert!(!format!("{builder:?}").contains(API_KEY));
}

/// Every log record at TRACE level during refresh, trigger, 401, refresh, retry, device fetch
/// and a failing call, captured for this test alone: neither token may appear.
#[cfg(feature = "testing")]
#[tokio::test]
async fn trace_logs_never_show_the_tokens() {
    let capture = relay_workflow::testing::LogCapture::new();
    let fake = Fake::start().await;
    fake.token(200, token_ok(ACCESS_1))
        .token(200, token_ok(ACCESS_2))
        .api(200, format!(r#"{{"echo":"{ACCESS_1}"}}"#))
        .api(401, format!(r#"{{"error":"expired {ACCESS_1}"}}"#))
        .api(200, "{}")
        .api(200, r#"{"device_label":"Bob"}"#)
        .api(500, format!("boom {ACCESS_2}"));
    let api = fake.client();
    let err = capture
        .instrument(async {
            trigger(&api).await.unwrap();
            trigger(&api).await.unwrap();
            api.fetch_device("d1").await.unwrap();
            api.fetch_device("d2").await.unwrap_err()
        })
        .await;
    assert!(!err.to_string().contains(ACCESS_2), "{err}");
    assert_eq!(fake.seen().len(), 7);

    let logs = capture.text();
    // The capture works and holds the client's own records at every level used.
    assert!(logs.contains("refreshing the Relay access token"), "{logs}");
    assert!(logs.contains("Relay API answered 401"), "{logs}");
    assert!(logs.contains("Relay API response"), "{logs}");
    assert!(logs.contains("[redacted]"), "{logs}");
    for secret in [API_KEY, ACCESS_1, ACCESS_2] {
        assert!(
            !logs.contains(secret),
            "{secret} leaked into the logs:\n{logs}"
        );
    }
}
