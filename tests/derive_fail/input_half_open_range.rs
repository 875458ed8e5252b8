// Input ranges are inclusive, with both ends.
use tickcast::game::PlayerInput;

#[derive(PlayerInput)]
struct Move {
    #[tickcast(range = 0..4)]
    dir: i32,
}

fn main() {}
