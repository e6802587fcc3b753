//! NUMERIC against PostgreSQL 15: the tables in `cases` hold its outputs, the tests
//! here run the same inputs; `properties` checks laws on random values.

mod cases;
mod properties;

use super::*;
use cases::*;

fn numeric(text: &str) -> Numeric {
    text.parse().unwrap_or_else(|error| panic!("{text:?} does not parse: {error}"))
}

/// The text form of a result, or its SQLSTATE.
fn shown(result: Result<Numeric, NumericError>) -> Result<String, &'static str> {
    result.map(|value| value.to_string()).map_err(|error| error.sqlstate)
}

#[test]
fn text_input_and_output_match_postgresql() {
    for &(input, expected) in TEXT_CASES {
        let result = input.parse::<Numeric>().map(|value| value.to_string());
        let result = result.as_ref().map(String::as_str).map_err(|error| (error.sqlstate, error.message.as_str()));
        assert_eq!(result, expected, "input {input:?}");
    }
}

#[test]
fn text_at_the_limits_prints_every_digit() {
    let largest = numeric("9e131071").to_string();
    assert_eq!((largest.len(), &largest[..2]), (131072, "90"));
    let smallest = numeric("1e-16383").to_string();
    assert_eq!(smallest, format!("0.{}1", "0".repeat(16382)));
    let long = "123456789012345678901234567890.123456789012345678901234567890";
    assert_eq!(numeric(long).to_string(), long);
}

#[test]
fn arithmetic_results_and_scales_match_postgresql() {
    for &(left, operator, right, expected) in ARITHMETIC_CASES {
        let (left, right) = (numeric(left), numeric(right));
        let result = match operator {
            "+" => left.add(&right),
            "-" => left.subtract(&right),
            "*" => left.multiply(&right),
            "/" => left.divide(&right),
            "%" => left.modulo(&right),
            _ => unreachable!("operator {operator}"),
        };
        assert_eq!(shown(result), expected.map(str::to_string), "{left} {operator} {right}");
    }
}

#[test]
fn division_scale_follows_select_div_scale() {
    // A typmod'd operand brings its scale: 1 / 7::numeric(20,10).
    let divisor = numeric("7").apply_typmod(20, 10).expect("fits");
    assert_eq!(numeric("1").divide(&divisor).expect("nonzero").to_string(), "0.14285714285714285714");
    // Scales above 1000 are capped; at the cap, every digit is still right.
    let third = numeric("1").divide(&numeric(&format!("3.{}", "0".repeat(1200)))).expect("nonzero");
    assert_eq!((third.scale(), third.to_string()), (1000, format!("0.{}", "3".repeat(1000))));
}

#[test]
fn multiplication_beyond_the_largest_scale_rounds() {
    let tiny = numeric(&format!("0.{}5", "0".repeat(9000)));
    let product = tiny.multiply(&tiny).expect("in range");
    assert_eq!((product.scale(), product.to_string()), (SCALE_MAX, format!("0.{}", "0".repeat(16383))));
}

#[test]
fn round_and_trunc_match_postgresql() {
    for &(value, scale, rounded, truncated) in ROUNDING_CASES {
        let value = numeric(value);
        assert_eq!(
            value.round(scale).map(|value| value.to_string()).as_deref(),
            Ok(rounded),
            "round({value}, {scale})"
        );
        assert_eq!(
            value.trunc(scale).map(|value| value.to_string()).as_deref(),
            Ok(truncated),
            "trunc({value}, {scale})"
        );
    }
    // Scales beyond 2000 count as 2000: round(1.5, 2001) shows 2000 digits after the point.
    assert_eq!(numeric("1.5").round(2001).expect("in range").to_string(), format!("1.5{}", "0".repeat(1999)));
}

#[test]
fn typmods_round_and_overflow_as_postgresql_words_it() {
    for &(value, precision, scale, expected) in TYPMOD_CASES {
        let result = numeric(value).apply_typmod(precision, scale);
        let result = result.as_ref().map(ToString::to_string);
        let result = result
            .as_ref()
            .map(String::as_str)
            .map_err(|error| (error.sqlstate, error.message.as_str(), error.detail.as_deref()));
        assert_eq!(result, expected, "{value}::numeric({precision},{scale})");
    }
}

#[test]
fn integer_conversions_round_half_away_and_stop_at_the_edges() {
    let text = |result: Result<String, NumericError>| {
        result.unwrap_or_else(|error| format!("{} {}", error.sqlstate, error.message))
    };
    for &(value, bigint, integer, smallint) in INTEGER_CASES {
        let value = numeric(value);
        assert_eq!(text(value.to_i64().map(|value| value.to_string())), bigint, "{value}::int8");
        assert_eq!(text(value.to_i32().map(|value| value.to_string())), integer, "{value}::int4");
        assert_eq!(text(value.to_i16().map(|value| value.to_string())), smallint, "{value}::int2");
    }
    for value in [i64::MIN, -1, 0, 1, i64::MAX] {
        assert_eq!(Numeric::from(value).to_string(), value.to_string());
        assert_eq!(Numeric::from(value).to_i64(), Ok(value));
    }
}

