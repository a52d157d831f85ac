//! The pricing RPCs over gRPC against Postgres: catalog, pricelists,
//! account pricing, contracts and rebates, exchange rates; the bad inputs
//! of each, and retries by request id.

use bss_platform::auth::Role;
use bss_proto::pricing::*;
use bss_testapp::pricing::*;
use bss_testkit::{authorized, sales_rep_token, token};
use tonic::Code;

#[tokio::test]
async fn products_are_created_read_listed_and_updated() {
    let mut app = spawn().await;
    let (_, admin) = app.tenant("EUR").await;
    let phone = app
        .product_with(
            &admin,
            Product {
                product_type: "hardware".to_owned(),
                family: "phones".to_owned(),
                list_price: Some(money("199.90", "EUR")),
                physical_good: Some(PhysicalGood { traceable: true, warranty_months: 24 }),
                ..product_named("PHONE-1")
            },
        )
        .await;
    assert_eq!(phone.availability, ProductAvailability::Public as i32, "public by default");
    assert_eq!(amount(&phone.list_price), "199.90", "the scale is kept");
    app.product(&admin, "SIM", "5", "EUR").await;
    // A physical good's settings show on each quote line of it.
    let account = app.account(&admin, "EUR").await;
    let quoted = app.quote(&admin, quote_request(&account, &[("SIM", "1"), ("PHONE-1", "2")])).await;
    let goods: Vec<_> = quoted.expect("quoted").lines.iter().map(|line| line.physical_good).collect();
    assert_eq!(goods, vec![None, Some(PhysicalGood { traceable: true, warranty_months: 24 })]);

    let by_code = app
        .pricing
        .catalog
        .get_product(authorized(GetProductRequest { product: "PHONE-1".to_owned() }, &admin))
        .await
        .expect("by code")
        .into_inner()
        .product
        .expect("product");
    assert_eq!(by_code.id, phone.id);

    let duplicate = app
        .pricing
        .catalog
        .create_product(authorized(
            CreateProductRequest {
                product: Some(Product { list_price: Some(money("1", "EUR")), ..product_named("SIM") }),
                request_id: String::new(),
            },
            &admin,
        ))
        .await
        .expect_err("code taken");
    assert_eq!((duplicate.code(), reason(&duplicate).as_str()), (Code::AlreadyExists, "PRODUCT_CODE_TAKEN"));

    let first = app
        .pricing
        .catalog
        .list_products(authorized(ListProductsRequest { page_size: 1, ..Default::default() }, &admin))
        .await
        .expect("page")
        .into_inner();
    assert_eq!(first.products.iter().map(|p| p.code.as_str()).collect::<Vec<_>>(), ["PHONE-1"]);
    let second = app
        .pricing
        .catalog
        .list_products(authorized(
            ListProductsRequest { page_size: 1, page_token: first.next_page_token, ..Default::default() },
            &admin,
        ))
        .await
        .expect("page")
        .into_inner();
    assert_eq!(second.products.iter().map(|p| p.code.as_str()).collect::<Vec<_>>(), ["SIM"]);
    assert!(second.next_page_token.is_empty());
    let phones = app
        .pricing
        .catalog
        .list_products(authorized(ListProductsRequest { family: "phones".to_owned(), ..Default::default() }, &admin))
        .await
        .expect("family")
        .into_inner();
    assert_eq!(phones.products.len(), 1);

    let update = UpdateProductRequest {
        product: Some(Product {
            id: phone.id.clone(),
            availability: ProductAvailability::ContractOnly as i32,
            name: "ignored: not in the mask".to_owned(),
            ..Product::default()
        }),
        update_mask: Some(prost_types::FieldMask { paths: vec!["availability".to_owned()] }),
        request_id: String::new(),
    };
    let updated = app
        .pricing
        .catalog
        .update_product(authorized(update, &admin))
        .await
        .expect("updated")
        .into_inner()
        .product
        .expect("p");
    assert_eq!(updated.availability, ProductAvailability::ContractOnly as i32);
    assert_eq!(updated.name, phone.name);
    assert_eq!(updated.physical_good, Some(PhysicalGood { traceable: true, warranty_months: 24 }), "not in the mask");

    // A physical good's settings change (or clear: a service) through the
    // mask, the warranty 0 to 120 months.
    let clear = |good: Option<PhysicalGood>| UpdateProductRequest {
        product: Some(Product { id: phone.id.clone(), physical_good: good, ..Product::default() }),
        update_mask: Some(prost_types::FieldMask { paths: vec!["physical_good".to_owned()] }),
        request_id: String::new(),
    };
    let long = app
        .pricing
        .catalog
        .update_product(authorized(clear(Some(PhysicalGood { traceable: false, warranty_months: 121 })), &admin))
        .await
        .expect_err("ten years at most");
    assert_eq!(violated_fields(&long), ["product.physical_good.warranty_months"]);
    let service = app.pricing.catalog.update_product(authorized(clear(None), &admin)).await.expect("cleared");
    assert_eq!(service.into_inner().product.expect("product").physical_good, None);
}

