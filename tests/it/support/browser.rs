//! A real browser for the end-to-end tests of server-rendered pages (the Leveranciersportaal):
//! Debian's Chromium, headless, driven over WebDriver by Debian's chromedriver, which runs as a
//! child process on a free 127.0.0.1 port for as long as its [`Browser`] lives.
//!
//! The API is synchronous, like every test here: each call runs the WebDriver client
//! (fantoccini, async) to completion on the browser's own single-threaded tokio runtime, so
//! nothing of it runs on, or blocks, the event loops of an engine started in this process
//! (those have threads of their own). Use it from a plain `#[test]`, not from inside an async
//! runtime (a runtime cannot be blocked on from within another).
//!
//! Accessibility is checked with axe-core ([`Browser::assert_accessible`]), which
//! `scripts/test.sh` installs into `tests/browser/node_modules` as pinned in
//! `tests/browser/package-lock.json`; screenshots go to `target/screenshots/portaal/`.
//!
//! Every failure panics with what was asked and where the browser was; a missing Chromium,
//! chromedriver or axe-core is a failure that names `scripts/test.sh`, never a skipped test.

use std::cell::Cell;
use std::collections::BTreeMap;
use std::fmt;
use std::fs::File;
use std::net::TcpListener;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::elements::Element;
use fantoccini::wd::TimeoutConfiguration;
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde::Deserialize;
use serde_json::{Value, json};

pub use cookie::SameSite;
pub use fantoccini::cookies::Cookie;

/// Debian's Chromium (package `chromium`).
pub const CHROMIUM: &str = "/usr/bin/chromium";
/// Debian's chromedriver (package `chromium-driver`).
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// axe-core's browser bundle, as `scripts/test.sh` installs it with `npm ci`.
pub const AXE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/browser/node_modules/axe-core/axe.min.js"
);
/// Where [`Browser::screenshot`] writes.
pub const SCREENSHOTS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/target/screenshots/portaal");

/// The rules [`Browser::assert_accessible`] runs: axe-core's rules for WCAG 2.0 and 2.1, levels
/// A and AA.
pub const WCAG_TAGS: [&str; 4] = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"];

/// The viewport a new browser has: a desktop's width.
pub const DEFAULT_WIDTH: u32 = 1280;
const HEIGHT: u32 = 800;
/// The tallest page [`Browser::screenshot`] takes whole.
const MAX_SCREENSHOT_HEIGHT: u32 = 8000;

/// How long chromedriver may take to answer, and Chromium to start under it.
const START_DEADLINE: Duration = Duration::from_secs(30);
/// A page's load, or a script's run (axe-core, a `fetch`).
const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);
/// How often the start looks whether chromedriver answers.
const POLL: Duration = Duration::from_millis(20);

/// Chromium's switches. Headless as root in a container (no sandbox, no GPU), at a device
/// scale of 1 (a screenshot's pixels are CSS pixels), in Dutch (`navigator.language` and
/// `Accept-Language`), and without the background connections (updates, sync, QUIC, first-run
/// pings) that this machine's closed network refuses: see the machine notes on Chromium.
const CHROMIUM_ARGS: &[&str] = &[
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--force-device-scale-factor=1",
    "--lang=nl-NL",
    "--accept-lang=nl-NL,nl",
];

/// A headless Chromium with its chromedriver; both end when it is dropped.
pub struct Browser {
    runtime: tokio::runtime::Runtime,
    /// `None` only while starting and once closed.
    client: Option<Client>,
    driver: Child,
    /// chromedriver's log and Chromium's profile (`--user-data-dir`), new for each browser.
    home: tempfile::TempDir,
    width: Cell<u32>,
}

impl fmt::Debug for Browser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Browser")
            .field("chromedriver", &self.driver.id())
            .field("home", &self.home.path())
            .field("width", &self.width.get())
            .finish_non_exhaustive()
    }
}

/// One violation of a WCAG rule, as axe-core reports it.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Violation {
    /// axe-core's rule, such as `image-alt` or `label`.
    pub id: String,
    /// `minor`, `moderate`, `serious` or `critical`.
    pub impact: Option<String>,
    pub help: String,
    pub help_url: String,
    pub nodes: Vec<ViolationNode>,
}

