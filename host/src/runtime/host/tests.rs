//! In-process tests of one host call per interface, on a real SQLite store: what the plugin gets
//! back, what the run stages and logs, and that a database failure traps instead of telling the
//! plugin its arguments were wrong.

use std::sync::Arc;

use serde_json::{Value, json};

use super::super::bindings::stagewright::action::crm::{CrmError as WitCrmError, Host as _};
use super::super::bindings::stagewright::action::directory::Host as _;
use super::super::bindings::stagewright::action::email::{self as wit_email, EmailError, Host as _};
use super::super::bindings::stagewright::action::flow::{Host as _, WakeOn};
use super::super::bindings::stagewright::action::log::{Host as _, Level};
use super::super::bindings::stagewright::action::notify::{Host as _, NotifyError, Recipient};
use super::super::bindings::stagewright::action::types::{Invocation, ItemRef as WitRef};
use super::super::grants::Grants;
use super::super::manifest::{Capability, Manifest};
use super::super::outbound::Outbound;
use super::super::run_state::RunState;
use super::super::{HttpPolicy, Limits};
use super::{CallError, HostFailure, to_wit_item};
use crate::changeset::StagedChange;
use crate::crm;
use crate::model::{EntityType, ItemRef, Write, check_fields};
use crate::rules::Engine;
use crate::store::{self, Store};

const NOW: i64 = 1_800_000_000_000;

struct Fixture {
    store: Store,
    deal: ItemRef,
    _dir: tempfile::TempDir,
}

async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_sqlite(dir.path()).await.unwrap();
    let mut tx = store.write().await.unwrap();
    let fields = json!({"TITLE": "Chairs"}).as_object().unwrap().clone();
    let changes = check_fields(EntityType::Deal, &[], &fields, Write::Create).unwrap();
    let deal = crm::create(&mut tx, &Engine, EntityType::Deal, None, changes, 1, NOW)
        .await
        .unwrap()
        .item;
    tx.commit().await.unwrap();
    Fixture { store, deal, _dir: dir }
}

fn run_state(fixture: &Fixture, capabilities: Vec<Capability>) -> RunState {
    let grants = Arc::new(Grants::of(&Manifest {
        capabilities,
        ..Manifest::default()
    }));
    let outbound = Arc::new(Outbound::new(HttpPolicy::default()).unwrap());
    let invocation = Invocation {
        run_id: "run_test".into(),
        rule_id: "r_test".into(),
        item: to_wit_item(&crate::model::Item {
            item_ref: fixture.deal,
            category_id: Some(0),
            stage_id: Some("NEW".into()),
            stage_semantic: None,
            in_first_stage: false,
            fields: Default::default(),
            created_by: 1,
            created_at: NOW,
            updated_at: NOW,
        }),
        config: "{}".into(),
        previous: "{}".into(),
        attempt: 1,
        now_ms: NOW as u64,
    };
    RunState::new(
        super::super::RunDb::own(fixture.store.clone()),
        grants,
        outbound,
        Limits::default(),
        NOW,
        Some(&invocation),
    )
}

fn wit_ref(item: ItemRef) -> WitRef {
    WitRef {
        entity_type: item.entity_type.to_string(),
        id: item.id as u64,
    }
}

fn logged(state: RunState) -> Vec<String> {
    state.into_effects().logs.into_iter().map(|l| l.message).collect()
}

#[tokio::test]
async fn crm_get_reads_a_granted_item_and_denies_the_rest_once_in_the_log() {
    let f = fixture().await;
    let mut state = run_state(&f, vec![Capability::Read("deal".into())]);
    let item = state.get(wit_ref(f.deal)).await.unwrap();
    let fields: Value = serde_json::from_str(&item.fields).unwrap();
    assert_eq!(fields["TITLE"], "Chairs");
    let denied = state.update(wit_ref(f.deal), "{}".into()).await;
    assert!(matches!(denied, Err(CallError::Refused(WitCrmError::Denied(ref what))) if what == "write:deal"));
    assert_eq!(
        logged(state),
        ["denied: write:deal is not among the plugin's capabilities"]
    );
}

#[tokio::test]
async fn crm_writes_are_staged_and_seen_by_the_runs_own_reads() {
    let f = fixture().await;
    let mut state = run_state(&f, vec![Capability::Write("deal".into())]);
    state
        .update(wit_ref(f.deal), json!({"TITLE": "Desks"}).to_string())
        .await
        .unwrap();
    let item = state.get(wit_ref(f.deal)).await.unwrap();
    assert!(item.fields.contains("Desks"));
    let stored = crm::get(&mut f.store.pool().acquire().await.unwrap(), f.deal)
        .await
        .unwrap();
    assert_eq!(
        stored.fields["TITLE"], "Chairs",
        "nothing is written before the run ends"
    );
    let effects = state.into_effects();
    assert!(matches!(effects.staged.as_slice(), [StagedChange::Update { .. }]));
}

