//! The Leveranciersportaal over real HTTP, as a browser without script would use it: the
//! sign-in form with its CSRF cookie, the session cookie, each page, the CSV, sign-out; and
//! what must be refused (a forged or expired cookie, a missing CSRF token, another afnemer's
//! data, a revoked key). The browser's own view (rendering, accessibility, 320 px) is
//! `portaal_browser`'s.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use actix_web::cookie::{Cookie, SameSite};
use serde_json::json;

use crate::support::pki::TestCa;
use berichtenbox_actors::core::clock::Clock as _;

use crate::support::clients::Afnemer;
use crate::support::{Engine, EngineBuilder, Reply, bsn, guid, oin, send};

const DEADLINE: Duration = Duration::from_secs(30);

/// A browser without script: keeps the portal's cookies, follows no redirect by itself.
struct Bezoeker {
    base: String,
    client: reqwest::blocking::Client,
    cookies: Mutex<BTreeMap<String, String>>,
}

impl Bezoeker {
    fn new(engine: &Engine) -> Self {
        Self::with(
            engine.base.clone(),
            reqwest::blocking::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("client"),
        )
    }

    fn with(base: String, client: reqwest::blocking::Client) -> Self {
        Self {
            base,
            client,
            cookies: Mutex::new(BTreeMap::new()),
        }
    }

