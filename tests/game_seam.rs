//! The `Game` seam driven directly, without actors or sockets: the arena and the `tag`
//! example (examples/tag.rs) are called in the world actor's order — inputs, step, write
//! state — and must be deterministic, move players by their input, stay in bounds, score
//! with events, and forget a player that leaves.

// The example's `main` and factory are not used here.
#[allow(dead_code)]
#[path = "../examples/tag.rs"]
mod tag;

use proptest::prelude::*;
use tickcast::game::arena::{Arena, ArenaConfig, BOT_ID_BASE, EVENT_SCORED, KIND_ORB, ORB_ID_BASE};
use tickcast::game::{Game, SplitMix64, StepContext};
use tickcast::protocol::{EntityKind, Event, FieldDef, InputField, PlayerId, Schema, Writer};
use tickcast::sync::EntityState;

const RATE_HZ: u32 = 20;

/// One tick as the world runs it: each player's input (checked against the schema as
/// the session does), the step, then the replicated state.
fn tick(game: &mut dyn Game, tick: u64, inputs: &[(PlayerId, Vec<i32>)]) -> (EntityState, Vec<Event>) {
    let schema = game.schema();
    for (player, values) in inputs {
        schema.check_input(values).expect("test inputs respect the schema");
        game.apply_input(*player, values);
    }
    let mut events = Vec::new();
    game.step(&mut StepContext::new(tick, RATE_HZ, &mut events));
    let mut state = EntityState::new();
    game.write_state(&mut state);
    state.finish();
    (state, events)
}

fn fields(state: &EntityState, id: u32) -> Vec<i32> {
    state.get(id).unwrap_or_else(|| panic!("entity {id} present")).fields.to_vec()
}

/// Three players joining, sending pseudo-random inputs within the schema, one leaving.
fn scripted_run(mut game: Box<dyn Game>, ticks: u64) -> Vec<(EntityState, Vec<Event>)> {
    let schema = game.schema();
    let mut script = SplitMix64::new(99);
    for player in 1..=3 {
        game.join(player, "p");
    }
    (1..=ticks)
        .map(|t| {
            if t == ticks / 2 {
                game.leave(2);
            }
            let inputs: Vec<(PlayerId, Vec<i32>)> = [1, 3]
                .into_iter()
                .map(|p| (p, schema.input.iter().map(|f| script.range(f.min, f.max + 1)).collect()))
                .collect();
            tick(game.as_mut(), t, &inputs)
        })
        .collect()
}

#[test]
fn arena_is_deterministic_for_the_same_seed_and_inputs() {
    let run = |seed| scripted_run(Box::new(Arena::new(ArenaConfig::default(), seed)), 300);
    let first = run(7);
    assert_eq!(first, run(7));
    assert_ne!(first, run(8), "the seed matters");
}

#[test]
fn tag_is_deterministic_for_the_same_seed_and_inputs() {
    let run = |seed| scripted_run(Box::new(tag::Tag::new(seed)), 300);
    let first = run(7);
    assert_eq!(first, run(7));
    assert_ne!(first, run(8), "the seed matters");
}

#[test]
fn tag_declares_its_own_schema() {
    let (tag, arena) = (tag::Tag::new(1).schema(), Arena::new(ArenaConfig::default(), 1).schema());
    tag.validate().expect("tag schema is valid");
    assert_eq!(tag.game, "tag");
    let int = |n: &str| FieldDef::new(n, 1);
    let runner = EntityKind { name: "runner".into(), fields: vec![int("col"), int("row"), int("it"), int("tags")] };
    assert_eq!(tag.entity_kinds, vec![runner], "derived from Runner's replicated fields, in order");
    assert_eq!(tag.input, vec![InputField::new("dir", 0, 4)]);
    assert_eq!(tag.event_kinds, vec!["tagged".to_string()]);
    assert_ne!(tag.entity_kinds, arena.entity_kinds);
}

