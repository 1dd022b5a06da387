//! Property test: random operation sequences against a simple in-memory model
//! of the queue, with a mock clock. After every step the database's groups
//! (state, retry count, owner, backoff, files) and late files must equal the
//! model's, and the invariants must hold. Stage operations (`begin_stage`,
//! `finish_stage`, `fail_stage`, `reset_stages`) are part of the model, with
//! the per-stage status and attempt counts compared after every step.
//!
//! The test is written against `&dyn QueueBackend`, so any backend runs it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use dsa110_queue::{
    EnqueueOutcome, FailOutcome, Failure, GroupId, GroupState, LateFile, QueueBackend, QueueError,
    RegisterOutcome, RetryPolicy, SqliteBackend, StageDone, StageStatus, SubbandIdx,
};
use proptest::prelude::*;

use crate::T0;

const EXPECTED: u8 = 4;
const TOL_S: f64 = 60.0;
const PARTIAL_TIMEOUT_S: f64 = 300.0;
const STALE_AFTER_S: f64 = 500.0;
const POLICY: RetryPolicy = RetryPolicy {
    retry_limit: 2,
    backoff_s: 30.0,
    max_backoff_s: 100.0,
};
const INTRUDER: &str = "intruder:0";
const STAGES: [&str; 3] = ["convert", "flag", "image"];

#[derive(Debug, Clone)]
enum Op {
    /// A file of observation `slot` (slots 100 s apart), timestamp jittered by
    /// `half_jitter / 2` s; `variant` makes a second path for the same subband.
    Register {
        slot: u8,
        half_jitter: i16,
        subband: u8,
        variant: u8,
    },
    Acquire {
        worker: u8,
    },
    Complete {
        pick: usize,
        right_owner: bool,
    },
    Fail {
        pick: usize,
        right_owner: bool,
        retryable: bool,
    },
    Release {
        pick: usize,
        right_owner: bool,
    },
    Heartbeat {
        pick: usize,
    },
    PromotePartial {
        min_subbands: u8,
    },
    RecoverStale {
        dead_worker: u8,
    },
    Enqueue {
        pick: usize,
    },
    BeginStage {
        pick: usize,
        right_owner: bool,
        stage: usize,
    },
    FinishStage {
        pick: usize,
        right_owner: bool,
        stage: usize,
        complete: bool,
    },
    FailStage {
        pick: usize,
        right_owner: bool,
        stage: usize,
        retryable: bool,
    },
    ResetStages {
        pick: usize,
        mask: u8,
    },
    Tick {
        dt_s: u16,
    },
}

fn op_strategy() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0u8..5, -90i16..=90, 0u8..EXPECTED, 0u8..2).prop_map(|(slot, half_jitter, subband, variant)| Op::Register {
            slot,
            half_jitter,
            subband,
            variant
        }),
        3 => (0u8..3).prop_map(|worker| Op::Acquire { worker }),
        2 => (any::<usize>(), prop::bool::weighted(0.8)).prop_map(|(pick, right_owner)| Op::Complete { pick, right_owner }),
        2 => (any::<usize>(), prop::bool::weighted(0.8), any::<bool>())
            .prop_map(|(pick, right_owner, retryable)| Op::Fail { pick, right_owner, retryable }),
        1 => (any::<usize>(), prop::bool::weighted(0.8)).prop_map(|(pick, right_owner)| Op::Release { pick, right_owner }),
        1 => any::<usize>().prop_map(|pick| Op::Heartbeat { pick }),
        1 => (1u8..=EXPECTED).prop_map(|min_subbands| Op::PromotePartial { min_subbands }),
        1 => (0u8..4).prop_map(|dead_worker| Op::RecoverStale { dead_worker }),
        1 => any::<usize>().prop_map(|pick| Op::Enqueue { pick }),
        2 => (0u16..400).prop_map(|dt_s| Op::Tick { dt_s }),
        2 => (any::<usize>(), prop::bool::weighted(0.9), 0..STAGES.len())
            .prop_map(|(pick, right_owner, stage)| Op::BeginStage { pick, right_owner, stage }),
        2 => (any::<usize>(), prop::bool::weighted(0.9), 0..STAGES.len(), any::<bool>())
            .prop_map(|(pick, right_owner, stage, complete)| Op::FinishStage { pick, right_owner, stage, complete }),
        1 => (any::<usize>(), prop::bool::weighted(0.9), 0..STAGES.len(), any::<bool>())
            .prop_map(|(pick, right_owner, stage, retryable)| Op::FailStage { pick, right_owner, stage, retryable }),
        1 => (any::<usize>(), 0u8..8).prop_map(|(pick, mask)| Op::ResetStages { pick, mask }),
    ]
}

