//! The resolution rules one by one, and together.

use chrono::DateTime;
use rust_decimal_macros::dec;

use super::*;
use crate::domain::catalog::{Availability, Product};

fn day(text: &str) -> NaiveDate {
    text.parse().expect("date")
}

fn currency(code: &str) -> Currency {
    Currency::parse(code).expect("currency")
}

/// A book with one tenant's worth of pricing, built rule by rule.
struct Fixture {
    book: PriceBook,
    accounts: HashMap<Uuid, AccountFacts>,
    account: Uuid,
}

impl Fixture {
    /// An EUR account and a public product "P" listed at 100.00 EUR.
    fn new() -> Fixture {
        let mut fixture = Fixture { book: PriceBook::default(), accounts: HashMap::new(), account: Uuid::now_v7() };
        fixture.account_in(fixture.account, "EUR", None);
        fixture.product("P", dec!(100.00), "EUR", Availability::Public);
        fixture
    }

    fn account_in(&mut self, account: Uuid, code: &str, parent: Option<Uuid>) {
        let facts = AccountFacts { id: account, currency: currency(code), sales_rep_id: String::new(), parent };
        self.accounts.insert(account, facts);
    }

    fn product(&mut self, code: &str, list_price: Decimal, currency_code: &str, availability: Availability) -> Uuid {
        let id = Uuid::now_v7();
        let product = Product {
            id,
            code: code.to_owned(),
            name: code.to_owned(),
            product_type: String::new(),
            family: String::new(),
            availability,
            list_price,
            currency: currency(currency_code),
            created_at: DateTime::UNIX_EPOCH,
            updated_at: DateTime::UNIX_EPOCH,
            goods: None,
        };
        self.book.products.insert(id, product);
        self.book.product_codes.insert(code.to_owned(), id);
        id
    }

    fn id(&self, code: &str) -> Uuid {
        self.book.product_codes[code]
    }

    /// Level "C" in EUR with `price` for `code`, assigned to `account` with
    /// `discount` percent.
    fn level(&mut self, account: Uuid, code: &str, price: Tiered, discount: Decimal) -> Uuid {
        let level = Uuid::now_v7();
        self.book.level_currencies.insert(level, currency("EUR"));
        self.book.level_prices.insert((level, self.id(code)), price);
        let pricing = self.book.account_pricing.entry(account).or_default();
        pricing.level_id = Some(level);
        pricing.discount_percent = discount;
        level
    }

    fn account_price(&mut self, account: Uuid, code: &str, price: Tiered, forced: bool) -> Uuid {
        let id = Uuid::now_v7();
        let dated = Dated { id, price, from: day("2026-01-01"), to: None };
        let price =
            AccountPrice { account_id: account, product_id: self.id(code), currency: currency("EUR"), forced, dated };
        self.book.account_prices.entry(account).or_default().push(price);
        id
    }

    fn contract(&mut self, account: Uuid, code: &str, price: Decimal, forced: bool, expiry: &str) -> Uuid {
        let id = Uuid::now_v7();
        let contract = Contract {
            id,
            name: "Frame agreement".to_owned(),
            currency: currency("EUR"),
            start: day("2026-01-01"),
            expiry: day(expiry),
            forced,
            extra_discount_percent: Decimal::ZERO,
            items: HashMap::from([(self.id(code), Tiered::flat(price))]),
        };
        self.book.contracts.insert(id, contract);
        self.book.contracts_of_account.entry(account).or_default().push(id);
        id
    }

    fn pricelist(
        &mut self,
        account: Uuid,
        code: &str,
        currency_code: &str,
        price: Decimal,
        from: &str,
        to: Option<&str>,
    ) -> Uuid {
        let id = Uuid::now_v7();
        let item = Dated { id: Uuid::now_v7(), price: Tiered::flat(price), from: day(from), to: to.map(day) };
        let items = HashMap::from([(self.id(code), vec![item])]);
        let pricelist = Pricelist { currency: currency(currency_code), rate_plan: false, items };
        self.book.pricelists.insert(id, pricelist);
        self.book.account_pricing.entry(account).or_default().pricelist_ids.push(id);
        id
    }

