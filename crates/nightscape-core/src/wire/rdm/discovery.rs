//! RDM discovery (ANSI E1.20 §7) as a state machine: what a controller
//! that runs discovery itself (an ENTTEC DMX USB Pro line; an Art-Net node
//! does its own) says next, given what the line answered so far. It is
//! pure — no clock, no line — so the walk over the 48-bit UID space is
//! tested here against simulated responders, and the daemon's line only
//! carries the steps out.
//!
//! **Full** discovery: DISC_UN_MUTE to everyone, then DISC_UNIQUE_BRANCH
//! over the whole UID space; a clean answer is muted (DISC_MUTE) and its
//! range asked again (others may share it), a garbled one (two responders
//! at once, or an answer that does not mute — E1.20 Appendix C) splits the
//! range in halves, silence closes it. Every responder is found, muted.
//!
//! **Incremental** discovery: the devices already known are muted first,
//! one DISC_MUTE each — which also tells whether each still answers — and
//! then the same branch walk finds only devices that are not muted: the
//! newcomers (and a known device whose mute was lost). Its cost grows with
//! the new devices, not with the line's size.

use super::Uid;
use std::collections::BTreeSet;

/// The highest UID a responder may have (FFFF:FFFFFFFF is broadcast).
pub const MAX_UID: u64 = 0xFFFF_FFFF_FFFE;

/// A UID as a number, for ranges.
pub fn uid_number(u: Uid) -> u64 {
    (u64::from(u.manufacturer) << 32) | u64::from(u.device)
}

/// The UID a number in 0..=0xFFFF_FFFF_FFFF stands for.
pub fn uid_from_number(v: u64) -> Uid {
    Uid::new((v >> 32) as u16, v as u32)
}

/// Which discovery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sweep {
    /// Everyone un-muted and the whole space walked.
    Full,
    /// Known devices muted (and so checked), then only the un-muted found.
    Incremental,
}

/// What the line must do next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// DISC_UN_MUTE to the broadcast UID (nobody answers).
    UnMuteAll,
    /// DISC_MUTE to one device; answer with [`Reply::Muted`].
    Mute(Uid),
    /// DISC_UNIQUE_BRANCH over `lower..=upper`; answer with [`Reply::Branch`].
    Branch { lower: Uid, upper: Uid },
    /// Finished (or out of its branch budget: see [`Outcome::complete`]).
    Done,
}

/// What a DISC_UNIQUE_BRANCH brought back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BranchAnswer {
    /// Nothing on the line.
    Silent,
    /// One well-formed discovery reply (checksum right).
    Clean(Uid),
    /// Bytes that do not decode: responders answering at once.
    Garbled,
}

/// The line's answer to the last [`Step`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reply {
    /// After [`Step::UnMuteAll`].
    UnMuted,
    /// After [`Step::Mute`]: whether the device acknowledged.
    Muted(bool),
    /// After [`Step::Branch`].
    Branch(BranchAnswer),
}

/// What one discovery found.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Outcome {
    /// Every device that answered, sorted.
    pub devices: Vec<Uid>,
    /// Those not in the known list (a full sweep: everything it found).
    pub new: Vec<Uid>,
    /// Known devices that did not answer their DISC_MUTE nor a branch.
    pub gone: Vec<Uid>,
    /// False when the branch budget ran out before the walk finished.
    pub complete: bool,
    /// DISC_UNIQUE_BRANCH requests sent.
    pub branches: usize,
    /// DISC_MUTE requests sent.
    pub mutes: usize,
}

/// Where the machine is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Waiting {
    Nothing,
    UnMute,
    /// A known device's mute (incremental).
    KnownMute(Uid),
    Branch(u64, u64),
    /// The mute of a clean branch answer found in `lo..=hi`.
    FoundMute(Uid, u64, u64),
}