fn owner_of(worker: u8) -> String {
    format!("w{worker}:{}", 1000 + u32::from(worker))
}

#[derive(Debug, Clone, PartialEq)]
struct MGroup {
    state: GroupState,
    retry_count: u32,
    files: BTreeMap<u8, String>,
    received_at: f64,
    last_update: f64,
    owner: Option<String>,
    next_attempt_at: Option<f64>,
    /// stage → (status, attempts).
    stages: BTreeMap<String, (StageStatus, u32)>,
}

#[derive(Debug, Default)]
struct Model {
    now: f64,
    /// Keyed by group id (whole Unix seconds; string order = time order).
    groups: BTreeMap<GroupId, MGroup>,
    /// path → (group, subband) of registered files.
    paths: BTreeMap<String, (GroupId, u8)>,
    /// path → late file.
    late: BTreeMap<String, LateFile>,
}

impl Model {
    fn nearest(&self, obs: f64) -> Option<GroupId> {
        let own = GroupId::from_unix_s(obs).unwrap();
        let mut best: Option<(f64, &GroupId)> = None;
        for gid in self.groups.keys() {
            let d = (gid.unix_s() - obs).abs();
            if (d <= TOL_S || *gid == own) && best.is_none_or(|(bd, _)| d < bd) {
                best = Some((d, gid));
            }
        }
        best.map(|(_, g)| g.clone())
    }

    fn register(&mut self, path: &str, subband: u8, obs: f64) -> RegisterOutcome {
        let sbi = SubbandIdx::new(subband).unwrap();
        if let Some((g, s)) = self.paths.get(path) {
            return RegisterOutcome::AlreadyRegistered {
                group_id: g.clone(),
                subband: SubbandIdx::new(*s).unwrap(),
            };
        }
        if let Some(l) = self.late.get(path) {
            return RegisterOutcome::Late {
                group_id: l.group_id.clone(),
                state: l.group_state,
            };
        }
        let now = self.now;
        match self.nearest(obs) {
            None => {
                let gid = GroupId::from_unix_s(obs).unwrap();
                self.groups.insert(
                    gid.clone(),
                    MGroup {
                        state: GroupState::Collecting,
                        retry_count: 0,
                        files: [(subband, path.to_owned())].into(),
                        received_at: now,
                        last_update: now,
                        owner: None,
                        next_attempt_at: None,
                        stages: BTreeMap::new(),
                    },
                );
                self.paths.insert(path.to_owned(), (gid.clone(), subband));
                RegisterOutcome::Added {
                    group_id: gid,
                    created: true,
                    n_subbands: 1,
                    state: GroupState::Collecting,
                }
            }
            Some(gid) => {
                let g = self.groups.get_mut(&gid).unwrap();
                if !g.state.is_open() {
                    self.late.insert(
                        path.to_owned(),
                        LateFile {
                            path: PathBuf::from(path),
                            group_id: gid.clone(),
                            subband: sbi,
                            group_state: g.state,
                            received_at: now,
                        },
                    );
                    return RegisterOutcome::Late {
                        group_id: gid,
                        state: g.state,
                    };
                }
                if let Some(existing) = g.files.get(&subband) {
                    return RegisterOutcome::DuplicateSubband {
                        group_id: gid,
                        subband: sbi,
                        existing_path: PathBuf::from(existing),
                    };
                }
                g.files.insert(subband, path.to_owned());
                g.last_update = now;
                if g.state == GroupState::Collecting && g.files.len() >= usize::from(EXPECTED) {
                    g.state = GroupState::Pending;
                }
                self.paths.insert(path.to_owned(), (gid.clone(), subband));
                RegisterOutcome::Added {
                    group_id: gid,
                    created: false,
                    n_subbands: g.files.len() as u32,
                    state: g.state,
                }
            }
        }
    }