#[test]
fn arena_input_moves_the_player_by_the_documented_step() {
    let mut arena = Arena::new(ArenaConfig::default(), 3);
    arena.join(1, "a");
    let (state, _) = tick(&mut arena, 1, &[]);
    let [x, y, _] = fields(&state, 1)[..] else { panic!("player fields") };
    // Towards the centre, so the bounds cannot interfere.
    let (dx, dy) = (if x < 5000 { 1 } else { -1 }, if y < 5000 { 1 } else { -1 });
    let (state, _) = tick(&mut arena, 2, &[(1, vec![dx, 0, 0])]);
    assert_eq!(fields(&state, 1)[..2], [x + dx * 100, y], "straight: 2000 / 20 = 100 quanta per tick");
    let (state, _) = tick(&mut arena, 3, &[(1, vec![dx, dy, 1])]);
    let expected = [x + dx * 100 + dx * 106, y + dy * 106];
    assert_eq!(fields(&state, 1)[..2], expected, "boosted diagonal: (150 * 181) >> 8 = 106");
    let (state, _) = tick(&mut arena, 4, &[]);
    assert_eq!(fields(&state, 1)[..2], [expected[0] + dx * 106, expected[1] + dy * 106], "the last input keeps acting");
}

#[test]
fn arena_clamps_players_to_its_bounds() {
    let mut arena = Arena::new(ArenaConfig::default(), 5);
    arena.join(1, "a");
    let mut state = EntityState::new();
    for t in 1..=150 {
        state = tick(&mut arena, t, &[(1, vec![-1, -1, 1])]).0;
    }
    assert_eq!(fields(&state, 1)[..2], [200, 200], "player radius 20 units from the low walls");
    for t in 151..=300 {
        state = tick(&mut arena, t, &[(1, vec![1, 1, 1])]).0;
    }
    assert_eq!(fields(&state, 1)[..2], [9800, 9800], "player radius 20 units from the high walls");
}

#[test]
fn arena_pickup_scores_and_emits_the_event() {
    let mut arena = Arena::new(ArenaConfig { orbs: 1, ..ArenaConfig::default() }, 11);
    arena.join(1, "a");
    let (mut state, _) = tick(&mut arena, 1, &[]);
    for t in 2..=400 {
        let (p, orb) = (fields(&state, 1), fields(&state, ORB_ID_BASE));
        let input = vec![(orb[0] - p[0]).signum(), (orb[1] - p[1]).signum(), 0];
        let (next, events) = tick(&mut arena, t, &[(1, input)]);
        if !events.is_empty() {
            assert_eq!(events, [Event::Game { kind: EVENT_SCORED, player: 1, value: 1 }]);
            assert_eq!(fields(&next, 1)[2], 1, "score field");
            assert_eq!(next.get(ORB_ID_BASE).map(|o| o.kind), Some(KIND_ORB));
            assert_ne!(fields(&next, ORB_ID_BASE), orb, "the picked orb respawned elsewhere");
            return;
        }
        state = next;
    }
    panic!("the player never reached the orb");
}

#[test]
fn leave_removes_the_players_entity() {
    let mut arena = Arena::new(ArenaConfig::default(), 1);
    arena.join(1, "a");
    arena.join(2, "b");
    arena.leave(1);
    let (state, _) = tick(&mut arena, 1, &[]);
    assert!(state.get(1).is_none());
    assert!(state.get(2).is_some());
    assert_eq!(state.len(), 1 + ArenaConfig::default().orbs as usize, "orbs stay");

    let mut tag = tag::Tag::new(1);
    tag.join(1, "a");
    tag.join(2, "b");
    let (state, _) = tick(&mut tag, 1, &[]);
    assert_eq!(fields(&state, 1)[2], 1, "the first runner is it");
    tag.leave(1);
    let (state, _) = tick(&mut tag, 2, &[]);
    assert!(state.get(1).is_none());
    assert_eq!(fields(&state, 2)[2], 1, "'it' passes on when 'it' leaves");
}

