//! The server's settings: the table of every environment variable ([`SETTINGS`]), their
//! defaults, and reading them from the environment, which happens only when asked
//! ([`WorkflowServer::settings_from_env`](super::WorkflowServer::settings_from_env)).

use super::ServeError;
use std::path::PathBuf;
use std::time::Duration;
use tracing::warn;

/// Default interval between WebSocket pings.
pub const DEFAULT_PING_INTERVAL: Duration = Duration::from_secs(25);
/// Default time running sessions get to finish after SIGTERM/SIGINT.
pub const DEFAULT_SHUTDOWN_DEADLINE: Duration = Duration::from_secs(25);
/// Default largest incoming message (speech events can carry base64 audio).
pub const DEFAULT_MAX_MESSAGE_SIZE: usize = 8 * 1024 * 1024;
/// Default most concurrent sessions; beyond it new upgrades get 503.
pub const DEFAULT_MAX_SESSIONS: usize = 10_000;
/// Default time a client gets to send its request headers and, once upgraded, its first event.
pub const DEFAULT_FIRST_EVENT_TIMEOUT: Duration = Duration::from_secs(30);
/// Default most requests one session may have awaiting a response.
pub const DEFAULT_MAX_PENDING_REQUESTS: usize = 1000;
/// Default most events one session may have waiting for a busy handler.
pub const DEFAULT_MAX_QUEUED_EVENTS: usize = 256;
/// Default bytes buffered for all peers together: messages arriving over several reads,
/// events waiting for a busy handler, frames waiting for a peer that does not read. Sized
/// for a 512 MB dyno with room to spare.
pub const DEFAULT_MAX_BUFFERED_BYTES: usize = 64 * 1024 * 1024;
/// Default most connections that have not started a session: reading their request, or
/// upgraded and waiting for their first event. A newer one takes the oldest one's place.
pub const DEFAULT_MAX_CONNECTING: usize = 1024;
/// Default bytes per second a session reads on average once a burst of one largest message
/// is spent: far above what Relay sends (a 1.4 MB speech event now and then), far below what
/// a peer streaming large messages would make the server parse.
pub const DEFAULT_MAX_READ_BYTES_PER_SEC: usize = 1024 * 1024;
/// Default interval of the keep-awake request.
pub const DEFAULT_KEEP_AWAKE_INTERVAL: Duration = Duration::from_secs(25 * 60);
/// Default port of [`WorkflowServer::serve`](super::WorkflowServer::serve) when `PORT` is unset.
pub const DEFAULT_PORT: u16 = 8080;

/// One setting the server reads from the environment: a row of [`SETTINGS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Setting {
    /// The environment variable (a Heroku config var).
    pub name: &'static str,
    /// Its default as written in `app.json` and `.env.example`; `None` when unset by default.
    pub default: Option<&'static str>,
    /// The unit of its value: `seconds`, `bytes`, `bytes per second`, a count, ….
    pub unit: &'static str,
    /// What it means, in one line.
    pub meaning: &'static str,
    /// Words every description of this setting contains (the READMEs, `app.json`), and no
    /// other setting's `app.json` description does.
    pub keyword: &'static str,
    /// Whether `app.json` (Heroku) lists it: not `PORT` (Heroku sets it) nor the TLS files
    /// (Heroku's router terminates TLS).
    pub heroku: bool,
    /// The cargo feature the setting needs, if any.
    pub feature: Option<&'static str>,
}

const fn setting(
    name: &'static str,
    default: Option<&'static str>,
    unit: &'static str,
    meaning: &'static str,
    keyword: &'static str,
) -> Setting {
    Setting {
        name,
        default,
        unit,
        meaning,
        keyword,
        heroku: true,
        feature: None,
    }
}