#[test]
fn floats_become_numerics_of_fifteen_digits() {
    for &(float, expected) in FLOAT_TO_NUMERIC_CASES {
        let float: f64 = float.parse().expect("a float");
        assert_eq!(Numeric::from_f64(float).to_string(), expected, "{float:e}::numeric");
    }
    let zeros = |count: usize| "0".repeat(count);
    let long_cases = [
        (1e300, format!("1{}", zeros(300))),
        (-1e300, format!("-1{}", zeros(300))),
        (1.7976931348623157e308, format!("179769313486232{}", zeros(294))),
        (4.9e-324, format!("0.{}494065645841247", zeros(323))),
        (1e-310, format!("0.{}999999999999997", zeros(310))),
    ];
    for (float, expected) in long_cases {
        assert_eq!(Numeric::from_f64(float).to_string(), expected, "{float:e}::numeric");
    }
}

#[test]
fn numerics_become_the_nearest_float_or_an_out_of_range_error() {
    for &(value, expected) in NUMERIC_TO_FLOAT_CASES {
        let result = numeric(value).to_f64().map_err(|error| error.sqlstate);
        let expected = expected.map(|text| text.parse::<f64>().expect("float8out's text reads back"));
        match (result, expected) {
            (Ok(found), Ok(wanted)) if wanted.is_nan() => assert!(found.is_nan(), "{value}"),
            (Ok(found), Ok(wanted)) => assert_eq!(found.to_bits(), wanted.to_bits(), "{value}"),
            (found, wanted) => assert_eq!(found, wanted, "{value}"),
        }
    }
    let error = numeric("1e309").to_f64().expect_err("too large");
    assert_eq!(error.message, format!("\"1{}\" is out of range for type double precision", "0".repeat(309)));
}

#[test]
fn wire_binary_matches_numeric_send_and_reads_back() {
    for &(value, expected) in WIRE_CASES {
        let bytes = numeric(value).to_wire_binary();
        let hex: String = bytes.iter().map(|byte| format!("{byte:02x}")).collect();
        assert_eq!(hex, expected, "numeric_send({value})");
        let back = Numeric::from_wire_binary(&bytes).expect("reads back");
        assert_eq!(back.to_string(), numeric(value).to_string());
    }
}

#[test]
fn wire_binary_input_is_taken_as_numeric_recv_takes_it() {
    let wire = |fields: &[u16]| fields.iter().flat_map(|field| field.to_be_bytes()).collect::<Vec<u8>>();
    let read = |fields: &[u16]| shown(Numeric::from_wire_binary(&wire(fields)));
    // Zero groups anywhere, and digits beyond the scale, which are truncated.
    assert_eq!(read(&[3, 1, 0x0000, 2, 0, 12, 3456]), Ok("12.34".to_string()));
    assert_eq!(read(&[2, 0, 0x4000, 0, 7, 5000]), Ok("-7".to_string()));
    assert_eq!(read(&[0, 0, 0xc000, 0]), Ok("NaN".to_string()));
    let message = |fields: &[u16]| Numeric::from_wire_binary(&wire(fields)).map_err(|error| error.message);
    assert_eq!(message(&[0, 0, 0x1000, 0]), Err("invalid sign in external \"numeric\" value".to_string()));
    assert_eq!(message(&[0, 0, 0, 0x4000]), Err("invalid scale in external \"numeric\" value".to_string()));
    assert_eq!(message(&[1, 0, 0, 0, 10_000]), Err("invalid digit in external \"numeric\" value".to_string()));
    assert_eq!(read(&[2, 0, 0, 0, 1]), Err("08P01"));
    assert_eq!(Numeric::from_wire_binary(&[0, 0, 0]).map_err(|error| error.sqlstate), Err("08P01"));
    assert_eq!(Numeric::from_wire_binary(&[0; 9]).map_err(|error| error.sqlstate), Err("22P03"));
    // The largest weight holds a value; a leading group beyond it overflows.
    assert_eq!(read(&[1, 0x7fff, 0, 0, 1]).map(|text| text.len()), Ok(131069));
}

