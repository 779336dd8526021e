//! Request bodies: batches of the text-only and the SLA mix, and Validatie requests.
//!
//! Bodies are written straight into a byte buffer from pieces made once at start-up: the
//! texts (plain ASCII, so nothing needs JSON escaping), the recipients' BSNs, and a pool of
//! PDF attachments already base64-encoded. A batch costs a few memory copies, so the
//! generator leaves the shared cores to the engine.

use std::collections::HashMap;
use std::io::Write as _;
use std::sync::Arc;

use base64::Engine as _;
use rand::{Rng as _, SeedableRng as _};

use crate::ids::{self, MessageKey, Recipient};
use crate::scenario::{Mix, Scenario, SlaMix};

/// The berichttype every load afnemer registers and uses.
pub const BERICHT_TYPE: &str = "LTBRIEF";
/// What every load bericht's `onderwerp` starts with; its berichtId follows. The citizen API
/// shows the onderwerp but not the berichtId, so this is how the check finds each bericht.
pub const ONDERWERP_PREFIX: &str = "LT ";
/// Decoded attachment bytes one bericht may carry (API.md: 500 KB).
pub const MAX_ATTACHMENT_BYTES: usize = 500_000;
/// Distinct PDFs in the pool the SLA mix draws from.
const PDF_POOL: usize = 128;
/// Variants of each text length.
const TEXT_VARIANTS: usize = 8;

/// One PDF, ready to be pasted into a body.
#[derive(Debug)]
struct Pdf {
    decoded_bytes: usize,
    base64: String,
}

/// A built batch.
#[derive(Debug)]
pub struct BuiltBatch {
    pub body: Vec<u8>,
    pub messages: u32,
    /// Decoded attachment bytes in the batch.
    pub attachment_bytes: u64,
}

/// Which batch to build: `messages` berichten of afnemer `afnemer`, the first with sequence
/// number `first_seq`.
#[derive(Debug, Clone, Copy)]
pub struct BatchSpec {
    pub mix: Mix,
    pub tekst_chars: u32,
    pub afnemer: u16,
    pub batch_seq: u64,
    pub first_seq: u64,
    pub messages: u32,
}

/// Everything bodies are built from; shared by every stream.
#[derive(Debug)]
pub struct Payloads {
    run: u32,
    seed: u64,
    citizens: Arc<Vec<String>>,
    no_account: Vec<String>,
    without_share: f64,
    texts: HashMap<u32, Vec<String>>,
    pdfs: Vec<Pdf>,
    mix: SlaMix,
}

impl Payloads {
    pub fn new(scenario: &Scenario, run: u32, citizens: Arc<Vec<String>>) -> Self {
        let mut texts = HashMap::new();
        for group in &scenario.afnemers {
            texts
                .entry(group.tekst_chars)
                .or_insert_with(|| text_variants(group.tekst_chars as usize));
        }
        let needs_pdfs = scenario.afnemers.iter().any(|g| g.mix == Mix::Sla);
        let pdfs = if needs_pdfs {
            pdf_pool(&scenario.sla_mix, scenario.seed)
        } else {
            Vec::new()
        };
        Self {
            run,
            seed: scenario.seed,
            citizens,
            no_account: ids::bsns(ids::NO_ACCOUNT_PREFIX, ids::NO_ACCOUNT_POOL),
            without_share: scenario.citizens.without_account_share,
            texts,
            pdfs,
            mix: scenario.sla_mix.clone(),
        }
    }

    pub fn run(&self) -> u32 {
        self.run
    }

    /// Who receives the bericht with this key.
    pub fn recipient(&self, key: MessageKey) -> Recipient {
        let hash = ids::message_hash(self.seed, self.run, key);
        ids::recipient(hash, self.citizens.len() as u32, self.without_share)
    }

    fn recipient_bsn(&self, key: MessageKey) -> &str {
        match self.recipient(key) {
            Recipient::Citizen(i) => &self.citizens[i as usize],
            Recipient::NoAccount(i) => &self.no_account[i as usize],
        }
    }