    fn next_acquirable(&self) -> Option<GroupId> {
        self.groups
            .iter()
            .find(|(_, g)| {
                g.state == GroupState::Pending && g.next_attempt_at.is_none_or(|t| t <= self.now)
            })
            .map(|(id, _)| id.clone())
    }

    /// The group picked by `pick` among all groups, with the owner to use.
    fn pick(&self, pick: usize, right_owner: bool) -> Option<(GroupId, String)> {
        if self.groups.is_empty() {
            return None;
        }
        let (id, g) = self.groups.iter().nth(pick % self.groups.len())?;
        let owner = match (&g.owner, right_owner) {
            (Some(o), true) => o.clone(),
            _ => INTRUDER.to_owned(),
        };
        Some((id.clone(), owner))
    }

    /// The group's retry-or-fail, as `fail` does it.
    fn apply_fail(&mut self, id: &GroupId, retryable: bool) -> FailOutcome {
        let now = self.now;
        let g = self.groups.get_mut(id).unwrap();
        g.owner = None;
        g.last_update = now;
        if retryable && g.retry_count < POLICY.retry_limit {
            let delay =
                (POLICY.backoff_s * 2f64.powi(g.retry_count as i32)).min(POLICY.max_backoff_s);
            g.retry_count += 1;
            g.state = GroupState::Pending;
            g.next_attempt_at = Some(now + delay);
            FailOutcome::Retrying {
                retry_count: g.retry_count,
                next_attempt_at: now + delay,
            }
        } else {
            g.state = GroupState::Failed;
            g.next_attempt_at = None;
            FailOutcome::Failed {
                retry_count: g.retry_count,
            }
        }
    }

    /// Sets a stage's status; a new row starts with `new_attempts`
    /// attempts, an existing one keeps its count (plus one if `bump`).
    fn set_stage(
        &mut self,
        id: &GroupId,
        stage: &str,
        status: StageStatus,
        bump: bool,
        new_attempts: u32,
    ) {
        let g = self.groups.get_mut(id).unwrap();
        match g.stages.get_mut(stage) {
            Some(e) => {
                e.0 = status;
                if bump {
                    e.1 += 1;
                }
            }
            None => {
                g.stages.insert(stage.to_owned(), (status, new_attempts));
            }
        }
    }

    fn held(&self, id: &GroupId, owner: &str) -> bool {
        let g = &self.groups[id];
        g.state == GroupState::InProgress && g.owner.as_deref() == Some(owner)
    }
}

fn expect_not_owner<T: std::fmt::Debug>(r: Result<T, QueueError>) -> Result<(), TestCaseError> {
    match r {
        Err(QueueError::NotOwner { .. }) => Ok(()),
        other => Err(TestCaseError::fail(format!(
            "expected NotOwner, got {other:?}"
        ))),
    }
}

fn check_same(q: &dyn QueueBackend, m: &Model) -> Result<(), TestCaseError> {
    let (rows, total) = q.list_groups(None, 100_000, 0).unwrap();
    prop_assert_eq!(total as usize, m.groups.len());
    prop_assert_eq!(rows.len(), m.groups.len());
    for rec in &rows {
        let mg = m
            .groups
            .get(&rec.group_id)
            .ok_or_else(|| TestCaseError::fail(format!("unexpected group {}", rec.group_id)))?;
        prop_assert_eq!(rec.state, mg.state, "state of {}", rec.group_id);
        prop_assert_eq!(
            rec.retry_count,
            mg.retry_count,
            "retry_count of {}",
            rec.group_id
        );
        prop_assert_eq!(&rec.owner, &mg.owner, "owner of {}", rec.group_id);
        prop_assert_eq!(
            rec.next_attempt_at,
            mg.next_attempt_at,
            "backoff of {}",
            rec.group_id
        );
        prop_assert_eq!(rec.received_at, mg.received_at);
        prop_assert_eq!(
            rec.last_update,
            mg.last_update,
            "last_update of {}",
            rec.group_id
        );
        let files = q.group_files(&rec.group_id).unwrap();
        let got: BTreeMap<u8, String> = files
            .iter()
            .map(|f| (f.subband.get(), f.path.to_string_lossy().into_owned()))
            .collect();
        // Invariant: distinct subbands, all below the expected count.
        prop_assert_eq!(got.len(), files.len());
        prop_assert!(got.keys().all(|&s| s < EXPECTED));
        prop_assert_eq!(&got, &mg.files, "files of {}", rec.group_id);
        // Invariant: owner set exactly while in_progress.
        prop_assert_eq!(rec.owner.is_some(), rec.state == GroupState::InProgress);
        let stages: BTreeMap<String, (StageStatus, u32)> = q
            .stages(&rec.group_id)
            .unwrap()
            .into_iter()
            .map(|s| (s.stage, (s.status, s.attempts)))
            .collect();
        prop_assert_eq!(&stages, &mg.stages, "stages of {}", rec.group_id);
        // Invariant: a collecting group is incomplete.
        if rec.state == GroupState::Collecting {
            prop_assert!(files.len() < usize::from(EXPECTED));
        }
    }
    // Invariant: one path belongs to one group.
    let n_files: usize = m.groups.values().map(|g| g.files.len()).sum();
    prop_assert_eq!(n_files, m.paths.len());
    let late: BTreeMap<String, LateFile> = q
        .late_files()
        .unwrap()
        .into_iter()
        .map(|l| (l.path.to_string_lossy().into_owned(), l))
        .collect();
    prop_assert_eq!(&late, &m.late);
    let counts = q.counts_by_state().unwrap();
    for st in GroupState::ALL {
        let n = m.groups.values().filter(|g| g.state == st).count() as u64;
        prop_assert_eq!(counts[&st], n, "count of {}", st);
        let (_, total) = q.group_summaries(Some(st), false, 1, 0).unwrap();
        prop_assert_eq!(total, n, "group_summaries total of {}", st);
    }
    check_listings(q, m)
}

