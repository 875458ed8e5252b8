//! The cells of a big world: which cell each entity is in, which cells a view meets, and
//! one tick's state split by cell, kept for a few ticks so members behind get deltas.
//!
//! Interest management (`docs/ARCHITECTURE.md`, "Big worlds") encodes each cell once per
//! tick and base, however many members see it; this module is the geometry and the
//! bookkeeping under it. Plain data, no actix, deterministic: the same state gives the
//! same split, whatever thread runs it.

use super::state::{EntityRef, EntityState};
use crate::protocol::Schema;
use bytes::Bytes;
use std::collections::VecDeque;
use std::sync::Arc;

/// Where a game's entities are, for interest management: in a room whose game declares
/// it, each member gets only the cells of the world it sees (its [`View`]), and each
/// cell is encoded once per tick however many members see it (`docs/ARCHITECTURE.md`,
/// "Big worlds"). The grid's cell side is `interest.cell_size`, in game units: the wire
/// value of a position is the game value times its field's scale.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interest {
    /// For each entity kind of the schema, in order: the indexes (among the kind's
    /// fields) of its x and y, or `None` for a room-wide kind that every member sees (a
    /// scoreboard, the match clock). Every positioned kind's x and y fields must have
    /// the same scale.
    pub positions: Vec<Option<[usize; 2]>>,
}

/// What one player sees: the cells that meet the square of side `2 × radius` centred on
/// `(x, y)`, all in the wire units of the position fields (see [`Interest`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct View {
    /// Centre, x.
    pub x: i32,
    /// Centre, y.
    pub y: i32,
    /// Half the side of the square seen; at least 0.
    pub radius: i32,
}

/// A cell of the grid: its column and row (`floor(x / side)`, `floor(y / side)`).
pub type Cell = (i32, i32);

/// The grid of a big room: the cell side and which fields place each entity kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grid {
    side: i64,
    positions: Vec<Option<[usize; 2]>>,
    max_view_cells: usize,
}

impl Grid {
    /// A grid of cells `side` wire units wide (at least 1), placing entities of kind `k`
    /// by the fields `positions[k]` (`None`: room-wide). A view meets at most
    /// `max_view_cells` cells (`interest.max_cells_per_view`): a larger view is cut to
    /// the square of that many cells around its centre.
    pub fn new(side: i64, positions: Vec<Option<[usize; 2]>>, max_view_cells: usize) -> Self {
        Grid { side: side.max(1), positions, max_view_cells: max_view_cells.max(1) }
    }

    /// The grid of a game's [`Interest`] over its `schema`: cells `cell_size` game units
    /// wide (`interest.cell_size`, times the position fields' scale). Refused, with the
    /// reason, when the interest does not fit the schema: a list not one per kind, a
    /// field index beyond its kind, or position fields of different scales.
    pub fn from_interest(
        interest: &Interest,
        schema: &Schema,
        cell_size: u32,
        max_view_cells: usize,
    ) -> Result<Grid, String> {
        if interest.positions.len() != schema.entity_kinds.len() {
            return Err(format!(
                "interest lists {} kinds, the schema has {}",
                interest.positions.len(),
                schema.entity_kinds.len()
            ));
        }
        let mut scale = None;
        for (kind, pos) in schema.entity_kinds.iter().zip(&interest.positions) {
            let Some(fields) = pos else { continue };
            for &i in fields {
                let f = kind
                    .fields
                    .get(i)
                    .ok_or_else(|| format!("kind {} has no field {i} (it has {})", kind.name, kind.fields.len()))?;
                if *scale.get_or_insert(f.scale) != f.scale {
                    return Err(format!("position field {}.{} has another scale than the others", kind.name, f.name));
                }
            }
        }
        let side = i64::from(cell_size) * i64::from(scale.unwrap_or(1));
        Ok(Grid::new(side, interest.positions.clone(), max_view_cells))
    }

    /// The cell side in wire units.
    pub fn side(&self) -> i64 {
        self.side
    }

    /// The cell the point `(x, y)` is in.
    pub fn cell_at(&self, x: i32, y: i32) -> Cell {
        let c = |v: i32| i64::from(v).div_euclid(self.side) as i32;
        (c(x), c(y))
    }

    /// The cell entity `e` is in, or `None` for a room-wide entity (its kind has no
    /// position, or fewer fields than the position names).
    pub fn cell_of(&self, e: EntityRef<'_>) -> Option<Cell> {
        let [ix, iy] = (*self.positions.get(usize::from(e.kind))?)?;
        Some(self.cell_at(*e.fields.get(ix)?, *e.fields.get(iy)?))
    }

