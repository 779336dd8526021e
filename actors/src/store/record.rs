//! The store's records and their keys. Records are encoded with postcard (a stable, documented
//! wire format), not JSON: the store does not share the edge's types.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::StoreError;
use crate::core::model::Bericht;
use crate::core::time::unix_nanos_u64;
use crate::core::verwerking::{Stadium, VerwerkingsCode};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum BatchStatus {
    Geparkeerd,
    InVerwerking,
    Verwerkt,
}

/// A batch as parked in its home shard; also the idempotency record of its id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchRecord {
    pub oin: String,
    pub batch_id: String,
    pub digest: [u8; 32],
    pub ontvangen_op: Timestamp,
    pub aantal_berichten: u32,
    pub shard: u16,
    /// The sequence number of its first bericht; the others follow without gaps.
    pub first_seq: u64,
    pub status: BatchStatus,
    /// The verwerkingsbericht, once every bericht is decided.
    pub receipt: Option<Receipt>,
}

/// One bericht's outcome in a verwerkingsbericht.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BerichtUitkomst {
    pub bericht_id: String,
    pub code: VerwerkingsCode,
    pub stadium: Stadium,
}

/// A batch's verwerkingsbericht: every bericht's outcome, in batch order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    pub verwerkt_op: Timestamp,
    pub berichten: Vec<BerichtUitkomst>,
}

/// A citizen's Berichtenbox account, in the shard of his BSN.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountRecord {
    pub bsn: String,
    pub email: Option<String>,
    pub notificaties: bool,
    pub actief: bool,
    pub geopend_op: Timestamp,
    pub gewijzigd_op: Timestamp,
}

/// A citizen's berichtenvoorkeur for one afnemer. Without one, an active box takes the
/// afnemer's digital mail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VoorkeurRecord {
    pub bsn: String,
    pub oin: String,
    pub digitaal: bool,
    pub gewijzigd_op: Timestamp,
}

/// A change of a citizen's status for the Abonnementservice's `mutaties`, in the shard of the
/// BSN, written in the same write as the change: a berichtenvoorkeur for one afnemer, keyed
/// `oin ++ nanos ++ bsn`, or the box opened or closed, which counts for every afnemer, keyed
/// [`BOX_MUTATIES`] `++ nanos ++ bsn` ([`mutatie_key`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct MutatieRecord {
    /// After the change: digital mail from this afnemer wanted (a voorkeur), or the box
    /// active (a box's mutatie).
    pub digitaal: bool,
}

/// The scope of the mutaties of boxes opened and closed: one byte that no OIN (20 digits)
/// begins with.
pub(crate) const BOX_MUTATIES: &str = "*";

/// `scope ++ nanos ++ bsn`: a mutatie's key, where the scope is an OIN or [`BOX_MUTATIES`].
pub(crate) fn mutatie_key(scope: &str, op_nanos: u64, bsn: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(scope.len() + 8 + bsn.len());
    key.extend_from_slice(scope.as_bytes());
    key.extend_from_slice(&op_nanos.to_be_bytes());
    key.extend_from_slice(bsn.as_bytes());
    key
}

/// The three kinds of Abonnementservice verzoek (API.md: `volledig`, `bsn-lijst`, `mutaties`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Soort {
    Volledig,
    BsnLijst,
    Mutaties,
}

impl Soort {
    pub const ALL: [Self; 3] = [Self::Volledig, Self::BsnLijst, Self::Mutaties];

    /// As API.md spells it; also the metrics' `soort` label.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Volledig => "volledig",
            Self::BsnLijst => "bsn-lijst",
            Self::Mutaties => "mutaties",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|soort| soort.as_str() == text)
    }
}

/// Where a verzoek is: waiting for its night, running, or done with its result written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum VerzoekStatus {
    Ingepland,
    Bezig,
    Gereed,
}

impl VerzoekStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ingepland => "ingepland",
            Self::Bezig => "bezig",
            Self::Gereed => "gereed",
        }
    }
}

/// An Abonnementservice verzoek, keyed `oin ++ verzoek_id` (each afnemer has its own ids).
/// A `bsn-lijst`'s BSNs are kept beside it in parts ([`BsnDeel`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerzoekRecord {
    pub oin: String,
    /// Lowercase GUID.
    pub verzoek_id: String,
    pub soort: Soort,
    /// SHA-256 of the request's content (soort, BSNs in order, mutatieDatum): "the same
    /// verzoek again" is the same digest.
    pub digest: [u8; 32],
    pub mutatie_datum: Option<Timestamp>,
    pub aantal_bsns: u32,
    /// The night it runs in: the Amsterdam date its window opens on.
    pub nacht: jiff::civil::Date,
    pub aangevraagd_op: Timestamp,
    pub status: VerzoekStatus,
    pub gestart_op: Option<Timestamp>,
    pub gereed_op: Option<Timestamp>,
    /// Lines in the result, once `gereed`.
    pub regels: u64,
    /// What making the result cost in real time (not the engine's clock), in milliseconds,
    /// once `gereed`: its own run, or for a `volledig` what it added to the night's one pass
    /// (writing its result). The measure of what the next nights can take
    /// ([`crate::abonnementen::Tempo`]).
    pub duur_ms: u64,
    /// For a `volledig`, once `gereed`: the real time of its night's pass over the accounts
    /// without the writing, the part every `volledig` of the night shares; 0 otherwise.
    pub scan_ms: u64,
}

