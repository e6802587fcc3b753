//! The types beyond numbers and text, end to end: char(n), bytea, uuid,
//! date, timestamp, timestamptz, interval and jsonb, as columns (primary
//! keys among them), literals, casts, operators and errors. Every expected
//! answer is PostgreSQL 15's for the same statements.

use super::*;

fn session() -> Session<Cluster, TestRuntime> {
    Cluster::new().session(1)
}

#[test]
fn char_and_bytea_columns_pad_compare_and_refuse_as_postgresql_does() {
    let mut session = session();
    assert_eq!(run(&mut session, "create table t (c char(4) primary key, b bytea, v varchar(5))"), "CREATE TABLE");
    assert_eq!(run(&mut session, r"insert into t values ('ab', '\x6162', 'x'), ('b', 'a\\b', 'y')"), "INSERT 0 2");
    assert_eq!(
        run(&mut session, "insert into t values ('abcde', '', 'z')"),
        "ERROR 22001: value too long for type character(4)"
    );
    assert_eq!(
        run(&mut session, "insert into t values ('ab  ', '', 'z')"),
        "ERROR 23505: duplicate key value violates unique constraint \"t_pkey\"",
        "trailing blanks are insignificant, in keys too"
    );
    assert_eq!(run(&mut session, r"insert into t values ('cd   ', '\x', 'z')"), "INSERT 0 1", "excess blanks are cut");
    assert_eq!(
        run(&mut session, "select c || '|', length(c), b, c = 'ab', c from t order by c desc"),
        "?column?|length|b|?column?|c\ncd||2|\\x|f|cd  \nb||1|\\x615c62|f|b   \nab||2|\\x6162|t|ab  \nSELECT 3"
    );
    assert_eq!(run(&mut session, r"select c from t where b = '\x6162'"), "c\nab  \nSELECT 1");
    // A character(n) column outside the key is stored in the row's value.
    assert_eq!(run(&mut session, "create table s (id int primary key, c char(3))"), "CREATE TABLE");
    assert_eq!(run(&mut session, "insert into s values (1, 'a')"), "INSERT 0 1");
    assert_eq!(run(&mut session, "select c || '|', c from s where c = 'a  '"), "?column?|c\na||a  \nSELECT 1");
    assert_eq!(
        run(
            &mut session,
            r"select 'ab'::char(4) = 'ab  '::char(2), 'abcdef'::char(3), cast('x' as character(3)) || '|', 'a'::bpchar, '\x00ff'::bytea::text, 'abc'::text::bytea"
        ),
        "?column?|bpchar|?column?|bpchar|text|bytea\nt|abc|x||a|\\x00ff|\\x616263\nSELECT 1"
    );
    assert_eq!(run(&mut session, r"select '\xzz'::bytea"), "ERROR 22023: invalid hexadecimal digit: \"z\"");
    assert_eq!(
        run(&mut session, r"select '\x0'::bytea"),
        "ERROR 22023: invalid hexadecimal data: odd number of digits"
    );
    assert_eq!(
        run(&mut session, "select 'x'::char(10485761)"),
        "ERROR 22023: length for type char cannot exceed 10485760"
    );
}

#[test]
fn uuid_keys_order_as_bytes() {
    let mut session = session();
    assert_eq!(run(&mut session, "create table u (id uuid primary key, n int)"), "CREATE TABLE");
    assert_eq!(
        run(
            &mut session,
            "insert into u values ('b0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', 1), ('a0eebc999c0b4ef8bb6d6bb9bd380a11', 2)"
        ),
        "INSERT 0 2"
    );
    assert_eq!(
        run(&mut session, "select * from u order by id desc"),
        "id|n\nb0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11|1\na0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11|2\nSELECT 2"
    );
    assert_eq!(
        run(&mut session, "select n from u where id = '{A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11}'"),
        "n\n2\nSELECT 1"
    );
    assert_eq!(
        run(&mut session, "insert into u values ('x', 3)"),
        "ERROR 22P02: invalid input syntax for type uuid: \"x\""
    );
}

