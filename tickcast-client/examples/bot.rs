//! A bot that plays the arena: it joins a room, walks towards the nearest orb every tick,
//! and reports its score as it picks orbs up.
//!
//! ```text
//! cargo run --release                                   # a server, in another terminal
//! cargo run --example bot -p tickcast-client            # joins room "lobby" for 30 s
//! cargo run --example bot -p tickcast-client -- http://127.0.0.1:8080 lobby 60
//! ```
//!
//! Open http://127.0.0.1:8080/?room=lobby in a browser to watch it play.

use std::time::{Duration, Instant};
use tickcast_client::connection::{guest_token, Connection};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let http = args.next().unwrap_or_else(|| "http://127.0.0.1:8080".into());
    let room = args.next().unwrap_or_else(|| "lobby".into());
    let seconds: u64 = args.next().map(|s| s.parse()).transpose()?.unwrap_or(30);
    let ws = format!("{}/ws?room={room}", http.replacen("http://", "ws://", 1));

    let token = guest_token(&http, "bot").await?;
    let mut game = Connection::join(&ws, &token).await?;
    let me = game.welcome.player_id;
    let schema = game.welcome.schema.clone();
    let (player, orb) = (schema.kind("player").ok_or("not the arena")?, schema.kind("orb").ok_or("not the arena")?);
    let score = schema.field(player, "score").ok_or("no score field")?;
    println!(
        "player {me} in room {} (protocol {}, {} Hz)",
        game.welcome.room, game.welcome.protocol, game.welcome.tick_rate_hz
    );

    let until = Instant::now() + Duration::from_secs(seconds);
    let (mut last_score, mut last_input) = (0, [0, 0, 0]);
    while Instant::now() < until {
        game.next_update().await?;
        let Some(mine) = game.world.get(me).map(<[i32]>::to_vec) else { continue };
        if mine[score] != last_score {
            last_score = mine[score];
            println!("score {last_score}");
        }
        // The nearest orb, by squared distance in the server's quanta.
        let target = game
            .world
            .entities
            .values()
            .filter(|(kind, _)| *kind == orb)
            .map(|(_, f)| (f[0], f[1]))
            .min_by_key(|(x, y)| (i64::from(x - mine[0])).pow(2) + (i64::from(y - mine[1])).pow(2));
        let input = match target {
            Some((x, y)) => [(x - mine[0]).signum(), (y - mine[1]).signum(), 0],
            None => [0, 0, 0],
        };
        // The arena keeps applying the last input: send only changes.
        if input != last_input {
            game.send_input(&input).await?;
            last_input = input;
        }
    }
    println!("final score {last_score}; leaving");
    game.leave().await?;
    Ok(())
}
