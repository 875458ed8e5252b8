// The derives take plain structs.
use tickcast::game::Entity;

#[derive(Entity)]
struct Boxed<T> {
    #[tickcast(replicate)]
    x: i32,
    extra: T,
}

fn main() {}
