// An input range must fit the field's type: a u8 cannot hold 300, so the server would
// accept inputs the game cannot read.
use tickcast::game::PlayerInput;

#[derive(PlayerInput)]
struct Buttons {
    #[tickcast(range = 0..=300)]
    mask: u8,
}

fn main() {}
