//! The browser harness (`support/browser.rs`) shown to pass and to fail, against tiny pages
//! served here by an actix-web server on 127.0.0.1:0: axe-core passes an accessible page and
//! names the violations of one that is not, a page wider than 320 px fails the reflow check,
//! screenshots are PNGs of the viewport's width, cookies set through the harness reach the
//! server (and the server's reach the harness), and forms, links and an in-page `fetch` work.
//! The Leveranciersportaal's own page tests are written on this harness.

use std::net::TcpListener;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use actix_web::dev::ServerHandle;
use actix_web::http::header;
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use serde_json::json;

use crate::support::browser::{Browser, CHROMEDRIVER, SameSite};

/// One request as the site saw it.
#[derive(Debug, Clone)]
struct Seen {
    path: String,
    cookie: Option<String>,
    language: Option<String>,
}

type Log = Arc<Mutex<Vec<Seen>>>;

/// The tiny site, on its own thread (an actix system of its own) on 127.0.0.1:0.
#[derive(Debug)]
struct Site {
    base: String,
    seen: Log,
    handle: ServerHandle,
    thread: Option<JoinHandle<()>>,
}

impl Site {
    fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let base = format!("http://{}", listener.local_addr().expect("local addr"));
        let seen = Log::default();
        let (handle_tx, handle_rx) = std::sync::mpsc::channel();
        let log = seen.clone();
        let thread = std::thread::spawn(move || {
            actix_web::rt::System::new().block_on(async move {
                let server = HttpServer::new(move || {
                    App::new()
                        .app_data(web::Data::new(log.clone()))
                        .default_service(web::to(page))
                })
                .workers(1)
                .disable_signals()
                .listen(listener)
                .expect("listen")
                .run();
                handle_tx
                    .send(server.handle())
                    .expect("hand over the handle");
                server.await.expect("serve the site");
            });
        });
        let handle = handle_rx.recv().expect("the site started");
        Self {
            base,
            seen,
            handle,
            thread: Some(thread),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The `Accept-Language` header of the last request for `path`.
    fn language_sent(&self, path: &str) -> Option<String> {
        self.seen
            .lock()
            .expect("log lock")
            .iter()
            .rev()
            .find(|seen| seen.path == path)
            .and_then(|seen| seen.language.clone())
    }

    /// The `Cookie` header of each request for `path`, in order.
    fn cookies_sent(&self, path: &str) -> Vec<Option<String>> {
        self.seen
            .lock()
            .expect("log lock")
            .iter()
            .filter(|seen| seen.path == path)
            .map(|seen| seen.cookie.clone())
            .collect()
    }
}

impl Drop for Site {
    fn drop(&mut self) {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a runtime")
            .block_on(self.handle.stop(false));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn html(title: &str, body: &str) -> String {
    format!(
        "<!doctype html>\n<html lang=\"nl\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{title}</title>\n</head>\n<body>\n<main>\n{body}\n</main>\n</body>\n</html>\n"
    )
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Every page of the site; each request is logged first.
async fn page(request: HttpRequest, body: web::Bytes, log: web::Data<Log>) -> HttpResponse {
    let read = |name| {
        request
            .headers()
            .get(name)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned)
    };
    let cookie = read(header::COOKIE);
    log.lock().expect("log lock").push(Seen {
        path: request.path().to_owned(),
        cookie: cookie.clone(),
        language: read(header::ACCEPT_LANGUAGE),
    });
    let page = |title: &str, body: &str| {
        HttpResponse::Ok()
            .content_type("text/html; charset=utf-8")
            .body(html(title, body))
    };
    match request.path() {
        "/" => page(
            "Proefpagina",
            "<h1>Proefpagina</h1>\n\
             <p>Een pagina zonder overtredingen van WCAG 2.1 A en AA.</p>\n\
             <form method=\"post\" action=\"/welkom\">\n\
             <label for=\"naam\">Naam</label>\n\
             <input id=\"naam\" name=\"naam\" type=\"text\" autocomplete=\"organization\" required>\n\
             <button type=\"submit\">Verstuur</button>\n\
             </form>\n\
             <p><a id=\"breed-link\" href=\"/breed\">Een brede pagina</a></p>",
        ),
        "/welkom" => {
            let naam = url::form_urlencoded::parse(&body)
                .find(|(key, _)| key == "naam")
                .map(|(_, value)| value.into_owned())
                .unwrap_or_default();
            page(
                "Welkom",
                &format!(
                    "<h1>Welkom, {}</h1>\n<p><a id=\"terug\" href=\"/\">Terug</a></p>",
                    escape(&naam)
                ),
            )
        }
        // Two violations of WCAG 2.1 A: an image without a text alternative (1.1.1) and a
        // field without a label (1.3.1, 4.1.2).
        "/ontoegankelijk" => page(
            "Ontoegankelijk",
            "<h1>Ontoegankelijk</h1>\n\
             <img id=\"logo\" src=\"/logo.png\" width=\"40\" height=\"40\">\n\
             <form method=\"get\" action=\"/\"><input id=\"zoek\" name=\"zoek\" type=\"text\">\n\
             <button type=\"submit\">Zoek</button></form>",
        ),
        // 2000 px tall.
        "/lang" => page(
            "Lang",
            "<h1>Lang</h1>\n<div style=\"height: 2000px\">Tweeduizend pixels.</div>",
        ),
        // Accessible, but 600 px wide whatever the viewport.
        "/breed" => page(
            "Breed",
            "<h1>Breed</h1>\n<div id=\"breed\" style=\"width: 600px\">Zeshonderd pixels.</div>",
        ),
        "/inloggen" => HttpResponse::Ok()
            .insert_header((
                header::SET_COOKIE,
                "sessie=echt; Path=/; HttpOnly; SameSite=Strict",
            ))
            .content_type("text/html; charset=utf-8")
            .body(html("Ingelogd", "<h1>Ingelogd</h1>")),
        // A download: the cookies it was sent with, as CSV.
        "/export.csv" => HttpResponse::Ok()
            .content_type("text/csv; charset=utf-8")
            .insert_header((
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"export.csv\"",
            ))
            .body(format!(
                "cookie\n\"{}\"\n",
                cookie.as_deref().unwrap_or("geen")
            )),
        _ => HttpResponse::NotFound()
            .content_type("text/html; charset=utf-8")
            .body(html("Niet gevonden", "<h1>Niet gevonden</h1>")),
    }
}

/// What a panic said.
fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|&text| text.to_owned()))
        .unwrap_or_else(|| "(no message)".to_owned())
}

