//! Client WebSocket frames built by hand, for tests that speak frames themselves.
#![allow(dead_code)]

/// A masked client frame whose header announces `announce` payload bytes (the payload sent
/// may be shorter); `first` is the first header byte (FIN, RSV, opcode).
pub fn frame_announcing(first: u8, announce: usize, payload: &[u8]) -> Vec<u8> {
    let mask = [0x11, 0x22, 0x33, 0x44];
    let mut out = vec![first];
    if announce < 126 {
        out.push(0x80 | announce as u8);
    } else if announce <= 0xffff {
        out.push(0x80 | 126);
        out.extend_from_slice(&(announce as u16).to_be_bytes());
    } else {
        out.push(0x80 | 127);
        out.extend_from_slice(&(announce as u64).to_be_bytes());
    }
    out.extend_from_slice(&mask);
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    out
}

/// A whole masked client frame.
pub fn masked(first: u8, payload: &[u8]) -> Vec<u8> {
    frame_announcing(first, payload.len(), payload)
}
