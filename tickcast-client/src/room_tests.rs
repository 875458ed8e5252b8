//! Tests of [`RoomState`]: the rules of PROTOCOL.md's "Cell update (version 3)" on
//! hand-built frames (entities moving between cells, deferred and dropped cells, the
//! merged view's dedupe) and that a refused update changes nothing.

use super::*;
use crate::message::{ServerMessage, Update, UpdateHeader};
use crate::test_encoder::{cell_delta_body, cell_update, delta_body, nothing, schema, snapshot_body, Spec};

fn decode(bytes: &[u8]) -> Update {
    match ServerMessage::decode(bytes, Some(&schema())).expect("decodes") {
        ServerMessage::Update(u) => u,
        other => panic!("not an update: {other:?}"),
    }
}

fn whole(list: &[Spec<'_>]) -> Vec<u8> {
    snapshot_body(list, &[])
}

/// Tick 1: a room-wide entity 100 (kind o), player 7 at (5, 5) in cell (0, 0), orb 20 in
/// cell (1, 0).
fn start() -> RoomState {
    let mut state = RoomState::default();
    let bytes = cell_update(
        1,
        0,
        &whole(&[(100, 1, &[0, 0])]),
        &[((0, 0), 0, whole(&[(7, 0, &[5, 5, 0])])), ((1, 0), 0, whole(&[(20, 1, &[15, 5])]))],
        &[],
    );
    state.apply(&decode(&bytes)).expect("applies");
    state
}

fn ids(world: &World) -> Vec<u32> {
    world.entities.keys().copied().collect()
}

#[test]
fn the_first_update_fills_the_room_part_and_the_cells() {
    let state = start();
    assert_eq!(state.tick, 1);
    assert_eq!(ids(state.room()), [100]);
    assert_eq!(state.cells().keys().copied().collect::<Vec<_>>(), [(0, 0), (1, 0)]);
    assert_eq!(state.cell((0, 0)).map(|c| c.tick), Some(1));
    // The merged view, read through Deref as a World.
    assert_eq!(ids(&state), [7, 20, 100]);
    assert_eq!(state.get(7), Some(&[5, 5, 0][..]));
    assert_eq!(state.entity(20), Some((1, &[15, 5][..])));
}

#[test]
fn an_entity_moving_between_cells_is_shown_once_whichever_section_comes_first() {
    // 7 moves from (0, 0) to (1, 0): removed from the first section, created in the second.
    let mut a = start();
    let bytes = cell_update(
        2,
        1,
        &nothing(),
        &[
            ((0, 0), 1, cell_delta_body(&[], &[], &[0], &[])),
            ((1, 0), 1, cell_delta_body(&[(7, 0, &[11, 5, 0])], &[], &[], &[])),
        ],
        &[],
    );
    a.apply(&decode(&bytes)).expect("applies");
    assert_eq!(ids(&a), [7, 20, 100]);
    assert_eq!(a.get(7), Some(&[11, 5, 0][..]));
    assert!(a.cell((0, 0)).is_some_and(|c| c.entities.is_empty()));
    // And back: now the section creating it, (0, 0), comes before the one removing it.
    let bytes = cell_update(
        3,
        2,
        &nothing(),
        &[
            ((0, 0), 1, cell_delta_body(&[(7, 0, &[9, 5, 0])], &[], &[], &[])),
            ((1, 0), 1, cell_delta_body(&[], &[], &[0], &[])),
        ],
        &[],
    );
    a.apply(&decode(&bytes)).expect("applies");
    assert_eq!(a.get(7), Some(&[9, 5, 0][..]));
    assert_eq!(a.cell((1, 0)).map(|c| ids_of(&c.entities)), Some(vec![20]));
}

fn ids_of(entities: &BTreeMap<u32, (u16, Vec<i32>)>) -> Vec<u32> {
    entities.keys().copied().collect()
}

#[test]
fn an_id_held_by_two_cells_shows_the_copy_of_the_newest_cell() {
    let mut state = start();
    // Tick 2: 7 is created in (1, 0); its old cell (0, 0) is deferred and still holds it.
    let created = cell_delta_body(&[(7, 0, &[11, 5, 0])], &[], &[], &[]);
    state.apply(&decode(&cell_update(2, 1, &nothing(), &[((1, 0), 1, created)], &[]))).expect("applies");
    assert_eq!(state.cell((0, 0)).map(|c| ids_of(&c.entities)), Some(vec![7]), "the deferred copy is kept");
    assert_eq!(state.get(7), Some(&[11, 5, 0][..]), "the newer cell's copy wins");
    assert_eq!(state.entities.len(), 3, "one entity, once");
    // Tick 3: (1, 0) is deferred now and (0, 0) moves its stale copy: (0, 0) is the newest.
    let moved = cell_delta_body(&[], &[(0, 0b1, &[1])], &[], &[]);
    state.apply(&decode(&cell_update(3, 2, &nothing(), &[((0, 0), 2, moved)], &[]))).expect("applies");
    assert_eq!(state.get(7), Some(&[6, 5, 0][..]));
    // Tick 4: the deferred removal from (0, 0) arrives; (1, 0)'s copy is the only one.
    let removed = cell_delta_body(&[], &[], &[0], &[]);
    state.apply(&decode(&cell_update(4, 3, &nothing(), &[((0, 0), 1, removed)], &[]))).expect("applies");
    assert_eq!(state.get(7), Some(&[11, 5, 0][..]));
}

#[test]
fn ties_go_to_the_first_cell_and_the_room_part_wins_over_cells() {
    let room = World { tick: 5, entities: [(1, (1, vec![0, 0]))].into_iter().collect() };
    let copy =
        |tick, fields: Vec<i32>| CellCopy { tick, entities: [(1, (1, fields.clone())), (2, (1, fields))].into() };
    let state = RoomState::new(room, [((0, 1), copy(5, vec![1, 1])), ((0, 0), copy(5, vec![2, 2]))]);
    assert_eq!(state.get(1), Some(&[0, 0][..]), "the room part's copy");
    assert_eq!(state.get(2), Some(&[2, 2][..]), "the first cell in (x, y) order on a tie");
}

#[test]
fn a_cell_copy_takes_the_tick_of_the_update_that_changed_it() {
    let mut state = start();
    let moved = cell_delta_body(&[], &[(0, 0b10, &[-2])], &[], &[]);
    state.apply(&decode(&cell_update(2, 1, &nothing(), &[((1, 0), 1, moved)], &[]))).expect("applies");
    assert_eq!(state.get(20), Some(&[15, 3][..]));
    assert_eq!(state.cell((1, 0)).map(|c| c.tick), Some(2), "the tick of the update");
    assert_eq!(state.cell((0, 0)).map(|c| c.tick), Some(1), "a cell without a section is unchanged");
}

#[test]
fn dropped_cells_are_forgotten_and_unknown_drops_ignored() {
    let mut state = start();
    state.apply(&decode(&cell_update(2, 1, &nothing(), &[], &[(-4, 4), (1, 0)]))).expect("applies");
    assert_eq!(state.cells().keys().copied().collect::<Vec<_>>(), [(0, 0)]);
    assert_eq!(ids(&state), [7, 100]);
    // A cell arriving as a delta that was never received (or was dropped) starts empty.
    let created = cell_delta_body(&[(21, 1, &[1, 1])], &[], &[], &[]);
    state.apply(&decode(&cell_update(3, 2, &nothing(), &[((1, 0), 2, created)], &[]))).expect("applies");
    assert_eq!(state.cell((1, 0)).map(|c| ids_of(&c.entities)), Some(vec![21]));
    // Dropping every cell leaves the room part as the view.
    state.apply(&decode(&cell_update(4, 3, &nothing(), &[], &[(0, 0), (1, 0)]))).expect("applies");
    assert!(state.cells().is_empty());
    assert_eq!(ids(&state), [100]);
    assert_eq!(state.tick, 4);
}

#[test]
fn a_section_that_arrives_whole_replaces_its_cell() {
    let mut state = start();
    let bytes = cell_update(2, 1, &nothing(), &[((0, 0), 0, whole(&[(8, 0, &[1, 2, 3])]))], &[]);
    state.apply(&decode(&bytes)).expect("applies");
    assert_eq!(state.cell((0, 0)).map(|c| ids_of(&c.entities)), Some(vec![8]));
    assert_eq!(ids(&state), [8, 20, 100]);
}

#[test]
fn a_malformed_or_mismatched_update_leaves_everything_as_it_was() {
    let mut state = start();
    let held = state.clone();
    // A good first section, then a change to an entity the second cell does not hold.
    let good = cell_delta_body(&[], &[(0, 0b1, &[1])], &[], &[]);
    let bad = cell_delta_body(&[], &[(5, 0b1, &[1])], &[], &[]);
    let refused =
        state.apply(&decode(&cell_update(2, 1, &nothing(), &[((0, 0), 1, good.clone()), ((1, 0), 1, bad)], &[])));
    assert!(matches!(&refused, Err(ApplyError::Malformed(e)) if e.to_string().contains("cell (1, 0)")), "{refused:?}");
    assert_eq!(state, held);
    // A mask beyond the fields (an orb has two).
    let beyond = cell_delta_body(&[], &[(0, 0b100, &[1])], &[], &[]);
    assert!(state.apply(&decode(&cell_update(2, 1, &nothing(), &[((1, 0), 1, beyond)], &[]))).is_err());
    assert_eq!(state, held);
    // A room part from another tick than the one held: the chain is broken.
    let refused = state.apply(&decode(&cell_update(3, 2, &nothing(), &[((0, 0), 1, good)], &[(1, 0)])));
    assert_eq!(refused, Err(ApplyError::BaseMismatch { base_tick: 2, held: 1 }));
    assert_eq!(state, held);
}

#[test]
fn the_room_part_follows_the_snapshot_and_delta_rules() {
    let mut state = start();
    // A whole room part replaces the room-wide entities only; the cells stay.
    state.apply(&decode(&cell_update(2, 0, &whole(&[(101, 1, &[1, 1])]), &[], &[]))).expect("applies");
    assert_eq!(ids(state.room()), [101]);
    assert_eq!(ids(&state), [7, 20, 101]);
    // A room delta changes it.
    let changed = delta_body(&[], &[(101, 0b1, &[4])], &[], &[]);
    state.apply(&decode(&cell_update(3, 2, &changed, &[], &[]))).expect("applies");
    assert_eq!(state.get(101), Some(&[5, 1][..]));
}

#[test]
fn snapshot_and_delta_rooms_work_as_with_a_world() {
    let mut state = start();
    // A Snapshot (tag 1) replaces everything, cells included.
    let header = UpdateHeader { tick: 9, base_tick: None, ack_input: 0, server_time_us: 0, cells: false };
    let snapshot = header.decode_body(&whole(&[(1, 0, &[1, 2, 3])]), &schema()).expect("decodes");
    state.apply(&snapshot).expect("applies");
    assert!(state.cells().is_empty());
    assert_eq!(ids(&state), [1]);
    let header = UpdateHeader { tick: 10, base_tick: Some(9), ack_input: 0, server_time_us: 0, cells: false };
    let delta = header.decode_body(&delta_body(&[], &[(1, 0b100, &[1])], &[], &[]), &schema()).expect("decodes");
    state.apply(&delta).expect("applies");
    assert_eq!(state.get(1), Some(&[1, 2, 4][..]));
    assert_eq!(state.view(), state.room(), "without cells the view is the room part");
    // A World keeps a plain room, and refuses a Cell update rather than lose its cells.
    let mut world = World::default();
    world.apply(&snapshot).expect("applies");
    let cells = decode(&cell_update(10, 9, &nothing(), &[], &[]));
    assert_eq!(world.apply(&cells), Err(ApplyError::NeedsRoomState));
}