/// The API's page-at-once reads agree with the model: file counts,
/// completeness, the waiting groups and their totals, files and stages.
fn check_listings(q: &dyn QueueBackend, m: &Model) -> Result<(), TestCaseError> {
    let (newest, total) = q.group_summaries(None, true, 100_000, 0).unwrap();
    prop_assert_eq!(total as usize, m.groups.len());
    let want: Vec<&GroupId> = m.groups.keys().rev().collect();
    let got: Vec<&GroupId> = newest.iter().map(|s| &s.group.group_id).collect();
    prop_assert_eq!(got, want, "newest first");
    let ids: Vec<GroupId> = m.groups.keys().cloned().collect();
    let files = q.files_of_groups(&ids).unwrap();
    let stages = q.stages_of_groups(&ids).unwrap();
    for s in &newest {
        let mg = &m.groups[&s.group.group_id];
        prop_assert_eq!(s.file_count as usize, mg.files.len());
        prop_assert_eq!(s.subband_count as usize, mg.files.len());
        prop_assert_eq!(s.is_complete(), mg.files.len() >= usize::from(EXPECTED));
        let got: BTreeMap<u8, String> = files
            .get(&s.group.group_id)
            .into_iter()
            .flatten()
            .map(|f| (f.subband.get(), f.path.to_string_lossy().into_owned()))
            .collect();
        prop_assert_eq!(&got, &mg.files, "files_of_groups of {}", s.group.group_id);
        let got: BTreeMap<String, (StageStatus, u32)> = stages
            .get(&s.group.group_id)
            .into_iter()
            .flatten()
            .map(|r| (r.stage.clone(), (r.status, r.attempts)))
            .collect();
        prop_assert_eq!(&got, &mg.stages, "stages_of_groups of {}", s.group.group_id);
    }
    let waiting: Vec<(&GroupId, bool)> = m
        .groups
        .iter()
        .filter(|(_, g)| matches!(g.state, GroupState::Pending | GroupState::Collecting))
        .map(|(id, g)| (id, g.files.len() >= usize::from(EXPECTED)))
        .collect();
    let n_complete = waiting.iter().filter(|w| w.1).count() as u64;
    for complete_only in [false, true] {
        let page = q.waiting_groups(complete_only, None, 100_000, 0).unwrap();
        let want: Vec<&GroupId> = waiting
            .iter()
            .filter(|w| !complete_only || w.1)
            .map(|w| w.0)
            .collect();
        let got: Vec<&GroupId> = page.groups.iter().map(|s| &s.group.group_id).collect();
        prop_assert_eq!(&got, &want, "waiting, complete_only={}", complete_only);
        prop_assert_eq!(page.total, want.len() as u64);
        prop_assert_eq!(page.total_waiting, waiting.len() as u64);
        prop_assert_eq!(page.total_complete, n_complete);
        // a page of one, one in
        let one = q.waiting_groups(complete_only, None, 1, 1).unwrap();
        let got: Vec<&GroupId> = one.groups.iter().map(|s| &s.group.group_id).collect();
        prop_assert_eq!(
            got,
            want.iter().skip(1).take(1).copied().collect::<Vec<_>>()
        );
        prop_assert_eq!(one.total, want.len() as u64);
    }
    // arrival filter: only groups whose first file came at or after the cut
    let cut = m.now - 150.0;
    let page = q.waiting_groups(false, Some(cut), 100_000, 0).unwrap();
    let want: Vec<&GroupId> = waiting
        .iter()
        .filter(|w| m.groups[w.0].received_at >= cut)
        .map(|w| w.0)
        .collect();
    let got: Vec<&GroupId> = page.groups.iter().map(|s| &s.group.group_id).collect();
    prop_assert_eq!(got, want, "waiting since {}", cut);
    prop_assert_eq!(page.total_waiting, waiting.len() as u64);
    Ok(())
}