/// Every setting, in the order the READMEs and `app.json` list them. A test checks that the
/// root `app.json`, the template's `app.json` and `.env.example`, both READMEs and the
/// crate documentation agree with this table.
pub const SETTINGS: &[Setting] = &[
    Setting {
        heroku: false,
        ..setting("PORT", Some("8080"), "port", "port to listen on, on 0.0.0.0 (Heroku sets it)", "port")
    },
    setting("RUST_LOG", Some("info"), "filter", "log filter (tracing EnvFilter syntax), read by init_logging", "log"),
    setting("PING_INTERVAL_SECS", Some("25"), "seconds", "interval between WebSocket pings; keep it well under the router's 55 s idle limit", "ping"),
    setting("SHUTDOWN_DEADLINE_SECS", Some("25"), "seconds", "time running sessions get to finish after SIGTERM/SIGINT before they are closed with 1001", "SIGTERM"),
    setting("WORKFLOW_SECRET", None, "text", "shared secret every upgrade must carry as ?secret=… (or an X-Relay-Workflow-Secret header); 401 otherwise", "?secret="),
    setting("MAX_SESSIONS", Some("10000"), "sessions", "most concurrent sessions; beyond it upgrades get 503", "concurrent sessions"),
    setting("MAX_MESSAGE_BYTES", Some("8388608"), "bytes", "largest incoming message; a larger one closes the session with 1009", "1009"),
    setting("FIRST_EVENT_TIMEOUT_SECS", Some("30"), "seconds", "time to send the request headers, then (upgraded) the first event; 1008 otherwise", "request headers"),
    setting("MAX_PENDING_REQUESTS", Some("1000"), "requests", "actions awaiting a response per session; one more fails with Error::TooManyPending", "awaiting"),
    setting("MAX_QUEUED_EVENTS", Some("256"), "events", "events one session may have waiting while its handler for an earlier event still runs; one more closes it with 1008", "earlier event"),
    setting("MAX_BUFFERED_BYTES", Some("67108864"), "bytes", "bytes buffered for all connections together; when spent, sessions mid-message wait (10 s at most, then 1013)", "together"),
    setting("MAX_READ_BYTES_PER_SEC", Some("1048576"), "bytes per second", "bytes per second one session reads on average beyond one largest message (0: no limit)", "per second"),
    setting("MAX_CONNECTING", Some("1024"), "connections", "connections that have not started a session; a newer one takes the oldest one's place", "not started a session"),
    Setting {
        feature: Some("keep-awake"),
        ..setting("KEEP_AWAKE_URL", None, "URL", "the app's public URL; when set, <url>/healthz is requested periodically so an eco dyno does not sleep", "/healthz")
    },
    Setting {
        feature: Some("keep-awake"),
        ..setting("KEEP_AWAKE_INTERVAL_SECS", Some("1500"), "seconds", "interval between keep-awake requests (jittered)", "keep-awake requests")
    },
    Setting {
        heroku: false,
        feature: Some("tls"),
        ..setting("TLS_CERT_FILE", None, "path", "PEM certificate chain: with TLS_KEY_FILE, serve https/wss directly (not on Heroku)", "certificate")
    },
    Setting {
        heroku: false,
        feature: Some("tls"),
        ..setting("TLS_KEY_FILE", None, "path", "PEM private key: with TLS_CERT_FILE, serve https/wss directly (not on Heroku)", "key")
    },
];

/// The settings of a server; `None` means "the default" (the `DEFAULT_*` constants).
#[derive(Default, Clone)]
pub(crate) struct Settings {
    pub(crate) port: Option<u16>,
    pub(crate) ping_interval: Option<Duration>,
    pub(crate) shutdown_deadline: Option<Duration>,
    pub(crate) max_message_size: Option<usize>,
    pub(crate) keep_awake: Option<(String, Duration)>,
    pub(crate) secret: Option<String>,
    pub(crate) max_sessions: Option<usize>,
    pub(crate) first_event_timeout: Option<Duration>,
    pub(crate) max_pending_requests: Option<usize>,
    pub(crate) max_queued_events: Option<usize>,
    pub(crate) max_buffered_bytes: Option<usize>,
    pub(crate) max_connecting: Option<usize>,
    pub(crate) max_read_rate: Option<usize>,
    pub(crate) tls: Option<(PathBuf, PathBuf)>,
    /// Running on a Heroku dyno (`DYNO` is set): a missing secret is then a warning.
    pub(crate) on_heroku: bool,
}