/// An element that violates a rule.
#[derive(Debug, Clone, Deserialize)]
pub struct ViolationNode {
    /// The element's CSS selector (frames and shadow roots separated by ` >>> `).
    pub target: String,
    /// What to fix, in axe-core's words.
    pub summary: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "- {} ({}): {} [{}]",
            self.id,
            self.impact.as_deref().unwrap_or("impact unknown"),
            self.help,
            self.help_url
        )?;
        for node in &self.nodes {
            writeln!(f, "    {}", node.target)?;
            for line in node.summary.lines() {
                writeln!(f, "      {line}")?;
            }
        }
        Ok(())
    }
}

/// A response to a `fetch` made by the page ([`Browser::fetch`]).
#[derive(Debug, Clone, Deserialize)]
pub struct Fetched {
    pub status: u16,
    /// The URL answered, after redirects.
    pub url: String,
    /// The headers the page may read, names in lower case.
    pub headers: BTreeMap<String, String>,
    pub body: String,
}

impl Fetched {
    /// A header's value (`name` in any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(&name.to_ascii_lowercase())
            .map(String::as_str)
    }
}

impl Browser {
    /// Starts chromedriver and a headless Chromium, [`DEFAULT_WIDTH`] wide, on a fresh profile.
    #[track_caller]
    pub fn start() -> Self {
        Self::start_with(Path::new(CHROMIUM), Path::new(CHROMEDRIVER))
    }

    /// [`Browser::start`] with other binaries (a test of the harness's own refusal).
    #[track_caller]
    pub fn start_with(chromium: &Path, chromedriver: &Path) -> Self {
        for (binary, package) in [(chromium, "chromium"), (chromedriver, "chromium-driver")] {
            assert!(
                binary.is_file(),
                "{} is missing: the browser tests need Debian's {package}; run `bash \
                 scripts/test.sh`, which installs chromium and chromium-driver (and axe-core)",
                binary.display()
            );
        }
        let home = tempfile::Builder::new()
            .prefix("berichtenbox-browser-")
            .tempdir()
            .expect("a temporary directory for the browser");
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime for the WebDriver client");
        let (driver, port) = spawn_driver(chromedriver, home.path());
        let browser = Self {
            runtime,
            client: None,
            driver,
            home,
            width: Cell::new(DEFAULT_WIDTH),
        };
        // From here on a panic drops `browser`, which ends chromedriver.
        browser.connect(chromium, port)
    }

    fn connect(mut self, chromium: &Path, port: u16) -> Self {
        let profile = self.home.path().join("profile");
        let mut args: Vec<String> = CHROMIUM_ARGS.iter().map(|&arg| arg.to_owned()).collect();
        args.push(format!("--user-data-dir={}", profile.display()));
        args.push(format!("--window-size={DEFAULT_WIDTH},{HEIGHT}"));
        let capabilities = json!({
            "browserName": "chrome",
            "pageLoadStrategy": "normal",
            "goog:chromeOptions": { "binary": chromium, "args": args },
        });
        let Value::Object(capabilities) = capabilities else {
            unreachable!("an object")
        };
        let webdriver = format!("http://127.0.0.1:{port}");
        let connected = self.runtime.block_on(async {
            tokio::time::timeout(
                START_DEADLINE,
                ClientBuilder::new(HttpConnector::new())
                    .capabilities(capabilities)
                    .connect(&webdriver),
            )
            .await
        });
        let client = match connected {
            Ok(Ok(client)) => client,
            Ok(Err(error)) => panic!(
                "chromedriver could not start {}: {error}\n{}",
                chromium.display(),
                self.driver_log()
            ),
            Err(_) => panic!(
                "chromedriver did not start {} within {START_DEADLINE:?}\n{}",
                chromium.display(),
                self.driver_log()
            ),
        };
        self.client = Some(client);
        let timeouts = TimeoutConfiguration::new(
            Some(COMMAND_TIMEOUT),
            Some(COMMAND_TIMEOUT),
            Some(Duration::ZERO),
        );
        self.run("set the timeouts", self.client().update_timeouts(timeouts));
        self.set_width(DEFAULT_WIDTH);
        self
    }

    fn client(&self) -> &Client {
        self.client.as_ref().expect("a WebDriver session")
    }