#[tokio::test]
async fn bad_products_are_refused_field_by_field() {
    let mut app = spawn().await;
    let (_, admin) = app.tenant("EUR").await;
    let bad = Product {
        code: "has space".to_owned(),
        name: String::new(),
        list_price: Some(money("-1.00", "EURO")),
        ..Product::default()
    };
    let status = app
        .pricing
        .catalog
        .create_product(authorized(CreateProductRequest { product: Some(bad), request_id: String::new() }, &admin))
        .await
        .expect_err("refused");
    assert_eq!(violated_fields(&status), ["product.code", "product.name", "product.list_price.currency_code"]);

    let negative = Product { list_price: Some(money("-1.00", "EUR")), ..product_named("NEG") };
    let status = app
        .pricing
        .catalog
        .create_product(authorized(CreateProductRequest { product: Some(negative), request_id: String::new() }, &admin))
        .await
        .expect_err("refused");
    assert_eq!(violated_fields(&status), ["product.list_price.amount"]);
}

#[tokio::test]
async fn a_retry_with_the_same_request_id_creates_nothing_new() {
    let mut app = spawn().await;
    let (_, admin) = app.tenant("EUR").await;
    let request = CreateProductRequest {
        product: Some(Product { list_price: Some(money("10", "EUR")), ..product_named("ONCE") }),
        request_id: "create-once".to_owned(),
    };
    let first = app.pricing.catalog.create_product(authorized(request.clone(), &admin)).await.expect("first");
    let retry = app.pricing.catalog.create_product(authorized(request.clone(), &admin)).await.expect("retry");
    assert_eq!(first.into_inner(), retry.into_inner());
    let count: i64 =
        sqlx::query_scalar("SELECT count(*) FROM pricing.products").fetch_one(&app.db).await.expect("count");
    assert_eq!(count, 1);

    let other = CreateProductRequest {
        product: Some(Product { list_price: Some(money("11", "EUR")), ..product_named("OTHER") }),
        ..request
    };
    let reused = app.pricing.catalog.create_product(authorized(other, &admin)).await.expect_err("reused id");
    assert_eq!((reused.code(), reason(&reused).as_str()), (Code::InvalidArgument, "REQUEST_ID_REUSED"));
}

#[tokio::test]
async fn level_prices_are_in_the_level_currency() {
    let mut app = spawn().await;
    let (_, admin) = app.tenant("EUR").await;
    let product = app.product(&admin, "P", "100.00", "EUR").await;
    let level = app.level(&admin, "C", "EUR").await;
    let levels = app
        .pricing
        .catalog
        .list_price_levels(authorized(ListPriceLevelsRequest::default(), &admin))
        .await
        .expect("levels")
        .into_inner()
        .price_levels;
    assert_eq!(levels, std::slice::from_ref(&level));

    let wrong_currency = LevelPrice {
        level_id: level.id.clone(),
        product_id: product.id.clone(),
        price: Some(money("80.00", "USD")),
        breaks: vec![],
    };
    let status = app
        .pricing
        .catalog
        .set_level_price(authorized(
            SetLevelPriceRequest { level_price: Some(wrong_currency), request_id: String::new() },
            &admin,
        ))
        .await
        .expect_err("currency");
    assert_eq!(violated_fields(&status), ["level_price.price.currency_code"]);

    let bad_breaks = LevelPrice {
        level_id: level.id.clone(),
        product_id: product.id.clone(),
        price: Some(money("80.00", "EUR")),
        breaks: vec![
            QuantityBreak { min_quantity: decimal("10"), price: Some(money("70", "EUR")) },
            QuantityBreak { min_quantity: decimal("10"), price: Some(money("60", "EUR")) },
            QuantityBreak { min_quantity: decimal("-1"), price: Some(money("60", "EUR")) },
        ],
    };
    let status = app
        .pricing
        .catalog
        .set_level_price(authorized(
            SetLevelPriceRequest { level_price: Some(bad_breaks), request_id: String::new() },
            &admin,
        ))
        .await
        .expect_err("breaks");
    assert_eq!(violated_fields(&status), ["level_price.breaks"]);

    let duplicate = app
        .pricing
        .catalog
        .create_price_level(authorized(
            CreatePriceLevelRequest {
                price_level: Some(PriceLevel {
                    code: "C".to_owned(),
                    currency_code: "EUR".to_owned(),
                    ..Default::default()
                }),
                request_id: String::new(),
            },
            &admin,
        ))
        .await
        .expect_err("taken");
    assert_eq!(reason(&duplicate), "PRICE_LEVEL_CODE_TAKEN");
}

