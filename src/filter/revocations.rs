//! The revocation list (`core::revocation`) and the record of seen logout tokens
//! (`core::logout_token::JtiSlot`) in shared data.

use crate::core::logout_token::{jti_slot_of, JtiSlot};
use crate::core::revocation::{self, Entry, Revocations, Slot, SLOTS};
use crate::filter::host::Host;

/// Attempts at a compare-and-swap before giving up; each lost race means another worker
/// changed the same slot at that very moment.
const CAS_ATTEMPTS: usize = 8;

fn slot_name(prefix: &str, index: u64) -> String {
    format!("{prefix}|revoked|{index}")
}

/// The list as this worker reads it: straight from shared data, so a revocation by any
/// worker counts at once.
pub struct SharedRevocations<'a, H: Host> {
    pub host: &'a H,
    pub prefix: &'a str,
}

impl<H: Host> Revocations for SharedRevocations<'_, H> {
    fn slot(&self, index: u64) -> Slot {
        Slot::decode(
            self.host
                .shared_get(&slot_name(self.prefix, index))
                .0
                .as_deref(),
        )
    }
}

/// How adding an entry went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Addition {
    Done,
    /// Added; a full slot dropped an older entry and raised its floor.
    DoneRaisingFloor,
    /// The slot kept changing under us.
    Lost,
}

/// Adds `entry` in the slot of `slot_key`.
pub fn add(host: &mut impl Host, prefix: &str, entry: &Entry, slot_key: &str) -> Addition {
    let name = slot_name(prefix, revocation::slot_of(slot_key));
    let now = host.now_ms() / 1000;
    for _ in 0..CAS_ATTEMPTS {
        let (bytes, cas) = host.shared_get(&name);
        let (next, dropped) = Slot::decode(bytes.as_deref()).with(entry.clone(), now);
        if host.shared_set(&name, &next.encode(), cas) {
            return if dropped {
                Addition::DoneRaisingFloor
            } else {
                Addition::Done
            };
        }
    }
    Addition::Lost
}

/// Live entries in the whole list (for its size gauge).
pub fn count(host: &impl Host, prefix: &str) -> u64 {
    let now = host.now_ms() / 1000;
    let list = SharedRevocations { host, prefix };
    (0..SLOTS)
        .map(|i| {
            list.slot(i)
                .entries
                .iter()
                .filter(|e| e.until > now)
                .count() as u64
        })
        .sum()
}

/// Records a logout token's `jti`; `false` when it was seen before (or the record kept
/// changing under us, which is read the same way: the IdP retries).
pub fn record_jti(host: &mut impl Host, prefix: &str, jti: &str, until: u64) -> bool {
    let name = format!("{prefix}|jti|{}", jti_slot_of(jti));
    let now = host.now_ms() / 1000;
    for _ in 0..CAS_ATTEMPTS {
        let (bytes, cas) = host.shared_get(&name);
        let Some(next) = JtiSlot::decode(bytes.as_deref()).record(jti, until, now) else {
            return false;
        };
        if host.shared_set(&name, &next.encode(), cas) {
            return true;
        }
    }
    false
}