    /// Runs one WebDriver command to completion; panics naming `what` when it fails.
    #[track_caller]
    fn run<T, E: fmt::Display>(
        &self,
        what: &str,
        command: impl Future<Output = Result<T, E>>,
    ) -> T {
        match self.runtime.block_on(command) {
            Ok(value) => value,
            Err(error) => panic!("browser: {what}: {error} (at {})", self.where_now()),
        }
    }

    /// The page's URL for a panic message (not a panic itself when that fails too).
    fn where_now(&self) -> String {
        match self.runtime.block_on(self.client().current_url()) {
            Ok(url) => url.to_string(),
            Err(error) => format!("an unknown URL: {error}"),
        }
    }

    /// chromedriver's log so far, for a panic message.
    fn driver_log(&self) -> String {
        let log = std::fs::read_to_string(self.home.path().join("chromedriver.log"))
            .unwrap_or_else(|error| format!("(no log: {error})"));
        let tail: Vec<&str> = log.lines().rev().take(40).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        format!(
            "chromedriver's log (its last 40 lines):\n{}",
            tail.join("\n")
        )
    }

    // ---- navigation and reading

    /// Opens `url` and waits until it has loaded.
    #[track_caller]
    pub fn goto(&self, url: &str) {
        self.run(&format!("open {url}"), self.client().goto(url));
    }

    /// The URL of the page shown (after redirects).
    #[track_caller]
    pub fn current_url(&self) -> url::Url {
        self.run("read the URL", self.client().current_url())
    }

    #[track_caller]
    pub fn back(&self) {
        self.run("go back", self.client().back());
    }

    #[track_caller]
    pub fn refresh(&self) {
        self.run("reload", self.client().refresh());
    }

    /// The page's `<title>`.
    #[track_caller]
    pub fn title(&self) -> String {
        self.run("read the title", self.client().title())
    }

    /// The page's HTML as it is now (the DOM serialised).
    #[track_caller]
    pub fn source(&self) -> String {
        self.run("read the source", self.client().source())
    }

    /// The first element matching `css`; panics when there is none.
    #[track_caller]
    fn element(&self, css: &str) -> Element {
        self.run(
            &format!("find `{css}`"),
            self.client().find(Locator::Css(css)),
        )
    }

    /// The rendered text of the first element matching `css` (as a person sees it: hidden
    /// elements have none).
    #[track_caller]
    pub fn text(&self, css: &str) -> String {
        let element = self.element(css);
        self.run(&format!("read the text of `{css}`"), element.text())
    }

    /// The rendered texts of every element matching `css`, in document order.
    #[track_caller]
    pub fn texts(&self, css: &str) -> Vec<String> {
        let elements = self.all(css);
        elements
            .iter()
            .map(|element| self.run(&format!("read the text of `{css}`"), element.text()))
            .collect()
    }

    /// An attribute of the first element matching `css` (`None`: the element has none).
    #[track_caller]
    pub fn attribute(&self, css: &str, name: &str) -> Option<String> {
        let element = self.element(css);
        self.run(&format!("read `{name}` of `{css}`"), element.attr(name))
    }

    /// Whether any element matches `css`.
    #[track_caller]
    pub fn exists(&self, css: &str) -> bool {
        self.count(css) > 0
    }

    /// How many elements match `css`.
    #[track_caller]
    pub fn count(&self, css: &str) -> usize {
        self.all(css).len()
    }

    #[track_caller]
    fn all(&self, css: &str) -> Vec<Element> {
        self.run(
            &format!("find every `{css}`"),
            self.client().find_all(Locator::Css(css)),
        )
    }

    // ---- acting as a person

    /// Empties the field matching `css` and types `text` into it.
    #[track_caller]
    pub fn fill(&self, css: &str, text: &str) {
        let field = self.element(css);
        self.run(&format!("clear `{css}`"), field.clear());
        self.run(&format!("type into `{css}`"), field.send_keys(text));
    }

    /// Chooses the `<option>` with `value` in the `<select>` matching `css`.
    #[track_caller]
    pub fn select(&self, css: &str, value: &str) {
        let select = self.element(css);
        self.run(
            &format!("choose `{value}` in `{css}`"),
            select.select_by_value(value),
        );
    }