/// Runs `check`, which must panic; answers its message.
#[track_caller]
fn must_panic(what: &str, check: impl FnOnce()) -> String {
    match catch_unwind(AssertUnwindSafe(check)) {
        Ok(()) => panic!("{what} passed where it had to fail"),
        Err(payload) => panic_message(payload.as_ref()),
    }
}

#[test]
fn an_accessible_page_passes_axe_at_both_widths() {
    let site = Site::start();
    let browser = Browser::start();
    browser.goto(&site.url("/"));
    assert_eq!(browser.title(), "Proefpagina");
    assert!(browser.accessibility_violations().is_empty());
    browser.assert_accessible("proefpagina");
    browser.assert_no_horizontal_scroll();
    browser.set_width(320);
    browser.assert_accessible("proefpagina");
    browser.assert_no_horizontal_scroll();
}

#[test]
fn violations_fail_axe_with_the_rule_and_the_element() {
    let site = Site::start();
    let browser = Browser::start();
    browser.goto(&site.url("/ontoegankelijk"));

    let violations = browser.accessibility_violations();
    let rules: Vec<&str> = violations.iter().map(|v| v.id.as_str()).collect();
    assert!(rules.contains(&"image-alt"), "{violations:#?}");
    assert!(rules.contains(&"label"), "{violations:#?}");
    let image_alt = violations
        .iter()
        .find(|v| v.id == "image-alt")
        .expect("image-alt");
    assert_eq!(image_alt.impact.as_deref(), Some("critical"));
    assert!(
        image_alt.nodes.iter().any(|node| node.target == "#logo"),
        "{image_alt:#?}"
    );

    let message = must_panic("assert_accessible", || {
        browser.assert_accessible("ontoegankelijk");
    });
    for expected in [
        "ontoegankelijk",
        "/ontoegankelijk",
        "image-alt",
        "#logo",
        "label",
        "#zoek",
    ] {
        assert!(message.contains(expected), "{expected} not in: {message}");
    }

    // Without axe-core the check fails, and says how to install it.
    let missing = Path::new("/nonexistent/axe-core/axe.min.js");
    let message = must_panic("a check without axe-core", || {
        browser.accessibility_violations_with(missing);
    });
    assert!(message.contains("scripts/test.sh"), "{message}");
}

#[test]
fn a_missing_browser_fails_and_names_the_install() {
    let message = must_panic("a start without Chromium", || {
        Browser::start_with(Path::new("/nonexistent/chromium"), Path::new(CHROMEDRIVER));
    });
    assert!(
        message.contains("/nonexistent/chromium") && message.contains("scripts/test.sh"),
        "{message}"
    );
}

#[test]
fn a_page_wider_than_320_px_fails_the_reflow_check() {
    let site = Site::start();
    let browser = Browser::start();
    browser.goto(&site.url("/breed"));
    // 600 px fit in 1280 px...
    browser.assert_no_horizontal_scroll();
    // ...not in 320 px.
    browser.set_width(320);
    assert_eq!(browser.width(), 320);
    assert_eq!(
        browser.execute("return window.innerWidth;", vec![]),
        json!(320)
    );
    let message = must_panic("assert_no_horizontal_scroll", || {
        browser.assert_no_horizontal_scroll();
    });
    assert!(
        // 600 px and the body's margin of 8 px.
        message.contains("scrollWidth 608") && message.contains("div#breed (right edge at 608 px)"),
        "{message}"
    );
    // A page that reflows passes at 320 px.
    browser.goto(&site.url("/"));
    browser.assert_no_horizontal_scroll();
}

