//! The server side of the WebSocket protocol (RFC 6455), as a session needs it.
//!
//! No I/O here: [`Reader`] turns the bytes read from a client into messages, [`encode`]
//! frames what the server sends, [`accept_key`] answers the opening handshake. A session
//! reads into a scratch buffer on its stack and keeps bytes between reads only while a
//! frame is incomplete, so a connection that waits for the next event holds no buffer.
//!
//! What a Relay workflow server needs and no more: no extensions (compression is never
//! negotiated, so any RSV bit is an error), text and binary messages, fragmentation, ping,
//! pong and the close handshake. Every violation names the close code to send.

use sha1::{Digest, Sha1};

/// The GUID of RFC 6455 §1.3, appended to the client's key.
const GUID: &[u8] = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// Largest payload of a control frame (RFC 6455 §5.5).
const MAX_CONTROL_PAYLOAD: usize = 125;

/// The `Sec-WebSocket-Accept` value for a client's `Sec-WebSocket-Key`.
pub(crate) fn accept_key(key: &[u8]) -> String {
    let mut sha = Sha1::new();
    sha.update(key);
    sha.update(GUID);
    base64(&sha.finalize())
}

fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = (u32::from(chunk[0]) << 16)
            | (u32::from(*chunk.get(1).unwrap_or(&0)) << 8)
            | u32::from(*chunk.get(2).unwrap_or(&0));
        let sextet = |shift: u32| char::from(ALPHABET[((n >> shift) & 63) as usize]);
        out.push(sextet(18));
        out.push(sextet(12));
        out.push(if chunk.len() > 1 { sextet(6) } else { '=' });
        out.push(if chunk.len() > 2 { sextet(0) } else { '=' });
    }
    out
}

/// Frame opcodes (RFC 6455 §5.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum OpCode {
    Continuation,
    Text,
    Binary,
    Close,
    Ping,
    Pong,
}

impl OpCode {
    fn from_bits(bits: u8) -> Option<OpCode> {
        Some(match bits {
            0 => OpCode::Continuation,
            1 => OpCode::Text,
            2 => OpCode::Binary,
            8 => OpCode::Close,
            9 => OpCode::Ping,
            10 => OpCode::Pong,
            _ => return None,
        })
    }

    fn bits(self) -> u8 {
        match self {
            OpCode::Continuation => 0,
            OpCode::Text => 1,
            OpCode::Binary => 2,
            OpCode::Close => 8,
            OpCode::Ping => 9,
            OpCode::Pong => 10,
        }
    }

    fn is_control(self) -> bool {
        matches!(self, OpCode::Close | OpCode::Ping | OpCode::Pong)
    }
}

/// Why the connection must be closed, with the close code to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Violation {
    /// A message (or a frame header announcing one) longer than the limit: 1009.
    TooBig { size: u64, limit: usize },
    /// A text message that is not UTF-8: 1007.
    NotUtf8,
    /// Anything else the protocol forbids: 1002.
    Protocol(&'static str),
}

impl Violation {
    /// The close code this violation calls for.
    pub(crate) fn close_code(&self) -> u16 {
        match self {
            Violation::TooBig { .. } => 1009,
            Violation::NotUtf8 => 1007,
            Violation::Protocol(_) => 1002,
        }
    }
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Violation::TooBig { size, limit } => {
                write!(f, "a message of {size} bytes, over the limit of {limit}")
            }
            Violation::NotUtf8 => write!(f, "a text message that is not UTF-8"),
            Violation::Protocol(what) => write!(f, "{what}"),
        }
    }
}

