//! Spike: exercise the `scylla` crate against Apache Cassandra 5.
//! usage: scylla-spike [nodes=127.0.0.1:9042[,..]] [rf=1]
use std::ops::ControlFlow;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::TryStreamExt;
use scylla::client::caching_session::CachingSession;
use scylla::client::execution_profile::ExecutionProfile;
use scylla::client::session::Session;
use scylla::client::session_builder::SessionBuilder;
use scylla::policies::retry::DefaultRetryPolicy;
use scylla::response::query_result::QueryResult;
use scylla::response::PagingState;
use scylla::statement::batch::{Batch, BatchType};
use scylla::statement::{Consistency, SerialConsistency, Statement};
use scylla::value::{CqlValue, Row};

macro_rules! step {
    ($t0:expr, $($arg:tt)*) => { println!("[{:>7.3}s] {}", $t0.elapsed().as_secs_f64(), format!($($arg)*)) };
}

type BoxErr = Box<dyn std::error::Error + Send + Sync>;

/// `[applied]` of an LWT result. Cassandra sends only `[applied]` when the
/// condition held and `[applied]` + the current row when it did not (ScyllaDB
/// always sends the full row), so the column count varies: decode untyped.
fn lwt_applied(res: QueryResult) -> Result<bool, BoxErr> {
    let rows = res.into_rows_result()?;
    let (idx, _) = rows
        .column_specs()
        .get_by_name("[applied]")
        .ok_or("no [applied] column")?;
    let row: Row = rows.first_row()?;
    match row.columns.get(idx) {
        Some(Some(CqlValue::Boolean(b))) => Ok(*b),
        other => Err(format!("unexpected [applied] value {other:?}").into()),
    }
}

