//! Guest tokens for every client, minted in bulk before the first WebSocket opens: a few
//! keep-alive HTTP/1.1 connections each post `POST /api/session` back to back, so minting
//! thousands of tokens takes a fraction of a second and never overlaps the measurement.
//!
//! The server's mint limit (`security.mint_per_minute`, per IP) must allow it: run the
//! server with `TICKCAST__SECURITY__MINT_PER_MINUTE=1000000`, or use `--no-token` against a
//! server with `TICKCAST__SECURITY__REQUIRE_TOKEN=false`.

use std::net::SocketAddr;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Requests written at once on one connection before their answers are read (HTTP/1.1
/// pipelining; actix answers them in order).
const PIPELINE: usize = 16;

/// Mints `count` tokens over `connections` concurrent connections; token `i` is for the
/// player named `<prefix><i>`.
pub async fn mint(
    addr: SocketAddr,
    host: &str,
    count: usize,
    connections: usize,
    prefix: &str,
) -> Result<Vec<String>, String> {
    let connections = connections.clamp(1, count.max(1));
    let mut tasks = Vec::new();
    for c in 0..connections {
        let names: Vec<(usize, String)> =
            (c..count).step_by(connections).map(|i| (i, format!("{prefix}{i}"))).collect();
        let host = host.to_string();
        tasks.push(tokio::spawn(async move { mint_on_one(addr, &host, names).await }));
    }
    let mut tokens = vec![String::new(); count];
    for t in tasks {
        for (i, token) in t.await.map_err(|e| e.to_string())?? {
            tokens[i] = token;
        }
    }
    Ok(tokens)
}

async fn mint_on_one(
    addr: SocketAddr,
    host: &str,
    names: Vec<(usize, String)>,
) -> Result<Vec<(usize, String)>, String> {
    let mut stream = TcpStream::connect(addr).await.map_err(|e| format!("token connection: {e}"))?;
    let mut out = Vec::with_capacity(names.len());
    let mut buf = Vec::with_capacity(8192);
    for chunk in names.chunks(PIPELINE) {
        let mut requests = String::new();
        for (_, name) in chunk {
            let body = format!("{{\"name\":\"{name}\"}}");
            requests.push_str(&format!(
                "POST /api/session HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n\
                 Content-Length: {}\r\n\r\n{body}",
                body.len()
            ));
        }
        stream.write_all(requests.as_bytes()).await.map_err(|e| format!("token request: {e}"))?;
        for (i, _) in chunk {
            let (status, body) = read_response(&mut stream, &mut buf).await?;
            if status == 429 {
                return Err("POST /api/session answered 429: raise the server's mint limit \
                            (TICKCAST__SECURITY__MINT_PER_MINUTE=1000000) or use --no-token"
                    .into());
            }
            if status != 200 {
                return Err(format!("POST /api/session answered {status}: {}", body.trim()));
            }
            let v: serde_json::Value = serde_json::from_str(&body).map_err(|e| format!("token JSON: {e}"))?;
            let token = v["token"].as_str().ok_or("token JSON has no token")?;
            out.push((*i, token.to_string()));
        }
    }
    Ok(out)
}

/// Reads one HTTP/1.1 response with a Content-Length body from `stream`; bytes after it
/// stay in `buf` for the next response.
async fn read_response(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Result<(u16, String), String> {
    loop {
        if let Some(head_end) = buf.windows(4).position(|w| w == b"\r\n\r\n").map(|p| p + 4) {
            let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
            let status = head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
            let len: usize = head
                .lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case("content-length").then(|| v.trim().parse().ok())?
                })
                .unwrap_or(0);
            if buf.len() >= head_end + len {
                let body = String::from_utf8_lossy(&buf[head_end..head_end + len]).to_string();
                buf.drain(..head_end + len);
                return Ok((status, body));
            }
        }
        let n = stream.read_buf(buf).await.map_err(|e| format!("token response: {e}"))?;
        if n == 0 {
            return Err("token connection closed early".into());
        }
    }
}
