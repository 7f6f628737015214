//! The Relay HTTP API (feature `api`): trigger a workflow over HTTP and read device details.
//!
//! [`RelayApi`] holds the account's credentials, trades the SDK API key (an OAuth2 refresh
//! token made by `relay token generate`) for an access token, caches that token, and calls
//! the Relay API with it. When the API answers `401 Unauthorized`, the client refreshes the
//! access token once and retries the call once; a second 401 is an
//! [`ApiError::Unauthorized`], never a loop.
//!
//! A workflow that, when a phrase starts it, triggers another workflow (registered with
//! `relay workflow create http --trigger POST`) on the same device over HTTP:
//!
//! ```no_run
//! use relay_workflow::api::RelayApi;
//! use relay_workflow::prelude::*;
//! use std::sync::Arc;
//!
//! fn dispatcher(api: Arc<RelayApi>) -> Workflow {
//!     Workflow::new().on_start(move |relay, start: StartEvent| {
//!         let api = api.clone();
//!         async move {
//!             let device = start.trigger.source_uri().ok_or(Error::MissingSourceUri)?;
//!             // HTTP triggers take bare device ids (urn:relay-resource:id:device:<id>).
//!             let device_id = device.parse_device_id()?;
//!             api.trigger_workflow(
//!                 "wf_checkin_abc123",
//!                 &[device_id],
//!                 serde_json::json!({"reason": "dispatch"}),
//!             )
//!             .await?;
//!             relay.terminate().await?;
//!             Ok(())
//!         }
//!     })
//! }
//!
//! #[tokio::main]
//! async fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     relay_workflow::init_logging();
//!     // RELAY_SUBSCRIBER_ID, RELAY_API_KEY and RELAY_AUTH_SDK_CLIENT_ID (table below).
//!     let api = Arc::new(RelayApi::from_env()?);
//!     let device = api.fetch_device("990007560023456").await?;
//!     println!("{:?}: battery {:?} %", device.name, device.battery_level);
//!     WorkflowServer::new()
//!         .workflow("dispatch", dispatcher(api))
//!         .serve()
//!         .await?;
//!     Ok(())
//! }
//! ```
//!
//! ## Hosts
//!
//! The official SDKs and the Relay CLI disagree on hosts (protocol spec §9.1). The defaults
//! here are the ones that the most sources agree on today:
//!
//! * API: `https://all-main-pro-ibot.relaysvr.com` (`qa`: `https://all-main-qa-ibot.relaysvr.com`),
//!   used by the Python, Go, Java and .NET SDKs and by the current CLI. The JavaScript SDK's
//!   older `nocell.io` hosts are available as [`JS_API_URL_PRO`] and [`JS_API_URL_QA`].
//! * Token endpoint: `https://auth.relaygo.com/oauth2/token` (`qa`: `auth.relaygo.info`), the
//!   endpoint all five SDKs use and the CLI still supports as its legacy auth. The current
//!   CLI's Keycloak endpoint is [`KEYCLOAK_TOKEN_URL_PRO`]; select it with
//!   [`RelayApiBuilder::token_url`] (or `RELAY_TOKEN_URL`) when your key was issued by it.
//!   Both endpoints take the same form (`grant_type=refresh_token`).
//! * The client id has no default: the SDKs and CLI versions use different ones, and the key
//!   only works with the client it was issued to. `relay env` prints it as `auth_sdk_id`.
//!
//! No `user_id` is sent unless you set one with [`RelayApiBuilder::user_id`]: only the
//! JavaScript SDK adds it (after an extra `/oauth2/validate` round trip to the legacy auth
//! host); the other four SDKs send `subscriber_id` alone, and the access token already names
//! the user.
//!
//! ## Environment variables read by [`RelayApi::from_env`]
//!
//! | variable | default | meaning |
//! |---|---|---|
//! | `RELAY_SUBSCRIBER_ID` | required | the account's subscriber id (`relay subscriber:get`) |
//! | `RELAY_API_KEY` | required | the SDK API key: a refresh token from `relay token generate` |
//! | `RELAY_AUTH_SDK_CLIENT_ID` | required | the client id the key was issued to (`relay env`, `auth_sdk_id`) |
//! | `RELAY_ENV` | `pro` | `pro` or `qa`: picks the default hosts |
//! | `RELAY_API_URL` | by `RELAY_ENV` | API base URL override |
//! | `RELAY_TOKEN_URL` | by `RELAY_ENV` | token endpoint override (full URL) |
//! | `RELAY_USER_ID` | unset | a user id to add to every call as `user_id` |
//!
//! ## Secrets
//!
//! Neither the API key nor the access token appears in this module's `Debug` output, error
//! messages or log lines; bodies quoted in errors have both removed.

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use reqwest::{Method, StatusCode};
use serde::Serialize;
use serde_json::{Map, Value};
use std::fmt;
use std::time::Duration;
use tokio::sync::Mutex;
use tokio::time::Instant;
use tracing::{debug, trace};

