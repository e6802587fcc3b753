//! Inner, left and cross joins; expected answers are PostgreSQL 15's.

use super::*;

fn tables() -> Session<Cluster, TestRuntime> {
    let mut session = Cluster::new().session(1);
    run(
        &mut session,
        "create table j1 (id int primary key, name text); \
         create table j2 (id int primary key, j1_id int, amount int); \
         create table j3 (k bigint primary key, label text); \
         insert into j1 values (1, 'ada'), (2, 'bob'), (3, 'cy'); \
         insert into j2 values (10, 1, 5), (11, 1, 7), (12, 2, 1), (13, null, 9), (14, 9, 2); \
         insert into j3 values (5, 'five'), (7, 'seven')",
    );
    session
}

#[test]
fn joins_pair_rows_as_postgresql_does() {
    let mut session = tables();
    let cases = [
        (
            "select j1.name, j2.amount from j1 join j2 on j2.j1_id = j1.id order by 1, 2",
            "name|amount\nada|5\nada|7\nbob|1\nSELECT 3",
        ),
        (
            "select j1.name, j2.amount from j1 left join j2 on j2.j1_id = j1.id order by 1, 2",
            "name|amount\nada|5\nada|7\nbob|1\ncy|NULL\nSELECT 4",
        ),
        (
            "select a.name, b.id from j1 a left join j2 b on b.j1_id = a.id and b.amount > 5 order by 1, 2",
            "name|id\nada|11\nbob|NULL\ncy|NULL\nSELECT 3",
        ),
        (
            "select j1.name, j2.amount, j3.label from j1 join j2 on j1.id = j2.j1_id join j3 on j3.k = j2.amount order by 1, 2",
            "name|amount|label\nada|5|five\nada|7|seven\nSELECT 2",
        ),
        ("select count(*) from j1, j2", "count\n15\nSELECT 1"),
        (
            "select j1.id, j2.id from j1, j2 where j1.id = j2.j1_id and j1.id = 1 order by 2",
            "id|id\n1|10\n1|11\nSELECT 2",
        ),
        (
            "select j1.*, j2.amount from j1 join j2 on j1.id = j2.j1_id where j2.amount < 6 order by j2.amount",
            "id|name|amount\n2|bob|1\n1|ada|5\nSELECT 2",
        ),
        (
            "select * from j1 join j2 on j1.id < j2.j1_id order by j1.id, j2.id",
            "id|name|id|j1_id|amount\n1|ada|12|2|1\n1|ada|14|9|2\n2|bob|14|9|2\n3|cy|14|9|2\nSELECT 4",
        ),
        (
            "select name, sum(amount) from j1 left join j2 on j1.id = j2.j1_id group by name order by name",
            "name|sum\nada|12\nbob|1\ncy|NULL\nSELECT 3",
        ),
        ("select * from j1 join j1 on true", "ERROR 42712: table name \"j1\" specified more than once"),
        ("select id from j1 join j2 on true", "ERROR 42702: column reference \"id\" is ambiguous"),
        (
            "select j1.id from j1 left join j2 on j1.id = j2.j1_id where j2.id is null order by 1",
            "id\n3\nSELECT 1",
        ),
        ("select * from j1 right join j2 on true", "ERROR 0A000: the join RIGHT JOIN is not supported"),
    ];
    for (query, expected) in cases {
        assert_eq!(run(&mut session, query), expected, "{query}");
    }
}

#[test]
fn a_join_keys_on_its_equalities_and_takes_where_conjuncts_into_its_sides() {
    let mut session = tables();
    let plan =
        run(&mut session, "explain select * from j1 join j2 on j2.j1_id = j1.id where j1.id = 1 and j2.amount > 0");
    assert_eq!(
        plan,
        "QUERY PLAN\nHash join on #0 = right #1\n->  Point lookup on j1@j1_pkey (1)\n->  Filter: (#2 > 0)\n      ->  Scan on j2 (primary key order)\nEXPLAIN"
    );
    // A LEFT join's right side is not filtered early: the WHERE must see its NULLs.
    let plan = run(&mut session, "explain select * from j1 left join j2 on j2.j1_id = j1.id where j2.id is null");
    assert!(plan.starts_with("QUERY PLAN\nFilter: (#2 IS NULL)\n->  Hash join left on #0 = right #1"), "{plan}");
    // A join whose keys hold NULLs matches nothing on them.
    assert_eq!(run(&mut session, "select count(*) from j2 a join j2 b on a.j1_id = b.j1_id"), "count\n6\nSELECT 1");
}
