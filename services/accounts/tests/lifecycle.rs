//! The account lifecycle, history lines, groups and their cascades, users
//! and sales representatives, over gRPC against Postgres.

use bss_platform::auth::Role;
use bss_proto::accounts::*;
use bss_testapp::accounts::*;
use bss_testkit::{authorized, sales_rep_token, token};
use tonic::Code;
use tonic_types::StatusExt;

async fn create(app: &mut TestApp, admin: &str, account: Account) -> Account {
    app.create_account(admin, account).await.expect("account").account.expect("account")
}

async fn history(app: &mut TestApp, admin: &str, account_id: &str) -> Vec<HistoryEntry> {
    let request = ListAccountHistoryRequest { account_id: account_id.to_owned(), ..Default::default() };
    app.accounts.list_account_history(authorized(request, admin)).await.expect("history").into_inner().entries
}

fn full_funding() -> Option<Funding> {
    Some(Funding { scope: FundingScope::Full as i32, ..Funding::default() })
}

async fn add_member(
    app: &mut TestApp,
    admin: &str,
    parent: &str,
    member: &str,
) -> Result<AddGroupMemberResponse, tonic::Status> {
    let request = AddGroupMemberRequest {
        parent_account_id: parent.to_owned(),
        member_account_id: member.to_owned(),
        funding: full_funding(),
        request_id: String::new(),
    };
    app.groups.add_group_member(authorized(request, admin)).await.map(|response| response.into_inner())
}

#[tokio::test]
async fn suspend_reactivate_terminate_follow_the_state_machine_with_history() {
    let mut app = spawn().await;
    let (_, admin) = app.tenant_admin().await;
    let account = create(&mut app, &admin, account("L1", "Lifecycle Co")).await;

    let suspend = SuspendAccountRequest {
        id: account.id.clone(),
        reason: "payment dispute".to_owned(),
        request_id: String::new(),
    };
    let suspended =
        app.accounts.suspend_account(authorized(suspend.clone(), &admin)).await.expect("suspend").into_inner();
    let suspended = suspended.account.expect("account");
    assert_eq!(suspended.status, AccountStatus::Suspended as i32);
    assert_eq!(suspended.status_reason, "payment dispute");

    let again = app.accounts.suspend_account(authorized(suspend, &admin)).await.expect_err("already suspended");
    assert_eq!(again.code(), Code::FailedPrecondition);
    assert_eq!(reason(&again), "ACCOUNT_NOT_ACTIVE");

    let reactivate =
        ReactivateAccountRequest { id: account.id.clone(), reason: "settled".to_owned(), request_id: String::new() };
    let active =
        app.accounts.reactivate_account(authorized(reactivate.clone(), &admin)).await.expect("reactivate").into_inner();
    assert_eq!(active.account.expect("account").status, AccountStatus::Active as i32);

    let terminate =
        TerminateAccountRequest { id: account.id.clone(), reason: "closed".to_owned(), request_id: String::new() };
    app.accounts.terminate_account(authorized(terminate, &admin)).await.expect("terminate");
    let status =
        app.accounts.reactivate_account(authorized(reactivate, &admin)).await.expect_err("terminated is final");
    assert_eq!(reason(&status), "ACCOUNT_TERMINATED");

    let missing_reason =
        SuspendAccountRequest { id: account.id.clone(), reason: " ".to_owned(), request_id: String::new() };
    let status =
        app.accounts.suspend_account(authorized(missing_reason, &admin)).await.expect_err("a reason is required");
    assert_eq!(violated_fields(&status), ["reason"]);

    let lines = history(&mut app, &admin, &account.id).await;
    let summary: Vec<(String, String, String)> =
        lines.iter().map(|line| (line.action.clone(), line.reason.clone(), line.actor.clone())).collect();
    assert_eq!(
        summary,
        [
            ("TERMINATED".to_owned(), "closed".to_owned(), "user:tenant_admin".to_owned()),
            ("REACTIVATED".to_owned(), "settled".to_owned(), "user:tenant_admin".to_owned()),
            ("SUSPENDED".to_owned(), "payment dispute".to_owned(), "user:tenant_admin".to_owned()),
        ],
        "newest first, who and why"
    );
    let change = &lines[2].changes[0];
    assert_eq!(
        (change.field.as_str(), change.old_value.as_str(), change.new_value.as_str()),
        ("status", "active", "suspended")
    );
}

