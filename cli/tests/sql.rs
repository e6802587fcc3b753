//! SQL over the wire against the real binary: psql 15 as the client (a
//! scripted session), and a node that keeps serving through malformed and
//! truncated protocol messages.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::Duration;

use common::*;

/// Runs `script` through psql against `node`; standard output and error together.
fn psql(node: &Node, script: &str) -> String {
    let path = node.folder.join("script.sql");
    std::fs::write(&path, script).expect("script written");
    let output = Command::new("psql")
        .args(["-X", "-q", "-h", "127.0.0.1", "-p", &node.sql.port().to_string(), "-U", "anyone", "-d", "postgres"])
        .arg("-f")
        .arg(&path)
        .env("PGCONNECT_TIMEOUT", "10")
        .output()
        .expect("psql runs (Debian's postgresql-client; scripts/setup installs it)");
    format!("{}{}", text(&output.stdout), text(&output.stderr))
}

/// The psql output of `script`, with the script path taken out of error lines.
fn session(node: &Node, script: &str) -> String {
    let path = node.folder.join("script.sql").display().to_string();
    psql(node, script).replace(&format!("psql:{path}:"), "line ")
}

async fn started_node(root: &std::path::Path) -> Node {
    let mut node = Node::init(root, "one", free_address(), &[]);
    node.start();
    node.wait_until_serving(Duration::from_secs(30)).await;
    node
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn psql_runs_a_scripted_session_against_one_node() {
    let root = tempfile::tempdir().expect("temporary folder");
    let node = started_node(root.path()).await;
    let output = session(
        &node,
        "create table accounts (id int primary key, owner text not null, balance numeric(10,2) default 0);\n\
         insert into accounts values (1, 'ada', 10.5), (2, 'bob', 3);\n\
         select * from accounts order by id;\n\
         begin;\n\
         update accounts set balance = balance + 1 where id = 2;\n\
         select balance from accounts where id = 2;\n\
         rollback;\n\
         select balance from accounts where id = 2;\n\
         insert into accounts values (1, 'dup', 0);\n\
         select * from nowhere;\n\
         select 1 +;\n\
         show server_version;\n\
         select version();\n",
    );
    let expected = [
        " id | owner | balance \n----+-------+---------\n  1 | ada   |   10.50\n  2 | bob   |    3.00\n(2 rows)\n",
        " balance \n---------\n    4.00\n(1 row)\n",
        " balance \n---------\n    3.00\n(1 row)\n",
        "line 9: ERROR:  duplicate key value violates unique constraint \"accounts_pkey\"\nDETAIL:  Key (id)=(1) already exists.\n",
        "line 10: ERROR:  relation \"nowhere\" does not exist\n",
        "line 11: ERROR:  syntax error at or near \";\"\nLINE 1: select 1 +;\n                  ^\n",
        " server_version \n----------------\n 15.0\n(1 row)\n",
        "PostgreSQL 15.0 (ShardForge",
    ];
    for part in expected {
        assert!(output.contains(part), "missing {part:?} in:\n{output}\nlog:\n{}", node.log_text());
    }
}

/// Sends `bytes` on a new connection and reads until the server closes it or goes quiet.
fn send_raw(node: &Node, bytes: &[u8]) -> Vec<u8> {
    let mut stream = TcpStream::connect(node.sql).expect("connect");
    stream.set_read_timeout(Some(Duration::from_secs(3))).expect("timeout");
    let _ = stream.write_all(bytes);
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    answer
}

fn startup_message() -> Vec<u8> {
    let mut body = Vec::new();
    body.extend_from_slice(&196_608u32.to_be_bytes()); // protocol 3.0
    for part in ["user", "anyone", "database", "postgres"] {
        body.extend_from_slice(part.as_bytes());
        body.push(0);
    }
    body.push(0);
    let mut message = ((body.len() + 4) as u32).to_be_bytes().to_vec();
    message.extend_from_slice(&body);
    message
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_and_truncated_wire_messages_close_only_their_connection() {
    let root = tempfile::tempdir().expect("temporary folder");
    let node = started_node(root.path()).await;
    let mut query_with_a_lying_length = startup_message();
    query_with_a_lying_length.extend_from_slice(b"Q\x7f\xff\xff\xffselect 1");
    let mut truncated_query = startup_message();
    truncated_query.extend_from_slice(b"Q\x00\x00\x00\x0dsel");
    let mut unknown_message = startup_message();
    unknown_message.extend_from_slice(b"\x01\x00\x00\x00\x04");
    let mut garbage_startup = vec![0, 0, 0, 8, 0xde, 0xad, 0xbe, 0xef];
    garbage_startup.extend_from_slice(&[0xff; 64]);
    let huge_startup = [0x7f, 0xff, 0xff, 0xff, 0, 3, 0, 0];
    for bytes in [
        query_with_a_lying_length,
        truncated_query,
        unknown_message,
        garbage_startup,
        huge_startup.to_vec(),
        vec![0, 0],
    ] {
        send_raw(&node, &bytes);
    }
    let output = session(&node, "select 40 + 2 as answer;\n");
    assert!(output.contains(" answer \n--------\n     42\n(1 row)"), "{output}\nlog:\n{}", node.log_text());
}

/// psql output of `script` against `node`, tried again (for up to `limit`)
/// while it fails with one of `transient` (a leader being elected, say).
fn session_until(node: &Node, script: &str, expected: &str, limit: Duration) -> String {
    let deadline = std::time::Instant::now() + limit;
    loop {
        let output = session(node, script);
        if output.contains(expected) || std::time::Instant::now() > deadline {
            return output;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn psql_works_against_any_node_of_three_and_through_a_node_killed_in_the_middle() {
    let root = tempfile::tempdir().expect("temporary folder");
    let addresses: Vec<_> = (0..3).map(|_| free_address()).collect();
    let mut nodes: Vec<Node> =
        (0..3).map(|index| Node::init(root.path(), &format!("n{}", index + 1), addresses[index], &addresses)).collect();
    for node in &mut nodes {
        node.start();
    }
    nodes[0].wait_until_serving(Duration::from_secs(30)).await;
    eventually(Duration::from_secs(20), "every node live", || async {
        let cluster = status(addresses[0]).await?;
        (cluster.nodes.len() == 3 && cluster.nodes.iter().all(|node| node.live)).then_some(())
    })
    .await;
    let created = session(
        &nodes[0],
        "create table items (id int primary key, name text);\ninsert into items values (1, 'one'), (2, 'two');\n",
    );
    assert!(!created.contains("ERROR"), "{created}");
    let read = session(&nodes[1], "select name from items where id = 2;\n");
    assert!(read.contains(" name \n------\n two\n(1 row)"), "another node reads the row: {read}");

    nodes[0].kill();
    let written = session_until(&nodes[2], "insert into items values (3, 'three');\n", "", Duration::from_secs(30));
    let read =
        session_until(&nodes[1], "select id, name from items order by id;\n", "(3 rows)", Duration::from_secs(30));
    assert!(
        read.contains(" id | name  \n----+-------\n  1 | one\n  2 | two\n  3 | three\n(3 rows)"),
        "after the kill: insert said {written:?}; read {read}\nlog of n2:\n{}",
        nodes[1].log_text()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_driver_prepares_binds_and_reads_binary_values_over_the_extended_protocol() {
    use tokio_postgres::error::SqlState;
    use tokio_postgres::types::Type;

    let root = tempfile::tempdir().expect("temporary folder");
    let node = started_node(root.path()).await;
    let address = format!("host=127.0.0.1 port={} user=app dbname=postgres", node.sql.port());
    let (mut client, connection) = tokio_postgres::connect(&address, tokio_postgres::NoTls).await.expect("connects");
    tokio::spawn(connection);
    client
        .batch_execute(
            "create table t (id int primary key, name text, amount bigint, ratio double precision, flag boolean)",
        )
        .await
        .expect("create");
    let insert = client.prepare("insert into t values ($1, $2, $3, $4, $5)").await.expect("prepare");
    assert_eq!(
        insert.params(),
        &[Type::INT4, Type::TEXT, Type::INT8, Type::FLOAT8, Type::BOOL],
        "typed by the catalog"
    );
    for id in 0..10i32 {
        let (name, amount, ratio, flag) = (format!("n{id}"), i64::from(id) * 1_000, f64::from(id) / 4.0, id % 2 == 0);
        assert_eq!(client.execute(&insert, &[&id, &name, &amount, &ratio, &flag]).await.expect("insert"), 1);
    }
    client.execute("insert into t (id) values ($1)", &[&100i32]).await.expect("insert with NULLs");

    let select =
        client.prepare("select name, amount, ratio, flag, id + 1 from t where id = $1").await.expect("prepare");
    let columns: Vec<_> =
        select.columns().iter().map(|column| (column.name().to_string(), column.type_().clone())).collect();
    let expected = [
        ("name", Type::TEXT),
        ("amount", Type::INT8),
        ("ratio", Type::FLOAT8),
        ("flag", Type::BOOL),
        ("?column?", Type::INT4),
    ];
    assert_eq!(columns, expected.map(|(name, data_type)| (name.to_string(), data_type)));
    let row = client.query_one(&select, &[&3i32]).await.expect("one row");
    assert_eq!(
        (
            row.get::<_, String>(0),
            row.get::<_, i64>(1),
            row.get::<_, f64>(2),
            row.get::<_, bool>(3),
            row.get::<_, i32>(4)
        ),
        ("n3".to_string(), 3_000, 0.75, false, 4)
    );
    let nulls = client.query_one(&select, &[&100i32]).await.expect("the row of NULLs");
    assert_eq!((nulls.get::<_, Option<String>>(0), nulls.get::<_, Option<bool>>(3)), (None, None));

    let duplicate = client.execute(&insert, &[&1i32, &"again", &0i64, &0.0f64, &true]).await.unwrap_err();
    assert_eq!(duplicate.code(), Some(&SqlState::UNIQUE_VIOLATION));
    let missing = client.prepare("select * from nowhere where id = $1").await.unwrap_err();
    assert_eq!(missing.code(), Some(&SqlState::UNDEFINED_TABLE), "Parse reports an unknown table");

    // A transaction, and a portal read a few rows at a time.
    let transaction = client.transaction().await.expect("begin");
    transaction.execute("update t set amount = amount + 1 where id = $1", &[&2i32]).await.expect("update");
    let ordered = transaction.prepare("select id from t order by id").await.expect("prepare");
    let portal = transaction.bind(&ordered, &[]).await.expect("bind");
    let first = transaction.query_portal(&portal, 4).await.expect("first rows");
    let rest = transaction.query_portal(&portal, 100).await.expect("the rest");
    let ids: Vec<i32> = first.iter().chain(&rest).map(|row| row.get(0)).collect();
    assert_eq!((first.len(), ids), (4, vec![0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 100]));
    transaction.rollback().await.expect("rollback");
    let amount: i64 = client.query_one("select amount from t where id = 2", &[]).await.expect("row").get(0);
    assert_eq!(amount, 2_000, "the rolled-back update left nothing");
}

/// A value's bytes as the wire carries them in binary, of any type: the
/// driver's raw view, so that the test needs none of tokio-postgres's
/// optional chrono, uuid or serde_json features.
#[derive(Debug, PartialEq)]
struct Raw(Vec<u8>);

impl<'a> tokio_postgres::types::FromSql<'a> for Raw {
    fn from_sql(
        _: &tokio_postgres::types::Type,
        raw: &'a [u8],
    ) -> Result<Raw, Box<dyn std::error::Error + Sync + Send>> {
        Ok(Raw(raw.to_vec()))
    }

    fn accepts(_: &tokio_postgres::types::Type) -> bool {
        true
    }
}

impl tokio_postgres::types::ToSql for Raw {
    fn to_sql(
        &self,
        _: &tokio_postgres::types::Type,
        out: &mut bytes::BytesMut,
    ) -> Result<tokio_postgres::types::IsNull, Box<dyn std::error::Error + Sync + Send>> {
        out.extend_from_slice(&self.0);
        Ok(tokio_postgres::types::IsNull::No)
    }

    fn accepts(_: &tokio_postgres::types::Type) -> bool {
        true
    }

    tokio_postgres::types::to_sql_checked!();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_date_time_uuid_bytea_char_and_jsonb_types_round_trip_in_binary() {
    use tokio_postgres::types::Type;

    let root = tempfile::tempdir().expect("temporary folder");
    let node = started_node(root.path()).await;
    let address = format!("host=127.0.0.1 port={} user=app dbname=postgres", node.sql.port());
    let (client, connection) = tokio_postgres::connect(&address, tokio_postgres::NoTls).await.expect("connects");
    tokio::spawn(connection);
    client
        .batch_execute(
            "set timezone = 'Etc/GMT-2'; create table w (id uuid primary key, c char(4), b bytea, d date, \
             ts timestamp, tz timestamptz, span interval, doc jsonb)",
        )
        .await
        .expect("create");
    let insert = client.prepare("insert into w values ($1, $2, $3, $4, $5, $6, $7, $8)").await.expect("prepare");
    let types = [
        Type::UUID,
        Type::BPCHAR,
        Type::BYTEA,
        Type::DATE,
        Type::TIMESTAMP,
        Type::TIMESTAMPTZ,
        Type::INTERVAL,
        Type::JSONB,
    ];
    assert_eq!(insert.params(), &types, "typed by the catalog");
    // PostgreSQL's binary formats: 2024-01-02 is day 8767 after 2000-01-01; the
    // timestamp 8767 days and 03:04:05.5 of microseconds; the timestamptz 10:00 UTC
    // that day; `1 year 2 mons 3 days 04:05:06` as micros, days, months.
    let uuid: Vec<u8> = (0xa0..0xb0).collect();
    let timestamp = 8767i64 * 86_400_000_000 + 11_045_500_000;
    let instant = 8767i64 * 86_400_000_000 + 36_000_000_000;
    let interval = [&14_706_000_000i64.to_be_bytes()[..], &3i32.to_be_bytes(), &14i32.to_be_bytes()].concat();
    let values = [
        Raw(uuid.clone()),
        Raw(b"ab".to_vec()),
        Raw(vec![0, 0x5c, 0xff]),
        Raw(8767i32.to_be_bytes().to_vec()),
        Raw(timestamp.to_be_bytes().to_vec()),
        Raw(instant.to_be_bytes().to_vec()),
        Raw(interval.clone()),
        Raw(b"\x01{\"b\": [1.50], \"a\": null}".to_vec()),
    ];
    let parameters: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> =
        values.iter().map(|value| value as &(dyn tokio_postgres::types::ToSql + Sync)).collect();
    assert_eq!(client.execute(&insert, &parameters).await.expect("insert"), 1);

    let row = client.query_one("select * from w where id = $1", &[&Raw(uuid.clone())]).await.expect("the row");
    let read: Vec<Raw> = (0..8).map(|index| row.get(index)).collect();
    let stored = [
        Raw(uuid),
        Raw(b"ab  ".to_vec()),
        Raw(vec![0, 0x5c, 0xff]),
        Raw(8767i32.to_be_bytes().to_vec()),
        Raw(timestamp.to_be_bytes().to_vec()),
        Raw(instant.to_be_bytes().to_vec()),
        Raw(interval),
        Raw(b"\x01{\"a\": null, \"b\": [1.50]}".to_vec()),
    ];
    assert_eq!(read, stored, "char padded, jsonb normalised, the rest as sent");
    let columns: Vec<Type> = row.columns().iter().map(|column| column.type_().clone()).collect();
    assert_eq!(columns, types);

    let texts = client
        .query_one("select id::text, c::text, b::text, d::text, ts::text, tz::text, span::text, doc::text from w", &[])
        .await
        .expect("the row as text");
    let texts: Vec<String> = (0..8).map(|index| texts.get(index)).collect();
    assert_eq!(
        texts,
        [
            "a0a1a2a3-a4a5-a6a7-a8a9-aaabacadaeaf",
            "ab",
            "\\x005cff",
            "2024-01-02",
            "2024-01-02 03:04:05.5",
            "2024-01-02 12:00:00+02",
            "1 year 2 mons 3 days 04:05:06",
            "{\"a\": null, \"b\": [1.50]}",
        ],
        "the text forms, the timestamptz in the session's zone"
    );
    // A timestamptz parameter in text without a zone is local time of the session's zone.
    let local =
        client.query_one("select $1::text::timestamptz = tz from w", &[&"2024-01-02 12:00"]).await.expect("compared");
    assert!(local.get::<_, bool>(0));
}
