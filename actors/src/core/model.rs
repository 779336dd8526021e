//! The domain's plain types: an afnemer's batch of berichten as the engine keeps it.
//!
//! These are built by the HTTP edge after every field rule has passed, so holding one means it
//! is valid. They are not `Serialize`: JSON belongs to the edge, the store has its own records.

use jiff::Timestamp;
use sha2::{Digest, Sha256};

/// A batch, validated, with its attachments decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch {
    /// The afnemer's OIN: 20 digits.
    pub oin: String,
    /// The batch's GUID, in lowercase hyphenated form.
    pub batch_id: String,
    pub aanmaak_datum: Timestamp,
    pub berichten: Vec<Bericht>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bericht {
    /// The bericht's GUID, in lowercase hyphenated form.
    pub bericht_id: String,
    pub bericht_type: String,
    /// The recipient's BSN.
    pub ontvanger: String,
    pub onderwerp: String,
    pub tekst: String,
    pub referentie: Option<String>,
    pub publicatie_datum: Option<Timestamp>,
    pub bijlagen: Vec<Bijlage>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bijlage {
    pub omschrijving: String,
    pub mediatype: String,
    /// The decoded bytes.
    pub inhoud: Vec<u8>,
}

impl Batch {
    /// Number of berichten; a valid batch has 1 to 1000.
    pub fn len(&self) -> usize {
        self.berichten.len()
    }

    pub fn is_empty(&self) -> bool {
        self.berichten.is_empty()
    }

    /// Total decoded attachment bytes of the batch.
    pub fn attachment_bytes(&self) -> usize {
        self.berichten
            .iter()
            .flat_map(|b| &b.bijlagen)
            .map(|b| b.inhoud.len())
            .sum()
    }

    /// A digest of the batch's content, independent of how its JSON was formatted: two
    /// deliveries with the same digest are the same batch. Every field is length-prefixed, so
    /// moving bytes from one field to the next changes the digest.
    pub fn content_digest(&self) -> [u8; 32] {
        let mut hasher = Sha256::new();
        let mut field = |bytes: &[u8]| {
            hasher.update((bytes.len() as u64).to_le_bytes());
            hasher.update(bytes);
        };
        field(self.oin.as_bytes());
        field(self.batch_id.as_bytes());
        field(&self.aanmaak_datum.as_nanosecond().to_le_bytes());
        field(&(self.berichten.len() as u64).to_le_bytes());
        for bericht in &self.berichten {
            field(bericht.bericht_id.as_bytes());
            field(bericht.bericht_type.as_bytes());
            field(bericht.ontvanger.as_bytes());
            field(bericht.onderwerp.as_bytes());
            field(bericht.tekst.as_bytes());
            optional(&mut field, bericht.referentie.as_deref().map(str::as_bytes));
            let publicatie = bericht
                .publicatie_datum
                .map(|t| t.as_nanosecond().to_le_bytes());
            optional(&mut field, publicatie.as_ref().map(|b| b.as_slice()));
            field(&(bericht.bijlagen.len() as u64).to_le_bytes());
            for bijlage in &bericht.bijlagen {
                field(bijlage.omschrijving.as_bytes());
                field(bijlage.mediatype.as_bytes());
                field(&bijlage.inhoud);
            }
        }
        hasher.finalize().into()
    }
}

fn optional(field: &mut impl FnMut(&[u8]), value: Option<&[u8]>) {
    match value {
        None => field(&[0]),
        Some(bytes) => {
            field(&[1]);
            field(bytes);
        }
    }
}

#[cfg(test)]
pub(crate) mod fixtures {
    use super::*;

    /// A small valid batch for tests; `seed` varies the ids.
    pub fn batch(oin: &str, seed: u32, n_berichten: u32) -> Batch {
        Batch {
            oin: oin.to_owned(),
            batch_id: format!("00000000-0000-4000-8000-{seed:012x}"),
            aanmaak_datum: Timestamp::UNIX_EPOCH,
            berichten: (0..n_berichten)
                .map(|i| Bericht {
                    bericht_id: format!("00000000-0000-4000-9{i:03x}-{seed:012x}"),
                    bericht_type: "AANSLAG".to_owned(),
                    ontvanger: "999993653".to_owned(),
                    onderwerp: format!("bericht {i}"),
                    tekst: "tekst".to_owned(),
                    referentie: None,
                    publicatie_datum: None,
                    bijlagen: if i % 2 == 0 {
                        vec![Bijlage {
                            omschrijving: "bijlage".to_owned(),
                            mediatype: "application/pdf".to_owned(),
                            inhoud: vec![i as u8; 100 + i as usize],
                        }]
                    } else {
                        Vec::new()
                    },
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::fixtures::batch;

    #[test]
    fn digest_sees_every_field() {
        let original = batch("00000001234567890000", 1, 3);
        let digest = original.content_digest();
        assert_eq!(digest, original.clone().content_digest());
        let mut changed = original.clone();
        changed.berichten[2].tekst.push('x');
        assert_ne!(digest, changed.content_digest());
        let mut changed = original.clone();
        changed.berichten[0].bijlagen[0].inhoud[0] ^= 1;
        assert_ne!(digest, changed.content_digest());
        let mut changed = original;
        changed.berichten[1].referentie = Some(String::new());
        assert_ne!(digest, changed.content_digest());
    }
}