/// API base URL for `RELAY_ENV=pro` (the Python, Go, Java and .NET SDKs, and the current CLI).
pub const API_URL_PRO: &str = "https://all-main-pro-ibot.relaysvr.com";
/// API base URL for `RELAY_ENV=qa` (the current CLI).
pub const API_URL_QA: &str = "https://all-main-qa-ibot.relaysvr.com";
/// The JavaScript SDK's API base URL for `pro`.
pub const JS_API_URL_PRO: &str = "https://all-main-pro-ibot.nocell.io";
/// The JavaScript SDK's API base URL for `qa`.
pub const JS_API_URL_QA: &str = "https://all-api-qa-ibot.nocell.io";
/// Token endpoint for `pro` used by every official SDK (the CLI's legacy auth).
pub const TOKEN_URL_PRO: &str = "https://auth.relaygo.com/oauth2/token";
/// Token endpoint for `qa` (legacy auth).
pub const TOKEN_URL_QA: &str = "https://auth.relaygo.info/oauth2/token";
/// The current CLI's Keycloak token endpoint for `pro`.
pub const KEYCLOAK_TOKEN_URL_PRO: &str =
    "https://auth.relaypro.com/realms/Relay/protocol/openid-connect/token";

/// Default time limit of one HTTP request.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// An access token is refreshed this long before the expiry the token endpoint announced.
const EXPIRY_MARGIN: Duration = Duration::from_secs(30);
/// Longest body excerpt quoted in an error.
const EXCERPT_CHARS: usize = 300;
const USER_AGENT: &str = concat!("relay-workflow/", env!("CARGO_PKG_VERSION"), " (rust)");
/// Characters escaped in a path segment (a workflow or device id).
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.');

/// Which Relay environment the default hosts point at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Environment {
    /// Production (the default).
    #[default]
    Pro,
    /// Relay's QA environment.
    Qa,
}

impl Environment {
    /// Parse a `RELAY_ENV` value: `pro` or `qa` (case-insensitive).
    pub fn parse(value: &str) -> Result<Self, ApiError> {
        match value.trim().to_ascii_lowercase().as_str() {
            "pro" => Ok(Self::Pro),
            "qa" => Ok(Self::Qa),
            _ => Err(ApiError::Config(format!(
                "RELAY_ENV must be `pro` or `qa`, but it is {value:?}"
            ))),
        }
    }

    fn api_url(self) -> &'static str {
        match self {
            Self::Pro => API_URL_PRO,
            Self::Qa => API_URL_QA,
        }
    }

    fn token_url(self) -> &'static str {
        match self {
            Self::Pro => TOKEN_URL_PRO,
            Self::Qa => TOKEN_URL_QA,
        }
    }
}

/// Why a Relay API call failed. Messages never contain the API key or the access token.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ApiError {
    /// The client is not configured correctly (a missing or malformed setting).
    #[error("Relay API configuration: {0}")]
    Config(String),
    /// The token endpoint rejected the API key (refresh token) or the client id.
    #[error("refresh token rejected by {token_url} (HTTP {status}: {message}): generate a new API key with `relay token generate` and check that the client id is `relay env`'s auth_sdk_id")]
    Auth {
        /// The token endpoint.
        token_url: String,
        /// The HTTP status.
        status: u16,
        /// The auth server's own words (its `error_description` or `error`, or a body excerpt).
        message: String,
    },
    /// The API answered 401 even to a freshly refreshed access token.
    #[error("{call}: Relay answered 401 Unauthorized twice, the second time to a fresh access token ({body}); check that the API key belongs to subscriber {subscriber_id} and may use this resource")]
    Unauthorized {
        /// The call, e.g. `trigger_workflow`.
        call: &'static str,
        /// The subscriber id used.
        subscriber_id: String,
        /// An excerpt of the last response body.
        body: String,
    },
    /// The server answered with an unexpected HTTP status.
    #[error("{call}: HTTP {status} from {url}: {body}{hint}")]
    Status {
        /// The call, e.g. `fetch_device`.
        call: &'static str,
        /// The URL requested (no secrets: credentials travel in headers and bodies).
        url: String,
        /// The HTTP status.
        status: u16,
        /// An excerpt of the response body.
        body: String,
        /// What to check, for the statuses that have a usual cause.
        hint: &'static str,
    },
    /// The request did not get an HTTP response (DNS, connection, TLS, timeout).
    #[error("{call}: cannot reach {url}: {detail} (check the network and the configured URL)")]
    Network {
        /// The call.
        call: &'static str,
        /// The URL requested.
        url: String,
        /// The transport error with its causes, e.g. `… Connection refused`.
        detail: String,
        /// The transport error.
        #[source]
        source: reqwest::Error,
    },
    /// The response was not the JSON document expected.
    #[error("{call}: cannot decode the response from {url}: {problem} (body: {body})")]
    Decode {
        /// The call.
        call: &'static str,
        /// The URL requested.
        url: String,
        /// What was wrong.
        problem: String,
        /// An excerpt of the response body.
        body: String,
    },
}