    /// The cells `view` meets, sorted, into `out` (cleared first), and the cell of its
    /// centre.
    pub fn view_cells(&self, view: View, out: &mut Vec<Cell>) -> Cell {
        out.clear();
        let centre = self.cell_at(view.x, view.y);
        let r = i64::from(view.radius.max(0));
        let span = |v: i32| {
            let lo = (i64::from(v) - r).div_euclid(self.side);
            let hi = (i64::from(v) + r).div_euclid(self.side);
            (lo, hi)
        };
        let (mut x0, mut x1) = span(view.x);
        let (mut y0, mut y1) = span(view.y);
        // A hostile or mistaken radius must not make a view of millions of cells.
        let most = (self.max_view_cells as f64).sqrt().floor().max(1.0) as i64;
        let cut = |lo: &mut i64, hi: &mut i64, c: i32| {
            if *hi - *lo + 1 > most {
                *lo = i64::from(c) - (most - 1) / 2;
                *hi = *lo + most - 1;
            }
        };
        cut(&mut x0, &mut x1, centre.0);
        cut(&mut y0, &mut y1, centre.1);
        let clamp = |v: i64| v.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32;
        for cx in x0..=x1 {
            for cy in y0..=y1 {
                out.push((clamp(cx), clamp(cy)));
            }
        }
        out.dedup();
        centre
    }

    /// How far `cell` is from `centre`, in cells (the larger of the two axis distances).
    pub fn ring(centre: Cell, cell: Cell) -> u32 {
        let d = |a: i32, b: i32| (i64::from(a) - i64::from(b)).unsigned_abs();
        d(centre.0, cell.0).max(d(centre.1, cell.1)).min(u64::from(u32::MAX)) as u32
    }
}

/// One cell's part of a tick: its entities (by id) and the encoded events placed in it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CellPart {
    /// The entities in the cell.
    pub state: EntityState,
    /// Events the game placed in the cell this tick, encoded, in order.
    pub events: Vec<Bytes>,
}

/// One tick of a big room, split: the room-wide entities, and each cell with an entity
/// or an event in it (sorted by cell). A cell not listed is empty.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CellTick {
    /// The entities of room-wide kinds.
    pub room: EntityState,
    cells: Vec<(Cell, CellPart)>,
}

/// What [`CellTick::split`] could not place in a cell.
#[derive(Debug, Default)]
pub struct RoomWideEvents {
    /// Encoded events that go to every member, in order.
    pub events: Vec<Bytes>,
    /// Placed events dropped because their cell already had `max_events_per_cell`.
    pub refused: usize,
}

impl CellTick {
    /// Splits `state` by `grid`. `events` are the tick's encoded events and `placed`
    /// says where some of them happened (index into `events`, position): those go to
    /// their cell, at most `max_events_per_cell` per cell, the others stay room-wide.
    pub fn split(
        state: &EntityState,
        grid: &Grid,
        events: &[Bytes],
        placed: &[(usize, [i32; 2])],
        max_events_per_cell: usize,
    ) -> (CellTick, RoomWideEvents) {
        let mut room = EntityState::new();
        let mut order: Vec<(Cell, usize)> = Vec::with_capacity(state.len());
        for (i, e) in state.iter().enumerate() {
            match grid.cell_of(e) {
                Some(cell) => order.push((cell, i)),
                None => room.push(e.id, e.kind, e.fields),
            }
        }
        // Stable within a cell: entities stay in id order.
        order.sort_by_key(|(cell, _)| *cell);
        let mut cells: Vec<(Cell, CellPart)> = Vec::new();
        for (cell, i) in order {
            if cells.last().is_none_or(|(c, _)| *c != cell) {
                cells.push((cell, CellPart::default()));
            }
            let e = state.at(i);
            if let Some((_, part)) = cells.last_mut() {
                part.state.push(e.id, e.kind, e.fields);
            }
        }
        let mut wide = RoomWideEvents::default();
        let mut place = placed.iter().peekable();
        for (i, event) in events.iter().enumerate() {
            let mut at = None;
            while let Some(&&(j, pos)) = place.peek() {
                if j > i {
                    break;
                }
                place.next();
                if j == i {
                    at = Some(pos);
                }
            }
            let Some([x, y]) = at else {
                wide.events.push(event.clone());
                continue;
            };
            let cell = grid.cell_at(x, y);
            let k = match cells.binary_search_by_key(&cell, |(c, _)| *c) {
                Ok(k) => k,
                Err(k) => {
                    cells.insert(k, (cell, CellPart::default()));
                    k
                }
            };
            let part = &mut cells[k].1;
            if part.events.len() < max_events_per_cell {
                part.events.push(event.clone());
            } else {
                wide.refused += 1;
            }
        }
        (CellTick { room, cells }, wide)
    }

    /// The part of `cell`, if it has anything in it.
    pub fn cell(&self, cell: Cell) -> Option<&CellPart> {
        self.cells.binary_search_by_key(&cell, |(c, _)| *c).ok().map(|k| &self.cells[k].1)
    }

    /// The non-empty cells, sorted.
    pub fn cells(&self) -> impl Iterator<Item = (Cell, &CellPart)> + '_ {
        self.cells.iter().map(|(c, p)| (*c, p))
    }

    /// Entities placed in cells.
    pub fn placed_entities(&self) -> usize {
        self.cells.iter().map(|(_, p)| p.state.len()).sum()
    }
}