#[test]
fn dates_timestamps_and_intervals_store_compute_and_convert_as_postgresql_does() {
    let mut session = session();
    let create = "create table e (at timestamp primary key, day date, zoned timestamptz, span interval)";
    assert_eq!(run(&mut session, create), "CREATE TABLE");
    let insert =
        "insert into e values ('2024-01-02 03:04:05.5', '2024-01-02', '2024-01-02 10:00+02', '1 day 2 hours'), \
                  ('2023-12-31 23:59', date '2023-12-31', '2023-12-31 23:59:59.999999Z', '-1 mons')";
    assert_eq!(run(&mut session, insert), "INSERT 0 2");
    assert_eq!(
        run(&mut session, "select * from e order by at"),
        "at|day|zoned|span\n\
         2023-12-31 23:59:00|2023-12-31|2023-12-31 23:59:59.999999+00|-1 mons\n\
         2024-01-02 03:04:05.5|2024-01-02|2024-01-02 08:00:00+00|1 day 02:00:00\nSELECT 2"
    );
    let arithmetic = "select at + span, day + 1, day - date '2023-12-01', at - timestamp '2023-12-31', \
                      zoned - interval '1 mon', span * 2, day::timestamp, at::date, cast(zoned as date) from e order by at desc";
    assert_eq!(
        run(&mut session, arithmetic).lines().skip(1).collect::<Vec<_>>(),
        [
            "2024-01-03 05:04:05.5|2024-01-03|32|2 days 03:04:05.5|2023-12-02 08:00:00+00|2 days 04:00:00|2024-01-02 00:00:00|2024-01-02|2024-01-02",
            "2023-11-30 23:59:00|2024-01-01|30|23:59:00|2023-11-30 23:59:59.999999+00|-2 mons|2023-12-31 00:00:00|2023-12-31|2023-12-31",
            "SELECT 2",
        ]
    );
    assert_eq!(run(&mut session, "select day from e where day = '2024-01-02'"), "day\n2024-01-02\nSELECT 1");
    assert_eq!(run(&mut session, "select day from e where at = '2023-12-31 23:59'"), "day\n2023-12-31\nSELECT 1");
    assert_eq!(
        run(
            &mut session,
            "select date '2024-01-02', timestamp '2024-01-02 03:04', interval '1 day', '2024-01-02'::date - 1 as d"
        ),
        "date|timestamp|interval|d\n2024-01-02|2024-01-02 03:04:00|1 day|2024-01-01\nSELECT 1"
    );
    assert_eq!(
        run(&mut session, "select date '2024-01-02' + interval '1 hour', date '2024-01-02' < timestamp '2024-01-02 00:00:01', -interval '1 day', interval '3' day"),
        "?column?|?column?|?column?|interval\n2024-01-02 01:00:00|t|-1 days|3 days\nSELECT 1"
    );
}