#[tokio::test]
async fn a_database_failure_in_a_crm_call_traps_as_a_host_failure() {
    let f = fixture().await;
    let mut state = run_state(&f, vec![Capability::Read("deal".into())]);
    store::query("DROP TABLE items").execute(f.store.pool()).await.unwrap();
    let failed = state.get(wit_ref(f.deal)).await;
    let Err(error) = failed else {
        panic!("a read of a dropped table succeeded")
    };
    let trap = state.convert_crm_error(error).unwrap_err();
    assert!(trap.downcast_ref::<HostFailure>().is_some(), "{trap:#}");
}

#[tokio::test]
async fn directory_absent_needs_the_user_capability() {
    let f = fixture().await;
    let mut state = run_state(&f, vec![Capability::Read("user".into())]);
    assert_eq!(state.absent(vec![1]).await.unwrap(), Vec::<u64>::new());
    let mut state = run_state(&f, vec![]);
    let denied = state.absent(vec![1]).await;
    assert!(matches!(denied, Err(CallError::Refused(WitCrmError::Denied(ref what))) if what == "read:user"));
}

#[tokio::test]
async fn notify_stages_a_notification_and_a_database_failure_is_transient() {
    let f = fixture().await;
    let mut state = run_state(&f, vec![Capability::Notify]);
    let (_, user) = state.send(Recipient::User(1), "Deal won".into()).await.unwrap();
    assert_eq!(user, 1);
    assert!(matches!(
        state.into_effects().staged.as_slice(),
        [StagedChange::Notification(_)]
    ));

    let mut state = run_state(&f, vec![]);
    let denied = state.send(Recipient::User(1), "x".into()).await;
    assert!(matches!(denied, Err(CallError::Refused(NotifyError::Denied))));

    let mut state = run_state(&f, vec![Capability::Notify]);
    // The one writer connection refuses writes from now on: taking the notification's id fails.
    let mut tx = f.store.write().await.unwrap();
    store::query("PRAGMA query_only = ON").execute(&mut *tx).await.unwrap();
    tx.commit().await.unwrap();
    let Err(error) = state.send(Recipient::User(1), "x".into()).await else {
        panic!("a write to a read-only database succeeded")
    };
    let trap = state.convert_notify_error(error).unwrap_err();
    assert!(trap.downcast_ref::<HostFailure>().is_some(), "not `invalid`: {trap:#}");
}

#[tokio::test]
async fn email_stages_a_message_and_refuses_a_bad_address() {
    let f = fixture().await;
    let message = |to: &str| wit_email::Message {
        to: vec![wit_email::Recipient::Address(to.into())],
        subject: "Invoice".into(),
        text: "Please pay".into(),
        html: None,
    };
    let mut state = run_state(&f, vec![Capability::Email]);
    assert_eq!(
        state.queue(message("carol@client.example")).await.unwrap(),
        "run_test-1"
    );
    let bad = state.queue(message("not an address")).await;
    assert!(matches!(bad, Err(CallError::Refused(EmailError::Invalid(_)))));
    assert!(matches!(
        state.into_effects().staged.as_slice(),
        [StagedChange::Email(_)]
    ));
    let mut state = run_state(&f, vec![]);
    let denied = state.queue(message("carol@client.example")).await;
    assert!(matches!(denied, Err(CallError::Refused(EmailError::Denied))));
    assert_eq!(logged(state), ["denied: email is not among the plugin's capabilities"]);
}

#[tokio::test]
async fn flow_wait_parks_until_a_moment_or_a_happening() {
    let f = fixture().await;
    let mut state = run_state(&f, vec![]);
    state
        .wait(5_000, vec![WakeOn::Comment, WakeOn::Activity, WakeOn::Comment])
        .await
        .unwrap();
    let wait = state.into_effects().wait.unwrap();
    assert_eq!(wait.until, 5_000);
    assert_eq!(wait.wake_on, ["activity", "comment"]);
}

#[tokio::test]
async fn log_lines_are_kept_up_to_the_limit() {
    let f = fixture().await;
    let mut state = run_state(&f, vec![]);
    let limit = Limits::default().log_lines;
    for n in 0..limit + 3 {
        state.write(Level::Info, format!("line {n}")).await.unwrap();
    }
    let lines = logged(state);
    assert_eq!(lines.len(), limit + 1);
    assert_eq!(
        lines[limit],
        format!("3 more log lines were dropped (limit {limit} lines, 65536 bytes)")
    );
}