impl VerzoekRecord {
    /// A verzoek just made, `ingepland` for its night, with nothing run yet: no BSNs, no
    /// `mutatieDatum` and a zero digest until the caller sets them.
    pub fn ingepland(
        oin: &str,
        verzoek_id: &str,
        soort: Soort,
        nacht: jiff::civil::Date,
        aangevraagd_op: Timestamp,
    ) -> Self {
        Self {
            oin: oin.to_owned(),
            verzoek_id: verzoek_id.to_owned(),
            soort,
            digest: [0; 32],
            mutatie_datum: None,
            aantal_bsns: 0,
            nacht,
            aangevraagd_op,
            status: VerzoekStatus::Ingepland,
            gestart_op: None,
            gereed_op: None,
            regels: 0,
            duur_ms: 0,
            scan_ms: 0,
        }
    }
}

/// One part of a `bsn-lijst`'s BSNs, in the order given (a BSN is 9 digits: a u32).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BsnDeel(pub Vec<u32>);

/// A quota's use: how much of it is taken, and when its record may go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuotumRecord {
    pub gebruikt: u32,
    pub vervalt: Timestamp,
}

/// A bericht's place in a box: when it arrived, and where it was parked. Orders a box by
/// arrival and names the bericht to its owner.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct BoxId {
    pub ontvangen_nanos: u64,
    pub shard: u16,
    pub seq: u64,
}

impl BoxId {
    pub const LEN: usize = 18;

    pub fn new(ontvangen_op: Timestamp, shard: u16, seq: u64) -> Self {
        let nanos = unix_nanos_u64(ontvangen_op);
        Self {
            ontvangen_nanos: nanos,
            shard,
            seq,
        }
    }

    pub fn to_bytes(self) -> [u8; Self::LEN] {
        let mut out = [0u8; Self::LEN];
        out[..8].copy_from_slice(&self.ontvangen_nanos.to_be_bytes());
        out[8..10].copy_from_slice(&self.shard.to_be_bytes());
        out[10..].copy_from_slice(&self.seq.to_be_bytes());
        out
    }

    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        if bytes.len() != Self::LEN {
            return None;
        }
        Some(Self {
            ontvangen_nanos: u64::from_be_bytes(bytes[..8].try_into().ok()?),
            shard: u16::from_be_bytes(bytes[8..10].try_into().ok()?),
            seq: u64::from_be_bytes(bytes[10..].try_into().ok()?),
        })
    }

    /// The id as the citizen API shows it: 36 lowercase hex digits.
    pub fn to_hex(self) -> String {
        to_hex(&self.to_bytes())
    }

    pub fn from_hex(text: &str) -> Option<Self> {
        Self::from_bytes(&from_hex(text, Self::LEN)?)
    }
}

/// Bytes as lowercase hex: how ids and cursors are shown to clients.
fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `len` bytes from `2 × len` hex digits; `None` for anything else. Hex digits only:
/// `from_str_radix` alone would also take a `+` before a digit, so one id would have many
/// spellings.
fn from_hex(text: &str, len: usize) -> Option<Vec<u8>> {
    if text.len() != 2 * len || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    (0..len)
        .map(|i| u8::from_str_radix(&text[2 * i..2 * i + 2], 16).ok())
        .collect()
}

/// A bericht's content as the afnemer sent it, with its bijlagen as references to where their
/// bytes were parked: what a parked bericht and a box entry share, written once at park time
/// and moved whole into the box. (The domain's `core::model::Bericht` is the same content
/// with the bijlagen's bytes, before parking.)
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BerichtInhoud {
    pub bericht_id: String,
    pub bericht_type: String,
    pub onderwerp: String,
    pub tekst: String,
    pub referentie: Option<String>,
    /// Not shown to the citizen before this time.
    pub publicatie_datum: Option<Timestamp>,
    pub bijlagen: Vec<BijlageRef>,
}

impl BerichtInhoud {
    /// The content of a domain bericht whose bijlagen were parked at `bijlagen`.
    pub fn parked(bericht: &Bericht, bijlagen: Vec<BijlageRef>) -> Self {
        Self {
            bericht_id: bericht.bericht_id.clone(),
            bericht_type: bericht.bericht_type.clone(),
            onderwerp: bericht.onderwerp.clone(),
            tekst: bericht.tekst.clone(),
            referentie: bericht.referentie.clone(),
            publicatie_datum: bericht.publicatie_datum,
            bijlagen,
        }
    }
}

/// A bericht in a citizen's box.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BoxEntry {
    pub id: BoxId,
    pub bsn: String,
    pub oin: String,
    pub batch_id: String,
    pub ontvangen_op: Timestamp,
    pub inhoud: BerichtInhoud,
    pub gelezen: bool,
}