/// One discovery in progress.
#[derive(Debug, Clone)]
pub struct Discovery {
    sweep: Sweep,
    known: Vec<Uid>,
    /// Known devices still to mute (incremental), next last.
    to_mute: Vec<Uid>,
    /// Known devices that acknowledged their mute.
    answered: BTreeSet<Uid>,
    /// Devices found by the branch walk.
    found: BTreeSet<Uid>,
    /// Ranges still to ask, next last.
    stack: Vec<(u64, u64)>,
    waiting: Waiting,
    started: bool,
    branches: usize,
    mutes: usize,
    max_branches: usize,
}

impl Discovery {
    /// A full discovery of every responder; at most `max_branches`
    /// DISC_UNIQUE_BRANCH requests.
    pub fn full(max_branches: usize) -> Discovery {
        Discovery::new(Sweep::Full, Vec::new(), max_branches)
    }

    /// An incremental discovery: `known` muted first, then only new
    /// devices searched for.
    pub fn incremental(known: impl IntoIterator<Item = Uid>, max_branches: usize) -> Discovery {
        let known: BTreeSet<Uid> = known.into_iter().collect();
        Discovery::new(
            Sweep::Incremental,
            known.into_iter().collect(),
            max_branches,
        )
    }

    fn new(sweep: Sweep, known: Vec<Uid>, max_branches: usize) -> Discovery {
        let mut to_mute = known.clone();
        to_mute.reverse();
        Discovery {
            sweep,
            known,
            to_mute,
            answered: BTreeSet::new(),
            found: BTreeSet::new(),
            stack: vec![(0, MAX_UID)],
            waiting: Waiting::Nothing,
            started: false,
            branches: 0,
            mutes: 0,
            max_branches,
        }
    }

    pub fn sweep(&self) -> Sweep {
        self.sweep
    }

    /// The next step. Calling it again before [`Discovery::answer`] gives
    /// the same step again (a line may lose its answer and ask again).
    pub fn step(&mut self) -> Step {
        match self.waiting {
            Waiting::UnMute => return Step::UnMuteAll,
            Waiting::KnownMute(u) | Waiting::FoundMute(u, _, _) => return Step::Mute(u),
            Waiting::Branch(lo, hi) => {
                return Step::Branch {
                    lower: uid_from_number(lo),
                    upper: uid_from_number(hi),
                }
            }
            Waiting::Nothing => {}
        }
        if !self.started {
            self.started = true;
            if self.sweep == Sweep::Full {
                self.waiting = Waiting::UnMute;
                return Step::UnMuteAll;
            }
        }
        if let Some(u) = self.to_mute.pop() {
            self.mutes += 1;
            self.waiting = Waiting::KnownMute(u);
            return Step::Mute(u);
        }
        if self.branches >= self.max_branches {
            return Step::Done;
        }
        let Some((lo, hi)) = self.stack.pop() else {
            return Step::Done;
        };
        self.branches += 1;
        self.waiting = Waiting::Branch(lo, hi);
        Step::Branch {
            lower: uid_from_number(lo),
            upper: uid_from_number(hi),
        }
    }

    /// What the line answered to the last step. An answer of the wrong
    /// kind counts as silence.
    pub fn answer(&mut self, reply: Reply) {
        let waiting = std::mem::replace(&mut self.waiting, Waiting::Nothing);
        match (waiting, reply) {
            (Waiting::KnownMute(u), Reply::Muted(true)) => {
                self.answered.insert(u);
            }
            (Waiting::Branch(lo, hi), Reply::Branch(a)) => match a {
                BranchAnswer::Silent => {}
                BranchAnswer::Clean(u)
                    if (lo..=hi).contains(&uid_number(u)) && !self.found.contains(&u) =>
                {
                    self.mutes += 1;
                    self.waiting = Waiting::FoundMute(u, lo, hi);
                }
                _ => self.split(lo, hi),
            },
            (Waiting::FoundMute(u, lo, hi), Reply::Muted(true)) => {
                self.found.insert(u);
                // Others may share the range: ask it again.
                self.stack.push((lo, hi));
            }
            // An answer that does not mute was noise that passed the
            // checksum: treat it as a collision.
            (Waiting::FoundMute(_, lo, hi), _) => self.split(lo, hi),
            _ => {}
        }
    }

