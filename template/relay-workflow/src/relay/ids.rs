//! Ids: the `_id` of every request (unique across processes) and the short session id of
//! log lines.

use std::sync::atomic::{AtomicU64, Ordering};

static ID_COUNTER: AtomicU64 = AtomicU64::new(0);

/// A request id: 32 lowercase hex characters, unique within the process and, through a
/// random per-process half, across processes.
pub(crate) fn new_id() -> String {
    let n = ID_COUNTER.fetch_add(1, Ordering::Relaxed);
    let mut s = String::with_capacity(32);
    push_hex(&mut s, process_random());
    push_hex(&mut s, mix(n));
    s
}

/// A short session id for log lines (8 hex characters).
pub(crate) fn session_id() -> String {
    let n = ID_COUNTER.fetch_add(1, Ordering::Relaxed);
    let mut s = String::with_capacity(16);
    push_hex(&mut s, mix(n ^ process_random()));
    s.truncate(8);
    s
}

/// 64 bits from the operating system's generator, read once.
fn process_random() -> u64 {
    static RANDOM: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *RANDOM.get_or_init(|| {
        let mut bytes = [0u8; 8];
        if getrandom::fill(&mut bytes).is_err() {
            // No OS generator (never seen on Linux): the clock still separates processes.
            let t = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(0);
            bytes = (t ^ u64::from(std::process::id()) << 32).to_le_bytes();
        }
        u64::from_le_bytes(bytes)
    })
}

/// A bijection on u64 (splitmix64's finalizer): distinct counters give distinct ids.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn push_hex(s: &mut String, n: u64) {
    for shift in (0..16).rev() {
        let digit = ((n >> (shift * 4)) & 0xf) as u32;
        s.push(char::from_digit(digit, 16).unwrap_or('0'));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_32_lowercase_hex_and_distinct() {
        let a = new_id();
        let b = new_id();
        assert_eq!(a.len(), 32);
        assert!(a
            .chars()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
        assert_ne!(a, b);
        let s = session_id();
        assert_eq!(s.len(), 8);
        assert_ne!(s, session_id());
    }
}
