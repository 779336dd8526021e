//! The report: its JSON shape (`report.json`) and its Markdown rendering (`report.md`).
//!
//! Every rate is over the load window (from the first due send to the end of the last
//! stream, or the last 202 if that came later); every latency is from the request's
//! scheduled send time, in milliseconds.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use crate::stats::{CallStats, Percentiles};
use crate::verify::LossCheck;

/// Answers by class.
#[derive(Debug, Clone, Default, Serialize)]
pub struct StatusCounts {
    #[serde(rename = "202")]
    pub accepted: u64,
    #[serde(rename = "429")]
    pub throttled: u64,
    #[serde(rename = "503")]
    pub unavailable: u64,
    /// Any other status (200, 400, 404, 500, ...): see `status_by_code`.
    pub other: u64,
    /// No answer: connection refused or reset, or the request timed out.
    pub transport_errors: u64,
    /// Due while the generator's in-flight limit was reached: never sent.
    pub not_sent: u64,
}

impl StatusCounts {
    pub fn of(calls: &CallStats, ok: u16) -> Self {
        let ok_count = calls.count(ok);
        let throttled = calls.count(429);
        let unavailable = calls.count(503);
        Self {
            accepted: ok_count,
            throttled,
            unavailable,
            other: calls.answered() - ok_count - throttled - unavailable,
            transport_errors: calls.transport_errors,
            not_sent: calls.not_sent,
        }
    }
}

/// Status codes as text keys, for JSON.
pub fn by_code(calls: &CallStats) -> BTreeMap<String, u64> {
    calls
        .by_status
        .iter()
        .map(|(code, n)| (code.to_string(), *n))
        .collect()
}

/// One group of afnemers.
#[derive(Debug, Clone, Serialize)]
pub struct GroupReport {
    pub name: String,
    pub afnemers: u32,
    pub mix: String,
    pub batch_size: u32,
    pub offered_messages: u64,
    pub accepted_messages: u64,
    pub throttled_messages: u64,
    pub offered_msgs_per_s: f64,
    pub achieved_msgs_per_s: f64,
    /// Latency of the 202 answers.
    pub accept_latency_ms: Percentiles,
    /// Latency of every answer (202, 429, 503, ...).
    pub answer_latency_ms: Percentiles,
    pub status_counts: StatusCounts,
    pub status_by_code: BTreeMap<String, u64>,
    /// `Retry-After` values of the 429 and 503 answers, with their counts.
    pub retry_after: BTreeMap<String, u64>,
}

/// Portal reads or Validatie calls.
#[derive(Debug, Clone, Serialize)]
pub struct CallReport {
    pub calls: u64,
    pub calls_per_s: f64,
    /// Latency of the 200 answers.
    pub latency_ms: Percentiles,
    /// Latency of every answer.
    pub answer_latency_ms: Percentiles,
    pub status_counts: StatusCounts,
    pub status_by_code: BTreeMap<String, u64>,
    pub retry_after: BTreeMap<String, u64>,
    /// Validatie calls only: BSNs answered, and answers other than expected (a citizen with
    /// a box not `berichtSturen`, or a BSN without one that is).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub results: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mismatches: Option<u64>,
}

impl CallReport {
    pub fn of(calls: &CallStats, seconds: f64) -> Self {
        let total = calls.answered() + calls.transport_errors + calls.not_sent;
        Self {
            calls: total,
            calls_per_s: total as f64 / seconds.max(1e-9),
            latency_ms: Percentiles::of(&calls.latency_ok),
            answer_latency_ms: Percentiles::of(&calls.latency_all),
            status_counts: StatusCounts::of(calls, 200),
            status_by_code: by_code(calls),
            retry_after: calls.retry_after.clone(),
            results: None,
            mismatches: None,
        }
    }
}

