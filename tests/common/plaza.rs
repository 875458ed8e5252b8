//! A test game for big rooms: a plaza of fixed posts on a grid, players who walk where
//! their input says, and a room-wide clock. Every position is known to the test, so it
//! can say exactly which entities a member should hold.

use std::collections::BTreeMap;
use tickcast::game::{Game, Interest, StepContext, View};
use tickcast::protocol::{EntityKind, FieldDef, InputField, Schema};
use tickcast::sync::EntityState;

/// Side of the plaza, game units (scale 1).
pub const SIZE: i32 = 4000;
/// Posts stand every `POST_EVERY` units on both axes, from `POST_EVERY / 2`.
pub const POST_EVERY: i32 = 250;
/// A player sees the square of this half-side around itself.
pub const VIEW_RADIUS: i32 = 300;
/// Units a player walks per tick on each axis its input names.
pub const STEP: i32 = 50;
/// Entity kinds.
pub const KIND_WALKER: u16 = 0;
pub const KIND_POST: u16 = 1;
pub const KIND_CLOCK: u16 = 2;
/// Post ids start here; walkers' ids are their player ids; the clock's is above both.
pub const POST_ID_BASE: u32 = 1 << 20;
/// The clock's entity id.
pub const CLOCK_ID: u32 = 1 << 21;
/// Event kind "stepped on a post".
pub const EVENT_POST: u16 = 0;

/// Where player `p` starts: players spread along the diagonal, far apart.
pub fn start_of(p: u32) -> (i32, i32) {
    let d = (p as i32 * 1500) % (SIZE - 200) + 100;
    (d, d)
}

/// Every post, as (id, x, y).
pub fn posts() -> Vec<(u32, i32, i32)> {
    let per_side = SIZE / POST_EVERY;
    (0..per_side * per_side)
        .map(|i| {
            let (cx, cy) = (i % per_side, i / per_side);
            (POST_ID_BASE + i as u32, POST_EVERY / 2 + cx * POST_EVERY, POST_EVERY / 2 + cy * POST_EVERY)
        })
        .collect()
}

/// The plaza.
#[derive(Default)]
pub struct Plaza {
    tick: i32,
    walkers: BTreeMap<u32, (i32, i32, i32, i32)>,
}

impl Game for Plaza {
    fn schema(&self) -> Schema {
        let xy = || vec![FieldDef::new("x", 1), FieldDef::new("y", 1)];
        Schema {
            game: "plaza".into(),
            entity_kinds: vec![
                EntityKind { name: "walker".into(), fields: xy() },
                EntityKind { name: "post".into(), fields: xy() },
                EntityKind { name: "clock".into(), fields: vec![FieldDef::new("tick", 1)] },
            ],
            input: vec![InputField::new("dx", -1, 1), InputField::new("dy", -1, 1)],
            event_kinds: vec!["post".into()],
        }
    }

    fn interest(&self) -> Option<Interest> {
        Some(Interest { positions: vec![Some([0, 1]), Some([0, 1]), None] })
    }

    fn view(&self, player: u32) -> Option<View> {
        self.walkers.get(&player).map(|w| View { x: w.0, y: w.1, radius: VIEW_RADIUS })
    }

    fn join(&mut self, player: u32, _: &str) {
        let (x, y) = start_of(player);
        self.walkers.insert(player, (x, y, 0, 0));
    }

    fn leave(&mut self, player: u32) {
        self.walkers.remove(&player);
    }

    fn apply_input(&mut self, player: u32, values: &[i32]) {
        if let (Some(w), [dx, dy]) = (self.walkers.get_mut(&player), values) {
            (w.2, w.3) = (*dx, *dy);
        }
    }

    fn step(&mut self, ctx: &mut StepContext<'_>) {
        self.tick += 1;
        for (id, w) in &mut self.walkers {
            w.0 = (w.0 + w.2 * STEP).clamp(0, SIZE - 1);
            w.1 = (w.1 + w.3 * STEP).clamp(0, SIZE - 1);
            // Standing on a post's spot: a placed event there.
            if w.0 % POST_EVERY == POST_EVERY / 2 && w.1 % POST_EVERY == POST_EVERY / 2 && (w.2, w.3) != (0, 0) {
                ctx.emit_at(EVENT_POST, *id, 1, w.0, w.1);
            }
        }
    }

    fn write_state(&self, out: &mut EntityState) {
        out.push(CLOCK_ID, KIND_CLOCK, &[self.tick]);
        for (id, w) in &self.walkers {
            out.push(*id, KIND_WALKER, &[w.0, w.1]);
        }
        for (id, x, y) in posts() {
            out.push(id, KIND_POST, &[x, y]);
        }
    }
}