    /// A rate plan in EUR pricing `code` at `price`, assigned to `account`
    /// or, without one, left for the book's default.
    fn rate_plan(&mut self, account: Option<Uuid>, code: &str, price: Decimal) -> Uuid {
        let id = Uuid::now_v7();
        let item = Dated { id: Uuid::now_v7(), price: Tiered::flat(price), from: day("2026-01-01"), to: None };
        let items = HashMap::from([(self.id(code), vec![item])]);
        self.book.pricelists.insert(id, Pricelist { currency: currency("EUR"), rate_plan: true, items });
        if let Some(account) = account {
            self.book.account_pricing.entry(account).or_default().pricelist_ids.push(id);
        }
        id
    }

    fn rate(&mut self, from: &str, to: &str, effective: &str, rate: Decimal) {
        let rates = self.book.rates.entry((currency(from).code, currency(to).code)).or_default();
        rates.push((day(effective), rate));
        rates.sort();
    }

    fn quote(&self, lines: &[(&str, Decimal)]) -> Result<Quote, PricingError> {
        self.quote_for(self.account, "EUR", lines)
    }

    fn quote_for(&self, account: Uuid, code: &str, lines: &[(&str, Decimal)]) -> Result<Quote, PricingError> {
        let lines: Vec<LineAsk> = lines
            .iter()
            .map(|(code, quantity)| LineAsk { product: (*code).to_owned(), quantity: *quantity, rating: None })
            .collect();
        self.book.quote(&self.accounts[&account], currency(code), day("2026-11-23"), &lines)
    }

    fn line(&self, code: &str, quantity: Decimal) -> PricedLine {
        let mut quote = self.quote(&[(code, quantity)]).expect("priced");
        quote.lines.remove(0)
    }
}

fn breaks(base: Decimal, breaks: &[(Decimal, Decimal)]) -> Tiered {
    Tiered::new(base, breaks.to_vec()).expect("tiered")
}

#[test]
fn without_any_pricing_the_list_price_applies() {
    let fixture = Fixture::new();
    let line = fixture.line("P", dec!(3));
    assert_eq!((line.winner.rule, line.unit_price, line.total), (Rule::ListPrice, dec!(100.00), dec!(300.00)));
}

#[test]
fn a_level_c_price_takes_the_account_discount() {
    let mut fixture = Fixture::new();
    let account = fixture.account;
    let level = fixture.level(account, "P", Tiered::flat(dec!(80.00)), dec!(10));
    let line = fixture.line("P", dec!(2));
    assert_eq!(line.winner.rule, Rule::PriceLevel);
    assert_eq!(line.winner.source_id, level);
    assert_eq!(line.winner.original, dec!(80.00));
    assert_eq!(line.winner.discount_percent, dec!(10));
    assert_eq!(line.unit_price, dec!(72.00));
    assert_eq!(line.total, dec!(144.00));
    let list = line.candidates.iter().find(|candidate| candidate.rule == Rule::ListPrice).expect("list price shown");
    assert!(!list.won);
    assert_eq!(list.reason, "a source of higher priority sets the base price");
}

#[test]
fn an_account_price_wins_when_cheaper_and_loses_when_dearer_unless_forced() {
    let cases = [
        // (account price, forced, expected rule, expected unit price)
        (dec!(70.00), false, Rule::AccountPrice, dec!(70.00)),
        (dec!(90.00), false, Rule::PriceLevel, dec!(80.00)),
        (dec!(90.00), true, Rule::ForcedAccountPrice, dec!(90.00)),
        (dec!(70.00), true, Rule::ForcedAccountPrice, dec!(70.00)),
    ];
    for (price, forced, rule, unit_price) in cases {
        let mut fixture = Fixture::new();
        let account = fixture.account;
        fixture.level(account, "P", Tiered::flat(dec!(80.00)), Decimal::ZERO);
        fixture.account_price(account, "P", Tiered::flat(price), forced);
        let line = fixture.line("P", dec!(1));
        assert_eq!((line.winner.rule, line.unit_price), (rule, unit_price), "account price {price}, forced {forced}");
        let losers: Vec<&Candidate> = line.candidates.iter().filter(|candidate| !candidate.won).collect();
        assert!(losers.iter().all(|loser| !loser.reason.is_empty()), "every loser says why");
        if forced && price > dec!(80.00) {
            let level = losers.iter().find(|candidate| candidate.rule == Rule::PriceLevel).expect("level shown");
            assert_eq!(level.reason, "a forced price applies");
        }
    }
}

