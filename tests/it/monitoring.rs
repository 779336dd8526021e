//! The operator's monitoring kit (`prometheus/`, `grafana/`, `docker-compose.yml`) checked with
//! the real tools and against a real engine:
//!
//! - `promtool check config`, `promtool check rules` (with its linter) and `promtool test rules`
//!   on the repository's files; and that the unit tests cover every alert both firing and not
//!   firing, and every recording rule;
//! - `promtool check metrics` on the engine's own `/metrics` after a short load: no lint
//!   problem at all;
//! - the dashboard's and the Compose file's wiring (datasource uid, mounts, ports), since
//!   Docker cannot run here;
//! - end to end: a real Prometheus scraping a real engine every second with the repository's
//!   rule files, first fresh (one afnemer registered, nothing delivered), then under a short
//!   load (afnemers with forecasts, batches, a throttled afnemer, a citizen whose berichten
//!   are delivered and notified, webhooks that answer and one that fails); each time every
//!   expression of every dashboard panel and every rule evaluated through Prometheus' HTTP
//!   API: none may fail, and every one must answer series (a fresh engine's dashboard shows
//!   0, not "No data"), but, while a maintenance window is on, those over availability
//!   outside maintenance (`MAINTENANCE_EMPTY`). Every metric the kit reads must be in the
//!   engine's output, and in the engine's list of metrics;
//! - the engine's `/metrics` after the load holds exactly the metrics of that list, each with
//!   the labels the list gives it.
//!
//! The tools are Debian's `prometheus` package (`/usr/bin/prometheus`, `/usr/bin/promtool`),
//! which `scripts/test.sh` installs; without them these tests fail, they never skip.
//! Everything listens on 127.0.0.1 only.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsString;
use std::fs::File;
use std::io::Write;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use crate::support::webhook::{Answer, Receiver};
use crate::support::{
    EngineBuilder, Process as Engine, Reply, bsn, burger_token, guid, oin, poll_until, send,
    wait_until,
};
use berichtenbox_actors::telemetry::{Kind, METRICS, metric};
use serde_json::{Value, json};

/// The repository (the root crate's directory).
const REPO: &str = env!("CARGO_MANIFEST_DIR");

/// What to say when a tool is missing.
const INSTALL_HINT: &str = "the monitoring tests need Debian's `prometheus` package \
     (/usr/bin/prometheus and /usr/bin/promtool); scripts/test.sh installs it \
     (apt-get install prometheus)";

/// Recorded series that have no samples while a maintenance window is on (availability counts
/// only the time outside them): expressions over them, and the rules that record them, may then
/// answer nothing.
const MAINTENANCE_EMPTY: &[&str] = &[
    "berichtenbox:beschikbaar:buiten_onderhoud",
    "berichtenbox:beschikbaarheid:ratio30d",
];

/// How long anything the tests wait for may take.
const DEADLINE: Duration = Duration::from_secs(25);

// ---------------------------------------------------------------------------------------------
// Files of the kit
// ---------------------------------------------------------------------------------------------

fn repo(path: &str) -> PathBuf {
    Path::new(REPO).join(path)
}

/// The `.yml`/`.yaml` files of a folder of the repository, sorted.
fn yaml_files(dir: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(repo(dir))
        .unwrap_or_else(|error| panic!("read {dir}: {error}"))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|path| {
            path.extension()
                .is_some_and(|ext| ext == "yml" || ext == "yaml")
        })
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no YAML files in {dir}");
    files
}

/// A YAML file as a JSON value.
fn read_yaml(path: &Path) -> Value {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|error| panic!("read {}: {error}", path.display()));
    serde_norway::from_str(&text)
        .unwrap_or_else(|error| panic!("{} is not YAML: {error}", path.display()))
}

fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|error| panic!("read {}: {error}", path.display()));
    serde_json::from_str(&text)
        .unwrap_or_else(|error| panic!("{} is not JSON: {error}", path.display()))
}

fn str_of<'a>(value: &'a Value, field: &str, context: &str) -> &'a str {
    value[field]
        .as_str()
        .unwrap_or_else(|| panic!("{context}: no string `{field}` in {value}"))
}

fn array_of<'a>(value: &'a Value, field: &str, context: &str) -> &'a [Value] {
    value[field]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_else(|| panic!("{context}: no list `{field}` in {value}"))
}

/// One rule of `prometheus/rules/*.yml`.
#[derive(Debug)]
struct Rule {
    file: String,
    /// The recorded series' name or the alert's name.
    name: String,
    alert: bool,
    expr: String,
    body: Value,
}

fn rules() -> Vec<Rule> {
    let mut rules = Vec::new();
    for path in yaml_files("prometheus/rules") {
        let file = path
            .file_name()
            .expect("name")
            .to_string_lossy()
            .into_owned();
        let doc = read_yaml(&path);
        for group in array_of(&doc, "groups", &file) {
            let context = format!("{file}, group {}", group["name"]);
            for rule in array_of(group, "rules", &context) {
                let (name, alert) = match (rule["record"].as_str(), rule["alert"].as_str()) {
                    (Some(name), None) => (name, false),
                    (None, Some(name)) => (name, true),
                    _ => panic!("{context}: a rule must be a record or an alert: {rule}"),
                };
                rules.push(Rule {
                    file: file.clone(),
                    name: name.to_owned(),
                    alert,
                    expr: str_of(rule, "expr", &context).trim().to_owned(),
                    body: rule.clone(),
                });
            }
        }
    }
    rules
}

/// The names of the rule groups, in the order of the rule files; groups of alerts come after
/// every group of recording rules, so that alerts read what was recorded at the same moment.
fn rule_groups() -> Vec<String> {
    let mut names = Vec::new();
    let mut alerts_seen = false;
    for path in yaml_files("prometheus/rules") {
        let context = path.display().to_string();
        for group in array_of(&read_yaml(&path), "groups", &context) {
            let name = str_of(group, "name", &context).to_owned();
            let alerting = array_of(group, "rules", &context)
                .iter()
                .any(|rule| rule["alert"].is_string());
            assert!(
                alerting || !alerts_seen,
                "{context}: recording group {name} comes after a group of alerts"
            );
            alerts_seen |= alerting;
            names.push(name);
        }
    }
    names
}