    /// Clicks the element matching `css` (a link or a button: the navigation it starts is
    /// waited for).
    #[track_caller]
    pub fn click(&self, css: &str) {
        let element = self.element(css);
        self.run(&format!("click `{css}`"), element.click());
    }

    /// Submits the form matching `css` as a person does: by clicking its first submit button
    /// (so the browser's own checks, such as `required`, apply). Panics when it has none.
    #[track_caller]
    pub fn submit(&self, form_css: &str) {
        let form = self.element(form_css);
        let buttons = self.run(
            &format!("find the submit button of `{form_css}`"),
            form.find_all(Locator::Css(
                "button:not([type]), button[type=submit], input[type=submit]",
            )),
        );
        let Some(button) = buttons.first() else {
            panic!(
                "browser: the form `{form_css}` has no submit button (at {})",
                self.where_now()
            )
        };
        self.run(&format!("submit `{form_css}`"), button.click());
    }

    /// Submits the form matching `css` (as [`Browser::submit`]) and waits until the page it
    /// leads to has loaded: a new document, whether or not the URL changed (a sign-in posts
    /// to one page and is sent back to the one it came from).
    #[track_caller]
    pub fn submit_and_load(&self, form_css: &str) {
        self.mark_document();
        self.submit(form_css);
        self.wait_for_new_document(&format!("the page after submitting `{form_css}`"));
    }

    /// Clicks the link matching `css` and waits until the page it leads to has loaded.
    #[track_caller]
    pub fn follow(&self, css: &str) {
        self.mark_document();
        self.click(css);
        self.wait_for_new_document(&format!("the page after following `{css}`"));
    }

    /// Marks the document shown, so a new one can be told from it.
    fn mark_document(&self) {
        self.execute(
            "document.documentElement.dataset.harnessOld = '1'; return null;",
            vec![],
        );
    }

    /// Waits (at most 10 s) until the document shown is not the marked one and has loaded.
    #[track_caller]
    fn wait_for_new_document(&self, what: &str) {
        let until = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let loaded = self.execute(
                "return document.readyState === 'complete' \
                 && document.documentElement.dataset.harnessOld === undefined;",
                vec![],
            );
            if loaded == Value::Bool(true) {
                return;
            }
            assert!(
                std::time::Instant::now() < until,
                "browser: {what} did not load within 10 s (at {})",
                self.where_now()
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    // ---- cookies (of the page's site: open a page of it first)

    /// Sets cookie `name` to `value` for the site of the page shown, on path `/` (a forged or
    /// replayed session cookie, say).
    #[track_caller]
    pub fn set_cookie(&self, name: &str, value: &str) {
        let mut cookie = Cookie::new(name.to_owned(), value.to_owned());
        cookie.set_path("/");
        self.add_cookie(cookie);
    }

    /// Sets a cookie with the attributes the caller chose; one it leaves out of `Domain` is the
    /// page's host, and of `SameSite` is `Lax` (a browser's default: the WebDriver client
    /// would send `None`, which Chromium refuses without `Secure`).
    #[track_caller]
    pub fn add_cookie(&self, mut cookie: Cookie<'static>) {
        if cookie.domain().is_none() {
            let url = self.current_url();
            let host = url
                .host_str()
                .unwrap_or_else(|| panic!("browser: a cookie needs a page of its site, not {url}"));
            cookie.set_domain(host.to_owned());
        }
        if cookie.same_site().is_none() {
            cookie.set_same_site(SameSite::Lax);
        }
        let what = format!("set cookie `{}`", cookie.name());
        self.run(&what, self.client().add_cookie(cookie));
    }

    /// Cookie `name` as the browser keeps it (with `HttpOnly`, `Secure`, `SameSite`), if any.
    #[track_caller]
    pub fn cookie(&self, name: &str) -> Option<Cookie<'static>> {
        self.cookies()
            .into_iter()
            .find(|cookie| cookie.name() == name)
    }

    /// Every cookie the page's site has.
    #[track_caller]
    pub fn cookies(&self) -> Vec<Cookie<'static>> {
        self.run("read the cookies", self.client().get_all_cookies())
    }

    /// Deletes cookie `name` (an expired session, as the browser sees it).
    #[track_caller]
    pub fn delete_cookie(&self, name: &str) {
        self.run(
            &format!("delete cookie `{name}`"),
            self.client().delete_cookie(name),
        );
    }

