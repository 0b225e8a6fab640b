//! loom models of the park token protocol (`RUSTFLAGS="--cfg loom" cargo test --release --lib
//! loom`): the real `ParkCell` transitions, driven by loom threads standing for the parties that
//! race on one park. A greenlet cannot run under loom, so the worker's side is its own call
//! ([`ParkCell::mark_parked`], made right after the greenlet suspended) and the run reference is
//! counted rather than moved.

use std::sync::Arc;

use loom::thread;

use super::{Ended, ParkCell, Status, Token};
use crate::loom::sync::atomic::Ordering::SeqCst;

/// One party that ends a park from outside.
#[derive(Clone, Copy, Debug)]
enum Party {
    Unparker,
    Timer,
    Killer,
}

impl Party {
    fn status(self) -> Status {
        match self {
            Party::Unparker => Status::Unparked,
            Party::Timer => Status::TimedOut,
            Party::Killer => Status::Killed,
        }
    }

    fn run(self, cell: &ParkCell, gen: u64) -> Ended {
        match self {
            Party::Killer => cell.request_kill(),
            other => cell.end_from_outside(gen, other.status()),
        }
    }
}

/// The worker marks the greenlet parked while `parties` try to end the same park. Exactly one
/// of them (or the worker itself, for a kill it sees) ends it, with that party's status; the run
/// reference has exactly one owner afterwards (the worker if the greenlet was not left parked,
/// else the one party that ended the park out of PARKED), so the wake-up is neither lost nor
/// doubled.
fn race(parties: &'static [Party]) {
    loom::model(move || {
        let cell = Arc::new(ParkCell::new());
        let gen = cell.begin();
        let handles: Vec<_> = parties
            .iter()
            .map(|&party| {
                let cell = cell.clone();
                thread::spawn(move || (party, party.run(&cell, gen)))
            })
            .collect();
        let left_parked = cell.mark_parked();
        let results: Vec<(Party, Ended)> = handles.into_iter().map(|h| h.join().unwrap()).collect();

        let took_reference = results.iter().filter(|r| r.1 == Ended::Parked).count();
        let owners = took_reference + usize::from(!left_parked);
        assert_eq!(
            owners, 1,
            "run reference owners: {results:?}, parked {left_parked}"
        );

        let winners: Vec<Party> = results
            .iter()
            .filter(|r| r.1 != Ended::Before)
            .map(|r| r.0)
            .collect();
        let token = cell.token.load(SeqCst);
        assert!(!token.is_waiting() && !token.is_parked(), "{token:?}");
        assert_eq!(token.gen(), gen);
        match winners[..] {
            [winner] => assert_eq!(token.status(), winner.status()),
            // Nobody outside won: only the worker's own look at a pending kill ends a park so.
            [] => {
                assert!(!left_parked, "ended by nobody yet parked: {results:?}");
                assert_eq!(token.status(), Status::Killed);
            }
            _ => panic!("more than one party ended the park: {results:?}"),
        }
    });
}

#[test]
fn loom_park_unparker_and_worker() {
    race(&[Party::Unparker]);
}

#[test]
fn loom_park_kill_and_worker() {
    race(&[Party::Killer]);
}

#[test]
fn loom_park_unparker_timer_and_worker() {
    race(&[Party::Unparker, Party::Timer]);
}

#[test]
fn loom_park_kill_unparker_and_worker() {
    race(&[Party::Killer, Party::Unparker]);
}

#[test]
fn loom_park_kill_timer_unparker_and_worker() {
    race(&[Party::Killer, Party::Timer, Party::Unparker]);
}

/// A stale unparker (of park `gen`) fires while its context retires that park (the `Parker`'s
/// drop) and begins the next one: it must not end the new park.
#[test]
fn loom_park_stale_unparker_cannot_end_the_next_park() {
    loom::model(|| {
        let cell = Arc::new(ParkCell::new());
        let gen = cell.begin();
        let stale = {
            let cell = cell.clone();
            thread::spawn(move || cell.end_from_outside(gen, Status::Unparked))
        };
        let retired = cell.end_own(gen, Status::Idle);
        let next = cell.begin();
        assert_ne!(next, gen);
        let parked = cell.mark_parked();
        let stale_won = stale.join().unwrap() != Ended::Before;
        assert!(retired != stale_won, "exactly one ends park {gen}");
        assert!(parked, "the new park is still waiting");
        assert_eq!(cell.token.load(SeqCst), Token::waiting(next).parked());
    });
}