/// A notification waiting to be sent, in the shard of the citizen's BSN, keyed by arrival.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotificationRecord {
    pub id: BoxId,
    pub bsn: String,
    pub email: String,
    pub oin: String,
    /// Not sent before the bericht is published.
    pub publicatie_datum: Option<Timestamp>,
}

impl NotificationRecord {
    /// When the bericht arrived.
    pub fn arrival(&self) -> Timestamp {
        Timestamp::from_nanosecond(i128::from(self.id.ontvangen_nanos))
            .unwrap_or(Timestamp::UNIX_EPOCH)
    }

    /// When it may be sent: its arrival, or its publication when that is later.
    pub fn due(&self) -> Timestamp {
        self.publicatie_datum
            .map_or(self.arrival(), |p| p.max(self.arrival()))
    }

    /// Whether it waits in the queue of berichten published after they arrived.
    pub(crate) fn published_later(&self) -> bool {
        self.publicatie_datum.is_some_and(|p| p > self.arrival())
    }

    /// Its key: the box id in the arrival queue; due time ++ box id in the later queue.
    pub(crate) fn key(&self) -> Vec<u8> {
        if self.published_later() {
            // Saturating: a publicatieDatum past the key's 64 bits (after 2554) sorts last,
            // never at 0, which would make it due at once.
            let due = unix_nanos_u64(self.due());
            let mut key = due.to_be_bytes().to_vec();
            key.extend_from_slice(&self.id.to_bytes());
            key
        } else {
            self.id.to_bytes().to_vec()
        }
    }
}

/// A receipt waiting for its afnemer's webhook, with its retry state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookJob {
    pub batch_id: String,
    /// When the receipt was first offered: the 6 days count from here.
    pub first_offered: Timestamp,
    pub failures: u32,
    pub next_attempt: Timestamp,
}

/// How many notifications went out in the current hour and day: the caps' memory, kept
/// across restarts so a restart does not reopen a spent hour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CapWindowRecord {
    pub hour_start: Timestamp,
    pub sent_this_hour: u64,
    pub day_start: Timestamp,
    pub sent_today: u64,
}

/// Where a receipt stands in its afnemer's feed: when it became ready, then where its batch
/// was parked. Ordered; opaque to clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ReceiptCursor {
    pub ready_nanos: u64,
    pub shard: u16,
    pub first_seq: u64,
}

impl ReceiptCursor {
    pub fn to_bytes(self) -> [u8; 18] {
        BoxId {
            ontvangen_nanos: self.ready_nanos,
            shard: self.shard,
            seq: self.first_seq,
        }
        .to_bytes()
    }

    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        BoxId::from_bytes(bytes).map(|id| Self {
            ready_nanos: id.ontvangen_nanos,
            shard: id.shard,
            first_seq: id.seq,
        })
    }

    pub fn to_hex(self) -> String {
        BoxId {
            ontvangen_nanos: self.ready_nanos,
            shard: self.shard,
            seq: self.first_seq,
        }
        .to_hex()
    }

    pub fn from_hex(text: &str) -> Option<Self> {
        BoxId::from_hex(text).map(|id| Self {
            ready_nanos: id.ontvangen_nanos,
            shard: id.shard,
            first_seq: id.seq,
        })
    }
}

/// Where an attachment's bytes are: written once at park time, then only referred to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BijlageRef {
    pub shard: u16,
    pub seq: u64,
    pub volgorde: u8,
    pub omschrijving: String,
    pub mediatype: String,
    pub size_bytes: u32,
}

/// A parked bericht, keyed in its shard by its arrival sequence number: where it came from
/// and to whom it goes, around its content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParkedBericht {
    pub seq: u64,
    pub oin: String,
    pub batch_id: String,
    /// Position in its batch, from 0.
    pub index: u32,
    /// The recipient's BSN.
    pub ontvanger: String,
    /// The batch's aanmaakDatum.
    pub aanmaak_datum: Timestamp,
    pub ontvangen_op: Timestamp,
    pub inhoud: BerichtInhoud,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AfnemerRecord {
    pub oin: String,
    pub naam: String,
    pub berichten_per_seconde: u32,
    pub burst: u32,
    pub webhook_url: Option<String>,
    pub actief: bool,
}

/// An afnemer's API key as stored in `api_keys`, keyed by its hash: the SHA-256 of the key
/// (never the key), the OIN it opens, the id the operator lists and revokes it by, when it was
/// made, and when it was last used as far as the catalog has written that down (lazily, see
/// [`crate::catalog::Catalog::flush_last_used`]). Layout format 2 (before: the OIN alone).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiKeyRecord {
    pub id: String,
    pub key_hash: [u8; 32],
    pub oin: String,
    pub aangemaakt_op: Timestamp,
    pub laatst_gebruikt_op: Option<Timestamp>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BerichttypeRecord {
    pub oin: String,
    pub code: String,
    pub omschrijving: String,
    pub actief: bool,
}

