use super::*;

fn session(sid: &str, sub: &str, issued_at: u64) -> Session {
    Session {
        userid: format!("{sub}@example.com"),
        groups: vec![],
        sub: sub.into(),
        sid: sid.into(),
        issued_at,
        expires_at: issued_at + 1000,
        refresh_token: None,
        id_token: None,
        tokens_expire_at: issued_at + 300,
        idp_sid: Some(format!("idp-{sid}")),
        validated_at: issued_at,
        grants: Default::default(),
        forward_token: None,
    }
}

/// A list in memory, written the way the filter writes shared data.
#[derive(Default)]
struct List(std::collections::HashMap<u64, Slot>);

impl Revocations for List {
    fn slot(&self, index: u64) -> Slot {
        self.0.get(&index).cloned().unwrap_or_default()
    }
}

impl List {
    fn add(&mut self, entry: Entry, subject: &str, now: u64) -> bool {
        let index = slot_of(entry.slot_key(subject));
        let (next, dropped) = self.slot(index).with(entry, now);
        self.0.insert(index, next);
        dropped
    }
}

#[test]
fn a_logged_out_session_is_refused_and_no_other() {
    let mut list = List::default();
    let alice = session("s1", "alice", 100);
    list.add(Entry::session(&alice), "alice", 150);
    assert!(is_revoked(&list, &alice));
    assert!(
        !is_revoked(&list, &session("s2", "alice", 120)),
        "her other browser"
    );
    assert!(!is_revoked(&list, &session("s3", "bob", 90)));
    assert!(!is_revoked(&NoneRevoked, &alice));
}

#[test]
fn an_idp_session_ends_every_session_made_from_it_before_the_logout() {
    let mut list = List::default();
    let before = session("s1", "alice", 100);
    list.add(
        Entry::up_to(Revoked::IdpSession("idp-s1".into()), 200, 1000),
        "",
        200,
    );
    assert!(is_revoked(&list, &before));
    // A new login after the IdP's logout, even with a recycled IdP session id, is fine.
    assert!(!is_revoked(&list, &session("s1", "alice", 201)));
    assert!(
        !is_revoked(&list, &session("s9", "alice", 100)),
        "another IdP session"
    );
}

#[test]
fn a_subject_ends_all_its_sessions_up_to_then() {
    let mut list = List::default();
    list.add(
        Entry::up_to(Revoked::Subject("alice".into()), 200, 1000),
        "",
        200,
    );
    assert!(is_revoked(&list, &session("s1", "alice", 100)));
    assert!(is_revoked(&list, &session("s2", "alice", 200)));
    assert!(!is_revoked(&list, &session("s3", "alice", 201)));
    assert!(!is_revoked(&list, &session("s4", "bob", 100)));
}

#[test]
fn entries_go_once_every_session_they_cover_has_expired() {
    let mut list = List::default();
    let alice = session("s1", "alice", 100);
    list.add(Entry::session(&alice), "alice", 150);
    let index = slot_of("alice");
    let later = Entry::session(&session("s2", "alice", 2000));
    list.add(later, "alice", alice.expires_at);
    assert_eq!(
        list.slot(index).entries.len(),
        1,
        "the expired entry was dropped"
    );
}

#[test]
fn a_full_slot_never_lets_a_dropped_session_back_in() {
    let mut list = List::default();
    // Subjects that share one slot.
    let crowd: Vec<String> = (0..100_000)
        .map(|i| format!("user{i}"))
        .filter(|s| slot_of(s) == slot_of("user0"))
        .take(ENTRIES_PER_SLOT + 5)
        .collect();
    let sessions: Vec<Session> = crowd
        .iter()
        .enumerate()
        .map(|(i, sub)| session(&format!("s{i}"), sub, 100 + i as u64))
        .collect();
    let mut dropped = 0;
    for s in &sessions {
        dropped += usize::from(list.add(Entry::session(s), &s.sub, 500));
    }
    assert_eq!(dropped, 5);
    let slot = list.slot(slot_of("user0"));
    assert_eq!(slot.entries.len(), ENTRIES_PER_SLOT);
    assert_eq!(
        slot.floor, 104,
        "the newest dropped entry covered sessions issued up to 104"
    );
    for s in &sessions {
        assert!(is_revoked(&list, s), "{} came back", s.sid);
    }
    // The price: an older session of the same slot signs in again; newer ones are unaffected.
    assert!(is_revoked(&list, &session("other", &crowd[0], 50)));
    assert!(!is_revoked(&list, &session("other", &crowd[0], 105)));
}

#[test]
fn the_same_revocation_twice_is_one_entry() {
    let mut list = List::default();
    let alice = session("s1", "alice", 100);
    list.add(Entry::session(&alice), "alice", 150);
    list.add(Entry::session(&alice), "alice", 160);
    assert_eq!(list.slot(slot_of("alice")).entries.len(), 1);
}

#[test]
fn a_slot_survives_encoding_and_garbage_reads_as_empty() {
    let mut list = List::default();
    list.add(Entry::session(&session("s1", "alice", 100)), "alice", 150);
    let slot = list.slot(slot_of("alice"));
    assert_eq!(Slot::decode(Some(&slot.encode())), slot);
    assert_eq!(Slot::decode(Some(b"\xff{")), Slot::default());
    assert_eq!(Slot::decode(None), Slot::default());
}

#[test]
fn the_same_revocation_again_covers_what_both_did() {
    let mut list = List::default();
    let long = session("s1", "alice", 100);
    list.add(Entry::session(&long), "alice", 150);
    let short = Session {
        expires_at: 200,
        ..long.clone()
    };
    list.add(Entry::session(&short), "alice", 160);
    list.add(Entry::session(&session("s2", "alice", 300)), "alice", 500);
    assert!(
        is_revoked(&list, &long),
        "still refused after the shorter entry expired"
    );
}