#[test]
fn tag_input_moves_a_runner_one_cell_at_a_time_within_the_grid() {
    let mut game = tag::Tag::new(4);
    game.join(1, "a");
    let (state, _) = tick(&mut game, 1, &[]);
    let start = fields(&state, 1);
    let period = (RATE_HZ / tag::MOVES_PER_SECOND) as u64;
    let mut cols = Vec::new();
    for t in 2..2 + 2 * period {
        let (state, _) = tick(&mut game, t, &[(1, vec![2])]);
        cols.push(fields(&state, 1)[0]);
    }
    let right = |n: i32| (start[0] + n).min(tag::GRID - 1);
    assert_eq!(cols[0], right(1), "the first tick moves one cell");
    assert!(cols[..period as usize].iter().all(|c| *c == right(1)), "then it waits: {cols:?}");
    assert_eq!(cols[period as usize], right(2), "one cell per {period} ticks");
    let mut state = EntityState::new();
    for t in 100..200 {
        state = tick(&mut game, t, &[(1, vec![2])]).0;
    }
    assert_eq!(fields(&state, 1)[0], tag::GRID - 1, "the grid's edge stops it");
}

#[test]
fn tag_touch_passes_it_and_emits_tagged() {
    let mut game = tag::Tag::new(9);
    game.join(1, "chaser");
    game.join(2, "runner");
    let (mut state, _) = tick(&mut game, 1, &[]);
    for t in 2..=400 {
        let (me, them) = (fields(&state, 1), fields(&state, 2));
        let dir = match (them[0] - me[0], them[1] - me[1]) {
            (dc, _) if dc > 0 => 2,
            (dc, _) if dc < 0 => 4,
            (_, dr) if dr > 0 => 3,
            _ => 1,
        };
        let (next, events) = tick(&mut game, t, &[(1, vec![dir])]);
        if !events.is_empty() {
            assert_eq!(events, [Event::Game { kind: tag::EVENT_TAGGED, player: 1, value: 2 }]);
            assert_eq!(fields(&next, 1)[2..], [0, 1], "the tagger is no longer it and counts a tag");
            assert_eq!(fields(&next, 2)[2], 1, "the touched runner is it");
            let (after, events) = tick(&mut game, t + 1, &[]);
            assert!(events.is_empty(), "a fresh 'it' is frozen and cannot tag straight back");
            assert_eq!(fields(&after, 2)[2], 1);
            return;
        }
        state = next;
    }
    panic!("the chaser never touched the runner");
}

// ---- save / restore (cluster failover) ----

/// One thing that happens before a tick in a save/restore script. Players are named by
/// index into the players present (modulo their number), as the world only ever sends
/// inputs and leaves for players it has; joins take the next fresh id.
#[derive(Debug, Clone)]
enum Act {
    Join,
    Leave(usize),
    Disconnect(usize),
    Input(usize, [u32; 3]),
}

fn act() -> impl Strategy<Value = Act> {
    prop_oneof![
        1 => Just(Act::Join),
        1 => any::<usize>().prop_map(Act::Leave),
        1 => any::<usize>().prop_map(Act::Disconnect),
        6 => (any::<usize>(), any::<[u32; 3]>()).prop_map(|(p, raw)| Act::Input(p, raw)),
    ]
}

fn script(ticks: std::ops::RangeInclusive<usize>) -> impl Strategy<Value = Vec<Vec<Act>>> {
    prop::collection::vec(prop::collection::vec(act(), 0..3), ticks)
}

/// Raw random numbers mapped into the schema's input ranges.
fn input_values(schema: &Schema, raw: &[u32; 3]) -> Vec<i32> {
    schema.input.iter().zip(raw).map(|(f, r)| f.min + (*r % (f.max - f.min + 1) as u32) as i32).collect()
}

/// The players present and the next fresh id, as the room keeps them.
#[derive(Debug, Clone)]
struct Roster {
    present: Vec<PlayerId>,
    next_id: PlayerId,
}

