// Every input field declares the inclusive range the server enforces.
use tickcast::game::PlayerInput;

#[derive(PlayerInput)]
struct Move {
    #[tickcast(range = -1..=1)]
    dx: i32,
    dy: i32,
}

fn main() {}
