//! Limits on every input: each rejection gets its close code or status, and an honest
//! member of the same room keeps receiving ticks.

mod common;
use common::*;
use proptest::prelude::*;
use tickcast::protocol::{close_code, ClientMessage};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::Message;

/// Reads server frames from a raw socket until a close frame; returns its code.
async fn read_close_code(s: &mut tokio::net::TcpStream) -> u16 {
    let mut buf = Vec::new();
    let mut chunk = vec![0u8; 65536];
    loop {
        // Parse complete unmasked server frames in buf.
        let mut pos = 0;
        while buf.len() >= pos + 2 {
            let op = buf[pos] & 0x0f;
            let (len, hdr) = match buf[pos + 1] & 0x7f {
                126 if buf.len() >= pos + 4 => (u16::from_be_bytes([buf[pos + 2], buf[pos + 3]]) as usize, 4),
                127 if buf.len() >= pos + 10 => {
                    (u64::from_be_bytes(buf[pos + 2..pos + 10].try_into().unwrap()) as usize, 10)
                }
                n if n < 126 => (n as usize, 2),
                _ => break,
            };
            if buf.len() < pos + hdr + len {
                break;
            }
            if op == 0x8 {
                return u16::from_be_bytes([buf[pos + hdr], buf[pos + hdr + 1]]);
            }
            pos += hdr + len;
        }
        buf.drain(..pos);
        let n = tokio::time::timeout(PATIENCE, s.read(&mut chunk)).await.expect("close in time").unwrap_or(0);
        assert!(n > 0, "connection ended without a close frame");
        buf.extend_from_slice(&chunk[..n]);
    }
}

#[tokio::test]
async fn a_frame_declaring_too_much_is_refused_from_its_header_with_1009() {
    let server = start(settings());
    let mut honest = server.join("honest", Some("big")).await;
    let token = server.token("big").await;
    let mut raw = stalled_reader(&server, "big", &token, 1 << 16).await;
    // A header declaring 200 MiB, then a trickle of bytes: refused without the payload.
    let mut frame = vec![0x82, 0x80 | 127];
    frame.extend_from_slice(&(200u64 << 20).to_be_bytes());
    frame.extend_from_slice(&[1, 2, 3, 4]);
    frame.extend_from_slice(&[0u8; 1000]);
    raw.write_all(&frame).await.unwrap();
    assert_eq!(read_close_code(&mut raw).await, close_code::TOO_BIG);
    honest.assert_keeps_ticking().await;
}

#[tokio::test]
async fn bad_reserved_bits_are_a_protocol_error_1002() {
    let server = start(settings());
    let mut honest = server.join("honest", Some("rsv")).await;
    let token = server.token("rsv").await;
    let mut raw = stalled_reader(&server, "rsv", &token, 1 << 16).await;
    // FIN + RSV1 + binary, masked, 3 payload bytes (no extension was negotiated).
    raw.write_all(&[0xC2, 0x83, 1, 2, 3, 4, 1, 2, 3]).await.unwrap();
    assert_eq!(read_close_code(&mut raw).await, close_code::PROTOCOL_ERROR);
    honest.assert_keeps_ticking().await;
}

#[tokio::test]
async fn a_message_over_the_limit_gets_1009_and_fragments_are_capped_too() {
    let mut s = settings();
    s.limits.max_message_bytes = 64;
    let server = start(s);
    let mut honest = server.join("honest", Some("lim")).await;
    let mut a = server.join("a", Some("lim")).await;
    a.send_raw(Message::Binary(vec![0u8; 65].into())).await;
    assert_eq!(a.expect_close().await.0, close_code::TOO_BIG);
    // Two fragments of 40 bytes: each fits, the message does not.
    let mut b = server.join("b", Some("lim")).await;
    use tokio_tungstenite::tungstenite::protocol::frame::{
        coding::{Data, OpCode},
        Frame,
    };
    let mut first = Frame::message(vec![0u8; 40], OpCode::Data(Data::Binary), false);
    first.header_mut().is_final = false;
    b.send_raw(Message::Frame(first)).await;
    b.send_raw(Message::Frame(Frame::message(vec![0u8; 40], OpCode::Data(Data::Continue), true))).await;
    let (code, _) = b.expect_close().await;
    assert_eq!(code, close_code::TOO_BIG);
    honest.assert_keeps_ticking().await;
}

