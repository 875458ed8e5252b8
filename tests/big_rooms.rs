//! Big rooms over real sockets: a game that declares positions (the `Plaza` test game)
//! gets interest management. A member holds exactly the entities of the cells its view
//! meets, sees another player arrive and leave, a slow member catches up, an old
//! protocol version is refused with 4426, and a hostile member is contained.

mod common;

use common::plaza::{self, Plaza};
use common::{settings, start, start_game, Client, Received, TestServer};
use std::collections::BTreeSet;
use std::sync::Arc;
use tickcast::game::{GameFactory, RoomInfo};

/// Side of a cell, plaza units (scale 1).
const CELL: i32 = 200;

fn server() -> TestServer {
    let mut s = settings();
    s.interest.cell_size = CELL as u32;
    s.interest.linger_ticks = 3;
    let factory: GameFactory = Arc::new(|_: &RoomInfo| Box::new(Plaza::default()) as Box<dyn tickcast::game::Game>);
    start_game(s, factory)
}

async fn join_v3(server: &TestServer, name: &str) -> Client {
    let token = server.token(name).await;
    let mut c = Client::connect(&server.ws_url(Some("plaza")), &["tickcast.v3", &format!("tickcast.token.{token}")])
        .await
        .expect("connect");
    let welcome = c.expect_welcome().await;
    assert_eq!(welcome.protocol, 3);
    c
}

/// The cells a view of the plaza meets around `(x, y)` (PROTOCOL.md: the square of side
/// 2 × radius).
fn cells_around(x: i32, y: i32) -> BTreeSet<(i32, i32)> {
    let r = plaza::VIEW_RADIUS;
    let span = |v: i32| (v - r).div_euclid(CELL)..=(v + r).div_euclid(CELL);
    span(x).flat_map(|cx| span(y).map(move |cy| (cx, cy))).collect()
}

/// Every post in `cells`.
fn posts_in(cells: &BTreeSet<(i32, i32)>) -> BTreeSet<u32> {
    plaza::posts()
        .into_iter()
        .filter(|(_, x, y)| cells.contains(&(x.div_euclid(CELL), y.div_euclid(CELL))))
        .map(|(id, _, _)| id)
        .collect()
}

fn held(c: &Client) -> BTreeSet<u32> {
    c.world.entities.keys().copied().collect()
}

/// Reads updates until the client holds its own walker and the clock.
async fn settled(c: &mut Client) {
    let me = c.player_id();
    c.until(|w| w.entities.contains_key(&me) && w.entities.contains_key(&plaza::CLOCK_ID)).await;
    // A few more ticks: every cell of the view has arrived whole.
    c.still_playing(3).await;
}

#[tokio::test]
async fn a_member_holds_exactly_the_posts_walkers_and_clock_of_the_cells_it_sees() {
    let server = server();
    let mut a = join_v3(&server, "a").await;
    let b = join_v3(&server, "b").await;
    settled(&mut a).await;
    let (ax, ay) = plaza::start_of(a.player_id());
    let cells = cells_around(ax, ay);
    let mut expected = posts_in(&cells);
    expected.insert(a.player_id());
    expected.insert(plaza::CLOCK_ID);
    let (bx, by) = plaza::start_of(b.player_id());
    assert!(!cells.contains(&(bx.div_euclid(CELL), by.div_euclid(CELL))), "b starts out of a's sight");
    assert_eq!(held(&a), expected, "a holds exactly its cells' entities");
    // The cells are kept apart, each with its own copy.
    let held_cells: BTreeSet<_> = a.world.cells().keys().copied().collect();
    assert!(held_cells.is_subset(&cells), "{held_cells:?} within {cells:?}");
    // Their values are the server's (posts never move).
    for (id, x, y) in plaza::posts() {
        if expected.contains(&id) {
            assert_eq!(a.entity(id), Some(&vec![x, y]), "post {id}");
        }
    }
}

#[tokio::test]
async fn another_player_appears_when_it_walks_into_view_and_goes_when_it_leaves() {
    let server = server();
    let mut a = join_v3(&server, "a").await;
    let mut b = join_v3(&server, "b").await;
    settled(&mut a).await;
    settled(&mut b).await;
    let (ax, ay) = plaza::start_of(a.player_id());
    let (bx, by) = plaza::start_of(b.player_id());
    let toward = [(ax - bx).signum(), (ay - by).signum()];
    b.input(1, &toward).await;
    let bid = b.player_id();
    a.until(|w| w.entities.contains_key(&bid)).await;
    let seen = a.entity(bid).cloned().expect("b is held");
    let sees = cells_around(ax, ay);
    assert!(
        sees.contains(&(seen[0].div_euclid(CELL), seen[1].div_euclid(CELL))),
        "b at {seen:?} appears in a cell a sees"
    );
    // b walks on past a and away: it leaves a's cells and a lets it go.
    a.until(|w| !w.entities.contains_key(&bid)).await;
    b.input(2, &[0, 0]).await;
    a.assert_keeps_ticking().await;
}

