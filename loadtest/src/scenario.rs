//! Scenarios: the declarative load cases in `loadtest/scenarios/*.toml`, read and checked.
//!
//! A scenario names groups of afnemers (how many, their registered rate, what each offers
//! per second, in batches of what size, with which message mix, and optionally how many
//! berichten in all), the citizens with a box, the portal readers and the Validatie calls
//! that run beside, and the duration. Unknown fields are refused, so a typo cannot pass as
//! a default. This module does no I/O beyond reading the file.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context as _, bail};
use serde::{Deserialize, Serialize};

/// The most berichten one batch may hold (API.md).
pub const MAX_BATCH_SIZE: u32 = 1000;
/// The most BSNs one Validatie request may hold (API.md).
pub const MAX_VALIDATIE_BSNS: u32 = 250;

/// One load case.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// How long the load runs; a group with `messages` may end sooner.
    pub duration_seconds: f64,
    /// Seeds every choice (recipients, sizes, texts), so two runs offer the same load.
    #[serde(default = "default_seed")]
    pub seed: u64,
    #[serde(default)]
    pub citizens: Citizens,
    pub afnemers: Vec<AfnemerGroup>,
    #[serde(default)]
    pub portal: Portal,
    #[serde(default)]
    pub validaties: Validaties,
    #[serde(default)]
    pub sla_mix: SlaMix,
    #[serde(default)]
    pub limits: Limits,
}

fn default_seed() -> u64 {
    20_261_128
}

/// The citizens the load addresses.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Citizens {
    /// Citizens who get a box (POST /v1/account) before the load: their berichten are
    /// `Verwerkt` and checked in their box afterwards.
    pub accounts: u32,
    /// Share of the berichten addressed to BSNs without a box (decided
    /// `NietActiefOfGeabonneerd`), 0 to 1.
    #[serde(default)]
    pub without_account_share: f64,
    /// Open the boxes with an e-mail address, so every delivery is also notified (the
    /// notifier then writes to its outbox or relay beside the load).
    #[serde(default)]
    pub email: bool,
}

impl Default for Citizens {
    fn default() -> Self {
        Self {
            accounts: 1000,
            without_account_share: 0.0,
            email: false,
        }
    }
}

/// The message mix of a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mix {
    /// Berichten without attachments.
    Text,
    /// The SLA's mix: `sla_mix.with_attachments_share` of the berichten carry one or two
    /// PDFs, sizes drawn from a log-normal distribution, at most 500 KB a bericht.
    Sla,
}

/// Afnemers that behave alike.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AfnemerGroup {
    /// Reported apart from the other groups (e.g. `normaal`, `flooder`).
    pub name: String,
    pub count: u32,
    /// `berichtenPerSeconde` registered for each afnemer; absent: the engine's default.
    #[serde(default)]
    pub rate: Option<u32>,
    /// `burst` registered for each afnemer; absent: the engine's default.
    #[serde(default)]
    pub burst: Option<u32>,
    /// Berichten each afnemer of the group offers per second, answered or not.
    pub offered_per_second: f64,
    pub batch_size: u32,
    pub mix: Mix,
    /// Berichten the whole group offers before it stops (spread evenly over its afnemers);
    /// absent: it offers until the duration ends.
    #[serde(default)]
    pub messages: Option<u64>,
    /// Characters of each bericht's `tekst` (at most 4000).
    #[serde(default = "default_tekst_chars")]
    pub tekst_chars: u32,
}

fn default_tekst_chars() -> u32 {
    600
}

/// Citizens reading their box beside the load.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Portal {
    /// `GET /v1/account/berichten` calls per second, each for a random citizen with a box.
    #[serde(default)]
    pub reads_per_second: f64,
    /// `limit` of each read (1 to 500); absent: 50.
    #[serde(default)]
    pub page_size: Option<u32>,
}