/// One target of a dashboard panel.
#[derive(Debug)]
struct PanelTarget {
    dashboard: String,
    panel: String,
    ref_id: String,
    expr: String,
}

fn dashboards() -> Vec<(String, Value)> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(repo("grafana/dashboards"))
        .expect("read grafana/dashboards")
        .map(|entry| entry.expect("directory entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no dashboards in grafana/dashboards");
    files
        .into_iter()
        .map(|path| {
            let name = path
                .file_name()
                .expect("name")
                .to_string_lossy()
                .into_owned();
            (name, read_json(&path))
        })
        .collect()
}

/// Every panel of a dashboard, also those inside collapsed rows.
fn panels(dashboard: &Value) -> Vec<&Value> {
    let mut all = Vec::new();
    for panel in dashboard["panels"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or(&[])
    {
        all.push(panel);
        for inner in panel["panels"].as_array().map(Vec::as_slice).unwrap_or(&[]) {
            all.push(inner);
        }
    }
    all
}

fn panel_targets() -> Vec<PanelTarget> {
    let mut targets = Vec::new();
    for (name, dashboard) in dashboards() {
        for panel in panels(&dashboard) {
            for target in panel["targets"]
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or(&[])
            {
                targets.push(PanelTarget {
                    dashboard: name.clone(),
                    panel: panel["title"].as_str().unwrap_or("<untitled>").to_owned(),
                    ref_id: target["refId"].as_str().unwrap_or("?").to_owned(),
                    expr: target["expr"].as_str().unwrap_or("").to_owned(),
                });
            }
        }
    }
    targets
}

/// Grafana's template variables in `expr` replaced as Grafana would: `$afnemer` (a regular
/// expression: `.*` for "All", or one OIN) and the built-in intervals.
fn substitute(expr: &str, afnemer: &str) -> String {
    // Longest names first, so that `$__range_s` is not read as `$__range` + "_s".
    let variables = [
        ("$__rate_interval", "1m"),
        ("$__interval_ms", "15000"),
        ("$__interval", "15s"),
        ("$__range_ms", "3600000"),
        ("$__range_s", "3600"),
        ("$__range", "1h"),
        ("$afnemer", afnemer),
    ];
    let mut expr = expr.to_owned();
    for (name, value) in variables {
        expr = expr.replace(&format!("${{{}}}", &name[1..]), value);
        expr = expr.replace(name, value);
    }
    expr
}

/// Whether `expr` names the series `name` (a whole identifier, not part of a longer one).
fn mentions(expr: &str, name: &str) -> bool {
    let identifier = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == ':';
    expr.match_indices(name).any(|(at, _)| {
        let before = expr[..at].chars().next_back();
        let after = expr[at + name.len()..].chars().next();
        !before.is_some_and(identifier) && !after.is_some_and(identifier)
    })
}

/// The engine's metric names an expression reads (`berichtenbox_...`, not recorded series).
fn engine_metrics_in(expr: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let bytes = expr.as_bytes();
    let identifier = |b: u8| b.is_ascii_alphanumeric() || b == b'_' || b == b':';
    for (at, _) in expr.match_indices("berichtenbox_") {
        if at > 0 && identifier(bytes[at - 1]) {
            continue;
        }
        let end = expr[at..]
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .map_or(expr.len(), |n| at + n);
        if expr[end..].starts_with(':') {
            continue;
        }
        names.insert(expr[at..end].to_owned());
    }
    names
}

// ---------------------------------------------------------------------------------------------
// The tools
// ---------------------------------------------------------------------------------------------

/// A program of Debian's `prometheus` package: on `PATH`, else in /usr/bin.
fn tool(name: &str) -> PathBuf {
    let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).collect())
        .unwrap_or_default();
    dirs.push(PathBuf::from("/usr/bin"));
    dirs.into_iter()
        .map(|dir| dir.join(name))
        .find(|path| path.is_file())
        .unwrap_or_else(|| panic!("`{name}` not found: {INSTALL_HINT}"))
}

/// Runs promtool with `args` (and `stdin`), in the repository.
fn promtool(args: &[OsString], stdin: Option<&[u8]>) -> Output {
    let mut child = Command::new(tool("promtool"))
        .args(args)
        .current_dir(REPO)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|error| panic!("run promtool: {error}; {INSTALL_HINT}"));
    if let Some(input) = stdin {
        let mut pipe = child.stdin.take().expect("stdin");
        pipe.write_all(input).expect("write promtool's stdin");
    }
    child.wait_with_output().expect("wait for promtool")
}

#[track_caller]
fn assert_promtool_ok(args: &[OsString]) -> String {
    let output = promtool(args, None);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.status.success(),
        "promtool {args:?} failed ({}):\n{text}",
        output.status
    );
    text
}

fn os(args: &[&str]) -> Vec<OsString> {
    args.iter().map(OsString::from).collect()
}

fn with_files(args: &[&str], files: Vec<PathBuf>) -> Vec<OsString> {
    let mut all = os(args);
    all.extend(files.into_iter().map(PathBuf::into_os_string));
    all
}

// ---------------------------------------------------------------------------------------------
// promtool on the repository's files
// ---------------------------------------------------------------------------------------------

#[test]
fn prometheus_config_is_valid() {
    let text = assert_promtool_ok(&os(&["check", "config", "prometheus/prometheus.yml"]));
    assert!(
        text.contains("rules found"),
        "the configuration loads no rule files:\n{text}"
    );
}

#[test]
fn rule_files_are_valid_and_lint_clean() {
    assert_promtool_ok(&with_files(
        &["check", "rules", "--lint=all", "--lint-fatal"],
        yaml_files("prometheus/rules"),
    ));
}

#[test]
fn rule_unit_tests_pass() {
    let text = assert_promtool_ok(&with_files(
        &["test", "rules"],
        yaml_files("prometheus/tests"),
    ));
    assert!(!text.contains("FAILED"), "{text}");
}

