//! The Leveranciersportaal in a real browser (headless Chromium over WebDriver,
//! `support/browser.rs`): an afnemer signs in with its key, sees its own batch and afwijzingen
//! appear after delivering through the API, filters, downloads the CSV and signs out; a
//! second afnemer signed in at the same time sees none of it; a forged cookie, an expired
//! session and a sign-out without its CSRF token are refused. Every page is checked with
//! axe-core (no WCAG 2.1 A or AA violation) at 1280 px and at 320 px, where it must not
//! scroll sideways (nor at 640 px: 1280 px at 200% zoom), and photographed at both widths
//! into `target/screenshots/portaal/`.

use std::time::Duration;

use serde_json::json;

use crate::portaal::deliver_mixed;
use crate::support::Engine;
use crate::support::browser::Browser;
use crate::support::oin;

/// Checks the page shown at 1280 px, 640 px (200% zoom) and 320 px, with a screenshot at
/// 1280 and 320; leaves the browser at 1280 px.
fn check_page(browser: &Browser, name: &str) {
    browser.set_width(1280);
    browser.assert_accessible(name);
    browser.screenshot(name);
    browser.set_width(640);
    browser.assert_no_horizontal_scroll();
    browser.set_width(320);
    browser.assert_no_horizontal_scroll();
    browser.assert_accessible(&format!("{name} at 320 px"));
    browser.screenshot(name);
    browser.set_width(1280);
}

fn sign_in(browser: &Browser, engine: &Engine, key: &str) {
    browser.goto(&engine.url("/leveranciersportaal"));
    assert!(browser.exists("form#inloggen"), "{}", browser.source());
    browser.fill("#sleutel", key);
    browser.submit_and_load("form#inloggen");
    assert_eq!(browser.current_url().path(), "/leveranciersportaal");
    assert!(
        browser.exists("form#uitloggen"),
        "signed in: {}",
        browser.source()
    );
}

