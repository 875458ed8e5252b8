//! The held-seat rules of cluster placement: which seats held for players (in Redis, or
//! on this node for a matchmaking answer) a placement uses, falls back from, or gives
//! up. The steps they are written in ([`SeatSteps`]) are the cluster directory's Redis
//! operations; the rules are here, apart from them, so they read in one place (and are
//! tested against a fake).
//!
//! - A matchmaking request gets a seat held for its seat token: on this node, or in
//!   Redis when the room is on another node (held there by join-or-create).
//! - A player arriving with a seat token takes the seat this node holds for it; else it
//!   is seated in the room the token names, replacing the hold in Redis (counted from
//!   the owner's next renewal). A join-or-create seat whose room filled meanwhile takes
//!   any open room here, not elsewhere: the token still names its first room.
//! - A hold nobody will use is released at once: the player went to another room or
//!   was sent on, or the room was full. After a 503 the client comes back with the same
//!   seat, so that hold stays.
//! - Join-or-create on `/ws` sent to another node releases the seat it held there: a
//!   4421 reason carries no seat token, so the client comes back with a plain join.

use crate::actors::directory::{Ask, Placement, PlacementError, PlacementRequest, Requester, Reservation};
use crate::tokens::SeatClaim;
use std::future::Future;

/// The cluster directory's placement steps, which the rules combine.
pub(super) trait SeatSteps: Sync {
    /// A seat in room `name` here (claimed, or restored, if nobody runs it), or where it
    /// runs; `held` is the seat a matchmaker holds for this player in Redis, if any.
    fn named<'a>(
        &'a self,
        name: &'a str,
        held: Option<u64>,
        who: &'a Requester,
    ) -> impl Future<Output = Result<Placement, PlacementError>> + Send + 'a;

    /// Join-or-create across the cluster; a seat on another node is held there.
    fn any<'a>(&'a self, who: &'a Requester) -> impl Future<Output = Result<Placement, PlacementError>> + Send + 'a;

    /// Join-or-create among this node's rooms only; `RoomFull` when none can take it.
    fn any_here<'a>(
        &'a self,
        who: &'a Requester,
    ) -> impl Future<Output = Result<Placement, PlacementError>> + Send + 'a;

    /// Releases seat `nonce` held in room `room` in Redis (not awaited).
    fn release(&self, room: &str, nonce: u64);

    /// The seat this node holds under `nonce` in room `room` for a seat token.
    fn take_held_here(&self, nonce: u64, room: &str) -> Option<Reservation>;

    /// Holds a seat taken here for a seat token.
    fn hold_here(&self, reservation: Reservation) -> Result<Placement, PlacementError>;
}

/// Places `request` by the rules above.
pub(super) async fn place<S: SeatSteps>(steps: &S, request: PlacementRequest) -> Result<Placement, PlacementError> {
    match request {
        PlacementRequest::Matchmake { room, who } => {
            let placed = match &room {
                Some(name) => steps.named(name, None, &who).await?,
                None => steps.any(&who).await?,
            };
            match placed {
                Placement::Here(reservation) => steps.hold_here(reservation),
                // Its join-or-create seat stays held in Redis for the token.
                other => Ok(other),
            }
        }
        PlacementRequest::Join { ask: Ask::Named(name), who } => steps.named(&name, None, &who).await,
        PlacementRequest::Join { ask: Ask::Any, who } => {
            let placed = steps.any(&who).await;
            if let Ok(Placement::Elsewhere(r)) = &placed {
                steps.release(&r.room, r.seat);
            }
            placed
        }
        PlacementRequest::Join { ask: Ask::Seat(claim), who } => arrive(steps, claim, &who).await,
    }
}

