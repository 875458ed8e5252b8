//! The arena as a big world, driven directly (no actors, no sockets): room kinds resolve
//! from the room's name and are validated naming the key, a big arena declares its
//! interest and each player's view while a small one does not, bots wander
//! deterministically and ignore inputs, the bucketed orb pickup scores exactly as a
//! check of every orb would, and a save with bots restores and continues identically.

use std::collections::BTreeMap;
use tickcast::config::Settings;
use tickcast::game::arena::{Arena, ArenaConfig, BOT_ID_BASE, EVENT_SCORED, KIND_PLAYER, ORB_ID_BASE};
use tickcast::game::{Game, SplitMix64, StepContext};
use tickcast::protocol::{Event, PlayerId};
use tickcast::sync::EntityState;

const RATE_HZ: u32 = 20;

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

/// One tick as the world runs it, with places recorded as in a room with interest.
fn tick(game: &mut dyn Game, t: u64, inputs: &[(PlayerId, Vec<i32>)]) -> (EntityState, Vec<Event>, usize) {
    for (player, values) in inputs {
        game.apply_input(*player, values);
    }
    let (mut events, mut placed) = (Vec::new(), Vec::new());
    game.step(&mut StepContext::with_places(t, RATE_HZ, &mut events, &mut placed));
    let mut state = EntityState::new();
    game.write_state(&mut state);
    state.finish();
    (state, events, placed.len())
}

fn field() -> ArenaConfig {
    ArenaConfig { size: 3600, orbs: 600, view_radius: 400, bots: 40, ..ArenaConfig::default() }
}

#[test]
fn a_rooms_kind_is_the_preset_its_name_starts_with() {
    let s = Settings::defaults();
    for room in ["field", "field-eu", "field-2"] {
        let kind = s.arena_kind(room);
        assert_eq!((kind.name.as_str(), kind.size, kind.orbs), ("field", 3600, 600), "{room}");
        assert_eq!((kind.view_radius, kind.bots, kind.max_players), (400, 40, 1000), "{room}");
        assert_eq!(s.room_capacity(room), 1000);
    }
    for room in ["lobby", "fields", "fieldx-1", "my-field"] {
        let kind = s.arena_kind(room);
        assert_eq!(kind.name, "", "{room} is an ordinary room");
        assert_eq!((kind.size, kind.orbs, kind.bots), (1000, 20, 0));
        assert_eq!(kind.max_players, s.room.max_players);
    }
    // A kind from the environment: values it leaves out are the ordinary ones.
    let (s, _) = Settings::load(
        None,
        env(&[("TICKCAST__GAME__ARENA__PRESETS__DUEL__SIZE", "400"), ("TICKCAST__GAME__ARENA__ORBS", "7")]),
    )
    .expect("a kind from the environment loads");
    let duel = s.arena_kind("duel-1");
    assert_eq!((duel.name.as_str(), duel.size, duel.orbs, duel.view_radius), ("duel", 400, 7, 500));
    assert_eq!(duel.max_players, s.room.max_players);
}

#[test]
fn bad_arena_settings_fail_at_start_naming_the_key() {
    for (var, value, key) in [
        ("TICKCAST__GAME__ARENA__SIZE", "10", "game.arena.size"),
        ("TICKCAST__GAME__ARENA__VIEW_RADIUS", "0", "game.arena.view_radius"),
        ("TICKCAST__GAME__ARENA__BOTS", "20000", "game.arena.bots"),
        ("TICKCAST__GAME__ARENA__PRESETS__FIELD__ORBS", "1000000", "game.arena.presets.field.orbs"),
        ("TICKCAST__GAME__ARENA__PRESETS__FIELD__MAX_PLAYERS", "0", "game.arena.presets.field.max_players"),
        ("TICKCAST__GAME__ARENA__PRESETS__BIG_ONE__SIZE", "1", "game.arena.presets.big_one.size"),
    ] {
        let err = Settings::load(None, env(&[(var, value)])).expect_err(var);
        assert!(err.0.contains(key), "{var}={value}: {err}");
    }
    let err = Settings::load(None, env(&[("TICKCAST__GAME__ARENA__PRESETS__FIELD__SPEED", "3")])).unwrap_err();
    assert!(err.0.contains("speed"), "an unknown key is named: {err}");
}

#[test]
fn only_a_big_arena_declares_interest_and_views() {
    let small = Arena::new(ArenaConfig::default(), 1);
    assert!(small.interest().is_none());
    assert!(small.constants().iter().all(|c| c.name != "view_radius"), "the v2 Welcome stays as it was");

    let mut big = Arena::new(field(), 1);
    let interest = big.interest().expect("a big arena places its entities");
    assert_eq!(interest.positions, vec![Some([0, 1]), Some([0, 1])], "players and orbs by x, y");
    let radius = big.constants().iter().find(|c| c.name == "view_radius").map(|c| c.value);
    assert_eq!(radius, Some(400));
    assert!(big.view(5).is_none(), "no body, no view");
    big.join(5, "p");
    let (state, _, _) = tick(&mut big, 1, &[]);
    let me = state.get(5).expect("the player's entity");
    let view = big.view(5).expect("a player sees around itself");
    assert_eq!((view.x, view.y, view.radius), (me.fields[0], me.fields[1], 4000), "in wire quanta");
}

