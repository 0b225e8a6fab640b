//! The park token: one word that says which park a context is in, how it ended, and whether the
//! greenlet is suspended in it.
//!
//! ```text
//!  63                                   8 7       4 3      0
//! +--------------------------------------+-+-------+--------+
//! |              generation              |P| (zero)| status |
//! +--------------------------------------+-+-------+--------+
//! ```
//!
//! * `generation` (56 bits, wrapping): which park this is; every park starts a new one, and an
//!   [`Unparker`](super::Unparker) is stamped with it, so a stale one cannot end a later park.
//! * `P` ([`Token::is_parked`]): the greenlet has suspended in this park and its run reference is
//!   in the token (see `runtime::task`).
//! * `status` ([`Status`]): `Waiting` while the park may still be ended; the outcome after.
//!
//! The protocol that moves it (one compare-and-swap per transition, exactly one winner) is in the
//! parent module; this module only names the layout, so that no code builds the word by hand.

use std::fmt;

use crate::loom::sync::atomic::{AtomicU64, Ordering};

/// Bits below the generation: the status nibble, three spare zero bits and PARKED.
const GEN_SHIFT: u32 = 8;
/// The generation's bits, once shifted into place.
const GEN_MASK: u64 = u64::MAX << GEN_SHIFT;
/// The largest generation (they wrap to zero after it).
const MAX_GEN: u64 = u64::MAX >> GEN_SHIFT;
const STATUS_MASK: u64 = 0x0F;
/// The greenlet is suspended in this park and its run reference is in the token.
const PARKED: u64 = 0x80;

const _: () = {
    assert!(STATUS_MASK & PARKED == 0, "status and PARKED overlap");
    assert!(STATUS_MASK & GEN_MASK == 0, "status and generation overlap");
    assert!(PARKED & GEN_MASK == 0, "PARKED and generation overlap");
    assert!(
        Status::Deadlocked as u64 & !STATUS_MASK == 0,
        "a status does not fit its mask"
    );
};

/// Where a park stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Status {
    /// No park in progress (before the first, or a park abandoned before it blocked).
    Idle = 0,
    /// The park may still be ended, by exactly one party.
    Waiting = 1,
    /// An [`Unparker`](super::Unparker) ended it.
    Unparked = 2,
    /// Its deadline (its own, or an enclosing `with_timeout`'s) passed.
    TimedOut = 3,
    /// A kill ended it.
    Killed = 4,
    /// A plain thread's park ended by the deadlock detector (`DeadlockPolicy::Panic`).
    Deadlocked = 5,
}

impl Status {
    #[inline]
    const fn from_bits(bits: u64) -> Status {
        match bits {
            0 => Status::Idle,
            1 => Status::Waiting,
            2 => Status::Unparked,
            3 => Status::TimedOut,
            4 => Status::Killed,
            5 => Status::Deadlocked,
            // Only the constructors below write the word, and they write a `Status`.
            _ => panic!("park token with an unknown status"),
        }
    }
}

/// A park token's value: generation, PARKED bit and status (see the module docs).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct Token(u64);

impl Token {
    /// Generation 0, no park: a new context's token.
    pub(crate) const IDLE: Token = Token::new(0, Status::Idle);

    /// The token of park `gen` with `status`, not parked.
    #[inline]
    pub(crate) const fn new(gen: u64, status: Status) -> Token {
        debug_assert!(gen <= MAX_GEN, "park generation out of range");
        Token((gen << GEN_SHIFT) | status as u64)
    }

    /// Park `gen`, waiting, not parked.
    #[inline]
    pub(crate) const fn waiting(gen: u64) -> Token {
        Token::new(gen, Status::Waiting)
    }

    /// Which park this is.
    #[inline]
    pub(crate) const fn gen(self) -> u64 {
        self.0 >> GEN_SHIFT
    }

    /// The generation of the park after this one (wrapping).
    #[inline]
    pub(crate) const fn next_gen(self) -> u64 {
        self.gen().wrapping_add(1) & MAX_GEN
    }

    #[inline]
    pub(crate) const fn status(self) -> Status {
        Status::from_bits(self.0 & STATUS_MASK)
    }