/// A credential kept out of `Debug` output. It has no `Display`.
#[derive(Clone, PartialEq, Eq)]
struct Secret(String);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

#[derive(Debug)]
struct CachedToken {
    token: Secret,
    /// When to stop using it, if the token endpoint said when it expires.
    refresh_after: Option<Instant>,
}

/// Builds a [`RelayApi`]. Start with [`RelayApi::builder`].
#[derive(Debug, Default)]
pub struct RelayApiBuilder {
    subscriber_id: Option<String>,
    api_key: Option<Secret>,
    client_id: Option<String>,
    environment: Environment,
    api_url: Option<String>,
    token_url: Option<String>,
    user_id: Option<String>,
    timeout: Option<Duration>,
}

impl RelayApiBuilder {
    /// The account's subscriber id (`relay subscriber:get` shows it). Required.
    pub fn subscriber_id(mut self, id: impl Into<String>) -> Self {
        self.subscriber_id = Some(id.into());
        self
    }

    /// The SDK API key: the OAuth2 refresh token printed by `relay token generate`. Required.
    /// It is a long-lived account credential: read it from the environment, not from source.
    pub fn api_key(mut self, refresh_token: impl Into<String>) -> Self {
        self.api_key = Some(Secret(refresh_token.into()));
        self
    }

    /// The OAuth2 client id the API key was issued to (`relay env` shows it as `auth_sdk_id`).
    /// Required.
    pub fn client_id(mut self, id: impl Into<String>) -> Self {
        self.client_id = Some(id.into());
        self
    }

    /// The environment whose default hosts to use ([`Environment::Pro`] unless set).
    pub fn environment(mut self, environment: Environment) -> Self {
        self.environment = environment;
        self
    }

    /// Override the API base URL, e.g. [`JS_API_URL_PRO`] or a local test server.
    pub fn api_url(mut self, url: impl Into<String>) -> Self {
        self.api_url = Some(url.into());
        self
    }

    /// Override the token endpoint (a full URL), e.g. [`KEYCLOAK_TOKEN_URL_PRO`].
    pub fn token_url(mut self, url: impl Into<String>) -> Self {
        self.token_url = Some(url.into());
        self
    }

    /// Add `user_id=<id>` to every API call, as the JavaScript SDK does. Not needed otherwise.
    pub fn user_id(mut self, id: impl Into<String>) -> Self {
        self.user_id = Some(id.into());
        self
    }

    /// Time limit of each HTTP request ([`DEFAULT_TIMEOUT`] unless set).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Check the settings and build the client.
    pub fn build(self) -> Result<RelayApi, ApiError> {
        let subscriber_id = required(
            self.subscriber_id,
            "subscriber id",
            "RELAY_SUBSCRIBER_ID",
            "`relay subscriber:get` shows it",
        )?;
        let api_key = match self.api_key {
            Some(key) if !key.0.trim().is_empty() => key,
            _ => {
                return Err(ApiError::Config(
                    "the API key is missing: set RELAY_API_KEY (or call .api_key()) to a refresh token from `relay token generate`".into(),
                ))
            }
        };
        let client_id = required(
            self.client_id,
            "client id",
            "RELAY_AUTH_SDK_CLIENT_ID",
            "`relay env` shows it as auth_sdk_id",
        )?;
        let api_url = checked_url(
            self.api_url
                .unwrap_or_else(|| self.environment.api_url().to_owned()),
            "API URL (RELAY_API_URL)",
        )?;
        let token_url = checked_url(
            self.token_url
                .unwrap_or_else(|| self.environment.token_url().to_owned()),
            "token URL (RELAY_TOKEN_URL)",
        )?;
        let http = reqwest::Client::builder()
            .timeout(self.timeout.unwrap_or(DEFAULT_TIMEOUT))
            .user_agent(USER_AGENT)
            .build()
            .map_err(|e| ApiError::Config(format!("cannot build the HTTP client: {e}")))?;
        Ok(RelayApi {
            http,
            subscriber_id,
            api_key,
            client_id,
            api_url,
            token_url,
            user_id: self.user_id.filter(|u| !u.trim().is_empty()),
            token: Mutex::new(None),
        })
    }

    /// Settings from environment variables, read through `lookup` (see the module docs).
    fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ApiError> {
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let mut b = RelayApi::builder();
        if let Some(env) = get("RELAY_ENV") {
            b = b.environment(Environment::parse(&env)?);
        }
        b.subscriber_id = get("RELAY_SUBSCRIBER_ID");
        b.api_key = get("RELAY_API_KEY").map(Secret);
        b.client_id = get("RELAY_AUTH_SDK_CLIENT_ID");
        b.api_url = get("RELAY_API_URL");
        b.token_url = get("RELAY_TOKEN_URL");
        b.user_id = get("RELAY_USER_ID");
        Ok(b)
    }
}