/// The width and height in a PNG's header; panics unless `bytes` starts as a PNG does.
fn png_size(bytes: &[u8]) -> (u32, u32) {
    assert!(
        bytes.starts_with(b"\x89PNG\r\n\x1a\n") && &bytes[12..16] == b"IHDR",
        "not a PNG"
    );
    let number = |at: usize| u32::from_be_bytes(bytes[at..at + 4].try_into().expect("4 bytes"));
    (number(16), number(20))
}

#[test]
fn screenshots_are_pngs_of_the_viewport_width() {
    let site = Site::start();
    let browser = Browser::start();
    browser.goto(&site.url("/"));
    for width in [1280, 320] {
        browser.set_width(width);
        let path = browser.screenshot("browser-harness");
        assert!(
            path.ends_with(format!(
                "target/screenshots/portaal/browser-harness-{width}.png"
            )),
            "{}",
            path.display()
        );
        let (png_width, png_height) = png_size(&std::fs::read(&path).expect("the screenshot"));
        assert_eq!(png_width, width, "{}", path.display());
        assert!(png_height >= 800, "{png_height} px tall");
        // The viewport is back to its width and height after the whole-page screenshot.
        assert_eq!(
            browser.execute("return [window.innerWidth, window.innerHeight];", vec![]),
            json!([width, 800])
        );
    }
    // The whole page, not only the viewport.
    browser.goto(&site.url("/lang"));
    let path = browser.screenshot("browser-harness-lang");
    let (png_width, png_height) = png_size(&std::fs::read(&path).expect("the screenshot"));
    assert_eq!(png_width, 320);
    assert!(png_height > 2000, "{png_height} px tall");
    assert_eq!(
        browser.execute("return window.innerHeight;", vec![]),
        json!(800)
    );
}

#[test]
fn cookies_set_through_the_harness_reach_the_server_and_back() {
    let site = Site::start();
    let browser = Browser::start();

    // The server's cookie, as the browser keeps it.
    browser.goto(&site.url("/inloggen"));
    let sessie = browser
        .cookie("sessie")
        .expect("the server's session cookie");
    assert_eq!(sessie.value(), "echt");
    assert_eq!(sessie.http_only(), Some(true));
    assert_eq!(sessie.same_site(), Some(SameSite::Strict));

    // A forged one replaces it, and is what the server is sent.
    browser.set_cookie("sessie", "vervalst");
    browser.goto(&site.url("/"));
    assert_eq!(
        site.cookies_sent("/").last(),
        Some(&Some("sessie=vervalst".to_owned()))
    );

    // Deleted, it is sent no more.
    browser.delete_cookie("sessie");
    assert!(browser.cookie("sessie").is_none());
    browser.refresh();
    assert_eq!(site.cookies_sent("/").last(), Some(&None));
    assert_eq!(site.cookies_sent("/").len(), 2);
}

#[test]
fn forms_links_scripts_and_an_in_page_fetch_work() {
    let site = Site::start();
    let browser = Browser::start();
    browser.goto(&site.url("/"));
    // A Dutch browser.
    assert_eq!(
        browser.execute("return navigator.language;", vec![]),
        json!("nl-NL")
    );
    let language = site.language_sent("/").expect("Accept-Language");
    assert!(language.starts_with("nl-NL"), "{language}");
    assert!(browser.exists("form input#naam"));
    assert!(!browser.exists(".bestaat-niet"));
    assert_eq!(browser.count("label"), 1);
    assert_eq!(
        browser.attribute("#naam", "autocomplete").as_deref(),
        Some("organization")
    );
    assert!(browser.source().contains("<h1>Proefpagina</h1>"));

    browser.fill("#naam", "eerst iets anders");
    browser.fill("#naam", "Jansen & Zn <B.V.>");
    browser.submit("form");
    assert_eq!(browser.current_url().path(), "/welkom");
    assert_eq!(browser.text("h1"), "Welkom, Jansen & Zn <B.V.>");

    browser.click("#terug");
    assert_eq!(browser.current_url().path(), "/");
    browser.click("#breed-link");
    assert_eq!(browser.current_url().path(), "/breed");
    browser.back();
    assert_eq!(browser.current_url().path(), "/");
    assert_eq!(
        browser.execute(
            "return arguments[0] + document.title;",
            vec![json!("titel: ")]
        ),
        json!("titel: Proefpagina")
    );

    // A download fetched by the page, with the page's cookies.
    browser.set_cookie("sessie", "s1");
    let csv = browser.fetch("/export.csv");
    assert_eq!(csv.status, 200);
    assert_eq!(csv.header("Content-Type"), Some("text/csv; charset=utf-8"));
    assert_eq!(
        csv.header("content-disposition"),
        Some("attachment; filename=\"export.csv\"")
    );
    assert_eq!(csv.body, "cookie\n\"sessie=s1\"\n");
    assert_eq!(
        site.cookies_sent("/export.csv"),
        [Some("sessie=s1".to_owned())]
    );
    assert_eq!(browser.fetch(&site.url("/ontbreekt")).status, 404);
}
