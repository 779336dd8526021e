//! The store's records and their keys. Records are encoded with postcard (a stable, documented
//! wire format), not JSON: the store does not share the edge's types.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::StoreError;

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

/// A parked bericht, keyed in its shard by its arrival sequence number.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParkedMessage {
    pub seq: u64,
    pub oin: String,
    pub batch_id: String,
    /// Position in its batch, from 0.
    pub index: u32,
    pub bericht_id: String,
    pub bericht_type: String,
    pub ontvanger: String,
    pub onderwerp: String,
    pub tekst: String,
    pub referentie: Option<String>,
    pub aanmaak_datum: Timestamp,
    pub publicatie_datum: Option<Timestamp>,
    pub ontvangen_op: Timestamp,
    pub bijlagen: Vec<BijlageRef>,
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

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BerichttypeRecord {
    pub oin: String,
    pub code: String,
    pub omschrijving: String,
    pub actief: bool,
}

pub(crate) fn encode<T: Serialize>(record: &T) -> Vec<u8> {
    // Serialising these plain structs into a Vec cannot fail: postcard errors only on
    // unsupported serde features or a full fixed buffer, and neither occurs here.
    postcard::to_stdvec(record).unwrap_or_default()
}

pub(crate) fn decode<T: for<'de> Deserialize<'de>>(
    key: &[u8],
    bytes: &[u8],
) -> Result<T, StoreError> {
    postcard::from_bytes(bytes).map_err(|source| StoreError::Corrupt {
        key: String::from_utf8_lossy(key).into_owned(),
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