impl Roster {
    /// Turns one tick's acts into calls on every game in `games` (all get the same calls)
    /// and returns the inputs for the tick.
    fn apply(&mut self, acts: &[Act], schema: &Schema, games: &mut [&mut dyn Game]) -> Vec<(PlayerId, Vec<i32>)> {
        let mut inputs = Vec::new();
        for act in acts {
            let pick = |i: &usize| self.present.get(i % self.present.len().max(1)).copied();
            match act {
                Act::Join => {
                    let id = self.next_id;
                    self.next_id += 1;
                    self.present.push(id);
                    games.iter_mut().for_each(|g| g.join(id, "p"));
                }
                Act::Leave(i) => {
                    // Player 1 stays: in the arena it chases orbs so the RNG is used.
                    if let Some(id) = pick(i).filter(|id| *id != 1) {
                        self.present.retain(|p| *p != id);
                        games.iter_mut().for_each(|g| g.leave(id));
                    }
                }
                Act::Disconnect(i) => {
                    if let Some(id) = pick(i) {
                        games.iter_mut().for_each(|g| g.disconnected(id));
                    }
                }
                Act::Input(i, raw) => {
                    if let Some(id) = pick(i) {
                        inputs.push((id, input_values(schema, raw)));
                    }
                }
            }
        }
        inputs
    }
}

/// Steers player 1 of an arena straight at the first orb, so orbs get eaten and respawn
/// at random places (the restored RNG must then agree with the original's).
fn chase_first_orb(state: &EntityState) -> Vec<(PlayerId, Vec<i32>)> {
    match (state.get(1), state.get(ORB_ID_BASE)) {
        (Some(p), Some(orb)) => {
            vec![(1, vec![(orb.fields[0] - p.fields[0]).signum(), (orb.fields[1] - p.fields[1]).signum(), 0])]
        }
        _ => Vec::new(),
    }
}

/// Runs `before`, saves, restores the save into a fresh game made with a different seed,
/// with `disconnect_all` tells both games every player disconnected (as after a failover;
/// without, the inputs still acting must carry over too), then drives the
/// original and the restored game with the same calls through `after` and asserts their
/// states and events agree every tick. Returns the events seen after the restore.
fn replay_after_restore(
    make: impl Fn(u64) -> Box<dyn Game>,
    before: &[Vec<Act>],
    after: &[Vec<Act>],
    steer: impl Fn(&EntityState) -> Vec<(PlayerId, Vec<i32>)>,
    disconnect_all: bool,
) -> Vec<Event> {
    let mut original = make(7);
    let schema = original.schema();
    let mut roster = Roster { present: vec![1], next_id: 2 };
    original.join(1, "chaser");
    let mut state = EntityState::new();
    let mut t = 0;
    for acts in before {
        t += 1;
        let mut inputs = steer(&state);
        inputs.extend(roster.apply(acts, &schema, &mut [original.as_mut()]));
        state = tick(original.as_mut(), t, &inputs).0;
    }

    let saved = original.save().expect("the game saves");
    let mut restored = make(8);
    restored.restore(&saved).expect("a fresh save restores");
    assert_eq!(restored.save().as_deref(), Some(&saved[..]), "save, restore, save gives the same bytes");
    if disconnect_all {
        for id in &roster.present {
            original.disconnected(*id);
            restored.disconnected(*id);
        }
    }

    let mut seen = Vec::new();
    for (i, acts) in after.iter().enumerate() {
        t += 1;
        let mut games: [&mut dyn Game; 2] = [original.as_mut(), restored.as_mut()];
        let mut inputs = steer(&state);
        if i == 0 {
            // A newcomer right after the failover: its spawn point comes from the RNG.
            inputs.extend(roster.apply(&[Act::Join], &schema, &mut games));
        }
        inputs.extend(roster.apply(acts, &schema, &mut games));
        let (expected, events) = tick(original.as_mut(), t, &inputs);
        let got = tick(restored.as_mut(), t, &inputs);
        assert_eq!(got, (expected.clone(), events.clone()), "tick {t}: restored game diverged");
        state = expected;
        seen.extend(events);
    }
    assert_eq!(original.save(), restored.save(), "same state at the end");
    seen
}

fn arena(seed: u64) -> Box<dyn Game> {
    Box::new(Arena::new(ArenaConfig::default(), seed))
}