fn item(product_id: &str, price: &str, currency: &str, from: &str, to: &str) -> PricelistItem {
    PricelistItem {
        product_id: product_id.to_owned(),
        price: Some(money(price, currency)),
        valid_from: from.to_owned(),
        valid_to: to.to_owned(),
        ..PricelistItem::default()
    }
}

#[tokio::test]
async fn pricelist_items_of_one_product_may_not_overlap() {
    let mut app = spawn().await;
    let (_, admin) = app.tenant("EUR").await;
    let product = app.product(&admin, "P", "100.00", "EUR").await;
    let overlapping = Pricelist {
        name: "2026".to_owned(),
        currency_code: "EUR".to_owned(),
        items: vec![
            item(&product.id, "90", "EUR", "2026-01-01", "2026-06-30"),
            item(&product.id, "80", "EUR", "2026-06-30", ""),
        ],
        ..Pricelist::default()
    };
    let status = app
        .pricing
        .pricelists
        .create_pricelist(authorized(
            CreatePricelistRequest { pricelist: Some(overlapping), request_id: String::new() },
            &admin,
        ))
        .await
        .expect_err("overlap");
    assert_eq!(violated_fields(&status), ["pricelist.items[1].valid_from"]);

    let pricelist = Pricelist {
        name: "2026".to_owned(),
        currency_code: "EUR".to_owned(),
        kind: PricelistKind::RatePlan as i32,
        items: vec![item(&product.id, "90", "EUR", "2026-01-01", "2026-06-30")],
        ..Pricelist::default()
    };
    let created = app
        .pricing
        .pricelists
        .create_pricelist(authorized(
            CreatePricelistRequest { pricelist: Some(pricelist), request_id: String::new() },
            &admin,
        ))
        .await
        .expect("created")
        .into_inner()
        .pricelist
        .expect("pricelist");
    assert_eq!(created.kind, PricelistKind::RatePlan as i32);

    let add = |item: PricelistItem| AddPricelistItemRequest {
        pricelist_id: created.id.clone(),
        item: Some(item),
        request_id: String::new(),
    };
    let clash = app
        .pricing
        .pricelists
        .add_pricelist_item(authorized(add(item(&product.id, "85", "EUR", "2026-03-01", "")), &admin))
        .await
        .expect_err("overlaps");
    assert_eq!(violated_fields(&clash), ["item.valid_from"]);
    let inverted = app
        .pricing
        .pricelists
        .add_pricelist_item(authorized(add(item(&product.id, "85", "EUR", "2026-09-01", "2026-08-01")), &admin))
        .await
        .expect_err("inverted");
    assert_eq!(violated_fields(&inverted), ["item.valid_to"]);
    let wrong_currency = app
        .pricing
        .pricelists
        .add_pricelist_item(authorized(add(item(&product.id, "85", "USD", "2026-07-01", "")), &admin))
        .await
        .expect_err("currency");
    assert_eq!(violated_fields(&wrong_currency), ["item.price.currency_code"]);
    let added = app
        .pricing
        .pricelists
        .add_pricelist_item(authorized(add(item(&product.id, "85", "EUR", "2026-07-01", "")), &admin))
        .await
        .expect("follows the first")
        .into_inner()
        .item
        .expect("item");

    let read = app
        .pricing
        .pricelists
        .get_pricelist(authorized(GetPricelistRequest { id: created.id.clone() }, &admin))
        .await
        .expect("read")
        .into_inner()
        .pricelist
        .expect("pricelist");
    assert_eq!(read.items.len(), 2);

    app.pricing
        .pricelists
        .delete_pricelist_item(authorized(
            DeletePricelistItemRequest { id: added.id.clone(), request_id: String::new() },
            &admin,
        ))
        .await
        .expect("deleted");
    let gone = app
        .pricing
        .pricelists
        .delete_pricelist_item(authorized(
            DeletePricelistItemRequest { id: added.id, request_id: String::new() },
            &admin,
        ))
        .await
        .expect_err("gone");
    assert_eq!(gone.code(), Code::NotFound);

    let listed = app
        .pricing
        .pricelists
        .list_pricelists(authorized(ListPricelistsRequest::default(), &admin))
        .await
        .expect("list")
        .into_inner()
        .pricelists;
    assert_eq!(listed.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(), ["2026"]);
}

