// A scale is quanta per unit: zero is refused.
use tickcast::game::Entity;

#[derive(Entity)]
struct Ball {
    #[tickcast(replicate, scale = 0)]
    x: i32,
}

fn main() {}