#[test]
fn of_several_forced_prices_the_lowest_wins() {
    let mut fixture = Fixture::new();
    let account = fixture.account;
    fixture.account_price(account, "P", Tiered::flat(dec!(95.00)), true);
    let contract = fixture.contract(account, "P", dec!(92.00), true, "2027-12-31");
    fixture.account_price(account, "P", Tiered::flat(dec!(50.00)), false);
    let line = fixture.line("P", dec!(1));
    assert_eq!(
        (line.winner.rule, line.winner.source_id, line.unit_price),
        (Rule::ForcedContractPrice, contract, dec!(92.00))
    );
}

#[test]
fn a_quantity_exactly_on_a_break_gets_the_break_price() {
    let mut fixture = Fixture::new();
    let account = fixture.account;
    let tiered = breaks(dec!(80.00), &[(dec!(10), dec!(75.00)), (dec!(50), dec!(70.00))]);
    fixture.level(account, "P", tiered, Decimal::ZERO);
    let below = fixture.line("P", dec!(9));
    assert_eq!((below.unit_price, below.winner.quantity_break), (dec!(80.00), false));
    let on = fixture.line("P", dec!(10));
    assert_eq!((on.unit_price, on.winner.quantity_break, on.total), (dec!(75.00), true, dec!(750.00)));
    let on_the_next = fixture.line("P", dec!(50));
    assert_eq!(on_the_next.unit_price, dec!(70.00));
}

#[test]
fn account_prices_have_quantity_breaks_too() {
    let mut fixture = Fixture::new();
    let account = fixture.account;
    fixture.account_price(account, "P", breaks(dec!(120.00), &[(dec!(100), dec!(60.00))]), false);
    assert_eq!(fixture.line("P", dec!(99)).winner.rule, Rule::ListPrice);
    let on = fixture.line("P", dec!(100));
    assert_eq!((on.winner.rule, on.unit_price, on.winner.quantity_break), (Rule::AccountPrice, dec!(60.00), true));
}

#[test]
fn an_expired_contract_is_ignored() {
    let mut fixture = Fixture::new();
    let account = fixture.account;
    fixture.contract(account, "P", dec!(50.00), true, "2026-11-22");
    let line = fixture.line("P", dec!(1));
    assert_eq!(line.winner.rule, Rule::ListPrice);
    assert!(line.candidates.iter().all(|candidate| candidate.rule != Rule::ForcedContractPrice));
    let in_force = {
        let mut fixture = Fixture::new();
        let account = fixture.account;
        fixture.contract(account, "P", dec!(50.00), false, "2026-11-23");
        fixture.line("P", dec!(1))
    };
    assert_eq!(
        (in_force.winner.rule, in_force.unit_price),
        (Rule::ContractPrice, dec!(50.00)),
        "the expiry day counts"
    );
}

#[test]
fn a_contract_only_product_needs_a_contract_in_force_that_lists_it() {
    let mut fixture = Fixture::new();
    fixture.product("SECRET", dec!(10.00), "EUR", Availability::ContractOnly);
    let refused = fixture.quote(&[("P", dec!(1)), ("SECRET", dec!(1)), ("NOPE", dec!(1))]).expect_err("refused");
    let PricingError::Lines(lines) = refused else { panic!("lines refused, not {refused:?}") };
    let reasons: Vec<(usize, &str)> = lines.iter().map(|(line, reason, _)| (*line, *reason)).collect();
    assert_eq!(reasons, [(2, "PRODUCT_NOT_AVAILABLE"), (3, "PRODUCT_UNKNOWN")]);

    let account = fixture.account;
    fixture.contract(account, "SECRET", dec!(8.00), false, "2027-12-31");
    let quote = fixture.quote(&[("P", dec!(1)), ("SECRET", dec!(2))]).expect("available under the contract");
    assert_eq!(quote.lines[1].unit_price, dec!(8.00));
    assert_eq!(quote.total, dec!(116.00));
}

#[test]
fn a_contract_takes_its_extra_discount() {
    let mut fixture = Fixture::new();
    let account = fixture.account;
    let contract = fixture.contract(account, "P", dec!(90.00), false, "2027-12-31");
    fixture.book.contracts.get_mut(&contract).expect("contract").extra_discount_percent = dec!(5);
    let line = fixture.line("P", dec!(1));
    assert_eq!(
        (line.winner.rule, line.unit_price, line.winner.discount_percent),
        (Rule::ContractPrice, dec!(85.50), dec!(5))
    );
}