#[test]
fn bots_wander_deterministically_and_ignore_inputs() {
    let run = || {
        let mut game = Arena::new(field(), 9);
        (1..=120).map(|t| tick(&mut game, t, &[(BOT_ID_BASE, vec![1, 1, 1])]).0).collect::<Vec<_>>()
    };
    let (a, b) = (run(), run());
    assert_eq!(a, b, "same seed, same bots");
    let first = &a[0];
    let bots: Vec<u32> = first.iter().filter(|e| (BOT_ID_BASE..ORB_ID_BASE).contains(&e.id)).map(|e| e.id).collect();
    assert_eq!(bots, (BOT_ID_BASE..BOT_ID_BASE + 40).collect::<Vec<_>>());
    assert!(first.iter().filter(|e| e.id >= BOT_ID_BASE && e.id < ORB_ID_BASE).all(|e| e.kind == KIND_PLAYER));
    let last = &a[119];
    let moved = bots.iter().filter(|id| first.get(**id).unwrap().fields != last.get(**id).unwrap().fields).count();
    assert!(moved >= 30, "bots walk about: {moved} of 40 moved in 6 s");
    // The input sent to bot 0 every tick (right, down, boost) did not steer it: its
    // heading changes on its own.
    let xs: Vec<i32> = a.iter().map(|s| s.get(BOT_ID_BASE).unwrap().fields[0]).collect();
    let steps: Vec<i32> = xs.windows(2).map(|w| (w[1] - w[0]).signum()).collect();
    assert!(steps.iter().any(|d| *d != 1), "bot 0 is not pushed right for 120 ticks: {steps:?}");
}

/// The pickup rule written out over every orb: what the bucketed pickup must match.
#[test]
fn bucketed_pickup_scores_exactly_like_checking_every_orb() {
    // The same big map twice: 600 orbs (bucketed) and, for reference, a copy driven with
    // the same inputs whose scores are recomputed from the states by brute force.
    let cfg = ArenaConfig { bots: 0, ..field() };
    let mut game = Arena::new(cfg.clone(), 4);
    let mut script = SplitMix64::new(17);
    for p in 1..=60 {
        game.join(p, "p");
    }
    let reach = i64::from((cfg.player_radius + cfg.orb_radius) * 10);
    let mut before = tick(&mut game, 1, &[]).0;
    let mut scored = 0;
    for t in 2..=400 {
        let inputs: Vec<(PlayerId, Vec<i32>)> =
            (1..=60).map(|p| (p, vec![script.range(-1, 2), script.range(-1, 2), script.range(0, 2)])).collect();
        let (after, events, placed) = tick(&mut game, t, &inputs);
        assert_eq!(placed, events.len(), "every score is placed");
        // Brute force: each player (in id order) at its new place, against every orb
        // of the previous state; an orb goes to the first player within reach.
        let orbs: Vec<(u32, [i32; 2])> =
            before.iter().filter(|e| e.id >= ORB_ID_BASE).map(|e| (e.id, [e.fields[0], e.fields[1]])).collect();
        let mut taken = BTreeMap::new();
        let mut expected = Vec::new();
        for p in after.iter().filter(|e| e.id < ORB_ID_BASE) {
            let (x, y) = (i64::from(p.fields[0]), i64::from(p.fields[1]));
            for (id, [ox, oy]) in &orbs {
                let (dx, dy) = (x - i64::from(*ox), y - i64::from(*oy));
                if dx * dx + dy * dy <= reach * reach && taken.insert(*id, p.id).is_none() {
                    let score_before = before.get(p.id).map_or(0, |e| e.fields[2]);
                    let n = taken.values().filter(|who| **who == p.id).count() as i32;
                    expected.push(Event::Game { kind: EVENT_SCORED, player: p.id, value: score_before + n });
                }
            }
        }
        assert_eq!(events, expected, "tick {t}");
        scored += events.len();
        before = after;
    }
    assert!(scored > 20, "the walk picked up orbs ({scored})");
}

#[test]
fn a_big_arena_with_bots_restores_and_continues_identically() {
    let mut original = Arena::new(field(), 3);
    original.join(1, "p");
    for t in 1..=50 {
        tick(&mut original, t, &[(1, vec![1, 0, 0])]);
    }
    let saved = original.save().expect("saves");
    let mut restored = Arena::new(field(), 99);
    restored.restore(&saved).expect("restores");
    for t in 51..=150 {
        let a = tick(&mut original, t, &[(1, vec![0, 1, 0])]);
        let b = tick(&mut restored, t, &[(1, vec![0, 1, 0])]);
        assert_eq!(a, b, "tick {t}");
    }
    // A save of an arena with another number of bots is refused.
    let mut other = Arena::new(ArenaConfig { bots: 3, ..field() }, 3);
    let why = other.restore(&saved).expect_err("another configuration");
    assert!(why.contains("bots"), "{why}");
}
