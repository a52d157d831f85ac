//! ImportAccounts and the accounts event stream, over gRPC against Postgres.

use std::time::Duration;

use bss_platform::auth::Role;
use bss_proto::accounts::account_event::Payload;
use bss_proto::accounts::account_event_service_client::AccountEventServiceClient;
use bss_proto::accounts::*;
use bss_proto::types::PaymentType;
use bss_testapp::accounts::*;
use bss_testkit::{authorized, token};
use futures::StreamExt;
use tonic::Code;

fn row(line: i64, key: &str, code: &str, name: &str) -> ImportRow {
    ImportRow {
        line,
        account: Some(Account {
            external_key: key.to_owned(),
            code: code.to_owned(),
            name: name.to_owned(),
            email: format!("{}@import.example", code.to_lowercase()),
            ..Account::default()
        }),
        payment_type_codes: "AC, cc".to_owned(),
        create_user: false,
    }
}

async fn import(app: &mut TestApp, token: &str, messages: Vec<ImportAccountsRequest>) -> ImportAccountsResponse {
    app.accounts.import_accounts(authorized(futures::stream::iter(messages), token)).await.expect("import").into_inner()
}

#[tokio::test]
async fn ten_thousand_rows_import_with_an_exact_answer_for_each() {
    let mut app = spawn().await;
    let (_, admin) = app.tenant_admin().await;
    // An account the import will update, two sharing a key, and a name the
    // import will collide with.
    let existing =
        app.create_account(&admin, Account { external_key: "ERP-7".to_owned(), ..account("OLD-7", "Old Seven") }).await;
    let existing = existing.expect("existing").account.expect("account");
    for code in ["DUP-A", "DUP-B"] {
        app.create_account(
            &admin,
            Account { external_key: "ERP-DUP".to_owned(), ..account(code, &format!("Dup {code}")) },
        )
        .await
        .expect("dup");
    }
    app.create_account(&admin, account("TAKEN", "Taken Name")).await.expect("taken");

    let mut rows = Vec::new();
    for index in 1..=10_000i64 {
        let mut row = row(index, &format!("ERP-{index}"), &format!("C{index}"), &format!("Imported {index}"));
        if index % 100 == 0
            && let Some(account) = row.account.as_mut()
        {
            account.email = "not-an-email".to_owned();
        }
        rows.push(row);
    }
    rows[6].account.as_mut().expect("row 7").name = "Seven Renamed".to_owned();
    rows[41].account.as_mut().expect("row 42").external_key = "ERP-DUP".to_owned();
    rows[42].account.as_mut().expect("row 43").name = "taken name".to_owned();
    rows[43].payment_type_codes = "AC,XX".to_owned();
    // Row 45 repeats row 3's key: it updates what row 3 made, and says so.
    rows[44].account.as_mut().expect("row 45").external_key = "ERP-3".to_owned();
    let messages: Vec<ImportAccountsRequest> = rows
        .chunks(1_000)
        .enumerate()
        .map(|(index, chunk)| ImportAccountsRequest {
            rows: chunk.to_vec(),
            request_id: if index == 0 { "import-1".to_owned() } else { String::new() },
        })
        .collect();

    let answer = import(&mut app, &admin, messages.clone()).await;
    assert_eq!(answer.results.len(), 10_000);
    let lines: Vec<i64> = answer.results.iter().map(|result| result.line).collect();
    assert_eq!(lines, (1..=10_000).collect::<Vec<_>>(), "one answer per row, in order");
    let outcome = |line: usize| ImportOutcome::try_from(answer.results[line - 1].outcome).expect("outcome");
    let problems = |line: usize| -> Vec<(String, String)> {
        answer.results[line - 1]
            .problems
            .iter()
            .map(|problem| (problem.reason.clone(), problem.field.clone()))
            .collect()
    };

    for line in (100..=10_000).step_by(100) {
        assert_eq!(outcome(line), ImportOutcome::Rejected, "line {line}");
        assert_eq!(problems(line), [("INVALID_ARGUMENT".to_owned(), "account.email".to_owned())], "line {line}");
    }
    assert_eq!(outcome(7), ImportOutcome::Updated);
    assert_eq!(answer.results[6].account_id, existing.id);
    assert_eq!(outcome(42), ImportOutcome::Updated);
    assert_eq!(problems(42), [("EXTERNAL_KEY_DUPLICATE".to_owned(), "account.external_key".to_owned())]);
    assert_eq!(outcome(43), ImportOutcome::Rejected);
    assert_eq!(problems(43)[0].0, "ACCOUNT_NAME_TAKEN");
    assert_eq!(outcome(44), ImportOutcome::Rejected);
    assert_eq!(problems(44), [("INVALID_ARGUMENT".to_owned(), "payment_type_codes".to_owned())]);
    assert_eq!(outcome(1), ImportOutcome::Created);
    assert_eq!(outcome(45), ImportOutcome::Updated);
    assert_eq!(answer.results[44].account_id, answer.results[2].account_id);
    assert_eq!(problems(45), [("EXTERNAL_KEY_REPEATED".to_owned(), "account.external_key".to_owned())]);
    assert!(answer.results[44].problems[0].message.contains("line 3"), "{:?}", answer.results[44].problems);
    assert!(problems(3).is_empty(), "the first row of a key is plain");
    assert_eq!((answer.created, answer.updated, answer.rejected), (9_895, 3, 102));

    let renamed = app.get_account(&admin, &existing.id).await.expect("updated account");
    assert_eq!(renamed.name, "Seven Renamed");
    let imported = app.get_account(&admin, &answer.results[0].account_id).await.expect("created account");
    assert!(imported.created_by_import);
    assert_eq!(imported.payment_types, [PaymentType::OnAccount as i32, PaymentType::CreditCard as i32]);

    let replayed = import(&mut app, &admin, messages).await;
    assert_eq!(replayed, answer, "the same request id answers the same");
    assert_eq!(app.count_accounts().await, 4 + 9_895);
}