/// One message from the client, borrowed from the bytes just read.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Message<'a> {
    Text(&'a str),
    /// Relay sends text only; the length is kept for the log line.
    Binary(usize),
    Ping(&'a [u8]),
    Pong,
    /// The close code, if the frame had one, and the reason.
    Close(Option<u16>, &'a str),
}

/// A frame header: what [`parse_header`] read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Header {
    fin: bool,
    opcode: OpCode,
    mask: [u8; 4],
    header_len: usize,
    payload_len: u64,
}

/// Parse the header at the start of `buf`; `Ok(None)` while it is incomplete.
fn parse_header(buf: &[u8]) -> Result<Option<Header>, Violation> {
    let [b0, b1, ..] = *buf else {
        return Ok(None);
    };
    if b0 & 0x70 != 0 {
        return Err(Violation::Protocol(
            "a reserved bit is set (no extension was agreed)",
        ));
    }
    let fin = b0 & 0x80 != 0;
    let opcode = OpCode::from_bits(b0 & 0x0f).ok_or(Violation::Protocol("an unknown opcode"))?;
    if b1 & 0x80 == 0 {
        return Err(Violation::Protocol("an unmasked frame from the client"));
    }
    let (payload_len, at) = match b1 & 0x7f {
        126 => match buf.get(2..4) {
            Some(b) => (u64::from(u16::from_be_bytes([b[0], b[1]])), 4),
            None => return Ok(None),
        },
        127 => match buf.get(2..10) {
            Some(b) => {
                let mut eight = [0u8; 8];
                eight.copy_from_slice(b);
                let n = u64::from_be_bytes(eight);
                if n >> 63 != 0 {
                    return Err(Violation::Protocol("a frame length with the top bit set"));
                }
                (n, 10)
            }
            None => return Ok(None),
        },
        n => (u64::from(n), 2),
    };
    if opcode.is_control() {
        if !fin {
            return Err(Violation::Protocol("a fragmented control frame"));
        }
        if payload_len > MAX_CONTROL_PAYLOAD as u64 {
            return Err(Violation::Protocol("a control frame longer than 125 bytes"));
        }
    }
    let Some(m) = buf.get(at..at + 4) else {
        return Ok(None);
    };
    Ok(Some(Header {
        fin,
        opcode,
        mask: [m[0], m[1], m[2], m[3]],
        header_len: at + 4,
        payload_len,
    }))
}

fn unmask(payload: &mut [u8], mask: [u8; 4]) {
    let mut chunks = payload.chunks_exact_mut(4);
    let word = u32::from_ne_bytes(mask);
    for chunk in &mut chunks {
        let v = u32::from_ne_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]) ^ word;
        chunk.copy_from_slice(&v.to_ne_bytes());
    }
    for (i, b) in chunks.into_remainder().iter_mut().enumerate() {
        *b ^= mask[i];
    }
}

/// Turns the bytes a client sends into messages.
#[derive(Debug)]
pub(crate) struct Reader {
    /// The start of a frame that has not arrived whole. Empty (and unallocated) between
    /// frames.
    pending: Vec<u8>,
    /// A fragmented message being assembled: its opcode and the payload so far.
    fragments: Option<(OpCode, Vec<u8>)>,
    max_message: usize,
}

impl Reader {
    /// A reader that refuses messages longer than `max_message` bytes.
    pub(crate) fn new(max_message: usize) -> Self {
        Reader {
            pending: Vec::new(),
            fragments: None,
            max_message,
        }
    }

    /// Bytes of an incomplete frame (or fragmented message) held between reads.
    pub(crate) fn held(&self) -> usize {
        self.pending.capacity() + self.fragments.as_ref().map_or(0, |(_, v)| v.capacity())
    }