    fn cookie_header(&self) -> String {
        let cookies = self.cookies.lock().expect("cookies");
        cookies
            .iter()
            .map(|(name, value)| format!("{name}={value}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// Keeps what the answer's `Set-Cookie` headers set, and forgets what they remove.
    fn remember(&self, reply: &Reply) -> Vec<Cookie<'static>> {
        let mut set = Vec::new();
        for value in reply.headers.get_all("set-cookie") {
            let cookie = Cookie::parse(value.to_str().expect("text").to_owned()).expect("cookie");
            let mut cookies = self.cookies.lock().expect("cookies");
            if cookie.value().is_empty() {
                cookies.remove(cookie.name());
            } else {
                cookies.insert(cookie.name().to_owned(), cookie.value().to_owned());
            }
            set.push(cookie);
        }
        set
    }

    fn get(&self, path: &str) -> Reply {
        let reply = send(
            self.client
                .get(format!("{}{path}", self.base))
                .header("Cookie", self.cookie_header()),
        );
        self.remember(&reply);
        reply
    }

    fn post(&self, path: &str, form: &[(&str, &str)]) -> Reply {
        let reply = send(
            self.client
                .post(format!("{}{path}", self.base))
                .header("Cookie", self.cookie_header())
                .form(form),
        );
        self.remember(&reply);
        reply
    }

    /// Signs in with `sleutel` through the form; answers the POST's reply.
    fn inloggen(&self, sleutel: &str) -> Reply {
        let form = self.get("/leveranciersportaal");
        assert_eq!(form.status, 200, "{}", form.text());
        let csrf = csrf(&form.text());
        self.post(
            "/leveranciersportaal/inloggen",
            &[("sleutel", sleutel), ("csrf", &csrf)],
        )
    }

    fn set_cookie(&self, name: &str, value: &str) {
        self.cookies
            .lock()
            .expect("cookies")
            .insert(name.to_owned(), value.to_owned());
    }

    fn session(&self) -> Option<String> {
        self.cookies
            .lock()
            .expect("cookies")
            .get("portaal_sessie")
            .cloned()
    }
}

/// The value of the page's (first) `csrf` field.
fn csrf(html: &str) -> String {
    let at = html
        .find(r#"name="csrf" value=""#)
        .unwrap_or_else(|| panic!("no csrf field in {html}"));
    let rest = &html[at + r#"name="csrf" value=""#.len()..];
    rest[..rest.find('"').expect("closing quote")].to_owned()
}

/// Whether the page is the sign-in form.
fn is_sign_in(reply: &Reply) -> bool {
    reply.status == 200 && reply.text().contains(r#"<form id="inloggen""#)
}

/// An afnemer with berichttype AANSLAG; its batch of three: one to a citizen with a box
/// (Verwerkt), one to a citizen without (NietActiefOfGeabonneerd), one of a berichttype it did
/// not register (BerichtTypeNietOndersteund). Answers the batch id and the three berichtIds.
pub(crate) fn deliver_mixed(engine: &Engine, afnemer: &Afnemer, n: u32) -> (String, [String; 3]) {
    let met_box = bsn(9100 + n);
    engine.open_box(&met_box);
    let ids = [guid(9100 + n, 1), guid(9100 + n, 2), guid(9100 + n, 3)];
    let batch = json!({
        "batchId": guid(9100 + n, 0xffff),
        "aanmaakDatum": engine.clock.now().round(jiff::Unit::Second).expect("round").to_string(),
        "berichten": [
            { "berichtId": ids[0], "berichtType": "AANSLAG", "ontvanger": met_box, "onderwerp": "Uw aanslag", "tekst": "Zie bijlage." },
            { "berichtId": ids[1], "berichtType": "AANSLAG", "ontvanger": bsn(9150 + n), "onderwerp": "Uw aanslag", "tekst": "Zie bijlage." },
            { "berichtId": ids[2], "berichtType": "ONBEKEND", "ontvanger": met_box, "onderwerp": "Uw aanslag", "tekst": "Zie bijlage." },
        ],
    });
    let reply = afnemer.deliver(&batch);
    assert_eq!(reply.status, 202, "{}", reply.text());
    let batch_id = batch["batchId"].as_str().expect("id").to_owned();
    afnemer.wait_processed(&batch_id, DEADLINE);
    (batch_id, ids)
}

#[test]
fn an_afnemer_signs_in_sees_its_own_traffic_and_signs_out() {
    let dir = tempfile::tempdir().expect("tempdir");
    let engine = Engine::start(dir.path());
    let a = engine
        .beheer()
        .afnemer_with_aanslag(&oin(9101), json!({ "naam": "Gemeente Aadorp" }));
    let b = engine
        .beheer()
        .afnemer_with_aanslag(&oin(9102), json!({ "naam": "Waterschap Bedijk" }));
    let (batch_a, ids_a) = deliver_mixed(&engine, &a, 1);
    let (batch_b, ids_b) = deliver_mixed(&engine, &b, 2);

    let bezoeker = Bezoeker::new(&engine);
    let reply = bezoeker.inloggen(&a.key);
    assert_eq!(reply.status, 303, "{}", reply.text());
    assert_eq!(reply.header("location"), Some("/leveranciersportaal"));
    let sessie = bezoeker.remember(&reply);
    let cookie = sessie
        .iter()
        .find(|c| c.name() == "portaal_sessie")
        .expect("a session cookie");
    assert_eq!(cookie.http_only(), Some(true));
    assert_eq!(cookie.same_site(), Some(SameSite::Strict));
    assert_eq!(cookie.path(), Some("/leveranciersportaal"));
    assert_eq!(cookie.secure(), None, "no Secure without TLS");

    // The overview: today's counts of A alone, its name, no script.
    let overzicht = bezoeker.get("/leveranciersportaal");
    assert_eq!(overzicht.status, 200);
    let html = overzicht.text();
    assert!(html.contains("Gemeente Aadorp"), "{html}");
    assert!(!html.contains("Waterschap Bedijk"));
    assert!(
        html.contains(r#"<dd id="vandaag-aangeboden">3</dd>"#),
        "{html}"
    );
    assert!(
        html.contains(r#"<dd id="vandaag-verwerkt">1</dd>"#),
        "{html}"
    );
    assert!(
        html.contains(r#"<dd id="vandaag-afgewezen">2</dd>"#),
        "{html}"
    );
    assert!(html.contains(r#"role="img""#));
    assert!(!html.contains("<script"));
    assert_eq!(overzicht.header("cache-control"), Some("no-store"));
    let csp = overzicht.header("content-security-policy").expect("CSP");
    assert!(csp.contains("default-src 'none'") && csp.contains("frame-ancestors 'none'"));
    assert_eq!(overzicht.header("x-frame-options"), Some("DENY"));

    // Batches: A's, with its receipt; B's batch is not A's to see.
    let batches = bezoeker.get("/leveranciersportaal/batches").text();
    assert!(batches.contains(&format!(r#"data-batch-id="{batch_a}""#)));
    assert!(!batches.contains(&batch_b));
    let detail = bezoeker.get(&format!("/leveranciersportaal/batches/{batch_a}"));
    assert_eq!(detail.status, 200);
    for id in &ids_a {
        assert!(detail.text().contains(id.as_str()), "{id}");
    }
    assert!(detail.text().contains("NietActiefOfGeabonneerd"));
    assert_eq!(
        bezoeker
            .get(&format!("/leveranciersportaal/batches/{batch_b}"))
            .status,
        404,
        "another afnemer's batch"
    );
    // The search goes to the batch's page.
    let zoek = bezoeker.get(&format!(
        "/leveranciersportaal/batches?batchId={}",
        batch_a.to_uppercase()
    ));
    assert_eq!(zoek.status, 303);
    assert_eq!(
        zoek.header("location"),
        Some(format!("/leveranciersportaal/batches/{batch_a}").as_str())
    );
    assert_eq!(
        bezoeker
            .get("/leveranciersportaal/batches?batchId=geen-guid")
            .status,
        400
    );

    // Afwijzingen: the two rejected berichten of A, filtered by code and day.
    let afwijzingen = bezoeker.get("/leveranciersportaal/afwijzingen").text();
    assert!(!afwijzingen.contains(&format!(r#"data-bericht-id="{}""#, ids_a[0])));
    assert!(afwijzingen.contains(&format!(r#"data-bericht-id="{}""#, ids_a[1])));
    assert!(afwijzingen.contains(&format!(r#"data-bericht-id="{}""#, ids_a[2])));
    assert!(!afwijzingen.contains(&ids_b[1]));
    let gefilterd = bezoeker
        .get("/leveranciersportaal/afwijzingen?code=BerichtTypeNietOndersteund")
        .text();
    assert!(gefilterd.contains(&format!(r#"data-bericht-id="{}""#, ids_a[2])));
    assert!(!gefilterd.contains(&format!(r#"data-bericht-id="{}""#, ids_a[1])));
    let vandaag = engine
        .clock
        .now()
        .to_zoned(jiff::tz::TimeZone::get("Europe/Amsterdam").expect("zone"))
        .date();
    let op_dag = bezoeker
        .get(&format!("/leveranciersportaal/afwijzingen?dag={vandaag}"))
        .text();
    assert!(op_dag.contains(&ids_a[1]) && op_dag.contains(&ids_a[2]));
    let gisteren = vandaag.yesterday().expect("yesterday");
    let leeg = bezoeker
        .get(&format!("/leveranciersportaal/afwijzingen?dag={gisteren}"))
        .text();
    assert!(leeg.contains("geen-afwijzingen"), "{leeg}");
    for bad in [
        "dag=2026-13-01",
        "dag=1999-01-01",
        "code=Verwerkt",
        "na=zz",
        "x=1",
    ] {
        assert_eq!(
            bezoeker
                .get(&format!("/leveranciersportaal/afwijzingen?{bad}"))
                .status,
            400,
            "{bad}"
        );
    }

    // The CSV: a header and A's two afwijzingen.
    let csv = bezoeker.get("/leveranciersportaal/afwijzingen.csv");
    assert_eq!(csv.status, 200);
    assert!(csv.content_type().starts_with("text/csv"));
    assert!(
        csv.header("content-disposition")
            .is_some_and(|d| d.starts_with("attachment"))
    );
    let text = csv.text();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert!(lines[0].starts_with("berichtId,verwerkingsCode,stadium,batchId"));
    assert!(text.contains(&format!("{},NietActiefOfGeabonneerd", ids_a[1])));
    assert!(text.contains(&format!("{},BerichtTypeNietOndersteund", ids_a[2])));

    // Berichttypen: A's.
    assert!(
        bezoeker
            .get("/leveranciersportaal/berichttypen")
            .text()
            .contains("AANSLAG")
    );

    // B, signed in at the same time, sees none of A's.
    let ander = Bezoeker::new(&engine);
    assert_eq!(ander.inloggen(&b.key).status, 303);
    for page in [
        "/leveranciersportaal",
        "/leveranciersportaal/batches",
        "/leveranciersportaal/afwijzingen",
        "/leveranciersportaal/afwijzingen.csv",
    ] {
        let text = ander.get(page).text();
        assert!(!text.contains("Gemeente Aadorp"), "{page}");
        for id in ids_a.iter().chain([&batch_a]) {
            assert!(!text.contains(id.as_str()), "{page} shows A's {id}");
        }
    }
    assert!(
        ander
            .get("/leveranciersportaal/afwijzingen")
            .text()
            .contains(&ids_b[1])
    );

    // Sign-out needs the page's CSRF token; without it the session stays.
    let page = bezoeker.get("/leveranciersportaal/batches").text();
    let zonder = bezoeker.post("/leveranciersportaal/uitloggen", &[]);
    assert_eq!(zonder.status, 403, "{}", zonder.text());
    let fout = bezoeker.post("/leveranciersportaal/uitloggen", &[("csrf", "vals")]);
    assert_eq!(fout.status, 403);
    assert_eq!(bezoeker.get("/leveranciersportaal/batches").status, 200);
    let oud = bezoeker.session().expect("session");
    let uit = bezoeker.post("/leveranciersportaal/uitloggen", &[("csrf", &csrf(&page))]);
    assert_eq!(uit.status, 303);
    assert_eq!(bezoeker.session(), None, "the cookie is removed");
    assert_eq!(bezoeker.get("/leveranciersportaal/batches").status, 303);
    // The old cookie, replayed, opens nothing: the session is gone from the store.
    bezoeker.set_cookie("portaal_sessie", &oud);
    assert!(is_sign_in(&bezoeker.get("/leveranciersportaal")));
    // B is still signed in.
    assert_eq!(ander.get("/leveranciersportaal/batches").status, 200);
}

#[test]
fn sign_in_refuses_a_wrong_key_a_stale_form_and_a_forged_cookie() {
    let dir = tempfile::tempdir().expect("tempdir");
    let engine = Engine::start(dir.path());
    let a = engine
        .beheer()
        .afnemer_with_aanslag(&oin(9111), json!({ "naam": "Gemeente Aadorp" }));

    // A wrong key: the form again, saying so, with 401.
    let bezoeker = Bezoeker::new(&engine);
    let reply = bezoeker.inloggen("geen-echte-sleutel");
    assert_eq!(reply.status, 401);
    assert!(reply.text().contains("niet bekend"), "{}", reply.text());
    assert!(reply.text().contains(r#"<form id="inloggen""#));
    assert_eq!(bezoeker.session(), None);

    // No sign-in cookie (a form posted from elsewhere), or a token that is not the cookie's.
    let fresh = Bezoeker::new(&engine);
    let form = fresh.get("/leveranciersportaal");
    let token = csrf(&form.text());
    let stranger = Bezoeker::new(&engine);
    let reply = stranger.post(
        "/leveranciersportaal/inloggen",
        &[("sleutel", &a.key), ("csrf", &token)],
    );
    assert_eq!(reply.status, 403, "no cookie: {}", reply.text());
    let reply = fresh.post(
        "/leveranciersportaal/inloggen",
        &[("sleutel", &a.key), ("csrf", "anders")],
    );
    assert_eq!(reply.status, 403, "a wrong token");
    let reply = fresh.post("/leveranciersportaal/inloggen", &[("sleutel", &a.key)]);
    assert_eq!(reply.status, 403, "no token");
    assert_eq!(fresh.session(), None);

    // Not a form, too large, unknown fields.
    let json = send(
        fresh
            .client
            .post(engine.url("/leveranciersportaal/inloggen"))
            .json(&json!({ "sleutel": a.key })),
    );
    assert_eq!(json.status, 415);
    let groot = "x".repeat(5000);
    assert_eq!(
        fresh
            .post(
                "/leveranciersportaal/inloggen",
                &[("sleutel", &groot), ("csrf", &token)]
            )
            .status,
        413
    );
    assert_eq!(
        fresh
            .post(
                "/leveranciersportaal/inloggen",
                &[("sleutel", &a.key), ("csrf", &token), ("extra", "1")]
            )
            .status,
        400
    );

    // A forged session cookie is no session: the sign-in form, and 303 from the other pages.
    let vervalst = Bezoeker::new(&engine);
    vervalst.set_cookie(
        "portaal_sessie",
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
    );
    assert!(is_sign_in(&vervalst.get("/leveranciersportaal")));
    vervalst.set_cookie("portaal_sessie", "<script>");
    assert!(is_sign_in(&vervalst.get("/leveranciersportaal")));
    for page in [
        "/leveranciersportaal/batches",
        "/leveranciersportaal/afwijzingen",
        "/leveranciersportaal/afwijzingen.csv",
        "/leveranciersportaal/berichttypen",
    ] {
        let reply = vervalst.get(page);
        assert_eq!(reply.status, 303, "{page}");
        assert_eq!(reply.header("location"), Some("/leveranciersportaal"));
    }
    // The right key signs in after all that.
    assert_eq!(Bezoeker::new(&engine).inloggen(&a.key).status, 303);
}

#[test]
fn a_session_ends_when_idle_at_its_longest_life_on_revocation_and_survives_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let engine = EngineBuilder::new(dir.path())
        .configure(|config| {
            config.portaal.inactief_minuten = 30;
            config.portaal.max_uren = 2;
        })
        .start();
    let a = engine
        .beheer()
        .afnemer_with_aanslag(&oin(9121), json!({ "naam": "Gemeente Aadorp" }));

    // Idle for longer than 30 minutes: over.
    let bezoeker = Bezoeker::new(&engine);
    assert_eq!(bezoeker.inloggen(&a.key).status, 303);
    engine.advance(Duration::from_secs(31 * 60));
    let reply = bezoeker.get("/leveranciersportaal");
    assert!(is_sign_in(&reply));
    assert!(reply.text().contains("verlopen"), "{}", reply.text());

    // Used every 20 minutes it goes on, but not past its 2 hours.
    let bezoeker = Bezoeker::new(&engine);
    assert_eq!(bezoeker.inloggen(&a.key).status, 303);
    for _ in 0..5 {
        engine.advance(Duration::from_secs(20 * 60));
        assert_eq!(
            bezoeker.get("/leveranciersportaal/berichttypen").status,
            200
        );
    }
    engine.advance(Duration::from_secs(21 * 60));
    assert_eq!(
        bezoeker.get("/leveranciersportaal/berichttypen").status,
        303,
        "past its longest life"
    );

    // A restart keeps a session: it is in the store.
    let bezoeker = Bezoeker::new(&engine);
    assert_eq!(bezoeker.inloggen(&a.key).status, 303);
    let kept = bezoeker.session().expect("session");
    let engine = engine.restart();
    let opnieuw = Bezoeker::new(&engine);
    opnieuw.set_cookie("portaal_sessie", &kept);
    assert_eq!(
        opnieuw.get("/leveranciersportaal/berichttypen").status,
        200,
        "the session outlives a restart"
    );

    // Revoking the key it signed in with ends it; so does making the afnemer inactive.
    let (id, key) = engine.beheer().issue_key_with_id(&a.oin);
    let met_sleutel = Bezoeker::new(&engine);
    let reply = met_sleutel.inloggen(&key);
    assert_eq!(reply.status, 303, "{}", reply.text());
    assert_eq!(engine.beheer().revoke_key(&a.oin, &id).status, 204);
    let reply = met_sleutel.get("/leveranciersportaal");
    assert!(is_sign_in(&reply));
    assert!(reply.text().contains("beëindigd"), "{}", reply.text());
    assert_eq!(opnieuw.get("/leveranciersportaal/berichttypen").status, 200);
    engine.beheer().register(
        &a.oin,
        json!({ "naam": "Gemeente Aadorp", "actief": false }),
    );
    assert_eq!(opnieuw.get("/leveranciersportaal/berichttypen").status, 303);
}

#[test]
fn a_client_certificate_signs_in_without_the_form() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = TestCa::new("Test PKIoverheid Private Services CA");
    let client_ca = ca.write(&dir.path().join("clients-ca.pem"));
    let engine = EngineBuilder::new(&dir.path().join("data"))
        .tls(&ca, Some(&client_ca))
        .start();
    let registered = oin(9131);
    engine
        .beheer()
        .afnemer_with_aanslag(&registered, json!({ "naam": "Gemeente Certdorp" }));

    let with_certificate = Bezoeker::with(
        engine.base.clone(),
        ca.https_client(Some(&ca.client(Some(&registered)))),
    );
    let reply = with_certificate.get("/leveranciersportaal");
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert!(reply.text().contains("Gemeente Certdorp"));
    let cookies = with_certificate.remember(&reply);
    let sessie = cookies
        .iter()
        .find(|c| c.name() == "portaal_sessie")
        .expect("a session for the certificate");
    assert_eq!(sessie.secure(), Some(true), "Secure under TLS");
    // The next page goes on in that session (no second one is made).
    let next = with_certificate.get("/leveranciersportaal/batches");
    assert_eq!(next.status, 200);
    assert!(next.headers.get("set-cookie").is_none());

    // A certificate of an OIN that is no afnemer: 401, as on the API.
    let unknown = Bezoeker::with(
        engine.base.clone(),
        ca.https_client(Some(&ca.client(Some(&oin(9199))))),
    );
    assert_eq!(unknown.get("/leveranciersportaal").status, 401);

    // The certificate's session cookie is of no use without the certificate.
    let stolen = Bezoeker::with(engine.base.clone(), ca.https_client(None));
    stolen.set_cookie("portaal_sessie", sessie.value());
    assert!(is_sign_in(&stolen.get("/leveranciersportaal")));
}
