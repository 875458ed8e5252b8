// A misspelt attribute is an error, not silently ignored.
use tickcast::game::Entity;

#[derive(Entity)]
struct Ball {
    #[tickcast(replicated)]
    x: i32,
}

fn main() {}