/// One rejected bericht in its afnemer's index of afwijzingen (`afwijzingen`), written in the
/// completion that makes its receipt and kept as long as the receipt: what the
/// Leveranciersportaal lists and downloads. The receipt's outcome of one bericht, with where it
/// stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AfwijzingRecord {
    pub batch_id: String,
    pub bericht_id: String,
    pub code: VerwerkingsCode,
    pub stadium: Stadium,
    pub verwerkt_op: Timestamp,
}

/// Where an afwijzing stands in its afnemer's index: the Amsterdam day of its receipt, its
/// code, its receipt's place in the feed and its position in the batch. Pages run day by day,
/// newest day first, and within a day by code, then in the order the receipts became ready.
/// Opaque to clients (hex).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AfwijzingCursor {
    pub dag: jiff::civil::Date,
    pub code: VerwerkingsCode,
    pub receipt: ReceiptCursor,
    /// The bericht's position in its batch, from 0.
    pub index: u32,
}

impl AfwijzingCursor {
    /// `YYYYMMDD` (ASCII) ++ code byte ++ receipt cursor (18) ++ index (u32, big-endian): the
    /// key after the OIN, and the cursor's bytes.
    pub const LEN: usize = 8 + 1 + 18 + 4;

    pub fn to_bytes(self) -> [u8; Self::LEN] {
        let mut out = [0u8; Self::LEN];
        out[..8].copy_from_slice(day_prefix(self.dag).as_bytes());
        out[8] = code_byte(self.code);
        out[9..27].copy_from_slice(&self.receipt.to_bytes());
        out[27..].copy_from_slice(&self.index.to_be_bytes());
        out
    }

    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        if bytes.len() != Self::LEN {
            return None;
        }
        let digits = std::str::from_utf8(&bytes[..8]).ok()?;
        if !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let dag = jiff::civil::Date::new(
            digits[..4].parse().ok()?,
            digits[4..6].parse().ok()?,
            digits[6..8].parse().ok()?,
        )
        .ok()?;
        Some(Self {
            dag,
            code: code_from_byte(bytes[8])?,
            receipt: ReceiptCursor::from_bytes(&bytes[9..27])?,
            index: u32::from_be_bytes(bytes[27..].try_into().ok()?),
        })
    }

    pub fn to_hex(self) -> String {
        to_hex(&self.to_bytes())
    }

    pub fn from_hex(text: &str) -> Option<Self> {
        Self::from_bytes(&from_hex(text, Self::LEN)?)
    }
}

/// An afwijzing's key in its shard's `afwijzingen`: `oin ++ cursor` ([`AfwijzingCursor::to_bytes`]),
/// so an afnemer's afwijzingen of one day (and code) share a prefix.
pub(crate) fn afwijzing_key(oin: &str, cursor: AfwijzingCursor) -> Vec<u8> {
    prefixed(oin, &cursor.to_bytes())
}

/// A verwerkingsCode's byte in keys. Pinned: it is part of the on-disk layout (and of the
/// portal's cursors), so it never follows the enum's order.
pub(crate) fn code_byte(code: VerwerkingsCode) -> u8 {
    match code {
        VerwerkingsCode::Verwerkt => b'0',
        VerwerkingsCode::NietActiefOfGeabonneerd => b'1',
        VerwerkingsCode::BerichtTypeNietOndersteund => b'2',
        VerwerkingsCode::AanmaakDatumLigtTeVerInHetVerleden => b'3',
        VerwerkingsCode::PublicatieDatumLigtTeVerInDeToekomst => b'4',
        VerwerkingsCode::BerichtBestaatAl => b'5',
        VerwerkingsCode::TechnischProbleem => b'6',
    }
}

pub(crate) fn code_from_byte(byte: u8) -> Option<VerwerkingsCode> {
    VerwerkingsCode::ALL
        .into_iter()
        .find(|&code| code_byte(code) == byte)
}

/// How a portal session signed in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Aanmelding {
    /// With an API key, by its id: the session ends when the key is revoked.
    Sleutel { id: String },
    /// With a verified client certificate carrying the afnemer's OIN.
    Certificaat,
}

/// A Leveranciersportaal session, keyed in the store by the SHA-256 of its cookie's token
/// (the token itself is never stored).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessieRecord {
    pub oin: String,
    pub aanmelding: Aanmelding,
    pub aangemaakt_op: Timestamp,
    /// When it ends unless used before: moved on by use, never past `aangemaakt_op` plus the
    /// longest a session may last.
    pub verloopt_op: Timestamp,
}

/// A value the store keeps as postcard, behind one version byte: `version ++ postcard(record)`.
///
/// Each record type has its own version, raised when its fields change (never when another
/// record changes). A build writes [`Record::VERSION`] and reads every version up to it: the
/// current one as the type is now, an older one through [`Record::decode_older`], which knows
/// the earlier shapes. A version above [`Record::VERSION`] was written by a newer build and is
/// refused ([`StoreError::RecordVersion`]), never guessed at. Every change of a record adds a
/// data-directory fixture (`tests/fixtures/`) rather than editing one.
///
/// The values that are not records carry no version: fixed-width counters (u64 big-endian),
/// a batch id held as its bytes (claims, the receipt feed), an attachment's bytes and the empty
/// markers of `parked_ids`. Their meaning is their keyspace's; changing one is a new keyspace
/// and a new layout format ([`crate::store::embedded::FORMAT`]).
pub(crate) trait Record: Serialize + for<'de> Deserialize<'de> {
    /// The version this build writes; versions start at 1.
    const VERSION: u8 = 1;