fn required(value: Option<String>, what: &str, var: &str, hint: &str) -> Result<String, ApiError> {
    match value {
        Some(v) if !v.trim().is_empty() => Ok(v.trim().to_owned()),
        _ => Err(ApiError::Config(format!(
            "the {what} is missing: set {var} ({hint})"
        ))),
    }
}

fn checked_url(url: String, what: &str) -> Result<String, ApiError> {
    let trimmed = url.trim().trim_end_matches('/').to_owned();
    match reqwest::Url::parse(&trimmed) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.has_host() => Ok(trimmed),
        _ => Err(ApiError::Config(format!(
            "the {what} must be an http(s) URL such as https://host, but it is {url:?}"
        ))),
    }
}

/// A client of the Relay HTTP API. Cheap to share: wrap it in an `Arc` or keep one in a
/// `static`; it reuses connections and the cached access token.
pub struct RelayApi {
    http: reqwest::Client,
    subscriber_id: String,
    api_key: Secret,
    client_id: String,
    api_url: String,
    token_url: String,
    user_id: Option<String>,
    token: Mutex<Option<CachedToken>>,
}

impl fmt::Debug for RelayApi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RelayApi")
            .field("subscriber_id", &self.subscriber_id)
            .field("api_key", &self.api_key)
            .field("client_id", &self.client_id)
            .field("api_url", &self.api_url)
            .field("token_url", &self.token_url)
            .field("user_id", &self.user_id)
            .field("access_token", &"[redacted]")
            .finish_non_exhaustive()
    }
}

/// A Relay device as returned by [`RelayApi::fetch_device`], mapped the way the JavaScript
/// SDK's `mapDevice` does. Every field is optional because Relay omits what it does not know;
/// the whole document is kept in [`Device::raw`].
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct Device {
    /// The device's name (`device_label`).
    pub name: Option<String>,
    /// `device_status`.
    pub status: Option<String>,
    /// `mode`: `emergency_sos`, `dnd`, or `None` (also for the string `"undefined"`).
    pub mode: Option<String>,
    /// `last_connect_timestamp`, as sent.
    pub last_connect_timestamp: Option<Value>,
    /// `active_channel`, as sent.
    pub active_channel: Option<Value>,
    /// `background_audio`, as sent.
    pub background_audio: Option<Value>,
    /// `features`, as sent.
    pub features: Option<Value>,
    /// `capabilities`, as sent.
    pub capabilities: Option<Value>,
    /// `groups`, as sent.
    pub groups: Option<Value>,
    /// `channels`, as sent.
    pub channels: Option<Value>,
    /// `emergency_info`, as sent.
    pub emergency_info: Option<Value>,
    /// `active_incidents`, as sent.
    pub active_incidents: Option<Value>,
    /// Battery charge in percent (`device_details.device_info.battery_level`).
    pub battery_level: Option<f64>,
    /// e.g. `charging` (`device_details.device_info.battery_status`).
    pub battery_status: Option<String>,
    /// `device_details.device_info.rom_version`.
    pub rom_version: Option<String>,
    /// `device_details.device_info.app_version`.
    pub app_version: Option<String>,
    /// `device_details.device_info.apk_version`.
    pub apk_version: Option<String>,
    /// `device_details.device_info.build_id`.
    pub build_id: Option<String>,
    /// `device_details.device_info.product_name`.
    pub product_name: Option<String>,
    /// `device_details.device_info.model`.
    pub model: Option<String>,
    /// `device_details.device_info.wifi_mac`.
    pub wifi_mac: Option<String>,
    /// `device_details.device_info.volume_level`.
    pub volume_level: Option<f64>,
    /// `device_details.device_info.imei`.
    pub imei: Option<String>,
    /// `device_details.device_info.iccid`.
    pub iccid: Option<String>,
    /// `device_details.device_info.fcc_id`.
    pub fcc_id: Option<String>,
    /// `device_details.device_info.ic_id`.
    pub ic_id: Option<String>,
    /// `device_details.device_info.bluetooth_status`.
    pub bluetooth_status: Option<String>,
    /// `device_details.device_info.network_status.connection_type`, e.g. `wifi`.
    pub connection_type: Option<String>,
    /// `device_details.device_info.network_status.wifi_bars`.
    pub wifi_signal: Option<f64>,
    /// `device_details.device_info.network_status.cell_bars`.
    pub cell_signal: Option<f64>,
    /// `device_details.device_info.bluetooth_info.address`.
    pub bluetooth_address: Option<String>,
    /// `device_details.device_info.bluetooth_info.name`.
    pub bluetooth_name: Option<String>,
    /// `device_details.location`, if present.
    pub location: Option<DeviceLocation>,
    /// The whole document as Relay sent it.
    pub raw: Value,
}

