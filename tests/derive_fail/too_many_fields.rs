// An entity kind replicates at most 32 fields: a delta's change mask is a u32.
use tickcast::game::Entity;

#[derive(Entity)]
struct Wide {
    #[tickcast(replicate)] f0: i32, #[tickcast(replicate)] f1: i32, #[tickcast(replicate)] f2: i32,
    #[tickcast(replicate)] f3: i32, #[tickcast(replicate)] f4: i32, #[tickcast(replicate)] f5: i32,
    #[tickcast(replicate)] f6: i32, #[tickcast(replicate)] f7: i32, #[tickcast(replicate)] f8: i32,
    #[tickcast(replicate)] f9: i32, #[tickcast(replicate)] f10: i32, #[tickcast(replicate)] f11: i32,
    #[tickcast(replicate)] f12: i32, #[tickcast(replicate)] f13: i32, #[tickcast(replicate)] f14: i32,
    #[tickcast(replicate)] f15: i32, #[tickcast(replicate)] f16: i32, #[tickcast(replicate)] f17: i32,
    #[tickcast(replicate)] f18: i32, #[tickcast(replicate)] f19: i32, #[tickcast(replicate)] f20: i32,
    #[tickcast(replicate)] f21: i32, #[tickcast(replicate)] f22: i32, #[tickcast(replicate)] f23: i32,
    #[tickcast(replicate)] f24: i32, #[tickcast(replicate)] f25: i32, #[tickcast(replicate)] f26: i32,
    #[tickcast(replicate)] f27: i32, #[tickcast(replicate)] f28: i32, #[tickcast(replicate)] f29: i32,
    #[tickcast(replicate)] f30: i32, #[tickcast(replicate)] f31: i32, #[tickcast(replicate)] f32: i32,
}

fn main() {}