    /// Whether the park may still be ended (parked or not).
    #[inline]
    pub(crate) const fn is_waiting(self) -> bool {
        self.0 & STATUS_MASK == Status::Waiting as u64
    }

    /// Whether the greenlet is suspended in this park, its run reference in the token.
    #[inline]
    pub(crate) const fn is_parked(self) -> bool {
        self.0 & PARKED != 0
    }

    /// This token with the PARKED bit set.
    #[inline]
    pub(crate) const fn parked(self) -> Token {
        Token(self.0 | PARKED)
    }

    /// The same park ended with `status`: PARKED cleared (whoever ends a park out of PARKED takes
    /// the run reference along).
    #[inline]
    pub(crate) const fn ended(self, status: Status) -> Token {
        Token::new(self.gen(), status)
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Token")
            .field("gen", &self.gen())
            .field("status", &self.status())
            .field("parked", &self.is_parked())
            .finish()
    }
}

/// The atomic word holding a [`Token`]: the only way the token is read or written.
pub(crate) struct AtomicToken(AtomicU64);

impl AtomicToken {
    pub(crate) fn new(token: Token) -> AtomicToken {
        AtomicToken(AtomicU64::new(token.0))
    }

    #[inline]
    pub(crate) fn load(&self, order: Ordering) -> Token {
        Token(self.0.load(order))
    }

    #[inline]
    pub(crate) fn store(&self, token: Token, order: Ordering) {
        self.0.store(token.0, order)
    }

    #[inline]
    pub(crate) fn compare_exchange(
        &self,
        current: Token,
        new: Token,
        success: Ordering,
        failure: Ordering,
    ) -> Result<Token, Token> {
        self.0
            .compare_exchange(current.0, new.0, success, failure)
            .map(Token)
            .map_err(Token)
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn layout_round_trips_every_field() {
        let statuses = [
            Status::Idle,
            Status::Waiting,
            Status::Unparked,
            Status::TimedOut,
            Status::Killed,
            Status::Deadlocked,
        ];
        for gen in [0, 1, 0xFF, 0x1234_5678, MAX_GEN] {
            for status in statuses {
                let t = Token::new(gen, status);
                assert_eq!((t.gen(), t.status(), t.is_parked()), (gen, status, false));
                assert_eq!(t.is_waiting(), status == Status::Waiting);
                let p = t.parked();
                assert_eq!((p.gen(), p.status(), p.is_parked()), (gen, status, true));
                assert_eq!(p.is_waiting(), status == Status::Waiting);
                assert_eq!(p.ended(Status::Killed), Token::new(gen, Status::Killed));
            }
        }
    }

    #[test]
    fn layout_matches_the_documented_bits() {
        assert_eq!(Token::IDLE.0, 0);
        assert_eq!(Token::waiting(1).0, 0x101);
        assert_eq!(Token::waiting(1).parked().0, 0x181);
        assert_eq!(
            Token::new(MAX_GEN, Status::Deadlocked).0,
            0xFFFF_FFFF_FFFF_FF05
        );
        assert_eq!(
            format!("{:?}", Token::waiting(7).parked()),
            "Token { gen: 7, status: Waiting, parked: true }"
        );
    }

    #[test]
    fn generations_wrap_within_their_bits() {
        assert_eq!(Token::waiting(MAX_GEN).next_gen(), 0);
        assert_eq!(Token::waiting(5).parked().next_gen(), 6);
    }

    #[test]
    fn the_atomic_word_compares_whole_tokens() {
        let a = AtomicToken::new(Token::waiting(3));
        let parked = Token::waiting(3).parked();
        assert_eq!(
            a.compare_exchange(
                Token::waiting(3),
                parked,
                Ordering::SeqCst,
                Ordering::SeqCst
            ),
            Ok(Token::waiting(3))
        );
        // The PARKED bit is part of the comparison: the unparked guess fails.
        assert_eq!(
            a.compare_exchange(
                Token::waiting(3),
                Token::waiting(3).ended(Status::Unparked),
                Ordering::SeqCst,
                Ordering::SeqCst
            ),
            Err(parked)
        );
        assert_eq!(a.load(Ordering::SeqCst), parked);
    }
}