#[test]
fn timestamptz_is_shown_and_read_in_the_sessions_time_zone() {
    let mut session = session();
    run(&mut session, "create table e (at timestamp primary key, zoned timestamptz)");
    run(&mut session, "insert into e values ('2024-01-02 03:04:05.5', '2024-01-02 10:00+02'), ('2023-12-31 23:59', '2023-12-31 23:59:59.999999Z')");
    assert_eq!(run(&mut session, "set time zone 'Etc/GMT-2'"), "SET");
    assert_eq!(
        run(&mut session, "select zoned, zoned::text, zoned::timestamp, '2024-01-02 10:00'::timestamptz, at::timestamptz from e order by 1"),
        "zoned|zoned|zoned|timestamptz|at\n\
         2024-01-01 01:59:59.999999+02|2024-01-01 01:59:59.999999+02|2024-01-01 01:59:59.999999|2024-01-02 10:00:00+02|2023-12-31 23:59:00+02\n\
         2024-01-02 10:00:00+02|2024-01-02 10:00:00+02|2024-01-02 10:00:00|2024-01-02 10:00:00+02|2024-01-02 03:04:05.5+02\nSELECT 2"
    );
    assert_eq!(
        run(&mut session, "select interval '1 mon' + '2024-01-30 23:00+00'::timestamptz, '2024-01-30 23:00+00'::timestamptz + interval '1 mon'"),
        "?column?|?column?\n2024-02-29 01:00:00+02|2024-02-29 01:00:00+02\nSELECT 1",
        "months move on the session's calendar, constants folded or not"
    );
    assert_eq!(run(&mut session, "set timezone = '+05:30'"), "SET");
    assert_eq!(
        run(&mut session, "select zoned from e order by zoned limit 1"),
        "zoned\n2023-12-31 18:29:59.999999-05:30\nSELECT 1",
        "a POSIX offset counts west"
    );
    assert_eq!(
        run(&mut session, "set timezone = 'Mars/X'"),
        "ERROR 22023: invalid value for parameter \"TimeZone\": \"Mars/X\""
    );
    assert_eq!(
        run(&mut session, "select '2024-01-02 10:00:00 Mars/X'::timestamptz"),
        "ERROR 22023: time zone \"mars/x\" not recognized"
    );
    assert_eq!(
        run(&mut session, "set timezone = default; select zoned from e where zoned > '2024-01-01'"),
        "SET\nzoned\n2024-01-02 08:00:00+00\nSELECT 1"
    );
}

#[test]
fn date_and_time_errors_carry_postgresqls_sqlstates() {
    let mut session = session();
    for (statement, error) in [
        ("select '2024-02-30'::date", "ERROR 22008: date/time field value out of range: \"2024-02-30\""),
        ("select 'x'::date", "ERROR 22007: invalid input syntax for type date: \"x\""),
        ("select 'x'::interval", "ERROR 22007: invalid input syntax for type interval: \"x\""),
        ("select date '2024-01-02' + '1'", "ERROR 42725: operator is not unique: date + unknown"),
        ("select date 'infinity' - date '2024-01-01'", "ERROR 22008: cannot subtract infinite dates"),
        ("select date '5874897-12-31' + 1", "ERROR 22008: date out of range"),
        ("select '178956971 years'::interval", "ERROR 22008: interval out of range"),
        ("select interval '1 day' / 0", "ERROR 22012: division by zero"),
        ("select date '2024-01-02' * 2", "ERROR 42883: operator does not exist: date * integer"),
    ] {
        assert_eq!(run(&mut session, statement), error, "{statement}");
    }
}

#[test]
fn jsonb_is_normalised_and_read_with_arrows() {
    let mut session = session();
    run(&mut session, "create table j (id int primary key, doc jsonb)");
    let insert = r#"insert into j values (1, '{"name": "ada", "tags": ["x", "y"], "age": 36}'), (2, '{"name": "bob", "name": "cy", "age": null}'), (3, '[1, 2]')"#;
    assert_eq!(run(&mut session, insert), "INSERT 0 3");
    assert_eq!(
        run(&mut session, "select id, doc, doc -> 'name', doc ->> 'name', doc -> 'tags' -> 1, doc ->> 'age', doc -> 0 from j order by id")
            .lines()
            .skip(1)
            .collect::<Vec<_>>(),
        [
            r#"1|{"age": 36, "name": "ada", "tags": ["x", "y"]}|"ada"|ada|"y"|36|NULL"#,
            r#"2|{"age": null, "name": "cy"}|"cy"|cy|NULL|NULL|NULL"#,
            "3|[1, 2]|NULL|NULL|NULL|NULL|1",
            "SELECT 3",
        ]
    );
    assert_eq!(run(&mut session, r#"select id from j where doc = '{"age": null, "name": "cy"}'"#), "id\n2\nSELECT 1");
    assert_eq!(run(&mut session, "select id from j where doc ->> 'name' = 'ada'"), "id\n1\nSELECT 1");
    assert_eq!(
        run(&mut session, r#"insert into j values (4, '{"a" 1}')"#),
        "ERROR 22P02: invalid input syntax for type json"
    );
    assert_eq!(run(&mut session, "select '[1,2]'::jsonb ->> -1"), "?column?\n2\nSELECT 1");
}