#[test]
fn a_member_without_pricing_of_its_own_is_priced_as_its_parent() {
    let mut fixture = Fixture::new();
    let parent = fixture.account;
    fixture.level(parent, "P", Tiered::flat(dec!(80.00)), dec!(10));
    let member = Uuid::now_v7();
    fixture.account_in(member, "EUR", Some(parent));
    let quote = fixture.quote_for(member, "EUR", &[("P", dec!(1))]).expect("priced");
    assert_eq!(quote.priced_as, parent);
    assert_eq!((quote.lines[0].winner.rule, quote.lines[0].unit_price), (Rule::PriceLevel, dec!(72.00)));

    fixture.account_price(member, "P", Tiered::flat(dec!(99.00)), false);
    let quote = fixture.quote_for(member, "EUR", &[("P", dec!(1))]).expect("priced");
    assert_eq!(quote.priced_as, member, "a member with its own pricing keeps it");
    assert_eq!((quote.lines[0].winner.rule, quote.lines[0].unit_price), (Rule::AccountPrice, dec!(99.00)));
}

#[test]
fn the_first_pricelist_with_the_product_on_the_day_sets_the_base() {
    let mut fixture = Fixture::new();
    let account = fixture.account;
    fixture.level(account, "P", Tiered::flat(dec!(60.00)), Decimal::ZERO);
    fixture.pricelist(account, "P", "EUR", dec!(10.00), "2025-01-01", Some("2026-11-22"));
    let second = fixture.pricelist(account, "P", "EUR", dec!(90.00), "2026-11-23", None);
    fixture.pricelist(account, "P", "EUR", dec!(20.00), "2026-01-01", None);
    let line = fixture.line("P", dec!(1));
    assert_eq!((line.winner.rule, line.winner.source_id, line.unit_price), (Rule::Pricelist, second, dec!(90.00)));
    let shadowed: Vec<Rule> =
        line.candidates.iter().skip(1).filter(|c| c.rule != Rule::ListPrice).map(|c| c.rule).collect();
    assert_eq!(shadowed, [Rule::Pricelist, Rule::PriceLevel], "lower-priority sources are shown, not compared");
}

#[test]
fn prices_in_another_currency_convert_at_the_rate_in_force() {
    let mut fixture = Fixture::new();
    let account = fixture.account;
    fixture.pricelist(account, "P", "USD", dec!(10.00), "2026-01-01", None);
    let missing = fixture.quote(&[("P", dec!(1))]).expect_err("no rate");
    assert_eq!(missing.reason(), "EXCHANGE_RATE_MISSING");

    fixture.rate("USD", "EUR", "2026-01-01", dec!(0.80));
    fixture.rate("USD", "EUR", "2026-11-23", dec!(0.9));
    fixture.rate("USD", "EUR", "2026-12-01", dec!(2));
    let line = fixture.line("P", dec!(3));
    assert_eq!(line.winner.original, dec!(10.00));
    assert_eq!(line.winner.original_currency, currency("USD"));
    assert_eq!((line.unit_price, line.total), (dec!(9.00), dec!(27.00)), "the rate effective on the day");

    let mut inverse = Fixture::new();
    let account = inverse.account;
    inverse.pricelist(account, "P", "USD", dec!(10.00), "2026-01-01", None);
    inverse.rate("EUR", "USD", "2026-01-01", dec!(1.25));
    assert_eq!(inverse.line("P", dec!(1)).unit_price, dec!(8.00), "the inverse of the opposite pair");
}

#[test]
fn totals_round_half_away_from_zero_to_each_minor_unit() {
    // JPY (0 digits), EUR (2), KWD (3).
    for (code, list_price, quantity, unit_price, total) in [
        ("JPY", dec!(105), dec!(0.5), dec!(105), dec!(53)),
        ("EUR", dec!(0.125), dec!(3), dec!(0.125), dec!(0.38)),
        ("KWD", dec!(1.2345), dec!(1), dec!(1.2345), dec!(1.235)),
    ] {
        let mut fixture = Fixture::new();
        fixture.product("X", list_price, code, Availability::Public);
        let account = Uuid::now_v7();
        fixture.account_in(account, code, None);
        let quote = fixture.quote_for(account, code, &[("X", quantity)]).expect("priced");
        let line = &quote.lines[0];
        assert_eq!((line.unit_price, line.total), (unit_price, total), "{code}");
        assert_eq!(
            line.unit_price.scale(),
            list_price.scale().max(currency(code).minor_units),
            "{code} unit price scale"
        );
    }
}

