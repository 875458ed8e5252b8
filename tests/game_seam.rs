//! The `Game` seam driven directly, without actors or sockets: the arena and the `tag`
//! example (examples/tag.rs) are called in the world actor's order — inputs, step, write
//! state — and must be deterministic, move players by their input, stay in bounds, score
//! with events, and forget a player that leaves.

// The example's `main` and factory are not used here.
#[allow(dead_code)]
#[path = "../examples/tag.rs"]
mod tag;

use tickcast::game::arena::{Arena, ArenaConfig, EVENT_SCORED, KIND_ORB, ORB_ID_BASE};
use tickcast::game::{Game, SplitMix64, StepContext};
use tickcast::protocol::{Event, PlayerId};
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
    assert_ne!(tag.entity_kinds, arena.entity_kinds);
    assert_ne!(tag.input, arena.input);
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