#[tokio::test]
async fn account_pricing_is_checked_and_says_whether_the_account_has_its_own() {
    let mut app = spawn().await;
    let (tenant_id, admin) = app.tenant("EUR").await;
    let account = app.account(&admin, "").await;
    let level = app.level(&admin, "C", "EUR").await;

    let read = |app: &mut TestApp, token: String| {
        let mut client = app.pricing.account_pricing.clone();
        let account = account.clone();
        async move {
            client
                .get_account_pricing(authorized(GetAccountPricingRequest { account_id: account }, &token))
                .await
                .map(|response| response.into_inner().pricing.expect("pricing"))
        }
    };
    let before = read(&mut app, admin.clone()).await.expect("readable before any pricing");
    assert!(!before.has_own_pricing);
    assert_eq!(before.priced_as_account_id, account);

    let too_much = app
        .set_pricing(
            &admin,
            AccountPricing { account_id: account.clone(), discount_percent: decimal("100.01"), ..Default::default() },
        )
        .await
        .expect_err("over 100 %");
    assert_eq!(violated_fields(&too_much), ["pricing.discount_percent"]);
    let not_a_number = app
        .set_pricing(
            &admin,
            AccountPricing { account_id: account.clone(), discount_percent: decimal("1e2"), ..Default::default() },
        )
        .await
        .expect_err("grammar");
    assert_eq!(violated_fields(&not_a_number), ["pricing.discount_percent"]);
    let unknown_account = app
        .set_pricing(&admin, AccountPricing { account_id: uuid::Uuid::now_v7().to_string(), ..Default::default() })
        .await
        .expect_err("no such account");
    assert_eq!(unknown_account.code(), Code::NotFound);
    let unknown_level = app
        .set_pricing(
            &admin,
            AccountPricing {
                account_id: account.clone(),
                price_level_id: uuid::Uuid::now_v7().to_string(),
                ..Default::default()
            },
        )
        .await
        .expect_err("no such level");
    assert_eq!(unknown_level.code(), Code::NotFound);

    let set = app
        .set_pricing(
            &admin,
            AccountPricing {
                account_id: account.clone(),
                price_level_id: level.id.clone(),
                discount_percent: decimal("10"),
                ..Default::default()
            },
        )
        .await
        .expect("set");
    assert!(set.has_own_pricing);
    assert_eq!(set.discount_percent, decimal("10"));

    // A sales rep sees only its own accounts; a reader cannot write.
    let other_rep = read(&mut app, sales_rep_token(tenant_id, "REP-9")).await.expect_err("not its account");
    assert_eq!(other_rep.code(), Code::NotFound);
    let clerk = token(tenant_id, &[Role::BillingClerk]);
    assert!(read(&mut app, clerk.clone()).await.is_ok());
    let denied = app
        .set_pricing(&clerk, AccountPricing { account_id: account.clone(), ..Default::default() })
        .await
        .expect_err("readers do not write");
    assert_eq!(denied.code(), Code::PermissionDenied);
}

#[tokio::test]
async fn account_prices_of_one_product_may_not_overlap() {
    let mut app = spawn().await;
    let (_, admin) = app.tenant("EUR").await;
    let account = app.account(&admin, "").await;
    let product = app.product(&admin, "P", "100.00", "EUR").await;
    let price = |from: &str, to: &str, forced: bool| AccountPrice {
        account_id: account.clone(),
        product_id: product.id.clone(),
        price: Some(money("70.00", "EUR")),
        forced,
        breaks: vec![QuantityBreak { min_quantity: decimal("100"), price: Some(money("60.00", "EUR")) }],
        valid_from: from.to_owned(),
        valid_to: to.to_owned(),
        ..AccountPrice::default()
    };
    let create =
        |price: AccountPrice| CreateAccountPriceRequest { account_price: Some(price), request_id: String::new() };
    let created = app
        .pricing
        .account_pricing
        .create_account_price(authorized(create(price("2026-01-01", "2026-12-31", true)), &admin))
        .await
        .expect("created")
        .into_inner()
        .account_price
        .expect("price");
    assert!(created.forced);
    assert_eq!(created.breaks.len(), 1);

    let overlap = app
        .pricing
        .account_pricing
        .create_account_price(authorized(create(price("2026-12-31", "", false)), &admin))
        .await
        .expect_err("overlap");
    assert_eq!(violated_fields(&overlap), ["account_price.valid_from"]);
    let no_start = app
        .pricing
        .account_pricing
        .create_account_price(authorized(create(price("", "", false)), &admin))
        .await
        .expect_err("start");
    assert_eq!(violated_fields(&no_start), ["account_price.valid_from"]);
    app.pricing
        .account_pricing
        .create_account_price(authorized(create(price("2027-01-01", "", false)), &admin))
        .await
        .expect("after the first");

    let listed = app
        .pricing
        .account_pricing
        .list_account_prices(authorized(
            ListAccountPricesRequest { account_id: account.clone(), ..Default::default() },
            &admin,
        ))
        .await
        .expect("list")
        .into_inner()
        .account_prices;
    assert_eq!(listed.len(), 2);
    app.pricing
        .account_pricing
        .delete_account_price(authorized(
            DeleteAccountPriceRequest { id: created.id, request_id: String::new() },
            &admin,
        ))
        .await
        .expect("deleted");
    let left = app
        .pricing
        .account_pricing
        .list_account_prices(authorized(ListAccountPricesRequest { account_id: account, ..Default::default() }, &admin))
        .await
        .expect("list")
        .into_inner()
        .account_prices;
    assert_eq!(left.len(), 1);
}

