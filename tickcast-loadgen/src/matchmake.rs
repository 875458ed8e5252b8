//! Cluster mode (`--matchmake`): before its WebSocket opens, each client asks one of the
//! targets `GET /api/matchmake[?room=NAME]` and connects to the URL it answers, with the
//! seat reservation as a `tickcast.seat.<seat>` subprotocol. A node that does not own the
//! room closes the socket with 4421 and the owner's URL as the reason; the client follows
//! that once.
//!
//! Everything the server answers is parsed defensively: a status other than 200, a body
//! that is not the expected JSON, a missing field or a URL the client cannot use is a
//! counted [`MatchError`], never a panic.

use serde::Deserialize;
use std::fmt;
use std::net::SocketAddr;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Largest matchmaking response accepted (head and body).
const MAX_RESPONSE: usize = 64 * 1024;

/// The close code of a node that does not own the room (the reason is the owner's URL).
pub const WRONG_NODE: u16 = 4421;

/// A `200` answer of `GET /api/matchmake`, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// WebSocket URL of the node that owns (or will own) the room, query included.
    pub url: WsUrl,
    pub room: String,
    pub node: String,
    pub seat: String,
    pub expires_in: Option<u64>,
}

/// Why a matchmaking request gave no usable answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MatchError {
    /// Any HTTP status but 200, with the server's (text/plain) reason.
    Status(u16, String),
    /// A 200 whose body is not the JSON expected, or names an unusable URL or seat.
    Invalid(String),
    /// The request did not complete: connect, write or read failed, or no HTTP answer.
    Io(String),
}

impl MatchError {
    /// The key this error is counted under in the report: the HTTP status, `invalid`,
    /// or `io`.
    pub fn key(&self) -> String {
        match self {
            MatchError::Status(s, _) => s.to_string(),
            MatchError::Invalid(_) => "invalid".into(),
            MatchError::Io(_) => "io".into(),
        }
    }
}

impl fmt::Display for MatchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MatchError::Status(s, why) => write!(f, "GET /api/matchmake answered {s}: {}", why.trim()),
            MatchError::Invalid(why) => write!(f, "GET /api/matchmake answer unusable: {why}"),
            MatchError::Io(why) => write!(f, "GET /api/matchmake failed: {why}"),
        }
    }
}

/// A `ws://` URL split the way the client uses it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WsUrl {
    /// `host:port` (port 80 added when missing), for `Host:` and for resolving.
    pub host: String,
    /// Path and query, starting with `/`.
    pub path: String,
}

impl WsUrl {
    /// `ws://host:port`: what identifies a node in the answers and in 4421 reasons.
    pub fn base(&self) -> String {
        format!("ws://{}", self.host)
    }

    /// The value of `room=` in the query, if any.
    pub fn room(&self) -> Option<&str> {
        let query = self.path.split_once('?')?.1;
        query.split('&').find_map(|kv| kv.strip_prefix("room="))
    }
}

/// Parses a `ws://host[:port][/path][?query]` URL. `wss://` is refused (no TLS here), as
/// is anything that could not go verbatim into a request line or a `Host:` header.
pub fn parse_ws_url(url: &str) -> Result<WsUrl, String> {
    let rest = url.strip_prefix("ws://").ok_or_else(|| format!("not a ws:// URL: {url:?}"))?;
    let (host, path) = match rest.find(['/', '?']) {
        Some(i) if rest.as_bytes()[i] == b'?' => (&rest[..i], format!("/{}", &rest[i..])),
        Some(i) => (&rest[..i], rest[i..].to_string()),
        None => (rest, "/".to_string()),
    };
    if host.is_empty() || host.contains('@') {
        return Err(format!("no usable host in {url:?}"));
    }
    if !url.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(format!("URL has spaces or control characters: {url:?}"));
    }
    let has_port = match host.rfind(':') {
        // An IPv6 literal `[::1]` has colons of its own.
        Some(i) => !host[i..].contains(']'),
        None => false,
    };
    let host = if has_port { host.to_string() } else { format!("{host}:80") };
    if let Some(port) = host.rsplit(':').next() {
        port.parse::<u16>().map_err(|_| format!("bad port in {url:?}"))?;
    }
    Ok(WsUrl { host, path })
}

