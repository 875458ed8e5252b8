//! A WebSocket echo server on tickcast's own connection layer (`tickcast::net::ws`), for
//! the Autobahn|Testsuite run (`scripts/autobahn`, `docs/AUTOBAHN.md`).
//!
//! It is assembled the way the game server is (`src/server.rs`): actix-server listening,
//! actix-http's `HttpService` with an upgrade service that checks the handshake, writes
//! the 101 with `handoff::switch` and then owns the raw socket. From there every byte
//! goes through the same `ConnectionReader` (the frame decoder and its checks) and
//! `ConnectionWriter` (headers, vectored writes, the outbox and its flush) as a game
//! session's, so the suite's verdicts are about the layer the game runs on.
//!
//! What differs from the game is only what the game adds on top: here any message is
//! echoed (text as text, binary as binary, up to 16 MiB, with any number of fragments),
//! pings are answered with pongs, and a close is answered with a close. The game's 1 KiB
//! message cap and its refusal of text messages are game rules, not framing rules.
//!
//! Run it with `cargo run --release --example echo -- --bind 127.0.0.1:9001`; it serves
//! the echo on any path (`ws://127.0.0.1:9001/`) and answers 404 to plain HTTP requests.

use actix_http::{HttpService, Request, Response, StatusCode};
use bytes::BytesMut;
use futures_util::StreamExt;
use std::convert::Infallible;
use std::io;
use std::net::TcpListener;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tickcast::net::ws::frame::opcode;
use tickcast::net::ws::handoff::{self, HttpFramed};
use tickcast::net::ws::{ConnectionReader, ConnectionWriter, FrameLimits, Message, Outbound, ReadError};
use tokio::net::TcpStream;

/// The echo's framing limits: the suite's largest message is 16 MiB, and its fragmented
/// ones have up to 65,536 frames.
const LIMITS: FrameLimits = FrameLimits { max_message: 16 << 20, max_fragments: 1_000_000 };
/// While more than this waits in the writer's outbox, the echo reads nothing more: a
/// client that sends without reading cannot make the server hold its whole upload.
const MAX_PENDING: usize = 32 << 20;
/// How long the last frames (the close) get to leave before the socket is shut down.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(2);

const USAGE: &str = "usage: echo [--bind HOST:PORT] (default 127.0.0.1:9001)";

fn main() -> ExitCode {
    let mut bind = String::from("127.0.0.1:9001");
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--bind" => match args.next() {
                Some(addr) => bind = addr,
                None => {
                    eprintln!("--bind needs an address\n{USAGE}");
                    return ExitCode::from(2);
                }
            },
            "-h" | "--help" => {
                println!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            other => {
                eprintln!("unknown argument {other:?}\n{USAGE}");
                return ExitCode::from(2);
            }
        }
    }
    match actix_web::rt::System::new().block_on(serve(&bind)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("echo: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Listens on `bind` and serves until interrupted.
async fn serve(bind: &str) -> io::Result<()> {
    let listener = TcpListener::bind(bind).map_err(|e| io::Error::new(e.kind(), format!("cannot bind {bind}: {e}")))?;
    let addr = listener.local_addr()?;
    let server = actix_server::Server::build().listen("echo", listener, move || {
        let upgrade = actix_service::fn_factory(|| async {
            Ok::<_, ()>(actix_service::fn_service(|(req, framed): (Request, HttpFramed)| async move {
                // A failed write here means the client went away mid-answer.
                let _ = upgrade(req, framed).await;
                Ok::<(), Infallible>(())
            }))
        });
        HttpService::build()
            .tcp_nodelay(true)
            .local_addr(addr)
            .upgrade(upgrade)
            .finish(actix_service::fn_service(|_req: Request| async {
                Ok::<_, Infallible>(Response::with_body(
                    StatusCode::NOT_FOUND,
                    "a WebSocket echo: connect with a WebSocket handshake\n",
                ))
            }))
            .tcp()
    })?;
    println!("echo listening on ws://{addr}/");
    server.run().await
}

/// One upgrade request: refused with the handshake's error, or switched and echoed.
async fn upgrade(req: Request, framed: HttpFramed) -> io::Result<()> {
    let switching = match actix_http::ws::handshake(req.head()) {
        Ok(mut builder) => builder.finish().drop_body(),
        Err(e) => return handoff::answer_and_close(framed, Response::from(e)).await,
    };
    let (stream, early) = handoff::switch(framed, switching).await?;
    let stream = Arc::new(stream);
    echo(stream, early).await;
    Ok(())
}

/// Echoes the connection's messages until it closes, while its writer's flush drains
/// whatever the kernel did not take at once.
async fn echo(stream: Arc<TcpStream>, early: BytesMut) {
    let writer = Arc::new(ConnectionWriter::new(stream.clone()));
    let mut reader = ConnectionReader::new(stream, early, LIMITS);
    let flush = writer.clone().flush();
    tokio::pin!(flush);
    tokio::select! {
        _ = converse(&writer, &mut reader) => {}
        // The socket broke: nothing more can be sent.
        _ = &mut flush => return,
    }
    // The close (or whatever else waits) leaves before the socket is shut down.
    tokio::select! {
        _ = drained(&writer) => {}
        _ = &mut flush => {}
    }
    writer.shut_down();
}

/// Reads and answers messages until a close was sent or the connection ended.
async fn converse(writer: &ConnectionWriter, reader: &mut ConnectionReader) {
    loop {
        while writer.pending_bytes() > MAX_PENDING {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let Some(next) = reader.next().await else { return };
        match next {
            Ok(Message::Text(data)) => {
                writer.send_frame(opcode::TEXT, &[&data]);
            }
            Ok(Message::Binary(data)) => {
                writer.send_frame(opcode::BINARY, &[&data]);
            }
            Ok(Message::Ping(data)) => {
                writer.send_frame(opcode::PONG, &[&data]);
            }
            Ok(Message::Pong(_)) => {}
            Ok(Message::Close(Some(close))) => {
                // The decoder let through only codes a peer may send.
                writer.send_close(close.code, "");
                return;
            }
            Ok(Message::Close(None)) => {
                writer.send_frame(opcode::CLOSE, &[]);
                return;
            }
            Err(ReadError::Frame(e)) => {
                writer.send_close(e.close_code(), e.reason());
                return;
            }
            Err(ReadError::Io(_)) => return,
        }
    }
}

/// Returns once the writer's outbox is empty, or after [`DRAIN_TIMEOUT`].
async fn drained(writer: &ConnectionWriter) {
    let deadline = Instant::now() + DRAIN_TIMEOUT;
    while writer.pending_bytes() > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}