    fn split(&mut self, lo: u64, hi: u64) {
        if lo < hi {
            let mid = lo + (hi - lo) / 2;
            self.stack.push((mid + 1, hi));
            self.stack.push((lo, mid));
        }
    }

    /// What was found so far (the whole result once [`Step::Done`]).
    pub fn outcome(&self) -> Outcome {
        let devices: BTreeSet<Uid> = self.answered.union(&self.found).copied().collect();
        let known: BTreeSet<Uid> = self.known.iter().copied().collect();
        Outcome {
            new: devices.difference(&known).copied().collect(),
            gone: known.difference(&devices).copied().collect(),
            devices: devices.into_iter().collect(),
            complete: self.stack.is_empty() && self.to_mute.is_empty(),
            branches: self.branches,
            mutes: self.mutes,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Responders on a line: each muted or not; collisions garble.
    struct Line {
        uids: Vec<Uid>,
        muted: Vec<bool>,
    }

    impl Line {
        fn new(uids: &[Uid]) -> Line {
            Line {
                uids: uids.to_vec(),
                muted: vec![false; uids.len()],
            }
        }

        fn run(&mut self, mut d: Discovery) -> Outcome {
            for _ in 0..1_000_000 {
                let reply = match d.step() {
                    Step::Done => return d.outcome(),
                    Step::UnMuteAll => {
                        self.muted.iter_mut().for_each(|m| *m = false);
                        Reply::UnMuted
                    }
                    Step::Mute(u) => match self.uids.iter().position(|x| *x == u) {
                        Some(i) => {
                            self.muted[i] = true;
                            Reply::Muted(true)
                        }
                        None => Reply::Muted(false),
                    },
                    Step::Branch { lower, upper } => {
                        let r = uid_number(lower)..=uid_number(upper);
                        let on: Vec<Uid> = (0..self.uids.len())
                            .filter(|&i| !self.muted[i] && r.contains(&uid_number(self.uids[i])))
                            .map(|i| self.uids[i])
                            .collect();
                        Reply::Branch(match on.as_slice() {
                            [] => BranchAnswer::Silent,
                            [one] => BranchAnswer::Clean(*one),
                            _ => BranchAnswer::Garbled,
                        })
                    }
                };
                d.answer(reply);
            }
            panic!("discovery did not finish");
        }
    }

    fn uids(n: u32) -> Vec<Uid> {
        (1..=n).map(|i| Uid::new(0x1234, i)).collect()
    }

    #[test]
    fn numbers_and_uids_agree_in_order() {
        let a = Uid::new(0x1234, 1);
        assert_eq!(uid_from_number(uid_number(a)), a);
        assert!(uid_number(a) < uid_number(Uid::new(0x1234, 2)));
        assert!(uid_number(Uid::new(0x1233, u32::MAX)) < uid_number(a));
        assert_eq!(uid_number(Uid::new(0xffff, 0xffff_fffe)), MAX_UID);
    }

    #[test]
    fn full_discovery_finds_neighbours_and_strangers() {
        let mut all = uids(12);
        all.push(Uid::new(0x4567, 0x89ab_cdef));
        all.push(Uid::new(0x0001, 0));
        let mut line = Line::new(&all);
        let out = line.run(Discovery::full(20_000));
        let mut want = all.clone();
        want.sort();
        assert_eq!(out.devices, want);
        assert_eq!(out.new, want);
        assert!(out.gone.is_empty());
        assert!(out.complete);
        assert!(line.muted.iter().all(|m| *m), "everyone ends muted");
    }

    #[test]
    fn full_discovery_unmutes_first() {
        let all = uids(3);
        let mut line = Line::new(&all);
        line.muted = vec![true; 3];
        let mut d = Discovery::full(100);
        assert_eq!(d.step(), Step::UnMuteAll);
        // Asked again before an answer: the same step.
        assert_eq!(d.step(), Step::UnMuteAll);
        let out = line.run(d);
        assert_eq!(out.devices, all);
    }

    #[test]
    fn incremental_mutes_the_known_and_finds_only_the_new() {
        let mut all = uids(20);
        let mut line = Line::new(&all);
        let first = line.run(Discovery::full(20_000));
        assert_eq!(first.devices.len(), 20);
        let full_branches = first.branches;

        // A device is added (powered on: not muted); one goes away.
        let newcomer = Uid::new(0x1234, 0x8000_0000);
        all.push(newcomer);
        let gone = all.remove(4);
        line = Line::new(&all);
        let mut d = Discovery::incremental(first.devices.clone(), 20_000);
        // The known are muted first, in order, before any branch.
        for k in &first.devices {
            assert_eq!(d.step(), Step::Mute(*k));
            let i = all.iter().position(|x| x == k);
            if let Some(i) = i {
                line.muted[i] = true;
            }
            d.answer(Reply::Muted(i.is_some()));
        }
        assert!(matches!(d.step(), Step::Branch { .. }));
        let out = line.run(d);
        assert_eq!(out.new, [newcomer]);
        assert_eq!(out.gone, [gone]);
        assert_eq!(out.devices.len(), 20);
        assert!(out.complete);
        assert_eq!(
            out.mutes,
            20 + 1,
            "one mute per known device and the newcomer's"
        );
        assert!(
            out.branches * 3 < full_branches,
            "incremental took {} branches, the full one {full_branches}",
            out.branches
        );
    }

    #[test]
    fn incremental_with_nothing_new_asks_one_branch() {
        let all = uids(5);
        let mut line = Line::new(&all);
        let out = line.run(Discovery::incremental(all.clone(), 100));
        assert_eq!(out.devices, all);
        assert!(out.new.is_empty() && out.gone.is_empty());
        assert_eq!(out.branches, 1);
    }

    #[test]
    fn a_known_device_whose_mute_was_lost_is_found_by_the_walk() {
        let all = uids(3);
        let mut line = Line::new(&all);
        let mut d = Discovery::incremental(all.clone(), 100);
        // Its DISC_MUTE reply was lost: not muted, so a branch finds it.
        assert_eq!(d.step(), Step::Mute(all[0]));
        d.answer(Reply::Muted(false));
        let out = line.run(d);
        assert_eq!(out.devices, all);
        assert!(out.gone.is_empty() && out.new.is_empty());
    }

    #[test]
    fn an_answer_that_will_not_mute_splits_instead_of_looping() {
        let mut d = Discovery::full(50);
        d.step();
        d.answer(Reply::UnMuted);
        for _ in 0..50 {
            match d.step() {
                Step::Branch { lower, .. } => {
                    d.answer(Reply::Branch(BranchAnswer::Clean(lower)));
                }
                Step::Mute(_) => d.answer(Reply::Muted(false)),
                Step::Done => break,
                Step::UnMuteAll => unreachable!(),
            }
        }
        // The budget bounds it; nothing found, reported incomplete.
        let out = d.outcome();
        assert!(out.devices.is_empty());
        assert!(!out.complete);
        assert!(out.branches <= 50);
    }

    #[test]
    fn an_answer_outside_the_range_or_of_the_wrong_kind_is_not_a_device() {
        let mut d = Discovery::full(10);
        d.step();
        d.answer(Reply::UnMuted);
        let Step::Branch { .. } = d.step() else {
            panic!()
        };
        d.answer(Reply::Muted(true));
        // A wrong-kind answer is silence: the whole space is closed.
        assert_eq!(d.step(), Step::Done);
        assert!(d.outcome().devices.is_empty());
    }
}
