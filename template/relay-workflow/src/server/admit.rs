//! Who may open a session: one decision (secret, shutdown, session cap) for both upgrade
//! paths, the accept loop's own (`listener.rs`) and the axum router's (`routes.rs`).

use super::App;
use crate::logging::Refusal;
use crate::session::Slot;

/// Why an upgrade may not start a session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Denied {
    /// 401: the upgrade carried no secret.
    NoSecret,
    /// 401: the upgrade carried a wrong secret.
    WrongSecret,
    /// 503: the server is shutting down.
    ShuttingDown,
    /// 503: `MAX_SESSIONS` sessions are running.
    AtCapacity,
}

impl Denied {
    /// The kind of its log line.
    pub(super) fn refusal(self) -> Refusal {
        match self {
            Denied::NoSecret => Refusal::NoSecret,
            Denied::WrongSecret => Refusal::WrongSecret,
            Denied::ShuttingDown => Refusal::ShuttingDown,
            Denied::AtCapacity => Refusal::AtCapacity,
        }
    }
}

/// The query parameter that carries the shared secret: `wss://host/path?secret=…`.
pub const SECRET_PARAM: &str = "secret";
/// The header that may carry the shared secret instead of the query parameter.
pub const SECRET_HEADER: &str = "x-relay-workflow-secret";

impl App {
    /// Whether a WebSocket upgrade on a workflow path may start a session, given the
    /// secret header and the query string of its request: the session's slot, or why not
    /// (a missing or wrong secret: 401; shutting down or `MAX_SESSIONS` reached: 503).
    /// The checks run in this order on both upgrade paths.
    pub(super) fn admit(
        &self,
        secret_header: Option<&[u8]>,
        query: Option<&str>,
    ) -> Result<Slot, Denied> {
        if let Some(secret) = &self.secret {
            match secret_from(secret_header, query) {
                None => return Err(Denied::NoSecret),
                Some(given) if !constant_time_eq(secret, &given) => {
                    return Err(Denied::WrongSecret)
                }
                Some(_) => {}
            }
        }
        if self.handle.is_shutting_down() {
            return Err(Denied::ShuttingDown);
        }
        Slot::reserve(&self.handle.live, self.max_sessions).ok_or(Denied::AtCapacity)
    }
}

/// The secret given in the header (first) or the percent-decoded `secret` query parameter.
pub(super) fn secret_from(header: Option<&[u8]>, query: Option<&str>) -> Option<Vec<u8>> {
    if let Some(value) = header {
        return Some(value.to_vec());
    }
    query?.split('&').find_map(|pair| {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        (name == SECRET_PARAM).then(|| percent_encoding::percent_decode_str(value).collect())
    })
}

/// Compare without stopping at the first difference: the time taken depends only on the
/// length of `expected`, not on how much of it `given` gets right.
fn constant_time_eq(expected: &[u8], given: &[u8]) -> bool {
    let mut diff = usize::from(expected.len() != given.len());
    for (i, e) in expected.iter().enumerate() {
        let g = given.get(i).copied().unwrap_or(!*e);
        diff |= usize::from(e ^ g);
    }
    std::hint::black_box(diff) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::WorkflowServer;

    #[test]
    fn secrets_compare_in_full() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
        assert!(!constant_time_eq(b"abc", b""));
        assert!(constant_time_eq(b"", b""));
    }

    #[test]
    fn the_secret_comes_from_the_header_or_the_query() {
        assert_eq!(
            secret_from(None, Some("x=1&secret=a%2Fb&y")).unwrap(),
            b"a/b"
        );
        assert_eq!(secret_from(None, Some("secrets=1")), None);
        assert_eq!(secret_from(None, None), None);
        assert_eq!(secret_from(Some(b"h"), Some("secret=q")).unwrap(), b"h");
    }

    #[tokio::test]
    async fn admission_checks_secret_then_shutdown_then_capacity() {
        let (_, handle, fast) = WorkflowServer::new().secret("s").max_sessions(1).assemble();
        let app = &fast.app;
        assert_eq!(app.admit(None, None).err(), Some(Denied::NoSecret));
        assert_eq!(
            app.admit(None, Some("secret=t")).err(),
            Some(Denied::WrongSecret)
        );
        let slot = app.admit(Some(b"s"), None).expect("admitted");
        assert_eq!(
            app.admit(None, Some("secret=s")).err(),
            Some(Denied::AtCapacity)
        );
        drop(slot);
        assert!(app.admit(None, Some("secret=s")).is_ok());
        handle.begin_shutdown();
        assert_eq!(
            app.admit(None, Some("secret=s")).err(),
            Some(Denied::ShuttingDown)
        );
        assert_eq!(
            app.admit(None, Some("secret=t")).err(),
            Some(Denied::WrongSecret)
        );
    }
}