    /// Reads a record of an older `version` (1 ≤ version < [`Record::VERSION`]) from its
    /// postcard bytes. There is none yet: every record is at version 1.
    fn decode_older(version: u8, body: &[u8]) -> Result<Self, postcard::Error> {
        let _ = (version, body);
        Err(postcard::Error::DeserializeBadEncoding)
    }
}

impl Record for BatchRecord {}
impl Record for AccountRecord {}
impl Record for VoorkeurRecord {}
impl Record for MutatieRecord {}
impl Record for BoxEntry {}
impl Record for NotificationRecord {}
impl Record for WebhookJob {}
impl Record for CapWindowRecord {}
impl Record for ParkedBericht {}
impl Record for AfnemerRecord {}
impl Record for ApiKeyRecord {}
impl Record for BerichttypeRecord {}
impl Record for PrognoseRecord {}
impl Record for RunRecord {}
impl Record for ExpiringBericht {}
impl Record for VerzoekRecord {}
impl Record for BsnDeel {}
impl Record for QuotumRecord {}
impl Record for AfwijzingRecord {}
impl Record for SessieRecord {}

pub(crate) fn encode<T: Record>(record: &T) -> Vec<u8> {
    // Serialising these plain structs into a Vec cannot fail: postcard errors only on
    // unsupported serde features or a full fixed buffer, and neither occurs here.
    postcard::to_extend(record, vec![T::VERSION]).unwrap_or_else(|_| vec![T::VERSION])
}

pub(crate) fn decode<T: Record>(key: &[u8], bytes: &[u8]) -> Result<T, StoreError> {
    let key_text = || String::from_utf8_lossy(key).into_owned();
    let (&version, body) = bytes
        .split_first()
        .ok_or_else(|| StoreError::RecordVersion {
            key: key_text(),
            found: 0,
            newest: T::VERSION,
        })?;
    let decoded = if version == T::VERSION {
        postcard::from_bytes(body)
    } else if (1..T::VERSION).contains(&version) {
        T::decode_older(version, body)
    } else {
        return Err(StoreError::RecordVersion {
            key: key_text(),
            found: version,
            newest: T::VERSION,
        });
    };
    decoded.map_err(|source| StoreError::Corrupt {
        key: key_text(),
        source,
    })
}

/// `oin ++ batch_id`: both fixed-length ASCII, so the key needs no separator.
pub(crate) fn batch_key(oin: &str, batch_id: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(oin.len() + batch_id.len());
    key.extend_from_slice(oin.as_bytes());
    key.extend_from_slice(batch_id.as_bytes());
    key
}

/// Big-endian, so the keyspace's byte order is arrival order.
pub(crate) fn seq_key(seq: u64) -> [u8; 8] {
    seq.to_be_bytes()
}

pub(crate) fn bijlage_key(seq: u64, volgorde: u8) -> [u8; 9] {
    let mut key = [0u8; 9];
    key[..8].copy_from_slice(&seq.to_be_bytes());
    key[8] = volgorde;
    key
}

/// `oin ++ 0x00 ++ code`, so an afnemer's berichttypen share a prefix.
pub(crate) fn berichttype_key(oin: &str, code: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(oin.len() + 1 + code.len());
    key.extend_from_slice(oin.as_bytes());
    key.push(0);
    key.extend_from_slice(code.as_bytes());
    key
}

/// `prefix ++ suffix`, for the keys that put an owner (OIN or BSN) first.
pub(crate) fn prefixed(prefix: &str, suffix: &[u8]) -> Vec<u8> {
    let mut key = Vec::with_capacity(prefix.len() + suffix.len());
    key.extend_from_slice(prefix.as_bytes());
    key.extend_from_slice(suffix);
    key
}

/// A parked bericht in its shard's parked ids (`parked_ids`): `oin ++ berichtId ++ arrival nanos ++ seq`.
/// The prefix `oin ++ berichtId` finds every parked bericht of that id; the rest orders them by
/// acceptance.
pub(crate) fn parked_id_key(
    oin: &str,
    bericht_id: &str,
    ontvangen_op: Timestamp,
    seq: u64,
) -> Vec<u8> {
    let mut key = prefixed(oin, bericht_id.as_bytes());
    key.extend_from_slice(&unix_nanos_u64(ontvangen_op).to_be_bytes());
    key.extend_from_slice(&seq.to_be_bytes());
    key
}