    #[track_caller]
    pub fn delete_all_cookies(&self) {
        self.run("delete the cookies", self.client().delete_all_cookies());
    }

    // ---- scripts

    /// Runs `script` in the page (a function body: `return` answers; `arguments` are `args`).
    #[track_caller]
    pub fn execute(&self, script: &str, args: Vec<Value>) -> Value {
        self.run("run a script", self.client().execute(script, args))
    }

    /// Runs `script` in the page and waits until it calls its last argument, the callback,
    /// whose argument it answers.
    #[track_caller]
    pub fn execute_async(&self, script: &str, args: Vec<Value>) -> Value {
        self.run(
            "run an asynchronous script",
            self.client().execute_async(script, args),
        )
    }

    /// `GET url` (absolute, or relative to the page) from inside the page with `fetch`, as the
    /// page's own script would: with the site's cookies, redirects followed. For what a
    /// download link answers (a CSV) without the browser saving a file.
    #[track_caller]
    pub fn fetch(&self, url: &str) -> Fetched {
        const FETCH: &str = r#"
            const url = arguments[0];
            const done = arguments[arguments.length - 1];
            fetch(url, { credentials: "same-origin" }).then(
                async (response) => {
                    const headers = {};
                    response.headers.forEach((value, name) => { headers[name] = value; });
                    done({
                        status: response.status,
                        url: response.url,
                        headers: headers,
                        body: await response.text(),
                    });
                },
                (error) => done({ error: String(error) }),
            );
        "#;
        let answer = self.execute_async(FETCH, vec![json!(url)]);
        if let Some(error) = answer.get("error") {
            panic!(
                "browser: fetch {url} failed: {error} (at {})",
                self.where_now()
            );
        }
        serde_json::from_value(answer.clone())
            .unwrap_or_else(|error| panic!("browser: fetch {url} answered {answer}: {error}"))
    }

    // ---- the viewport and screenshots

    /// Makes the page's viewport `px` CSS pixels wide (the window is sized so that
    /// `window.innerWidth` is `px`); 320 is WCAG 1.4.10's reflow width, 1280 a desktop.
    #[track_caller]
    pub fn set_width(&self, px: u32) {
        self.resize_viewport(px, HEIGHT);
        self.width.set(px);
    }

    /// The viewport's width set last.
    pub fn width(&self) -> u32 {
        self.width.get()
    }

    /// Sizes the window so that the viewport is `width` by `height`: the window's frame, if
    /// any, is measured and added.
    #[track_caller]
    fn resize_viewport(&self, width: u32, height: u32) {
        let mut window = (width, height);
        for _ in 0..3 {
            self.run(
                &format!("size the window to {}x{}", window.0, window.1),
                self.client().set_window_size(window.0, window.1),
            );
            let (inner_width, inner_height) = self.viewport();
            if (inner_width, inner_height) == (width, height) {
                return;
            }
            window = (
                (window.0 + width).saturating_sub(inner_width),
                (window.1 + height).saturating_sub(inner_height),
            );
        }
        let (inner_width, inner_height) = self.viewport();
        panic!(
            "browser: the viewport is {inner_width}x{inner_height}, not {width}x{height}, in a \
             window of {}x{}",
            window.0, window.1
        );
    }

    /// `window.innerWidth` and `window.innerHeight`.
    #[track_caller]
    fn viewport(&self) -> (u32, u32) {
        let size = self.execute("return [window.innerWidth, window.innerHeight];", vec![]);
        let dimension = |i: usize| {
            size[i]
                .as_u64()
                .and_then(|px| u32::try_from(px).ok())
                .unwrap_or_else(|| panic!("browser: the viewport's size is {size}"))
        };
        (dimension(0), dimension(1))
    }

