//! Unsigned integers of any size, the engine under [`super::arithmetic`]: a
//! numeric's digits scaled to a common number of fractional digits are an integer,
//! and the four operations on such integers give every result PostgreSQL's do.
//!
//! Limbs are base 10^9, least significant first, so that converting to and from
//! decimal digits is a matter of grouping nine at a time, and a product of two
//! limbs plus carries fits a `u64`.

use std::cmp::Ordering;

/// The limb base: the largest power of ten whose square fits below `u64::MAX`.
const BASE: u64 = 1_000_000_000;
const BASE_DIGITS: usize = 9;

/// An unsigned integer; no most significant zero limbs, so zero is empty.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(super) struct Magnitude {
    limbs: Vec<u32>,
}

impl Magnitude {
    /// The integer whose decimal digits (most significant first) are `digits`,
    /// followed by `zeros` zero digits.
    pub(super) fn from_digits(digits: &[u8], zeros: usize) -> Magnitude {
        let mut limbs = vec![0u32; zeros / BASE_DIGITS];
        let mut limb = 0u64;
        let mut power = 10u64.pow((zeros % BASE_DIGITS) as u32);
        let mut filled = zeros % BASE_DIGITS;
        for &digit in digits.iter().rev() {
            limb += u64::from(digit) * power;
            filled += 1;
            power *= 10;
            if filled == BASE_DIGITS {
                limbs.push(limb as u32);
                (limb, power, filled) = (0, 1, 0);
            }
        }
        limbs.push(limb as u32);
        Magnitude::normalized(limbs)
    }

    /// The decimal digits, most significant first; empty for zero.
    pub(super) fn to_digits(&self) -> Vec<u8> {
        let mut digits = Vec::with_capacity(self.limbs.len() * BASE_DIGITS);
        for &limb in &self.limbs {
            let mut limb = limb;
            for _ in 0..BASE_DIGITS {
                digits.push((limb % 10) as u8);
                limb /= 10;
            }
        }
        while digits.last() == Some(&0) {
            digits.pop();
        }
        digits.reverse();
        digits
    }

    pub(super) fn is_zero(&self) -> bool {
        self.limbs.is_empty()
    }

    fn normalized(mut limbs: Vec<u32>) -> Magnitude {
        while limbs.last() == Some(&0) {
            limbs.pop();
        }
        Magnitude { limbs }
    }

    pub(super) fn add(&self, other: &Magnitude) -> Magnitude {
        let (long, short) = if self.limbs.len() >= other.limbs.len() { (self, other) } else { (other, self) };
        let mut limbs = Vec::with_capacity(long.limbs.len() + 1);
        let mut carry = 0u64;
        for (index, &limb) in long.limbs.iter().enumerate() {
            let sum = u64::from(limb) + u64::from(short.limbs.get(index).copied().unwrap_or(0)) + carry;
            limbs.push((sum % BASE) as u32);
            carry = sum / BASE;
        }
        limbs.push(carry as u32);
        Magnitude::normalized(limbs)
    }

    /// `self - other`, for `self >= other` (the caller orders the operands).
    pub(super) fn subtract(&self, other: &Magnitude) -> Magnitude {
        debug_assert!(*self >= *other);
        let mut limbs = self.limbs.clone();
        subtract_in_place(&mut limbs, &other.limbs, 0);
        Magnitude::normalized(limbs)
    }

    pub(super) fn multiply(&self, other: &Magnitude) -> Magnitude {
        if self.is_zero() || other.is_zero() {
            return Magnitude::default();
        }
        let mut limbs = vec![0u64; self.limbs.len() + other.limbs.len()];
        for (index, &left) in self.limbs.iter().enumerate() {
            let mut carry = 0u64;
            for (offset, &right) in other.limbs.iter().enumerate() {
                // At most (10^9 - 1)^2 + 2 * 10^9 - 2 < 2^64: no overflow.
                let cell = limbs[index + offset] + u64::from(left) * u64::from(right) + carry;
                limbs[index + offset] = cell % BASE;
                carry = cell / BASE;
            }
            limbs[index + other.limbs.len()] += carry;
        }
        Magnitude::normalized(limbs.into_iter().map(|limb| limb as u32).collect())
    }