/// Every alert has a unit test in which it fires and one in which it does not; every recording
/// rule is evaluated by a unit test; the tests load every rule file and evaluate its groups in
/// order (recording rules first); and every alert has a severity and a summary and
/// description.
#[test]
fn every_rule_is_unit_tested_and_every_alert_is_described() {
    let rule_files: BTreeSet<PathBuf> = yaml_files("prometheus/rules")
        .into_iter()
        .map(|path| path.canonicalize().expect("canonical rule file"))
        .collect();
    let groups = rule_groups();
    let mut loaded = BTreeSet::new();
    let mut fires = BTreeSet::new();
    let mut quiet = BTreeSet::new();
    let mut exprs = Vec::new();
    for path in yaml_files("prometheus/tests") {
        let context = path.display().to_string();
        let doc = read_yaml(&path);
        for file in array_of(&doc, "rule_files", &context) {
            let file = file.as_str().expect("rule file name");
            let resolved = path.parent().expect("dir").join(file);
            loaded.insert(
                resolved
                    .canonicalize()
                    .unwrap_or_else(|error| panic!("{context}: rule file {file}: {error}")),
            );
        }
        let order: Vec<&str> = array_of(&doc, "group_eval_order", &context)
            .iter()
            .filter_map(Value::as_str)
            .collect();
        assert_eq!(
            order, groups,
            "{context}: group_eval_order must list every group in the rule files' order"
        );
        for test in array_of(&doc, "tests", &context) {
            for case in test["alert_rule_test"]
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or(&[])
            {
                let name = str_of(case, "alertname", &context).to_owned();
                let firing = case["exp_alerts"].as_array().is_some_and(|a| !a.is_empty());
                if firing {
                    fires.insert(name);
                } else {
                    quiet.insert(name);
                }
            }
            for case in test["promql_expr_test"]
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or(&[])
            {
                exprs.push(str_of(case, "expr", &context).to_owned());
            }
        }
    }
    assert_eq!(
        loaded, rule_files,
        "the unit tests must load every rule file"
    );

    let mut missing = Vec::new();
    for rule in rules() {
        if rule.alert {
            if !fires.contains(&rule.name) {
                missing.push(format!("alert {} is never tested firing", rule.name));
            }
            if !quiet.contains(&rule.name) {
                missing.push(format!("alert {} is never tested not firing", rule.name));
            }
            let severity = rule.body["labels"]["severity"].as_str().unwrap_or("");
            if !["critical", "warning", "info"].contains(&severity) {
                missing.push(format!("alert {} has severity {severity:?}", rule.name));
            }
            for field in ["summary", "description"] {
                if rule.body["annotations"][field]
                    .as_str()
                    .is_none_or(|text| text.trim().is_empty())
                {
                    missing.push(format!("alert {} has no {field}", rule.name));
                }
            }
        } else {
            assert!(
                rule.name.starts_with("berichtenbox:"),
                "recorded series {} is not namespaced berichtenbox:...",
                rule.name
            );
            if !exprs.iter().any(|expr| mentions(expr, &rule.name)) {
                missing.push(format!(
                    "recording rule {} has no promql_expr_test",
                    rule.name
                ));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "prometheus/tests/*.yml:\n  {}",
        missing.join("\n  ")
    );
}

// ---------------------------------------------------------------------------------------------
// The dashboards and the Compose wiring
// ---------------------------------------------------------------------------------------------

/// The datasource uid that Grafana is provisioned with.
fn provisioned_datasource_uid() -> String {
    let path = repo("grafana/provisioning/datasources/prometheus.yaml");
    let doc = read_yaml(&path);
    let sources = array_of(&doc, "datasources", "datasources");
    assert_eq!(sources.len(), 1, "one datasource: {doc}");
    assert_eq!(sources[0]["type"], "prometheus");
    str_of(&sources[0], "uid", "datasource").to_owned()
}

#[test]
fn dashboards_are_well_formed() {
    let uid = provisioned_datasource_uid();
    assert_eq!(uid, "prometheus");
    for (name, dashboard) in dashboards() {
        assert!(
            dashboard["uid"].as_str().is_some_and(|u| !u.is_empty()),
            "{name}: no uid"
        );
        assert!(
            dashboard["title"].as_str().is_some_and(|t| !t.is_empty()),
            "{name}: no title"
        );
        let schema = dashboard["schemaVersion"].as_u64().unwrap_or(0);
        assert!(schema >= 36, "{name}: schemaVersion {schema}");
        let mut ids = BTreeSet::new();
        for panel in panels(&dashboard) {
            let title = panel["title"].as_str().unwrap_or("<untitled>");
            let context = format!("{name}, panel {title:?}");
            let id = panel["id"]
                .as_u64()
                .unwrap_or_else(|| panic!("{context}: no id"));
            assert!(ids.insert(id), "{context}: id {id} used twice");
            let grid = &panel["gridPos"];
            let (x, w) = (grid["x"].as_u64(), grid["w"].as_u64());
            assert!(
                matches!((x, w), (Some(x), Some(w)) if w > 0 && x + w <= 24),
                "{context}: gridPos {grid}"
            );
            if panel["type"] == "row" {
                continue;
            }
            assert_eq!(panel["datasource"]["uid"], uid.as_str(), "{context}");
            let targets = array_of(panel, "targets", &context);
            assert!(!targets.is_empty(), "{context}: no targets");
            let mut refs = BTreeSet::new();
            for target in targets {
                assert_eq!(target["datasource"]["uid"], uid.as_str(), "{context}");
                let ref_id = str_of(target, "refId", &context);
                assert!(refs.insert(ref_id), "{context}: refId {ref_id} used twice");
                assert!(
                    target["expr"]
                        .as_str()
                        .is_some_and(|e| !e.trim().is_empty()),
                    "{context}: target {ref_id} has no expr"
                );
            }
        }
        for variable in dashboard["templating"]["list"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or(&[])
        {
            if variable["type"] == "query" {
                assert_eq!(variable["datasource"]["uid"], uid.as_str(), "{name}");
            }
        }
    }
}

/// Docker cannot run here, so this checks what `docker compose up` would rely on: the engine's
/// command and port, the scrape target naming that service and port, the mounts of Prometheus'
/// configuration and of Grafana's provisioning and dashboards, and the datasource URL naming
/// the Prometheus service.
#[test]
fn compose_file_wires_the_engine_prometheus_and_grafana_together() {
    let compose = read_yaml(&repo("docker-compose.yml"));
    let services = &compose["services"];
    let engine = &services["berichtenbox"];
    assert_eq!(
        engine["build"], ".",
        "the engine is built from the Dockerfile"
    );
    assert!(repo("Dockerfile").is_file(), "no Dockerfile");
    let command: Vec<&str> = array_of(engine, "command", "engine")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(
        command,
        [
            "serve",
            "--listen",
            "0.0.0.0:8080",
            "--ops-listen",
            "0.0.0.0:9464",
            "--data-dir",
            "/data"
        ]
    );
    let dockerfile = std::fs::read_to_string(repo("Dockerfile")).expect("Dockerfile");
    assert!(
        dockerfile.contains(
            r#"CMD ["serve", "--listen", "0.0.0.0:8080", "--ops-listen", "0.0.0.0:9464", "--data-dir", "/data"]"#
        ),
        "the image's own command serves on 0.0.0.0:8080, operations on 0.0.0.0:9464, with /data"
    );
    assert!(
        dockerfile.contains("EXPOSE 8080 9464"),
        "the image exposes the API and the operations port"
    );

    let config = read_yaml(&repo("prometheus/prometheus.yml"));
    let job = array_of(&config, "scrape_configs", "prometheus.yml")
        .iter()
        .find(|job| job["job_name"] == "berichtenbox")
        .expect("a scrape job named berichtenbox (the rules select job=\"berichtenbox\")");
    let targets = &job["static_configs"][0]["targets"];
    // /metrics is served on the operations listener only.
    assert_eq!(targets, &json!(["berichtenbox:9464"]));

    let volumes = |service: &str| -> Vec<String> {
        array_of(&services[service], "volumes", service)
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect()
    };
    let mounted_at = |service: &str, source: &str| -> String {
        volumes(service)
            .iter()
            .find_map(|v| {
                let rest = v.strip_prefix(source)?.strip_prefix(':')?;
                Some(rest.split(':').next().unwrap_or(rest).to_owned())
            })
            .unwrap_or_else(|| panic!("{service} does not mount {source}"))
    };
    assert_eq!(mounted_at("prometheus", "./prometheus"), "/etc/prometheus");
    let prometheus_command = array_of(&services["prometheus"], "command", "prometheus");
    assert!(
        prometheus_command
            .iter()
            .any(|arg| arg == "--config.file=/etc/prometheus/prometheus.yml"),
        "prometheus reads the mounted configuration"
    );
    assert_eq!(
        mounted_at("grafana", "./grafana/provisioning"),
        "/etc/grafana/provisioning"
    );
    let provider = read_yaml(&repo("grafana/provisioning/dashboards/berichtenbox.yaml"));
    let path = str_of(&provider["providers"][0]["options"], "path", "provider");
    assert_eq!(mounted_at("grafana", "./grafana/dashboards"), path);

    let datasource = read_yaml(&repo("grafana/provisioning/datasources/prometheus.yaml"));
    assert_eq!(
        datasource["datasources"][0]["url"],
        "http://prometheus:9090"
    );
}

// ---------------------------------------------------------------------------------------------
// A short load on a real engine
// ---------------------------------------------------------------------------------------------

/// What the load left behind, for the checks.
struct Load {
    /// The afnemer that has everything: a forecast, parked and throttled batches, a webhook.
    oin_a: String,
    /// Its webhook (answers 200) and afnemer B's (answers 503: failing, in backoff).
    webhook_a: Receiver,
    webhook_b: Receiver,
}

#[track_caller]
fn expect_status(reply: &Reply, allowed: &[u16], context: &str) -> Value {
    assert!(
        allowed.contains(&reply.status),
        "{context}: {} {}",
        reply.status,
        reply.text()
    );
    if reply.body.is_empty() {
        Value::Null
    } else {
        reply.json()
    }
}

/// The current month in Europe/Amsterdam, as `JJJJ-MM`.
fn this_month() -> String {
    let zone = jiff::tz::TimeZone::get("Europe/Amsterdam").expect("Europe/Amsterdam");
    jiff::Timestamp::now()
        .to_zoned(zone)
        .strftime("%Y-%m")
        .to_string()
}

/// A batch of berichten of type AANSLAG, one per recipient, created a minute ago.
fn batch(batch_no: u32, recipients: &[&str]) -> Value {
    let aanmaak = (jiff::Timestamp::now() - jiff::SignedDuration::from_mins(1))
        .round(jiff::Unit::Second)
        .expect("round");
    let berichten: Vec<Value> = recipients
        .iter()
        .enumerate()
        .map(|(i, ontvanger)| {
            json!({
                "berichtId": guid(batch_no, i as u32),
                "berichtType": "AANSLAG",
                "ontvanger": ontvanger,
                "onderwerp": format!("Bericht {i} van batch {batch_no}"),
                "tekst": "Er staat een bericht voor u klaar.",
            })
        })
        .collect();
    json!({
        "batchId": guid(batch_no, 0xffff_ffff),
        "aanmaakDatum": aanmaak.to_string(),
        "berichten": berichten,
    })
}

/// Puts a short load through the engine: three afnemers (A and B with a forecast for this
/// month and a webhook, C without either), berichttype AANSLAG for each, two citizens with a
/// box and one without; then two rounds of batches from each afnemer (decided Verwerkt and
/// NietActiefOfGeabonneerd), A throttled until a 429, and the portal API called, each round
/// waited for until processed, notified and pushed to both webhooks. `between_rounds` runs
/// between the rounds: counters are created by the first round, so a scraper that saw them then
/// sees them grow in the second (a rate needs two samples of a series).
fn put_load(engine: &Engine, between_rounds: &mut dyn FnMut()) -> Load {
    let webhook_a = Receiver::on(0, Answer::Status(200));
    let webhook_b = Receiver::on(0, Answer::Status(503));
    let oin_a = oin(1);
    let key_a = engine.afnemer(
        &oin_a,
        json!({ "naam": "Belastingdienst", "berichtenPerSeconde": 5, "burst": 30,
                "webhookUrl": webhook_a.url() }),
    );
    let key_b = engine.afnemer(
        &oin(2),
        json!({ "naam": "Gemeente Utrecht", "webhookUrl": webhook_b.url() }),
    );
    let key_c = engine.afnemer(&oin(3), json!({ "naam": "DUO" }));
    let maand = this_month();
    for (key, aantal) in [(&key_a, 120_000), (&key_b, 3_000)] {
        let reply = send(
            engine
                .client
                .put(engine.url(&format!("/v1/prognoses/{maand}")))
                .bearer_auth(key)
                .json(&json!({ "aantalBerichten": aantal, "gemiddeldeGrootteKb": 80 })),
        );
        expect_status(&reply, &[200, 201], &format!("PUT /v1/prognoses/{maand}"));
    }
    for key in [&key_a, &key_b, &key_c] {
        engine.berichttype(key, "AANSLAG", true);
    }
    let (x, y, z) = (bsn(801_000), bsn(802_000), bsn(803_000));
    for citizen in [&x, &y] {
        let reply = send(
            engine
                .client
                .post(engine.url("/v1/account"))
                .bearer_auth(burger_token(citizen))
                .json(&json!({ "email": format!("{citizen}@voorbeeld.nl") })),
        );
        expect_status(&reply, &[201], "POST /v1/account");
    }

    let recipients = [x.as_str(), y.as_str(), z.as_str(), x.as_str(), y.as_str()];
    let outbox = engine.data_dir.join("outbox");
    let notifications = || {
        std::fs::read_dir(&outbox).map_or(0, |entries| {
            entries
                .flatten()
                .filter(|e| e.path().extension().is_some_and(|ext| ext == "eml"))
                .count()
        })
    };
    let round = |round: u32| {
        let (notified, pushed_a) = (notifications(), webhook_a.hits());
        let mut delivered = Vec::new();
        for (key, first) in [(&key_a, 100), (&key_b, 200), (&key_c, 300)] {
            let batch_no = first + round;
            let body = batch(batch_no, &recipients);
            expect_status(&deliver(engine, key, &body), &[202], "deliver");
            let batch_id = body["batchId"].as_str().expect("id").to_owned();
            delivered.push((key.clone(), batch_id));
        }
        // A's burst is 30 at 5 a second: batches of 10 meet a 429 soon.
        let throttled = (0..15).any(|n| {
            let many: Vec<&str> = (0..10).map(|i| recipients[i % recipients.len()]).collect();
            let status = deliver(engine, &key_a, &batch(1000 * round + n, &many)).status;
            assert!(
                status == 202 || status == 429,
                "deliver while throttled: {status}"
            );
            status == 429
        });
        assert!(throttled, "afnemer A was never throttled (429)");
        for (key, batch_id) in &delivered {
            engine.wait_processed(key, batch_id, DEADLINE);
        }
        for _ in 0..5 {
            for path in ["/v1/account", "/v1/account/berichten"] {
                let reply = send(
                    engine
                        .client
                        .get(engine.url(path))
                        .bearer_auth(burger_token(&x)),
                );
                expect_status(&reply, &[200], path);
            }
        }
        wait_for("notifications in the outbox", || notifications() > notified);
        wait_for("a push to A's webhook and one to B's", || {
            webhook_a.hits() > pushed_a && webhook_b.hits() > 0
        });
    };
    round(1);
    between_rounds();
    round(2);
    Load {
        oin_a,
        webhook_a,
        webhook_b,
    }
}

fn deliver(engine: &Engine, key: &str, body: &Value) -> Reply {
    send(
        engine
            .client
            .post(engine.url("/v1/batches"))
            .bearer_auth(key)
            .json(body),
    )
}

#[track_caller]
fn wait_for(what: &str, done: impl FnMut() -> bool) {
    wait_until(what, DEADLINE, done);
}

/// The engine with a notification grace short enough for a test that wants one sent.
/// A child process: these tests read the engine's whole `/metrics`, and the metrics recorder
/// is process-wide (the sandbox's engines in this process share one).
fn start_engine(dir: &Path) -> Engine {
    EngineBuilder::new(&dir.join("data"))
        .configure(|c| c.notifications.arrival_grace_ms = 200)
        .spawn()
}

/// `/metrics` is served on the operations listener only (the binary's second stdout line,
/// `operations on http://ADDR`): on the API listener it is an unknown path (404
/// problem+json), on the operations listener the Prometheus text. Health answers on both;
/// the API's routes are not on the operations listener.
#[test]
fn metrics_are_served_on_the_operations_listener_only() {
    let dir = tempfile::tempdir().expect("tempdir");
    let engine = start_engine(dir.path());
    assert_ne!(engine.base, engine.ops.base, "two listeners");

    let on_api = send(engine.client.get(engine.url("/metrics")));
    let problem = crate::support::assert_problem(&on_api, 404, "GET /metrics on the API listener");
    assert!(
        problem["detail"]
            .as_str()
            .is_some_and(|d| d.contains("/metrics")),
        "{problem}"
    );

    let on_ops = send(engine.ops.client.get(engine.ops.url("/metrics")));
    assert_eq!(
        on_ops.status, 200,
        "GET /metrics on the operations listener"
    );
    assert!(
        on_ops.content_type().starts_with("text/plain"),
        "content type {}",
        on_ops.content_type()
    );
    assert!(
        on_ops.text().contains("berichtenbox_"),
        "no berichtenbox metrics:\n{}",
        on_ops.text()
    );

    for path in ["/health/live", "/health/ready"] {
        for (listener, api) in [("API", &*engine), ("operations", &engine.ops)] {
            let reply = send(api.client.get(api.url(path)));
            assert_eq!(reply.status, 200, "GET {path} on the {listener} listener");
        }
    }

    // The operations listener serves nothing of the API.
    let batches = send(
        engine
            .ops
            .client
            .post(engine.ops.url("/v1/batches"))
            .json(&json!({})),
    );
    crate::support::assert_problem(&batches, 404, "POST /v1/batches on the operations listener");
}

fn metrics_text(engine: &Engine) -> String {
    let reply = send(engine.client.get(engine.ops.url("/metrics")));
    assert_eq!(reply.status, 200, "GET /metrics: {}", reply.text());
    reply.text()
}

// ---------------------------------------------------------------------------------------------
// promtool check metrics on the engine's own output
// ---------------------------------------------------------------------------------------------

/// `promtool check metrics` prints one line per problem (no HELP text, a counter without
/// `_total`, a non-base unit, ...); the engine's output must give none.
#[test]
fn engine_metrics_pass_promtool_lint() {
    let dir = tempfile::tempdir().expect("tempdir");
    let engine = start_engine(dir.path());
    let _load = put_load(&engine, &mut || {});
    let text = metrics_text(&engine);
    assert!(
        text.contains("berichtenbox_"),
        "no berichtenbox metrics in /metrics:\n{text}"
    );
    let output = promtool(&os(&["check", "metrics"]), Some(text.as_bytes()));
    let problems = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.status.success() && problems.trim().is_empty(),
        "promtool check metrics ({}) on the engine's /metrics:\n{problems}",
        output.status
    );

    // Exactly the metrics of the list, each with its labels.
    let exported = exported_label_names(&text);
    let mut wrong = Vec::new();
    for metric in METRICS {
        let listed: BTreeSet<String> = metric.labels.iter().map(|l| (*l).to_owned()).collect();
        match exported.get(metric.name) {
            None => wrong.push(format!("{} is listed but not exported", metric.name)),
            Some(sets) => {
                for labels in sets.iter().filter(|labels| **labels != listed) {
                    wrong.push(format!(
                        "{} is exported with labels {labels:?}, listed with {listed:?}",
                        metric.name
                    ));
                }
            }
        }
    }
    for name in exported.keys().filter(|n| n.starts_with("berichtenbox_")) {
        if metric(name).is_none() {
            wrong.push(format!("{name} is exported but not listed"));
        }
    }
    // Every histogram with the list's buckets (not a summary, not another set).
    for histogram in METRICS.iter().filter(|m| m.kind == Kind::Histogram) {
        let prefix = format!("{}_bucket{{", histogram.name);
        let mut bounds: Vec<f64> = text
            .lines()
            .filter(|line| line.starts_with(&prefix))
            .filter_map(|line| line.split("le=\"").nth(1)?.split('"').next()?.parse().ok())
            .filter(|bound: &f64| bound.is_finite())
            .collect();
        bounds.sort_by(f64::total_cmp);
        bounds.dedup();
        if bounds != histogram.buckets {
            wrong.push(format!(
                "{} is exported with buckets {bounds:?}, listed with {:?}",
                histogram.name, histogram.buckets
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "/metrics against METRICS:\n  {}",
        wrong.join("\n  ")
    );
}

/// Every metric of Prometheus' text format with the sets of label names its series carry; a
/// histogram's `_bucket`, `_sum` and `_count` count as the histogram, without `le`.
fn exported_label_names(text: &str) -> BTreeMap<String, BTreeSet<BTreeSet<String>>> {
    let mut histograms = BTreeSet::new();
    let mut exported: BTreeMap<String, BTreeSet<BTreeSet<String>>> = BTreeMap::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            if let Some(name) = rest.strip_suffix(" histogram") {
                histograms.insert(name.to_owned());
            }
            continue;
        }
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let end = line.find(['{', ' ']).unwrap_or(line.len());
        let mut name = &line[..end];
        for suffix in ["_bucket", "_sum", "_count"] {
            if let Some(base) = name.strip_suffix(suffix)
                && histograms.contains(base)
            {
                name = base;
            }
        }
        let mut labels = BTreeSet::new();
        if line[end..].starts_with('{') {
            // name{a="x",b="y\"z"} value: label names end at `=`, values at an unescaped `"`.
            let mut rest = &line[end + 1..];
            while let Some((label, after)) = rest.split_once("=\"") {
                labels.insert(label.trim_start_matches(',').to_owned());
                let mut escaped = false;
                let close = after
                    .char_indices()
                    .find(|&(_, c)| {
                        let done = c == '"' && !escaped;
                        escaped = c == '\\' && !escaped;
                        done
                    })
                    .map_or(after.len(), |(at, _)| at);
                rest = &after[(close + 1).min(after.len())..];
                if rest.starts_with('}') {
                    break;
                }
            }
        }
        labels.remove("le");
        exported.entry(name.to_owned()).or_default().insert(labels);
    }
    exported
}

/// Every metric a dashboard panel or a rule reads, or a rule's unit test feeds it, is one the
/// engine lists (a histogram read through its `_bucket`, `_sum` or `_count`).
#[test]
fn every_metric_the_kit_reads_is_listed() {
    let mut test_series = Vec::new();
    for path in yaml_files("prometheus/tests") {
        for test in array_of(&read_yaml(&path), "tests", &path.display().to_string()) {
            for input in test["input_series"]
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or(&[])
            {
                test_series.extend(input["series"].as_str().map(str::to_owned));
            }
        }
    }
    assert!(
        !test_series.is_empty(),
        "the rules' unit tests feed no series"
    );
    let exprs = panel_targets()
        .into_iter()
        .map(|t| t.expr)
        .chain(rules().into_iter().map(|r| r.expr))
        .chain(test_series);
    let mut unlisted = BTreeSet::new();
    let mut read = 0;
    for expr in exprs {
        for name in engine_metrics_in(&expr) {
            read += 1;
            let listed = metric(&name).is_some()
                || ["_bucket", "_sum", "_count"].iter().any(|suffix| {
                    name.strip_suffix(suffix)
                        .and_then(metric)
                        .is_some_and(|m| m.kind == Kind::Histogram)
                });
            if !listed {
                unlisted.insert(name);
            }
        }
    }
    assert!(read > 0, "the kit reads no metric");
    assert!(
        unlisted.is_empty(),
        "metrics the kit reads that berichtenbox_actors::telemetry::METRICS does not list: {unlisted:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// End to end: a real Prometheus scraping a real engine
// ---------------------------------------------------------------------------------------------

/// A Prometheus server (Debian's binary) on 127.0.0.1, killed when dropped.
struct Prometheus {
    child: Child,
    base: String,
    log: PathBuf,
    client: reqwest::blocking::Client,
}

impl Prometheus {
    /// Starts Prometheus in `dir` scraping `target` (host:port) every second as job
    /// "berichtenbox", with the repository's rule files evaluated every second.
    fn start(dir: &Path, target: &str) -> Self {
        let rules = repo("prometheus/rules");
        let config = format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n\
             rule_files:\n  - {}/*.yml\n\
             scrape_configs:\n  - job_name: berichtenbox\n    static_configs:\n      - targets: [\"{target}\"]\n",
            rules.display()
        );
        let config_path = dir.join("prometheus.yml");
        std::fs::write(&config_path, config).expect("write prometheus.yml");
        let log = dir.join("prometheus.log");
        let client = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .expect("client");
        // A port that was free a moment ago; another process may take it in between, so try a
        // few.
        for _ in 0..3 {
            let port = TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .expect("a free port")
                .port();
            let child = Command::new(tool("prometheus"))
                .arg(format!("--config.file={}", config_path.display()))
                .arg(format!(
                    "--storage.tsdb.path={}",
                    dir.join("tsdb").display()
                ))
                .arg(format!("--web.listen-address=127.0.0.1:{port}"))
                .arg("--log.level=warn")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(File::create(&log).expect("prometheus.log"))
                .spawn()
                .unwrap_or_else(|error| panic!("start prometheus: {error}; {INSTALL_HINT}"));
            let mut prometheus = Self {
                child,
                base: format!("http://127.0.0.1:{port}"),
                log: log.clone(),
                client: client.clone(),
            };
            if prometheus.wait_ready() {
                return prometheus;
            }
        }
        panic!("prometheus did not start:\n{}", read_log(&log));
    }

    /// Waits for `/-/ready`; false when the process ended (e.g. its port was taken).
    fn wait_ready(&mut self) -> bool {
        let mut exited = false;
        let settled = poll_until(DEADLINE, || {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                eprintln!("prometheus exited ({status}):\n{}", read_log(&self.log));
                exited = true;
                return true;
            }
            self.client
                .get(format!("{}/-/ready", self.base))
                .send()
                .is_ok_and(|r| r.status().is_success())
        });
        assert!(
            settled,
            "prometheus not ready within {DEADLINE:?}:\n{}",
            read_log(&self.log)
        );
        !exited
    }

    /// GET on the HTTP API; answers `data`, or the error Prometheus gave.
    fn api(&self, path: &str, params: &[(&str, &str)]) -> Result<Value, String> {
        let response = self
            .client
            .get(format!("{}{path}", self.base))
            .query(params)
            .send()
            .map_err(|error| format!("request failed: {error}"))?;
        let body: Value = response
            .json()
            .map_err(|error| format!("answer is not JSON: {error}"))?;
        if body["status"] == "success" {
            Ok(body["data"].clone())
        } else {
            Err(format!("{}: {}", body["errorType"], body["error"]))
        }
    }

    /// Evaluates `expr` now: its result list (a scalar counts as one result).
    fn query(&self, expr: &str) -> Result<Vec<Value>, String> {
        let data = self.api("/api/v1/query", &[("query", expr)])?;
        match data["resultType"].as_str() {
            Some("vector" | "matrix") => Ok(data["result"].as_array().cloned().unwrap_or_default()),
            Some("scalar" | "string") => Ok(vec![data["result"].clone()]),
            other => Err(format!("unexpected result type {other:?}")),
        }
    }

    /// A single number from `expr` (0 without a result).
    fn number(&self, expr: &str) -> f64 {
        self.query(expr)
            .ok()
            .and_then(|result| result.first().cloned())
            .and_then(|sample| sample["value"][1].as_str().and_then(|v| v.parse().ok()))
            .unwrap_or(0.0)
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn read_log(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// Whether every value of a query result is NaN (a quantile over no traffic, 0/0).
fn all_nan(result: &[Value]) -> bool {
    result
        .iter()
        .all(|sample| sample["value"][1].as_str().is_some_and(|v| v == "NaN"))
}

/// What the end-to-end test found wrong (and what it only notes).
#[derive(Debug, Default)]
struct Findings {
    failures: Vec<String>,
    nan_only: Vec<String>,
}

impl Findings {
    /// Evaluates `expr`: an error is a failure, and so is no series when `must_answer`.
    fn check(&mut self, prometheus: &Prometheus, what: String, expr: &str, must_answer: bool) {
        match prometheus.query(expr) {
            Err(error) => self
                .failures
                .push(format!("{what}: error {error}\n      {expr}")),
            Ok(result) if result.is_empty() && must_answer => {
                self.failures
                    .push(format!("{what}: no series\n      {expr}"));
            }
            Ok(result) => {
                if !result.is_empty() && all_nan(&result) {
                    self.nan_only
                        .push(format!("{what}: only NaN\n      {expr}"));
                }
            }
        }
    }
}

#[test]
fn dashboards_and_rules_evaluate_against_a_real_engine() {
    let dir = tempfile::tempdir().expect("tempdir");
    let engine = start_engine(dir.path());
    let target = engine
        .ops
        .base
        .strip_prefix("http://")
        .expect("engine base is http://")
        .to_owned();
    let prometheus_dir = dir.path().join("prometheus");
    std::fs::create_dir_all(&prometheus_dir).expect("prometheus dir");
    let prometheus = Prometheus::start(&prometheus_dir, &target);

    // Between the rounds and after the second, a few scrapes and rule evaluations, so that
    // Prometheus holds every series before and after it grew.
    let scrapes = || prometheus.number(r#"count_over_time(up{job="berichtenbox"}[10m])"#);
    let wait_scrapes = |n: f64| {
        let before = scrapes();
        wait_for("scrapes of the engine", || scrapes() >= before + n);
    };
    // Fresh: one afnemer registered, nothing delivered. Every expression answers already.
    let targets = panel_targets();
    let rules = rules();
    engine.afnemer(&oin(1), json!({ "naam": "Belastingdienst" }));
    let fresh = settled_kit_findings(&prometheus, &targets, &rules, &oin(1));
    assert_no_failures(fresh, "a fresh engine");

    let load = put_load(&engine, &mut || wait_scrapes(2.0));
    assert!(load.webhook_a.hits() > 0 && load.webhook_b.hits() > 0);
    wait_scrapes(3.0);
    assert_eq!(
        prometheus.number(r#"up{job="berichtenbox"}"#),
        1.0,
        "Prometheus cannot scrape the engine:\n{}",
        read_log(&prometheus.log)
    );

    let mut findings = settled_kit_findings(&prometheus, &targets, &rules, &load.oin_a);

    // Prometheus loaded every rule of every file and none of them failed.
    let loaded = prometheus.api("/api/v1/rules", &[]).expect("rules");
    let groups = loaded["groups"].as_array().cloned().unwrap_or_default();
    let count: usize = groups
        .iter()
        .map(|g| g["rules"].as_array().map_or(0, Vec::len))
        .sum();
    if count != rules.len() {
        findings.failures.push(format!(
            "Prometheus loaded {count} rules, the files have {}",
            rules.len()
        ));
    }
    for group in &groups {
        for rule in group["rules"].as_array().map(Vec::as_slice).unwrap_or(&[]) {
            if rule["health"] == "err" {
                findings.failures.push(format!(
                    "rule {} fails in Prometheus: {}",
                    rule["name"], rule["lastError"]
                ));
            }
        }
    }

    assert_no_failures(findings, "after a short load");
}

/// Every expression of the kit evaluated now, with `$afnemer` as "All" and as `afnemer_oin`;
/// and every metric the kit reads present in Prometheus.
fn kit_findings(
    prometheus: &Prometheus,
    targets: &[PanelTarget],
    rules: &[Rule],
    afnemer_oin: &str,
) -> Findings {
    let known: BTreeSet<String> = prometheus
        .api("/api/v1/label/__name__/values", &[])
        .expect("metric names")
        .as_array()
        .expect("names")
        .iter()
        .filter_map(|n| n.as_str().map(str::to_owned))
        .collect();

    let mut findings = Findings::default();
    // During a maintenance window (the engine's clock is the real one) availability outside
    // maintenance has, by design, no samples.
    let in_maintenance = prometheus.number("max(berichtenbox_onderhoud_actief)") == 1.0;
    if in_maintenance {
        eprintln!("a maintenance window is on: availability expressions may answer nothing");
    }
    let must_answer =
        |expr: &str| !(in_maintenance && MAINTENANCE_EMPTY.iter().any(|name| mentions(expr, name)));

    // Every panel's every target, with $afnemer as "All" (.*) and as one afnemer.
    assert!(!targets.is_empty(), "no panel targets");
    for target in targets {
        for afnemer in [".*", afnemer_oin] {
            let expr = substitute(&target.expr, afnemer);
            assert!(
                !expr.contains('$'),
                "{} / {}: a template variable the test does not know: {expr}",
                target.dashboard,
                target.panel
            );
            let what = format!(
                "{} / {:?} / {} (afnemer {afnemer})",
                target.dashboard, target.panel, target.ref_id
            );
            findings.check(prometheus, what, &expr, must_answer(&target.expr));
            if !target.expr.contains("$afnemer") {
                break;
            }
        }
    }

    // The dashboards' query variables: label_values(metric, label).
    for (name, dashboard) in dashboards() {
        for variable in dashboard["templating"]["list"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or(&[])
        {
            let Some(query) = variable["definition"].as_str() else {
                continue;
            };
            let inner = query
                .strip_prefix("label_values(")
                .and_then(|q| q.strip_suffix(')'))
                .unwrap_or_else(|| panic!("{name}: variable query {query} is not label_values"));
            let (selector, label) = inner.rsplit_once(',').expect("label_values(metric, label)");
            let values = prometheus
                .api(
                    &format!("/api/v1/label/{}/values", label.trim()),
                    &[("match[]", selector.trim())],
                )
                .unwrap_or_else(|error| panic!("{name}: variable {query}: {error}"));
            let values: Vec<&str> = values
                .as_array()
                .map(|v| v.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            if !values.contains(&afnemer_oin) {
                findings.failures.push(format!(
                    "{name}: variable {query} lists {values:?}, not afnemer {}",
                    afnemer_oin
                ));
            }
        }
    }

    // Every rule: recording rules must answer, alerts (normally quiet) must evaluate.
    for rule in rules {
        let kind = if rule.alert { "alert" } else { "record" };
        let what = format!("{} {kind} {}", rule.file, rule.name);
        let maintenance_empty = in_maintenance && MAINTENANCE_EMPTY.contains(&rule.name.as_str());
        let must = !rule.alert && !maintenance_empty && must_answer(&rule.expr);
        findings.check(prometheus, what, &rule.expr, must);
    }

    // Every metric the kit reads exists in the engine's output.
    let mut read: BTreeMap<String, String> = BTreeMap::new();
    for target in targets {
        for name in engine_metrics_in(&target.expr) {
            read.entry(name)
                .or_insert_with(|| format!("panel {:?}", target.panel));
        }
    }
    for rule in rules {
        for name in engine_metrics_in(&rule.expr) {
            read.entry(name)
                .or_insert_with(|| format!("rule {}", rule.name));
        }
    }
    for (name, user) in &read {
        if !known.contains(name) {
            findings.failures.push(format!(
                "metric {name} (read by {user}) is not in the engine's /metrics"
            ));
        }
    }

    findings
}

/// [`kit_findings`] until it finds no failure, for at most [`DEADLINE`]: new series need two
/// scrapes before a rate over them answers, and a rule's evaluation after that.
fn settled_kit_findings(
    prometheus: &Prometheus,
    targets: &[PanelTarget],
    rules: &[Rule],
    afnemer_oin: &str,
) -> Findings {
    let until = std::time::Instant::now() + DEADLINE;
    loop {
        let findings = kit_findings(prometheus, targets, rules, afnemer_oin);
        if findings.failures.is_empty() || std::time::Instant::now() >= until {
            return findings;
        }
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
}

/// Fails the test with what `findings` found wrong; prints what answered only NaN.
#[track_caller]
fn assert_no_failures(findings: Findings, when: &str) {
    let Findings { failures, nan_only } = findings;
    if !nan_only.is_empty() {
        eprintln!(
            "{when}: expressions answering only NaN (no traffic of that kind in the window):\n  {}",
            nan_only.join("\n  ")
        );
    }
    assert!(
        failures.is_empty(),
        "{when}: {} of the monitoring kit's expressions fail against the engine:\n  {}",
        failures.len(),
        failures.join("\n  ")
    );
}