/// What an entry of a shard's retention index (`expiry`) lets go when its period has passed.
/// Each kind is kept for its own period ([`crate::store::RetentionPeriods`]), counted from the
/// time in its index key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Expiring {
    /// A receipt's entries in its afnemer's feed and webhook outbox (one key, both keyspaces),
    /// from the moment it was first offered.
    Receipt,
    /// A rejected bericht in its afnemer's index of afwijzingen (`afwijzingen`), from its
    /// receipt's `verwerkt_op`: kept as long as the receipt.
    Afwijzing,
    /// A processed batch's record, from its `verwerkt_op`.
    Batch,
    /// A berichtId's claim, from the arrival of the bericht that took it.
    Claim,
    /// A voorkeur's mutatie, from its change.
    Mutatie,
    /// A bericht in a box (with its bijlagen), from its arrival.
    Bericht,
}

impl Expiring {
    pub const ALL: [Self; 6] = [
        Self::Receipt,
        Self::Afwijzing,
        Self::Batch,
        Self::Claim,
        Self::Mutatie,
        Self::Bericht,
    ];

    fn byte(self) -> u8 {
        match self {
            Self::Receipt => b'r',
            Self::Afwijzing => b'f',
            Self::Batch => b'b',
            Self::Claim => b'c',
            Self::Mutatie => b'm',
            Self::Bericht => b'x',
        }
    }

    /// The label of its metric and log lines.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Receipt => "verwerkingsbericht",
            Self::Afwijzing => "afwijzing",
            Self::Batch => "batch",
            Self::Claim => "bericht_id",
            Self::Mutatie => "mutatie",
            Self::Bericht => "bericht",
        }
    }
}

/// The value of a box entry's retention index entry: where its bijlagen are, so that the
/// entry and its bijlagen can go without reading the entry first.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExpiringBericht {
    /// `(shard, seq, volgorde)` of each bijlage, as in its [`BijlageRef`].
    pub bijlagen: Vec<(u16, u64, u8)>,
}

impl ExpiringBericht {
    pub fn of(entry: &BoxEntry) -> Self {
        Self {
            bijlagen: entry
                .inhoud
                .bijlagen
                .iter()
                .map(|b| (b.shard, b.seq, b.volgorde))
                .collect(),
        }
    }
}

/// A retention index entry's key: `kind ++ since (nanos, big-endian) ++ the record's key`, so
/// each kind's entries are one range in the order their periods end.
pub(crate) fn expiry_key(kind: Expiring, since: Timestamp, key: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(9 + key.len());
    out.push(kind.byte());
    out.extend_from_slice(&unix_nanos_u64(since).to_be_bytes());
    out.extend_from_slice(key);
    out
}

/// The range of a kind's index entries whose time is before `before`.
pub(crate) fn expiry_range(kind: Expiring, before: Timestamp) -> (Vec<u8>, Vec<u8>) {
    let mut end = vec![kind.byte()];
    end.extend_from_slice(&unix_nanos_u64(before).to_be_bytes());
    (vec![kind.byte()], end)
}

/// The record key an index entry names (after its kind and time).
pub(crate) fn expiry_target(index_key: &[u8]) -> &[u8] {
    index_key.get(9..).unwrap_or_default()
}

/// What a day's counters count, per afnemer: the daily report's three figures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Teller {
    /// Berichten parked (answered 202), on the Amsterdam day of their arrival.
    Aangeboden,
    /// Berichten decided `Verwerkt`, on the Amsterdam day of their decision.
    Verwerkt,
    /// Berichten decided with any other code, on the Amsterdam day of their decision.
    Afgewezen,
}

impl Teller {
    pub const ALL: [Self; 3] = [Self::Aangeboden, Self::Verwerkt, Self::Afgewezen];

    fn byte(self) -> u8 {
        match self {
            Self::Aangeboden => b'a',
            Self::Verwerkt => b'v',
            Self::Afgewezen => b'f',
        }
    }

    fn from_byte(byte: u8) -> Option<Self> {
        match byte {
            b'a' => Some(Self::Aangeboden),
            b'v' => Some(Self::Verwerkt),
            b'f' => Some(Self::Afgewezen),
            _ => None,
        }
    }
}

/// One afnemer's counts of one Amsterdam calendar day, all shards summed.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DagTelling {
    pub aangeboden: u64,
    pub verwerkt: u64,
    pub afgewezen: u64,
}

impl DagTelling {
    pub(crate) fn add(&mut self, teller: Teller, count: u64) {
        let slot = match teller {
            Teller::Aangeboden => &mut self.aangeboden,
            Teller::Verwerkt => &mut self.verwerkt,
            Teller::Afgewezen => &mut self.afgewezen,
        };
        *slot += count;
    }
}

/// The key of a day counter: `YYYYMMDD` ++ oin ++ what it counts. Day first, so a month's
/// counters of every afnemer are one range.
pub(crate) fn teller_key(datum: jiff::civil::Date, oin: &str, teller: Teller) -> Vec<u8> {
    let mut key = Vec::with_capacity(8 + oin.len() + 1);
    key.extend_from_slice(day_prefix(datum).as_bytes());
    key.extend_from_slice(oin.as_bytes());
    key.push(teller.byte());
    key
}