#[tokio::test]
async fn text_frames_close_with_1003_and_bad_values_with_1007() {
    let server = start(settings());
    let mut honest = server.join("honest", Some("txt")).await;
    let mut t = server.join("t", Some("txt")).await;
    t.send_raw(Message::Text("hello".into())).await;
    assert_eq!(t.expect_close().await.0, close_code::UNSUPPORTED_DATA);
    let mut v = server.join("v", Some("txt")).await;
    v.input(1, &[5, 0, 0]).await; // dx outside -1..=1
    let (code, reason) = v.expect_close().await;
    assert_eq!(code, close_code::INVALID_PAYLOAD);
    assert!(reason.contains("dx"), "{reason}");
    let mut w = server.join("w", Some("txt")).await;
    w.input(1, &[1, 0]).await; // wrong number of fields
    assert_eq!(w.expect_close().await.0, close_code::INVALID_PAYLOAD);
    honest.assert_keeps_ticking().await;
}

#[tokio::test]
async fn stale_duplicate_and_overflowing_inputs_are_dropped_and_counted() {
    let mut s = settings();
    s.limits.input_queue = 2;
    let server = start(s);
    let mut a = server.join("a", Some("inq")).await;
    for seq in [3, 3, 2, 4, 5, 6, 7] {
        a.input(seq, &[1, 0, 0]).await;
    }
    let deadline = tokio::time::Instant::now() + PATIENCE;
    let mut acks = Vec::new();
    while acks.last() != Some(&4) {
        assert!(tokio::time::Instant::now() < deadline);
        let h = a.next_update().await;
        if acks.last() != Some(&h.ack_input) {
            acks.push(h.ack_input);
        }
    }
    assert_eq!(
        acks.iter().filter(|a| **a != 0).copied().collect::<Vec<_>>(),
        vec![3, 4],
        "one input per tick, in order"
    );
    let (_, metrics) = http(server.addr, "GET", "/metrics", &[], "").await;
    for reason in ["stale", "overflow"] {
        let line = format!("tickcast_inputs_dropped_total{{reason=\"{reason}\"}}");
        assert!(metrics.contains(&line), "{line} missing");
    }
}