fn step(q: &dyn QueueBackend, m: &mut Model, op: &Op) -> Result<(), TestCaseError> {
    let now = m.now;
    match *op {
        Op::Register {
            slot,
            half_jitter,
            subband,
            variant,
        } => {
            let obs = T0 + 100.0 * f64::from(slot) + f64::from(half_jitter) / 2.0;
            let path = format!("/in/s{slot}_sb{subband:02}_v{variant}.hdf5");
            let got = q
                .register_file(
                    Path::new(&path),
                    SubbandIdx::new(subband).unwrap(),
                    obs,
                    EXPECTED,
                    now,
                )
                .unwrap();
            let want = m.register(&path, subband, obs);
            prop_assert_eq!(got, want);
        }
        Op::Acquire { worker } => {
            let owner = owner_of(worker);
            let got = q.acquire_next(&owner, now).unwrap();
            let want = m.next_acquirable();
            prop_assert_eq!(got.as_ref().map(|g| g.group_id.clone()), want.clone());
            if let (Some(got), Some(id)) = (got, want) {
                let g = m.groups.get_mut(&id).unwrap();
                // Only pending groups are acquirable (model state before).
                prop_assert_eq!(g.state, GroupState::Pending);
                prop_assert_eq!(got.retry_count, g.retry_count);
                let files: BTreeMap<u8, String> = got
                    .files
                    .iter()
                    .map(|f| (f.subband.get(), f.path.to_string_lossy().into_owned()))
                    .collect();
                prop_assert_eq!(&files, &g.files);
                prop_assert_eq!(got.missing.len() + got.files.len(), usize::from(EXPECTED));
                g.state = GroupState::InProgress;
                g.owner = Some(owner);
                g.last_update = now;
            }
        }
        Op::Complete { pick, right_owner } => {
            let Some((id, owner)) = m.pick(pick, right_owner) else {
                return Ok(());
            };
            let r = q.complete(&id, &owner, now);
            if m.held(&id, &owner) {
                r.unwrap();
                let g = m.groups.get_mut(&id).unwrap();
                g.state = GroupState::Completed;
                g.owner = None;
                g.next_attempt_at = None;
                g.last_update = now;
            } else {
                expect_not_owner(r)?;
            }
        }
        Op::Fail {
            pick,
            right_owner,
            retryable,
        } => {
            let Some((id, owner)) = m.pick(pick, right_owner) else {
                return Ok(());
            };
            let failure = Failure {
                error: "test_error",
                message: "file /in/x.hdf5 failed",
                retryable,
            };
            let r = q.fail(&id, &owner, &failure, &POLICY, now);
            if m.held(&id, &owner) {
                let got = r.unwrap();
                let g = m.groups.get_mut(&id).unwrap();
                g.owner = None;
                g.last_update = now;
                if retryable && g.retry_count < POLICY.retry_limit {
                    let delay = (POLICY.backoff_s * 2f64.powi(g.retry_count as i32))
                        .min(POLICY.max_backoff_s);
                    g.retry_count += 1;
                    g.state = GroupState::Pending;
                    g.next_attempt_at = Some(now + delay);
                    prop_assert_eq!(
                        got,
                        FailOutcome::Retrying {
                            retry_count: g.retry_count,
                            next_attempt_at: now + delay
                        }
                    );
                } else {
                    g.state = GroupState::Failed;
                    g.next_attempt_at = None;
                    prop_assert_eq!(
                        got,
                        FailOutcome::Failed {
                            retry_count: g.retry_count
                        }
                    );
                }
            } else {
                expect_not_owner(r)?;
            }
        }
        Op::Release { pick, right_owner } => {
            let Some((id, owner)) = m.pick(pick, right_owner) else {
                return Ok(());
            };
            let r = q.release(&id, &owner, now);
            if m.held(&id, &owner) {
                r.unwrap();
                let g = m.groups.get_mut(&id).unwrap();
                for st in g.stages.values_mut() {
                    if st.0 == StageStatus::Running {
                        st.0 = StageStatus::Pending;
                    }
                }
                g.state = GroupState::Pending;
                g.owner = None;
                g.next_attempt_at = None;
                g.last_update = now;
            } else {
                expect_not_owner(r)?;
            }
        }
        Op::Heartbeat { pick } => {
            let Some((id, owner)) = m.pick(pick, true) else {
                return Ok(());
            };
            let r = q.heartbeat(&id, &owner, now);
            if m.held(&id, &owner) {
                r.unwrap();
                m.groups.get_mut(&id).unwrap().last_update = now;
            } else {
                expect_not_owner(r)?;
            }
        }
        Op::PromotePartial { min_subbands } => {
            let got = q
                .promote_partial(PARTIAL_TIMEOUT_S, min_subbands, now)
                .unwrap();
            let mut want = Vec::new();
            for (id, g) in m.groups.iter_mut() {
                if g.state == GroupState::Collecting && g.received_at <= now - PARTIAL_TIMEOUT_S {
                    g.state = if g.files.len() >= usize::from(min_subbands) {
                        GroupState::Pending
                    } else {
                        GroupState::Failed
                    };
                    g.last_update = now;
                    want.push((id.clone(), g.state, g.files.len()));
                }
            }
            let got: Vec<_> = got
                .into_iter()
                .map(|p| {
                    assert_eq!(p.present.len() + p.missing.len(), usize::from(EXPECTED));
                    (p.group_id, p.new_state, p.present.len())
                })
                .collect();
            prop_assert_eq!(got, want);
        }
        Op::RecoverStale { dead_worker } => {
            let dead = owner_of(dead_worker);
            let got = q
                .recover_stale(&|o: &str| o != dead, STALE_AFTER_S, POLICY.retry_limit, now)
                .unwrap();
            let mut want = Vec::new();
            for (id, g) in m.groups.iter_mut() {
                if g.state != GroupState::InProgress {
                    continue;
                }
                let stale = g.owner.as_deref() == Some(dead.as_str())
                    || now - g.last_update > STALE_AFTER_S;
                if !stale {
                    continue;
                }
                if g.retry_count < POLICY.retry_limit {
                    g.retry_count += 1;
                    g.state = GroupState::Pending;
                } else {
                    g.state = GroupState::Failed;
                }
                g.owner = None;
                g.next_attempt_at = None;
                g.last_update = now;
                for st in g.stages.values_mut() {
                    if st.0 == StageStatus::Running {
                        st.0 = StageStatus::Failed;
                    }
                }
                want.push((id.clone(), g.state, g.retry_count));
            }
            let got: Vec<_> = got
                .into_iter()
                .map(|r| (r.group_id, r.new_state, r.retry_count))
                .collect();
            prop_assert_eq!(got, want);
        }
        Op::Enqueue { pick } => {
            let Some((id, _)) = m.pick(pick, false) else {
                return Ok(());
            };
            let r = q.enqueue_group_for_conversion(&id, now);
            let g = m.groups.get_mut(&id).unwrap();
            match g.state {
                GroupState::Pending => prop_assert_eq!(r.unwrap(), EnqueueOutcome::AlreadyPending),
                GroupState::Collecting | GroupState::InProgress => {
                    prop_assert!(matches!(r, Err(QueueError::WrongState { .. })), "{:?}", r)
                }
                previous @ (GroupState::Completed | GroupState::Failed) => {
                    prop_assert_eq!(r.unwrap(), EnqueueOutcome::Requeued { previous });
                    g.state = GroupState::Pending;
                    g.retry_count = 0;
                    g.next_attempt_at = None;
                    g.last_update = now;
                    for st in g.stages.values_mut() {
                        st.0 = StageStatus::Pending;
                    }
                }
            }
        }
        Op::Tick { dt_s } => m.now += f64::from(dt_s),
        Op::BeginStage {
            pick,
            right_owner,
            stage,
        } => {
            let Some((id, owner)) = m.pick(pick, right_owner) else {
                return Ok(());
            };
            let name = STAGES[stage];
            let r = q.begin_stage(&id, name, &owner, now);
            if m.held(&id, &owner) {
                r.unwrap();
                m.set_stage(&id, name, StageStatus::Running, true, 1);
                m.groups.get_mut(&id).unwrap().last_update = now;
            } else {
                expect_not_owner(r)?;
            }
        }
        Op::FinishStage {
            pick,
            right_owner,
            stage,
            complete,
        } => {
            let Some((id, owner)) = m.pick(pick, right_owner) else {
                return Ok(());
            };
            let name = STAGES[stage];
            let done = StageDone {
                duration_s: 1.5,
                products: &[],
                performance: None,
                complete_group: complete,
            };
            let r = q.finish_stage(&id, name, &owner, &done, now);
            if m.held(&id, &owner) {
                r.unwrap();
                m.set_stage(&id, name, StageStatus::Done, false, 1);
                let g = m.groups.get_mut(&id).unwrap();
                g.last_update = now;
                if complete {
                    g.state = GroupState::Completed;
                    g.owner = None;
                    g.next_attempt_at = None;
                }
            } else {
                expect_not_owner(r)?;
            }
        }
        Op::FailStage {
            pick,
            right_owner,
            stage,
            retryable,
        } => {
            let Some((id, owner)) = m.pick(pick, right_owner) else {
                return Ok(());
            };
            let name = STAGES[stage];
            let failure = Failure {
                error: "stage_error",
                message: "stage failed on /out/x.ms",
                retryable,
            };
            let r = q.fail_stage(&id, name, &owner, &failure, &POLICY, now);
            if m.held(&id, &owner) {
                let got = r.unwrap();
                m.set_stage(&id, name, StageStatus::Failed, false, 1);
                let want = m.apply_fail(&id, retryable);
                prop_assert_eq!(got, want);
            } else {
                expect_not_owner(r)?;
            }
        }
        Op::ResetStages { pick, mask } => {
            let Some((id, _)) = m.pick(pick, false) else {
                return Ok(());
            };
            let names: Vec<&str> = STAGES
                .iter()
                .enumerate()
                .filter(|(i, _)| mask & (1 << i) != 0)
                .map(|(_, s)| *s)
                .collect();
            let r = q.reset_stages(&id, &names, now);
            let state = m.groups[&id].state;
            if state == GroupState::InProgress {
                prop_assert!(matches!(r, Err(QueueError::WrongState { .. })), "{:?}", r);
                return Ok(());
            }
            r.unwrap();
            for name in names {
                m.set_stage(&id, name, StageStatus::Pending, false, 0);
            }
            let g = m.groups.get_mut(&id).unwrap();
            if matches!(state, GroupState::Completed | GroupState::Failed) {
                g.state = GroupState::Pending;
                g.next_attempt_at = None;
                g.last_update = now;
            }
        }
    }
    Ok(())
}

/// Runs `ops` against a backend and the model, comparing after every step.
/// Written against the trait so that every backend gets the same test.
fn run_against_model(q: &dyn QueueBackend, ops: &[Op]) -> Result<(), TestCaseError> {
    let mut m = Model {
        now: T0,
        ..Model::default()
    };
    for (i, op) in ops.iter().enumerate() {
        step(q, &mut m, op).map_err(|e| TestCaseError::fail(format!("step {i} {op:?}: {e}")))?;
        check_same(q, &m)
            .map_err(|e| TestCaseError::fail(format!("after step {i} {op:?}: {e}")))?;
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn sqlite_backend_matches_model(ops in prop::collection::vec(op_strategy(), 1..80)) {
        let dir = tempfile::tempdir().unwrap();
        let backend = SqliteBackend::open(dir.path().join("q.sqlite3")).unwrap();
        run_against_model(&backend, &ops)?;
    }
}