pub(crate) fn day_prefix(datum: jiff::civil::Date) -> String {
    format!("{:04}{:02}{:02}", datum.year(), datum.month(), datum.day())
}

/// Reads a day counter's key back: its day, afnemer and what it counts.
pub(crate) fn parse_teller_key(key: &[u8]) -> Option<(jiff::civil::Date, String, Teller)> {
    if key.len() < 10 {
        return None;
    }
    let digits = std::str::from_utf8(&key[..8]).ok()?;
    let year: i16 = digits[..4].parse().ok()?;
    let month: i8 = digits[4..6].parse().ok()?;
    let day: i8 = digits[6..8].parse().ok()?;
    let datum = jiff::civil::Date::new(year, month, day).ok()?;
    let oin = std::str::from_utf8(&key[8..key.len() - 1]).ok()?.to_owned();
    let teller = Teller::from_byte(key[key.len() - 1])?;
    Some((datum, oin, teller))
}

/// An afnemer's forecast for one month (the rolling forecast of DOMAIN.md).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrognoseRecord {
    pub oin: String,
    /// `YYYY-MM`.
    pub maand: String,
    pub aantal_berichten: u64,
    pub gemiddelde_grootte_kb: u64,
    pub bijgewerkt_op: Timestamp,
}

/// One run of the engine: when it started and when it was last seen up. Availability is
/// computed from these.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunRecord {
    pub started: Timestamp,
    pub seen: Timestamp,
}

/// Citizens' accounts, all shards summed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AccountCount {
    pub total: u64,
    pub actief: u64,
}

/// A counter's value: 8 bytes big-endian; anything else reads as 0 (and is overwritten by the
/// next count).
pub(crate) fn decode_u64(bytes: &[u8]) -> u64 {
    <[u8; 8]>::try_from(bytes).map_or(0, u64::from_be_bytes)
}

#[cfg(test)]
mod teller_tests {
    use super::*;

    #[test]
    fn teller_keys_round_trip_and_sort_by_day() {
        let day = jiff::civil::date(2026, 11, 28);
        let key = teller_key(day, "00000001234567890000", Teller::Verwerkt);
        assert_eq!(
            parse_teller_key(&key),
            Some((day, "00000001234567890000".to_owned(), Teller::Verwerkt))
        );
        let next = teller_key(jiff::civil::date(2026, 12, 1), "0", Teller::Aangeboden);
        assert!(key < next);
        assert!(key.starts_with(b"202611"));
    }
}

#[cfg(test)]
mod afwijzing_cursor_tests {
    use super::*;

    fn cursor(
        dag: jiff::civil::Date,
        code: VerwerkingsCode,
        first_seq: u64,
        index: u32,
    ) -> AfwijzingCursor {
        AfwijzingCursor {
            dag,
            code,
            receipt: ReceiptCursor {
                ready_nanos: 1_700_000_000_000_000_000,
                shard: 3,
                first_seq,
            },
            index,
        }
    }

    /// The code bytes are part of the on-disk layout and of the portal's cursors: pinned.
    #[test]
    fn code_bytes_are_pinned_and_read_back() {
        let pinned: Vec<(VerwerkingsCode, u8)> = VerwerkingsCode::ALL
            .into_iter()
            .map(|code| (code, code_byte(code)))
            .collect();
        assert_eq!(
            pinned,
            [
                (VerwerkingsCode::Verwerkt, b'0'),
                (VerwerkingsCode::NietActiefOfGeabonneerd, b'1'),
                (VerwerkingsCode::BerichtTypeNietOndersteund, b'2'),
                (VerwerkingsCode::AanmaakDatumLigtTeVerInHetVerleden, b'3'),
                (VerwerkingsCode::PublicatieDatumLigtTeVerInDeToekomst, b'4'),
                (VerwerkingsCode::BerichtBestaatAl, b'5'),
                (VerwerkingsCode::TechnischProbleem, b'6'),
            ]
        );
        for (code, byte) in pinned {
            assert_eq!(code_from_byte(byte), Some(code));
        }
        assert_eq!(code_from_byte(b'7'), None);
    }

    #[test]
    fn a_cursor_round_trips_and_its_bytes_sort_by_day_code_receipt_index() {
        let day = jiff::civil::date(2026, 12, 7);
        let one = cursor(day, VerwerkingsCode::BerichtBestaatAl, 9, 2);
        assert_eq!(AfwijzingCursor::from_bytes(&one.to_bytes()), Some(one));
        assert_eq!(AfwijzingCursor::from_hex(&one.to_hex()), Some(one));
        assert!(one.to_bytes().starts_with(b"20261207"));
        let ordered = [
            cursor(
                jiff::civil::date(2026, 12, 6),
                VerwerkingsCode::TechnischProbleem,
                99,
                9,
            ),
            cursor(day, VerwerkingsCode::NietActiefOfGeabonneerd, 100, 0),
            cursor(day, VerwerkingsCode::BerichtBestaatAl, 1, 5),
            cursor(day, VerwerkingsCode::BerichtBestaatAl, 2, 0),
            cursor(day, VerwerkingsCode::BerichtBestaatAl, 2, 1),
        ];
        assert!(
            ordered
                .windows(2)
                .all(|w| w[0].to_bytes() < w[1].to_bytes())
        );
    }