/// Where a device was last seen (`device_details.location`).
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct DeviceLocation {
    /// Latitude in degrees.
    pub lat: Option<f64>,
    /// Longitude in degrees.
    pub long: Option<f64>,
    /// Accuracy in metres.
    pub accuracy: Option<f64>,
    /// Street address, if Relay resolved one.
    pub address: Option<String>,
    /// Indoor position, as sent.
    pub indoor_position: Option<Value>,
    /// Geofence state, as sent (e.g. `entry`).
    pub geofence_state: Option<String>,
    /// The geofence the state refers to.
    pub geofence_id: Option<String>,
    /// Geofence events, as sent.
    pub geofence_events: Option<Value>,
    /// When the location was taken, in UTC: `timestamp` with `Z` added when it has no zone.
    pub date: Option<String>,
}

impl Device {
    /// Map a device document (spec §9.3, `mapDevice`). Missing fields become `None`.
    pub fn from_json(raw: Value) -> Self {
        let top = |k: &str| raw.get(k).filter(|v| !v.is_null()).cloned();
        let info = raw.pointer("/device_details/device_info");
        let s = |k: &str| text(info.and_then(|i| i.get(k)));
        let n = |k: &str| number(info.and_then(|i| i.get(k)));
        let net = info.and_then(|i| i.get("network_status"));
        let bt = info.and_then(|i| i.get("bluetooth_info"));
        let location = raw
            .pointer("/device_details/location")
            .filter(|l| l.is_object())
            .map(|l| DeviceLocation {
                lat: number(l.get("lat")),
                long: number(l.get("long")),
                accuracy: number(l.get("accuracy")),
                address: text(l.get("address")),
                indoor_position: l.get("indoor_position").filter(|v| !v.is_null()).cloned(),
                geofence_state: text(l.get("geofence_state")),
                geofence_id: text(l.get("geofence_id")),
                geofence_events: l.get("geofence_events").filter(|v| !v.is_null()).cloned(),
                date: text(l.get("timestamp")).map(utc),
            });
        Device {
            name: text(raw.get("device_label")),
            status: text(raw.get("device_status")),
            mode: text(raw.get("mode")).filter(|m| m != "undefined"),
            last_connect_timestamp: top("last_connect_timestamp"),
            active_channel: top("active_channel"),
            background_audio: top("background_audio"),
            features: top("features"),
            capabilities: top("capabilities"),
            groups: top("groups"),
            channels: top("channels"),
            emergency_info: top("emergency_info"),
            active_incidents: top("active_incidents"),
            battery_level: n("battery_level"),
            battery_status: s("battery_status"),
            rom_version: s("rom_version"),
            app_version: s("app_version"),
            apk_version: s("apk_version"),
            build_id: s("build_id"),
            product_name: s("product_name"),
            model: s("model"),
            wifi_mac: s("wifi_mac"),
            volume_level: n("volume_level"),
            imei: s("imei"),
            iccid: s("iccid"),
            fcc_id: s("fcc_id"),
            ic_id: s("ic_id"),
            bluetooth_status: s("bluetooth_status"),
            connection_type: text(net.and_then(|x| x.get("connection_type"))),
            wifi_signal: number(net.and_then(|x| x.get("wifi_bars"))),
            cell_signal: number(net.and_then(|x| x.get("cell_bars"))),
            bluetooth_address: text(bt.and_then(|x| x.get("address"))),
            bluetooth_name: text(bt.and_then(|x| x.get("name"))),
            location,
            raw,
        }
    }
}

