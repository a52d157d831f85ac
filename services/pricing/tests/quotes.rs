//! Quote over gRPC: the rules together, explained; the bad inputs; prices
//! that change between quotes, on one replica and across replicas; group
//! members priced as their parent.

use bss_platform::auth::Role;
use bss_proto::accounts::{AddGroupMemberRequest, Funding, FundingScope};
use bss_proto::pricing::*;
use bss_testapp::pricing::*;
use bss_testkit::{authorized, sales_rep_token, sales_rep_token_with, violated_fields};
use tonic::Code;
use tonic_types::StatusExt;

/// A tenant in EUR with product "P" listed at 100.00, level "C" at 80.00,
/// and an account on level C with a 10 % discount.
async fn priced_account(app: &mut TestApp) -> (String, String, Product, PriceLevel) {
    let (_, admin) = app.tenant("EUR").await;
    let account = app.account(&admin, "").await;
    let product = app.product(&admin, "P", "100.00", "EUR").await;
    let level = app.level(&admin, "C", "EUR").await;
    app.set_level_price(&admin, &level, &product, "80.00").await;
    app.set_pricing(
        &admin,
        AccountPricing {
            account_id: account.clone(),
            price_level_id: level.id.clone(),
            discount_percent: decimal("10"),
            ..Default::default()
        },
    )
    .await
    .expect("pricing set");
    (admin, account, product, level)
}

#[tokio::test]
async fn a_quote_names_the_winning_rule_and_explains_every_candidate() {
    let mut app = spawn().await;
    let (admin, account, product, level) = priced_account(&mut app).await;
    let dearer = AccountPrice {
        account_id: account.clone(),
        product_id: product.id.clone(),
        price: Some(money("75.00", "EUR")),
        valid_from: "2026-01-01".to_owned(),
        ..AccountPrice::default()
    };
    let special = app
        .pricing
        .account_pricing
        .create_account_price(authorized(
            CreateAccountPriceRequest { account_price: Some(dearer), request_id: String::new() },
            &admin,
        ))
        .await
        .expect("account price")
        .into_inner()
        .account_price
        .expect("price");

    let quote = app.quote(&admin, quote_request(&account, &[("P", "3")])).await.expect("quoted");
    assert_eq!((quote.currency_code.as_str(), quote.date.as_str()), ("EUR", "2026-11-23"));
    let line = &quote.lines[0];
    assert_eq!(line.rule, PriceRule::PriceLevel as i32);
    assert_eq!(line.source_id, level.id);
    assert_eq!((amount(&line.unit_price), amount(&line.total)), ("72.00", "216.00"));
    assert_eq!(line.discount_percent, decimal("10"));
    assert_eq!(amount(&quote.total), "216.00");

    let explained: Vec<(i32, bool, &str)> = line.candidates.iter().map(|c| (c.rule, c.won, amount(&c.price))).collect();
    assert_eq!(
        explained,
        [
            (PriceRule::PriceLevel as i32, true, "72.00"),
            (PriceRule::ListPrice as i32, false, "90.00"),
            (PriceRule::AccountPrice as i32, false, "75.00"),
        ]
    );
    let account_price = &line.candidates[2];
    assert_eq!(account_price.source_id, special.id);
    assert_eq!(account_price.reason, "a lower price applies");

    let unexplained = QuoteRequest { explain: false, ..quote_request(&account, &[("P", "3")]) };
    let quote = app.quote(&admin, unexplained).await.expect("quoted");
    assert!(quote.lines[0].candidates.is_empty());
}

#[tokio::test]
async fn bad_quote_requests_name_each_bad_field() {
    let mut app = spawn().await;
    let (admin, account, _, _) = priced_account(&mut app).await;
    let bad = QuoteRequest {
        currency_code: "EURO".to_owned(),
        date: "23/11/2026".to_owned(),
        ..quote_request(&account, &[("P", "-1"), ("", "1"), ("P", "one")])
    };
    let status = app.quote(&admin, bad).await.expect_err("refused");
    assert_eq!(
        violated_fields(&status),
        ["currency_code", "date", "lines[0].quantity", "lines[1].product", "lines[2].quantity"]
    );
    let empty = app.quote(&admin, quote_request(&account, &[])).await.expect_err("no lines");
    assert_eq!(violated_fields(&empty), ["lines"]);
    let zero = app.quote(&admin, quote_request(&account, &[("P", "0")])).await.expect_err("zero");
    assert_eq!(violated_fields(&zero), ["lines[0].quantity"]);
    let other_currency = QuoteRequest { currency_code: "USD".to_owned(), ..quote_request(&account, &[("P", "1")]) };
    let status = app.quote(&admin, other_currency).await.expect_err("not the account's");
    assert_eq!(violated_fields(&status), ["currency_code"]);
    let nobody =
        app.quote(&admin, quote_request(&uuid::Uuid::now_v7().to_string(), &[("P", "1")])).await.expect_err("who?");
    assert_eq!(nobody.code(), Code::NotFound);
}