/// ImportAccountsWithProgress says how many rows are applied as each chunk
/// commits, then answers as ImportAccounts does; one request id names one
/// import whichever RPC carries it.
#[tokio::test]
async fn progress_comes_as_chunks_commit_and_either_rpc_replays_the_same_import() {
    let mut app = spawn().await;
    let (_, admin) = app.tenant_admin().await;
    let rows: Vec<ImportRow> = (1..=1_200i64)
        .map(|index| row(index, &format!("P-{index}"), &format!("P{index}"), &format!("Pro {index}")))
        .collect();
    let messages = |rows: &[ImportRow]| -> Vec<ImportAccountsWithProgressRequest> {
        rows.chunks(400)
            .enumerate()
            .map(|(index, chunk)| ImportAccountsWithProgressRequest {
                rows: chunk.to_vec(),
                request_id: if index == 0 { "progress-1".to_owned() } else { String::new() },
            })
            .collect()
    };
    let stream = app
        .accounts
        .import_accounts_with_progress(authorized(futures::stream::iter(messages(&rows)), &admin))
        .await
        .expect("import starts")
        .into_inner();
    let said: Vec<ImportAccountsWithProgressResponse> =
        stream.map(|message| message.expect("progress")).collect().await;
    let (last, progress) = said.split_last().expect("an answer");
    let applied: Vec<i32> = progress.iter().map(|message| message.rows_applied).collect();
    assert_eq!(applied, [500, 1_000, 1_200], "one message per chunk committed (500 rows), before the answer");
    assert!(progress.iter().all(|message| message.result.is_none() && message.rows_total == 1_200));
    assert_eq!((last.rows_applied, last.rows_total), (1_200, 1_200));
    let answer = last.result.clone().expect("the answer comes last");
    assert_eq!((answer.created, answer.updated, answer.rejected, answer.results.len()), (1_200, 0, 0, 1_200));
    assert_eq!(app.count_accounts().await, 1_200);

    // The same import by ImportAccounts: the first answer, nothing applied twice.
    let unary: Vec<ImportAccountsRequest> = messages(&rows)
        .into_iter()
        .map(|message| ImportAccountsRequest { rows: message.rows, request_id: message.request_id })
        .collect();
    assert_eq!(import(&mut app, &admin, unary).await, answer);
    // Another file under the same id is refused, whichever RPC carries it.
    let other = app
        .accounts
        .import_accounts_with_progress(authorized(futures::stream::iter(messages(&rows[..10])), &admin))
        .await;
    let refused = match other {
        Err(status) => status,
        Ok(stream) => stream.into_inner().next().await.expect("an answer").expect_err("another request"),
    };
    assert_eq!(refused.code(), Code::InvalidArgument, "{refused:?}");
    assert!(refused.message().contains("already used"), "{refused:?}");
    assert_eq!(app.count_accounts().await, 1_200);
}

