//! The WebSocket protocol (RFC 6455), as a session needs it: the server side, and with the
//! `codec` feature the client side too (for the developer tools' load generator).
//!
//! No I/O here: [`Reader`] turns the bytes read from a client into messages, [`encode`]
//! frames what the server sends, [`accept_key`] answers the opening handshake. A client
//! reads with a `Reader::client` (unmasked frames) and frames what it sends with
//! `encode_masked`. A session
//! reads into a scratch buffer on its stack and keeps bytes between reads only while a
//! frame is incomplete, so a connection that waits for the next event holds no buffer; what
//! it keeps grows with the bytes that arrive, never with the length a header announces.
//!
//! Not part of the SDK's API: with the `codec` feature the module is public (and hidden from
//! the docs) only for the developer tools (`relay-tools`): the load generator's client and
//! the Autobahn echo server (`tools/examples/autobahn_echo.rs`, `scripts/autobahn`), which
//! runs the standard conformance suite against this framing.
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
pub fn accept_key(key: &[u8]) -> String {
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
pub enum OpCode {
    /// The next fragment of a message.
    Continuation,
    /// A text message.
    Text,
    /// A binary message.
    Binary,
    /// The close handshake.
    Close,
    /// A ping.
    Ping,
    /// A pong.
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
pub enum Violation {
    /// A message (or a frame header announcing one) longer than the limit: 1009.
    TooBig {
        /// The size announced (so far, for a fragmented message).
        size: u64,
        /// The reader's limit.
        limit: usize,
    },
    /// A text message that is not UTF-8: 1007.
    NotUtf8,
    /// Anything else the protocol forbids: 1002.
    Protocol(&'static str),
}

impl Violation {
    /// The close code this violation calls for.
    pub fn close_code(&self) -> u16 {
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

/// One message from the client, borrowed from the bytes just read (or, for a message that
/// arrived over several reads, from the reader's buffer).
#[derive(Debug, PartialEq, Eq)]
pub enum Message<'a> {
    /// A text message, checked to be UTF-8.
    Text(&'a str),
    /// A binary message's payload (Relay sends text only; an echo server sends it back).
    Binary(&'a [u8]),
    /// A ping and its payload (at most 125 bytes).
    Ping(&'a [u8]),
    /// A pong.
    Pong,
    /// The close code, if the frame had one (always one that is valid on the wire), and
    /// the reason.
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

/// Parse the header at the start of `buf`; `Ok(None)` while it is incomplete. A server
/// reads masked frames (from a client), a `client` unmasked ones (from a server).
fn parse_header(buf: &[u8], client: bool) -> Result<Option<Header>, Violation> {
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
    if (b1 & 0x80 != 0) == client {
        return Err(Violation::Protocol(if client {
            "a masked frame from the server"
        } else {
            "an unmasked frame from the client"
        }));
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
    if client {
        // No mask: XOR with zeros, which unmasking skips.
        return Ok(Some(Header {
            fin,
            opcode,
            mask: [0; 4],
            header_len: at,
            payload_len,
        }));
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

/// Unmask `payload` in place; `mask[0]` applies to its first byte.
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

/// Whether a close code may be sent on the wire (RFC 6455 §7.4.1 and §7.4.2, and the
/// IANA registry it set up): 1000-1003, 1007-1014 and the 3000-4999 of libraries and
/// applications. 1004 is reserved; 1005, 1006 and 1015 stand for "no code", "no close
/// frame" and "TLS failed" and must never be sent; everything else is unassigned.
fn valid_close_code(code: u16) -> bool {
    matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999)
}

/// Longest run of a message kept in one allocation. A message that arrives over several
/// reads is kept in parts of at most this size, each allocated to the exact bytes it holds,
/// so that it grows with the bytes that arrive (never with a frame's announced length, never
/// by doubling) and no growth copies more than one part.
const PART: usize = 16 * 1024;

/// Largest frame header: 2 bytes, an 8-byte length and the 4-byte mask.
const MAX_HEADER: usize = 14;

/// A frame whose payload is arriving.
#[derive(Debug, Clone, Copy)]
struct Partial {
    fin: bool,
    opcode: OpCode,
    /// The mask, turned so that its first byte applies to the next payload byte.
    mask: [u8; 4],
    /// Payload bytes still to come.
    remaining: u64,
}

/// Incremental UTF-8 check of a text message that arrives in pieces: it fails on the first
/// piece that makes the bytes so far impossible to complete into UTF-8, keeping at most the
/// 3 bytes of an incomplete character between pieces.
#[derive(Debug, Default, Clone, Copy)]
struct Utf8 {
    carry: [u8; 4],
    len: u8,
}

impl Utf8 {
    fn push(&mut self, mut bytes: &[u8]) -> Result<(), Violation> {
        if self.len > 0 {
            let have = usize::from(self.len);
            // The carried bytes are the valid start of a character of this many bytes.
            let width = match self.carry[0] {
                0xc2..=0xdf => 2,
                0xe0..=0xef => 3,
                _ => 4,
            };
            let take = (width - have).min(bytes.len());
            self.carry[have..have + take].copy_from_slice(&bytes[..take]);
            match std::str::from_utf8(&self.carry[..have + take]) {
                Ok(_) => self.len = 0,
                // Still the valid start of a character: `bytes` is used up.
                Err(e) if e.error_len().is_none() => {
                    self.len = (have + take) as u8;
                    return Ok(());
                }
                Err(_) => return Err(Violation::NotUtf8),
            }
            bytes = &bytes[take..];
        }
        match std::str::from_utf8(bytes) {
            Ok(_) => Ok(()),
            // The end is the valid start of a character: keep it for the next piece.
            Err(e) if e.error_len().is_none() => {
                let tail = &bytes[e.valid_up_to()..];
                self.carry[..tail.len()].copy_from_slice(tail);
                self.len = tail.len() as u8;
                Ok(())
            }
            Err(_) => Err(Violation::NotUtf8),
        }
    }

    /// The message ended: a character left incomplete makes it invalid.
    fn finish(&mut self) -> Result<(), Violation> {
        let incomplete = self.len > 0;
        self.len = 0;
        if incomplete {
            Err(Violation::NotUtf8)
        } else {
            Ok(())
        }
    }
}

/// Turns the bytes a client sends into messages.
///
/// Between reads it holds only what has arrived of an incomplete frame or message: up to
/// 13 bytes of a frame header (inline), the payload so far of a control frame (at most 125
/// bytes), and the payload so far of a data message, unmasked, in parts allocated to the
/// bytes they hold. A frame that arrives whole in one read, outside a fragmented message,
/// is handed out borrowed from the read's buffer, with no copy.
#[derive(Debug)]
pub struct Reader {
    /// The start of a frame header that has not arrived whole (`head_len` bytes of it).
    head: [u8; MAX_HEADER],
    head_len: u8,
    /// The frame whose payload is arriving.
    frame: Option<Partial>,
    /// The payload so far of a control frame that has not arrived whole.
    control: Vec<u8>,
    /// The data message under way (its opcode): fragmented, or its frame incomplete.
    message: Option<OpCode>,
    /// Its payload so far, unmasked, in parts of at most [`PART`] bytes, each with exactly
    /// the capacity it uses.
    parts: Vec<Vec<u8>>,
    /// Bytes in `parts`.
    len: usize,
    /// The UTF-8 check of a text message under way.
    utf8: Utf8,
    /// Set once the header of a close frame from the peer has arrived, valid or not.
    peer_closed: bool,
    max_message: usize,
    /// Reads a server's (unmasked) frames rather than a client's (masked).
    client: bool,
}

impl Reader {
    /// A reader of a client's frames (the server's side) that refuses messages longer
    /// than `max_message` bytes.
    pub fn new(max_message: usize) -> Self {
        Reader {
            head: [0; MAX_HEADER],
            head_len: 0,
            frame: None,
            control: Vec::new(),
            message: None,
            parts: Vec::new(),
            len: 0,
            utf8: Utf8::default(),
            peer_closed: false,
            max_message,
            client: false,
        }
    }

    /// A reader of a server's frames (the client's side: unmasked frames; a masked one is
    /// a violation) that refuses messages longer than `max_message` bytes.
    #[cfg(feature = "codec")]
    pub fn client(max_message: usize) -> Self {
        Reader {
            client: true,
            ..Reader::new(max_message)
        }
    }

    /// Whether the peer's close frame has arrived (its header, at least), valid or not.
    /// After a violation in a close frame (too long, a code that may not be sent, a reason
    /// that is not UTF-8) the peer has done its part of the close handshake: once the
    /// server's close frame is sent, the connection can end without waiting for another.
    pub fn peer_closed(&self) -> bool {
        self.peer_closed
    }

    /// Bytes of buffer capacity held between reads: the payload so far of an incomplete
    /// message and of an incomplete control frame. Zero when no frame is under way (the
    /// header bytes of an incomplete frame, at most 13, are kept inline).
    ///
    /// It grows with the bytes that arrive: one [`feed`](Self::feed) raises it by at most
    /// the number of bytes fed. Not counted: the list of the message's parts, 24 bytes for
    /// each 16 KiB of message.
    pub fn held(&self) -> usize {
        self.len + self.control.capacity()
    }

    /// Consume `data` (just read; it is unmasked in place) and hand every complete message
    /// to `on`, in order. `on` returns `false` to stop: the rest of the data is dropped,
    /// which is what a connection that is closing wants. After a violation (and after a
    /// stop) the reader holds nothing.
    pub fn feed(
        &mut self,
        data: &mut [u8],
        mut on: impl FnMut(Message<'_>) -> bool,
    ) -> Result<(), Violation> {
        let result = self.consume(data, &mut on);
        if !matches!(result, Ok(true)) {
            self.reset();
        }
        result.map(|_| ())
    }

    /// Drop whatever is held.
    fn reset(&mut self) {
        *self = Reader {
            peer_closed: self.peer_closed,
            client: self.client,
            ..Reader::new(self.max_message)
        };
    }

    /// [`feed`](Self::feed)'s work; `Ok(false)` if `on` asked to stop.
    fn consume(
        &mut self,
        data: &mut [u8],
        on: &mut impl FnMut(Message<'_>) -> bool,
    ) -> Result<bool, Violation> {
        let mut at = 0;
        loop {
            if let Some(frame) = self.frame {
                let take = frame.remaining.min((data.len() - at) as u64) as usize;
                if take == 0 && frame.remaining > 0 {
                    return Ok(true);
                }
                let chunk = &mut data[at..at + take];
                at += take;
                if !self.payload(frame, chunk, on)? {
                    return Ok(false);
                }
                continue;
            }
            if at == data.len() {
                return Ok(true);
            }
            let header = if self.head_len == 0 {
                match self.header(&data[at..])? {
                    Some(header) => {
                        at += header.header_len;
                        header
                    }
                    None => {
                        // Less than a whole header (under 14 bytes): keep it inline.
                        let rest = &data[at..];
                        self.head[..rest.len()].copy_from_slice(rest);
                        self.head_len = rest.len() as u8;
                        return Ok(true);
                    }
                }
            } else {
                let had = usize::from(self.head_len);
                let n = (MAX_HEADER - had).min(data.len() - at);
                self.head[had..had + n].copy_from_slice(&data[at..at + n]);
                let head = self.head;
                match self.header(&head[..had + n])? {
                    Some(header) => {
                        at += header.header_len - had;
                        self.head_len = 0;
                        header
                    }
                    None => {
                        // Still incomplete, so all of `data` was taken.
                        self.head_len = (had + n) as u8;
                        return Ok(true);
                    }
                }
            };
            self.begin(header)?;
        }
    }

    /// [`parse_header`], noting a close frame from the peer, even one refused.
    fn header(&mut self, buf: &[u8]) -> Result<Option<Header>, Violation> {
        let header = parse_header(buf, self.client);
        if buf.len() >= 2 && buf[0] & 0x0f == OpCode::Close.bits() && !matches!(header, Ok(None)) {
            self.peer_closed = true;
        }
        header
    }

    /// A frame header arrived: check it against the message under way and the limit.
    fn begin(&mut self, header: Header) -> Result<(), Violation> {
        match header.opcode {
            OpCode::Text | OpCode::Binary => {
                if self.message.is_some() {
                    return Err(Violation::Protocol(
                        "a new message before the fragmented one ended",
                    ));
                }
            }
            OpCode::Continuation => {
                if self.message.is_none() {
                    return Err(Violation::Protocol("a continuation frame with no message"));
                }
            }
            OpCode::Close | OpCode::Ping | OpCode::Pong => {}
        }
        if !header.opcode.is_control() {
            let size = self.len as u64 + header.payload_len;
            if size > self.max_message as u64 {
                return Err(Violation::TooBig {
                    size,
                    limit: self.max_message,
                });
            }
            if header.opcode != OpCode::Continuation {
                self.message = Some(header.opcode);
            }
        }
        self.frame = Some(Partial {
            fin: header.fin,
            opcode: header.opcode,
            mask: header.mask,
            remaining: header.payload_len,
        });
        Ok(())
    }

    /// The next `chunk` of the current frame's payload (all of what remains of it, or all
    /// of what was read); `Ok(false)` if `on` asked to stop.
    fn payload(
        &mut self,
        mut frame: Partial,
        chunk: &mut [u8],
        on: &mut impl FnMut(Message<'_>) -> bool,
    ) -> Result<bool, Violation> {
        if frame.mask != [0; 4] {
            unmask(chunk, frame.mask);
            frame.mask.rotate_left(chunk.len() % 4);
        }
        frame.remaining -= chunk.len() as u64;
        let done = frame.remaining == 0;
        self.frame = if done { None } else { Some(frame) };

        if frame.opcode.is_control() {
            if !done {
                self.control.reserve_exact(chunk.len());
                self.control.extend_from_slice(chunk);
                return Ok(true);
            }
            if self.control.is_empty() {
                return control(frame.opcode, chunk, on);
            }
            let mut whole = std::mem::take(&mut self.control);
            whole.extend_from_slice(chunk);
            return control(frame.opcode, &whole, on);
        }

        let text = self.message == Some(OpCode::Text);
        if !(done && frame.fin) {
            if text {
                self.utf8.push(chunk)?;
            }
            self.append(chunk);
            return Ok(true);
        }
        // The message is complete.
        self.message = None;
        if self.parts.is_empty() {
            // All of it is in this read: hand it out from there.
            return deliver(text, chunk, on);
        }
        if text {
            self.utf8.push(chunk)?;
            self.utf8.finish()?;
        }
        let parts = std::mem::take(&mut self.parts);
        self.len = 0;
        let whole = assemble(parts, chunk);
        deliver(text, &whole, on)
    }

    /// Keep `bytes` of the message under way: fill the last part up to [`PART`], then add
    /// parts. Every part's capacity is exactly its length.
    fn append(&mut self, mut bytes: &[u8]) {
        self.len += bytes.len();
        if let Some(last) = self.parts.last_mut() {
            let n = PART.saturating_sub(last.len()).min(bytes.len());
            if n > 0 {
                last.reserve_exact(n);
                last.extend_from_slice(&bytes[..n]);
                bytes = &bytes[n..];
            }
        }
        self.parts.extend(bytes.chunks(PART).map(<[u8]>::to_vec));
    }
}

/// One message in one buffer: the parts held, then its last bytes, just read.
fn assemble(mut parts: Vec<Vec<u8>>, last: &[u8]) -> Vec<u8> {
    if parts.len() == 1 && last.is_empty() {
        return parts.pop().unwrap_or_default();
    }
    let len = parts.iter().map(Vec::len).sum::<usize>() + last.len();
    let mut whole = Vec::with_capacity(len);
    for part in parts {
        whole.extend_from_slice(&part);
    }
    whole.extend_from_slice(last);
    whole
}

/// One complete data message.
fn deliver(
    text: bool,
    payload: &[u8],
    on: &mut impl FnMut(Message<'_>) -> bool,
) -> Result<bool, Violation> {
    if text {
        let text = std::str::from_utf8(payload).map_err(|_| Violation::NotUtf8)?;
        Ok(on(Message::Text(text)))
    } else {
        Ok(on(Message::Binary(payload)))
    }
}

/// One complete, unmasked control frame.
fn control(
    opcode: OpCode,
    payload: &[u8],
    on: &mut impl FnMut(Message<'_>) -> bool,
) -> Result<bool, Violation> {
    match opcode {
        OpCode::Ping => Ok(on(Message::Ping(payload))),
        OpCode::Pong => Ok(on(Message::Pong)),
        _ => {
            let (code, reason) = match payload {
                [] => (None, ""),
                [_] => return Err(Violation::Protocol("a close frame with a 1-byte body")),
                [a, b, rest @ ..] => {
                    let code = u16::from_be_bytes([*a, *b]);
                    if !valid_close_code(code) {
                        return Err(Violation::Protocol(
                            "a close code that may not be sent (RFC 6455 §7.4)",
                        ));
                    }
                    let reason = std::str::from_utf8(rest).map_err(|_| Violation::NotUtf8)?;
                    (Some(code), reason)
                }
            };
            Ok(on(Message::Close(code, reason)))
        }
    }
}

/// Append one unfragmented, unmasked (server-to-client) frame to `out`.
pub fn encode(opcode: OpCode, payload: &[u8], out: &mut Vec<u8>) {
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

/// Append one unfragmented client-to-server frame to `out`, masked with `mask` (a client
/// must use a fresh, unpredictable mask for every frame: RFC 6455 §5.3).
#[cfg(feature = "codec")]
pub fn encode_masked(opcode: OpCode, payload: &[u8], mask: [u8; 4], out: &mut Vec<u8>) {
    let len = payload.len();
    out.reserve(len + 14);
    out.push(0x80 | opcode.bits());
    if len < 126 {
        out.push(0x80 | len as u8);
    } else if let Ok(short) = u16::try_from(len) {
        out.push(0x80 | 126);
        out.extend_from_slice(&short.to_be_bytes());
    } else {
        out.push(0x80 | 127);
        out.extend_from_slice(&(len as u64).to_be_bytes());
    }
    out.extend_from_slice(&mask);
    // Masked while copied, eight bytes at a time.
    let [a, b, c, d] = mask;
    let wide = u64::from_ne_bytes([a, b, c, d, a, b, c, d]);
    let mut words = payload.chunks_exact(8);
    for w in &mut words {
        let mut word = [0; 8];
        word.copy_from_slice(w);
        out.extend_from_slice(&(u64::from_ne_bytes(word) ^ wide).to_ne_bytes());
    }
    for (i, byte) in words.remainder().iter().enumerate() {
        out.push(byte ^ mask[i & 3]);
    }
}

/// Append a close frame with `code` and `reason` (cut to fit a control frame).
pub fn encode_close(code: u16, reason: &str, out: &mut Vec<u8>) {
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
    use proptest::strategy::Strategy;

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
        Binary(Vec<u8>),
        Ping(Vec<u8>),
        Pong,
        Close(Option<u16>, String),
    }

    impl Reader {
        /// What `held` stands for, counted the long way.
        fn capacity(&self) -> usize {
            self.parts.iter().map(Vec::capacity).sum::<usize>() + self.control.capacity()
        }
    }

    /// Feed `data` in one read and collect the messages. Checks what is held on the way:
    /// `held` is the capacity held, and one feed raises it by at most the bytes fed.
    fn collect(reader: &mut Reader, data: &[u8]) -> Result<Vec<Owned>, Violation> {
        let before = reader.held();
        let result = collect_unchecked(reader, data);
        assert_eq!(reader.held(), reader.capacity());
        assert!(
            reader.held() <= before + data.len(),
            "held {} after {before} and a read of {}",
            reader.held(),
            data.len()
        );
        result
    }

    fn collect_unchecked(reader: &mut Reader, data: &[u8]) -> Result<Vec<Owned>, Violation> {
        let mut out = Vec::new();
        let mut data = data.to_vec();
        reader.feed(&mut data, |m| {
            out.push(match m {
                Message::Text(t) => Owned::Text(t.to_owned()),
                Message::Binary(b) => Owned::Binary(b.to_vec()),
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
                Owned::Binary(vec![0; 300]),
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
            // The 14-byte header is kept inline; the payload so far, exactly.
            assert_eq!(r.held(), split.saturating_sub(14), "split at {split}");
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

    /// `n` payload bytes of `byte`, masked with `mask` as if `offset` payload bytes of the
    /// frame came before them.
    fn masked_run(mask: [u8; 4], offset: usize, n: usize, byte: u8) -> Vec<u8> {
        (offset..offset + n).map(|i| byte ^ mask[i % 4]).collect()
    }

    #[test]
    fn what_is_held_grows_with_the_bytes_that_arrive_not_with_the_announced_length() {
        let mask = [0x11, 0x22, 0x33, 0x44];
        for opcode in [1u8, 2] {
            // A frame announcing 8 MiB, under the limit: it is accepted, and nothing is
            // reserved for it.
            let mut header = vec![0x80 | opcode, 0x80 | 127];
            header.extend_from_slice(&(8u64 << 20).to_be_bytes());
            header.extend_from_slice(&mask);
            let mut r = Reader::new(16 << 20);
            for b in &header[..13] {
                assert!(collect(&mut r, &[*b]).unwrap().is_empty());
                assert_eq!(r.held(), 0, "a header byte");
            }
            assert!(collect(&mut r, &header[13..]).unwrap().is_empty());
            assert_eq!(r.held(), 0, "the whole header reserves nothing");
            // Then the payload trickles in: what is held is what arrived, no more.
            let mut fed = 0;
            for n in [1, 3, 100, 8192, 8192, 40_000, 1, 16_384, 70_000] {
                let run = masked_run(mask, fed, n, b'a');
                assert!(collect(&mut r, &run).unwrap().is_empty());
                fed += n;
                assert_eq!(r.held(), fed, "after {fed} bytes of an 8 MiB frame");
            }
            // A byte that is not UTF-8 ends a text message: then nothing is held.
            let bad = collect(&mut r, &masked_run(mask, fed, 1, 0xff));
            if opcode == 1 {
                assert_eq!(bad, Err(Violation::NotUtf8));
                assert_eq!(r.held(), 0);
            } else {
                assert_eq!(r.held(), fed + 1);
            }
        }
        // The same over a fragmented message: each fragment's header announces its own length.
        let mut r = Reader::new(16 << 20);
        let mut frame = vec![0x02, 0x80 | 127];
        frame.extend_from_slice(&(4u64 << 20).to_be_bytes());
        frame.extend_from_slice(&mask);
        frame.extend(masked_run(mask, 0, 1000, 7));
        assert!(collect(&mut r, &frame).unwrap().is_empty());
        assert_eq!(r.held(), 1000);
    }

    #[test]
    fn a_large_message_in_many_reads_and_fragments_comes_out_whole() {
        let payload: Vec<u8> = (0..200_000u32).map(|i| (i * 7 + i / 255) as u8).collect();
        let wire = fragments(2, &payload, &[1, 70_000, 3, 50_000]);
        for read in [1usize, 7, 8192, 16_384, 65_536] {
            let mut r = Reader::new(1 << 20);
            let mut got = Vec::new();
            let mut peak = 0;
            for chunk in wire.chunks(read) {
                got.extend(collect(&mut r, chunk).unwrap());
                peak = peak.max(r.held());
            }
            assert_eq!(got, vec![Owned::Binary(payload.clone())], "reads of {read}");
            assert!(peak <= payload.len(), "held {peak} at most");
            assert_eq!(r.held(), 0);
        }
    }

    #[test]
    fn close_codes_that_may_not_be_sent_are_protocol_errors() {
        for code in [
            0u16, 1, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535,
        ] {
            for reason in [&b""[..], b"why"] {
                let body = [&code.to_be_bytes()[..], reason].concat();
                let mut r = Reader::new(100);
                let err = collect(&mut r, &client_frame(true, 8, &body)).unwrap_err();
                assert_eq!(err.close_code(), 1002, "code {code}: {err}");
                assert_eq!(r.held(), 0);
            }
        }
        for code in [
            1000u16, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999,
            4000, 4999,
        ] {
            let body = [&code.to_be_bytes()[..], b"why"].concat();
            assert_eq!(
                collect(&mut Reader::new(100), &client_frame(true, 8, &body)).unwrap(),
                vec![Owned::Close(Some(code), "why".into())],
                "code {code}"
            );
        }
        // The peer's close arrived, invalid as it was: the handshake needs only the answer.
        let mut r = Reader::new(100);
        assert!(!r.peer_closed());
        assert!(collect(&mut r, &client_frame(true, 8, &1005u16.to_be_bytes())).is_err());
        assert!(r.peer_closed());
        let mut r = Reader::new(100);
        assert!(collect(&mut r, &client_frame(true, 8, &[0x03, 0xe8, 0xff])).is_err());
        assert!(r.peer_closed(), "a close reason that is not UTF-8");
        let mut r = Reader::new(100);
        let too_long = [&1000u16.to_be_bytes()[..], &[b'x'; 124]].concat();
        assert!(collect(&mut r, &client_frame(true, 8, &too_long)[..4]).is_err());
        assert!(r.peer_closed(), "a close frame refused for its length");
        let mut r = Reader::new(100);
        assert!(collect(&mut r, &client_frame(true, 1, &[0xff])).is_err());
        assert!(!r.peer_closed());
        // No code at all is allowed (and the session answers it with 1000).
        assert_eq!(
            collect(&mut Reader::new(100), &client_frame(true, 8, b"")).unwrap(),
            vec![Owned::Close(None, String::new())]
        );
        // A close frame arriving a byte at a time is checked the same way.
        let frame = client_frame(true, 8, &1005u16.to_be_bytes());
        let mut r = Reader::new(100);
        for b in &frame[..frame.len() - 1] {
            assert!(collect(&mut r, &[*b]).unwrap().is_empty());
        }
        assert!(r.held() <= MAX_CONTROL_PAYLOAD);
        let err = collect(&mut r, &frame[frame.len() - 1..]).unwrap_err();
        assert_eq!(err.close_code(), 1002);
    }

    #[test]
    fn invalid_utf8_fails_on_the_first_fragment_or_read_that_proves_it() {
        let valid = "κόσμε".as_bytes();
        // Autobahn 6.4.1: a valid fragment, then one that starts a code point past U+10FFFF.
        let mut r = Reader::new(1000);
        assert!(collect(&mut r, &client_frame(false, 1, valid))
            .unwrap()
            .is_empty());
        let err = collect(&mut r, &client_frame(false, 0, &[0xf4, 0x90, 0x80, 0x80]));
        assert_eq!(err, Err(Violation::NotUtf8));
        assert_eq!(r.held(), 0);

        // 6.4.2: the first fragment ends with a lead byte that may still be fine; the next
        // byte alone proves it wrong.
        let mut r = Reader::new(1000);
        let first = [valid, &[0xf4]].concat();
        assert!(collect(&mut r, &client_frame(false, 1, &first))
            .unwrap()
            .is_empty());
        let err = collect(&mut r, &client_frame(false, 0, &[0x90]));
        assert_eq!(err, Err(Violation::NotUtf8));

        // 6.4.3/6.4.4: one frame over several reads fails on the read with the bad byte,
        // long before the frame is complete.
        let payload = [valid, &[0xf4, 0x90, 0x80, 0x80], &[b'x'; 500]].concat();
        let frame = client_frame(true, 1, &payload);
        let header = frame.len() - payload.len();
        let lead = header + valid.len();
        let mut r = Reader::new(1000);
        assert!(collect(&mut r, &frame[..=lead]).unwrap().is_empty());
        let err = collect(&mut r, &frame[lead + 1..lead + 2]);
        assert_eq!(err, Err(Violation::NotUtf8));
        // Surrogates (ED A0..BF) are refused on their second byte.
        let frame = client_frame(true, 1, &[b'a', 0xed, 0xa0, 0x80, b'b', b'c']);
        let mut r = Reader::new(1000);
        assert!(collect(&mut r, &frame[..header_of(&frame) + 2])
            .unwrap()
            .is_empty());
        assert_eq!(
            collect(&mut r, &frame[header_of(&frame) + 2..header_of(&frame) + 3]),
            Err(Violation::NotUtf8)
        );

        // A message that ends inside a character is refused when it ends.
        let mut r = Reader::new(1000);
        assert!(
            collect(&mut r, &client_frame(false, 1, &[b'a', 0xe2, 0x82]))
                .unwrap()
                .is_empty()
        );
        assert_eq!(
            collect(&mut r, &client_frame(true, 0, b"")),
            Err(Violation::NotUtf8)
        );

        // A character split across fragments and reads is fine.
        let euro = "€".as_bytes();
        let wire = [
            client_frame(false, 1, &euro[..1]),
            client_frame(false, 0, &euro[1..2]),
            client_frame(true, 0, &[euro[2], b'!']),
        ]
        .concat();
        let mut r = Reader::new(1000);
        let mut got = Vec::new();
        for b in &wire {
            got.extend(collect(&mut r, &[*b]).unwrap());
        }
        assert_eq!(got, vec![Owned::Text("€!".into())]);
    }

    /// The length of the header of the client frame at the start of `frame`.
    fn header_of(frame: &[u8]) -> usize {
        parse_header(frame, false).unwrap().unwrap().header_len
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
                    expected.push(Owned::Binary(body.as_bytes().to_vec()));
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
                // Never more than what has arrived of the message under way.
                proptest::prop_assert!(reader.held() <= at + n);
                at += n;
                i += 1;
            }
            proptest::prop_assert_eq!(got, expected);
            proptest::prop_assert_eq!(reader.held(), 0);
        }

        /// A text message of any bytes, in any fragments and reads: it comes out whole if it
        /// is UTF-8; otherwise it fails with 1007, no later than the read that brings the
        /// byte that proves it invalid and no earlier than the one that brings the first
        /// byte of the invalid sequence.
        #[test]
        fn utf8_is_checked_as_the_bytes_arrive(
            pieces in proptest::collection::vec(
                proptest::prop_oneof![
                    ".{0,12}".prop_map(String::into_bytes),
                    proptest::collection::vec(proptest::num::u8::ANY, 0..4),
                ],
                0..6,
            ),
            cuts in proptest::collection::vec(0usize..40, 0..4),
            reads in proptest::collection::vec(1usize..30, 1..10),
        ) {
            let payload = pieces.concat();
            // The wire, and where each payload byte is on it.
            let mut wire = Vec::new();
            let mut position = Vec::new();
            let mut rest = &payload[..];
            let mut first = true;
            for &cut in cuts.iter().chain(std::iter::once(&usize::MAX)) {
                let now = cut.min(rest.len());
                let last = now == rest.len();
                let frame = client_frame(last, if first { 1 } else { 0 }, &rest[..now]);
                let start = wire.len() + frame.len() - now;
                position.extend(start..start + now);
                wire.extend(frame);
                rest = &rest[now..];
                first = false;
                if last {
                    break;
                }
            }
            let valid = std::str::from_utf8(&payload);
            let mut reader = Reader::new(1 << 20);
            let mut got = Vec::new();
            let mut failed_at = None;
            let (mut at, mut i) = (0, 0);
            while at < wire.len() {
                let n = reads[i % reads.len()].min(wire.len() - at);
                match collect(&mut reader, &wire[at..at + n]) {
                    Ok(m) => got.extend(m),
                    Err(e) => {
                        proptest::prop_assert_eq!(e, Violation::NotUtf8);
                        failed_at = Some((at, at + n));
                        break;
                    }
                }
                at += n;
                i += 1;
            }
            match valid {
                Ok(text) => {
                    proptest::prop_assert_eq!(failed_at, None);
                    proptest::prop_assert_eq!(got, vec![Owned::Text(text.to_owned())]);
                }
                Err(e) => {
                    let (from, to) = failed_at.expect("invalid UTF-8 was accepted");
                    let start = e.valid_up_to();
                    // The read that failed brought the first bad byte or a later one...
                    proptest::prop_assert!(to > position[start]);
                    // ...and no later than the byte that proves it (or the message's end).
                    let proof = e.error_len().map(|l| start + l).filter(|&p| p < payload.len());
                    let latest = proof.map_or(wire.len() - 1, |p| position[p]);
                    proptest::prop_assert!(from <= latest, "failed on a read from {} after {}", from, latest);
                    proptest::prop_assert_eq!(reader.held(), 0);
                }
            }
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

    /// The client's side: what `encode_masked` writes, a server reader reads back; what a
    /// server writes, a client reader reads, in one read or byte by byte; a masked frame
    /// from the server is refused.
    #[cfg(feature = "codec")]
    #[test]
    fn the_client_side_reads_server_frames_and_masks_its_own() {
        for len in [0usize, 7, 8, 125, 126, 65_535, 65_536] {
            let payload: Vec<u8> = (0..len).map(|i| b'a' + (i % 26) as u8).collect();
            let mut out = Vec::new();
            encode_masked(OpCode::Text, &payload, [0x12, 0x34, 0x56, 0x78], &mut out);
            assert_eq!(out[0], 0x81);
            assert_ne!(out[1] & 0x80, 0, "masked");
            assert_eq!(
                header_of(&out),
                out.len() - len,
                "the shortest length for {len}"
            );
            let mut server = Reader::new(1 << 20);
            let got = collect(&mut server, &out).unwrap();
            assert_eq!(
                got,
                vec![Owned::Text(String::from_utf8(payload.clone()).unwrap())]
            );

            let mut wire = Vec::new();
            encode(OpCode::Text, &payload, &mut wire);
            encode(OpCode::Ping, b"hi", &mut wire);
            encode_close(1000, "bye", &mut wire);
            let want = vec![
                Owned::Text(String::from_utf8(payload).unwrap()),
                Owned::Ping(b"hi".to_vec()),
                Owned::Close(Some(1000), "bye".into()),
            ];
            let mut client = Reader::client(1 << 20);
            assert_eq!(collect(&mut client, &wire).unwrap(), want);
            if len <= 126 {
                let mut client = Reader::client(1 << 20);
                let mut got = Vec::new();
                for b in &wire {
                    got.extend(collect(&mut client, &[*b]).unwrap());
                }
                assert_eq!(got, want);
            }
        }
        let mut client = Reader::client(1000);
        let masked = client_frame(true, 1, b"hello");
        assert_eq!(
            collect(&mut client, &masked),
            Err(Violation::Protocol("a masked frame from the server"))
        );
        // A server still refuses an unmasked frame after all this.
        let mut wire = Vec::new();
        encode(OpCode::Text, b"hello", &mut wire);
        assert_eq!(
            collect(&mut Reader::new(1000), &wire),
            Err(Violation::Protocol("an unmasked frame from the client"))
        );
        let mut big = Vec::new();
        encode(OpCode::Binary, &[0; 2000], &mut big);
        assert!(matches!(
            collect(&mut Reader::client(1000), &big),
            Err(Violation::TooBig { size: 2000, .. })
        ));
    }
}