#[test]
fn a_discounted_unit_price_rounds_to_its_stored_scale() {
    let mut fixture = Fixture::new();
    fixture.product("J", dec!(105), "JPY", Availability::Public);
    let account = Uuid::now_v7();
    fixture.account_in(account, "JPY", None);
    fixture.book.account_pricing.entry(account).or_default().discount_percent = dec!(10);
    let quote = fixture.quote_for(account, "JPY", &[("J", dec!(1))]).expect("priced");
    assert_eq!(quote.lines[0].unit_price, dec!(95), "94.5 rounds half away from zero");
}

#[test]
fn a_tie_goes_to_the_candidate_listed_first() {
    let mut fixture = Fixture::new();
    let account = fixture.account;
    fixture.account_price(account, "P", Tiered::flat(dec!(100.00)), false);
    let line = fixture.line("P", dec!(1));
    assert_eq!(line.winner.rule, Rule::ListPrice);
    let account_price = line.candidates.iter().find(|candidate| candidate.rule == Rule::AccountPrice).expect("shown");
    assert_eq!(account_price.reason, "as low as the winner, which is listed first");
}

#[test]
fn an_account_without_a_rate_plan_is_priced_by_the_tenants_default_one() {
    let mut fixture = Fixture::new();
    let account = fixture.account;
    let default = fixture.rate_plan(None, "P", dec!(60.00));
    fixture.book.default_rate_plan = Some(default);
    fixture.level(account, "P", Tiered::flat(dec!(80.00)), dec!(10));
    let line = fixture.line("P", dec!(2));
    assert_eq!((line.winner.rule, line.winner.source_id), (Rule::RatePlan, default), "above the level, as if assigned");
    assert_eq!((line.unit_price, line.total), (dec!(54.00), dec!(108.00)), "less the account's discount");
    assert_eq!(fixture.book.rate_plan_of(account), Some((default, true)));

    // Its own rate plan replaces the default, which is then not considered.
    let own = fixture.rate_plan(Some(account), "P", dec!(70.00));
    let line = fixture.line("P", dec!(1));
    assert_eq!((line.winner.rule, line.winner.source_id, line.unit_price), (Rule::RatePlan, own, dec!(63.00)));
    assert!(line.candidates.iter().all(|candidate| candidate.source_id != default));
    assert_eq!(fixture.book.rate_plan_of(account), Some((own, false)));

    // A contract price in force still beats it when lower; a forced one
    // wins whatever the rate plan says.
    fixture.contract(account, "P", dec!(75.00), true, "2027-12-31");
    let line = fixture.line("P", dec!(1));
    assert_eq!((line.winner.rule, line.unit_price), (Rule::ForcedContractPrice, dec!(75.00)));
}

#[test]
fn a_default_rate_plan_is_not_pricing_of_its_own_so_a_member_is_priced_as_its_parent() {
    let mut fixture = Fixture::new();
    let (parent, member) = (fixture.account, Uuid::now_v7());
    fixture.account_in(member, "EUR", Some(parent));
    let default = fixture.rate_plan(None, "P", dec!(60.00));
    fixture.book.default_rate_plan = Some(default);
    fixture.rate_plan(Some(parent), "P", dec!(55.00));
    assert!(!fixture.book.has_own_pricing(member));
    let quote = fixture.quote_for(member, "EUR", &[("P", dec!(1))]).expect("priced");
    assert_eq!((quote.priced_as, quote.lines[0].unit_price), (parent, dec!(55.00)));
}

