// `entities` belongs on a GameState's fields, not an entity's.
use tickcast::game::Entity;

#[derive(Entity)]
struct Ball {
    #[tickcast(replicate, entities)]
    x: i32,
}

fn main() {}