/// Bytes moved, in MB of 10^6 bytes.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Bandwidth {
    pub offered_request_bytes: u64,
    pub accepted_request_bytes: u64,
    /// Decoded attachment bytes in accepted batches.
    pub accepted_attachment_bytes: u64,
    pub offered_mb_per_s: f64,
    /// Request bodies (JSON with base64) answered 202, per second.
    pub accepted_mb_per_s: f64,
    /// Decoded attachments answered 202, per second.
    pub accepted_attachment_mb_per_s: f64,
}

/// The generator's own health.
#[derive(Debug, Clone, Default, Serialize)]
pub struct GeneratorReport {
    /// How late requests left against their schedule; large values mean the generator
    /// (or the machine) could not keep up, and latencies include that delay.
    pub send_lag_ms: Percentiles,
    pub peak_in_flight: u64,
    pub max_in_flight: u32,
    /// Requests still unanswered when the check began.
    pub open_at_end: u64,
    pub cpu_percent: Option<f64>,
}

/// One second of the run.
#[derive(Debug, Clone, Default, Serialize)]
pub struct TimelinePoint {
    pub second: u64,
    pub offered_msgs: u64,
    pub accepted_msgs: u64,
    pub throttled_msgs: u64,
    pub accepted_mb: f64,
    pub accept_p50_ms: Option<f64>,
    pub accept_p99_ms: Option<f64>,
    pub accept_p999_ms: Option<f64>,
    pub portal_p50_ms: Option<f64>,
    pub portal_p99_ms: Option<f64>,
    pub portal_p999_ms: Option<f64>,
}

/// `report.json`.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub scenario: String,
    pub description: String,
    pub target: String,
    pub run_id: String,
    pub started_at: String,
    pub afnemers: u32,
    pub citizens_with_box: u32,
    /// The load window in seconds.
    pub load_seconds: f64,
    pub offered_messages: u64,
    pub accepted_messages: u64,
    pub offered_msgs_per_s: f64,
    pub achieved_msgs_per_s: f64,
    /// Latency of every 202, all groups together.
    pub accept_latency_ms: Percentiles,
    /// Latency of every answer to `POST /v1/batches`.
    pub answer_latency_ms: Percentiles,
    pub status_counts: StatusCounts,
    pub status_by_code: BTreeMap<String, u64>,
    pub retry_after: BTreeMap<String, u64>,
    pub bandwidth: Bandwidth,
    pub groups: Vec<GroupReport>,
    pub portal: Option<CallReport>,
    pub validaties: Option<CallReport>,
    /// The engine's largest `VmRSS` seen during the run, when its pid was given.
    pub peak_rss_bytes: Option<u64>,
    /// The engine's `VmHWM` (its peak resident set since it started) at the end.
    pub engine_vm_hwm_bytes: Option<u64>,
    /// The engine's CPU over the load window (100 = one core).
    pub engine_cpu_percent: Option<f64>,
    /// From the last 202 until every accepted batch was `verwerkt`: the latest `verwerktOp`
    /// of the receipts against the wall clock of the last 202 (0 when processing was done
    /// first).
    pub processing_lag_seconds: Option<f64>,
    /// The same, as polling saw it (an upper bound: polls go round one batch at a time).
    pub processing_lag_observed_seconds: Option<f64>,
    pub verification_seconds: f64,
    /// Decisions in the receipts of the accepted batches.
    pub verwerkingscodes: BTreeMap<String, u64>,
    pub loss_check: LossCheck,
    pub generator: GeneratorReport,
    pub error_samples: Vec<String>,
    pub notes: Vec<String>,
    pub timeline: Vec<TimelinePoint>,
    /// Files written beside this one.
    pub files: Vec<String>,
}

fn mb(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1e6)
}

fn opt<T: std::fmt::Display>(value: Option<T>, unit: &str) -> String {
    value.map_or_else(|| "n/a".to_owned(), |v| format!("{v}{unit}"))
}

fn latency_row(label: &str, p: &Percentiles) -> String {
    format!(
        "| {label} | {} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} |\n",
        p.count, p.p50, p.p90, p.p99, p.p999, p.max
    )
}

