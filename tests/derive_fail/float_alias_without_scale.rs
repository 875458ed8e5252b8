// A float hidden behind a type alias is still refused, when the constant is evaluated.
use tickcast::game::Entity;

type Meters = f64;

#[derive(Entity)]
struct Ball {
    #[tickcast(replicate)]
    x: Meters,
}

fn main() {}
