//! Setting up what the load needs, through the engine's own APIs: afnemers with a rate and
//! an API key, the berichttype each afnemer uses, and citizens with a box.
//!
//! Everything here may be run again against the same engine: an afnemer that exists is
//! registered again (200), and a citizen whose box is open already answers 409, which is
//! taken as done.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail};
use reqwest::header::{AUTHORIZATION, HeaderValue};
use serde::Serialize;
use serde_json::json;
use tokio::task::JoinSet;

use crate::ids;
use crate::payload::BERICHT_TYPE;
use crate::scenario::Scenario;

/// Requests the set-up sends at once.
const SETUP_CONCURRENCY: usize = 16;

/// The engine's address and an HTTP client.
#[derive(Debug, Clone)]
pub struct Api {
    pub client: reqwest::Client,
    pub base: String,
}

impl Api {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }
}

/// `Authorization: Bearer <token>`, made once and cloned per request.
pub fn bearer(token: &str) -> anyhow::Result<HeaderValue> {
    HeaderValue::from_str(&format!("Bearer {token}")).context("token is not a header value")
}

/// A registered afnemer.
#[derive(Debug, Clone)]
pub struct Afnemer {
    pub group: usize,
    pub oin: String,
    pub key: HeaderValue,
}

async fn expect_status(
    response: reqwest::Response,
    ok: &[u16],
    what: &str,
) -> anyhow::Result<reqwest::Response> {
    let status = response.status().as_u16();
    if ok.contains(&status) {
        return Ok(response);
    }
    let body = response.text().await.unwrap_or_default();
    bail!("{what}: answered {status}: {body}");
}

async fn register(
    api: Api,
    beheer: HeaderValue,
    index: u16,
    group: usize,
    group_name: String,
    rate: Option<u32>,
    burst: Option<u32>,
) -> anyhow::Result<Afnemer> {
    let oin = ids::oin(index);
    let mut body = json!({ "naam": format!("Loadtest {group_name} {index}"), "actief": true });
    if let Some(rate) = rate {
        body["berichtenPerSeconde"] = json!(rate);
    }
    if let Some(burst) = burst {
        body["burst"] = json!(burst);
    }
    let response = api
        .client
        .put(api.url(&format!("/v1/beheer/afnemers/{oin}")))
        .header(AUTHORIZATION, beheer.clone())
        .json(&body)
        .send()
        .await
        .context("PUT /v1/beheer/afnemers")?;
    expect_status(
        response,
        &[200, 201],
        &format!("PUT /v1/beheer/afnemers/{oin}"),
    )
    .await?;

    let response = api
        .client
        .post(api.url(&format!("/v1/beheer/afnemers/{oin}/api-sleutels")))
        .header(AUTHORIZATION, beheer)
        .send()
        .await
        .context("POST api-sleutels")?;
    let response = expect_status(response, &[201], "POST api-sleutels").await?;
    let sleutel: serde_json::Value = response.json().await.context("api-sleutels JSON")?;
    let sleutel = sleutel["sleutel"]
        .as_str()
        .context("api-sleutels answer without sleutel")?;
    let key = bearer(sleutel)?;

    let response = api
        .client
        .put(api.url(&format!("/v1/berichttypen/{BERICHT_TYPE}")))
        .header(AUTHORIZATION, key.clone())
        .json(&json!({ "omschrijving": "Brief van de loadtest", "actief": true }))
        .send()
        .await
        .context("PUT /v1/berichttypen")?;
    expect_status(response, &[200, 201], "PUT /v1/berichttypen").await?;
    Ok(Afnemer { group, oin, key })
}

/// Registers every afnemer of the scenario, with a fresh API key and the berichttype.
pub async fn afnemers(
    api: &Api,
    beheer_token: &str,
    scenario: &Scenario,
) -> anyhow::Result<Vec<Afnemer>> {
    let beheer = bearer(beheer_token)?;
    let mut jobs = Vec::new();
    let mut index: u16 = 0;
    for (group, spec) in scenario.afnemers.iter().enumerate() {
        for _ in 0..spec.count {
            jobs.push((index, group, spec.name.clone(), spec.rate, spec.burst));
            index = index.saturating_add(1);
        }
    }
    let results = bounded(jobs, |(index, group, name, rate, burst)| {
        register(api.clone(), beheer.clone(), index, group, name, rate, burst)
    })
    .await?;
    Ok(results)
}

#[derive(Debug, Serialize)]
struct Claims<'a> {
    sub: &'a str,
    iat: u64,
    exp: u64,
}

/// A citizen's bearer token, as the portal would make it: HS256, `sub` the BSN.
pub fn citizen_token(bsn: &str, secret: &str, valid: Duration) -> anyhow::Result<HeaderValue> {
    let now = jsonwebtoken::get_current_timestamp();
    let claims = Claims {
        sub: bsn,
        iat: now,
        exp: now + valid.as_secs(),
    };
    let token = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
    )
    .context("sign citizen token")?;
    bearer(&token)
}

/// Citizens with an open box: their BSNs and tokens, in the same order.
#[derive(Debug, Clone)]
pub struct Citizens {
    pub bsns: Arc<Vec<String>>,
    pub tokens: Arc<Vec<HeaderValue>>,
}

/// Makes the scenario's citizens and opens a box for each (`POST /v1/account`).
pub async fn citizens(
    api: &Api,
    secret: &str,
    scenario: &Scenario,
    token_validity: Duration,
) -> anyhow::Result<Citizens> {
    let bsns = ids::bsns(ids::CITIZEN_PREFIX, scenario.citizens.accounts as usize);
    let tokens = bsns
        .iter()
        .map(|bsn| citizen_token(bsn, secret, token_validity))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let email = scenario.citizens.email;
    let jobs: Vec<(String, HeaderValue)> =
        bsns.iter().cloned().zip(tokens.iter().cloned()).collect();
    bounded(jobs, |(bsn, token)| {
        let api = api.clone();
        async move {
            let body = if email {
                json!({ "email": format!("burger-{bsn}@example.nl") })
            } else {
                json!({})
            };
            let response = api
                .client
                .post(api.url("/v1/account"))
                .header(AUTHORIZATION, token)
                .json(&body)
                .send()
                .await
                .context("POST /v1/account")?;
            // 409: the box is open already (an earlier run).
            expect_status(response, &[201, 409], "POST /v1/account").await?;
            Ok(())
        }
    })
    .await?;
    Ok(Citizens {
        bsns: Arc::new(bsns),
        tokens: Arc::new(tokens),
    })
}

/// Runs `job` for every item, at most [`SETUP_CONCURRENCY`] at once; answers the results
/// in the items' order, or the first error.
async fn bounded<I, T, F, Fut>(items: Vec<I>, job: F) -> anyhow::Result<Vec<T>>
where
    F: Fn(I) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<T>> + Send + 'static,
    T: Send + 'static,
{
    let total = items.len();
    let mut results: Vec<Option<T>> = (0..total).map(|_| None).collect();
    let mut set = JoinSet::new();
    let mut items = items.into_iter().enumerate();
    loop {
        while set.len() < SETUP_CONCURRENCY {
            let Some((position, item)) = items.next() else {
                break;
            };
            let future = job(item);
            set.spawn(async move { (position, future.await) });
        }
        let Some(done) = set.join_next().await else {
            break;
        };
        let (position, result) = done.context("set-up task")?;
        results[position] = Some(result?);
    }
    results
        .into_iter()
        .map(|r| r.context("set-up result missing"))
        .collect()
}
