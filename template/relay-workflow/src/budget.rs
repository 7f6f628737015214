//! Process-wide bounds that no single connection can see: the bytes buffered for peers, and
//! the connections that have not started a session yet.
//!
//! * [`Budget`]: every session charges the bytes it holds on a peer's behalf (a message
//!   arriving over several reads, events waiting for a busy handler, frames waiting for a peer
//!   that does not read). When the sum reaches the limit (`MAX_BUFFERED_BYTES`), sessions in
//!   the middle of a message stop reading until there is room again, so that many peers
//!   together cannot grow the process past it.
//! * [`Connecting`]: connections that are reading their request head, or are upgraded and
//!   waiting for their first event, hold a place among at most `MAX_CONNECTING`. A new one
//!   that finds every place taken takes the oldest one's: that connection is closed (1013 if
//!   upgraded). Relay sends its start event right behind the `101`, so its connections hold
//!   a place for a round trip; a peer that opens connections and sends nothing can hold at
//!   most these places, never the session places Relay needs.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use tokio_util::sync::CancellationToken;

/// The bytes buffered for all peers together, against a limit.
#[derive(Debug)]
pub(crate) struct Budget {
    used: AtomicUsize,
    limit: usize,
}

impl Budget {
    /// A budget of `limit` bytes.
    pub(crate) fn new(limit: usize) -> Budget {
        Budget {
            used: AtomicUsize::new(0),
            limit,
        }
    }

    /// The limit in bytes.
    pub(crate) fn limit(&self) -> usize {
        self.limit
    }

    /// Bytes charged now.
    pub(crate) fn used(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }

    /// Whether the charges have reached the limit.
    pub(crate) fn is_spent(&self) -> bool {
        self.used() >= self.limit
    }

    /// Move a holder's charge from `from` to `to` bytes (the bytes exist already: this only
    /// accounts for them).
    pub(crate) fn recharge(&self, from: usize, to: usize) {
        if to > from {
            self.used.fetch_add(to - from, Ordering::Relaxed);
        } else if from > to {
            self.used.fetch_sub(from - to, Ordering::Relaxed);
        }
    }
}

/// The places of connections that have not started a session yet.
#[derive(Debug)]
pub(crate) struct Connecting {
    max: usize,
    inner: Mutex<Places>,
}

#[derive(Debug, Default)]
struct Places {
    next: u64,
    /// By age: the first entry is the oldest connection.
    held: BTreeMap<u64, CancellationToken>,
    evicted: u64,
}

/// A connection's place among those connecting; given back when dropped.
#[derive(Debug)]
pub(crate) struct ConnectingPlace {
    owner: Arc<Connecting>,
    id: u64,
}

impl Drop for ConnectingPlace {
    fn drop(&mut self) {
        let mut places = self.owner.lock();
        places.held.remove(&self.id);
    }
}

impl Connecting {
    /// Room for `max` connections at once (at least one).
    pub(crate) fn new(max: usize) -> Arc<Connecting> {
        Arc::new(Connecting {
            max: max.max(1),
            inner: Mutex::new(Places::default()),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Places> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The most connections that may be connecting at once.
    pub(crate) fn max(&self) -> usize {
        self.max
    }

    /// Take a place for a new connection, which is told to leave through `evict` if a newer
    /// one needs its place. Returns the place, and whether an older connection was evicted.
    pub(crate) fn enter(self: &Arc<Self>, evict: CancellationToken) -> (ConnectingPlace, bool) {
        let mut places = self.lock();
        let mut evicted = false;
        while places.held.len() >= self.max {
            match places.held.pop_first() {
                Some((_, oldest)) => {
                    oldest.cancel();
                    places.evicted += 1;
                    evicted = true;
                }
                None => break,
            }
        }
        let id = places.next;
        places.next += 1;
        places.held.insert(id, evict);
        (
            ConnectingPlace {
                owner: self.clone(),
                id,
            },
            evicted,
        )
    }

    /// Connections holding a place now.
    pub(crate) fn len(&self) -> usize {
        self.lock().held.len()
    }

    /// Connections evicted so far.
    #[cfg(test)]
    pub(crate) fn evicted(&self) -> u64 {
        self.lock().evicted
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_follows_charges() {
        let b = Budget::new(100);
        b.recharge(0, 60);
        assert!(!b.is_spent());
        b.recharge(0, 50);
        assert!(b.is_spent());
        assert_eq!(b.used(), 110);
        b.recharge(60, 10);
        assert_eq!(b.used(), 60);
        b.recharge(50, 0);
        b.recharge(10, 0);
        assert_eq!(b.used(), 0);
        assert_eq!(b.limit(), 100);
    }

    #[test]
    fn a_full_room_evicts_the_oldest_connection() {
        let room = Connecting::new(3);
        let tokens: Vec<CancellationToken> = (0..5).map(|_| CancellationToken::new()).collect();
        let mut places = Vec::new();
        for (i, t) in tokens.iter().enumerate() {
            let (place, evicted) = room.enter(t.clone());
            assert_eq!(evicted, i >= 3, "connection {i}");
            places.push(place);
            assert!(room.len() <= 3);
        }
        assert!(tokens[0].is_cancelled() && tokens[1].is_cancelled());
        assert!(tokens[2..].iter().all(|t| !t.is_cancelled()));
        assert_eq!(room.evicted(), 2);
        // Leaving gives the place back; an evicted connection leaving changes nothing.
        drop(places.remove(0));
        assert_eq!(room.len(), 3);
        drop(places.pop());
        assert_eq!(room.len(), 2);
        let (_again, evicted) = room.enter(CancellationToken::new());
        assert!(!evicted);
        assert_eq!(room.max(), 3);
    }
}
