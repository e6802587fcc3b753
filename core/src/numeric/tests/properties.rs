//! Laws on random values: exact arithmetic agrees with integer arithmetic, division is
//! correctly rounded, the encodings round-trip, and the order agrees with floats
//! wherever a float is exact.

use super::super::*;
use proptest::collection::vec;
use proptest::prelude::*;

/// Finite values of up to 30 digits with exponents and scales around the point, and
/// the special values; often short, so that equal values with different scales occur.
pub(super) fn any_numeric() -> impl Strategy<Value = Numeric> {
    let finite =
        (any::<bool>(), vec(0..10u8, 1..30), -40..40i32, 0..4usize).prop_map(|(negative, digits, exponent, extra)| {
            let digits: String = digits.iter().map(|digit| char::from(b'0' + digit)).collect();
            let text =
                format!("{}{digits}{}e{exponent}", if negative { "-" } else { "" }, if extra > 0 { "." } else { "" });
            let value: Numeric = text.parse().expect("well formed");
            value.round(i32::from(value.scale()) + extra as i32).expect("in range")
        });
    prop_oneof![
        8 => finite,
        1 => prop_oneof![Just(Numeric::NaN), Just(Numeric::Infinity), Just(Numeric::NegativeInfinity), Just(Numeric::zero(2))],
    ]
}

fn finite_numeric() -> impl Strategy<Value = Numeric> {
    any_numeric().prop_filter("finite", |value| matches!(value, Numeric::Finite(_)))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn text_output_reads_back_with_its_scale(value in any_numeric()) {
        let text = value.to_string();
        let back: Numeric = text.parse().expect("numeric_out's text is valid input");
        prop_assert_eq!(back.to_string(), text);
    }

    #[test]
    fn value_encoding_round_trips_with_the_scale(value in any_numeric()) {
        let mut bytes = Vec::new();
        value.encode_value(&mut bytes);
        let back = Numeric::decode_value(&bytes).expect("decodes");
        prop_assert_eq!(back.to_string(), value.to_string());
    }

    #[test]
    fn wire_binary_round_trips_with_the_scale(value in any_numeric()) {
        let back = Numeric::from_wire_binary(&value.to_wire_binary()).expect("reads back");
        prop_assert_eq!(back.to_string(), value.to_string());
    }

    #[test]
    fn arbitrary_bytes_decode_without_panic_and_canonically(bytes in vec(prop_oneof![0..6u8, any::<u8>()], 0..12)) {
        if let Ok(value) = Numeric::decode_value(&bytes) {
            let mut encoded = Vec::new();
            value.encode_value(&mut encoded);
            prop_assert_eq!(encoded, bytes.clone());
        }
        let _ = Numeric::from_wire_binary(&bytes);
    }

    #[test]
    fn adding_then_subtracting_gives_the_value_back(left in finite_numeric(), right in finite_numeric()) {
        let sum = left.add(&right).expect("in range");
        let back = sum.subtract(&right).expect("in range");
        prop_assert_eq!(&back, &left);
        prop_assert_eq!(back.scale(), left.scale().max(right.scale()));
    }

    #[test]
    fn exact_operations_agree_with_integers(left in any::<i32>(), right in any::<i32>()) {
        let (numeric_left, numeric_right) = (Numeric::from(left), Numeric::from(right));
        let (left, right) = (i64::from(left), i64::from(right));
        prop_assert_eq!(numeric_left.add(&numeric_right).and_then(|value| value.to_i64()), Ok(left + right));
        prop_assert_eq!(numeric_left.subtract(&numeric_right).and_then(|value| value.to_i64()), Ok(left - right));
        prop_assert_eq!(numeric_left.multiply(&numeric_right).and_then(|value| value.to_i64()), Ok(left * right));
        if right != 0 {
            prop_assert_eq!(numeric_left.modulo(&numeric_right).and_then(|value| value.to_i64()), Ok(left % right));
        }
        prop_assert_eq!(numeric_left.cmp(&numeric_right), left.cmp(&right));
    }

    #[test]
    fn division_is_correctly_rounded(dividend in finite_numeric(), divisor in finite_numeric()) {
        prop_assume!(divisor.sign() != 0);
        let quotient = dividend.divide(&divisor).expect("in range");
        // |quotient * divisor - dividend| <= |divisor| * 10^-scale / 2, computed exactly.
        let error = quotient.multiply(&divisor).and_then(|product| product.subtract(&dividend)).expect("in range");
        let half_step: Numeric = format!("5e-{}", quotient.scale() + 1).parse().expect("well formed");
        let bound = divisor.abs().multiply(&half_step).expect("in range");
        prop_assert!(error.abs() <= bound, "{dividend} / {divisor} = {quotient}");
    }

    #[test]
    fn order_agrees_with_floats_where_they_are_exact(
        left in any::<i32>(), left_shift in 0..20u32, right in any::<i32>(), right_shift in 0..20u32,
    ) {
        // m / 2^k has at most k digits after the point, so both forms are exact.
        let exact = |mantissa: i32, shift: u32| {
            let float = f64::from(mantissa) / f64::from(1u32 << shift);
            (float, format!("{float:.*}", shift as usize).parse::<Numeric>().expect("well formed"))
        };
        let ((left_float, left_numeric), (right_float, right_numeric)) = (exact(left, left_shift), exact(right, right_shift));
        prop_assert_eq!(Some(left_numeric.cmp(&right_numeric)), left_float.partial_cmp(&right_float));
        prop_assert_eq!(left_numeric.to_f64(), Ok(left_float));
    }

    #[test]
    fn rounding_never_moves_more_than_half_a_step(value in finite_numeric(), scale in -5..8i32) {
        let rounded = value.round(scale).expect("in range");
        let truncated = value.trunc(scale).expect("in range");
        let step: Numeric = format!("1e{}", -scale).parse().expect("well formed");
        let half_step = step.multiply(&"0.5".parse().expect("well formed")).expect("in range");
        prop_assert!(rounded.subtract(&value).expect("in range").abs() <= half_step);
        prop_assert!(truncated.abs() <= value.abs());
        prop_assert!(value.subtract(&truncated).expect("in range").abs() < step);
        prop_assert_eq!(rounded.scale(), scale.max(0) as u16);
    }
}
