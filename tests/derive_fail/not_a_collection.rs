// An `entities` field holds one kind of entity, keyed by id or in a list.
use tickcast::game::{Entity, GameState};

#[derive(Entity)]
struct Rock {
    #[tickcast(replicate)]
    size: i32,
}

#[derive(GameState)]
struct Rocks {
    #[tickcast(entities)]
    rock: Rock,
}

fn main() {}