    /// A PNG of the whole page (up to 8000 px tall) at the current width, written to
    /// `target/screenshots/portaal/{name}-{width}.png`; answers its path.
    #[track_caller]
    pub fn screenshot(&self, name: &str) -> PathBuf {
        let width = self.width.get();
        let page_height = self.execute(
            "return Math.ceil(Math.max(document.documentElement.scrollHeight, \
             document.body ? document.body.scrollHeight : 0));",
            vec![],
        );
        let page_height = page_height
            .as_u64()
            .and_then(|px| u32::try_from(px).ok())
            .unwrap_or(HEIGHT)
            .clamp(HEIGHT, MAX_SCREENSHOT_HEIGHT);
        // The window grows to show the whole page, and shrinks back after.
        self.resize_viewport(width, page_height);
        let png = self.run("take a screenshot", self.client().screenshot());
        self.resize_viewport(width, HEIGHT);
        let directory = Path::new(SCREENSHOTS);
        std::fs::create_dir_all(directory)
            .unwrap_or_else(|error| panic!("create {}: {error}", directory.display()));
        let path = directory.join(format!("{name}-{width}.png"));
        std::fs::write(&path, png)
            .unwrap_or_else(|error| panic!("write {}: {error}", path.display()));
        path
    }

    // ---- checks

    /// Panics when axe-core finds any violation of WCAG 2.1 A or AA on the page shown, listing
    /// each (rule, impact, help, the elements); `page` names the page in the message.
    #[track_caller]
    pub fn assert_accessible(&self, page: &str) {
        let violations = self.accessibility_violations();
        if !violations.is_empty() {
            let list: String = violations.iter().map(ToString::to_string).collect();
            panic!(
                "{page} ({}): axe-core found {} violation(s) of WCAG 2.1 A/AA:\n{list}",
                self.where_now(),
                violations.len()
            );
        }
    }

    /// What axe-core finds against WCAG 2.1 A and AA on the page shown ([`WCAG_TAGS`]).
    #[track_caller]
    pub fn accessibility_violations(&self) -> Vec<Violation> {
        self.accessibility_violations_with(Path::new(AXE))
    }

    /// [`Browser::accessibility_violations`] with axe-core's bundle read from `axe`; panics
    /// when it cannot be read or did not run.
    #[track_caller]
    pub fn accessibility_violations_with(&self, axe: &Path) -> Vec<Violation> {
        const LOADED: &str =
            "return typeof window.axe === 'object' && typeof window.axe.run === 'function';";
        const RUN: &str = r#"
            const tags = arguments[0];
            const done = arguments[arguments.length - 1];
            const selector = (target) => Array.isArray(target) ? target.join(" >>> ") : String(target);
            window.axe.run(document, { runOnly: { type: "tag", values: tags }, resultTypes: ["violations"] }).then(
                (results) => done({
                    engine: results.testEngine.name,
                    version: results.testEngine.version,
                    violations: results.violations.map((violation) => ({
                        id: violation.id,
                        impact: violation.impact,
                        help: violation.help,
                        helpUrl: violation.helpUrl,
                        nodes: violation.nodes.map((node) => ({
                            target: node.target.map(selector).join(" >>> "),
                            summary: node.failureSummary || "",
                        })),
                    })),
                }),
                (error) => done({ error: String((error && error.stack) || error) }),
            );
        "#;
        let source = std::fs::read_to_string(axe).unwrap_or_else(|error| {
            panic!(
                "axe-core is missing ({}: {error}): run `bash scripts/test.sh`, which installs it \
                 into tests/browser/node_modules with npm ci",
                axe.display()
            )
        });
        if self.execute(LOADED, vec![]) != json!(true) {
            self.execute(&source, vec![]);
            assert!(
                self.execute(LOADED, vec![]) == json!(true),
                "axe-core did not load from {} into {}",
                axe.display(),
                self.where_now()
            );
        }
        let answer = self.execute_async(RUN, vec![json!(WCAG_TAGS)]);
        if let Some(error) = answer.get("error") {
            panic!("axe-core did not run on {}: {error}", self.where_now());
        }
        assert!(
            answer["engine"] == "axe-core",
            "axe-core did not run on {}: it answered {answer}",
            self.where_now()
        );
        serde_json::from_value(answer["violations"].clone())
            .unwrap_or_else(|error| panic!("axe-core's violations {answer}: {error}"))
    }