/// Afnemers asking the Validatieservice beside the load.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Validaties {
    /// `POST /v1/validaties` calls per second, all afnemers together.
    #[serde(default)]
    pub per_second: f64,
    /// BSNs per call (1 to 250).
    #[serde(default = "default_validatie_bsns")]
    pub bsns: u32,
}

impl Default for Validaties {
    fn default() -> Self {
        Self {
            per_second: 0.0,
            bsns: default_validatie_bsns(),
        }
    }
}

fn default_validatie_bsns() -> u32 {
    MAX_VALIDATIE_BSNS
}

/// The shape of the SLA mix.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SlaMix {
    /// Share of berichten with attachments (the SLA's maximum is 0.95).
    pub with_attachments_share: f64,
    /// Share of those that carry two attachments instead of one.
    pub two_attachments_share: f64,
    /// Median size of one PDF, in KB (1000 bytes).
    pub median_kb: f64,
    /// Spread of the log-normal size distribution (sigma of the underlying normal).
    pub sigma: f64,
}

impl Default for SlaMix {
    fn default() -> Self {
        Self {
            with_attachments_share: 0.95,
            two_attachments_share: 0.3,
            median_kb: 40.0,
            sigma: 0.9,
        }
    }
}

/// Bounds of the generator itself.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Requests in flight at once; a request due while this many are open is not sent and
    /// is counted as `not_sent` (the generator, not the engine, was the limit).
    pub max_in_flight: u32,
    /// How long one request may take before it counts as a transport error.
    pub request_timeout_seconds: f64,
    /// After the load: how long to wait for every accepted batch to be `verwerkt`.
    pub verify_deadline_seconds: f64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_in_flight: 8192,
            request_timeout_seconds: 60.0,
            verify_deadline_seconds: 900.0,
        }
    }
}

