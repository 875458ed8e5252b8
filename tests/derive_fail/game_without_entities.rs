// A game replicates at least one kind of entity.
use tickcast::game::{GameState, SplitMix64};

#[derive(GameState)]
struct Empty {
    rng: SplitMix64,
}

fn main() {}
