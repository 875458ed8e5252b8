// A float on the wire needs a quantization scale.
use tickcast::game::Entity;

#[derive(Entity)]
struct Ball {
    #[tickcast(replicate)]
    x: f32,
}

fn main() {}