#[tokio::test]
async fn a_sustained_flood_is_dropped_then_closed_with_1008() {
    let mut s = settings();
    s.limits.input_rate_hz = 10.0;
    s.limits.input_burst = 5.0;
    s.limits.flood_grace_s = 0.3;
    let server = start(s);
    let mut honest = server.join("honest", Some("flood")).await;
    let mut f = server.join("f", Some("flood")).await;
    let mut closed = None;
    for seq in 1..=100_000u32 {
        if futures_util::SinkExt::send(
            &mut f.ws,
            Message::Binary(ClientMessage::Ping { client_time: seq as u64 }.encode().into()),
        )
        .await
        .is_err()
        {
            break;
        }
        if seq % 50 == 0 {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        if seq % 500 == 0 {
            if let Ok(Some(Ok(Message::Close(Some(frame))))) =
                tokio::time::timeout(std::time::Duration::from_millis(1), futures_util::StreamExt::next(&mut f.ws))
                    .await
            {
                closed = Some(u16::from(frame.code));
                break;
            }
        }
    }
    let code = match closed {
        Some(c) => c,
        None => f.expect_close().await.0,
    };
    assert_eq!(code, close_code::POLICY);
    honest.assert_keeps_ticking().await;
}

#[tokio::test]
async fn connection_limits_answer_429_per_ip_and_503_in_all() {
    let mut s = settings();
    s.limits.max_connections_per_ip = 2;
    let server = start(s);
    let mut a = server.join("a", Some("c")).await;
    let _b = server.join("b", Some("c")).await;
    let token = server.token("c").await;
    let err = Client::connect(&server.ws_url(Some("c")), &[&format!("tickcast.token.{token}")]).await.err().unwrap();
    assert!(err.to_string().contains("429"), "{err}");
    a.assert_keeps_ticking().await;

    let mut s = settings();
    s.limits.max_connections = 1;
    let server = start(s);
    let mut a = server.join("a", Some("c")).await;
    let token = server.token("c").await;
    let err = Client::connect(&server.ws_url(Some("c")), &[&format!("tickcast.token.{token}")]).await.err().unwrap();
    assert!(err.to_string().contains("503"), "{err}");
    a.assert_keeps_ticking().await;
}

#[tokio::test]
async fn a_silent_peer_is_dropped_after_the_heartbeat_timeout() {
    let mut s = settings();
    s.heartbeat.interval_s = 0.1;
    s.heartbeat.timeout_s = 0.4;
    let server = start(s);
    let mut honest = server.join("honest", Some("hb")).await;
    let token = server.token("silent").await;
    // Completes the handshake, then never sends anything (and never answers pings).
    let mut silent = stalled_reader(&server, "hb", &token, 1 << 16).await;
    let code = read_close_code(&mut silent).await;
    assert_eq!(code, close_code::POLICY);
    honest.assert_keeps_ticking().await; // honest answers pings (tungstenite does) and stays
}

#[tokio::test]
async fn a_slow_handshake_is_cut_by_the_request_timeout() {
    let mut s = settings();
    s.server.request_timeout_ms = 200;
    let server = start(s);
    let mut slow = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    slow.write_all(b"GET /ws HTTP/1.1\r\nHost: x\r\n").await.unwrap(); // never finishes
    let mut buf = vec![0u8; 1024];
    let n = tokio::time::timeout(PATIENCE, slow.read(&mut buf)).await.expect("cut in time").unwrap_or(0);
    let text = String::from_utf8_lossy(&buf[..n]);
    assert!(n == 0 || text.starts_with("HTTP/1.1 408"), "{text}");
}

proptest! {
    /// Arbitrary bytes never panic the decoder: always a message or a typed error.
    #[test]
    fn client_decoder_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        let _ = ClientMessage::decode(&bytes, 256);
    }

    /// Arbitrary bytes, split anywhere, through the WebSocket frame decoder never panic:
    /// always messages, a wait for more, or a typed error.
    #[test]
    fn frame_decoder_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..300), split in 1usize..50) {
        use tickcast::net::ws::frame::{Decoder, FrameLimits};
        let mut d = Decoder::new(FrameLimits { max_message: 1024, max_fragments: 8 });
        let mut buf = bytes::BytesMut::new();
        'feed: for chunk in bytes.chunks(split) {
            buf.extend_from_slice(chunk);
            loop {
                match d.decode(&mut buf) {
                    Ok(Some(_)) => {}
                    Ok(None) => break,
                    Err(_) => break 'feed,
                }
            }
        }
    }

    /// Arbitrary header values never panic the forwarded-for parser or token checks.
    #[test]
    fn header_parsers_never_panic(value in ".{0,200}") {
        let trusted = vec!["127.0.0.1".parse().unwrap()];
        let _ = tickcast::http::handshake::client_ip(Some("127.0.0.1:1".parse().unwrap()), Some(&value), &trusted);
        let keys = tickcast::tokens::TokenKeys::new("k");
        let _ = keys.verify_guest(&value, 0);
        let _ = keys.verify_resume(&value, 0);
        let _ = tickcast::tokens::check_player_name(&value, 24);
    }
}