fn status_row(label: &str, s: &StatusCounts) -> String {
    format!(
        "| {label} | {} | {} | {} | {} | {} | {} |\n",
        s.accepted, s.throttled, s.unavailable, s.other, s.transport_errors, s.not_sent
    )
}

fn retry_text(values: &BTreeMap<String, u64>) -> String {
    if values.is_empty() {
        return "none".to_owned();
    }
    values
        .iter()
        .map(|(v, n)| format!("`{v}` s ×{n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

impl Report {
    /// `report.md`.
    pub fn markdown(&self) -> String {
        let mut md = String::new();
        let _ = writeln!(md, "# Load test: {}\n", self.scenario);
        if !self.description.is_empty() {
            let _ = writeln!(md, "{}\n", self.description);
        }
        let _ = writeln!(
            md,
            "Target `{}`, run `{}`, started {}; {} afnemers, {} citizens with a box; load window {:.1} s.\n",
            self.target,
            self.run_id,
            self.started_at,
            self.afnemers,
            self.citizens_with_box,
            self.load_seconds
        );
        let verdict = if self.loss_check.passed {
            "**passed**"
        } else {
            "**FAILED**"
        };
        md.push_str("## Summary\n\n| figure | value |\n| --- | --- |\n");
        let rows = [
            (
                "offered",
                format!(
                    "{:.0} berichten/s ({} berichten)",
                    self.offered_msgs_per_s, self.offered_messages
                ),
            ),
            (
                "achieved (202)",
                format!(
                    "{:.0} berichten/s ({} berichten)",
                    self.achieved_msgs_per_s, self.accepted_messages
                ),
            ),
            (
                "accept latency p50 / p99 / p99.9",
                format!(
                    "{:.2} / {:.2} / {:.2} ms",
                    self.accept_latency_ms.p50,
                    self.accept_latency_ms.p99,
                    self.accept_latency_ms.p999
                ),
            ),
            (
                "bandwidth accepted",
                format!(
                    "{:.2} MB/s of requests, {:.2} MB/s of attachments",
                    self.bandwidth.accepted_mb_per_s, self.bandwidth.accepted_attachment_mb_per_s
                ),
            ),
            (
                "engine peak RSS (sampled / VmHWM)",
                format!(
                    "{} / {}",
                    opt(self.peak_rss_bytes.map(mb), ""),
                    opt(self.engine_vm_hwm_bytes.map(mb), "")
                ),
            ),
            (
                "engine CPU during the load",
                opt(self.engine_cpu_percent.map(|p| format!("{p:.0}")), " %"),
            ),
            (
                "processing lag after the last 202",
                format!(
                    "{} (observed by polling: {})",
                    opt(self.processing_lag_seconds.map(|s| format!("{s:.2}")), " s"),
                    opt(
                        self.processing_lag_observed_seconds
                            .map(|s| format!("{s:.2}")),
                        " s"
                    )
                ),
            ),
            ("loss check", verdict.to_owned()),
        ];
        for (figure, value) in rows {
            let _ = writeln!(md, "| {figure} | {value} |");
        }

        md.push_str("\n## Afnemers by group\n\n");
        md.push_str("| group | afnemers | mix | batch | offered/s | achieved/s | throttled berichten | Retry-After |\n| --- | --- | --- | --- | --- | --- | --- | --- |\n");
        for g in &self.groups {
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} | {:.0} | {:.0} | {} | {} |",
                g.name,
                g.afnemers,
                g.mix,
                g.batch_size,
                g.offered_msgs_per_s,
                g.achieved_msgs_per_s,
                g.throttled_messages,
                retry_text(&g.retry_after)
            );
        }
        md.push_str("\n### Latency (ms, from the scheduled send)\n\n| what | count | p50 | p90 | p99 | p99.9 | max |\n| --- | --- | --- | --- | --- | --- | --- |\n");
        md.push_str(&latency_row("202, all groups", &self.accept_latency_ms));
        for g in &self.groups {
            md.push_str(&latency_row(
                &format!("202, {}", g.name),
                &g.accept_latency_ms,
            ));
            md.push_str(&latency_row(
                &format!("every answer, {}", g.name),
                &g.answer_latency_ms,
            ));
        }
        if let Some(portal) = &self.portal {
            md.push_str(&latency_row("portal reads (200)", &portal.latency_ms));
        }
        if let Some(validaties) = &self.validaties {
            md.push_str(&latency_row(
                "Validatie calls (200)",
                &validaties.latency_ms,
            ));
        }
        md.push_str("\n### Answers\n\n| what | 2xx | 429 | 503 | other | transport errors | not sent |\n| --- | --- | --- | --- | --- | --- | --- |\n");
        md.push_str(&status_row("POST /v1/batches", &self.status_counts));
        for g in &self.groups {
            md.push_str(&status_row(&format!("… {}", g.name), &g.status_counts));
        }
        if let Some(portal) = &self.portal {
            md.push_str(&status_row(
                "GET /v1/account/berichten",
                &portal.status_counts,
            ));
        }
        if let Some(validaties) = &self.validaties {
            md.push_str(&status_row(
                "POST /v1/validaties",
                &validaties.status_counts,
            ));
        }
        let _ = writeln!(
            md,
            "\nBy status code: {:?}. Retry-After: {}.",
            self.status_by_code,
            retry_text(&self.retry_after)
        );

        let l = &self.loss_check;
        md.push_str("\n## Loss check\n\n| figure | value |\n| --- | --- |\n");
        let rows: [(&str, u64); 12] = [
            ("batches accepted (202)", l.batches_accepted),
            ("batches verwerkt", l.batches_verwerkt),
            ("berichten accepted", l.messages_accepted),
            ("berichten decided", l.messages_decided),
            ("berichten Verwerkt", l.messages_verwerkt),
            ("Verwerkt and in the box exactly once", l.messages_verified),
            ("missing", l.missing),
            ("duplicates", l.duplicates),
            ("unexpected in a box", l.unexpected_in_box),
            ("unexpected decisions", l.unexpected_decisions),
            ("reads given up", l.read_errors),
            ("boxes read", l.boxes_read),
        ];
        for (figure, value) in rows {
            let _ = writeln!(md, "| {figure} | {value} |");
        }
        let _ = writeln!(
            md,
            "| passed | {} |\n\nDecisions: {:?}. The check took {:.1} s.",
            l.passed, self.verwerkingscodes, self.verification_seconds
        );

        md.push_str("\n## Generator\n\n");
        let _ = writeln!(
            md,
            "Send lag against the schedule: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms. Peak in flight {} (limit {}); open when the check began: {}. Generator CPU: {}.",
            self.generator.send_lag_ms.p50,
            self.generator.send_lag_ms.p99,
            self.generator.send_lag_ms.max,
            self.generator.peak_in_flight,
            self.generator.max_in_flight,
            self.generator.open_at_end,
            opt(self.generator.cpu_percent.map(|p| format!("{p:.0}")), " %")
        );
        if !self.notes.is_empty() {
            md.push_str("\n## Notes\n\n");
            for note in &self.notes {
                let _ = writeln!(md, "- {note}");
            }
        }
        if !self.error_samples.is_empty() {
            md.push_str("\n## Samples of unexpected answers\n\n");
            for sample in &self.error_samples {
                let _ = writeln!(md, "- `{}`", sample.replace('`', "'"));
            }
        }
        let pngs: Vec<&String> = self.files.iter().filter(|f| f.ends_with(".png")).collect();
        if !pngs.is_empty() {
            md.push_str("\n## Plots\n\n");
            for png in pngs {
                let _ = writeln!(md, "![{png}]({png})\n");
            }
        }
        md
    }
}
