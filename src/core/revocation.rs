//! Sessions that ended before their cookies expire: logged out here, or ended at the IdP
//! (back-channel logout). The list lives in Envoy's shared data, so every worker of the
//! process refuses a revoked session at once; each entry is kept until every session it
//! covers has expired anyway.
//!
//! The list is [`SLOTS`] slots of at most [`ENTRIES_PER_SLOT`] entries. A session is looked
//! up in the slot of its subject, and also in the slot of its IdP session id when it has one.
//! A slot that is full drops the entry that covers the oldest sessions, and from then on
//! refuses every session of that slot issued at or before what the dropped entry covered
//! (`floor`): a revoked session never comes back silently; at worst a few other sessions
//! sharing its slot sign in again.

use std::hash::{Hash, Hasher};

use rustc_hash::FxHasher;
use serde::{Deserialize, Serialize};

use crate::core::stored;

use crate::core::session::Session;

/// Slots of the list; with [`ENTRIES_PER_SLOT`], the list holds 8192 entries before a full
/// slot raises its floor.
pub const SLOTS: u64 = 256;
pub const ENTRIES_PER_SLOT: usize = 32;

/// What was revoked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Revoked {
    /// One of our sessions (its `sid`), logged out here.
    #[serde(rename = "s")]
    Session(String),
    /// Every session of ours made from this IdP session (back-channel logout by `sid`).
    #[serde(rename = "i")]
    IdpSession(String),
    /// Every session of this subject (back-channel logout by `sub` alone).
    #[serde(rename = "u")]
    Subject(String),
}

/// One revocation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    #[serde(rename = "r")]
    pub revoked: Revoked,
    /// The newest session it covers was issued at or before this.
    #[serde(rename = "c")]
    pub covers: u64,
    /// Every session it covers has expired by then; the entry can go.
    #[serde(rename = "u")]
    pub until: u64,
}

impl Entry {
    /// Our session `session`, logged out.
    pub fn session(session: &Session) -> Entry {
        Entry {
            revoked: Revoked::Session(session.sid.clone()),
            covers: session.issued_at,
            until: session.expires_at,
        }
    }

    /// Every session matching `revoked` issued up to `now`, each living at most `max_age`.
    pub fn up_to(revoked: Revoked, now: u64, max_age: u64) -> Entry {
        Entry {
            revoked,
            covers: now,
            until: now.saturating_add(max_age),
        }
    }

    /// The slot this entry lives in: a session's own entry sits with its subject's.
    pub fn slot_key<'a>(&'a self, subject: &'a str) -> &'a str {
        match &self.revoked {
            Revoked::Session(_) => subject,
            Revoked::IdpSession(key) | Revoked::Subject(key) => key,
        }
    }

    fn matches(&self, session: &Session) -> bool {
        let covered = session.issued_at <= self.covers;
        match &self.revoked {
            Revoked::Session(sid) => *sid == session.sid,
            Revoked::IdpSession(idp_sid) => covered && session.idp_sid.as_ref() == Some(idp_sid),
            Revoked::Subject(sub) => covered && *sub == session.sub,
        }
    }
}

/// The slot index of a subject or IdP session id.
pub fn slot_of(key: &str) -> u64 {
    let mut hasher = FxHasher::default();
    key.hash(&mut hasher);
    hasher.finish() % SLOTS
}

/// One slot, as stored in shared data.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Slot {
    #[serde(rename = "e")]
    pub entries: Vec<Entry>,
    /// Sessions of this slot issued at or before this are refused (entries dropped when the
    /// slot was full covered them).
    #[serde(rename = "f")]
    pub floor: u64,
}

impl Slot {
    /// Unreadable bytes (another plugin version, or nothing yet) read as an empty slot.
    pub fn decode(bytes: Option<&[u8]>) -> Slot {
        stored::decode(bytes)
    }

    pub fn encode(&self) -> Vec<u8> {
        stored::encode(self)
    }

    pub fn refuses(&self, session: &Session) -> bool {
        (self.floor > 0 && session.issued_at <= self.floor)
            || self.entries.iter().any(|e| e.matches(session))
    }

    /// This slot with `entry` added, expired entries dropped; `dropped` tells whether a live
    /// entry had to go (the floor rose).
    pub fn with(&self, mut entry: Entry, now: u64) -> (Slot, bool) {
        let mut next = self.clone();
        // The same revocation again covers what both did.
        for same in next.entries.iter().filter(|e| e.revoked == entry.revoked) {
            entry.covers = entry.covers.max(same.covers);
            entry.until = entry.until.max(same.until);
        }
        next.entries
            .retain(|e| e.until > now && e.revoked != entry.revoked);
        let mut dropped = false;
        while next.entries.len() >= ENTRIES_PER_SLOT {
            let Some(oldest) = (0..next.entries.len()).min_by_key(|&i| next.entries[i].covers)
            else {
                break;
            };
            next.floor = next.floor.max(next.entries.remove(oldest).covers);
            dropped = true;
        }
        next.entries.push(entry);
        (next, dropped)
    }
}

/// Where the list is read from: shared data in the filter, a map in tests.
pub trait Revocations {
    fn slot(&self, index: u64) -> Slot;
}

/// Nothing is revoked (tests, and tools without shared data).
pub struct NoneRevoked;

impl Revocations for NoneRevoked {
    fn slot(&self, _: u64) -> Slot {
        Slot::default()
    }
}

/// True when the list refuses `session`.
pub fn is_revoked(list: &dyn Revocations, session: &Session) -> bool {
    let by_subject = slot_of(&session.sub);
    if list.slot(by_subject).refuses(session) {
        return true;
    }
    match &session.idp_sid {
        Some(idp_sid) if slot_of(idp_sid) != by_subject => {
            list.slot(slot_of(idp_sid)).refuses(session)
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests;
