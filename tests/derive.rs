//! The state derives (`#[derive(GameState, Entity, PlayerInput, SaveFormat)]`): what they
//! generate, on a small game that uses every attribute, and the mistakes a game developer
//! makes, which must not compile (`tests/derive_fail/*.rs`, each beside the compiler's
//! message it must produce).

use proptest::prelude::*;
use std::collections::BTreeMap;
use tickcast::game::{Entity, GameState, PlayerInput, SaveFormat, SplitMix64};
use tickcast::protocol::{EntityKind, FieldDef, InputField, Reader, Schema, Writer};
use tickcast::sync::EntityState;

#[derive(SaveFormat, Debug, Clone, PartialEq)]
struct Rules {
    width: u16,
    gravity: f32,
}

#[derive(Entity, Debug, Clone, Default, PartialEq)]
#[tickcast(kind = "ship")]
struct Craft {
    #[tickcast(replicate, scale = 100)]
    x: f32,
    #[tickcast(replicate, scale = 100)]
    y: f64,
    #[tickcast(replicate)]
    alive: bool,
    #[tickcast(replicate, range = 0..=100)]
    hp: u8,
    #[tickcast(replicate)]
    team: i16,
    fuel: u64,
    #[tickcast(skip)]
    cached: u32,
    name: String,
    trail: Vec<(i32, i32)>,
    target: Option<u32>,
    last: Controls,
}

#[derive(Entity, Debug, Clone, PartialEq)]
struct Rock {
    #[tickcast(replicate)]
    size: i32,
}

#[derive(PlayerInput, Debug, Clone, Copy, Default, PartialEq)]
struct Controls {
    #[tickcast(range = -100..=100)]
    thrust: i8,
    #[tickcast(range = 0..=1)]
    fire: bool,
    #[tickcast(range = 0..=1000)]
    aim: u16,
}

/// Ship ids stay below the rocks' (`id_base = 1000`).
const ROCKS: u32 = 1000;

#[derive(GameState, Debug, Clone)]
#[tickcast(game = "space", input = Controls, events = ["hit", "sunk"], version = 7, check = Space::check)]
struct Space {
    #[tickcast(check)]
    rules: Rules,
    rng: SplitMix64,
    tick: u64,
    #[tickcast(entities)]
    ships: BTreeMap<u32, Craft>,
    #[tickcast(entities, id_base = ROCKS)]
    rocks: Vec<Rock>,
    #[tickcast(skip)]
    scratch: Vec<u8>,
    #[tickcast(range = 0..10)]
    wave: u32,
}

impl Space {
    fn new(width: u16) -> Self {
        Space {
            rules: Rules { width, gravity: 9.81 },
            rng: SplitMix64::new(5),
            tick: 0,
            ships: BTreeMap::new(),
            rocks: Vec::new(),
            scratch: vec![1, 2, 3],
            wave: 0,
        }
    }

    fn check(&self) -> Result<(), String> {
        match self.ships.keys().find(|id| **id >= ROCKS) {
            Some(id) => Err(format!("ship id {id} is among the rocks'")),
            None => Ok(()),
        }
    }

    /// A game with every kind of value in it.
    fn busy() -> Self {
        let mut space = Space::new(640);
        space.rng.next_u64();
        space.tick = 123_456_789_000;
        space.wave = 9;
        let ship = |x: f32, name: &str| Craft {
            x,
            y: -2.5,
            alive: true,
            hp: 100,
            team: -3,
            fuel: u64::MAX,
            cached: 77,
            name: name.into(),
            trail: vec![(1, -1), (i32::MIN, i32::MAX)],
            target: Some(9),
            last: Controls { thrust: -100, fire: true, aim: 1000 },
        };
        space.ships.insert(1, ship(1.234, "Ada"));
        space.ships.insert(300, Craft { target: None, ..ship(-7.0, "Łukasz") });
        space.rocks = vec![Rock { size: 3 }, Rock { size: -40 }];
        space
    }
}

fn fields(state: &EntityState) -> Vec<(u32, u16, Vec<i32>)> {
    state.iter().map(|e| (e.id, e.kind, e.fields.to_vec())).collect()
}

#[test]
fn the_schema_comes_from_the_structs() {
    let field = FieldDef::new;
    assert_eq!(
        Space::schema(),
        Schema {
            game: "space".into(),
            entity_kinds: vec![
                EntityKind {
                    name: "ship".into(),
                    fields: vec![field("x", 100), field("y", 100), field("alive", 1), field("hp", 1), field("team", 1)],
                },
                EntityKind { name: "rock".into(), fields: vec![field("size", 1)] },
            ],
            input: vec![
                InputField::new("thrust", -100, 100),
                InputField::new("fire", 0, 1),
                InputField::new("aim", 0, 1000)
            ],
            event_kinds: vec!["hit".into(), "sunk".into()],
        }
    );
    Space::schema().validate().expect("a derived schema is valid");
}