fn tier(from: &str, rate: &str) -> RebateTier {
    RebateTier { from_amount: Some(money(from, "EUR")), rate_percent: decimal(rate) }
}

#[tokio::test]
async fn contracts_carry_rebate_terms_and_compute_rebates_band_by_band() {
    let mut app = spawn().await;
    let (tenant_id, admin) = app.tenant("EUR").await;
    let account = app.account(&admin, "").await;
    let outsider = app.account(&admin, "").await;
    let product = app.product(&admin, "P", "100.00", "EUR").await;
    let contract = Contract {
        name: "Frame 2026".to_owned(),
        currency_code: "EUR".to_owned(),
        start_date: "2026-01-01".to_owned(),
        expiry_date: "2026-12-31".to_owned(),
        items: vec![ContractItem {
            product_id: product.id.clone(),
            price: Some(money("80.00", "EUR")),
            breaks: vec![],
        }],
        account_ids: vec![account.clone()],
        ..Contract::default()
    };
    let bad =
        Contract { expiry_date: "2025-12-31".to_owned(), extra_discount_percent: decimal("-5"), ..contract.clone() };
    let status = app
        .pricing
        .contracts
        .create_contract(authorized(CreateContractRequest { contract: Some(bad), request_id: String::new() }, &admin))
        .await
        .expect_err("bad contract");
    assert_eq!(violated_fields(&status), ["contract.expiry_date", "contract.extra_discount_percent"]);
    let created = app
        .pricing
        .contracts
        .create_contract(authorized(
            CreateContractRequest { contract: Some(contract), request_id: String::new() },
            &admin,
        ))
        .await
        .expect("created")
        .into_inner()
        .contract
        .expect("contract");
    assert_eq!(created.account_ids, std::slice::from_ref(&account));

    let term = |scope: RebateScope, period: RebatePeriod, mode: TierMode| RebateTerm {
        scope: scope as i32,
        period: period as i32,
        mode: mode as i32,
        tiers: vec![tier("0", "1"), tier("10000", "2"), tier("50000", "3")],
        ..RebateTerm::default()
    };
    let add = |term: RebateTerm| AddRebateTermRequest {
        contract_id: created.id.clone(),
        term: Some(term),
        request_id: String::new(),
    };
    let quarterly = app
        .pricing
        .contracts
        .add_rebate_term(authorized(
            add(term(RebateScope::AllInvoicedItems, RebatePeriod::Quarter, TierMode::Scale)),
            &admin,
        ))
        .await
        .expect("term")
        .into_inner()
        .term
        .expect("term");
    let twin = app
        .pricing
        .contracts
        .add_rebate_term(authorized(
            add(term(RebateScope::AllInvoicedItems, RebatePeriod::Quarter, TierMode::Continuous)),
            &admin,
        ))
        .await
        .expect_err("same scope and period");
    assert_eq!((twin.code(), reason(&twin).as_str()), (Code::AlreadyExists, "REBATE_TERM_EXISTS"));
    let yearly = app
        .pricing
        .contracts
        .add_rebate_term(authorized(
            add(term(RebateScope::AllInvoicedItems, RebatePeriod::Year, TierMode::Continuous)),
            &admin,
        ))
        .await
        .expect("another period")
        .into_inner()
        .term
        .expect("term");
    let falling = RebateTerm {
        tiers: vec![tier("100", "1"), tier("50", "2")],
        ..term(RebateScope::AllInvoicedItems, RebatePeriod::Month, TierMode::Scale)
    };
    let status = app.pricing.contracts.add_rebate_term(authorized(add(falling), &admin)).await.expect_err("tiers");
    assert_eq!(violated_fields(&status), ["term.tiers"]);
    let no_pricelist = term(RebateScope::PricelistProducts, RebatePeriod::Month, TierMode::Scale);
    let status =
        app.pricing.contracts.add_rebate_term(authorized(add(no_pricelist), &admin)).await.expect_err("pricelist");
    assert_eq!(violated_fields(&status), ["term.pricelist_id"]);

    let clerk = token(tenant_id, &[Role::BillingClerk]);
    let compute = |account: &str, term_id: &str, day: &str, amount: &str| ComputeRebateRequest {
        account_id: account.to_owned(),
        term_id: term_id.to_owned(),
        period_date: day.to_owned(),
        invoiced_amount: Some(money(amount, "EUR")),
    };
    let scale = app
        .pricing
        .contracts
        .compute_rebate(authorized(compute(&account, &quarterly.id, "2026-05-15", "60000.00"), &clerk))
        .await
        .expect("rebate")
        .into_inner();
    assert_eq!(amount(&scale.rebate), "1200.00");
    assert_eq!(scale.bands.iter().map(|band| amount(&band.amount)).collect::<Vec<_>>(), ["100.00", "800.00", "300.00"]);
    assert_eq!((scale.period_start.as_str(), scale.period_end.as_str()), ("2026-04-01", "2026-06-30"));
    let continuous = app
        .pricing
        .contracts
        .compute_rebate(authorized(compute(&account, &yearly.id, "2026-05-15", "60000.00"), &clerk))
        .await
        .expect("rebate")
        .into_inner();
    assert_eq!(amount(&continuous.rebate), "1800.00");

    let outside = app
        .pricing
        .contracts
        .compute_rebate(authorized(compute(&outsider, &quarterly.id, "2026-05-15", "100"), &clerk))
        .await
        .expect_err("not in the contract");
    assert_eq!(reason(&outside), "ACCOUNT_NOT_IN_CONTRACT");
    let expired = app
        .pricing
        .contracts
        .compute_rebate(authorized(compute(&account, &quarterly.id, "2027-02-01", "100"), &clerk))
        .await
        .expect_err("after the expiry");
    assert_eq!(reason(&expired), "CONTRACT_NOT_IN_FORCE");
    let usd = ComputeRebateRequest {
        invoiced_amount: Some(money("100", "USD")),
        ..compute(&account, &quarterly.id, "2026-05-15", "0")
    };
    let status = app.pricing.contracts.compute_rebate(authorized(usd, &clerk)).await.expect_err("currency");
    assert_eq!(violated_fields(&status), ["invoiced_amount.currency_code"]);

    app.pricing
        .contracts
        .add_contract_account(authorized(
            AddContractAccountRequest {
                contract_id: created.id.clone(),
                account_id: outsider.clone(),
                request_id: String::new(),
            },
            &admin,
        ))
        .await
        .expect("added");
    let of_outsider = app
        .pricing
        .contracts
        .list_contracts(authorized(ListContractsRequest { account_id: outsider, ..Default::default() }, &admin))
        .await
        .expect("list")
        .into_inner()
        .contracts;
    assert_eq!(of_outsider.len(), 1);
    assert_eq!(of_outsider[0].rebate_terms.len(), 2);
    let rep = app
        .pricing
        .contracts
        .get_contract(authorized(GetContractRequest { id: created.id }, &sales_rep_token(tenant_id, "REP-1")))
        .await
        .expect_err("sales reps see contract prices through quotes only");
    assert_eq!(rep.code(), Code::PermissionDenied);
}