    /// Panics when the page scrolls sideways at the current width: the document's
    /// `scrollWidth` is wider than the viewport (`window.innerWidth`, and the width the
    /// document may use beside a vertical scroll bar, `clientWidth`). At 320 px this is WCAG
    /// 1.4.10 (reflow). The message names the elements that reach past the viewport.
    #[track_caller]
    pub fn assert_no_horizontal_scroll(&self) {
        const MEASURE: &str = r##"
            const root = document.documentElement;
            const viewport = Math.min(window.innerWidth, root.clientWidth);
            const name = (element) => element.tagName.toLowerCase()
                + (element.id ? "#" + element.id : "")
                + Array.from(element.classList).map((c) => "." + c).join("");
            const past = Array.from(document.querySelectorAll("body *"))
                .filter((element) => element.getBoundingClientRect().right > viewport + 0.5)
                .slice(0, 10)
                .map((element) => name(element) + " (right edge at "
                    + Math.round(element.getBoundingClientRect().right) + " px)");
            return {
                scrollWidth: root.scrollWidth,
                innerWidth: window.innerWidth,
                clientWidth: root.clientWidth,
                past: past,
            };
        "##;
        let measured = self.execute(MEASURE, vec![]);
        let number = |key: &str| {
            measured[key]
                .as_u64()
                .unwrap_or_else(|| panic!("browser: measured {measured}"))
        };
        let (scroll, inner, client) = (
            number("scrollWidth"),
            number("innerWidth"),
            number("clientWidth"),
        );
        assert!(
            scroll <= inner && scroll <= client,
            "{} scrolls sideways at {} px: scrollWidth {scroll} > innerWidth {inner} or \
             clientWidth {client}; reaching past the viewport: {}",
            self.where_now(),
            self.width.get(),
            measured["past"]
        );
    }
}

impl Drop for Browser {
    /// Ends the session (Chromium quits), then chromedriver's whole process group, so no
    /// Chromium outlives its test even when the session did not answer.
    fn drop(&mut self) {
        if let Some(client) = self.client.take() {
            let _ = self.runtime.block_on(async {
                tokio::time::timeout(Duration::from_secs(10), client.close()).await
            });
        }
        let group = rustix::process::Pid::from_child(&self.driver);
        let _ = rustix::process::kill_process_group(group, rustix::process::Signal::KILL);
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// Starts chromedriver on a free 127.0.0.1 port, in a process group of its own (Chromium
/// joins it), and waits until it answers that it is ready. A port taken between the choice
/// and chromedriver's bind makes chromedriver exit: then another port is tried.
fn spawn_driver(chromedriver: &Path, home: &Path) -> (Child, u16) {
    let log = home.join("chromedriver.log");
    let mut refusals = Vec::new();
    for _ in 0..3 {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free port on 127.0.0.1")
            .port();
        let output = File::create(home.join("chromedriver.out")).expect("chromedriver's output");
        let mut driver = Command::new(chromedriver)
            .arg(format!("--port={port}"))
            .arg(format!("--log-path={}", log.display()))
            .stdin(Stdio::null())
            .stdout(output.try_clone().expect("chromedriver's output"))
            .stderr(output)
            .process_group(0)
            .spawn()
            .unwrap_or_else(|error| panic!("start {}: {error}", chromedriver.display()));
        match wait_ready(&mut driver, port) {
            Ok(()) => return (driver, port),
            Err(refusal) => {
                let _ = driver.kill();
                let _ = driver.wait();
                let output =
                    std::fs::read_to_string(home.join("chromedriver.out")).unwrap_or_default();
                refusals.push(format!("port {port}: {refusal}\n{output}"));
            }
        }
    }
    panic!(
        "{} did not start: {}",
        chromedriver.display(),
        refusals.join("\n")
    );
}

/// Polls chromedriver's `/status` until it says it is ready; an error if it exits first or the
/// deadline passes.
fn wait_ready(driver: &mut Child, port: u16) -> Result<(), String> {
    let status = format!("http://127.0.0.1:{port}/status");
    let http = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()
        .expect("an HTTP client");
    let until = Instant::now() + START_DEADLINE;
    loop {
        if let Some(exit) = driver.try_wait().expect("chromedriver's status") {
            return Err(format!("chromedriver exited: {exit}"));
        }
        let ready = http
            .get(&status)
            .send()
            .and_then(reqwest::blocking::Response::json::<Value>)
            .is_ok_and(|answer| answer["value"]["ready"] == true);
        if ready {
            return Ok(());
        }
        if Instant::now() >= until {
            return Err(format!("not ready within {START_DEADLINE:?}"));
        }
        std::thread::sleep(POLL);
    }
}
