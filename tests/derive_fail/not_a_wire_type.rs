// Only integers, bools and (scaled) floats go on the wire.
use tickcast::game::Entity;

#[derive(Entity)]
struct Named {
    #[tickcast(replicate)]
    name: String,
}

fn main() {}
