//! Expected values, every one the output of PostgreSQL 15.20 for the same input
//! (`select (<expression>)::text`, errors as their SQLSTATE and message). Values too
//! long for a table are checked in `super` with their lengths and shapes.

/// An error as SQLSTATE and message.
type Failure = (&'static str, &'static str);
/// An error as SQLSTATE, message and detail.
type DetailedFailure = (&'static str, &'static str, Option<&'static str>);

/// Text input and its numeric_out, or the error.
pub(super) const TEXT_CASES: &[(&str, Result<&str, Failure>)] = &[
    ("0", Ok("0")),
    ("-0", Ok("0")),
    ("+0", Ok("0")),
    ("0.00", Ok("0.00")),
    ("-0.000", Ok("0.000")),
    ("1.50", Ok("1.50")),
    ("  1.50  ", Ok("1.50")),
    ("\t\n-12.3400\n", Ok("-12.3400")),
    ("\x0b7\x0c", Ok("7")),
    ("007", Ok("7")),
    ("-007.0", Ok("-7.0")),
    (".5", Ok("0.5")),
    ("5.", Ok("5")),
    ("-.5", Ok("-0.5")),
    ("+.5", Ok("0.5")),
    ("1e5", Ok("100000")),
    ("1E5", Ok("100000")),
    ("1.5E-3", Ok("0.0015")),
    ("1.50e1", Ok("15.0")),
    ("1e+5", Ok("100000")),
    ("1e 5", Ok("100000")),
    ("1e-5", Ok("0.00001")),
    ("12.345e-10", Ok("0.0000000012345")),
    ("-1.2e3", Ok("-1200")),
    ("1e0", Ok("1")),
    ("0e10", Ok("0")),
    ("0e-10", Ok("0.0000000000")),
    ("0.000e2", Ok("0.0")),
    // "123456789012345678901234567890.123456789012345678901234567890": long output, checked separately
    ("NaN", Ok("NaN")),
    ("nan", Ok("NaN")),
    ("  NAN ", Ok("NaN")),
    ("Infinity", Ok("Infinity")),
    ("infinity", Ok("Infinity")),
    ("+Infinity", Ok("Infinity")),
    ("-Infinity", Ok("-Infinity")),
    ("-INFINITY", Ok("-Infinity")),
    ("inf", Ok("Infinity")),
    ("-inf", Ok("-Infinity")),
    ("+inf", Ok("Infinity")),
    ("Inf ", Ok("Infinity")),
    ("", Err(("22P02", "invalid input syntax for type numeric: \"\""))),
    (" ", Err(("22P02", "invalid input syntax for type numeric: \" \""))),
    ("abc", Err(("22P02", "invalid input syntax for type numeric: \"abc\""))),
    ("1.2.3", Err(("22P02", "invalid input syntax for type numeric: \"1.2.3\""))),
    ("1e", Err(("22P02", "invalid input syntax for type numeric: \"1e\""))),
    ("1e+", Err(("22P02", "invalid input syntax for type numeric: \"1e+\""))),
    ("e5", Err(("22P02", "invalid input syntax for type numeric: \"e5\""))),
    (".", Err(("22P02", "invalid input syntax for type numeric: \".\""))),
    ("-", Err(("22P02", "invalid input syntax for type numeric: \"-\""))),
    ("+-1", Err(("22P02", "invalid input syntax for type numeric: \"+-1\""))),
    ("1 2", Err(("22P02", "invalid input syntax for type numeric: \"1 2\""))),
    ("1x", Err(("22P02", "invalid input syntax for type numeric: \"1x\""))),
    ("--1", Err(("22P02", "invalid input syntax for type numeric: \"--1\""))),
    ("-NaN", Err(("22P02", "invalid input syntax for type numeric: \"-NaN\""))),
    ("+NaN", Err(("22P02", "invalid input syntax for type numeric: \"+NaN\""))),
    ("infinit", Err(("22P02", "invalid input syntax for type numeric: \"infinit\""))),
    ("Infinityx", Err(("22P02", "invalid input syntax for type numeric: \"Infinityx\""))),
    ("1e5.5", Err(("22P02", "invalid input syntax for type numeric: \"1e5.5\""))),
    ("0x10", Err(("22P02", "invalid input syntax for type numeric: \"0x10\""))),
    ("1_000", Err(("22P02", "invalid input syntax for type numeric: \"1_000\""))),
    ("1e- 5", Err(("22P02", "invalid input syntax for type numeric: \"1e- 5\""))),
    // "1e131071": long output, checked separately
    // "9e131071": long output, checked separately
    ("1e131072", Err(("22003", "value overflows numeric format"))),
    // "1e-16383": long output, checked separately
    ("1e-16384", Err(("22003", "value overflows numeric format"))),
    ("1e1000000000", Err(("22003", "value overflows numeric format"))),
    ("1e-1000000000", Err(("22003", "value overflows numeric format"))),
    ("1e99999999999999999999", Err(("22003", "value overflows numeric format"))),
];

/// `a op b`, and the result or the error's SQLSTATE (the message is a comment).
pub(super) const ARITHMETIC_CASES: &[(&str, &str, &str, Result<&str, &str>)] = &[
    ("1.50", "+", "2.5", Ok("4.00")),
    ("1.50", "-", "2.5", Ok("-1.00")),
    ("-1.5", "+", "1.50", Ok("0.00")),
    ("0.1", "+", "0.2", Ok("0.3")),
    ("99999.999", "+", "0.001", Ok("100000.000")),
    ("-0.001", "+", "0.001", Ok("0.000")),
    ("1e20", "+", "1e-20", Ok("100000000000000000000.00000000000000000001")),
    ("12.5", "*", "0.40", Ok("5.000")),
    ("-1.10", "*", "3", Ok("-3.30")),
    ("0.00", "*", "-5", Ok("0.00")),
    ("123456789.123", "*", "987654321.98765", Ok("121932631356048848.26033095")),
    ("1", "/", "3", Ok("0.33333333333333333333")),
    ("2", "/", "3", Ok("0.66666666666666666667")),
    ("10", "/", "3.000", Ok("3.3333333333333333")),
    ("1", "/", "7", Ok("0.14285714285714285714")),
    ("1", "/", "8", Ok("0.12500000000000000000")),
    ("100", "/", "7", Ok("14.2857142857142857")),
    ("12345678", "/", "1", Ok("12345678.000000000000")),
    ("1", "/", "12345678", Ok("0.000000081000006642000545")),
    ("1", "/", "0.0001", Ok("10000.0000000000000000")),
    ("9999", "/", "10000", Ok("0.99990000000000000000")),
    ("10000", "/", "9999", Ok("1.0001000100010001")),
    ("-7", "/", "2", Ok("-3.5000000000000000")),
    ("0", "/", "7", Ok("0.00000000000000000000")),
    ("0.000", "/", "7.0", Ok("0.00000000000000000000")),
    ("1.000000000000000000000", "/", "3", Ok("0.333333333333333333333")),
    ("123456789012345678901234567890", "/", "3", Ok("41152263004115226300411522630")),
    ("1", "/", "3e-20", Ok("33333333333333333333.33333333333333333333")),
    ("5e-30", "/", "7", Ok("0.000000000000000000000000000000714285714285714286")),
    ("1", "/", "0", Err("22012")),      // division by zero
    ("0", "/", "0", Err("22012")),      // division by zero
    ("1.5", "/", "0.00", Err("22012")), // division by zero
    ("5.5", "%", "2", Ok("1.5")),
    ("-7", "%", "3", Ok("-1")),
    ("7", "%", "-3", Ok("1")),
    ("7.25", "%", "0.5", Ok("0.25")),
    ("1", "%", "0", Err("22012")), // division by zero
    ("0.0", "%", "3.00", Ok("0.00")),
    ("123456789012345678901234567890", "%", "97", Ok("52")),
    ("Infinity", "-", "Infinity", Ok("NaN")),
    ("Infinity", "+", "Infinity", Ok("Infinity")),
    ("Infinity", "+", "-Infinity", Ok("NaN")),
    ("-Infinity", "-", "Infinity", Ok("-Infinity")),
    ("Infinity", "+", "5", Ok("Infinity")),
    ("5", "-", "Infinity", Ok("-Infinity")),
    ("NaN", "+", "1", Ok("NaN")),
    ("NaN", "-", "Infinity", Ok("NaN")),
    ("Infinity", "*", "0", Ok("NaN")),
    ("Infinity", "*", "-2", Ok("-Infinity")),
    ("-Infinity", "*", "-Infinity", Ok("Infinity")),
    ("0", "*", "-Infinity", Ok("NaN")),
    ("NaN", "*", "0", Ok("NaN")),
    ("Infinity", "/", "Infinity", Ok("NaN")),
    ("Infinity", "/", "-3", Ok("-Infinity")),
    ("-Infinity", "/", "0", Err("22012")), // division by zero
    ("5", "/", "Infinity", Ok("0")),
    ("-5", "/", "-Infinity", Ok("0")),
    ("NaN", "/", "0", Ok("NaN")),
    ("0", "/", "NaN", Ok("NaN")),
    ("Infinity", "%", "3", Ok("NaN")),
    ("Infinity", "%", "0", Err("22012")), // division by zero
    ("5.5", "%", "Infinity", Ok("5.5")),
    ("-5.5", "%", "-Infinity", Ok("-5.5")),
    ("NaN", "%", "0", Ok("NaN")),
    ("9e131071", "+", "9e131071", Err("22003")), // value overflows numeric format
    ("1e70000", "*", "1e70000", Err("22003")),   // value overflows numeric format
];

/// round(x, s) and trunc(x, s).
pub(super) const ROUNDING_CASES: &[(&str, i32, &str, &str)] = &[
    ("2.5", 0, "3", "2"),
    ("-2.5", 0, "-3", "-2"),
    ("0.5", 0, "1", "0"),
    ("-0.5", 0, "-1", "0"),
    ("1.2345", 2, "1.23", "1.23"),
    ("1.235", 2, "1.24", "1.23"),
    ("-1.235", 2, "-1.24", "-1.23"),
    ("1.2", 5, "1.20000", "1.20000"),
    ("1234.5678", -2, "1200", "1200"),
    ("1250", -2, "1300", "1200"),
    ("-1250", -2, "-1300", "-1200"),
    ("9.99", 1, "10.0", "9.9"),
    ("999.5", 0, "1000", "999"),
    ("0.0049", 2, "0.00", "0.00"),
    ("-0.001", 2, "0.00", "0.00"),
    ("49", -2, "0", "0"),
    ("50", -2, "100", "0"),
    ("12345", -10, "0", "0"),
    ("0.9", -1, "0", "0"),
    ("5", -1, "10", "0"),
    ("NaN", 2, "NaN", "NaN"),
    ("Infinity", -3, "Infinity", "Infinity"),
    ("0.000", 1, "0.0", "0.0"),
    // 1.5, 2001: 2003 and 2003 characters
    ("123.456", -2001, "0", "0"),
];

/// x::numeric(precision, scale): the value, or SQLSTATE, message and detail.
pub(super) const TYPMOD_CASES: &[(&str, i32, i32, Result<&str, DetailedFailure>)] = &[
    (
        "1234.567",
        5,
        2,
        Err((
            "22003",
            "numeric field overflow",
            Some("A field with precision 5, scale 2 must round to an absolute value less than 10^3."),
        )),
    ),
    ("123.456", 5, 2, Ok("123.46")),
    (
        "999.995",
        5,
        2,
        Err((
            "22003",
            "numeric field overflow",
            Some("A field with precision 5, scale 2 must round to an absolute value less than 10^3."),
        )),
    ),
    ("999.994", 5, 2, Ok("999.99")),
    (
        "-999.995",
        5,
        2,
        Err((
            "22003",
            "numeric field overflow",
            Some("A field with precision 5, scale 2 must round to an absolute value less than 10^3."),
        )),
    ),
    (
        "0.001",
        2,
        5,
        Err((
            "22003",
            "numeric field overflow",
            Some("A field with precision 2, scale 5 must round to an absolute value less than 10^-3."),
        )),
    ),
    ("0.0001", 2, 5, Ok("0.00010")),
    ("0.00005", 2, 5, Ok("0.00005")),
    (
        "1",
        3,
        3,
        Err((
            "22003",
            "numeric field overflow",
            Some("A field with precision 3, scale 3 must round to an absolute value less than 1."),
        )),
    ),
    (
        "0.9995",
        3,
        3,
        Err((
            "22003",
            "numeric field overflow",
            Some("A field with precision 3, scale 3 must round to an absolute value less than 1."),
        )),
    ),
    ("0.9994", 3, 3, Ok("0.999")),
    ("12345", 3, -2, Ok("12300")),
    (
        "123456",
        3,
        -2,
        Err((
            "22003",
            "numeric field overflow",
            Some("A field with precision 3, scale -2 must round to an absolute value less than 10^5."),
        )),
    ),
    ("5", 1, -1, Ok("10")),
    ("0.5", 2, -1, Ok("0")),
    (
        "-95",
        1,
        -1,
        Err((
            "22003",
            "numeric field overflow",
            Some("A field with precision 1, scale -1 must round to an absolute value less than 10^2."),
        )),
    ),
    ("NaN", 3, 1, Ok("NaN")),
    (
        "Infinity",
        5,
        2,
        Err((
            "22003",
            "numeric field overflow",
            Some("A field with precision 5, scale 2 cannot hold an infinite value."),
        )),
    ),
    (
        "-Infinity",
        1,
        0,
        Err((
            "22003",
            "numeric field overflow",
            Some("A field with precision 1, scale 0 cannot hold an infinite value."),
        )),
    ),
    ("0", 1, 0, Ok("0")),
    (
        "99.5",
        2,
        0,
        Err((
            "22003",
            "numeric field overflow",
            Some("A field with precision 2, scale 0 must round to an absolute value less than 10^2."),
        )),
    ),
    (
        "1.5",
        1000,
        1000,
        Err((
            "22003",
            "numeric field overflow",
            Some("A field with precision 1000, scale 1000 must round to an absolute value less than 1."),
        )),
    ),
    ("1", 0, 0, Err(("22023", "NUMERIC precision 0 must be between 1 and 1000", None))),
    ("1", 1001, 0, Err(("22023", "NUMERIC precision 1001 must be between 1 and 1000", None))),
    ("1", 5, 1001, Err(("22023", "NUMERIC scale 1001 must be between -1000 and 1000", None))),
    ("1", 5, -1001, Err(("22023", "NUMERIC scale -1001 must be between -1000 and 1000", None))),
    ("1", -1, 2, Err(("22023", "NUMERIC precision -1 must be between 1 and 1000", None))),
];

/// x::int8, x::int4 and x::int2: the value, or the SQLSTATE and message.
pub(super) const INTEGER_CASES: &[(&str, &str, &str, &str)] = &[
    ("0", "0", "0", "0"),
    ("2.5", "3", "3", "3"),
    ("-2.5", "-3", "-3", "-3"),
    ("9223372036854775807", "9223372036854775807", "22003 integer out of range", "22003 smallint out of range"),
    ("9223372036854775807.4", "9223372036854775807", "22003 integer out of range", "22003 smallint out of range"),
    ("9223372036854775807.5", "22003 bigint out of range", "22003 integer out of range", "22003 smallint out of range"),
    ("-9223372036854775808", "-9223372036854775808", "22003 integer out of range", "22003 smallint out of range"),
    (
        "-9223372036854775808.5",
        "22003 bigint out of range",
        "22003 integer out of range",
        "22003 smallint out of range",
    ),
    ("-9223372036854775808.4", "-9223372036854775808", "22003 integer out of range", "22003 smallint out of range"),
    ("2147483647.4", "2147483647", "2147483647", "22003 smallint out of range"),
    ("2147483647.5", "2147483648", "22003 integer out of range", "22003 smallint out of range"),
    ("-2147483648.5", "-2147483649", "22003 integer out of range", "22003 smallint out of range"),
    ("32767.5", "32768", "32768", "22003 smallint out of range"),
    ("-32768.4", "-32768", "-32768", "-32768"),
    ("-32768.5", "-32769", "-32769", "22003 smallint out of range"),
    ("1e19", "22003 bigint out of range", "22003 integer out of range", "22003 smallint out of range"),
    ("-1e30", "22003 bigint out of range", "22003 integer out of range", "22003 smallint out of range"),
    ("0.4999", "0", "0", "0"),
    (
        "NaN",
        "0A000 cannot convert NaN to bigint",
        "0A000 cannot convert NaN to integer",
        "0A000 cannot convert NaN to smallint",
    ),
    (
        "Infinity",
        "0A000 cannot convert infinity to bigint",
        "0A000 cannot convert infinity to integer",
        "0A000 cannot convert infinity to smallint",
    ),
    (
        "-Infinity",
        "0A000 cannot convert infinity to bigint",
        "0A000 cannot convert infinity to integer",
        "0A000 cannot convert infinity to smallint",
    ),
];

/// x::float8::numeric.
pub(super) const FLOAT_TO_NUMERIC_CASES: &[(&str, &str)] = &[
    ("0.1", "0.1"),
    // 1e300: 301 characters, starting 10000000000000000000
    // -1e300: 302 characters, starting -1000000000000000000
    ("1.5e-7", "0.00000015"),
    ("-0", "0"),
    ("0", "0"),
    ("123456789012345678", "123456789012346000"),
    ("1000000000000005", "1000000000000000"),
    ("1000000000000015", "1000000000000020"),
    ("0.000125", "0.000125"),
    ("2.5e-5", "0.000025"),
    ("3.141592653589793", "3.14159265358979"),
    // 1e-310: 327 characters, starting 0.000000000000000000
    // 4.9e-324: 340 characters, starting 0.000000000000000000
    // 1.7976931348623157e308: 309 characters, starting 17976931348623200000
    // 2.2250738585072014e-308: 323 characters, starting 0.000000000000000000
    ("100", "100"),
    ("1e15", "1000000000000000"),
    ("1e16", "10000000000000000"),
    ("123.456", "123.456"),
    ("0.30000000000000004", "0.3"),
    ("NaN", "NaN"),
    ("Infinity", "Infinity"),
    ("-Infinity", "-Infinity"),
];

/// x::numeric::float8: float8out's text (the shortest that reads back), or the SQLSTATE.
pub(super) const NUMERIC_TO_FLOAT_CASES: &[(&str, Result<&str, &str>)] = &[
    ("0.1", Ok("0.1")),
    ("0.10000000000000000555", Ok("0.1")),
    ("0.1000000000000000055511151231257827", Ok("0.1")),
    ("-2.5", Ok("-2.5")),
    ("123456789012345678901234567890", Ok("1.2345678901234568e+29")),
    ("1e-310", Ok("1e-310")),
    ("1e308", Ok("1e+308")),
    ("1.7976931348623157e308", Ok("1.7976931348623157e+308")),
    ("1.7976931348623159e308", Err("22003")), // "17976931348623159000000000000000000000000000000000000000000
    ("1e309", Err("22003")),                  // "10000000000000000000000000000000000000000000000000000000000
    ("1e-400", Err("22003")),                 // "0.000000000000000000000000000000000000000000000000000000000
    ("-1e-400", Err("22003")),                // "-0.00000000000000000000000000000000000000000000000000000000
    ("2.4703282292062328e-324", Ok("5e-324")),
    ("2.4703282292062327e-324", Err("22003")), // "0.000000000000000000000000000000000000000000000000000000000
    ("0", Ok("0")),
    ("-0.000", Ok("0")),
    ("NaN", Ok("NaN")),
    ("Infinity", Ok("Infinity")),
    ("-Infinity", Ok("-Infinity")),
];

/// numeric_send(x), in hexadecimal.
pub(super) const WIRE_CASES: &[(&str, &str)] = &[
    ("0", "0000000000000000"),
    ("0.00", "0000000000000002"),
    ("1", "00010000000000000001"),
    ("-12.50", "0002000040000002000c1388"),
    ("12345.6789", "0003000100000004000109291a85"),
    ("0.0001", "0001ffff000000040001"),
    ("0.00001", "0001fffe0000000503e8"),
    ("-0.000012345", "0002fffe4000000904d21388"),
    ("10000", "00010001000000000001"),
    ("100000000", "00010002000000000001"),
    ("1e-16383", "0001f00000003fff000a"),
    ("9999.9999", "0002000000000004270f270f"),
    ("1.5e20", "000200050000000000011388"),
    ("NaN", "00000000c0000000"),
    ("Infinity", "00000000d0000020"),
    ("-Infinity", "00000000f0000020"),
];