#[tokio::test]
async fn unknown_and_unavailable_products_fail_the_whole_quote_line_by_line() {
    let mut app = spawn().await;
    let (admin, account, _, _) = priced_account(&mut app).await;
    let secret = app
        .product_with(
            &admin,
            Product {
                availability: ProductAvailability::ContractOnly as i32,
                list_price: Some(money("10.00", "EUR")),
                ..product_named("SECRET")
            },
        )
        .await;
    let status = app
        .quote(&admin, quote_request(&account, &[("P", "1"), ("SECRET", "1"), ("NOPE", "2")]))
        .await
        .expect_err("refused");
    assert_eq!(status.code(), Code::FailedPrecondition);
    let failure = status.get_details_precondition_failure().expect("PreconditionFailure");
    let lines: Vec<(&str, &str)> = failure.violations.iter().map(|v| (v.r#type.as_str(), v.subject.as_str())).collect();
    assert_eq!(lines, [("PRODUCT_NOT_AVAILABLE", "lines[1]"), ("PRODUCT_UNKNOWN", "lines[2]")]);

    let contract = Contract {
        name: "Secret deal".to_owned(),
        currency_code: "EUR".to_owned(),
        start_date: "2026-01-01".to_owned(),
        expiry_date: "2026-11-30".to_owned(),
        items: vec![ContractItem { product_id: secret.id.clone(), price: Some(money("8.00", "EUR")), breaks: vec![] }],
        account_ids: vec![account.clone()],
        ..Contract::default()
    };
    app.pricing
        .contracts
        .create_contract(authorized(
            CreateContractRequest { contract: Some(contract), request_id: String::new() },
            &admin,
        ))
        .await
        .expect("contract");
    let quote = app.quote(&admin, quote_request(&account, &[("SECRET", "2")])).await.expect("under the contract");
    assert_eq!(quote.lines[0].rule, PriceRule::ContractPrice as i32);
    assert_eq!(amount(&quote.lines[0].total), "16.00");
    let after_expiry = QuoteRequest { date: "2026-12-01".to_owned(), ..quote_request(&account, &[("SECRET", "2")]) };
    let status = app.quote(&admin, after_expiry).await.expect_err("the contract expired");
    assert_eq!(reason(&status), "PRODUCT_NOT_AVAILABLE");
}

#[tokio::test]
async fn prices_in_another_currency_need_a_rate_in_force() {
    let mut app = spawn().await;
    let (admin, account, product, _) = priced_account(&mut app).await;
    let pricelist = Pricelist {
        name: "US list".to_owned(),
        currency_code: "USD".to_owned(),
        items: vec![PricelistItem {
            product_id: product.id.clone(),
            price: Some(money("50.00", "USD")),
            valid_from: "2026-01-01".to_owned(),
            ..PricelistItem::default()
        }],
        ..Pricelist::default()
    };
    let pricelist = app
        .pricing
        .pricelists
        .create_pricelist(authorized(
            CreatePricelistRequest { pricelist: Some(pricelist), request_id: String::new() },
            &admin,
        ))
        .await
        .expect("pricelist")
        .into_inner()
        .pricelist
        .expect("pricelist");
    let current = app
        .pricing
        .account_pricing
        .get_account_pricing(authorized(GetAccountPricingRequest { account_id: account.clone() }, &admin))
        .await
        .expect("pricing")
        .into_inner()
        .pricing
        .expect("pricing");
    app.set_pricing(&admin, AccountPricing { pricelist_ids: vec![pricelist.id.clone()], ..current })
        .await
        .expect("assigned");

    let status = app.quote(&admin, quote_request(&account, &[("P", "1")])).await.expect_err("no rate");
    assert_eq!((status.code(), reason(&status).as_str()), (Code::FailedPrecondition, "EXCHANGE_RATE_MISSING"));

    let rate = ExchangeRate {
        from_currency: "USD".to_owned(),
        to_currency: "EUR".to_owned(),
        rate: decimal("0.9"),
        effective_date: "2026-11-01".to_owned(),
    };
    app.pricing
        .rates
        .set_exchange_rate(authorized(
            SetExchangeRateRequest { exchange_rate: Some(rate), request_id: String::new() },
            &admin,
        ))
        .await
        .expect("rate");
    let quote = app.quote(&admin, quote_request(&account, &[("P", "1")])).await.expect("converted");
    let line = &quote.lines[0];
    assert_eq!(line.rule, PriceRule::Pricelist as i32);
    // 50.00 USD less 10 % is 45.00 USD, at 0.9 is 40.50 EUR.
    assert_eq!(amount(&line.unit_price), "40.50");
    assert_eq!(line.candidates[0].original_price, Some(money("50.00", "USD")));
    let before_the_rate = QuoteRequest { date: "2026-10-31".to_owned(), ..quote_request(&account, &[("P", "1")]) };
    let status = app.quote(&admin, before_the_rate).await.expect_err("no rate yet");
    assert_eq!(reason(&status), "EXCHANGE_RATE_MISSING");
}

/// A quote of one "P" for the account on a replica, naming a book version
/// or not: (unit price, book version).
async fn price_on(replica: &Pricing, admin: &str, account: &str, min_book_version: i64) -> (String, i64) {
    let request = QuoteRequest { min_book_version, ..quote_request(account, &[("P", "1")]) };
    let quote = replica.quotes.clone().quote(authorized(request, admin)).await.expect("quoted").into_inner();
    (amount(&quote.lines[0].unit_price).to_owned(), quote.book_version)
}

/// Quotes on the replica until it prices "P" at `price` (within 15 s, well
/// past a lost connection's reconnection).
async fn until_priced(replica: &Pricing, admin: &str, account: &str, price: &str) {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(15);
    while price_on(replica, admin, account, 0).await.0 != price {
        assert!(tokio::time::Instant::now() < deadline, "the replica never priced {price}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

async fn set_level_price(replica: &Pricing, admin: &str, level: &PriceLevel, product: &Product, price: &str) -> i64 {
    let level_price = LevelPrice {
        level_id: level.id.clone(),
        product_id: product.id.clone(),
        price: Some(money(price, "EUR")),
        breaks: vec![],
    };
    let request = SetLevelPriceRequest { level_price: Some(level_price), request_id: String::new() };
    replica
        .catalog
        .clone()
        .set_level_price(authorized(request, admin))
        .await
        .expect("level price")
        .into_inner()
        .book_version
}

#[tokio::test]
async fn a_write_is_seen_at_once_on_its_replica_and_on_any_replica_given_its_version() {
    let mut app = spawn_replicas(2).await;
    let (admin, account, product, level) = priced_account(&mut app).await;
    let (first, second) = (app.replicas[0].clone(), app.replicas[1].clone());
    // Both replicas hold the book now, at the version of the last write.
    let (price, version) = price_on(&first, &admin, &account, 0).await;
    assert_eq!(price, "72.00");
    assert_eq!(price_on(&second, &admin, &account, 0).await, (price, version));

    // A write through the first replica returns the version it produced;
    // the first replica's next quote is priced by it, and so is the
    // second's that names it.
    let written = set_level_price(&first, &admin, &level, &product, "60.00").await;
    assert_eq!(written, version + 1, "each write moves the tenant's book by one");
    assert_eq!(price_on(&first, &admin, &account, 0).await, ("54.00".to_owned(), written));
    assert_eq!(price_on(&second, &admin, &account, written).await, ("54.00".to_owned(), written));

    // The other way round, a retry answers the same version, and the
    // first replica catches up without being told (by notification).
    let forced = AccountPrice {
        account_id: account.clone(),
        product_id: product.id.clone(),
        price: Some(money("99.00", "EUR")),
        forced: true,
        valid_from: "2026-11-23".to_owned(),
        ..AccountPrice::default()
    };
    let request = CreateAccountPriceRequest { account_price: Some(forced), request_id: "forced-99".to_owned() };
    let mut writer = second.account_pricing.clone();
    let answer = writer.create_account_price(authorized(request.clone(), &admin)).await.expect("forced").into_inner();
    assert_eq!(answer.book_version, written + 1);
    let retried = writer.create_account_price(authorized(request, &admin)).await.expect("retried").into_inner();
    assert_eq!(retried, answer);
    assert_eq!(price_on(&second, &admin, &account, 0).await, ("99.00".to_owned(), answer.book_version));
    assert_eq!(price_on(&first, &admin, &account, answer.book_version).await.0, "99.00");
    let after = set_level_price(&second, &admin, &level, &product, "50.00").await;
    assert_eq!(price_on(&second, &admin, &account, 0).await.1, after);
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
    while price_on(&first, &admin, &account, 0).await.1 < after {
        assert!(tokio::time::Instant::now() < deadline, "the first replica never heard of version {after}");
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }

    // A version the book never reached is the caller's mistake.
    let ahead = QuoteRequest { min_book_version: after + 1, ..quote_request(&account, &[("P", "1")]) };
    let status = app.quote(&admin, ahead).await.expect_err("a version from the future");
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(violated_fields(&status), ["min_book_version"]);
}

#[tokio::test]
async fn a_warm_quote_needs_no_database_round_trip() {
    let mut app = spawn().await;
    let (admin, account, _, _) = priced_account(&mut app).await;
    let (_, version) = price_on(&app.pricing, &admin, &account, 0).await;

    // Every table a cold quote reads is locked: a quote that read one
    // would wait for the lock. (The replica starts listening for changes
    // just after it starts serving: until it does, quotes read the tables.)
    let within = std::time::Duration::from_secs(1);
    let lock = "LOCK TABLE pricing.book_versions, pricing.accounts, pricing.group_members IN ACCESS EXCLUSIVE MODE";
    let mut attempts = 0;
    let mut locked = loop {
        let mut locked = app.db.begin().await.expect("transaction");
        sqlx::query(lock).execute(&mut *locked).await.expect("locked");
        match tokio::time::timeout(within, price_on(&app.pricing, &admin, &account, version)).await {
            Ok(warm) => {
                assert_eq!(warm, ("72.00".to_owned(), version));
                break locked;
            }
            Err(_) if attempts < 10 => attempts += 1,
            Err(_) => panic!("a warm quote still reads the database"),
        }
        locked.rollback().await.expect("unlocked");
    };
    // A quote asking for a version this replica has not heard of reads
    // the database: it waits.
    let cold = tokio::time::timeout(within, price_on(&app.pricing, &admin, &account, version + 1)).await;
    assert!(cold.is_err(), "a newer version is read from the database");
    sqlx::query("SELECT 1").execute(&mut *locked).await.expect("still locked");
    locked.rollback().await.expect("unlocked");
}

#[tokio::test]
async fn a_replica_that_lost_its_change_listener_catches_up_on_what_it_missed() {
    let mut app = spawn_replicas(2).await;
    let (admin, account, product, level) = priced_account(&mut app).await;
    let (first, second) = (app.replicas[0].clone(), app.replicas[1].clone());
    assert_eq!(price_on(&second, &admin, &account, 0).await.0, "72.00");

    let listening =
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'LISTEN%pricing%'";
    let lost: Vec<i32> = sqlx::query_scalar(listening).fetch_all(&app.db).await.expect("listeners");
    assert_eq!(lost.len(), 2, "both replicas listen");
    sqlx::query("SELECT pg_terminate_backend(pid) FROM unnest($1::int[]) AS pid")
        .bind(&lost)
        .execute(&app.db)
        .await
        .expect("terminated");
    // Written while the second replica was not listening (it waits a
    // second before it listens again) ...
    set_level_price(&first, &admin, &level, &product, "60.00").await;
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let now: Vec<i32> = sqlx::query_scalar(listening).fetch_all(&app.db).await.expect("listeners");
        if now.len() == 2 && now.iter().all(|pid| !lost.contains(pid)) {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "the replicas never listened again");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    // ... and learnt when it listened again (it reads every version then).
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(price_on(&second, &admin, &account, 0).await.0, "54.00");
    // And it hears of the next write by notification again.
    set_level_price(&first, &admin, &level, &product, "50.00").await;
    until_priced(&second, &admin, &account, "45.00").await;
}

#[tokio::test]
async fn a_group_member_without_pricing_is_priced_as_its_parent() {
    let mut app = spawn().await;
    let (admin, parent, _, _) = priced_account(&mut app).await;
    let member = app.account(&admin, "").await;
    let join = AddGroupMemberRequest {
        parent_account_id: parent.clone(),
        member_account_id: member.clone(),
        funding: Some(Funding { scope: FundingScope::Full as i32, ..Funding::default() }),
        request_id: String::new(),
    };
    app.groups.add_group_member(authorized(join, &admin)).await.expect("member joined");
    app.await_feed(&member, Some(&parent)).await;

    let quote = app.quote(&admin, quote_request(&member, &[("P", "1")])).await.expect("quoted");
    assert_eq!(quote.priced_as_account_id, parent);
    assert_eq!(amount(&quote.lines[0].unit_price), "72.00");
    let pricing = app
        .pricing
        .account_pricing
        .get_account_pricing(authorized(GetAccountPricingRequest { account_id: member.clone() }, &admin))
        .await
        .expect("pricing")
        .into_inner()
        .pricing
        .expect("pricing");
    assert!(!pricing.has_own_pricing);
    assert_eq!(pricing.priced_as_account_id, parent);
}

#[tokio::test]
async fn a_sales_rep_quotes_only_its_own_accounts() {
    let mut app = spawn().await;
    let (tenant_id, admin) = app.tenant("EUR").await;
    let own = app
        .account_with(&admin, bss_proto::accounts::Account { sales_rep_id: "REP-1".to_owned(), ..Default::default() })
        .await;
    let other = app.account(&admin, "").await;
    app.product(&admin, "P", "10.00", "EUR").await;
    let rep = sales_rep_token(tenant_id, "REP-1");
    assert!(app.quote(&rep, quote_request(&own, &[("P", "1")])).await.is_ok());
    let status = app.quote(&rep, quote_request(&other, &[("P", "1")])).await.expect_err("not its account");
    assert_eq!(status.code(), Code::NotFound);
}

#[tokio::test]
async fn a_member_with_pricing_of_its_own_cannot_join_a_group() {
    let mut app = spawn().await;
    let (admin, parent, product, _) = priced_account(&mut app).await;
    let member = app.account(&admin, "").await;
    let own = AccountPrice {
        account_id: member.clone(),
        product_id: product.id.clone(),
        price: Some(money("50.00", "EUR")),
        valid_from: "2026-01-01".to_owned(),
        ..AccountPrice::default()
    };
    app.pricing
        .account_pricing
        .create_account_price(authorized(
            CreateAccountPriceRequest { account_price: Some(own), request_id: String::new() },
            &admin,
        ))
        .await
        .expect("account price");
    let join = AddGroupMemberRequest {
        parent_account_id: parent,
        member_account_id: member,
        funding: Some(Funding { scope: FundingScope::Full as i32, ..Funding::default() }),
        request_id: String::new(),
    };
    let status = app.groups.add_group_member(authorized(join, &admin)).await.expect_err("own pricing");
    assert_eq!(status.code(), Code::FailedPrecondition);
    let rules: Vec<String> = status
        .get_details_precondition_failure()
        .expect("PreconditionFailure")
        .violations
        .into_iter()
        .map(|violation| violation.r#type)
        .collect();
    assert_eq!(rules, ["MEMBER_HAS_OWN_PRICING"]);
}

#[tokio::test]
async fn a_changed_contract_offers_and_prices_exactly_what_it_lists_now_and_keeps_its_history() {
    let mut app = spawn().await;
    let (admin, account, _, _) = priced_account(&mut app).await;
    let only_by_contract = |code: &str, price: &str| Product {
        availability: ProductAvailability::ContractOnly as i32,
        list_price: Some(money(price, "EUR")),
        ..product_named(code)
    };
    let secret = app.product_with(&admin, only_by_contract("SECRET", "10.00")).await;
    let extra = app.product_with(&admin, only_by_contract("EXTRA", "20.00")).await;
    let item = |product: &Product, price: &str| ContractItem {
        product_id: product.id.clone(),
        price: Some(money(price, "EUR")),
        breaks: vec![],
    };
    let contract = Contract {
        name: "Secret deal".to_owned(),
        currency_code: "EUR".to_owned(),
        start_date: "2026-01-01".to_owned(),
        expiry_date: "2026-11-30".to_owned(),
        items: vec![item(&secret, "8.00")],
        account_ids: vec![account.clone()],
        ..Contract::default()
    };
    let create = CreateContractRequest { contract: Some(contract), request_id: String::new() };
    let created = app.pricing.contracts.create_contract(authorized(create, &admin)).await.expect("contract");
    let contract = created.into_inner().contract.expect("contract");
    let on_first_december =
        |lines: &[(&str, &str)]| QuoteRequest { date: "2026-12-01".to_owned(), ..quote_request(&account, lines) };
    let expired = app.quote(&admin, on_first_december(&[("SECRET", "1")])).await.expect_err("expired");
    assert_eq!(reason(&expired), "PRODUCT_NOT_AVAILABLE");

    // Extended, repriced and a product added: in force at once.
    let update = |contract: Contract, paths: &[&str], reason: &str| UpdateContractRequest {
        contract: Some(contract),
        update_mask: Some(prost_types::FieldMask { paths: paths.iter().map(|path| (*path).to_owned()).collect() }),
        reason: reason.to_owned(),
        request_id: String::new(),
    };
    let changed = Contract {
        expiry_date: "2026-12-31".to_owned(),
        items: vec![item(&secret, "7.50"), item(&extra, "18.00")],
        name: "ignored: not in the mask".to_owned(),
        ..contract.clone()
    };
    let updated = app
        .pricing
        .contracts
        .update_contract(authorized(update(changed, &["expiry_date", "items"], "renewed for December"), &admin))
        .await
        .expect("updated")
        .into_inner()
        .contract
        .expect("contract");
    assert_eq!((updated.name.as_str(), updated.expiry_date.as_str()), ("Secret deal", "2026-12-31"));
    assert_eq!(updated.items.len(), 2);
    let quote = app.quote(&admin, on_first_december(&[("SECRET", "2"), ("EXTRA", "1")])).await.expect("in force");
    let totals: Vec<&str> = quote.lines.iter().map(|line| amount(&line.total)).collect();
    assert_eq!(totals, ["15.00", "18.00"]);

    // A product the contract no longer lists is not orderable any more.
    let narrowed = Contract { items: vec![item(&secret, "7.50")], ..contract.clone() };
    app.pricing
        .contracts
        .update_contract(authorized(update(narrowed, &["items"], ""), &admin))
        .await
        .expect("narrowed");
    let gone = app.quote(&admin, on_first_december(&[("EXTRA", "1")])).await.expect_err("no longer listed");
    assert_eq!(reason(&gone), "PRODUCT_NOT_AVAILABLE");

    // The start and currency are fixed; a bad expiry names its field.
    let moved = Contract { start_date: "2026-02-01".to_owned(), ..contract.clone() };
    let refused = app
        .pricing
        .contracts
        .update_contract(authorized(update(moved, &["start_date"], ""), &admin))
        .await
        .expect_err("fixed");
    assert_eq!(violated_fields(&refused), ["update_mask"]);
    let backwards = Contract { expiry_date: "2025-12-31".to_owned(), ..contract.clone() };
    let refused = app
        .pricing
        .contracts
        .update_contract(authorized(update(backwards, &["expiry_date"], ""), &admin))
        .await
        .expect_err("before the start");
    assert_eq!(violated_fields(&refused), ["contract.expiry_date"]);

    // The account off the contract: its products are not orderable.
    let remove = RemoveContractAccountRequest {
        contract_id: contract.id.clone(),
        account_id: account.clone(),
        reason: "moved to retail".to_owned(),
        request_id: String::new(),
    };
    app.pricing.contracts.remove_contract_account(authorized(remove.clone(), &admin)).await.expect("removed");
    let off = app.quote(&admin, on_first_december(&[("SECRET", "1")])).await.expect_err("not in the contract");
    assert_eq!(reason(&off), "PRODUCT_NOT_AVAILABLE");
    let again = app.pricing.contracts.remove_contract_account(authorized(remove, &admin)).await.expect_err("gone");
    assert_eq!(again.code(), Code::NotFound);

    // The history: created, renewed, narrowed, the account removed.
    let history = ListContractHistoryRequest { contract_id: contract.id.clone(), ..Default::default() };
    let changes = app
        .pricing
        .contracts
        .list_contract_history(authorized(history, &admin))
        .await
        .expect("history")
        .into_inner()
        .changes;
    let reasons: Vec<&str> = changes.iter().map(|change| change.reason.as_str()).collect();
    assert_eq!(reasons, ["", "renewed for December", "", "moved to retail"]);
    let field = |index: usize, name: &str| {
        changes[index].changes.iter().find(|change| change.field == name).map(|c| (c.before.clone(), c.after.clone()))
    };
    assert_eq!(field(0, "expiry_date"), Some((String::new(), "2026-11-30".to_owned())));
    assert_eq!(field(1, "expiry_date"), Some(("2026-11-30".to_owned(), "2026-12-31".to_owned())));
    assert_eq!(field(1, &format!("items[{}]", secret.id)), Some(("8".to_owned(), "7.5".to_owned())));
    assert_eq!(field(2, &format!("items[{}]", extra.id)), Some(("18".to_owned(), String::new())));
    assert_eq!(changes[3].changes.len(), 1);
    assert_eq!(field(3, &format!("account_ids[{account}]")), Some(("listed".to_owned(), String::new())));
    assert!(changes.iter().all(|change| !change.actor.is_empty()));
}

#[tokio::test]
async fn a_sales_rep_with_the_facility_role_makes_and_changes_contracts_for_its_own_accounts_only() {
    let mut app = spawn().await;
    let (tenant_id, admin) = app.tenant("EUR").await;
    let rep_account = |code: &str| bss_proto::accounts::Account {
        sales_rep_id: "REP-1".to_owned(),
        code: code.to_owned(),
        name: format!("Rep account {code}"),
        ..Default::default()
    };
    let own = app.account_with(&admin, rep_account("OWN-1")).await;
    let also_own = app.account_with(&admin, rep_account("OWN-2")).await;
    let other = app.account(&admin, "").await;
    let product = app.product(&admin, "P", "10.00", "EUR").await;
    let contract = |accounts: &[&String]| contract_of(&product, "8.00", accounts);
    let plain = sales_rep_token(tenant_id, "REP-1");
    let facility = sales_rep_token_with(tenant_id, "REP-1", &[Role::Facility]);

    // Without the facility role a rep makes no contract, even for its own.
    let refused = app.create_contract(&plain, contract(&[&own])).await;
    let refused = refused.expect_err("no facility role");
    assert_eq!((refused.code(), reason(&refused)), (Code::PermissionDenied, "FACILITY_ROLE_REQUIRED".to_owned()));
    // With it, not for another rep's account.
    let refused = app.create_contract(&facility, contract(&[&own, &other])).await;
    assert_eq!(refused.expect_err("not its account").code(), Code::NotFound);

    // Nor one of no account; a staff contract of no account is no rep's.
    let refused = app.create_contract(&facility, contract(&[])).await;
    assert_eq!(refused.expect_err("no account").code(), Code::InvalidArgument);
    let empty = app.create_contract(&admin, contract(&[])).await.expect("staff");
    let take =
        AddContractAccountRequest { contract_id: empty.id.clone(), account_id: own.clone(), request_id: String::new() };
    let refused = app.pricing.contracts.add_contract_account(authorized(take, &facility)).await;
    assert_eq!(refused.expect_err("not its contract").code(), Code::NotFound);

    let made = app.create_contract(&facility, contract(&[&own])).await.expect("its own account");
    // The contract prices the rep's account at once, and names who made it.
    let quote = app.quote(&facility, quote_request(&own, &[("P", "1")])).await.expect("quote");
    assert_eq!(amount(&quote.lines[0].total), "8.00");
    let history = app
        .pricing
        .contracts
        .list_contract_history(authorized(
            ListContractHistoryRequest { contract_id: made.id.clone(), ..Default::default() },
            &admin,
        ))
        .await
        .expect("history")
        .into_inner();
    assert_eq!(history.changes[0].actor, "rep:REP-1");

    // It adds its own accounts, never another's; a contract with another's
    // account is one it cannot see.
    let add = |account: &String| AddContractAccountRequest {
        contract_id: made.id.clone(),
        account_id: account.clone(),
        request_id: String::new(),
    };
    app.pricing.contracts.add_contract_account(authorized(add(&also_own), &facility)).await.expect("own account");
    let refused = app.pricing.contracts.add_contract_account(authorized(add(&other), &facility)).await;
    assert_eq!(refused.expect_err("another's account").code(), Code::NotFound);
    app.pricing.contracts.add_contract_account(authorized(add(&other), &admin)).await.expect("staff add any");
    let remove = RemoveContractAccountRequest {
        contract_id: made.id.clone(),
        account_id: also_own.clone(),
        reason: String::new(),
        request_id: String::new(),
    };
    let refused = app.pricing.contracts.remove_contract_account(authorized(remove.clone(), &facility)).await;
    assert_eq!(refused.expect_err("no longer all its own").code(), Code::NotFound);
    let refused = app.pricing.contracts.remove_contract_account(authorized(remove, &plain)).await;
    assert_eq!(refused.expect_err("no facility role").code(), Code::PermissionDenied);
    let contract = app
        .pricing
        .contracts
        .get_contract(authorized(GetContractRequest { id: made.id.clone() }, &admin))
        .await
        .expect("read back")
        .into_inner()
        .contract
        .expect("contract");
    let mut accounts = contract.account_ids.clone();
    accounts.sort();
    let mut expected = vec![own, also_own, other];
    expected.sort();
    assert_eq!(accounts, expected, "the refused changes changed nothing");
}

#[tokio::test]
async fn a_residential_account_goes_on_a_contract_only_where_its_tenant_allows_it() {
    use bss_proto::accounts::{AccountProfile, ResidentialFeatures, SetResidentialFeaturesRequest};
    use bss_proto::types::PaymentType;
    let mut app = spawn().await;
    let (tenant_id, admin) = app.tenant("EUR").await;
    let home = app
        .account_with(
            &admin,
            bss_proto::accounts::Account {
                profile: AccountProfile::Residential as i32,
                payment_types: vec![PaymentType::CreditCard as i32],
                ..Default::default()
            },
        )
        .await;
    let business = app.account(&admin, "").await;
    let product = app.product(&admin, "P", "10.00", "EUR").await;
    // The documents' default: residential accounts have no contracts.
    let refused = app.create_contract(&admin, contract_of(&product, "8.00", &[&home])).await;
    let refused = refused.expect_err("residential");
    assert_eq!(refused.code(), Code::FailedPrecondition);
    let rule = &refused.get_details_precondition_failure().expect("PreconditionFailure").violations[0];
    assert_eq!((rule.r#type.as_str(), rule.subject.as_str()), ("RESIDENTIAL_FEATURE", "contracts"));
    let made =
        app.create_contract(&admin, contract_of(&product, "8.00", &[&business])).await.expect("a normal account");
    let add =
        AddContractAccountRequest { contract_id: made.id.clone(), account_id: home.clone(), request_id: String::new() };
    let refused = app.pricing.contracts.add_contract_account(authorized(add.clone(), &admin)).await;
    assert_eq!(reason(&refused.expect_err("residential")), "RESIDENTIAL_FEATURE");
    let quote = app.quote(&admin, quote_request(&home, &[("P", "1")])).await.expect("list price");
    assert_eq!(amount(&quote.lines[0].total), "10.00", "not on the contract");

    // Where the tenant allows contracts, it joins and is priced by it.
    let tenant = bss_testapp::read_tenant(&app.tenants, &admin, tenant_id).await;
    let features = ResidentialFeatures { contracts: true, ..tenant.residential_features.expect("features") };
    let set = SetResidentialFeaturesRequest { features: Some(features), request_id: String::new() };
    app.tenants.set_residential_features(authorized(set, &admin)).await.expect("contracts allowed");
    app.pricing.contracts.add_contract_account(authorized(add.clone(), &admin)).await.expect("joins now");
    let quote = app.quote(&admin, quote_request(&home, &[("P", "1")])).await.expect("contract price");
    assert_eq!(amount(&quote.lines[0].total), "8.00");

    // A retry gets its first answer, whatever the rules say by then: once
    // the tenant takes contracts away from residential accounts, a retried
    // join is answered as it was, and joins nothing again.
    let joined = AddContractAccountRequest { request_id: "join-1".to_owned(), ..add.clone() };
    let remove = RemoveContractAccountRequest {
        contract_id: made.id.clone(),
        account_id: home.clone(),
        reason: "moved".to_owned(),
        request_id: String::new(),
    };
    app.pricing.contracts.remove_contract_account(authorized(remove.clone(), &admin)).await.expect("off");
    let first = app.pricing.contracts.add_contract_account(authorized(joined.clone(), &admin)).await.expect("joins");
    app.pricing.contracts.remove_contract_account(authorized(remove, &admin)).await.expect("off again");
    let tenant = bss_testapp::read_tenant(&app.tenants, &admin, tenant_id).await;
    let features = ResidentialFeatures { contracts: false, ..tenant.residential_features.expect("features") };
    let set = SetResidentialFeaturesRequest { features: Some(features), request_id: String::new() };
    app.tenants.set_residential_features(authorized(set, &admin)).await.expect("contracts taken away");
    let again = app.pricing.contracts.add_contract_account(authorized(joined, &admin)).await.expect("replayed");
    assert_eq!(again.into_inner(), first.into_inner(), "the first answer");
    let quote = app.quote(&admin, quote_request(&home, &[("P", "1")])).await.expect("list price");
    assert_eq!(amount(&quote.lines[0].total), "10.00", "not on the contract again");
}

/// A pricelist of `kind` pricing `product` at `price` (EUR); its id.
async fn pricelist(
    app: &mut TestApp,
    admin: &str,
    name: &str,
    kind: PricelistKind,
    product: &Product,
    price: &str,
) -> String {
    let request = bss_testapp::pricelist_request(name, kind, (&product.id, price), "EUR");
    let created = app.pricing.pricelists.create_pricelist(authorized(request, admin)).await.expect("pricelist");
    created.into_inner().pricelist.expect("pricelist").id
}

/// (name, master, default) of the tenant's pricelists, by name.
async fn rate_plan_marks(app: &mut TestApp, token: &str) -> Vec<(String, bool, bool)> {
    let listed = app.pricing.pricelists.list_pricelists(authorized(ListPricelistsRequest::default(), token)).await;
    let listed = listed.expect("listed").into_inner().pricelists;
    listed.into_iter().map(|pricelist| (pricelist.name, pricelist.master, pricelist.default_rate_plan)).collect()
}

/// The rule, source and unit price of the one line of a quote of `product`.
async fn priced_by(app: &mut TestApp, token: &str, account: &str, product: &Product) -> (i32, String, String) {
    let request = QuoteRequest {
        account_id: account.to_owned(),
        lines: vec![QuoteLineRequest { product: product.code.clone(), quantity: decimal("1"), ..Default::default() }],
        ..QuoteRequest::default()
    };
    let quote = app.quote(token, request).await.expect("quoted");
    let line = &quote.lines[0];
    (line.rule, line.source_id.clone(), amount(&line.unit_price).to_owned())
}

#[tokio::test]
async fn an_account_without_a_rate_plan_is_priced_by_the_master_else_the_first_rate_plan() {
    let mut app = spawn().await;
    let (_, admin) = app.tenant("EUR").await;
    let account = app.account(&admin, "").await;
    let product = app.product(&admin, "VOICE", "10.00", "EUR").await;
    let zulu = pricelist(&mut app, &admin, "Zulu", PricelistKind::RatePlan, &product, "9.00").await;
    let alpha = pricelist(&mut app, &admin, "Alpha", PricelistKind::RatePlan, &product, "7.00").await;
    let goods = pricelist(&mut app, &admin, "Aardvark goods", PricelistKind::Pricelist, &product, "5.00").await;
    let rate_plan = PriceRule::RatePlan as i32;

    // The first rate plan by name, never a pricelist of goods.
    assert_eq!(priced_by(&mut app, &admin, &account, &product).await, (rate_plan, alpha.clone(), "7.00".to_owned()));
    let read = GetAccountPricingRequest { account_id: account.clone() };
    let pricing = app.pricing.account_pricing.get_account_pricing(authorized(read.clone(), &admin)).await;
    let pricing = pricing.expect("pricing").into_inner().pricing.expect("pricing");
    assert_eq!(
        (pricing.rate_plan_id.as_str(), pricing.rate_plan_defaulted, pricing.has_own_pricing),
        (alpha.as_str(), true, false)
    );
    let owned = |marks: &[(&str, bool, bool)]| {
        marks.iter().map(|(name, master, default)| ((*name).to_owned(), *master, *default)).collect::<Vec<_>>()
    };
    assert_eq!(
        rate_plan_marks(&mut app, &admin).await,
        owned(&[("Aardvark goods", false, false), ("Alpha", false, true), ("Zulu", false, false)])
    );

    // The master wins; marking it again with the same request id is one
    // change.
    let mark = SetMasterRatePlanRequest { pricelist_id: zulu.clone(), request_id: "master-1".to_owned() };
    for _ in 0..2 {
        let marked = app.pricing.pricelists.set_master_rate_plan(authorized(mark.clone(), &admin)).await;
        let marked = marked.expect("marked").into_inner().pricelist.expect("rate plan");
        assert_eq!((marked.id.as_str(), marked.master, marked.default_rate_plan), (zulu.as_str(), true, true));
    }
    assert_eq!(priced_by(&mut app, &admin, &account, &product).await, (rate_plan, zulu.clone(), "9.00".to_owned()));
    assert_eq!(
        rate_plan_marks(&mut app, &admin).await,
        owned(&[("Aardvark goods", false, false), ("Alpha", false, false), ("Zulu", true, true)])
    );

    // A pricelist of goods is no rate plan: refused, the master stays.
    let refused = app
        .pricing
        .pricelists
        .set_master_rate_plan(authorized(
            SetMasterRatePlanRequest { pricelist_id: goods, request_id: String::new() },
            &admin,
        ))
        .await
        .expect_err("refused");
    assert_eq!(
        (refused.code(), bss_testkit::reason(&refused)),
        (Code::FailedPrecondition, "NOT_A_RATE_PLAN".to_owned())
    );
    assert_eq!(priced_by(&mut app, &admin, &account, &product).await.1, zulu);

    // A rate plan of its own replaces the default; clearing the master
    // brings back the first rate plan for the others.
    let other = app.account(&admin, "").await;
    let own = AccountPricing { account_id: account.clone(), pricelist_ids: vec![alpha.clone()], ..Default::default() };
    app.set_pricing(&admin, own).await.expect("own rate plan");
    let clear = SetMasterRatePlanRequest::default();
    let cleared = app.pricing.pricelists.set_master_rate_plan(authorized(clear, &admin)).await.expect("cleared");
    assert_eq!(cleared.into_inner().pricelist, None);
    assert_eq!(priced_by(&mut app, &admin, &account, &product).await.1, alpha);
    let pricing = app.pricing.account_pricing.get_account_pricing(authorized(read, &admin)).await;
    let pricing = pricing.expect("pricing").into_inner().pricing.expect("pricing");
    assert_eq!((pricing.rate_plan_id.as_str(), pricing.rate_plan_defaulted), (alpha.as_str(), false));
    assert_eq!(priced_by(&mut app, &admin, &other, &product).await.1, alpha);
}

#[tokio::test]
async fn a_batch_of_quotes_answers_each_on_its_own() {
    let mut app = spawn().await;
    let (tenant_id, admin) = app.tenant("EUR").await;
    let account = app.account(&admin, "").await;
    let product = app.product(&admin, "P", "100.00", "EUR").await;
    let ask = |account: &str, product: &str, date: &str| QuoteRequest {
        account_id: account.to_owned(),
        date: date.to_owned(),
        lines: vec![QuoteLineRequest { product: product.to_owned(), quantity: decimal("3"), ..Default::default() }],
        ..QuoteRequest::default()
    };
    let quotes = vec![
        ask(&account, &product.code, "2026-12-01"),
        ask(&account, "NOPE", ""),
        ask(&uuid::Uuid::now_v7().to_string(), &product.code, ""),
        ask(&account, &product.code, "tomorrow"),
    ];
    let clerk = bss_testkit::token(tenant_id, &[Role::BillingClerk]);
    let answer = app.pricing.quotes.quote_batch(authorized(QuoteBatchRequest { quotes }, &clerk)).await;
    let results = answer.expect("answered").into_inner().results;
    let outcomes: Vec<(Option<String>, String)> = results
        .iter()
        .map(|result| (result.quote.as_ref().map(|quote| amount(&quote.total).to_owned()), result.error_reason.clone()))
        .collect();
    assert_eq!(
        outcomes,
        vec![
            (Some("300.00".to_owned()), String::new()),
            (None, "PRODUCT_UNKNOWN".to_owned()),
            (None, "NOT_FOUND".to_owned()),
            (None, "INVALID_ARGUMENT".to_owned()),
        ]
    );
    assert_eq!(results[0].quote.as_ref().map(|quote| quote.date.as_str()), Some("2026-12-01"));
    assert!(results[3].error_message.contains("quotes[3].date"), "{}", results[3].error_message);

    let empty =
        app.pricing.quotes.quote_batch(authorized(QuoteBatchRequest::default(), &clerk)).await.expect_err("empty");
    assert_eq!(bss_testkit::violated_fields(&empty), vec!["quotes"]);
}