#[test]
fn an_afnemer_uses_the_portal_in_a_browser() {
    let dir = tempfile::tempdir().expect("tempdir");
    let engine = Engine::start(dir.path());
    let a = engine
        .beheer()
        .afnemer_with_aanslag(&oin(9201), json!({ "naam": "Gemeente Aadorp" }));
    let b = engine
        .beheer()
        .afnemer_with_aanslag(&oin(9202), json!({ "naam": "Waterschap Bedijk" }));
    // A forecast for this month, so the overview draws the forecast against what was sent.
    let maand = jiff::Zoned::now()
        .with_time_zone(jiff::tz::TimeZone::get("Europe/Amsterdam").expect("zone"))
        .strftime("%Y-%m")
        .to_string();
    let reply = crate::support::send(
        engine
            .client
            .put(engine.url(&format!("/v1/prognoses/{maand}")))
            .bearer_auth(&a.key)
            .json(&json!({ "aantalBerichten": 120, "gemiddeldeGrootteKb": 40 })),
    );
    assert!(reply.status < 300, "{}", reply.text());

    // The sign-in page.
    let browser = Browser::start();
    browser.goto(&engine.url("/leveranciersportaal"));
    check_page(&browser, "inloggen");
    let aanmeld = browser
        .cookie("portaal_aanmelden")
        .expect("the sign-in form's cookie");
    assert_eq!(aanmeld.http_only(), Some(true));

    // A signs in before anything is delivered: nothing to show yet.
    sign_in(&browser, &engine, &a.key);
    assert_eq!(browser.text("#vandaag-aangeboden"), "0");
    let sessie = browser.cookie("portaal_sessie").expect("a session cookie");
    assert_eq!(sessie.http_only(), Some(true));

    // A delivers through the API; its batch and afwijzingen appear in the portal.
    let (batch_a, ids_a) = deliver_mixed(&engine, &a, 21);
    let (batch_b, ids_b) = deliver_mixed(&engine, &b, 22);
    browser.refresh();
    assert_eq!(browser.text("#vandaag-aangeboden"), "3");
    assert_eq!(browser.text("#vandaag-verwerkt"), "1");
    assert_eq!(browser.text("#vandaag-afgewezen"), "2");
    assert!(browser.exists("svg#grafiek-dagen[role=img]"));
    assert!(browser.exists("svg#grafiek-prognose[role=img]"));
    check_page(&browser, "overzicht");

    browser.follow("nav a[href='/leveranciersportaal/batches']");
    assert!(browser.exists(&format!("tr[data-batch-id='{batch_a}']")));
    assert!(!browser.source().contains(&batch_b));
    check_page(&browser, "batches");

    browser.fill("#batchId", &batch_a);
    browser.submit_and_load("form#zoek-batch");
    assert_eq!(
        browser.current_url().path(),
        format!("/leveranciersportaal/batches/{batch_a}")
    );
    assert_eq!(browser.count("tr[data-bericht-id]"), 3);
    check_page(&browser, "batch");

    browser.follow("nav a[href='/leveranciersportaal/afwijzingen']");
    assert_eq!(browser.count("tr[data-bericht-id]"), 2);
    check_page(&browser, "afwijzingen");
    browser.select("#code", "BerichtTypeNietOndersteund");
    browser.submit_and_load("form#filter");
    assert_eq!(
        browser.texts("tr[data-bericht-id] th"),
        vec![ids_a[2].clone()],
        "filtered on code"
    );
    let href = browser
        .attribute("#download-csv", "href")
        .expect("a download link");
    assert!(href.contains("code=BerichtTypeNietOndersteund"), "{href}");
    // The download, with the browser's session cookie (the page's Content-Security-Policy
    // allows no script to fetch it from inside the page).
    let sessie = browser.cookie("portaal_sessie").expect("session");
    let csv = crate::support::send(
        engine
            .client
            .get(engine.url(&href))
            .header("Cookie", format!("portaal_sessie={}", sessie.value())),
    );
    assert_eq!(csv.status, 200);
    assert!(csv.content_type().starts_with("text/csv"));
    assert!(
        csv.header("content-disposition")
            .is_some_and(|d| d.starts_with("attachment"))
    );
    let body = csv.text();
    let lines: Vec<&str> = body.lines().collect();
    assert_eq!(lines.len(), 2, "{body}");
    assert!(lines[1].starts_with(&format!("{},BerichtTypeNietOndersteund", ids_a[2])));

    browser.follow("nav a[href='/leveranciersportaal/berichttypen']");
    assert!(browser.text("#berichttypen").contains("AANSLAG"));
    check_page(&browser, "berichttypen");

    // B, signed in at the same time in another browser, sees none of A's.
    let other = Browser::start();
    sign_in(&other, &engine, &b.key);
    for page in ["", "/batches", "/afwijzingen", "/berichttypen"] {
        other.goto(&engine.url(&format!("/leveranciersportaal{page}")));
        let source = other.source();
        assert!(!source.contains("Gemeente Aadorp"), "{page}");
        for id in ids_a.iter().chain([&batch_a]) {
            assert!(!source.contains(id.as_str()), "B's {page} shows A's {id}");
        }
    }
    other.goto(&engine.url("/leveranciersportaal/afwijzingen"));
    assert!(other.source().contains(&ids_b[1]));
    other.goto(&engine.url(&format!("/leveranciersportaal/batches/{batch_a}")));
    assert!(
        other.title().starts_with("Niet gevonden"),
        "{}",
        other.title()
    );
    check_page(&other, "niet-gevonden");

    // A sign-out whose CSRF token was taken out of the form is refused; A stays signed in.
    browser.goto(&engine.url("/leveranciersportaal"));
    browser.execute(
        "document.querySelector('#uitloggen input[name=csrf]').remove(); return null;",
        vec![],
    );
    browser.submit_and_load("form#uitloggen");
    assert!(
        browser.title().starts_with("Geen toegang"),
        "{}",
        browser.title()
    );
    check_page(&browser, "formulier-verlopen");
    browser.goto(&engine.url("/leveranciersportaal/batches"));
    assert!(browser.exists("form#uitloggen"), "still signed in");

    // Signing out for real: the sign-in page, and the pages behind it lead back there.
    browser.submit_and_load("form#uitloggen");
    assert!(browser.exists("form#inloggen"));
    assert!(browser.cookie("portaal_sessie").is_none());
    browser.goto(&engine.url("/leveranciersportaal/afwijzingen"));
    assert_eq!(browser.current_url().path(), "/leveranciersportaal");
    assert!(browser.exists("form#inloggen"));

    // A forged session cookie opens nothing.
    browser.set_cookie(
        "portaal_sessie",
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
    );
    browser.goto(&engine.url("/leveranciersportaal/batches"));
    assert!(browser.exists("form#inloggen"), "a forged cookie");
    assert!(!browser.source().contains(&batch_a));

    // An expired session: signed in, then idle for longer than portaal.inactief_minuten.
    sign_in(&browser, &engine, &a.key);
    engine.advance(Duration::from_secs(31 * 60));
    browser.goto(&engine.url("/leveranciersportaal/batches"));
    assert!(browser.exists("form#inloggen"), "an expired session");
    browser.goto(&engine.url("/leveranciersportaal"));
    assert!(!browser.exists("form#uitloggen"));
    // B's session was idle as long: it has ended too.
    other.goto(&engine.url("/leveranciersportaal/batches"));
    assert!(other.exists("form#inloggen"));
}