/// A player arriving with the seat token `claim`.
async fn arrive<S: SeatSteps>(steps: &S, claim: SeatClaim, who: &Requester) -> Result<Placement, PlacementError> {
    if let Some(reservation) = steps.take_held_here(claim.nonce, &claim.room) {
        return Ok(Placement::Here(reservation));
    }
    let placed = match steps.named(&claim.room, Some(claim.nonce), who).await {
        // The owner let in named joins (counted only at its next renewal) before this
        // player came: any open room here will do.
        Err(PlacementError::RoomFull) if claim.any => steps.any_here(who).await,
        placed => placed,
    };
    // A used hold is released by the owner's next renewal, which counts the player
    // instead; one this player will not use goes now.
    let unused = match &placed {
        Ok(Placement::Here(r)) => *r.room.name != *claim.room,
        Ok(Placement::Elsewhere(_) | Placement::Held(_)) | Err(PlacementError::RoomFull) => true,
        Err(_) => false,
    };
    if unused {
        steps.release(&claim.room, claim.nonce);
    }
    placed
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actors::directory::Redirect;
    use parking_lot::Mutex;

    /// Steps that answer from a script and record what was released and asked.
    #[derive(Default)]
    struct Fake {
        named: Option<Result<Placement, PlacementError>>,
        any: Option<Result<Placement, PlacementError>>,
        any_here: Option<Result<Placement, PlacementError>>,
        calls: Mutex<Vec<String>>,
        released: Mutex<Vec<(String, u64)>>,
    }

    fn take(slot: &Option<Result<Placement, PlacementError>>) -> Result<Placement, PlacementError> {
        match slot {
            Some(Ok(Placement::Elsewhere(r))) => Ok(Placement::Elsewhere(r.clone())),
            Some(Err(e)) => Err(e.clone()),
            _ => Err(PlacementError::Unavailable("not scripted".into())),
        }
    }

    impl SeatSteps for Fake {
        fn named<'a>(
            &'a self,
            name: &'a str,
            held: Option<u64>,
            _: &'a Requester,
        ) -> impl Future<Output = Result<Placement, PlacementError>> + Send + 'a {
            self.calls.lock().push(format!("named {name} {held:?}"));
            std::future::ready(take(&self.named))
        }
        fn any<'a>(&'a self, _: &'a Requester) -> impl Future<Output = Result<Placement, PlacementError>> + Send + 'a {
            self.calls.lock().push("any".into());
            std::future::ready(take(&self.any))
        }
        fn any_here<'a>(
            &'a self,
            _: &'a Requester,
        ) -> impl Future<Output = Result<Placement, PlacementError>> + Send + 'a {
            self.calls.lock().push("any_here".into());
            std::future::ready(take(&self.any_here))
        }
        fn release(&self, room: &str, nonce: u64) {
            self.released.lock().push((room.to_string(), nonce));
        }
        fn take_held_here(&self, _: u64, _: &str) -> Option<Reservation> {
            None
        }
        fn hold_here(&self, _: Reservation) -> Result<Placement, PlacementError> {
            Err(PlacementError::TooManyPendingSeats)
        }
    }

    fn elsewhere(room: &str, seat: u64) -> Option<Result<Placement, PlacementError>> {
        Some(Ok(Placement::Elsewhere(Redirect {
            room: room.into(),
            node: "b".into(),
            base_url: "ws://b".into(),
            seat,
        })))
    }

    fn seat(room: &str, nonce: u64, any: bool) -> PlacementRequest {
        PlacementRequest::Join {
            ask: Ask::Seat(SeatClaim { room: room.into(), nonce, any }),
            who: Requester::default(),
        }
    }

    #[tokio::test]
    async fn join_or_create_sent_to_another_node_releases_the_seat_it_held_there() {
        let fake = Fake { any: elsewhere("mm-3", 7), ..Fake::default() };
        let join = PlacementRequest::Join { ask: Ask::Any, who: Requester::default() };
        assert!(matches!(place(&fake, join).await, Ok(Placement::Elsewhere(_))));
        assert_eq!(*fake.released.lock(), [("mm-3".to_string(), 7)]);
        // A matchmaking answer keeps it: its seat token carries the hold.
        let fake = Fake { any: elsewhere("mm-3", 7), ..Fake::default() };
        let ask = PlacementRequest::Matchmake { room: None, who: Requester::default() };
        assert!(matches!(place(&fake, ask).await, Ok(Placement::Elsewhere(_))));
        assert!(fake.released.lock().is_empty());
    }

    #[tokio::test]
    async fn a_join_or_create_seat_whose_room_filled_tries_this_node_and_releases_its_hold() {
        let fake = Fake {
            named: Some(Err(PlacementError::RoomFull)),
            any_here: Some(Err(PlacementError::RoomFull)),
            ..Fake::default()
        };
        assert_eq!(place(&fake, seat("mm-1", 9, true)).await.unwrap_err(), PlacementError::RoomFull);
        assert_eq!(*fake.calls.lock(), ["named mm-1 Some(9)", "any_here"]);
        assert_eq!(*fake.released.lock(), [("mm-1".to_string(), 9)]);
    }

    #[tokio::test]
    async fn a_named_seat_whose_room_filled_is_refused_and_released() {
        let fake = Fake { named: Some(Err(PlacementError::RoomFull)), ..Fake::default() };
        assert_eq!(place(&fake, seat("duel", 5, false)).await.unwrap_err(), PlacementError::RoomFull);
        assert_eq!(*fake.calls.lock(), ["named duel Some(5)"]);
        assert_eq!(*fake.released.lock(), [("duel".to_string(), 5)]);
    }

    #[tokio::test]
    async fn a_seat_sent_on_is_released_and_one_refused_with_503_is_kept() {
        let fake = Fake { named: elsewhere("duel", 11), ..Fake::default() };
        assert!(matches!(place(&fake, seat("duel", 5, true)).await, Ok(Placement::Elsewhere(_))));
        assert_eq!(*fake.released.lock(), [("duel".to_string(), 5)], "its own hold, not the redirect's seat");
        let fake = Fake { named: Some(Err(PlacementError::Unavailable("redis".into()))), ..Fake::default() };
        assert!(place(&fake, seat("duel", 5, true)).await.is_err());
        assert!(fake.released.lock().is_empty(), "the client comes back with the same seat");
    }
}