/// True for a string that can be one subprotocol entry (an RFC 7230 token).
fn is_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

#[derive(Deserialize)]
struct RawAnswer {
    url: String,
    room: String,
    node: String,
    seat: String,
    #[serde(default)]
    expires_in: Option<u64>,
}

/// Checks a matchmaking response: status 200 and a JSON object with a usable `url`, a
/// non-empty `room` and `node`, and a `seat` that can travel as a subprotocol.
pub fn parse_answer(status: u16, body: &[u8]) -> Result<Answer, MatchError> {
    if status != 200 {
        let reason = String::from_utf8_lossy(&body[..body.len().min(200)]).trim().to_string();
        return Err(MatchError::Status(status, reason));
    }
    let raw: RawAnswer = serde_json::from_slice(body).map_err(|e| MatchError::Invalid(format!("JSON: {e}")))?;
    let url = parse_ws_url(&raw.url).map_err(MatchError::Invalid)?;
    if raw.room.is_empty() || raw.node.is_empty() {
        return Err(MatchError::Invalid("empty room or node".into()));
    }
    if !is_token(&raw.seat) {
        return Err(MatchError::Invalid("seat is empty or not a subprotocol token".into()));
    }
    Ok(Answer { url, room: raw.room, node: raw.node, seat: raw.seat, expires_in: raw.expires_in })
}

/// A close frame's payload as (code, reason); `None` when it carries no code.
pub fn close_payload(payload: &[u8]) -> Option<(u16, String)> {
    let code = u16::from_be_bytes(payload.get(..2)?.try_into().ok()?);
    Some((code, String::from_utf8_lossy(&payload[2..]).into_owned()))
}

/// Where a 4421 close sends the client: the reason, when it is a usable `ws://` URL.
pub fn redirect_target(payload: &[u8]) -> Result<WsUrl, String> {
    match close_payload(payload) {
        Some((WRONG_NODE, reason)) => parse_ws_url(reason.trim()),
        Some((code, _)) => Err(format!("close {code} is not a redirect")),
        None => Err("close without a code".into()),
    }
}

/// Resolves `host:port` (a literal address without a lookup).
pub async fn resolve(host: &str) -> Result<SocketAddr, String> {
    if let Ok(addr) = host.parse() {
        return Ok(addr);
    }
    tokio::net::lookup_host(host)
        .await
        .map_err(|e| format!("cannot resolve {host}: {e}"))?
        .next()
        .ok_or_else(|| format!("{host} has no address"))
}

/// Splits a complete HTTP/1.1 response: status and body. `None` while incomplete (the
/// body ends at `Content-Length`, or at the end of the stream when `eof`). Also reads the
/// server's `/metrics` answers (`server_metrics`).
pub fn split_response(buf: &[u8], eof: bool) -> Option<Result<(u16, &[u8]), MatchError>> {
    let head_end = buf.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let head = String::from_utf8_lossy(&buf[..head_end]);
    let mut status_line = head.lines().next().unwrap_or_default().split_whitespace();
    let status = match (status_line.next(), status_line.next().and_then(|s| s.parse::<u16>().ok())) {
        (Some(v), Some(s)) if v.starts_with("HTTP/") => s,
        _ => return Some(Err(MatchError::Io(format!("not an HTTP response: {:?}", head.lines().next())))),
    };
    let len = head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim().eq_ignore_ascii_case("content-length").then(|| v.trim().parse::<usize>().ok())?
    });
    match len {
        Some(n) if buf.len() >= head_end + n => Some(Ok((status, &buf[head_end..head_end + n]))),
        Some(_) if eof => Some(Err(MatchError::Io("response shorter than its Content-Length".into()))),
        None if eof => Some(Ok((status, &buf[head_end..]))),
        _ => None,
    }
}