/// The split states of a big room's recent ticks, oldest first, at most `capacity`
/// (`sync.history_ticks`): a member's cell baseline must be one of them for a delta.
/// Kept whole (unlike the small rooms' [`super::History`], which packs older states):
/// the cell encoder reads a base cell on every tick a member is behind.
#[derive(Debug, Clone)]
pub struct CellHistory {
    ticks: VecDeque<(u64, Arc<CellTick>)>,
    capacity: usize,
}

impl CellHistory {
    /// An empty history of at most `capacity` ticks.
    pub fn new(capacity: usize) -> Self {
        CellHistory { ticks: VecDeque::with_capacity(capacity), capacity: capacity.max(1) }
    }

    /// Adds the split state of `tick` (ticks increase), dropping the oldest.
    pub fn push(&mut self, tick: u64, split: Arc<CellTick>) {
        self.ticks.push_back((tick, split));
        while self.ticks.len() > self.capacity {
            self.ticks.pop_front();
        }
    }

    /// The split state of `tick`, if still held.
    pub fn get(&self, tick: u64) -> Option<&Arc<CellTick>> {
        let first = self.ticks.front()?.0;
        let i = usize::try_from(tick.checked_sub(first)?).ok()?;
        match self.ticks.get(i) {
            Some((t, s)) if *t == tick => Some(s),
            _ => self.ticks.iter().find(|(t, _)| *t == tick).map(|(_, s)| s),
        }
    }

    /// The held ticks after `tick`, oldest first (a cell delta carries their events).
    pub fn after(&self, tick: u64) -> impl Iterator<Item = &Arc<CellTick>> + '_ {
        let start = self.ticks.partition_point(|(t, _)| *t <= tick);
        self.ticks.range(start..).map(|(_, s)| s)
    }

    /// The newest tick held.
    pub fn newest(&self) -> Option<&Arc<CellTick>> {
        self.ticks.back().map(|(_, s)| s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grid() -> Grid {
        Grid::new(100, vec![Some([0, 1]), None], 64)
    }

    #[test]
    fn cells_floor_towards_minus_infinity() {
        let g = grid();
        assert_eq!(g.cell_at(0, 99), (0, 0));
        assert_eq!(g.cell_at(-1, 100), (-1, 1));
        assert_eq!(g.cell_at(i32::MIN, i32::MAX), (-21_474_837, 21_474_836));
    }

    #[test]
    fn a_view_meets_the_cells_its_square_touches_and_a_huge_one_is_cut() {
        let g = grid();
        let mut out = Vec::new();
        let centre = g.view_cells(View { x: 150, y: 150, radius: 60 }, &mut out);
        assert_eq!(centre, (1, 1));
        assert_eq!(out, vec![(0, 0), (0, 1), (0, 2), (1, 0), (1, 1), (1, 2), (2, 0), (2, 1), (2, 2)]);
        g.view_cells(View { x: 150, y: 150, radius: 40 }, &mut out);
        assert_eq!(out, vec![(1, 1)]);
        g.view_cells(View { x: 0, y: 0, radius: i32::MAX }, &mut out);
        assert_eq!(out.len(), 64, "cut to max_view_cells");
        assert!(out.contains(&(0, 0)));
        g.view_cells(View { x: i32::MAX, y: i32::MIN, radius: i32::MAX }, &mut out);
        assert_eq!(out.len(), 64);
    }

    #[test]
    fn a_split_puts_each_entity_in_its_cell_and_room_wide_kinds_in_the_room() {
        let mut s = EntityState::new();
        s.push(1, 0, &[10, 10]);
        s.push(2, 0, &[250, 10]);
        s.push(3, 1, &[5]);
        s.push(4, 0, &[20, 30]);
        let events = vec![Bytes::from_static(b"a"), Bytes::from_static(b"b"), Bytes::from_static(b"c")];
        let placed = [(0, [260, 0]), (2, [260, 0])];
        let (split, wide) = CellTick::split(&s, &grid(), &events, &placed, 1);
        assert_eq!(split.room.iter().map(|e| e.id).collect::<Vec<_>>(), vec![3]);
        let ids = |c| split.cell(c).map(|p| p.state.iter().map(|e| e.id).collect::<Vec<_>>());
        assert_eq!(ids((0, 0)), Some(vec![1, 4]));
        assert_eq!(ids((2, 0)), Some(vec![2]));
        assert_eq!(ids((1, 0)), None);
        assert_eq!(split.cell((2, 0)).map(|p| p.events.clone()), Some(vec![Bytes::from_static(b"a")]));
        assert_eq!(wide.events, vec![Bytes::from_static(b"b")]);
        assert_eq!(wide.refused, 1, "the cap applies per cell");
        assert_eq!(split.placed_entities(), 3);
    }

    #[test]
    fn the_history_keeps_the_newest_ticks() {
        let mut h = CellHistory::new(3);
        for t in 1..=5 {
            h.push(t, Arc::new(CellTick::default()));
        }
        assert!(h.get(2).is_none());
        assert!(h.get(3).is_some() && h.get(5).is_some());
        assert_eq!(h.after(3).count(), 2);
    }
}