#[tokio::test]
async fn exchange_rates_are_checked_and_listed() {
    let mut app = spawn().await;
    let (_, admin) = app.tenant("EUR").await;
    let set = |from: &str, to: &str, rate: &str, day: &str| SetExchangeRateRequest {
        exchange_rate: Some(ExchangeRate {
            from_currency: from.to_owned(),
            to_currency: to.to_owned(),
            rate: decimal(rate),
            effective_date: day.to_owned(),
        }),
        request_id: String::new(),
    };
    let status = app
        .pricing
        .rates
        .set_exchange_rate(authorized(set("USD", "XYZ", "0", "2026-13-01"), &admin))
        .await
        .expect_err("bad");
    assert_eq!(
        violated_fields(&status),
        ["exchange_rate.to_currency", "exchange_rate.rate", "exchange_rate.effective_date"]
    );
    let same = app
        .pricing
        .rates
        .set_exchange_rate(authorized(set("EUR", "EUR", "1", "2026-01-01"), &admin))
        .await
        .expect_err("same");
    assert_eq!(violated_fields(&same), ["exchange_rate.to_currency"]);
    app.pricing
        .rates
        .set_exchange_rate(authorized(set("USD", "EUR", "0.92", "2026-01-01"), &admin))
        .await
        .expect("set");
    app.pricing
        .rates
        .set_exchange_rate(authorized(set("USD", "EUR", "0.95", "2026-01-01"), &admin))
        .await
        .expect("replaced");
    let rates = app
        .pricing
        .rates
        .list_exchange_rates(authorized(ListExchangeRatesRequest::default(), &admin))
        .await
        .expect("list")
        .into_inner()
        .exchange_rates;
    assert_eq!(rates.len(), 1);
    assert_eq!(rates[0].rate, decimal("0.95"));
}