#[test]
fn a_default_rate_plan_that_cannot_be_converted_is_passed_over() {
    let mut fixture = Fixture::new();
    let default = fixture.rate_plan(None, "P", dec!(60.00));
    if let Some(plan) = fixture.book.pricelists.get_mut(&default) {
        plan.currency = currency("USD");
    }
    fixture.book.default_rate_plan = Some(default);
    let line = fixture.line("P", dec!(1));
    assert_eq!(
        (line.winner.rule, line.unit_price),
        (Rule::ListPrice, dec!(100.00)),
        "no USD to EUR rate: not a refusal"
    );
    fixture.rate("USD", "EUR", "2026-01-01", dec!(0.5));
    let line = fixture.line("P", dec!(1));
    assert_eq!((line.winner.rule, line.unit_price), (Rule::RatePlan, dec!(30.00)), "with a rate it prices");
}

/// Quotes `quantity` of "P" rated by `rating`.
fn rated(fixture: &Fixture, quantity: Decimal, rating: Rating) -> PricedLine {
    let line = LineAsk { product: "P".to_owned(), quantity, rating: Some(rating) };
    let mut quote =
        fixture.book.quote(&fixture.accounts[&fixture.account], currency("EUR"), day("2026-11-23"), &[line]);
    quote.as_mut().expect("rated").lines.remove(0)
}

#[test]
fn a_rated_line_is_charged_tier_by_tier_at_the_winning_prices_breaks() {
    let mut fixture = Fixture::new();
    // Level C: 0.10 up to 1,000, 0.08 from 1,000, 0.05 from 10,000; the
    // account's 10 % discount comes off every tier, each rounded half away
    // from zero to its stored scale (rule 5): 0.09, 0.072 to 0.07, 0.045
    // to 0.05.
    let tiers = breaks(dec!(0.10), &[(dec!(1000), dec!(0.08)), (dec!(10000), dec!(0.05))]);
    fixture.level(fixture.account, "P", tiers, dec!(10));
    let graduated = rated(&fixture, dec!(12500), Rating::Graduated);
    let parts: Vec<(Decimal, Option<Decimal>, Decimal, Decimal, Decimal)> =
        graduated.tiers.iter().map(|tier| (tier.from, tier.to, tier.quantity, tier.unit_price, tier.amount)).collect();
    assert_eq!(
        parts,
        vec![
            (dec!(0), Some(dec!(1000)), dec!(1000), dec!(0.09), dec!(90.00)),
            (dec!(1000), Some(dec!(10000)), dec!(9000), dec!(0.07), dec!(630.00)),
            (dec!(10000), None, dec!(2500), dec!(0.05), dec!(125.00)),
        ]
    );
    assert_eq!(graduated.total, dec!(845.00), "the tiers' amounts added up");
    assert_eq!((graduated.winner.rule, graduated.unit_price), (Rule::PriceLevel, dec!(0.05)));
    let volume = rated(&fixture, dec!(12500), Rating::Volume);
    assert_eq!(volume.tiers.len(), 1);
    assert_eq!(volume.total, dec!(625.00), "all of it at the reached break: 12,500 × 0.05");
    // Unrated, the same quantity is the volume price, without tiers.
    let unrated = fixture.line("P", dec!(12500));
    assert_eq!((unrated.total, unrated.tiers.len()), (volume.total, 0));
}

#[test]
fn rated_prices_compete_by_what_they_charge_for_the_whole_quantity() {
    let mut fixture = Fixture::new();
    // The level's breaks are cheaper at the margin (0.05 from 100), the
    // account price is flat 0.07: graduated over 150 units the level costs
    // 100 × 0.10 + 50 × 0.05 = 12.50, the account price 10.50.
    fixture.level(fixture.account, "P", breaks(dec!(0.10), &[(dec!(100), dec!(0.05))]), dec!(0));
    fixture.account_price(fixture.account, "P", Tiered::flat(dec!(0.07)), false);
    let graduated = rated(&fixture, dec!(150), Rating::Graduated);
    assert_eq!((graduated.winner.rule, graduated.total), (Rule::AccountPrice, dec!(10.50)));
    let losing = graduated.candidates.iter().find(|candidate| candidate.rule == Rule::PriceLevel).expect("level");
    assert_eq!((losing.cost, losing.reason), (dec!(12.50), "a lower price applies"));
    // By volume the level's 0.05 for all 150 (7.50) wins.
    let volume = rated(&fixture, dec!(150), Rating::Volume);
    assert_eq!((volume.winner.rule, volume.total), (Rule::PriceLevel, dec!(7.50)));
}