#[tokio::test]
async fn every_edit_writes_a_history_line_with_what_changed() {
    let mut app = spawn().await;
    let (_, admin) = app.tenant_admin().await;
    let account =
        create(&mut app, &admin, Account { territory: "North".to_owned(), ..account("H1", "History Co") }).await;
    let update = UpdateAccountRequest {
        account: Some(Account {
            id: account.id.clone(),
            territory: "South".to_owned(),
            email: "h@history.example".to_owned(),
            ..Account::default()
        }),
        update_mask: mask(&["territory", "email"]),
        request_id: String::new(),
    };
    app.accounts.update_account(authorized(update, &admin)).await.expect("update");
    let contact = CreateContactRequest {
        account_id: account.id.clone(),
        contact: Some(Contact { first_name: "Grace".to_owned(), ..Contact::default() }),
        request_id: String::new(),
    };
    app.accounts.create_contact(authorized(contact, &admin)).await.expect("contact");

    let lines = history(&mut app, &admin, &account.id).await;
    assert_eq!(lines[0].action, "CONTACT_ADDED");
    assert_eq!(lines[1].action, "UPDATED");
    let mut changes: Vec<(String, String, String)> = lines[1]
        .changes
        .iter()
        .map(|change| (change.field.clone(), change.old_value.clone(), change.new_value.clone()))
        .collect();
    changes.sort();
    assert_eq!(
        changes,
        [
            ("email".to_owned(), String::new(), "h@history.example".to_owned()),
            ("territory".to_owned(), "North".to_owned(), "South".to_owned())
        ]
    );
}

#[tokio::test]
async fn a_parent_suspension_cascades_to_its_members_with_history_lines() {
    let mut app = spawn().await;
    let (_, admin) = app.tenant_admin().await;
    let parent =
        create(&mut app, &admin, Account { tax_number: "PARENT-1".to_owned(), ..account("P", "Parent Co") }).await;
    let member =
        create(&mut app, &admin, Account { tax_number: "MEMBER-1".to_owned(), ..account("M1", "Member One") }).await;
    let independent =
        create(&mut app, &admin, Account { tax_number: "MEMBER-2".to_owned(), ..account("M2", "Member Two") }).await;
    add_member(&mut app, &admin, &parent.id, &member.id).await.expect("member one");
    let group =
        add_member(&mut app, &admin, &parent.id, &independent.id).await.expect("member two").group.expect("group");
    assert_eq!(group.members.len(), 2);

    // Member two is suspended on its own first.
    let own = SuspendAccountRequest {
        id: independent.id.clone(),
        reason: "its own dispute".to_owned(),
        request_id: String::new(),
    };
    app.accounts.suspend_account(authorized(own, &admin)).await.expect("own suspension");

    let suspend =
        SuspendAccountRequest { id: parent.id.clone(), reason: "parent dispute".to_owned(), request_id: String::new() };
    let answer = app.accounts.suspend_account(authorized(suspend, &admin)).await.expect("suspend parent").into_inner();
    assert_eq!(answer.cascaded_account_ids, std::slice::from_ref(&member.id), "only the active member follows");
    let read = app.get_account(&admin, &member.id).await.expect("member");
    assert_eq!(read.status, AccountStatus::Suspended as i32);
    let lines = history(&mut app, &admin, &member.id).await;
    assert_eq!(lines[0].action, "SUSPENDED");
    assert_eq!(lines[0].reason, "suspended with its group parent P: parent dispute");

    // A member cannot come back while its parent is suspended.
    let early =
        ReactivateAccountRequest { id: member.id.clone(), reason: "too early".to_owned(), request_id: String::new() };
    let status = app.accounts.reactivate_account(authorized(early, &admin)).await.expect_err("parent suspended");
    assert_eq!(reason(&status), "PARENT_SUSPENDED");

    let reactivate =
        ReactivateAccountRequest { id: parent.id.clone(), reason: "resolved".to_owned(), request_id: String::new() };
    let answer =
        app.accounts.reactivate_account(authorized(reactivate, &admin)).await.expect("reactivate parent").into_inner();
    assert_eq!(
        answer.cascaded_account_ids,
        std::slice::from_ref(&member.id),
        "the member suspended on its own stays suspended"
    );
    assert_eq!(app.get_account(&admin, &independent.id).await.expect("read").status, AccountStatus::Suspended as i32);

    let terminate =
        TerminateAccountRequest { id: parent.id.clone(), reason: "closed".to_owned(), request_id: String::new() };
    let answer =
        app.accounts.terminate_account(authorized(terminate, &admin)).await.expect("terminate parent").into_inner();
    let mut terminated = answer.cascaded_account_ids.clone();
    terminated.sort();
    let mut both = vec![member.id.clone(), independent.id.clone()];
    both.sort();
    assert_eq!(terminated, both, "termination takes every member");
}