/// `GET /api/matchmake[?room=NAME]` on the server at `addr` (one connection per request,
/// closed after the answer).
pub async fn request(addr: SocketAddr, host: &str, room: Option<&str>) -> Result<Answer, MatchError> {
    let io = |what: &str, e: std::io::Error| MatchError::Io(format!("{what}: {e}"));
    let mut stream = TcpStream::connect(addr).await.map_err(|e| io("connect", e))?;
    let query = room.map(|r| format!("?room={r}")).unwrap_or_default();
    let req = format!("GET /api/matchmake{query} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    stream.write_all(req.as_bytes()).await.map_err(|e| io("write", e))?;
    let mut buf = Vec::with_capacity(1024);
    loop {
        let n = stream.read_buf(&mut buf).await.map_err(|e| io("read", e))?;
        if let Some(done) = split_response(&buf, n == 0) {
            let (status, body) = done?;
            return parse_answer(status, body);
        }
        if n == 0 {
            return Err(MatchError::Io("connection closed before a complete answer".into()));
        }
        if buf.len() > MAX_RESPONSE {
            return Err(MatchError::Io("response too long".into()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"{"url": "ws://127.0.0.1:18081/ws?room=mm-3", "room": "mm-3", "node": "node-b",
        "seat": "cy4xNzAwfG1tLTN8NDI.q7Zr-_x", "expires_in": 15}"#;

    #[test]
    fn a_good_answer_parses() {
        let a = parse_answer(200, GOOD.as_bytes()).unwrap();
        assert_eq!(a.url, WsUrl { host: "127.0.0.1:18081".into(), path: "/ws?room=mm-3".into() });
        assert_eq!(a.url.base(), "ws://127.0.0.1:18081");
        assert_eq!(a.url.room(), Some("mm-3"));
        assert_eq!((a.room.as_str(), a.node.as_str()), ("mm-3", "node-b"));
        assert_eq!(a.seat, "cy4xNzAwfG1tLTN8NDI.q7Zr-_x");
        assert_eq!(a.expires_in, Some(15));
    }

    #[test]
    fn errors_are_counted_by_status() {
        for (status, key) in [(400, "400"), (409, "409"), (429, "429"), (503, "503"), (500, "500")] {
            let e = parse_answer(status, b"room is full\n").unwrap_err();
            assert_eq!(e.key(), key);
            assert!(e.to_string().contains("room is full"), "{e}");
        }
        // A 200 is judged by its body, anything else by its status, whatever the body.
        assert_eq!(parse_answer(409, GOOD.as_bytes()).unwrap_err().key(), "409");
    }

    #[test]
    fn bad_bodies_are_invalid_not_panics() {
        let bad: &[&[u8]] = &[
            b"",
            b"not json",
            b"[]",
            b"null",
            b"{}",
            &[0xff, 0xfe, 0x00],
            br#"{"url": "ws://h:1/ws", "room": "r", "node": "n"}"#,
            br#"{"url": "ws://h:1/ws", "room": "r", "seat": "s"}"#,
            br#"{"url": 5, "room": "r", "node": "n", "seat": "s"}"#,
            br#"{"url": "wss://h:1/ws", "room": "r", "node": "n", "seat": "s"}"#,
            br#"{"url": "http://h:1/ws", "room": "r", "node": "n", "seat": "s"}"#,
            br#"{"url": "ws:///ws", "room": "r", "node": "n", "seat": "s"}"#,
            br#"{"url": "ws://h:99999/ws", "room": "r", "node": "n", "seat": "s"}"#,
            br#"{"url": "ws://h:1/ws?room=a b", "room": "r", "node": "n", "seat": "s"}"#,
            br#"{"url": "ws://h:1/ws", "room": "", "node": "n", "seat": "s"}"#,
            br#"{"url": "ws://h:1/ws", "room": "r", "node": "", "seat": "s"}"#,
            br#"{"url": "ws://h:1/ws", "room": "r", "node": "n", "seat": ""}"#,
            br#"{"url": "ws://h:1/ws", "room": "r", "node": "n", "seat": "a, tickcast.token.x"}"#,
            br#"{"url": "ws://h:1/ws", "room": "r", "node": "n", "seat": "a\r\nX: y"}"#,
            br#"{"url": "ws://h:1/ws", "room": "r", "node": "n", "seat": "s", "expires_in": -1}"#,
        ];
        for body in bad {
            let e = parse_answer(200, body).unwrap_err();
            assert_eq!(e.key(), "invalid", "{:?}", String::from_utf8_lossy(body));
        }
        // Extra fields and a missing expires_in are fine.
        let ok = br#"{"url": "ws://h/ws", "room": "r", "node": "n", "seat": "s.t", "extra": [1]}"#;
        let a = parse_answer(200, ok).unwrap();
        assert_eq!((a.url.host.as_str(), a.expires_in), ("h:80", None));
    }

    #[test]
    fn urls_split_into_host_and_path() {
        let u = parse_ws_url("ws://127.0.0.1:8080").unwrap();
        assert_eq!((u.host.as_str(), u.path.as_str(), u.room()), ("127.0.0.1:8080", "/", None));
        let u = parse_ws_url("ws://localhost:9?room=x").unwrap();
        assert_eq!((u.host.as_str(), u.path.as_str(), u.room()), ("localhost:9", "/?room=x", Some("x")));
        let u = parse_ws_url("ws://[::1]/ws?a=1&room=load-7").unwrap();
        assert_eq!((u.host.as_str(), u.room()), ("[::1]:80", Some("load-7")));
        assert!(parse_ws_url("ws://[::1]:70000/ws").is_err());
        assert!(parse_ws_url("ws://user@h:1/ws").is_err());
        assert!(parse_ws_url("").is_err());
    }

    #[test]
    fn a_4421_close_names_the_owner() {
        let mut p = WRONG_NODE.to_be_bytes().to_vec();
        p.extend_from_slice(b"ws://127.0.0.1:18082/ws?room=mm-1");
        let u = redirect_target(&p).unwrap();
        assert_eq!((u.base().as_str(), u.room()), ("ws://127.0.0.1:18082", Some("mm-1")));
        assert!(redirect_target(&[]).is_err());
        assert!(redirect_target(&[0x10]).is_err());
        let mut other = 4401u16.to_be_bytes().to_vec();
        other.extend_from_slice(b"ws://127.0.0.1:1/ws");
        assert!(redirect_target(&other).is_err());
        let mut junk = WRONG_NODE.to_be_bytes().to_vec();
        junk.extend_from_slice(&[0xff, 0x00]);
        assert!(redirect_target(&junk).is_err());
        assert_eq!(close_payload(&[0x03, 0xe8]), Some((1000, String::new())));
    }

    #[test]
    fn responses_split_by_content_length_or_eof() {
        let r = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nokEXTRA";
        assert_eq!(split_response(r, false).unwrap().unwrap(), (200, &b"ok"[..]));
        assert!(split_response(b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nok", false).is_none());
        assert!(split_response(b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nok", true).unwrap().is_err());
        assert_eq!(split_response(b"HTTP/1.1 409 Conflict\r\n\r\nfull", true).unwrap().unwrap(), (409, &b"full"[..]));
        assert!(split_response(b"HTTP/1.1 200 OK\r\n", true).is_none());
        assert!(split_response(b"garbage\r\n\r\n", false).unwrap().is_err());
        assert!(split_response(b"HTTP/1.1 abc\r\n\r\n", false).unwrap().is_err());
    }
}