    /// The quotient and remainder of `self / divisor`, or `None` when the divisor is zero.
    pub(super) fn divide(&self, divisor: &Magnitude) -> Option<(Magnitude, Magnitude)> {
        if divisor.is_zero() {
            return None;
        }
        if *self < *divisor {
            return Some((Magnitude::default(), self.clone()));
        }
        let mut remainder = self.limbs.clone();
        let shifts = self.limbs.len() - divisor.limbs.len();
        let mut quotient = vec![0u32; shifts + 1];
        for shift in (0..=shifts).rev() {
            quotient[shift] = quotient_limb(&mut remainder, &divisor.limbs, shift);
        }
        Some((Magnitude::normalized(quotient), Magnitude::normalized(remainder)))
    }
}

/// The limb `q` with `divisor * q * BASE^shift <= remainder < divisor * (q + 1) * BASE^shift`,
/// subtracting `divisor * q * BASE^shift` from `remainder`. The caller keeps the
/// remainder below `divisor * BASE^(shift + 1)`, so `q` fits a limb.
fn quotient_limb(remainder: &mut Vec<u32>, divisor: &[u32], shift: usize) -> u32 {
    let top = divisor.len() - 1;
    // An estimate from the leading limbs, never above the true limb: the divisor's
    // leading limbs are rounded up and the remainder's down.
    let leading = |limbs: &[u32], from: usize, count: usize| {
        (from..from + count)
            .rev()
            .fold(0u128, |value, index| value * u128::from(BASE) + u128::from(limbs.get(index).copied().unwrap_or(0)))
    };
    let (divisor_leading, window) = if top == 0 {
        (u128::from(divisor[0]), leading(remainder, shift, 2))
    } else {
        (leading(divisor, top - 1, 2) + 1, leading(remainder, shift + top - 1, 3))
    };
    let mut estimate = (window / divisor_leading).min(u128::from(BASE - 1)) as u32;
    subtract_in_place(remainder, &multiply_by_limb(divisor, estimate), shift);
    // The estimate falls short by at most two; each step fixes one.
    while compare_shifted(remainder, divisor, shift) != Ordering::Less {
        subtract_in_place(remainder, divisor, shift);
        estimate += 1;
    }
    estimate
}

fn multiply_by_limb(limbs: &[u32], factor: u32) -> Vec<u32> {
    let mut product = Vec::with_capacity(limbs.len() + 1);
    let mut carry = 0u64;
    for &limb in limbs {
        let cell = u64::from(limb) * u64::from(factor) + carry;
        product.push((cell % BASE) as u32);
        carry = cell / BASE;
    }
    product.push(carry as u32);
    product
}

/// `minuend -= subtrahend * BASE^shift`, for a minuend at least that large.
fn subtract_in_place(minuend: &mut Vec<u32>, subtrahend: &[u32], shift: usize) {
    let mut borrow = 0i64;
    let mut index = shift;
    while index < minuend.len() && (index - shift < subtrahend.len() || borrow != 0) {
        let right = i64::from(subtrahend.get(index - shift).copied().unwrap_or(0));
        let mut cell = i64::from(minuend[index]) - right - borrow;
        borrow = i64::from(cell < 0);
        if cell < 0 {
            cell += BASE as i64;
        }
        minuend[index] = cell as u32;
        index += 1;
    }
    debug_assert!(borrow == 0, "the minuend was smaller than the subtrahend");
    while minuend.last() == Some(&0) {
        minuend.pop();
    }
}

/// Compares `left` with `right * BASE^shift` (neither with leading zero limbs).
fn compare_shifted(left: &[u32], right: &[u32], shift: usize) -> Ordering {
    let right_length = if right.is_empty() { 0 } else { right.len() + shift };
    left.len().cmp(&right_length).then_with(|| {
        for index in (0..left.len()).rev() {
            let right_limb = if index >= shift { right.get(index - shift).copied().unwrap_or(0) } else { 0 };
            match left[index].cmp(&right_limb) {
                Ordering::Equal => continue,
                unequal => return unequal,
            }
        }
        Ordering::Equal
    })
}

impl Ord for Magnitude {
    fn cmp(&self, other: &Self) -> Ordering {
        compare_shifted(&self.limbs, &other.limbs, 0)
    }
}

impl PartialOrd for Magnitude {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