#[tokio::test]
async fn a_group_that_breaks_a_formation_rule_is_refused_with_that_rule() {
    let mut app = spawn().await;
    // Multi-currency, so that accounts in two currencies can try to group.
    let tenant = Tenant {
        multi_currency: true,
        ..Tenant { name: "Two currencies".to_owned(), default_currency: "AUD".to_owned(), ..Tenant::default() }
    };
    let tenant_id: uuid::Uuid = app.create_tenant_with(tenant).await.id.parse().expect("tenant id");
    let admin = token(tenant_id, &[Role::TenantAdmin]);
    let make =
        |code: &str, tax: &str| Account { tax_number: tax.to_owned(), ..account(code, &format!("Company {code}")) };
    let parent = create(&mut app, &admin, make("PARENT", "T-P")).await;
    let expect_rule = |result: Result<AddGroupMemberResponse, tonic::Status>, rule: &str| {
        let status = result.expect_err(rule);
        assert_eq!(status.code(), Code::FailedPrecondition, "{rule}");
        let violations: Vec<String> = status
            .get_details_precondition_failure()
            .expect("precondition failure")
            .violations
            .into_iter()
            .map(|violation| violation.r#type)
            .collect();
        assert!(violations.contains(&rule.to_owned()), "{rule} not in {violations:?}");
    };

    let inactive = create(&mut app, &admin, make("INACTIVE", "T-I")).await;
    let suspend = SuspendAccountRequest { id: inactive.id.clone(), reason: "x".to_owned(), request_id: String::new() };
    app.accounts.suspend_account(authorized(suspend, &admin)).await.expect("suspend");
    expect_rule(add_member(&mut app, &admin, &parent.id, &inactive.id).await, "MEMBER_NOT_ACTIVE");
    expect_rule(add_member(&mut app, &admin, &inactive.id, &parent.id).await, "PARENT_NOT_ACTIVE");

    let system = create(&mut app, &admin, Account { system_account: true, ..make("SYSTEM", "T-S") }).await;
    expect_rule(add_member(&mut app, &admin, &parent.id, &system.id).await, "MEMBER_IS_SYSTEM_ACCOUNT");
    expect_rule(add_member(&mut app, &admin, &system.id, &parent.id).await, "PARENT_IS_SYSTEM_ACCOUNT");

    let dollars = create(&mut app, &admin, Account { currency_code: "USD".to_owned(), ..make("DOLLARS", "T-D") }).await;
    expect_rule(add_member(&mut app, &admin, &parent.id, &dollars.id).await, "CURRENCY_MISMATCH");

    let same_owner = create(&mut app, &admin, make("SAMEOWNER", "t-p")).await;
    expect_rule(add_member(&mut app, &admin, &parent.id, &same_owner.id).await, "SAME_OWNER");

    // An account already in a group can neither join another nor lead one.
    let member = create(&mut app, &admin, make("MEMBER", "T-M")).await;
    add_member(&mut app, &admin, &parent.id, &member.id).await.expect("member");
    let other_parent = create(&mut app, &admin, make("OTHERPARENT", "T-O")).await;
    expect_rule(add_member(&mut app, &admin, &other_parent.id, &member.id).await, "MEMBER_IN_ANOTHER_GROUP");
    expect_rule(add_member(&mut app, &admin, &member.id, &other_parent.id).await, "PARENT_IN_ANOTHER_GROUP");
    expect_rule(add_member(&mut app, &admin, &other_parent.id, &parent.id).await, "MEMBER_IN_ANOTHER_GROUP");

    let partial_without_items = AddGroupMemberRequest {
        parent_account_id: other_parent.id.clone(),
        member_account_id: same_owner.id.clone(),
        funding: Some(Funding { scope: FundingScope::Partial as i32, ..Funding::default() }),
        request_id: String::new(),
    };
    let status =
        app.groups.add_group_member(authorized(partial_without_items, &admin)).await.expect_err("partial needs items");
    assert_eq!(violated_fields(&status), ["funding"]);

    let partial = AddGroupMemberRequest {
        parent_account_id: other_parent.id.clone(),
        member_account_id: same_owner.id.clone(),
        funding: Some(Funding {
            scope: FundingScope::Partial as i32,
            product_types: vec!["fuel".to_owned()],
            ..Funding::default()
        }),
        request_id: String::new(),
    };
    let group = app
        .groups
        .add_group_member(authorized(partial, &admin))
        .await
        .expect("partial funding")
        .into_inner()
        .group
        .expect("group");
    assert_eq!(group.members[0].funding.as_ref().expect("funding").product_types, ["fuel"]);

    let read = app
        .groups
        .get_account_group(authorized(GetAccountGroupRequest { account_id: member.id.clone() }, &admin))
        .await
        .expect("group of a member")
        .into_inner()
        .group
        .expect("group");
    assert_eq!(read.parent_account_id, parent.id);
    let remove = RemoveGroupMemberRequest { member_account_id: member.id.clone(), request_id: String::new() };
    app.groups.remove_group_member(authorized(remove, &admin)).await.expect("removed");
    let _ = tenant_id;
}

#[tokio::test]
async fn users_belong_to_one_account_and_sales_reps_switch_only_among_their_accounts() {
    let mut app = spawn().await;
    let (tenant_id, admin) = app.tenant_admin().await;
    let with_rep =
        |code: &str, rep: &str| Account { sales_rep_id: rep.to_owned(), ..account(code, &format!("Company {code}")) };
    let first = create(&mut app, &admin, with_rep("R7-A", "R7")).await;
    let second = create(&mut app, &admin, with_rep("R7-B", "R7")).await;
    let foreign = create(&mut app, &admin, with_rep("R9-A", "R9")).await;

    let user = |account_id: &str, email: &str, rep: &str| CreateUserRequest {
        user: Some(User {
            account_id: account_id.to_owned(),
            email: email.to_owned(),
            display_name: "Person".to_owned(),
            sales_rep_id: rep.to_owned(),
            ..User::default()
        }),
        request_id: String::new(),
    };
    let buyer = app
        .users
        .create_user(authorized(user(&first.id, "buyer@x.example", ""), &admin))
        .await
        .expect("user")
        .into_inner()
        .user
        .expect("user");
    let status = app
        .users
        .create_user(authorized(user(&second.id, "BUYER@x.example", ""), &admin))
        .await
        .expect_err("email taken");
    assert_eq!(reason(&status), "USER_EMAIL_TAKEN");

    // Assigning elsewhere moves the user: it belongs to one account only.
    let assign =
        AssignUserRequest { user_id: buyer.id.clone(), account_id: second.id.clone(), request_id: String::new() };
    app.users.assign_user(authorized(assign, &admin)).await.expect("assigned");
    let on_first = ListUsersRequest { account_id: first.id.clone(), ..Default::default() };
    assert!(app.users.list_users(authorized(on_first, &admin)).await.expect("list").into_inner().users.is_empty());
    let on_second = ListUsersRequest { account_id: second.id.clone(), ..Default::default() };
    assert_eq!(app.users.list_users(authorized(on_second, &admin)).await.expect("list").into_inner().users.len(), 1);

    let rep = app
        .users
        .create_user(authorized(user(&first.id, "rep7@x.example", "R7"), &admin))
        .await
        .expect("rep")
        .into_inner()
        .user
        .expect("rep");
    let rep_token = sales_rep_token(tenant_id, "R7");
    let switchable = ListSwitchableAccountsRequest { user_id: rep.id.clone(), ..Default::default() };
    let listed =
        app.users.list_switchable_accounts(authorized(switchable, &rep_token)).await.expect("switchable").into_inner();
    let codes: Vec<String> = listed.accounts.into_iter().map(|account| account.code).collect();
    assert_eq!(codes, ["R7-A", "R7-B"]);

    let switch = |account_id: &str| SwitchAccountRequest {
        user_id: rep.id.clone(),
        account_id: account_id.to_owned(),
        request_id: String::new(),
    };
    let switched =
        app.users.switch_account(authorized(switch(&second.id), &rep_token)).await.expect("switch").into_inner();
    assert_eq!(switched.user.expect("user").account_id, second.id);

    let status =
        app.users.switch_account(authorized(switch(&foreign.id), &rep_token)).await.expect_err("another rep's account");
    assert_eq!(status.code(), Code::NotFound, "the rep cannot even see it");
    let status = app.users.switch_account(authorized(switch(&foreign.id), &admin)).await.expect_err("not for this rep");
    assert_eq!(reason(&status), "SALES_REP_MISMATCH");
    let status = app
        .users
        .switch_account(authorized(
            SwitchAccountRequest { user_id: buyer.id.clone(), account_id: first.id.clone(), request_id: String::new() },
            &admin,
        ))
        .await
        .expect_err("not a rep");
    assert_eq!(reason(&status), "NOT_A_SALES_REP");

    let other_rep = sales_rep_token(tenant_id, "R9");
    let status = app.users.switch_account(authorized(switch(&foreign.id), &other_rep)).await.expect_err("not its user");
    assert_eq!(status.code(), Code::NotFound);
    let clerk = token(tenant_id, &[Role::BillingClerk]);
    let status = app.users.switch_account(authorized(switch(&first.id), &clerk)).await.expect_err("no role");
    assert_eq!(status.code(), Code::PermissionDenied);
}