    /// Consume `data` (just read; it is unmasked in place) and hand every complete message
    /// to `on`, in order. `on` returns `false` to stop: the rest of the data is dropped,
    /// which is what a connection that is closing wants.
    pub(crate) fn feed(
        &mut self,
        data: &mut [u8],
        mut on: impl FnMut(Message<'_>) -> bool,
    ) -> Result<(), Violation> {
        if self.pending.is_empty() {
            let used = self.parse(data, &mut on)?;
            if used < data.len() {
                self.keep(&data[used..]);
            }
            return Ok(());
        }
        let mut pending = std::mem::take(&mut self.pending);
        pending.extend_from_slice(data);
        let used = self.parse(&mut pending, &mut on)?;
        if used < pending.len() {
            pending.drain(..used);
            if pending.capacity() > 2 * pending.len().max(4096) {
                pending.shrink_to_fit();
            }
            self.pending = pending;
        }
        Ok(())
    }

    /// Keep the start of an incomplete frame, reserving room for the whole of it.
    fn keep(&mut self, rest: &[u8]) {
        let whole = match parse_header(rest) {
            Ok(Some(h)) => {
                (h.header_len as u64 + h.payload_len).min(self.max_message as u64 + 14) as usize
            }
            _ => 14,
        };
        self.pending.reserve_exact(whole.max(rest.len()));
        self.pending.extend_from_slice(rest);
    }

    /// Parse the complete frames at the start of `buf`; returns how many bytes they took.
    fn parse(
        &mut self,
        buf: &mut [u8],
        on: &mut impl FnMut(Message<'_>) -> bool,
    ) -> Result<usize, Violation> {
        let mut at = 0;
        while let Some(header) = parse_header(&buf[at..])? {
            let so_far = self.fragments.as_ref().map_or(0, |(_, v)| v.len() as u64);
            if !header.opcode.is_control() && so_far + header.payload_len > self.max_message as u64
            {
                return Err(Violation::TooBig {
                    size: so_far + header.payload_len,
                    limit: self.max_message,
                });
            }
            let start = at + header.header_len;
            let end = start + header.payload_len as usize;
            if end > buf.len() {
                break;
            }
            let payload = &mut buf[start..end];
            unmask(payload, header.mask);
            at = end;
            if !self.frame(header, payload, on)? {
                return Ok(buf.len());
            }
        }
        Ok(at)
    }

    /// One complete, unmasked frame; `Ok(false)` if `on` asked to stop.
    fn frame(
        &mut self,
        header: Header,
        payload: &[u8],
        on: &mut impl FnMut(Message<'_>) -> bool,
    ) -> Result<bool, Violation> {
        match header.opcode {
            OpCode::Ping => Ok(on(Message::Ping(payload))),
            OpCode::Pong => Ok(on(Message::Pong)),
            OpCode::Close => {
                let (code, reason) = match payload {
                    [] => (None, ""),
                    [_] => return Err(Violation::Protocol("a close frame with a 1-byte body")),
                    [a, b, rest @ ..] => {
                        let code = u16::from_be_bytes([*a, *b]);
                        let reason = std::str::from_utf8(rest).map_err(|_| Violation::NotUtf8)?;
                        (Some(code), reason)
                    }
                };
                Ok(on(Message::Close(code, reason)))
            }
            OpCode::Text | OpCode::Binary => {
                if self.fragments.is_some() {
                    return Err(Violation::Protocol(
                        "a new message before the fragmented one ended",
                    ));
                }
                if header.fin {
                    return message(header.opcode, payload, on);
                }
                self.fragments = Some((header.opcode, payload.to_vec()));
                Ok(true)
            }
            OpCode::Continuation => {
                let Some((opcode, mut so_far)) = self.fragments.take() else {
                    return Err(Violation::Protocol("a continuation frame with no message"));
                };
                so_far.extend_from_slice(payload);
                if header.fin {
                    message(opcode, &so_far, on)
                } else {
                    self.fragments = Some((opcode, so_far));
                    Ok(true)
                }
            }
        }
    }
}

fn message(
    opcode: OpCode,
    payload: &[u8],
    on: &mut impl FnMut(Message<'_>) -> bool,
) -> Result<bool, Violation> {
    if opcode == OpCode::Text {
        let text = std::str::from_utf8(payload).map_err(|_| Violation::NotUtf8)?;
        Ok(on(Message::Text(text)))
    } else {
        Ok(on(Message::Binary(payload.len())))
    }
}

/// Append one unfragmented, unmasked (server-to-client) frame to `out`.
pub(crate) fn encode(opcode: OpCode, payload: &[u8], out: &mut Vec<u8>) {
    let len = payload.len();
    out.reserve(len + 10);
    out.push(0x80 | opcode.bits());
    if len < 126 {
        out.push(len as u8);
    } else if let Ok(short) = u16::try_from(len) {
        out.push(126);
        out.extend_from_slice(&short.to_be_bytes());
    } else {
        out.push(127);
        out.extend_from_slice(&(len as u64).to_be_bytes());
    }
    out.extend_from_slice(payload);
}

/// Append a close frame with `code` and `reason` (cut to fit a control frame).
pub(crate) fn encode_close(code: u16, reason: &str, out: &mut Vec<u8>) {
    let mut end = reason.len().min(MAX_CONTROL_PAYLOAD - 2);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    let mut body = [0u8; MAX_CONTROL_PAYLOAD];
    body[..2].copy_from_slice(&code.to_be_bytes());
    body[2..2 + end].copy_from_slice(&reason.as_bytes()[..end]);
    encode(OpCode::Close, &body[..2 + end], out);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A client frame: masked with a fixed key.
    fn client_frame(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
        let mask = [0x37, 0xfa, 0x21, 0x3d];
        let mut out = vec![(if fin { 0x80 } else { 0 }) | opcode];
        let len = payload.len();
        if len < 126 {
            out.push(0x80 | len as u8);
        } else if len <= 0xffff {
            out.push(0x80 | 126);
            out.extend_from_slice(&(len as u16).to_be_bytes());
        } else {
            out.push(0x80 | 127);
            out.extend_from_slice(&(len as u64).to_be_bytes());
        }
        out.extend_from_slice(&mask);
        out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        out
    }

    #[derive(Debug, PartialEq)]
    enum Owned {
        Text(String),
        Binary(usize),
        Ping(Vec<u8>),
        Pong,
        Close(Option<u16>, String),
    }

    fn collect(reader: &mut Reader, data: &[u8]) -> Result<Vec<Owned>, Violation> {
        let mut out = Vec::new();
        let mut data = data.to_vec();
        reader.feed(&mut data, |m| {
            out.push(match m {
                Message::Text(t) => Owned::Text(t.to_owned()),
                Message::Binary(n) => Owned::Binary(n),
                Message::Ping(p) => Owned::Ping(p.to_vec()),
                Message::Pong => Owned::Pong,
                Message::Close(c, r) => Owned::Close(c, r.to_owned()),
            });
            true
        })?;
        Ok(out)
    }

    #[test]
    fn accept_key_matches_the_rfc_example() {
        assert_eq!(
            accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"foob"), "Zm9vYg==");
    }

    #[test]
    fn whole_frames_in_one_read() {
        let mut r = Reader::new(1 << 20);
        let mut data = client_frame(true, 1, b"{\"a\":1}");
        data.extend(client_frame(true, 9, b"hi"));
        data.extend(client_frame(true, 2, &[0; 300]));
        data.extend(client_frame(true, 10, b""));
        assert_eq!(
            collect(&mut r, &data).unwrap(),
            vec![
                Owned::Text("{\"a\":1}".into()),
                Owned::Ping(b"hi".to_vec()),
                Owned::Binary(300),
                Owned::Pong
            ]
        );
        assert_eq!(r.held(), 0);
    }

    #[test]
    fn a_frame_split_at_every_byte() {
        let text = "é".repeat(100) + &"x".repeat(70_000);
        let frame = client_frame(true, 1, text.as_bytes());
        for split in [1, 2, 3, 4, 5, 9, 10, 13, 14, 15, 200, frame.len() - 1] {
            let mut r = Reader::new(1 << 20);
            assert!(collect(&mut r, &frame[..split]).unwrap().is_empty());
            assert!(r.held() > 0);
            assert_eq!(
                collect(&mut r, &frame[split..]).unwrap(),
                vec![Owned::Text(text.clone())]
            );
            assert_eq!(r.held(), 0, "split at {split}");
        }
    }

    #[test]
    fn byte_by_byte() {
        let mut data = client_frame(true, 1, b"one");
        data.extend(client_frame(false, 1, b"tw"));
        data.extend(client_frame(true, 9, b"p"));
        data.extend(client_frame(true, 0, b"o"));
        data.extend(client_frame(true, 8, &[0x03, 0xe8, b'b', b'y', b'e']));
        let mut r = Reader::new(100);
        let mut got = Vec::new();
        for b in &data {
            got.extend(collect(&mut r, &[*b]).unwrap());
        }
        assert_eq!(
            got,
            vec![
                Owned::Text("one".into()),
                Owned::Ping(b"p".to_vec()),
                Owned::Text("two".into()),
                Owned::Close(Some(1000), "bye".into())
            ]
        );
        assert_eq!(r.held(), 0);
    }

    #[test]
    fn limits_apply_to_frames_and_to_assembled_messages() {
        let mut r = Reader::new(10);
        // The header alone is enough to refuse.
        let frame = client_frame(true, 1, &[b'x'; 11]);
        assert_eq!(
            collect(&mut r, &frame[..6]),
            Err(Violation::TooBig {
                size: 11,
                limit: 10
            })
        );
        let mut r = Reader::new(10);
        let mut data = client_frame(false, 1, b"123456");
        data.extend(client_frame(true, 0, b"7890a"));
        let err = collect(&mut r, &data).unwrap_err();
        assert_eq!(
            err,
            Violation::TooBig {
                size: 11,
                limit: 10
            }
        );
        assert_eq!(err.close_code(), 1009);
        // Exactly at the limit is fine.
        let mut r = Reader::new(10);
        assert_eq!(
            collect(&mut r, &client_frame(true, 1, b"0123456789")).unwrap(),
            vec![Owned::Text("0123456789".into())]
        );
    }

    #[test]
    fn protocol_violations_name_their_close_code() {
        let cases: Vec<(Vec<u8>, u16)> = vec![
            (vec![0x81, 0x02, b'h', b'i'], 1002),               // unmasked
            (vec![0xc1, 0x80, 0, 0, 0, 0], 1002),               // RSV1
            (vec![0x83, 0x80, 0, 0, 0, 0], 1002),               // opcode 3
            (client_frame(false, 9, b""), 1002),                // fragmented ping
            (client_frame(true, 9, &[0; 126]), 1002),           // long ping
            (client_frame(true, 0, b"x"), 1002),                // continuation, no message
            (client_frame(true, 1, &[0xff, 0xfe]), 1007),       // not UTF-8
            (client_frame(true, 8, &[0x03]), 1002),             // 1-byte close body
            (client_frame(true, 8, &[0x03, 0xe8, 0xff]), 1007), // close reason not UTF-8
            (
                [client_frame(false, 1, b"a"), client_frame(true, 1, b"b")].concat(),
                1002,
            ), // new message inside a fragmented one
        ];
        for (data, code) in cases {
            let mut r = Reader::new(1000);
            let err = collect(&mut r, &data).unwrap_err();
            assert_eq!(err.close_code(), code, "{data:?}: {err}");
        }
        let mut top_bit = vec![0x81, 0xff];
        top_bit.extend_from_slice(&(1u64 << 63).to_be_bytes());
        top_bit.extend_from_slice(&[0; 4]);
        assert!(collect(&mut Reader::new(1000), &top_bit).is_err());
    }

    #[test]
    fn stopping_drops_the_rest() {
        let mut data = client_frame(true, 1, b"a");
        data.extend(client_frame(true, 1, b"b"));
        data.extend(&client_frame(true, 1, b"partial")[..4]);
        let mut r = Reader::new(100);
        let mut seen = 0;
        r.feed(&mut data, |_| {
            seen += 1;
            false
        })
        .unwrap();
        assert_eq!(seen, 1);
        assert_eq!(r.held(), 0);
    }

    /// One message as a client may send it: its opcode, payload, and how it is cut into
    /// fragments (each cut is a fragment length).
    fn fragments(opcode: u8, payload: &[u8], cuts: &[usize]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut rest = payload;
        let mut first = true;
        for &cut in cuts {
            if cut >= rest.len() {
                break;
            }
            let (now, later) = rest.split_at(cut);
            out.extend(client_frame(false, if first { opcode } else { 0 }, now));
            first = false;
            rest = later;
        }
        out.extend(client_frame(true, if first { opcode } else { 0 }, rest));
        out
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig {
            cases: 300,
            failure_persistence: None,
            ..proptest::prelude::ProptestConfig::default()
        })]

        /// Whatever the messages, their fragmentation, the pings between them and the way
        /// the bytes are cut into reads, the reader yields exactly the messages sent and
        /// holds nothing afterwards.
        #[test]
        fn any_messages_in_any_reads(
            messages in proptest::collection::vec(
                (proptest::bool::ANY, ".{0,300}", proptest::collection::vec(0usize..80, 0..4), proptest::bool::ANY),
                1..8,
            ),
            reads in proptest::collection::vec(1usize..200, 1..40),
        ) {
            let mut wire = Vec::new();
            let mut expected = Vec::new();
            for (text, body, cuts, ping) in &messages {
                if *text {
                    wire.extend(fragments(1, body.as_bytes(), cuts));
                    expected.push(Owned::Text(body.clone()));
                } else {
                    wire.extend(fragments(2, body.as_bytes(), cuts));
                    expected.push(Owned::Binary(body.len()));
                }
                if *ping {
                    wire.extend(client_frame(true, 9, b"p"));
                    expected.push(Owned::Ping(b"p".to_vec()));
                }
            }
            let mut reader = Reader::new(1 << 20);
            let mut got = Vec::new();
            let mut at = 0;
            let mut i = 0;
            while at < wire.len() {
                let n = reads[i % reads.len()].min(wire.len() - at);
                got.extend(collect(&mut reader, &wire[at..at + n]).unwrap());
                at += n;
                i += 1;
            }
            proptest::prop_assert_eq!(got, expected);
            proptest::prop_assert_eq!(reader.held(), 0);
        }

        /// Arbitrary bytes never panic the reader; it either yields messages or names a
        /// close code.
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..600)) {
            let mut reader = Reader::new(256);
            if let Err(e) = collect(&mut reader, &bytes) {
                proptest::prop_assert!(matches!(e.close_code(), 1002 | 1007 | 1009));
            }
        }
    }

    #[test]
    fn server_frames_use_the_shortest_length() {
        for (len, header) in [
            (0usize, 2usize),
            (125, 2),
            (126, 4),
            (65_535, 4),
            (65_536, 10),
        ] {
            let mut out = Vec::new();
            encode(OpCode::Text, &vec![b'a'; len], &mut out);
            assert_eq!(out.len(), header + len, "payload of {len}");
            assert_eq!(out[0], 0x81);
        }
        let mut out = Vec::new();
        encode_close(1001, &"é".repeat(100), &mut out);
        assert_eq!(out[0], 0x88);
        assert_eq!(out[1] as usize, out.len() - 2);
        assert!(out.len() - 2 <= MAX_CONTROL_PAYLOAD);
        assert_eq!(&out[2..4], &1001u16.to_be_bytes());
        assert!(std::str::from_utf8(&out[4..]).is_ok());
    }
}