impl Scenario {
    /// Reads and checks a scenario file.
    pub fn from_file(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("read scenario {}", path.display()))?;
        Self::from_toml(&text).with_context(|| format!("scenario {}", path.display()))
    }

    pub fn from_toml(text: &str) -> anyhow::Result<Self> {
        let scenario: Self = toml::from_str(text)?;
        scenario.check()?;
        Ok(scenario)
    }

    /// Refuses values that cannot work.
    pub fn check(&self) -> anyhow::Result<()> {
        if !(self.duration_seconds > 0.0 && self.duration_seconds.is_finite()) {
            bail!("duration_seconds must be positive");
        }
        if self.afnemers.is_empty() {
            bail!("a scenario needs at least one [[afnemers]] group");
        }
        let total: u64 = self.afnemers.iter().map(|g| u64::from(g.count)).sum();
        if total == 0 || total > 0xffff {
            bail!("afnemers together must be 1 to 65535, not {total}");
        }
        for group in &self.afnemers {
            if group.name.is_empty() || group.name.len() > 40 {
                bail!("a group's name must be 1 to 40 characters");
            }
            if !(1..=MAX_BATCH_SIZE).contains(&group.batch_size) {
                bail!(
                    "group {}: batch_size must be 1 to {MAX_BATCH_SIZE}",
                    group.name
                );
            }
            if !(group.offered_per_second > 0.0 && group.offered_per_second.is_finite()) {
                bail!("group {}: offered_per_second must be positive", group.name);
            }
            if !(1..=4000).contains(&group.tekst_chars) {
                bail!("group {}: tekst_chars must be 1 to 4000", group.name);
            }
            if group.messages == Some(0) {
                bail!("group {}: messages must be positive when set", group.name);
            }
        }
        let share = self.citizens.without_account_share;
        if !(0.0..=1.0).contains(&share) {
            bail!("citizens.without_account_share must be 0 to 1");
        }
        if self.citizens.accounts == 0 && share < 1.0 {
            bail!("citizens.accounts is 0: set without_account_share = 1.0");
        }
        if self.citizens.accounts > 10_000_000 {
            bail!("citizens.accounts must be at most 10,000,000");
        }
        if !(self.portal.reads_per_second >= 0.0 && self.portal.reads_per_second.is_finite()) {
            bail!("portal.reads_per_second must be 0 or more");
        }
        if self.portal.reads_per_second > 0.0 && self.citizens.accounts == 0 {
            bail!("portal readers need citizens.accounts > 0");
        }
        if let Some(page) = self.portal.page_size
            && !(1..=500).contains(&page)
        {
            bail!("portal.page_size must be 1 to 500");
        }
        if !(self.validaties.per_second >= 0.0 && self.validaties.per_second.is_finite()) {
            bail!("validaties.per_second must be 0 or more");
        }
        if !(1..=MAX_VALIDATIE_BSNS).contains(&self.validaties.bsns) {
            bail!("validaties.bsns must be 1 to {MAX_VALIDATIE_BSNS}");
        }
        let mix = &self.sla_mix;
        if !(0.0..=1.0).contains(&mix.with_attachments_share)
            || !(0.0..=1.0).contains(&mix.two_attachments_share)
        {
            bail!("sla_mix shares must be 0 to 1");
        }
        if !(1.0..=250.0).contains(&mix.median_kb) || !(0.0..=3.0).contains(&mix.sigma) {
            bail!("sla_mix.median_kb must be 1 to 250 and sigma 0 to 3");
        }
        let limits = &self.limits;
        let positive = |v: f64| v > 0.0 && v.is_finite();
        if limits.max_in_flight == 0
            || !positive(limits.request_timeout_seconds)
            || !positive(limits.verify_deadline_seconds)
        {
            bail!("limits must be positive");
        }
        Ok(())
    }

    pub fn duration(&self) -> Duration {
        Duration::from_secs_f64(self.duration_seconds)
    }

    /// All afnemers of all groups.
    pub fn afnemer_count(&self) -> u32 {
        self.afnemers.iter().map(|g| g.count).sum()
    }

    /// Berichten per second the scenario offers while every group runs.
    pub fn offered_per_second(&self) -> f64 {
        self.afnemers
            .iter()
            .map(|g| f64::from(g.count) * g.offered_per_second)
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
name = "t"
duration_seconds = 2
[[afnemers]]
name = "a"
count = 2
offered_per_second = 10
batch_size = 5
mix = "text"
"#;

    #[test]
    fn a_minimal_scenario_gets_defaults() {
        let s = Scenario::from_toml(MINIMAL).expect("parses");
        assert_eq!(s.afnemer_count(), 2);
        assert_eq!(s.citizens.accounts, 1000);
        assert!((s.offered_per_second() - 20.0).abs() < 1e-9);
        assert_eq!(s.afnemers[0].tekst_chars, 600);
        assert_eq!(s.validaties.bsns, 250);
    }

    #[test]
    fn unknown_fields_and_bad_values_are_refused() {
        assert!(Scenario::from_toml(&format!("{MINIMAL}\nspeling = 1\n")).is_err());
        assert!(
            Scenario::from_toml(&MINIMAL.replace("batch_size = 5", "batch_size = 1001")).is_err()
        );
        assert!(
            Scenario::from_toml(&MINIMAL.replace("duration_seconds = 2", "duration_seconds = 0"))
                .is_err()
        );
        assert!(Scenario::from_toml(&MINIMAL.replace("mix = \"text\"", "mix = \"pdf\"")).is_err());
    }

    #[test]
    fn the_shipped_scenarios_parse() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
        let mut seen = 0;
        for entry in std::fs::read_dir(dir).expect("scenarios folder") {
            let path = entry.expect("entry").path();
            if path.extension().is_some_and(|e| e == "toml") {
                Scenario::from_file(&path).expect("scenario parses");
                seen += 1;
            }
        }
        assert!(seen >= 6, "expected the six scenarios, found {seen}");
    }
}