#[test]
fn equality_ignores_scale_and_the_order_is_postgresqls() {
    assert_eq!(numeric("1.0"), numeric("1.00"));
    assert_eq!(numeric("-0"), numeric("0.000"));
    assert_eq!(numeric("NaN"), numeric("nan"));
    let ascending = [
        "-Infinity",
        "-1e100",
        "-1.5",
        "-1.25",
        "-0.001",
        "0",
        "1e-100",
        "0.5",
        "1",
        "1.0001",
        "9.9",
        "10",
        "Infinity",
        "NaN",
    ];
    for pair in ascending.windows(2) {
        assert!(numeric(pair[0]) < numeric(pair[1]), "{} < {}", pair[0], pair[1]);
    }
    use std::hash::BuildHasher;
    let state = std::collections::hash_map::RandomState::new();
    assert_eq!(state.hash_one(numeric("2.50")), state.hash_one(numeric("2.5")));
    assert_eq!(state.hash_one(numeric("-0.0")), state.hash_one(numeric("0")));
}

#[test]
fn negate_abs_and_sign() {
    assert_eq!(numeric("1.50").negate().to_string(), "-1.50");
    assert_eq!(numeric("0.00").negate().to_string(), "0.00");
    assert_eq!(numeric("-Infinity").abs().to_string(), "Infinity");
    assert_eq!(numeric("Infinity").negate().to_string(), "-Infinity");
    assert_eq!(numeric("NaN").negate().to_string(), "NaN");
    assert_eq!([numeric("-2").sign(), numeric("0").sign(), numeric("Infinity").sign()], [-1, 0, 1]);
}

#[test]
fn value_encoding_is_compact_and_keeps_the_scale() {
    let mut bytes = Vec::new();
    numeric("12.50").encode_value(&mut bytes);
    assert_eq!(bytes, [0x03, 0x02, 0x02, 0x12, 0x50]);
    let back = Numeric::decode_value(&bytes).expect("decodes");
    assert_eq!(back.to_string(), "12.50");
    for corrupt in [
        &[][..],
        &[0x05],
        &[0x00, 0x00],
        &[0x03, 0x80],
        &[0x03, 0x80, 0x00],
        &[0x03, 0x00, 0x00, 0x10, 0x00],
        &[0x04, 0x00],
    ] {
        assert!(Numeric::decode_value(corrupt).is_err(), "{corrupt:?}");
    }
}

/// One random case of `postgresql_random.tsv` through every operation, in the file's
/// column order, as text (errors as `ERR` and the SQLSTATE).
fn every_operation(left: &Numeric, right: &Numeric, scale: i32) -> Vec<String> {
    let text = |result: Result<Numeric, NumericError>| {
        result.map_or_else(|error| format!("ERR {}", error.sqlstate), |value| value.to_string())
    };
    let float = left.to_f64().map_or_else(|error| format!("ERR {}", error.sqlstate), |value| format!("{value:?}"));
    let wire: String = left.to_wire_binary().iter().map(|byte| format!("{byte:02x}")).collect();
    vec![
        text(left.add(right)),
        text(left.subtract(right)),
        text(left.multiply(right)),
        text(left.divide(right)),
        text(left.modulo(right)),
        text(left.round(scale)),
        text(left.trunc(scale)),
        left.to_string(),
        (left < right).to_string(),
        (left == right).to_string(),
        left.to_i64().map_or_else(|error| format!("ERR {}", error.sqlstate), |value| value.to_string()),
        float,
        format!("\\x{wire}"),
        text(left.apply_typmod(12, scale.min(12))),
    ]
}

#[test]
fn random_values_agree_with_postgresql_on_every_operation() {
    let cases = include_str!("postgresql_random.tsv").lines().filter(|line| !line.starts_with('#'));
    let mut disagreements = Vec::new();
    for line in cases {
        let fields: Vec<&str> = line.split('\t').collect();
        let (left, right, scale) = (numeric(fields[0]), numeric(fields[1]), fields[2].parse().expect("a scale"));
        let mut expected: Vec<String> = fields[3..].iter().map(|field| field.to_string()).collect();
        // float8out's text, read as Rust shows floats.
        if !expected[11].starts_with("ERR") {
            expected[11] = format!("{:?}", expected[11].parse::<f64>().expect("a float"));
        }
        for (column, (found, wanted)) in every_operation(&left, &right, scale).iter().zip(&expected).enumerate() {
            if found != wanted {
                disagreements
                    .push(format!("{left} {right} {scale} column {}: {found}, PostgreSQL {wanted}", column + 3));
            }
        }
    }
    assert!(disagreements.is_empty(), "{}", disagreements.join("\n"));
}

#[test]
fn random_floats_become_the_numerics_postgresql_makes() {
    let cases = include_str!("postgresql_floats.tsv").lines().filter(|line| !line.starts_with('#'));
    for line in cases {
        let (float, expected) = line.split_once('\t').expect("two columns");
        assert_eq!(Numeric::from_f64(float.parse().expect("a float")).to_string(), expected, "{float}::numeric");
    }
}
