//! Abuse of the WebSocket framing, over real sockets: a message of endless empty
//! continuation frames is cut. Honest players nearby keep playing.

mod common;
use common::*;
use tickcast::protocol::{close_code, ClientMessage};
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
use tokio_tungstenite::tungstenite::protocol::frame::Frame;
use tokio_tungstenite::tungstenite::Message;

/// A masked client frame for tungstenite to send as is.
fn fragment(payload: &[u8], opcode: OpCode, fin: bool) -> Message {
    let mut f = Frame::message(payload.to_vec(), opcode, fin);
    f.header_mut().is_final = fin;
    Message::Frame(f)
}

#[tokio::test]
async fn endless_empty_continuation_frames_close_with_1009() {
    let mut s = settings();
    s.limits.max_fragments_per_message = 8;
    let server = start(s);
    let mut honest = server.join("honest", Some("frag")).await;

    // A Ping in exactly 8 frames is within the limit and answered.
    let mut ok = server.join("ok", Some("frag")).await;
    let ping = ClientMessage::Ping { client_time: 42 }.encode();
    ok.send_raw(fragment(&ping, OpCode::Data(Data::Binary), false)).await;
    for i in 0..7 {
        ok.send_raw(fragment(&[], OpCode::Data(Data::Continue), i == 6)).await;
    }
    loop {
        match ok.recv().await {
            Received::Pong { client_time } => break assert_eq!(client_time, 42),
            Received::Update { .. } => continue,
            other => panic!("expected the Pong, got {other:?}"),
        }
    }

    // One byte, then continuation frames carrying nothing, never a FIN.
    let mut bad = server.join("bad", Some("frag")).await;
    bad.send_raw(fragment(&ping[..1], OpCode::Data(Data::Binary), false)).await;
    for _ in 0..50 {
        bad.send_raw(fragment(&[], OpCode::Data(Data::Continue), false)).await;
    }
    assert_eq!(bad.expect_close().await, (close_code::TOO_BIG, "too many fragments".to_string()));
    honest.still_playing(3).await;
    ok.still_playing(1).await;
}