#[test]
fn entities_are_written_by_kind_and_id_with_floats_quantized() {
    let mut space = Space::busy();
    space.ships.get_mut(&300).unwrap().x = f32::NAN;
    space.ships.get_mut(&300).unwrap().y = 1e300;
    let mut out = EntityState::new();
    space.write_state(&mut out);
    assert_eq!(
        fields(&out),
        vec![
            (1, 0, vec![123, -250, 1, 100, -3]),
            (300, 0, vec![0, i32::MAX, 1, 100, -3]),
            (ROCKS, 1, vec![3]),
            (ROCKS + 1, 1, vec![-40]),
        ],
        "x rounded at scale 100, NaN as 0, beyond i32 saturated; rocks from id_base"
    );
}

#[test]
fn input_values_map_to_the_struct_and_back() {
    let c = Controls::from_values(&[-7, 1, 999]).expect("values in range");
    assert_eq!(c, Controls { thrust: -7, fire: true, aim: 999 });
    assert_eq!(c.to_values(), vec![-7, 1, 999]);
    assert_eq!(Controls::from_values(&[0, 1]), None, "too few values");
    assert_eq!(Controls::from_values(&[300, 0, 0]), None, "beyond the field's type");
    assert_eq!(Controls::from_values(&[0, 2, 0]), None, "a bool is 0 or 1");
}

#[test]
fn save_and_restore_round_trip_into_a_fresh_game() {
    let space = Space::busy();
    let saved = space.save_state();
    assert_eq!(saved[0], 7, "the format version comes first");
    let mut copy = Space::new(640);
    copy.scratch = vec![9];
    copy.restore_state(&saved).expect("a fresh save restores");
    assert_eq!(copy.save_state(), saved);
    assert_eq!(copy.ships[&1].name, "Ada");
    assert_eq!(copy.ships[&300].target, None);
    assert_eq!(copy.ships[&1].cached, 0, "a skipped entity field comes back as its default");
    assert_eq!(copy.scratch, vec![9], "a skipped game field is kept from the fresh game");
    let (mut a, mut b) = (EntityState::new(), EntityState::new());
    space.write_state(&mut a);
    copy.write_state(&mut b);
    assert_eq!(fields(&a), fields(&b));
}

/// Restores `bytes` into a fresh game; on a refusal, checks the game is unchanged.
fn restore(bytes: &[u8]) -> Result<(), String> {
    let mut game = Space::new(640);
    let before = game.save_state();
    let result = game.restore_state(bytes);
    if result.is_err() {
        assert_eq!(game.save_state(), before, "a refused restore changes nothing");
        assert_eq!(game.scratch, vec![1, 2, 3]);
    }
    result
}

#[test]
fn restore_refuses_what_the_game_could_not_have_saved() {
    let saved = Space::busy().save_state();
    let mut version = saved.clone();
    version[0] = 6;
    assert_eq!(restore(&version), Err("space save: unknown format version 6 (this server reads 7)".into()));
    for cut in 1..saved.len() {
        assert!(restore(&saved[..cut]).is_err(), "cut at {cut}");
    }
    let mut longer = saved.clone();
    longer.push(0);
    assert_eq!(restore(&longer), Err("space save: 1 bytes after the end".into()));

    let other_rules = Space::new(320).save_state();
    let why = restore(&other_rules).unwrap_err();
    assert!(why.starts_with("space save: made with rules Rules { width: 320"), "{why}");

    type Corruption = Box<dyn Fn(&mut Space)>;
    let cases: Vec<(&str, Corruption)> = vec![
        ("space save: wave: 10 is outside 0..10", Box::new(|s| s.wave = 10)),
        ("space save: ships[1].hp: 101 is outside 0..=100", Box::new(|s| s.ships.get_mut(&1).unwrap().hp = 101)),
        (
            "space save: ships[300].last.thrust: 101 is outside -100..=100",
            Box::new(|s| s.ships.get_mut(&300).unwrap().last.thrust = 101),
        ),
        ("space save: ship id 1000 is among the rocks'", Box::new(|s| (s.ships.insert(ROCKS, Craft::default()), ()).1)),
    ];
    for (why, corrupt) in cases {
        let mut space = Space::busy();
        corrupt(&mut space);
        assert_eq!(restore(&space.save_state()), Err(why.to_string()));
    }
}

#[test]
fn a_huge_declared_count_is_refused_before_anything_is_allocated() {
    let mut bytes = Vec::new();
    let mut w = tickcast::protocol::Writer::new(&mut bytes);
    w.u64(7);
    Rules { width: 640, gravity: 9.81 }.save_to(&mut w);
    w.u64(1);
    w.u64(2);
    w.u64(u64::MAX);
    let why = restore(&bytes).unwrap_err();
    assert!(why.starts_with("space save: ships: a count above the 0 items"), "{why}");
}