/// A string field; numbers and booleans are accepted as their text.
fn text(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// A numeric field; numeric strings are accepted.
fn number(v: Option<&Value>) -> Option<f64> {
    match v? {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// Mark a zone-less timestamp as UTC, as the JavaScript SDK does.
fn utc(ts: String) -> String {
    let tail = ts.get(ts.len().saturating_sub(6)..).unwrap_or("");
    let has_zone = ts.ends_with('Z')
        || ts.ends_with('z')
        || (ts.contains('T') && (tail.starts_with('+') || tail.starts_with('-')));
    if has_zone {
        ts
    } else {
        format!("{ts}Z")
    }
}

#[derive(Serialize)]
struct TriggerBody<'a> {
    action: &'static str,
    target_device_ids: Vec<&'a str>,
    action_args: Value,
}

impl RelayApi {
    /// Start configuring a client.
    pub fn builder() -> RelayApiBuilder {
        RelayApiBuilder::default()
    }

    /// A client configured from environment variables (see the module docs).
    pub fn from_env() -> Result<Self, ApiError> {
        RelayApiBuilder::from_lookup(|name| std::env::var(name).ok())?.build()
    }

    /// The subscriber id this client acts for.
    pub fn subscriber_id(&self) -> &str {
        &self.subscriber_id
    }

    /// Start a workflow registered with an HTTP trigger (`relay workflow create http`):
    /// `POST <api>/ibot/workflow/<workflow_id>` with
    /// `{"action":"invoke","target_device_ids":[…],"action_args":{…}}`.
    ///
    /// `action_args` must serialize to a JSON object (or `()`/null for none); the started
    /// workflow finds it in its start event as `trigger.args.args`. Returns the response
    /// body (`Value::Null` when it is empty).
    pub async fn trigger_workflow<S: AsRef<str>>(
        &self,
        workflow_id: &str,
        target_device_ids: &[S],
        action_args: impl Serialize,
    ) -> Result<Value, ApiError> {
        const CALL: &str = "trigger_workflow";
        let workflow_id = non_empty(
            workflow_id,
            CALL,
            "workflow id",
            "wf_…, from `relay workflow list`",
        )?;
        let action_args = match serde_json::to_value(action_args) {
            Ok(Value::Null) => Value::Object(Map::new()),
            Ok(v @ Value::Object(_)) => v,
            Ok(other) => {
                return Err(ApiError::Config(format!(
                    "{CALL}: action_args must be a JSON object of argument names to values, but it is {}",
                    excerpt(&other.to_string())
                )))
            }
            Err(e) => {
                return Err(ApiError::Config(format!(
                    "{CALL}: action_args cannot be encoded as JSON: {e}"
                )))
            }
        };
        let body = TriggerBody {
            action: "invoke",
            target_device_ids: target_device_ids.iter().map(AsRef::as_ref).collect(),
            action_args,
        };
        let body = serde_json::to_vec(&body)
            .map_err(|e| ApiError::Config(format!("{CALL}: cannot encode the body: {e}")))?;
        let url = format!(
            "{}/ibot/workflow/{}",
            self.api_url,
            utf8_percent_encode(workflow_id, SEGMENT)
        );
        let (url, text) = self.call(CALL, Method::POST, url, Some(body)).await?;
        if text.trim().is_empty() {
            return Ok(Value::Null);
        }
        parse_json(CALL, &url, &text, &self.secrets().await)
    }

    /// Read a device's details: `GET <api>/relaypro/api/v1/device/<device_id>`.
    pub async fn fetch_device(&self, device_id: &str) -> Result<Device, ApiError> {
        const CALL: &str = "fetch_device";
        let device_id = non_empty(
            device_id,
            CALL,
            "device id",
            "the device's id, e.g. 990007560023456",
        )?;
        let url = format!(
            "{}/relaypro/api/v1/device/{}",
            self.api_url,
            utf8_percent_encode(device_id, SEGMENT)
        );
        let (url, text) = self.call(CALL, Method::GET, url, None).await?;
        let raw = parse_json(CALL, &url, &text, &self.secrets().await)?;
        if !raw.is_object() {
            return Err(ApiError::Decode {
                call: CALL,
                url,
                problem: "expected a JSON object".into(),
                body: excerpt(&text),
            });
        }
        Ok(Device::from_json(raw))
    }

    /// The credentials to scrub from any quoted body.
    async fn secrets(&self) -> Vec<String> {
        let mut s = vec![self.api_key.0.clone()];
        if let Some(t) = self.token.lock().await.as_ref() {
            s.push(t.token.0.clone());
        }
        s
    }

    /// Send an authorized API request; on 401 refresh the token once and retry once.
    /// Returns the URL (without query) and the body of a 2xx response.
    async fn call(
        &self,
        call: &'static str,
        method: Method,
        url: String,
        body: Option<Vec<u8>>,
    ) -> Result<(String, String), ApiError> {
        let mut token = self.access_token(None).await?;
        let mut retried = false;
        loop {
            debug!(call, %method, %url, subscriber_id = %self.subscriber_id, "Relay API request");
            let mut query = vec![("subscriber_id", self.subscriber_id.as_str())];
            if let Some(user) = &self.user_id {
                query.push(("user_id", user.as_str()));
            }
            let mut req = self
                .http
                .request(method.clone(), &url)
                .query(&query)
                .header(AUTHORIZATION, format!("Bearer {}", token.0))
                .header(ACCEPT, "application/json");
            if let Some(b) = &body {
                req = req.header(CONTENT_TYPE, "application/json").body(b.clone());
            }
            let resp = req.send().await.map_err(|e| network(call, &url, e))?;
            let status = resp.status();
            let text = resp.text().await.map_err(|e| network(call, &url, e))?;
            let secrets = [self.api_key.0.clone(), token.0.clone()];
            trace!(call, status = status.as_u16(), body = %scrubbed(&text, &secrets), "Relay API response");
            if status.is_success() {
                return Ok((url, text));
            }
            if status == StatusCode::UNAUTHORIZED {
                if retried {
                    return Err(ApiError::Unauthorized {
                        call,
                        subscriber_id: self.subscriber_id.clone(),
                        body: scrubbed(&text, &secrets),
                    });
                }
                debug!(
                    call,
                    "Relay API answered 401: refreshing the access token once"
                );
                retried = true;
                token = self.access_token(Some(&token)).await?;
                continue;
            }
            return Err(ApiError::Status {
                call,
                url,
                status: status.as_u16(),
                body: scrubbed(&text, &secrets),
                hint: status_hint(status),
            });
        }
    }

    /// The cached access token, or a new one. `rejected` is a token the API refused: if the
    /// cache still holds it, a new one is fetched (if another call already replaced it, the
    /// replacement is used).
    async fn access_token(&self, rejected: Option<&Secret>) -> Result<Secret, ApiError> {
        let mut cache = self.token.lock().await;
        if let Some(c) = cache.as_ref() {
            let stale = rejected == Some(&c.token);
            let expired = c.refresh_after.is_some_and(|t| Instant::now() >= t);
            if !stale && !expired {
                return Ok(c.token.clone());
            }
        }
        *cache = None;
        let fresh = self.refresh().await?;
        let token = fresh.token.clone();
        *cache = Some(fresh);
        Ok(token)
    }

    /// Trade the API key for an access token.
    async fn refresh(&self) -> Result<CachedToken, ApiError> {
        const CALL: &str = "access token refresh";
        trace!(client = ?self, "refreshing the Relay access token");
        let form = [
            ("grant_type", "refresh_token"),
            ("refresh_token", self.api_key.0.as_str()),
            ("client_id", self.client_id.as_str()),
        ];
        let resp = self
            .http
            .post(&self.token_url)
            .header(ACCEPT, "application/json")
            .form(&form)
            .send()
            .await
            .map_err(|e| network(CALL, &self.token_url, e))?;
        let status = resp.status();
        let text = resp
            .text()
            .await
            .map_err(|e| network(CALL, &self.token_url, e))?;
        let key = [self.api_key.0.clone()];
        if status == StatusCode::BAD_REQUEST
            || status == StatusCode::UNAUTHORIZED
            || status == StatusCode::FORBIDDEN
        {
            return Err(ApiError::Auth {
                token_url: self.token_url.clone(),
                status: status.as_u16(),
                message: auth_message(&text, &key),
            });
        }
        if !status.is_success() {
            return Err(ApiError::Status {
                call: CALL,
                url: self.token_url.clone(),
                status: status.as_u16(),
                body: scrubbed(&text, &key),
                hint: status_hint(status),
            });
        }
        let doc: Value = serde_json::from_str(&text).map_err(|e| ApiError::Decode {
            call: CALL,
            url: self.token_url.clone(),
            problem: e.to_string(),
            // The body may hold a token even when it is not valid JSON: never quote it.
            body: format!("{} bytes, not quoted", text.len()),
        })?;
        let token = match doc.get("access_token").and_then(Value::as_str) {
            Some(t) if !t.is_empty() => t.to_owned(),
            _ => {
                return Err(ApiError::Decode {
                    call: CALL,
                    url: self.token_url.clone(),
                    problem: "no access_token in the token response".into(),
                    body: format!("fields: {}", field_names(&doc)),
                })
            }
        };
        let expires_in = number(doc.get("expires_in")).filter(|s| s.is_finite() && *s > 0.0);
        debug!(
            expires_in_secs = expires_in,
            "obtained a Relay access token"
        );
        Ok(CachedToken {
            token: Secret(token),
            refresh_after: expires_in.map(|s| {
                Instant::now() + Duration::from_secs_f64(s.min(1e9)).saturating_sub(EXPIRY_MARGIN)
            }),
        })
    }
}

fn non_empty<'a>(value: &'a str, call: &str, what: &str, hint: &str) -> Result<&'a str, ApiError> {
    let v = value.trim();
    if v.is_empty() {
        Err(ApiError::Config(format!(
            "{call}: the {what} is empty; pass {hint}"
        )))
    } else {
        Ok(v)
    }
}