fn tag_game(seed: u64) -> Box<dyn Game> {
    Box::new(tag::Tag::new(seed))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// An arena restored from a save, into an arena seeded differently, behaves exactly
    /// like the original: same states and events every tick, orbs respawning included.
    #[test]
    fn restored_arena_continues_exactly_like_the_original(
        before in script(1..=60),
        after in script(200..=260),
        disconnect_all in any::<bool>(),
    ) {
        let events = replay_after_restore(arena, &before, &after, chase_first_orb, disconnect_all);
        prop_assert!(
            events.iter().any(|e| matches!(e, Event::Game { kind: EVENT_SCORED, player: 1, .. })),
            "the chaser ate an orb after the restore, so a respawn used the restored RNG"
        );
    }

    /// The same for the tag example: runners, "it", tags, cooldowns, freezes and the RNG.
    #[test]
    fn restored_tag_continues_exactly_like_the_original(
        before in script(1..=60),
        after in script(100..=160),
        disconnect_all in any::<bool>(),
    ) {
        replay_after_restore(tag_game, &before, &after, |_| Vec::new(), disconnect_all);
    }
}

/// A saved arena with players, for the corruption tests.
fn busy_arena_save() -> Vec<u8> {
    let mut game = arena(3);
    for id in 1..=5 {
        game.join(id, "p");
    }
    for t in 1..=40 {
        let inputs: Vec<_> = (1..=5).map(|id| (id, vec![1 - (id as i32 % 3), (id as i32 % 3) - 1, 1])).collect();
        tick(game.as_mut(), t, &inputs);
    }
    game.save().unwrap()
}

fn busy_tag_save() -> Vec<u8> {
    let mut game = tag_game(3);
    for id in 1..=5 {
        game.join(id, "p");
    }
    for t in 1..=40 {
        let inputs: Vec<_> = (1..=5).map(|id| (id, vec![id as i32 % 5])).collect();
        tick(game.as_mut(), t, &inputs);
    }
    game.save().unwrap()
}

/// Restores `bytes` into a fresh game. On `Err` the game must be unchanged; on `Ok` (a
/// mutation that still makes sense) it must keep running without panicking.
fn restore_untrusted(make: fn(u64) -> Box<dyn Game>, bytes: &[u8]) -> Result<(), String> {
    let mut game = make(5);
    game.join(1, "bystander");
    let before = game.save();
    let result = game.restore(bytes);
    match &result {
        Err(why) => {
            assert!(!why.is_empty(), "a reason is given");
            assert_eq!(game.save(), before, "a refused restore changes nothing ({why})");
        }
        Ok(()) => {
            let max: Vec<i32> = game.schema().input.iter().map(|f| f.max).collect();
            let inputs: Vec<_> = (0..4).map(|id| (id, max.clone())).collect();
            for t in 1..=60 {
                tick(game.as_mut(), t, &inputs);
            }
            let again = game.save().unwrap();
            let mut copy = make(6);
            copy.restore(&again).expect("what restored saves into something that restores");
        }
    }
    result
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Random bytes never panic a restore, and a refused restore changes nothing.
    #[test]
    fn restore_of_random_bytes_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        let _ = restore_untrusted(arena, &bytes);
        let _ = restore_untrusted(tag_game, &bytes);
    }

    /// A real save with a few bytes overwritten and maybe cut short: never a panic, and if
    /// it is still accepted, the game keeps running and saves again.
    #[test]
    fn restore_of_a_corrupted_save_never_panics(
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
        cut in any::<prop::sample::Index>(),
        truncate in any::<bool>(),
    ) {
        for (make, mut bytes) in [(arena as fn(u64) -> Box<dyn Game>, busy_arena_save()), (tag_game, busy_tag_save())] {
            for (at, byte) in &edits {
                let i = at.index(bytes.len());
                bytes[i] = *byte;
            }
            if truncate {
                bytes.truncate(cut.index(bytes.len()));
            }
            let _ = restore_untrusted(make, &bytes);
        }
    }
}

#[test]
fn restore_refuses_every_truncation_and_trailing_bytes() {
    for (make, saved) in [(arena as fn(u64) -> Box<dyn Game>, busy_arena_save()), (tag_game, busy_tag_save())] {
        assert!(restore_untrusted(make, &saved).is_ok());
        for len in 0..saved.len() {
            assert!(restore_untrusted(make, &saved[..len]).is_err(), "a save cut to {len} bytes is refused");
        }
        let mut longer = saved.clone();
        longer.push(0);
        let why = restore_untrusted(make, &longer).unwrap_err();
        assert!(why.contains("after the end"), "{why}");
    }
}