#[tokio::test]
async fn every_list_of_pricing_pages_each_item_once_in_its_order() {
    let mut app = spawn().await;
    let (_, admin) = app.tenant("EUR").await;
    let account = app.account(&admin, "").await;
    let product = app.product(&admin, "P", "100.00", "EUR").await;
    for code in ["C", "A", "B"] {
        app.level(&admin, code, "EUR").await;
    }
    for (from, day) in [("USD", "2026-02-01"), ("GBP", "2026-01-01"), ("USD", "2026-01-01")] {
        let rate = ExchangeRate {
            from_currency: from.to_owned(),
            to_currency: "EUR".to_owned(),
            rate: decimal("1.1"),
            effective_date: day.to_owned(),
        };
        let set = SetExchangeRateRequest { exchange_rate: Some(rate), request_id: String::new() };
        app.pricing.rates.set_exchange_rate(authorized(set, &admin)).await.expect("rate");
    }
    let mut prices = Vec::new();
    for (from, to) in [("2026-01-01", "2026-03-31"), ("2026-04-01", "2026-06-30"), ("2026-07-01", "")] {
        let price = AccountPrice {
            account_id: account.clone(),
            product_id: product.id.clone(),
            price: Some(money("70.00", "EUR")),
            valid_from: from.to_owned(),
            valid_to: to.to_owned(),
            ..AccountPrice::default()
        };
        let create = CreateAccountPriceRequest { account_price: Some(price), request_id: String::new() };
        let created = app.pricing.account_pricing.create_account_price(authorized(create, &admin)).await;
        prices.push(created.expect("price").into_inner().account_price.expect("price").id);
    }
    let mut contracts = Vec::new();
    for (name, start) in [("Late", "2026-06-01"), ("Early", "2026-01-01"), ("Also early", "2026-01-01")] {
        let contract = Contract {
            name: name.to_owned(),
            currency_code: "EUR".to_owned(),
            start_date: start.to_owned(),
            expiry_date: "2026-12-31".to_owned(),
            account_ids: vec![account.clone()],
            ..Contract::default()
        };
        let create = CreateContractRequest { contract: Some(contract), request_id: String::new() };
        let created = app.pricing.contracts.create_contract(authorized(create, &admin)).await;
        let created = created.expect("contract").into_inner().contract.expect("contract");
        contracts.push((created.start_date, created.id));
    }

    let catalog = app.pricing.catalog.clone();
    let levels = bss_testkit::every_page(1, |page_token| {
        let mut catalog = catalog.clone();
        let list = ListPriceLevelsRequest { page_size: 1, page_token };
        let admin = admin.clone();
        async move {
            let page = catalog.list_price_levels(authorized(list, &admin)).await.expect("levels").into_inner();
            (page.price_levels.into_iter().map(|level| level.code).collect::<Vec<_>>(), page.next_page_token)
        }
    })
    .await;
    assert_eq!(levels, ["A", "B", "C"], "by code, each once");

    let rates_client = app.pricing.rates.clone();
    let rates = bss_testkit::every_page(2, |page_token| {
        let mut rates = rates_client.clone();
        let list = ListExchangeRatesRequest { page_size: 2, page_token };
        let admin = admin.clone();
        async move {
            let page = rates.list_exchange_rates(authorized(list, &admin)).await.expect("rates").into_inner();
            let keys =
                page.exchange_rates.into_iter().map(|rate| format!("{}:{}", rate.from_currency, rate.effective_date));
            (keys.collect::<Vec<_>>(), page.next_page_token)
        }
    })
    .await;
    assert_eq!(rates, ["GBP:2026-01-01", "USD:2026-01-01", "USD:2026-02-01"], "by pair then day");

    let pricing_client = app.pricing.account_pricing.clone();
    let listed = bss_testkit::every_page(1, |page_token| {
        let mut pricing = pricing_client.clone();
        let list = ListAccountPricesRequest { account_id: account.clone(), page_size: 1, page_token };
        let admin = admin.clone();
        async move {
            let page = pricing.list_account_prices(authorized(list, &admin)).await.expect("prices").into_inner();
            (page.account_prices.into_iter().map(|price| price.id).collect::<Vec<_>>(), page.next_page_token)
        }
    })
    .await;
    assert_eq!(listed, prices, "oldest first, each once");

    let contracts_client = app.pricing.contracts.clone();
    let listed = bss_testkit::every_page(2, |page_token| {
        let mut client = contracts_client.clone();
        let list = ListContractsRequest { account_id: account.clone(), page_size: 2, page_token };
        let admin = admin.clone();
        async move {
            let page = client.list_contracts(authorized(list, &admin)).await.expect("contracts").into_inner();
            let keys = page.contracts.into_iter().map(|contract| (contract.start_date, contract.id));
            (keys.collect::<Vec<_>>(), page.next_page_token)
        }
    })
    .await;
    contracts.sort();
    assert_eq!(listed, contracts, "by start date then id, each once");

    // A token of one listing is refused by another, and so is a token of
    // another account's contracts.
    let first = app
        .pricing
        .catalog
        .list_price_levels(authorized(ListPriceLevelsRequest { page_size: 1, page_token: String::new() }, &admin))
        .await
        .expect("levels")
        .into_inner();
    let other_account = app.account(&admin, "").await;
    let elsewhere = ListContractsRequest { account_id: other_account, page_size: 1, page_token: first.next_page_token };
    let refused = app.pricing.contracts.list_contracts(authorized(elsewhere, &admin)).await.expect_err("foreign token");
    assert_eq!(violated_fields(&refused), ["page_token"]);
}