    /// The attachments of a bericht of the SLA mix: indexes into the pool, none, one or two,
    /// together at most [`MAX_ATTACHMENT_BYTES`].
    fn attachments(&self, key: MessageKey) -> (Option<usize>, Option<usize>) {
        if self.pdfs.is_empty() {
            return (None, None);
        }
        let hash = ids::mix64(ids::message_hash(self.seed, self.run, key) ^ 0x5a5a);
        let roll = |bits: u64| (bits & 0xffff) as f64 / 65536.0;
        if roll(hash) >= self.mix.with_attachments_share {
            return (None, None);
        }
        let first = ((hash >> 32) % self.pdfs.len() as u64) as usize;
        if roll(hash >> 16) >= self.mix.two_attachments_share {
            return (Some(first), None);
        }
        let mut second = ((hash >> 48) % self.pdfs.len() as u64) as usize;
        // The pool's smallest PDF fits beside any other, so this ends.
        for _ in 0..self.pdfs.len() {
            if self.pdfs[first].decoded_bytes + self.pdfs[second].decoded_bytes
                <= MAX_ATTACHMENT_BYTES
            {
                return (Some(first), Some(second));
            }
            second = (second + 1) % self.pdfs.len();
        }
        (Some(first), None)
    }

    /// The batch `spec` describes, with this `aanmaakDatum`.
    pub fn batch(&self, spec: &BatchSpec, aanmaak_datum: &str) -> BuiltBatch {
        let BatchSpec {
            mix,
            tekst_chars,
            afnemer,
            batch_seq,
            first_seq,
            messages,
        } = *spec;
        let texts = self
            .texts
            .get(&tekst_chars)
            .map(Vec::as_slice)
            .unwrap_or_default();
        let per_message = 200 + tekst_chars as usize;
        let mut body = Vec::with_capacity(128 + per_message * messages as usize);
        let mut attachment_bytes = 0u64;
        // Writes into a Vec cannot fail.
        let _ = write!(
            body,
            "{{\"batchId\":\"{}\",\"aanmaakDatum\":\"{aanmaak_datum}\",\"berichten\":[",
            ids::batch_id(self.run, afnemer, batch_seq)
        );
        for i in 0..u64::from(messages) {
            let key = MessageKey {
                afnemer,
                seq: first_seq + i,
            };
            let id = ids::bericht_id(self.run, key);
            if i > 0 {
                body.push(b',');
            }
            let tekst = if texts.is_empty() {
                "Loadtest."
            } else {
                texts[(key.seq as usize) % texts.len()].as_str()
            };
            let _ = write!(
                body,
                "{{\"berichtId\":\"{id}\",\"berichtType\":\"{BERICHT_TYPE}\",\"ontvanger\":\"{}\",\"onderwerp\":\"{ONDERWERP_PREFIX}{id}\",\"tekst\":\"{tekst}\"",
                self.recipient_bsn(key)
            );
            if mix == Mix::Sla {
                let (first, second) = self.attachments(key);
                let mut pieces = first.into_iter().chain(second).peekable();
                if pieces.peek().is_some() {
                    body.extend_from_slice(b",\"bijlagen\":[");
                    for (n, index) in pieces.enumerate() {
                        let pdf = &self.pdfs[index];
                        attachment_bytes += pdf.decoded_bytes as u64;
                        if n > 0 {
                            body.push(b',');
                        }
                        let _ = write!(
                            body,
                            "{{\"omschrijving\":\"Brief {}\",\"mediatype\":\"application/pdf\",\"inhoud\":\"",
                            n + 1
                        );
                        body.extend_from_slice(pdf.base64.as_bytes());
                        body.extend_from_slice(b"\"}");
                    }
                    body.push(b']');
                }
            }
            body.push(b'}');
        }
        body.extend_from_slice(b"]}");
        BuiltBatch {
            body,
            messages,
            attachment_bytes,
        }
    }

