// A scale is a u32: a negative constant must not compile into a huge scale.
use tickcast::game::Entity;

const NEG: i32 = -1;

#[derive(Entity)]
struct Ball {
    #[tickcast(replicate, scale = NEG)]
    x: f32,
}

fn main() {}