#[tokio::test]
async fn the_stream_sends_every_change_in_order_then_new_ones_live() {
    let mut app = spawn().await;
    let (tenant_id, admin) = app.tenant_admin().await;
    let first = app.create_account(&admin, account("E1", "Events One")).await.expect("one").account.expect("account");
    let contact = CreateContactRequest {
        account_id: first.id.clone(),
        contact: Some(Contact { first_name: "Ada".to_owned(), ..Contact::default() }),
        request_id: String::new(),
    };
    app.accounts.create_contact(authorized(contact, &admin)).await.expect("contact");
    let update = UpdateAccountRequest {
        account: Some(Account { id: first.id.clone(), territory: "West".to_owned(), ..Account::default() }),
        update_mask: mask(&["territory"]),
        request_id: String::new(),
    };
    app.accounts.update_account(authorized(update, &admin)).await.expect("update");
    let suspend = SuspendAccountRequest { id: first.id.clone(), reason: "check".to_owned(), request_id: String::new() };
    app.accounts.suspend_account(authorized(suspend, &admin)).await.expect("suspend");
    let second = app.create_account(&admin, account("E2", "Events Two")).await.expect("two").account.expect("account");
    app.accounts
        .delete_account(authorized(DeleteAccountRequest { id: second.id.clone(), ..Default::default() }, &admin))
        .await
        .expect("delete");

    let sync = token(tenant_id, &[Role::Integration]);
    let mut events = AccountEventServiceClient::new(bss_testkit::channel(app.address).await);
    let mut stream = events
        .stream_events(authorized(StreamEventsRequest { after_sequence: 0 }, &sync))
        .await
        .expect("stream")
        .into_inner();
    let mut received = Vec::new();
    while received.len() < 6 {
        let message = tokio::time::timeout(Duration::from_secs(5), stream.next())
            .await
            .expect("an event in time")
            .expect("open")
            .expect("ok");
        received.push(message.event.expect("event"));
    }
    let sequences: Vec<i64> = received.iter().map(|event| event.sequence).collect();
    assert_eq!(sequences, [1, 2, 3, 4, 5, 6], "numbered in order, without gaps");
    let kinds: Vec<&str> = received
        .iter()
        .map(|event| match event.payload.as_ref().expect("payload") {
            Payload::AccountCreated(_) => "created",
            Payload::ContactChanged(_) => "contact",
            Payload::AccountUpdated(_) => "updated",
            Payload::AccountStatusChanged(_) => "status",
            Payload::AccountDeleted(_) => "deleted",
            _ => "other",
        })
        .collect();
    assert_eq!(kinds, ["created", "contact", "updated", "status", "created", "deleted"]);
    assert!(
        received.iter().all(|event| event.tenant_id == tenant_id.to_string() && event.actor == "user:tenant_admin")
    );
    let Some(Payload::AccountUpdated(updated)) = &received[2].payload else { panic!("an update") };
    assert_eq!(updated.changed_fields, ["territory"]);

    // A change made now arrives on the open stream.
    app.create_account(&admin, account("E3", "Events Three")).await.expect("three");
    let live = tokio::time::timeout(Duration::from_secs(5), stream.next())
        .await
        .expect("live event")
        .expect("open")
        .expect("ok");
    assert_eq!(live.event.expect("event").sequence, 7);

    // Resuming after 4 sends only what came later.
    let mut resumed = events
        .stream_events(authorized(StreamEventsRequest { after_sequence: 4 }, &sync))
        .await
        .expect("stream")
        .into_inner();
    let mut later = Vec::new();
    while later.len() < 3 {
        let message = tokio::time::timeout(Duration::from_secs(5), resumed.next())
            .await
            .expect("in time")
            .expect("open")
            .expect("ok");
        later.push(message.event.expect("event").sequence);
    }
    assert_eq!(later, [5, 6, 7]);
}

#[tokio::test]
async fn a_tenant_sees_only_its_own_events_and_concurrent_writers_leave_no_gap() {
    let mut app = spawn().await;
    let (tenant_id, admin) = app.tenant_admin().await;
    let other = app.create_tenant("Other Events", "EUR").await;
    let other_admin = token(other.id.parse().expect("uuid"), &[Role::TenantAdmin]);

    let mut writers = Vec::new();
    for index in 0..40 {
        let (admin, other_admin) = (admin.clone(), other_admin.clone());
        let mut accounts = app.accounts.clone();
        writers.push(tokio::spawn(async move {
            let token = if index % 2 == 0 { admin } else { other_admin };
            let request = CreateAccountRequest {
                account: Some(account(&format!("W{index}"), &format!("Writer {index}"))),
                request_id: String::new(),
            };
            accounts.create_account(authorized(request, &token)).await.expect("created");
        }));
    }
    for writer in writers {
        writer.await.expect("writer");
    }

    let mut events = AccountEventServiceClient::new(bss_testkit::channel(app.address).await);
    let sync = token(tenant_id, &[Role::Integration]);
    let everything = bss_testkit::issuer().service_token("test", Duration::from_secs(60));
    let mut all = events
        .stream_events(authorized(StreamEventsRequest { after_sequence: 0 }, &everything))
        .await
        .expect("all")
        .into_inner();
    let mut sequences = Vec::new();
    while sequences.len() < 40 {
        let message = tokio::time::timeout(Duration::from_secs(5), all.next())
            .await
            .expect("in time")
            .expect("open")
            .expect("ok");
        sequences.push(message.event.expect("event").sequence);
    }
    assert_eq!(sequences, (1..=40).collect::<Vec<i64>>(), "a service identity sees every tenant, gapless");

    let mut own = events
        .stream_events(authorized(StreamEventsRequest { after_sequence: 0 }, &sync))
        .await
        .expect("own")
        .into_inner();
    let mut tenants = Vec::new();
    while let Ok(Some(message)) = tokio::time::timeout(Duration::from_millis(500), own.next()).await {
        tenants.push(message.expect("ok").event.expect("event").tenant_id);
    }
    assert_eq!(tenants.len(), 20);
    assert!(tenants.iter().all(|tenant| *tenant == tenant_id.to_string()));

    let status = events.stream_events(StreamEventsRequest { after_sequence: 0 }).await.expect_err("no token");
    assert_eq!(status.code(), Code::Unauthenticated);
}