    /// A Validatie request for `n` BSNs starting at citizen `from` (some without a box).
    pub fn validatie(&self, from: u64, n: u32) -> Vec<u8> {
        let mut body = Vec::with_capacity(40 + 12 * n as usize);
        let _ = write!(body, "{{\"berichtType\":\"{BERICHT_TYPE}\",\"bsns\":[");
        for i in 0..u64::from(n) {
            if i > 0 {
                body.push(b',');
            }
            let at = from + i;
            // Every tenth asks for a BSN without a box.
            let bsn = if at % 10 == 9 || self.citizens.is_empty() {
                &self.no_account[(at as usize) % self.no_account.len()]
            } else {
                &self.citizens[(at as usize) % self.citizens.len()]
            };
            let _ = write!(body, "\"{bsn}\"");
        }
        body.extend_from_slice(b"]}");
        body
    }

    /// The pool's PDF sizes (for the report).
    pub fn pdf_sizes(&self) -> Vec<usize> {
        self.pdfs.iter().map(|p| p.decoded_bytes).collect()
    }
}

/// Dutch-looking plain text of exactly `chars` ASCII characters, in a few variants.
fn text_variants(chars: usize) -> Vec<String> {
    const WORDS: &[&str] = &[
        "Geachte",
        "heer",
        "mevrouw",
        "wij",
        "hebben",
        "uw",
        "aangifte",
        "ontvangen",
        "en",
        "verwerkt",
        "In",
        "deze",
        "brief",
        "leest",
        "u",
        "het",
        "besluit",
        "over",
        "de",
        "aanslag",
        "voor",
        "jaar",
        "Het",
        "bedrag",
        "moet",
        "binnen",
        "twee",
        "maanden",
        "zijn",
        "betaald",
        "Bent",
        "niet",
        "eens",
        "met",
        "dan",
        "kunt",
        "bezwaar",
        "maken",
        "Met",
        "vriendelijke",
        "groet",
        "gemeente",
        "toeslag",
        "betaling",
        "termijn",
    ];
    (0..TEXT_VARIANTS)
        .map(|variant| {
            let mut text = String::with_capacity(chars + 16);
            let mut word = variant * 7;
            while text.len() < chars {
                if !text.is_empty() {
                    text.push(' ');
                }
                text.push_str(WORDS[word % WORDS.len()]);
                word += 1 + variant;
                if word % 11 == 0 {
                    text.push('.');
                }
            }
            text.truncate(chars);
            text
        })
        .collect()
}

/// A standard normal sample (Box-Muller).
fn normal(rng: &mut rand::rngs::StdRng) -> f64 {
    let u1: f64 = rng.random::<f64>().max(f64::MIN_POSITIVE);
    let u2: f64 = rng.random::<f64>();
    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}

/// PDF sizes drawn from a log-normal distribution with the mix's median and sigma, kept
/// between 2 KB and 490 KB; the smallest is at most 10 KB, so it fits beside any other.
fn pdf_sizes(mix: &SlaMix, seed: u64) -> Vec<usize> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed ^ 0x00ad_f00d);
    let median = mix.median_kb * 1000.0;
    let mut sizes: Vec<usize> = (0..PDF_POOL)
        .map(|_| {
            let size = median * (mix.sigma * normal(&mut rng)).exp();
            size.clamp(2_000.0, 490_000.0) as usize
        })
        .collect();
    if let Some(smallest) = sizes.iter_mut().min() {
        *smallest = (*smallest).min(10_000);
    }
    sizes
}

fn pdf_pool(mix: &SlaMix, seed: u64) -> Vec<Pdf> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed ^ 0xb17_1a6e);
    pdf_sizes(mix, seed)
        .into_iter()
        .map(|size| {
            let bytes = pdf(size, &mut rng);
            Pdf {
                decoded_bytes: bytes.len(),
                base64: base64::engine::general_purpose::STANDARD.encode(&bytes),
            }
        })
        .collect()
}