#[tokio::main]
async fn main() -> Result<(), BoxErr> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "warn".into()),
        )
        .init();
    let args: Vec<String> = std::env::args().collect();
    let nodes: Vec<String> = args
        .get(1)
        .map(String::as_str)
        .unwrap_or("127.0.0.1:9042")
        .split(',')
        .map(str::to_owned)
        .collect();
    let rf: u32 = args.get(2).map(|s| s.parse()).transpose()?.unwrap_or(1);
    let ks = format!("spike_rs_rf{rf}");

    let t0 = Instant::now();
    let profile = ExecutionProfile::builder()
        .consistency(Consistency::LocalQuorum)
        .serial_consistency(Some(SerialConsistency::LocalSerial))
        .request_timeout(Some(Duration::from_secs(5)))
        .retry_policy(Arc::new(DefaultRetryPolicy::new()))
        .build();
    let session: Session = SessionBuilder::new()
        .known_nodes(&nodes)
        .connection_timeout(Duration::from_secs(5))
        .default_execution_profile_handle(profile.into_handle())
        .build()
        .await?;
    step!(t0, "connected in {:?}", t0.elapsed());

    let (ver,): (String,) = session
        .query_unpaged("SELECT release_version FROM system.local", &[])
        .await?
        .into_rows_result()?
        .single_row()?;
    let clients: Vec<(Option<String>, Option<String>, Option<i32>)> = session
        .query_unpaged(
            "SELECT driver_name, driver_version, protocol_version FROM system_views.clients",
            &[],
        )
        .await?
        .into_rows_result()?
        .rows()?
        .collect::<Result<_, _>>()?;
    step!(t0, "server-side view of client connections: {clients:?}");
    let cs = session.get_cluster_state();
    step!(t0, "server {ver}; nodes known to driver: {}", cs.get_nodes_info().len());

    let t1 = Instant::now();
    session
        .query_unpaged(
            format!(
                "CREATE KEYSPACE IF NOT EXISTS {ks} WITH replication = \
                 {{'class': 'SimpleStrategy', 'replication_factor': {rf}}}"
            ),
            &[],
        )
        .await?;
    session
        .query_unpaged(
            format!(
                "CREATE TABLE IF NOT EXISTS {ks}.msg \
                 (box text, seq int, body text, PRIMARY KEY (box, seq))"
            ),
            &[],
        )
        .await?;
    session
        .query_unpaged(
            format!("CREATE TABLE IF NOT EXISTS {ks}.uniq (k text PRIMARY KEY, owner text)"),
            &[],
        )
        .await?;
    step!(t0, "schema (3 DDL, schema agreement awaited) in {:?}", t1.elapsed());

    // prepared insert, idempotent
    let mut ins = session
        .prepare(format!("INSERT INTO {ks}.msg (box, seq, body) VALUES (?, ?, ?)"))
        .await?;
    ins.set_is_idempotent(true);
    let run = uuid::Uuid::new_v4().simple().to_string();
    let box1 = format!("b1-{run}");
    let box2 = format!("b2-{run}");
    let t2 = Instant::now();
    for i in 0..25_i32 {
        session
            .execute_unpaged(&ins, (&box1, i, format!("body {i}")))
            .await?;
    }
    step!(t0, "25 prepared inserts in {:?}", t2.elapsed());

    // logged batch of prepared statements
    let mut batch = Batch::new(BatchType::Logged);
    batch.append_statement(ins.clone());
    batch.append_statement(ins.clone());
    batch.set_is_idempotent(true);
    let res = session
        .batch(&batch, ((&box2, 1_i32, "a"), (&box2, 2_i32, "b")))
        .await?;
    let warns: Vec<&str> = res.warnings().collect();
    step!(t0, "logged batch ok, warnings {warns:?}");

    // typed select
    let mut sel = session
        .prepare(format!("SELECT seq, body FROM {ks}.msg WHERE box = ?"))
        .await?;
    sel.set_is_idempotent(true);
    sel.set_page_size(10);
    let rows = session
        .execute_unpaged(&sel, (&box2,))
        .await?
        .into_rows_result()?;
    let got: Vec<(i32, String)> = rows.rows::<(i32, String)>()?.collect::<Result<_, _>>()?;
    step!(t0, "select box2 -> {got:?}");

    // paging: stream of all pages
    let all: Vec<(i32, String)> = session
        .execute_iter(sel.clone(), (&box1,))
        .await?
        .rows_stream::<(i32, String)>()?
        .try_collect()
        .await?;
    // paging: manual single pages
    let mut state = PagingState::start();
    let (mut pages, mut total) = (0, 0);
    loop {
        let (res, resp) = session.execute_single_page(&sel, (&box1,), state).await?;
        pages += 1;
        total += res.into_rows_result()?.rows_num();
        match resp.into_paging_control_flow() {
            ControlFlow::Break(()) => break,
            ControlFlow::Continue(next) => state = next,
        }
    }
    step!(t0, "execute_iter rows {}; execute_single_page {pages} pages / {total} rows", all.len());

    // LWT
    let lwt = session
        .prepare(format!("INSERT INTO {ks}.uniq (k, owner) VALUES (?, ?) IF NOT EXISTS"))
        .await?;
    step!(t0, "prepared LWT is_confirmed_lwt() = {} (ScyllaDB-only flag)", lwt.is_confirmed_lwt());
    let key = format!("k-{run}");
    let first = session.execute_unpaged(&lwt, (&key, "alice")).await?;
    let cols1 = first.clone().into_rows_result()?.column_specs().len();
    let a1 = lwt_applied(first)?;
    let second = session.execute_unpaged(&lwt, (&key, "bob")).await?;
    let cols2 = second.clone().into_rows_result()?.column_specs().len();
    let a2 = lwt_applied(second)?;
    step!(t0, "LWT first applied={a1} ({cols1} cols), second applied={a2} ({cols2} cols)");

    // TTL
    let ttl_ins = session
        .prepare(format!("INSERT INTO {ks}.uniq (k, owner) VALUES (?, ?) USING TTL ?"))
        .await?;
    let tkey = format!("t-{run}");
    session.execute_unpaged(&ttl_ins, (&tkey, "tmp", 2_i32)).await?;
    let mut q = Statement::new(format!("SELECT owner, TTL(owner) FROM {ks}.uniq WHERE k = ?"));
    q.set_consistency(Consistency::One); // per-statement override
    q.set_request_timeout(Some(Duration::from_secs(2)));
    let (o, ttl): (String, Option<i32>) = session
        .query_unpaged(q.clone(), (&tkey,))
        .await?
        .into_rows_result()?
        .single_row()?;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let gone = session
        .query_unpaged(q, (&tkey,))
        .await?
        .into_rows_result()?
        .maybe_first_row::<(String, Option<i32>)>()?;
    step!(t0, "TTL row ({o}, {ttl:?}); after 2.5s: {gone:?}");

    // prepared-statement cache
    let caching: CachingSession = CachingSession::from(session, 128);
    for _ in 0..3 {
        let (n,): (i64,) = caching
            .execute_unpaged(format!("SELECT count(*) FROM {ks}.msg WHERE box = ?"), (&box1,))
            .await?
            .into_rows_result()?
            .single_row()?;
        assert_eq!(n, 25);
    }
    step!(t0, "CachingSession ok; total {:?}", t0.elapsed());
    Ok(())
}