proptest! {
    /// Random bytes, and a real save with bytes overwritten, never panic a restore.
    #[test]
    fn hostile_bytes_never_panic(
        random in prop::collection::vec(any::<u8>(), 0..200),
        hits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
    ) {
        let _ = restore(&random);
        let mut saved = Space::busy().save_state();
        for (at, byte) in hits {
            let i = at.index(saved.len());
            saved[i] = byte;
        }
        if restore(&saved).is_ok() {
            let mut game = Space::new(640);
            game.restore_state(&saved).unwrap();
            let mut out = EntityState::new();
            game.write_state(&mut out);
        }
    }
}

/// A recursive saved type: hostile bytes may describe any depth of nesting.
#[derive(SaveFormat, Debug)]
struct Tree {
    kids: Vec<Tree>,
}

#[test]
fn deep_nesting_and_memory_hungry_lists_are_refused_not_crashed_on() {
    // Each byte 1 opens one more level: without a depth limit this overflows the stack.
    let deep = vec![1u8; 100_000];
    let why = Tree::restore_from(&mut Reader::new(&deep)).unwrap_err().to_string();
    assert!(why.contains("nested deeper than 32"), "{why}");
    let shallow = [1u8, 1, 0];
    let tree = Tree::restore_from(&mut Reader::new(&shallow)).expect("three levels restore");
    assert_eq!((tree.kids.len(), tree.kids[0].kids.len(), tree.kids[0].kids[0].kids.len()), (1, 1, 0));

    // A million `None`s take a million bytes, but as `Option<[u64; 4096]>` 32 GB of memory.
    let mut bytes = Vec::new();
    Writer::new(&mut bytes).u64(1_000_000);
    bytes.resize(bytes.len() + 1_000_000, 0);
    let why = <Vec<Option<[u64; 4096]>>>::restore_from(&mut Reader::new(&bytes)).unwrap_err().to_string();
    assert!(why.contains("a count above the"), "{why}");
    // The same count of small items restores.
    let small = <Vec<Option<u32>>>::restore_from(&mut Reader::new(&bytes)).expect("a million small items");
    assert_eq!(small.len(), 1_000_000);
}

/// Fields named like the generated code's own locals (`r`, `w`, `wire`, `out`, …).
#[derive(Entity, Debug, Clone, PartialEq)]
struct Shadowing {
    #[tickcast(replicate)]
    r: i32,
    #[tickcast(replicate)]
    out: u16,
    w: u8,
    id: u32,
    kind: u8,
    e: u8,
}

#[derive(PlayerInput, Debug, Clone, Copy, PartialEq)]
struct WireNames {
    #[tickcast(range = 0..=9)]
    wire: u8,
    #[tickcast(range = 0..=9)]
    values: u8,
}

#[derive(GameState, Debug, Clone)]
#[tickcast(input = WireNames)]
struct Locals {
    r: u32,
    w: u32,
    fail: u32,
    restored: u32,
    version: u32,
    result: u32,
    out: u32,
    saved: u32,
    #[tickcast(entities)]
    entity: Vec<Shadowing>,
    input: WireNames,
}

#[test]
fn field_names_cannot_clash_with_the_generated_code() {
    let game = Locals {
        r: 1,
        w: 2,
        fail: 3,
        restored: 4,
        version: 5,
        result: 6,
        out: 7,
        saved: 8,
        entity: vec![Shadowing { r: -9, out: 10, w: 11, id: 12, kind: 13, e: 14 }],
        input: WireNames { wire: 7, values: 8 },
    };
    let mut copy = Locals {
        r: 0,
        w: 0,
        fail: 0,
        restored: 0,
        version: 0,
        result: 0,
        out: 0,
        saved: 0,
        entity: vec![],
        input: WireNames { wire: 0, values: 0 },
    };
    copy.restore_state(&game.save_state()).expect("restores");
    assert_eq!(copy.save_state(), game.save_state());
    assert_eq!(
        (copy.r, copy.w, copy.fail, copy.restored, copy.version, copy.result, copy.out, copy.saved),
        (1, 2, 3, 4, 5, 6, 7, 8)
    );
    assert_eq!(copy.entity, game.entity);
    assert_eq!(copy.input, game.input);
    assert_eq!(WireNames::from_values(&[3, 4]), Some(WireNames { wire: 3, values: 4 }));
    let mut out = EntityState::new();
    game.write_state(&mut out);
    assert_eq!(fields(&out), vec![(0, 0, vec![-9, 10])]);
}

/// Each file in tests/derive_fail/ must fail to compile with the message beside it (the
/// `.stderr` file; `TRYBUILD=overwrite cargo test --test derive` rewrites them after a
/// deliberate change).
#[test]
fn the_mistakes_a_developer_makes_do_not_compile() {
    trybuild::TestCases::new().compile_fail("tests/derive_fail/*.rs");
}
