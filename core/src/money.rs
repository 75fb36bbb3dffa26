//! Money: integer fen (1 yuan = 100 fen), never floats, with checked arithmetic.

use std::fmt;

use serde::{Deserialize, Serialize};

/// An amount in fen, the unit WeChat Pay's `total_fee` and `refund_fee` use.
///
/// Arithmetic is checked: an overflow is a domain error at the call site, never a
/// wrapped amount. `Display` prints the plain integer (what WeChat expects in
/// `total_fee`); use [`Fen::to_yuan_string`] for people.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Fen(u64);

impl Fen {
    pub const ZERO: Fen = Fen(0);

    pub const fn new(fen: u64) -> Self {
        Self(fen)
    }

    pub const fn get(self) -> u64 {
        self.0
    }

    pub const fn is_zero(self) -> bool {
        self.0 == 0
    }

    pub fn checked_add(self, other: Fen) -> Option<Fen> {
        self.0.checked_add(other.0).map(Fen)
    }

    pub fn checked_sub(self, other: Fen) -> Option<Fen> {
        self.0.checked_sub(other.0).map(Fen)
    }

    /// Unit price × quantity.
    pub fn checked_mul(self, quantity: u32) -> Option<Fen> {
        self.0.checked_mul(u64::from(quantity)).map(Fen)
    }

    /// Only for `evolve`, which must not fail: `decide` has already checked the sum.
    pub(crate) fn saturating_add(self, other: Fen) -> Fen {
        Fen(self.0.saturating_add(other.0))
    }

    /// Only for `evolve`, which must not fail: `decide` has already checked the difference.
    pub(crate) fn saturating_sub(self, other: Fen) -> Fen {
        Fen(self.0.saturating_sub(other.0))
    }

    /// Sums amounts, `None` on overflow.
    pub fn checked_sum<I: IntoIterator<Item = Fen>>(amounts: I) -> Option<Fen> {
        amounts
            .into_iter()
            .try_fold(Fen::ZERO, |acc, amount| acc.checked_add(amount))
    }

    /// `"12.34"`: yuan with two decimals, for receipts and audit output.
    pub fn to_yuan_string(self) -> String {
        format!("{}.{:02}", self.0 / 100, self.0 % 100)
    }
}

impl fmt::Display for Fen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arithmetic_is_checked() {
        assert_eq!(Fen::new(150).checked_add(Fen::new(50)), Some(Fen::new(200)));
        assert_eq!(Fen::new(u64::MAX).checked_add(Fen::new(1)), None);
        assert_eq!(Fen::new(1).checked_sub(Fen::new(2)), None);
        assert_eq!(Fen::new(199).checked_mul(3), Some(Fen::new(597)));
        assert_eq!(Fen::new(u64::MAX).checked_mul(2), None);
        assert_eq!(
            Fen::checked_sum([Fen::new(1), Fen::new(2)]),
            Some(Fen::new(3))
        );
        assert_eq!(Fen::checked_sum([Fen::new(u64::MAX), Fen::new(1)]), None);
    }

    #[test]
    fn displays_as_fen_and_yuan() {
        assert_eq!(Fen::new(1234).to_string(), "1234");
        assert_eq!(Fen::new(1234).to_yuan_string(), "12.34");
        assert_eq!(Fen::new(5).to_yuan_string(), "0.05");
        assert_eq!(
            serde_json::to_string(&Fen::new(99)).ok().as_deref(),
            Some("99")
        );
    }
}