fn parse_json(
    call: &'static str,
    url: &str,
    text: &str,
    secrets: &[String],
) -> Result<Value, ApiError> {
    serde_json::from_str(text).map_err(|e| ApiError::Decode {
        call,
        url: url.to_owned(),
        problem: e.to_string(),
        body: scrubbed(text, secrets),
    })
}

fn network(call: &'static str, url: &str, e: reqwest::Error) -> ApiError {
    let e = e.without_url();
    let mut detail = e.to_string();
    let mut cause = std::error::Error::source(&e);
    while let Some(c) = cause {
        detail.push_str(": ");
        detail.push_str(&c.to_string());
        cause = c.source();
    }
    ApiError::Network {
        call,
        url: url.to_owned(),
        detail,
        source: e,
    }
}

fn status_hint(status: StatusCode) -> &'static str {
    match status.as_u16() {
        403 => " (the API key's user may not act on this subscriber or resource)",
        404 => " (check the workflow or device id and the subscriber id; an HTTP-triggered workflow must be registered with `relay workflow create http`)",
        429 => " (rate limited: retry later)",
        500..=599 => " (a Relay server error: retry later)",
        _ => "",
    }
}

/// The auth server's explanation: `error_description`, `error` or `message`, else an excerpt.
fn auth_message(text: &str, secrets: &[String]) -> String {
    let doc: Option<Value> = serde_json::from_str(text).ok();
    let pick = |k: &str| {
        doc.as_ref()
            .and_then(|d| d.get(k))
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    let msg = match (
        pick("error"),
        pick("error_description").or_else(|| pick("message")),
    ) {
        (Some(e), Some(d)) => format!("{e}: {d}"),
        (Some(e), None) => e,
        (None, Some(d)) => d,
        (None, None) => text.to_owned(),
    };
    scrubbed(&msg, secrets)
}

fn field_names(doc: &Value) -> String {
    match doc.as_object() {
        Some(m) if !m.is_empty() => m.keys().cloned().collect::<Vec<_>>().join(", "),
        Some(_) => "none".into(),
        None => "not an object".into(),
    }
}

/// An excerpt of `text` with every secret replaced.
fn scrubbed(text: &str, secrets: &[String]) -> String {
    let mut t = text.to_owned();
    for s in secrets.iter().filter(|s| !s.is_empty()) {
        t = t.replace(s.as_str(), "[redacted]");
    }
    excerpt(&t)
}

fn excerpt(text: &str) -> String {
    let t = text.trim();
    if t.is_empty() {
        return "empty body".into();
    }
    match t.char_indices().nth(EXCERPT_CHARS) {
        Some((i, _)) => format!("{}…", &t[..i]),
        None => t.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::collections::HashMap;

    fn lookup(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn env_defaults_to_pro_hosts() {
        let api = RelayApiBuilder::from_lookup(lookup(&[
            ("RELAY_SUBSCRIBER_ID", "sub-1"),
            ("RELAY_API_KEY", "key-1"),
            ("RELAY_AUTH_SDK_CLIENT_ID", "cid"),
        ]))
        .unwrap()
        .build()
        .unwrap();
        assert_eq!(api.api_url, API_URL_PRO);
        assert_eq!(api.token_url, TOKEN_URL_PRO);
        assert_eq!(api.user_id, None);
    }

    #[test]
    fn env_selects_qa_and_overrides() {
        let api = RelayApiBuilder::from_lookup(lookup(&[
            ("RELAY_ENV", "QA"),
            ("RELAY_SUBSCRIBER_ID", "sub-1"),
            ("RELAY_API_KEY", "key-1"),
            ("RELAY_AUTH_SDK_CLIENT_ID", "cid"),
            ("RELAY_TOKEN_URL", KEYCLOAK_TOKEN_URL_PRO),
            ("RELAY_USER_ID", "u1"),
        ]))
        .unwrap()
        .build()
        .unwrap();
        assert_eq!(api.api_url, API_URL_QA);
        assert_eq!(api.token_url, KEYCLOAK_TOKEN_URL_PRO);
        assert_eq!(api.user_id.as_deref(), Some("u1"));
    }

    #[test]
    fn bad_settings_say_what_to_do() {
        let e = RelayApiBuilder::from_lookup(lookup(&[("RELAY_ENV", "prod")])).unwrap_err();
        assert!(e.to_string().contains("`pro` or `qa`"), "{e}");
        let e = RelayApi::builder()
            .api_key("k")
            .client_id("c")
            .build()
            .unwrap_err();
        assert!(e.to_string().contains("RELAY_SUBSCRIBER_ID"), "{e}");
        let e = RelayApi::builder()
            .subscriber_id("s")
            .client_id("c")
            .build()
            .unwrap_err();
        assert!(e.to_string().contains("relay token generate"), "{e}");
        let e = RelayApi::builder()
            .subscriber_id("s")
            .api_key("k")
            .build()
            .unwrap_err();
        assert!(e.to_string().contains("auth_sdk_id"), "{e}");
        let e = RelayApi::builder()
            .subscriber_id("s")
            .api_key("k")
            .client_id("c")
            .api_url("all-main-pro-ibot.relaysvr.com")
            .build()
            .unwrap_err();
        assert!(e.to_string().contains("http(s) URL"), "{e}");
    }

    #[test]
    fn utc_marks_zone_less_timestamps() {
        assert_eq!(utc("2024-05-01T10:00:00".into()), "2024-05-01T10:00:00Z");
        assert_eq!(utc("2024-05-01T10:00:00Z".into()), "2024-05-01T10:00:00Z");
        assert_eq!(
            utc("2024-05-01T10:00:00+02:00".into()),
            "2024-05-01T10:00:00+02:00"
        );
        assert_eq!(utc("2024-05-01 10:00:00".into()), "2024-05-01 10:00:00Z");
    }

    #[test]
    fn scrub_and_excerpt() {
        let long = "x".repeat(1000);
        assert!(excerpt(&long).chars().count() <= EXCERPT_CHARS + 1);
        assert_eq!(
            scrubbed("token abc used", &["abc".into()]),
            "token [redacted] used"
        );
        assert_eq!(excerpt("  "), "empty body");
        assert_eq!(
            auth_message(
                r#"{"error":"invalid_grant","error_description":"Token is not active"}"#,
                &[]
            ),
            "invalid_grant: Token is not active"
        );
    }

    #[test]
    fn device_mode_undefined_is_none() {
        let d = Device::from_json(json!({"mode": "undefined", "device_label": 7}));
        assert_eq!(d.mode, None);
        assert_eq!(d.name.as_deref(), Some("7"));
    }
}