#[test]
fn restore_refuses_an_unknown_version() {
    for (make, saved, current) in
        [(arena as fn(u64) -> Box<dyn Game>, busy_arena_save(), 3), (tag_game, busy_tag_save(), 2)]
    {
        assert_eq!(saved[0], current, "the format version comes first");
        for version in [0u8, 1, 2, 3, 4, 250].into_iter().filter(|v| *v != current) {
            let mut bytes = saved.clone();
            bytes[0] = version;
            let why = restore_untrusted(make, &bytes).unwrap_err();
            assert!(why.contains(&format!("unknown format version {version}")), "{why}");
        }
    }
}

/// The start of an arena save in format 3 (the fields of `Arena` in order, as
/// `game::SaveFormat` writes them) for the default configuration, up to and including the
/// random generator's state.
fn arena_header() -> Vec<u8> {
    let mut out = Vec::new();
    let mut w = Writer::new(&mut out);
    let cfg = ArenaConfig::default();
    w.u64(3);
    for v in [cfg.size, cfg.speed, cfg.player_radius, cfg.orb_radius] {
        w.i64(v as i64);
    }
    w.u64(cfg.orbs as u64);
    w.i64(cfg.view_radius as i64);
    w.u64(cfg.bots as u64);
    w.u64(0xDEAD_BEEF_u64);
    out
}

fn with(mut bytes: Vec<u8>, write: impl FnOnce(&mut Writer<'_>)) -> Vec<u8> {
    write(&mut Writer::new(&mut bytes));
    bytes
}

#[test]
fn restore_refuses_huge_declared_lengths_before_allocating() {
    let orbs = |w: &mut Writer<'_>| {
        w.u64(ArenaConfig::default().orbs as u64);
        (0..2 * ArenaConfig::default().orbs).for_each(|_| w.i64(5000))
    };
    // The hand-made header is right: no players and 20 orbs restore.
    restore_untrusted(arena, &with(arena_header(), |w| (w.u64(0), orbs(w)).1)).expect("a hand-made save restores");
    for count in [u64::MAX, u32::MAX as u64, 1 << 24, 1000] {
        let bytes = with(arena_header(), |w| (w.u64(count), orbs(w)).1);
        let why = restore_untrusted(arena, &bytes).unwrap_err();
        assert!(why.contains("players: a count above"), "{count}: {why}");
    }
    let tag_header = with(Vec::new(), |w| (w.u64(2), w.u64(42)).1);
    for count in [u64::MAX, 1 << 30, 100] {
        let why = restore_untrusted(tag_game, &with(tag_header.clone(), |w| w.u64(count))).unwrap_err();
        assert!(why.contains("runners: a count above"), "{count}: {why}");
    }
}