/// A well-formed one-page PDF of exactly `size` bytes (at least a few hundred): a catalog,
/// a page tree, a page, and a content stream padded with random bytes to the size, with a
/// correct cross-reference table.
pub fn pdf(size: usize, rng: &mut rand::rngs::StdRng) -> Vec<u8> {
    let objects_before = [
        "1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n",
        "2 0 obj\n<< /Type /Pages /Kids [3 0 R] /Count 1 >>\nendobj\n",
        "3 0 obj\n<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R >>\nendobj\n",
    ];
    let header = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n";
    // The trailer's length depends on the digits of the offsets; compute it for the upper
    // bound of the size, then fill the stream to make the total exact.
    let build = |stream_len: usize, fill: &mut dyn FnMut(&mut Vec<u8>, usize)| {
        let mut out = Vec::with_capacity(size);
        out.extend_from_slice(header);
        let mut offsets = Vec::new();
        for object in objects_before {
            offsets.push(out.len());
            out.extend_from_slice(object.as_bytes());
        }
        offsets.push(out.len());
        let _ = write!(out, "4 0 obj\n<< /Length {stream_len:010} >>\nstream\n");
        fill(&mut out, stream_len);
        out.extend_from_slice(b"\nendstream\nendobj\n");
        let xref = out.len();
        let _ = write!(out, "xref\n0 5\n0000000000 65535 f \n");
        for offset in offsets {
            let _ = writeln!(out, "{offset:010} 00000 n ");
        }
        let _ = write!(
            out,
            "trailer\n<< /Size 5 /Root 1 0 R >>\nstartxref\n{xref:010}\n%%EOF\n"
        );
        out
    };
    let overhead = build(0, &mut |_, _| {}).len();
    let stream_len = size.saturating_sub(overhead);
    build(stream_len, &mut |out, n| {
        // Page content first (draws a line of text), then random filler as a comment-free
        // binary tail, as scanned letters have.
        let content = b"BT /F1 12 Tf 72 770 Td (Berichtenbox loadtest) Tj ET\n";
        let head = content.len().min(n);
        out.extend_from_slice(&content[..head]);
        let start = out.len();
        out.resize(start + (n - head), 0);
        rng.fill(&mut out[start..]);
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scenario(mix: &str) -> Scenario {
        Scenario::from_toml(&format!(
            r#"
name = "t"
duration_seconds = 1
[citizens]
accounts = 50
without_account_share = 0.1
[[afnemers]]
name = "a"
count = 1
offered_per_second = 10
batch_size = 50
mix = "{mix}"
tekst_chars = 300
"#
        ))
        .expect("scenario")
    }

    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Bijlage {
        mediatype: String,
        inhoud: String,
    }

    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Bericht {
        bericht_id: String,
        ontvanger: String,
        onderwerp: String,
        tekst: String,
        #[serde(default)]
        bijlagen: Vec<Bijlage>,
    }

    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Batch {
        batch_id: String,
        berichten: Vec<Bericht>,
    }

    #[test]
    fn text_batches_are_valid_json_with_the_fields_the_engine_wants() {
        let s = scenario("text");
        let citizens = Arc::new(ids::bsns(ids::CITIZEN_PREFIX, 50));
        let payloads = Payloads::new(&s, 7, citizens);
        let spec = BatchSpec {
            mix: Mix::Text,
            tekst_chars: 300,
            afnemer: 3,
            batch_seq: 9,
            first_seq: 100,
            messages: 50,
        };
        let built = payloads.batch(&spec, "2026-11-28T10:00:00Z");
        let batch: Batch = serde_json::from_slice(&built.body).expect("json");
        assert_eq!(batch.batch_id, ids::batch_id(7, 3, 9));
        assert_eq!(batch.berichten.len(), 50);
        for (i, b) in batch.berichten.iter().enumerate() {
            let key = ids::parse_bericht_id(7, &b.bericht_id).expect("our id");
            assert_eq!(key.seq, 100 + i as u64);
            assert!(ids::is_valid_bsn(&b.ontvanger));
            assert_eq!(b.onderwerp, format!("{ONDERWERP_PREFIX}{}", b.bericht_id));
            assert!(b.onderwerp.len() <= 50);
            assert_eq!(b.tekst.len(), 300);
            assert!(b.bijlagen.is_empty());
        }
        assert_eq!(built.attachment_bytes, 0);
    }

    #[test]
    fn the_sla_mix_has_valid_pdfs_within_the_limit() {
        let s = scenario("sla");
        let citizens = Arc::new(ids::bsns(ids::CITIZEN_PREFIX, 50));
        let payloads = Payloads::new(&s, 7, citizens);
        let mut with = 0;
        let mut two = 0;
        let mut total = 0u64;
        for batch_seq in 0..20u64 {
            let spec = BatchSpec {
                mix: Mix::Sla,
                tekst_chars: 300,
                afnemer: 0,
                batch_seq,
                first_seq: batch_seq * 50,
                messages: 50,
            };
            let built = payloads.batch(&spec, "2026-11-28T10:00:00Z");
            let batch: Batch = serde_json::from_slice(&built.body).expect("json");
            let mut decoded_total = 0u64;
            for b in &batch.berichten {
                assert!(b.bijlagen.len() <= 2);
                let mut sum = 0;
                for bijlage in &b.bijlagen {
                    assert_eq!(bijlage.mediatype, "application/pdf");
                    let bytes = base64::engine::general_purpose::STANDARD
                        .decode(&bijlage.inhoud)
                        .expect("valid base64");
                    assert!(bytes.starts_with(b"%PDF-1.4"));
                    assert!(bytes.ends_with(b"%%EOF\n"));
                    sum += bytes.len();
                }
                assert!(sum <= MAX_ATTACHMENT_BYTES);
                decoded_total += sum as u64;
                with += usize::from(!b.bijlagen.is_empty());
                two += usize::from(b.bijlagen.len() == 2);
            }
            assert_eq!(decoded_total, built.attachment_bytes);
            total += 50;
        }
        let share = with as f64 / total as f64;
        assert!(
            (0.9..=0.99).contains(&share),
            "share with attachments {share}"
        );
        assert!(two > 0);
    }

    #[test]
    fn pdfs_have_the_exact_size_and_a_correct_xref() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        for size in [600, 2_000, 40_000, 490_000] {
            let bytes = pdf(size, &mut rng);
            assert_eq!(bytes.len(), size);
            let text = String::from_utf8_lossy(&bytes);
            let startxref: usize = text
                .rsplit("startxref\n")
                .next()
                .and_then(|t| t.lines().next())
                .and_then(|t| t.parse().ok())
                .expect("startxref");
            assert!(bytes[startxref..].starts_with(b"xref"));
        }
    }

    #[test]
    fn pdf_sizes_follow_the_mix() {
        let sizes = pdf_sizes(&SlaMix::default(), 3);
        let mut sorted = sizes.clone();
        sorted.sort_unstable();
        let median = sorted[sorted.len() / 2];
        assert!((20_000..80_000).contains(&median), "median {median}");
        assert!(sorted[0] <= 10_000);
        assert!(*sorted.last().expect("max") <= 490_000);
    }

    #[test]
    fn validatie_bodies_are_json() {
        let s = scenario("text");
        let payloads = Payloads::new(&s, 1, Arc::new(ids::bsns(ids::CITIZEN_PREFIX, 50)));
        let value: serde_json::Value =
            serde_json::from_slice(&payloads.validatie(3, 250)).expect("json");
        assert_eq!(value["bsns"].as_array().map(Vec::len), Some(250));
    }
}
