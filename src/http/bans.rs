//! Admin bans: `POST /admin/kick` with `"ban": true` bans the member's token subject
//! (its [`Identity::subject`](crate::tokens::Identity)) and, for `security.ban_ip_s`
//! seconds, its client IP. A display name is not a ban key: a banned guest could mint a
//! new token under another name, and an honest player who picks the same name would be
//! refused. The IP ban is what stops the banned guest minting a new subject
//! (`POST /api/session` answers 403 from a banned IP); it lapses because addresses are
//! shared and reassigned.
//!
//! Memory is bounded: at most `security.max_bans` subjects (the oldest ban is dropped
//! beyond) and as many IPs, expired IP bans pruned on every ban and check. Bans live in
//! this process (until restart), like the node's other counters.

use parking_lot::Mutex;
use std::collections::{HashMap, HashSet, VecDeque};
use std::net::IpAddr;
use std::time::{Duration, Instant};

#[derive(Debug, Default)]
struct Lists {
    subjects: HashSet<String>,
    /// Subjects in ban order, to drop the oldest beyond the cap.
    subject_order: VecDeque<String>,
    /// IP → when its ban ends.
    ips: HashMap<IpAddr, Instant>,
    /// IPs in ban order: with one lifetime for all, also the order they expire in.
    ip_order: VecDeque<IpAddr>,
}

/// The node's bans.
#[derive(Debug)]
pub struct Bans {
    lists: Mutex<Lists>,
    max: usize,
    ip_ttl: Duration,
}

impl Bans {
    /// Bans holding at most `max` subjects and `max` IPs; an IP ban lasts `ip_ttl`
    /// (zero: subjects only).
    pub fn new(max: usize, ip_ttl: Duration) -> Self {
        Bans { lists: Mutex::default(), max: max.max(1), ip_ttl }
    }

    /// Bans `subject` (if known) and `ip` (if known and IP bans are on).
    pub fn ban(&self, subject: Option<&str>, ip: Option<IpAddr>) {
        let now = Instant::now();
        let mut l = self.lists.lock();
        if let Some(subject) = subject {
            if l.subjects.insert(subject.to_string()) {
                l.subject_order.push_back(subject.to_string());
                while l.subject_order.len() > self.max {
                    if let Some(oldest) = l.subject_order.pop_front() {
                        l.subjects.remove(&oldest);
                    }
                }
            }
        }
        Self::prune(&mut l, now);
        if let (Some(ip), false) = (ip, self.ip_ttl.is_zero()) {
            if l.ips.insert(ip, now + self.ip_ttl).is_some() {
                // Banned again: it now expires last.
                l.ip_order.retain(|i| *i != ip);
            }
            l.ip_order.push_back(ip);
            while l.ip_order.len() > self.max {
                if let Some(oldest) = l.ip_order.pop_front() {
                    l.ips.remove(&oldest);
                }
            }
        }
    }

    /// Drops the IP bans that have run out (they sit at the front of the order).
    fn prune(l: &mut Lists, now: Instant) {
        while let Some(ip) = l.ip_order.front().copied() {
            if l.ips.get(&ip).is_some_and(|until| *until > now) {
                break;
            }
            l.ip_order.pop_front();
            l.ips.remove(&ip);
        }
    }

    /// True when `subject` is banned.
    pub fn subject_banned(&self, subject: &str) -> bool {
        self.lists.lock().subjects.contains(subject)
    }

    /// True when `ip` is banned now.
    pub fn ip_banned(&self, ip: IpAddr) -> bool {
        let mut l = self.lists.lock();
        Self::prune(&mut l, Instant::now());
        l.ips.contains_key(&ip)
    }

    /// How many subjects and IPs are banned (IPs whose ban ran out not counted).
    pub fn len(&self) -> (usize, usize) {
        let mut l = self.lists.lock();
        Self::prune(&mut l, Instant::now());
        (l.subjects.len(), l.ips.len())
    }

    /// True when nothing is banned.
    pub fn is_empty(&self) -> bool {
        self.len() == (0, 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(n: u8) -> IpAddr {
        IpAddr::from([10, 0, 0, n])
    }

    #[test]
    fn subjects_and_ips_are_banned() {
        let bans = Bans::new(10, Duration::from_secs(600));
        assert!(bans.is_empty());
        bans.ban(Some("s1"), Some(ip(1)));
        assert!(bans.subject_banned("s1") && !bans.subject_banned("s2"));
        assert!(bans.ip_banned(ip(1)) && !bans.ip_banned(ip(2)));
        bans.ban(None, None);
        assert_eq!(bans.len(), (1, 1));
    }

    #[test]
    fn a_zero_ip_lifetime_bans_subjects_only() {
        let bans = Bans::new(10, Duration::ZERO);
        bans.ban(Some("s1"), Some(ip(1)));
        assert!(bans.subject_banned("s1"));
        assert!(!bans.ip_banned(ip(1)));
    }

    #[test]
    fn expired_ip_bans_are_pruned() {
        let bans = Bans::new(10, Duration::from_millis(1));
        for n in 0..5 {
            bans.ban(None, Some(ip(n)));
        }
        std::thread::sleep(Duration::from_millis(5));
        assert!(!bans.ip_banned(ip(0)));
        let l = bans.lists.lock();
        assert!(l.ips.is_empty() && l.ip_order.is_empty(), "expired bans hold no memory");
    }

    #[test]
    fn beyond_the_cap_the_oldest_ban_is_dropped() {
        let bans = Bans::new(3, Duration::from_secs(600));
        for n in 0..5u8 {
            bans.ban(Some(&format!("s{n}")), Some(ip(n)));
        }
        assert_eq!(bans.len(), (3, 3));
        assert!(!bans.subject_banned("s1") && bans.subject_banned("s2") && bans.subject_banned("s4"));
        assert!(!bans.ip_banned(ip(1)) && bans.ip_banned(ip(2)) && bans.ip_banned(ip(4)));
        // Banning an IP again moves it to the back: it is dropped last.
        bans.ban(None, Some(ip(2)));
        bans.ban(None, Some(ip(9)));
        assert!(bans.ip_banned(ip(2)) && !bans.ip_banned(ip(3)));
        assert_eq!(bans.lists.lock().ip_order.len(), 3);
    }
}