    #[test]
    fn a_cursor_that_is_not_one_is_refused() {
        let good = cursor(
            jiff::civil::date(2026, 12, 7),
            VerwerkingsCode::BerichtBestaatAl,
            9,
            2,
        );
        let hex = good.to_hex();
        // The index's last byte (02) spelled `+2`: `from_str_radix` alone reads it as 2.
        assert!(hex.ends_with("02"));
        let plus = format!("{}+2", &hex[..hex.len() - 2]);
        assert_eq!(AfwijzingCursor::from_hex(&plus), None);
        assert_eq!(AfwijzingCursor::from_hex(&hex[2..]), None);
        assert_eq!(AfwijzingCursor::from_hex(&hex.replace('3', "g")), None);
        let mut bytes = good.to_bytes();
        bytes[8] = b'9';
        assert_eq!(AfwijzingCursor::from_bytes(&bytes), None, "an unknown code");
        let mut bytes = good.to_bytes();
        bytes[..8].copy_from_slice(b"20260230");
        assert_eq!(AfwijzingCursor::from_bytes(&bytes), None, "no such day");
    }
}

#[cfg(test)]
mod notification_key_tests {
    use super::*;

    fn published(at: &str) -> NotificationRecord {
        let arrival: Timestamp = "2026-11-28T10:00:00Z".parse().expect("ts");
        NotificationRecord {
            id: BoxId::new(arrival, 0, 1),
            bsn: "999993653".into(),
            email: "jan@voorbeeld.nl".into(),
            oin: "00000001234567890000".into(),
            publicatie_datum: Some(at.parse().expect("ts")),
        }
    }

    #[test]
    fn a_far_publicatie_datum_sorts_last_and_never_at_zero() {
        let soon = published("2026-12-01T00:00:00Z");
        let y3000 = published("3000-01-01T00:00:00Z");
        let y9999 = published("9999-06-01T00:00:00Z");
        for record in [&soon, &y3000, &y9999] {
            assert!(record.published_later());
        }
        assert!(soon.key() < y3000.key());
        assert!(y3000.key() <= y9999.key());
        assert_eq!(y9999.key()[..8], u64::MAX.to_be_bytes());
    }
}

#[cfg(test)]
mod version_tests {
    use super::*;

    /// A record at version 2 whose version 1 lacked `note`: how a record's change is read on.
    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Grown {
        n: u32,
        note: Option<String>,
    }

    #[derive(Serialize, Deserialize)]
    struct GrownV1 {
        n: u32,
    }

    impl Record for Grown {
        const VERSION: u8 = 2;

        fn decode_older(version: u8, body: &[u8]) -> Result<Self, postcard::Error> {
            match version {
                1 => postcard::from_bytes::<GrownV1>(body).map(|old| Self {
                    n: old.n,
                    note: None,
                }),
                _ => Err(postcard::Error::DeserializeBadEncoding),
            }
        }
    }

    impl Record for GrownV1 {}

    fn run() -> RunRecord {
        RunRecord {
            started: "2026-12-07T10:00:00Z".parse().expect("ts"),
            seen: "2026-12-07T11:00:00Z".parse().expect("ts"),
        }
    }

    #[test]
    fn a_record_is_its_version_byte_then_postcard_and_reads_back() {
        let bytes = encode(&run());
        assert_eq!(bytes[0], 1);
        assert_eq!(&bytes[1..], postcard::to_stdvec(&run()).expect("postcard"));
        assert_eq!(decode::<RunRecord>(b"k", &bytes).expect("decodes"), run());
    }

    #[test]
    fn an_older_version_is_read_through_its_reader() {
        let old = encode(&GrownV1 { n: 7 });
        assert_eq!(old[0], 1);
        assert_eq!(
            decode::<Grown>(b"k", &old).expect("version 1 is read on"),
            Grown { n: 7, note: None }
        );
        let new = encode(&Grown {
            n: 8,
            note: Some("x".into()),
        });
        assert_eq!(new[0], 2);
        assert_eq!(decode::<Grown>(b"k", &new).expect("decodes").n, 8);
    }

    #[test]
    fn a_newer_or_missing_version_is_refused_by_name() {
        let mut newer = encode(&run());
        newer[0] = 9;
        let error = decode::<RunRecord>(b"run-key", &newer).expect_err("version 9 is unknown");
        assert!(
            matches!(
                &error,
                StoreError::RecordVersion { key, found: 9, newest: 1 } if key == "run-key"
            ),
            "{error:?}"
        );
        assert!(error.to_string().contains("version 9"), "{error}");
        for unversioned in [&[][..], &[0u8, 1, 2][..]] {
            assert!(matches!(
                decode::<RunRecord>(b"k", unversioned),
                Err(StoreError::RecordVersion { found: 0, .. })
            ));
        }
    }
}
