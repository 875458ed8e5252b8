// Two entity collections keyed from 0 would give two entities the same id.
use std::collections::BTreeMap;
use tickcast::game::{Entity, GameState};

#[derive(Entity)]
struct Ship {
    #[tickcast(replicate)]
    x: i32,
}

#[derive(GameState)]
struct Fleet {
    #[tickcast(entities)]
    ships: BTreeMap<u32, Ship>,
    #[tickcast(entities)]
    escorts: BTreeMap<u32, Ship>,
}

fn main() {}