impl Settings {
    /// Read every setting of [`SETTINGS`] through `var` (the environment, or a map in tests).
    /// Empty values count as unset. A variable of a feature this build lacks is a warning
    /// (keep-awake) or an error (TLS: serving plain HTTP where TLS was asked for would expose
    /// the secret).
    pub(crate) fn from_lookup(var: impl Fn(&str) -> Option<String>) -> Result<Self, ServeError> {
        let var = |name: &str| {
            var(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let mut s = Settings {
            port: match var("PORT") {
                Some(value) => Some(value.parse().map_err(|_| ServeError::Port { value })?),
                None => None,
            },
            ping_interval: secs(&var, "PING_INTERVAL_SECS", 1)?,
            shutdown_deadline: secs(&var, "SHUTDOWN_DEADLINE_SECS", 0)?,
            secret: var("WORKFLOW_SECRET"),
            max_sessions: count(&var, "MAX_SESSIONS", 1)?,
            max_message_size: count(&var, "MAX_MESSAGE_BYTES", 1024)?,
            first_event_timeout: secs(&var, "FIRST_EVENT_TIMEOUT_SECS", 1)?,
            max_pending_requests: count(&var, "MAX_PENDING_REQUESTS", 1)?,
            max_queued_events: count(&var, "MAX_QUEUED_EVENTS", 1)?,
            max_buffered_bytes: count(&var, "MAX_BUFFERED_BYTES", 1024)?,
            max_connecting: count(&var, "MAX_CONNECTING", 1)?,
            max_read_rate: count(&var, "MAX_READ_BYTES_PER_SEC", 0)?,
            on_heroku: var("DYNO").is_some(),
            ..Settings::default()
        };
        if let Some(url) = var("KEEP_AWAKE_URL") {
            let interval =
                secs(&var, "KEEP_AWAKE_INTERVAL_SECS", 1)?.unwrap_or(DEFAULT_KEEP_AWAKE_INTERVAL);
            if cfg!(feature = "keep-awake") {
                s.keep_awake = Some((url, interval));
            } else {
                warn!("{}", missing_feature("KEEP_AWAKE_URL is set", "keep-awake"));
            }
        }
        match (var("TLS_CERT_FILE"), var("TLS_KEY_FILE")) {
            (Some(cert), Some(key)) => {
                if !cfg!(feature = "tls") {
                    return Err(ServeError::Tls(missing_feature(
                        "TLS_CERT_FILE and TLS_KEY_FILE are set",
                        "tls",
                    )));
                }
                s.tls = Some((cert.into(), key.into()));
            }
            (None, None) => {}
            (Some(_), None) => {
                return Err(ServeError::Tls(
                    "TLS_CERT_FILE is set but TLS_KEY_FILE is not: set both (PEM files) to serve wss:// directly, or neither".into(),
                ))
            }
            (None, Some(_)) => {
                return Err(ServeError::Tls(
                    "TLS_KEY_FILE is set but TLS_CERT_FILE is not: set both (PEM files) to serve wss:// directly, or neither".into(),
                ))
            }
        }
        Ok(s)
    }

    /// These settings, with the unset ones taken from `other`.
    pub(crate) fn or(self, other: Settings) -> Settings {
        Settings {
            port: self.port.or(other.port),
            ping_interval: self.ping_interval.or(other.ping_interval),
            shutdown_deadline: self.shutdown_deadline.or(other.shutdown_deadline),
            max_message_size: self.max_message_size.or(other.max_message_size),
            keep_awake: self.keep_awake.or(other.keep_awake),
            secret: self.secret.or(other.secret),
            max_sessions: self.max_sessions.or(other.max_sessions),
            first_event_timeout: self.first_event_timeout.or(other.first_event_timeout),
            max_pending_requests: self.max_pending_requests.or(other.max_pending_requests),
            max_queued_events: self.max_queued_events.or(other.max_queued_events),
            max_buffered_bytes: self.max_buffered_bytes.or(other.max_buffered_bytes),
            max_connecting: self.max_connecting.or(other.max_connecting),
            max_read_rate: self.max_read_rate.or(other.max_read_rate),
            tls: self.tls.or(other.tls),
            on_heroku: self.on_heroku || other.on_heroku,
        }
    }

    /// Refuse values no server can use; warn about values that work but defeat their
    /// purpose on Heroku.
    pub(crate) fn check(&self) -> Result<(), ServeError> {
        if let Some((url, _)) = &self.keep_awake {
            if !(url.starts_with("https://") || url.starts_with("http://")) {
                return Err(ServeError::Env {
                    name: "KEEP_AWAKE_URL",
                    problem: "must be the app's public URL, like https://my-app-1234.herokuapp.com",
                    value: url.clone(),
                });
            }
        }
        if let Some(ping) = self.ping_interval {
            if ping >= Duration::from_secs(55) {
                warn!("PING_INTERVAL_SECS is {ping:?}: Heroku's router drops connections idle for 55 s");
            }
        }
        if let Some(deadline) = self.shutdown_deadline {
            if deadline > Duration::from_secs(27) {
                warn!("SHUTDOWN_DEADLINE_SECS is {deadline:?}: the server exits up to 2 s after it, and Heroku kills the process 30 s after SIGTERM");
            }
        }
        if let Some(secret) = &self.secret {
            if secret.len() < 16 {
                warn!("WORKFLOW_SECRET is shorter than 16 characters: use a long random value (app.json generates 64 hex characters)");
            }
        }
        Ok(())
    }
}

/// What to say when a setting needs a feature this build lacks: the feature and the
/// `Cargo.toml` line that enables it.
pub(crate) fn missing_feature(what: &str, feature: &str) -> String {
    format!(
        "{what}, but this build of relay-workflow has no feature \"{feature}\": enable it in Cargo.toml with \
         relay-workflow = {{ path = \"relay-workflow\", features = [\"{feature}\"] }}"
    )
}

fn count(
    var: &impl Fn(&str) -> Option<String>,
    name: &'static str,
    min: usize,
) -> Result<Option<usize>, ServeError> {
    let Some(value) = var(name) else {
        return Ok(None);
    };
    match value.parse::<usize>() {
        Ok(n) if n >= min => Ok(Some(n)),
        _ => Err(ServeError::Env {
            name,
            problem: if min == 0 {
                "must be a whole number (0 for no limit)"
            } else if min == 1 {
                "must be a whole number, at least 1"
            } else {
                "must be a whole number, at least 1024"
            },
            value,
        }),
    }
}

fn secs(
    var: &impl Fn(&str) -> Option<String>,
    name: &'static str,
    min: u64,
) -> Result<Option<Duration>, ServeError> {
    let Some(value) = var(name) else {
        return Ok(None);
    };
    match value.parse::<u64>() {
        Ok(secs) if secs >= min => Ok(Some(Duration::from_secs(secs))),
        _ => Err(ServeError::Env {
            name,
            problem: if min == 0 {
                "must be a whole number of seconds"
            } else {
                "must be a whole number of seconds, at least 1"
            },
            value,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn read(pairs: &[(&str, &str)]) -> Result<Settings, ServeError> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Settings::from_lookup(|name| map.get(name).cloned())
    }

    #[test]
    fn the_table_defaults_are_the_constants() {
        let default = |name: &str| {
            SETTINGS
                .iter()
                .find(|s| s.name == name)
                .and_then(|s| s.default)
                .unwrap_or_else(|| panic!("{name} has no default"))
                .to_owned()
        };
        assert_eq!(default("PORT"), DEFAULT_PORT.to_string());
        let secs = |d: Duration| d.as_secs().to_string();
        assert_eq!(default("PING_INTERVAL_SECS"), secs(DEFAULT_PING_INTERVAL));
        assert_eq!(
            default("SHUTDOWN_DEADLINE_SECS"),
            secs(DEFAULT_SHUTDOWN_DEADLINE)
        );
        assert_eq!(default("MAX_SESSIONS"), DEFAULT_MAX_SESSIONS.to_string());
        assert_eq!(
            default("MAX_MESSAGE_BYTES"),
            DEFAULT_MAX_MESSAGE_SIZE.to_string()
        );
        assert_eq!(
            default("FIRST_EVENT_TIMEOUT_SECS"),
            secs(DEFAULT_FIRST_EVENT_TIMEOUT)
        );
        assert_eq!(
            default("MAX_PENDING_REQUESTS"),
            DEFAULT_MAX_PENDING_REQUESTS.to_string()
        );
        assert_eq!(
            default("MAX_QUEUED_EVENTS"),
            DEFAULT_MAX_QUEUED_EVENTS.to_string()
        );
        assert_eq!(
            default("MAX_BUFFERED_BYTES"),
            DEFAULT_MAX_BUFFERED_BYTES.to_string()
        );
        assert_eq!(
            default("MAX_READ_BYTES_PER_SEC"),
            DEFAULT_MAX_READ_BYTES_PER_SEC.to_string()
        );
        assert_eq!(
            default("MAX_CONNECTING"),
            DEFAULT_MAX_CONNECTING.to_string()
        );
        assert_eq!(
            default("KEEP_AWAKE_INTERVAL_SECS"),
            secs(DEFAULT_KEEP_AWAKE_INTERVAL)
        );
    }

    #[test]
    fn every_variable_read_is_in_the_table() {
        let asked = std::cell::RefCell::new(Vec::new());
        let _ = Settings::from_lookup(|name| {
            asked.borrow_mut().push(name.to_owned());
            // Set everything so that every conditional read happens too.
            Some(match name {
                "KEEP_AWAKE_URL" => "https://example.com".to_owned(),
                "TLS_CERT_FILE" | "TLS_KEY_FILE" | "WORKFLOW_SECRET" | "DYNO" => "x".to_owned(),
                _ => "2000".to_owned(),
            })
        });
        for name in asked.into_inner() {
            if name == "DYNO" {
                continue; // Set by Heroku, not a setting.
            }
            assert!(
                SETTINGS.iter().any(|s| s.name == name),
                "{name} is read but not in SETTINGS"
            );
        }
        assert_eq!(
            SETTINGS.len(),
            SETTINGS
                .iter()
                .map(|s| s.name)
                .collect::<std::collections::HashSet<_>>()
                .len(),
            "a name is listed twice"
        );
    }

    #[test]
    fn values_are_read_and_checked() {
        let s = read(&[
            ("PORT", " 5006 "),
            ("MAX_SESSIONS", "7"),
            ("PING_INTERVAL_SECS", ""),
            ("WORKFLOW_SECRET", "  s3cret  "),
            ("DYNO", "web.1"),
        ])
        .unwrap();
        assert_eq!(s.port, Some(5006));
        assert_eq!(s.max_sessions, Some(7));
        assert_eq!(s.ping_interval, None);
        assert_eq!(s.secret.as_deref(), Some("s3cret"));
        assert!(s.on_heroku);
        let e = read(&[("PORT", "eighty")]).err().unwrap().to_string();
        assert!(e.contains("PORT must be a port number"), "{e}");
        let e = read(&[("MAX_SESSIONS", "0")]).err().unwrap().to_string();
        assert!(
            e.contains("MAX_SESSIONS must be a whole number, at least 1"),
            "{e}"
        );
        let e = read(&[("MAX_MESSAGE_BYTES", "10")])
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("at least 1024"), "{e}");
        let e = read(&[("TLS_CERT_FILE", "c.pem")])
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("TLS_KEY_FILE is not"), "{e}");
        let bad = Settings {
            keep_awake: Some(("example.com".into(), DEFAULT_KEEP_AWAKE_INTERVAL)),
            ..Settings::default()
        };
        let e = bad.check().err().unwrap().to_string();
        assert!(
            e.contains("KEEP_AWAKE_URL must be the app's public URL"),
            "{e}"
        );
    }

    #[test]
    fn builder_settings_win_over_the_environment() {
        let builder = Settings {
            max_sessions: Some(3),
            ..Settings::default()
        };
        let env = read(&[("MAX_SESSIONS", "9"), ("MAX_CONNECTING", "5")]).unwrap();
        let s = builder.or(env);
        assert_eq!(s.max_sessions, Some(3));
        assert_eq!(s.max_connecting, Some(5));
    }

    #[test]
    fn tls_files_without_the_feature_name_it() {
        let result = read(&[("TLS_CERT_FILE", "c.pem"), ("TLS_KEY_FILE", "k.pem")]);
        if cfg!(feature = "tls") {
            assert!(result.unwrap().tls.is_some());
        } else {
            let e = result.err().unwrap().to_string();
            assert!(e.contains("features = [\"tls\"]"), "{e}");
        }
    }

    #[test]
    fn keep_awake_without_the_feature_is_off() {
        let s = read(&[("KEEP_AWAKE_URL", "https://example.com")]).unwrap();
        assert_eq!(s.keep_awake.is_some(), cfg!(feature = "keep-awake"));
        assert!(missing_feature("X is set", "keep-awake").contains(
            "relay-workflow = { path = \"relay-workflow\", features = [\"keep-awake\"] }"
        ));
    }
}
