//! Pinned seeds of bugs the simulator found (each failed before its fix). Each test also
//! checks that the seed still draws the fault that triggered the bug, so a change to the
//! scenario generator that moves it makes the test fail loudly instead of passing vacuously.

use maxc_sim::plan::{Fault, RequestFault, RunnerKind};
use maxc_sim::run::{RunOptions, RunSpec, failure_report, run};
use maxc_sim::workload::Workload;

fn pinned(seed: u64, workload: Workload, runner: RunnerKind, keep: &[usize]) -> RunSpec {
    RunSpec {
        seed,
        workload,
        runner,
        bugs: vec![],
        keep: Some(keep.to_vec()),
    }
}

fn assert_passes(spec: &RunSpec) {
    let r = run(spec, &RunOptions::default());
    assert!(r.passed(), "{}", failure_report(spec, &r));
}

/// Stream writer: a restore from a checkpoint whose saved stream session had expired failed
/// the writer on every restore (the job failed over forever). Fixed in `core/src/sink/stream.rs`
/// (a reloaded session that is not `normal` is replaced by a new one).
#[test]
fn stream_restore_with_an_expired_session_recovers() {
    let spec = pinned(134, Workload::Stream, RunnerKind::InProcess, &[1]);
    let (_, plan) = spec.build();
    assert!(
        matches!(
            plan.faults.as_slice(),
            [(
                1,
                Fault::Request {
                    effect: RequestFault::ExpireSession,
                    ..
                }
            )]
        ),
        "seed 134 no longer draws the expire-session fault: re-pin ({:?})",
        plan.faults
    );
    assert_passes(&spec);
    assert_passes(&RunSpec {
        runner: RunnerKind::Turmoil,
        ..spec
    });
}

/// Mock: the `expire_session` fault (and the admin expire call) marked a session expired even
/// after it was committed, so a committer re-checking a session it had committed (its first
/// commit response was lost) was told the rows were lost while the table showed them. Fixed in
/// `mockserver/src/sessions.rs` (only an open session expires, as with the natural lifetime).
#[test]
fn an_expire_fault_does_not_expire_a_committed_session() {
    let spec = pinned(
        1062,
        Workload::BatchStatic,
        RunnerKind::InProcess,
        &[0, 2, 3, 4, 5, 6],
    );
    let (_, plan) = spec.build();
    let kinds: Vec<&str> = plan.iter().map(|f| f.kind()).collect();
    assert_eq!(
        kinds,
        [
            "lose-response",
            "lose-response",
            "429-slot",
            "lose-response",
            "expire-session",
            "truncate-body"
        ],
        "seed 1062 draws another plan now: re-pin"
    );
    assert_passes(&spec);
}

/// The same mock fix, checked directly on the pure service.
#[test]
fn mock_expire_keeps_committed_sessions_committed() {
    use maxc_core::api::tunnel::{
        UploadOptions, commit_upload, create_upload, get_upload, parse_upload_session,
    };
    use maxc_core::api::{ApiContext, SessionStatus};
    use maxc_core::http::{Method, Request, Service as Layer};
    use maxc_core::partition::PartitionSpec;
    use maxc_mock::{MockTime, Service, ServiceConfig};

    let now = MockTime::from_epoch_ms(1_735_689_600_000);
    let mut svc = Service::new(
        ServiceConfig {
            auth: false,
            ..ServiceConfig::default()
        },
        now,
    );
    let ddl = Request::new(Method::Post, Layer::Rest, "/_maxc/sql")
        .with_body("CREATE TABLE t (id BIGINT)");
    assert!(svc.handle(ddl, now).is_success());
    let ctx = ApiContext::new("maxc", "test");
    let none = PartitionSpec::new();
    let opts = UploadOptions {
        partition: none.clone(),
        overwrite: false,
        create_partition: false,
    };
    let open = |svc: &mut Service| {
        parse_upload_session(&svc.handle(create_upload(&ctx, "t", &opts), now))
            .unwrap()
            .id
    };
    let status = |svc: &mut Service, id: &str| {
        parse_upload_session(&svc.handle(get_upload(&ctx, "t", &none, id), now))
            .unwrap()
            .status
    };
    let expire = |svc: &mut Service, id: &str| {
        let r = svc.handle(
            Request::new(
                Method::Post,
                Layer::Rest,
                format!("/_maxc/sessions/{id}/expire"),
            ),
            now,
        );
        assert!(r.is_success(), "{}", String::from_utf8_lossy(&r.body));
    };
    let committed = open(&mut svc);
    assert!(
        svc.handle(commit_upload(&ctx, "t", &none, &committed), now)
            .is_success()
    );
    expire(&mut svc, &committed);
    assert_eq!(status(&mut svc, &committed), SessionStatus::Closed);
    let fresh = open(&mut svc);
    expire(&mut svc, &fresh);
    assert_eq!(status(&mut svc, &fresh), SessionStatus::Expired);
}

/// Upsert writer (its first version): a partition's session of epoch n+1 could commit before
/// epoch n's, and a retried bucket write could land after a later one, so keys ended with
/// older values. The simulator found it on the first seeds (one 500 or one held link is
/// enough); it was fixed in `core/src/sink/upsert.rs` at `c1d41ad` (per-bucket write order,
/// commits in epoch order).
#[test]
fn upsert_keeps_the_last_value_per_key_after_a_retry_or_a_held_link() {
    for (seed, keep, kind) in [(4, 3, "500"), (25, 2, "hold")] {
        let spec = pinned(seed, Workload::Upsert, RunnerKind::InProcess, &[keep]);
        let (_, plan) = spec.build();
        let kinds: Vec<&str> = plan.iter().map(|f| f.kind()).collect();
        assert_eq!(
            kinds,
            [kind],
            "upsert seed {seed} draws another plan now: re-pin"
        );
        assert_passes(&spec);
    }
}