#[test]
fn restore_refuses_values_the_game_cannot_reach() {
    let orbs = |w: &mut Writer<'_>| {
        w.u64(ArenaConfig::default().orbs as u64);
        (0..2 * ArenaConfig::default().orbs).for_each(|_| w.i64(5000))
    };
    // x, y, score, input (dx, dy, buttons), then the ticks left on a bot's heading.
    let player_wandering = |id: u64, v: [i64; 6], wander: u64| {
        with(arena_header(), move |w| {
            w.u64(1);
            w.u64(id);
            v.iter().for_each(|x| w.i64(*x));
            w.u64(wander);
            orbs(w);
        })
    };
    let player = |id: u64, v: [i64; 6]| player_wandering(id, v, 0);
    restore_untrusted(arena, &player(3, [5000, 5000, 2, -1, 1, 255])).expect("an honest player restores");
    for (what, bytes) in [
        ("outside", player(3, [i32::MAX as i64, 5000, 0, 0, 0, 0])),
        ("outside", player(3, [5000, 0, 0, 0, 0, 0])),
        ("score: -1 is outside 0..", player(3, [5000, 5000, -1, 0, 0, 0])),
        ("input.dx: 2 is outside -1..=1", player(3, [5000, 5000, 0, 2, 0, 0])),
        ("input.buttons: 256 is outside 0..=255", player(3, [5000, 5000, 0, 0, 0, 256])),
        ("does not fit in i32", player(3, [1 << 40, 5000, 0, 0, 0, 0])),
        ("player id", player(ORB_ID_BASE as u64, [5000, 5000, 0, 0, 0, 0])),
        ("1 bots, this room runs 0", player(BOT_ID_BASE as u64, [5000, 5000, 0, 0, 0, 0])),
        ("ticks of wander", player_wandering(3, [5000, 5000, 0, 0, 0, 0], 1)),
    ] {
        let why = restore_untrusted(arena, &bytes).unwrap_err();
        assert!(why.contains(what), "expected {what:?} in {why:?}");
    }
    let other = Arena::new(ArenaConfig { orbs: 3, ..ArenaConfig::default() }, 1).save().unwrap();
    let why = restore_untrusted(arena, &other).unwrap_err();
    assert!(why.contains("this room runs"), "a save of another configuration is refused: {why}");

    // Version, random state, one runner (id 9): col, row, it, tags, its input's dir,
    // cooldown, frozen.
    let runner = |col: i64, row: i64, it: u64, tags: i64, dir: u64| {
        with(vec![], |w| {
            [2, 42, 1, 9].into_iter().for_each(|x| w.u64(x));
            w.i64(col);
            w.i64(row);
            w.u64(it);
            w.i64(tags);
            [dir, 0, 0].into_iter().for_each(|x| w.u64(x));
        })
    };
    restore_untrusted(tag_game, &runner(3, 4, 1, 7, 2)).expect("an honest runner restores");
    for (what, bytes) in [
        ("runners[9].col: 16 is outside 0..GRID", runner(16, 0, 1, 0, 0)),
        ("row: -1 is outside 0..GRID", runner(0, -1, 1, 0, 0)),
        ("input.dir: 5 is outside 0..=4", runner(0, 0, 1, 0, 5)),
        ("it: 2 is not a bool", runner(0, 0, 2, 0, 0)),
        ("tags: -1 is outside 0..", runner(0, 0, 1, -1, 0)),
        ("0 of 1 runners are it", runner(0, 0, 0, 0, 0)),
    ] {
        let why = restore_untrusted(tag_game, &bytes).unwrap_err();
        assert!(why.contains(what), "expected {what:?} in {why:?}");
    }
}

#[test]
fn arena_save_is_compact_and_round_trips_with_twenty_players() {
    let mut game = arena(11);
    for id in 1..=20 {
        game.join(id, "p");
    }
    for t in 1..=100 {
        let inputs: Vec<_> = (1..=20).map(|id| (id, vec![(id as i32 % 3) - 1, 1 - (id as i32 % 3), 0])).collect();
        tick(game.as_mut(), t, &inputs);
    }
    let saved = game.save().unwrap();
    // About 11 bytes a player and 6 an orb, against ~15 (positions and score) in a keyframe.
    assert!(saved.len() <= 20 * 12 + 20 * 6 + 32, "{} bytes", saved.len());
    let mut copy = arena(12);
    copy.restore(&saved).unwrap();
    assert_eq!(copy.save().unwrap(), saved);
    let (mut a, mut b) = (EntityState::new(), EntityState::new());
    game.write_state(&mut a);
    copy.write_state(&mut b);
    assert_eq!(a, b);
    assert_eq!(a.len(), 40, "20 players and 20 orbs");
    eprintln!("arena save of 20 players and 20 orbs: {} bytes", saved.len());
}

/// A game that implements only the required methods: no save, and restore refuses.
#[test]
fn games_without_save_refuse_restore() {
    struct Bare;
    impl Game for Bare {
        fn schema(&self) -> Schema {
            Arena::new(ArenaConfig::default(), 1).schema()
        }
        fn join(&mut self, _: PlayerId, _: &str) {}
        fn leave(&mut self, _: PlayerId) {}
        fn apply_input(&mut self, _: PlayerId, _: &[i32]) {}
        fn step(&mut self, _: &mut StepContext<'_>) {}
        fn write_state(&self, _: &mut EntityState) {}
    }
    let mut bare = Bare;
    assert_eq!(bare.save(), None);
    assert_eq!(bare.restore(&busy_arena_save()), Err("this game does not support restore".to_string()));
}