#[tokio::test]
async fn a_slow_member_catches_up_with_its_cells() {
    let server = server();
    let token = server.token("slow").await;
    let url = server.ws_url(Some("plaza"));
    let mut slow = Client::connect_small_rcvbuf(&url, &["tickcast.v3", &format!("tickcast.token.{token}")], 4096).await;
    slow.expect_welcome().await;
    let mut walker = join_v3(&server, "walker").await;
    settled(&mut slow).await;
    // The walker walks through the world while the slow member does not read.
    walker.input(1, &[1, 1]).await;
    tokio::time::sleep(std::time::Duration::from_millis(800)).await;
    walker.input(2, &[0, 0]).await;
    // Catching up: every update applies (the client's RoomState would refuse a broken
    // chain), and then it holds exactly its cells' entities again.
    slow.still_playing(20).await;
    let (x, y) = plaza::start_of(slow.player_id());
    let mut expected = posts_in(&cells_around(x, y));
    expected.insert(slow.player_id());
    expected.insert(plaza::CLOCK_ID);
    let wid = walker.player_id();
    let mut got = held(&slow);
    got.remove(&wid); // the walker may be anywhere now, in sight or not
    assert_eq!(got, expected);
}

#[tokio::test]
async fn a_client_of_version_2_cannot_join_a_big_room() {
    let server = server();
    let token = server.token("old").await;
    let mut c = Client::connect(&server.ws_url(Some("plaza")), &["tickcast.v2", &format!("tickcast.token.{token}")])
        .await
        .unwrap();
    let (code, reason) = c.expect_refused().await;
    assert_eq!(code, 4426, "{reason}");
    assert!(reason.contains("tickcast.v3"), "{reason}");
}

#[tokio::test]
async fn hostile_input_in_a_big_room_closes_that_session_only() {
    let server = server();
    let mut good = join_v3(&server, "good").await;
    let mut bad = join_v3(&server, "bad").await;
    settled(&mut good).await;
    bad.input(1, &[7, -9]).await;
    loop {
        match bad.recv().await {
            Received::Closed { code, .. } => {
                assert_eq!(code, 1007);
                break;
            }
            _ => continue,
        }
    }
    good.assert_keeps_ticking().await;
}

/// Settings with a small `field` kind of the arena: a 1,400-unit map, 30 bots, 2 seats.
fn field_server() -> TestServer {
    let mut s = settings();
    s.interest.linger_ticks = 3;
    let field = s.game.arena.presets.get_mut("field").expect("config.yaml names the field kind");
    (field.size, field.orbs, field.view_radius, field.bots, field.max_players) =
        (Some(1400), Some(80), Some(300), Some(30), Some(2));
    start(s)
}

#[tokio::test]
async fn a_field_room_of_the_arena_is_a_big_world_with_bots_and_its_own_seats() {
    let server = field_server();
    let token = server.token("walker").await;
    let url = server.ws_url(Some("field-test"));
    let mut a = Client::connect(&url, &["tickcast.v3", &format!("tickcast.token.{token}")]).await.unwrap();
    let welcome = a.expect_welcome().await;
    assert_eq!(welcome.protocol, 3);
    let constant = |name: &str| welcome.constant(name);
    assert_eq!((constant("size"), constant("view_radius"), constant("orbs")), (Some(1400), Some(300), Some(80)));
    let player_kind = welcome.schema.entity_kinds.iter().position(|k| k.name == "player").unwrap() as u16;

    // The member comes to hold its own player and some of the bots, never the whole map.
    let me = a.player_id();
    let bot = tickcast::game::arena::BOT_ID_BASE;
    a.until(|w| w.entities.contains_key(&me) && w.entities.keys().any(|id| (bot..bot + 30).contains(id))).await;
    a.still_playing(3).await;
    let players = a.world.entities.values().filter(|(kind, _)| *kind == player_kind).count();
    assert!(players < 31, "a 1,400-unit map seen through a 600-unit view: {players} of 31 players held");
    assert!(a.world.entities.len() < 111, "not every orb and player: {}", a.world.entities.len());

    // Every entity held is in a cell the member's view meets (cells are 200 units of 10
    // quanta; the member does not move, so no cell lingers from elsewhere).
    let mine = a.world.entities.get(&me).map(|(_, f)| (f[0], f[1])).expect("own player");
    let cell = 200 * 10;
    let span = |v: i32| (v - 3000).div_euclid(cell)..=(v + 3000).div_euclid(cell);
    for (id, (_, f)) in a.world.entities.iter() {
        let (cx, cy) = (f[0].div_euclid(cell), f[1].div_euclid(cell));
        assert!(span(mine.0).contains(&cx) && span(mine.1).contains(&cy), "entity {id} at {f:?}, me at {mine:?}");
    }

    // The kind's two seats, not room.max_players: a third player finds it full.
    let token = server.token("b").await;
    let mut b = Client::connect(&url, &["tickcast.v3", &format!("tickcast.token.{token}")]).await.unwrap();
    b.expect_welcome().await;
    let token = server.token("c").await;
    let mut c = Client::connect(&url, &["tickcast.v3", &format!("tickcast.token.{token}")]).await.unwrap();
    let (code, reason) = c.expect_refused().await;
    assert_eq!((code, reason.as_str()), (4409, "room is full"));

    // An ordinary room of the same server is small: every version joins.
    let small = server.join("d", Some("lobby")).await;
    assert!(small.welcome.as_ref().is_some_and(|w| w.constant("view_radius").is_none()));
}