#[tokio::test]
async fn two_people_never_overwrite_each_others_product_or_account_pricing_unseen() {
    let mut app = spawn().await;
    let (_, admin) = app.tenant("EUR").await;
    let read = app.product(&admin, "ETAGGED", "10.00", "EUR").await;
    let rename = |name: &str, etag: &str| UpdateProductRequest {
        product: Some(Product {
            id: read.id.clone(),
            name: name.to_owned(),
            etag: etag.to_owned(),
            ..Product::default()
        }),
        update_mask: Some(prost_types::FieldMask { paths: vec!["name".to_owned()] }),
        request_id: String::new(),
    };
    let first = app.pricing.catalog.update_product(authorized(rename("First", &read.etag), &admin)).await;
    let first = first.expect("the first edit").into_inner().product.expect("product");
    assert_ne!(first.etag, read.etag, "an edit moves the etag");
    let second = app.pricing.catalog.update_product(authorized(rename("Second", &read.etag), &admin)).await;
    let refused = second.expect_err("made against what the first edit replaced");
    assert_eq!((refused.code(), bss_testkit::reason(&refused).as_str()), (Code::Aborted, "ETAG_MISMATCH"));
    let get = GetProductRequest { product: read.id.clone() };
    let kept = app.pricing.catalog.get_product(authorized(get, &admin)).await.expect("get").into_inner();
    assert_eq!(kept.product.expect("product").name, "First", "the refused edit left nothing");

    let account_id = app.account(&admin, "EUR").await;
    let never = AccountPricing { account_id: account_id.clone(), ..AccountPricing::default() };
    let read = app.set_pricing(&admin, AccountPricing { etag: "v0".to_owned(), ..never.clone() }).await;
    let read = read.expect("v0: never set before");
    assert_ne!(read.etag, "v0");
    assert!(read.update_time.is_some());
    let discount = |percent: &str, etag: &str| AccountPricing {
        discount_percent: decimal(percent),
        etag: etag.to_owned(),
        ..never.clone()
    };
    let first = app.set_pricing(&admin, discount("5", &read.etag)).await.expect("the first edit");
    let refused = app.set_pricing(&admin, discount("50", &read.etag)).await.expect_err("stale");
    assert_eq!((refused.code(), bss_testkit::reason(&refused).as_str()), (Code::Aborted, "ETAG_MISMATCH"));
    let get = GetAccountPricingRequest { account_id: account_id.clone() };
    let kept = app.pricing.account_pricing.get_account_pricing(authorized(get, &admin)).await.expect("get");
    let kept = kept.into_inner().pricing.expect("pricing");
    assert_eq!((kept.discount_percent, kept.etag), (first.discount_percent, first.etag), "5 % stands");
}
