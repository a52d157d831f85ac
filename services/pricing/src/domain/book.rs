//! A tenant's price book, and the quote: what an account pays for a product
//! on a day, in its currency, and why.
//!
//! Order of the rules, per line:
//! 1. Base: the first assigned pricelist (priority order) with the product on
//!    the day, then (when none of them is a rate plan) the tenant's default
//!    rate plan, else the account's price level, else the list price; with
//!    its quantity break; less the account's discount.
//! 2. Special: the account's own prices valid on the day, and the prices of
//!    its contracts in force on the day (less the contract's extra discount),
//!    with their quantity breaks.
//! 3. The lowest forced special price wins when there is one, even when the
//!    base is lower; otherwise the lowest price of all wins.
//! 4. Prices in another currency are converted at the rate in force on the
//!    day.
//! 5. Unit prices are rounded half away from zero to the scale of their
//!    source price, and to at least the currency's minor unit; totals to the
//!    minor unit.
//! 6. A rated line (metered usage) is charged by tiers of the winning
//!    price's breaks ([`Rating`]): each tier's unit price is found as in 1-5,
//!    each tier's amount (its quantity × its unit price) is rounded half away
//!    from zero to the minor unit, and the line's total is their sum. Prices
//!    compete by the total they would charge, so with graduated tiers the
//!    cheapest schedule for the whole quantity wins.
//!
//! A group member without pricing of its own is priced as its parent.

use std::collections::HashMap;

use bss_platform::money::Currency;
use chrono::NaiveDate;
use rust_decimal::{Decimal, RoundingStrategy};
use uuid::Uuid;

use super::catalog::{Availability, Product};
use super::error::PricingError;
use super::price::{Rating, Tiered};

/// A price valid from a day to a day (inclusive; open-ended without `to`).
#[derive(Clone, Debug)]
pub struct Dated {
    pub id: Uuid,
    pub price: Tiered,
    pub from: NaiveDate,
    pub to: Option<NaiveDate>,
}

/// A period: its first day, and its last day or none when open-ended.
pub type Validity = (NaiveDate, Option<NaiveDate>);

impl Dated {
    pub fn valid_on(&self, day: NaiveDate) -> bool {
        self.from <= day && self.to.is_none_or(|to| day <= to)
    }

    pub fn validity(&self) -> Validity {
        (self.from, self.to)
    }
}

/// A pricelist as the book holds it.
#[derive(Clone, Debug)]
pub struct Pricelist {
    pub currency: Currency,
    /// Whether it is a rate plan (a pricelist of services).
    pub rate_plan: bool,
    /// Items by product.
    pub items: HashMap<Uuid, Vec<Dated>>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AccountPricing {
    pub level_id: Option<Uuid>,
    pub discount_percent: Decimal,
    pub pricelist_ids: Vec<Uuid>,
}

/// Whether an account has pricing of its own: a level, a discount, a
/// pricelist, an account price, or a contract.
pub fn has_own_pricing(pricing: Option<&AccountPricing>, account_prices: usize, contracts: usize) -> bool {
    let sets_anything = |pricing: &AccountPricing| {
        pricing.level_id.is_some() || !pricing.discount_percent.is_zero() || !pricing.pricelist_ids.is_empty()
    };
    pricing.is_some_and(sets_anything) || account_prices > 0 || contracts > 0
}

/// The rate plan that prices an account's services: the first rate plan
/// among its pricelists (`is_rate_plan`), else the tenant's `default`; and
/// whether it is the default.
pub fn rate_plan_of(
    pricelist_ids: &[Uuid],
    is_rate_plan: impl Fn(Uuid) -> bool,
    default: Option<Uuid>,
) -> Option<(Uuid, bool)> {
    match pricelist_ids.iter().copied().find(|id| is_rate_plan(*id)) {
        Some(id) => Some((id, false)),
        None => default.map(|id| (id, true)),
    }
}

#[derive(Clone, Debug)]
pub struct AccountPrice {
    pub account_id: Uuid,
    pub product_id: Uuid,
    pub currency: Currency,
    pub forced: bool,
    pub dated: Dated,
}

#[derive(Clone, Debug)]
pub struct Contract {
    pub id: Uuid,
    pub name: String,
    pub currency: Currency,
    pub start: NaiveDate,
    pub expiry: NaiveDate,
    pub forced: bool,
    pub extra_discount_percent: Decimal,
    pub items: HashMap<Uuid, Tiered>,
}

impl Contract {
    pub fn in_force_on(&self, day: NaiveDate) -> bool {
        self.start <= day && day <= self.expiry
    }
}

/// What pricing knows of an account, from the accounts event stream (or,
/// for an account the stream has not brought yet, from the accounts
/// service).
#[derive(Clone, Debug)]
pub struct AccountFacts {
    pub id: Uuid,
    pub currency: Currency,
    pub sales_rep_id: String,
    /// Its group parent, when it is a group member.
    pub parent: Option<Uuid>,
}

/// Everything needed to price any account of one tenant.
#[derive(Clone, Debug, Default)]
pub struct PriceBook {
    pub products: HashMap<Uuid, Product>,
    pub product_codes: HashMap<String, Uuid>,
    pub level_currencies: HashMap<Uuid, Currency>,
    pub level_prices: HashMap<(Uuid, Uuid), Tiered>,
    pub pricelists: HashMap<Uuid, Pricelist>,
    pub account_pricing: HashMap<Uuid, AccountPricing>,
    pub account_prices: HashMap<Uuid, Vec<AccountPrice>>,
    pub contracts: HashMap<Uuid, Contract>,
    pub contracts_of_account: HashMap<Uuid, Vec<Uuid>>,
    /// The rate plan of every account without one of its own
    /// ([`super::catalog::default_rate_plan`]).
    pub default_rate_plan: Option<Uuid>,
    /// Rates by (from, to), sorted by effective day.
    pub rates: HashMap<(&'static str, &'static str), Vec<(NaiveDate, Decimal)>>,
}

/// Which rule a price comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Rule {
    ListPrice,
    PriceLevel,
    Pricelist,
    RatePlan,
    AccountPrice,
    ContractPrice,
    ForcedAccountPrice,
    ForcedContractPrice,
}

/// One price a line could have had.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Candidate {
    pub rule: Rule,
    pub source_id: Uuid,
    pub original: Decimal,
    pub original_currency: Currency,
    /// In the quote's currency, rounded.
    pub price: Decimal,
    pub quantity_break: bool,
    pub discount_percent: Decimal,
    pub forced: bool,
    pub won: bool,
    /// Why it lost; empty for the winner.
    pub reason: &'static str,
    /// A rated line's tiers at this price (none for a line not rated).
    pub tiers: Vec<RatedTier>,
    /// What it would charge for the line: a rated line's tiers added up,
    /// else its price (what candidates are compared by).
    pub cost: Decimal,
}

/// A tier of a rated line: the part of its quantity from `from` up to, not
/// including, `to` (no end for the last tier), charged `amount` at
/// `unit_price` (in the quote's currency, rounded as a line's unit price).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RatedTier {
    pub from: Decimal,
    pub to: Option<Decimal>,
    pub quantity: Decimal,
    pub unit_price: Decimal,
    /// quantity × unit price, rounded half away from zero to the currency's
    /// minor unit.
    pub amount: Decimal,
}

/// A line to price: a product (id or code), its quantity, and how a
/// metered quantity is rated (`None`: at one unit price).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LineAsk {
    pub product: String,
    pub quantity: Decimal,
    pub rating: Option<Rating>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PricedLine {
    pub line_number: usize,
    pub product_id: Uuid,
    pub product_code: String,
    pub quantity: Decimal,
    pub unit_price: Decimal,
    pub total: Decimal,
    /// Its tiers, when rated (the winner's).
    pub tiers: Vec<RatedTier>,
    pub winner: Candidate,
    pub candidates: Vec<Candidate>,
    /// The product's physical good settings; `None` for a service.
    pub goods: Option<super::catalog::Goods>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Quote {
    pub priced_as: Uuid,
    pub currency: Currency,
    pub lines: Vec<PricedLine>,
    pub total: Decimal,
}

impl PriceBook {
    /// A product by id or code.
    pub fn product(&self, reference: &str) -> Option<&Product> {
        let id = Uuid::parse_str(reference).ok().or_else(|| self.product_codes.get(reference).copied())?;
        self.products.get(&id)
    }

    /// Whether the account has pricing of its own.
    pub fn has_own_pricing(&self, account: Uuid) -> bool {
        has_own_pricing(
            self.account_pricing.get(&account),
            self.account_prices.get(&account).map_or(0, Vec::len),
            self.contracts_of_account.get(&account).map_or(0, Vec::len),
        )
    }

    /// The account whose pricing applies: the group parent of a member
    /// without pricing of its own, else the account itself.
    pub fn priced_as(&self, account: &AccountFacts) -> Uuid {
        match account.parent {
            Some(parent) if !self.has_own_pricing(account.id) => parent,
            _ => account.id,
        }
    }

    /// The rate plan that prices the account's services (the account as
    /// priced, see [`PriceBook::priced_as`]): the first rate plan among its
    /// pricelists, else the tenant's default; and whether it is the
    /// default.
    pub fn rate_plan_of(&self, priced_as: Uuid) -> Option<(Uuid, bool)> {
        let own = self.account_pricing.get(&priced_as).map(|pricing| pricing.pricelist_ids.as_slice());
        rate_plan_of(
            own.unwrap_or_default(),
            |id| self.pricelists.get(&id).is_some_and(|pricelist| pricelist.rate_plan),
            self.default_rate_plan,
        )
    }

    /// The pricelists that set an account's base price, in priority order:
    /// its own, then the tenant's default rate plan when none of its own
    /// is a rate plan and its prices convert into the quote's currency on
    /// the day (a default in a currency without a rate is passed over, not
    /// a reason to refuse every quote in another currency).
    fn base_pricelists(
        &self,
        pricing: &AccountPricing,
        priced_as: Uuid,
        currency: Currency,
        day: NaiveDate,
    ) -> Vec<Uuid> {
        let mut ids = pricing.pricelist_ids.clone();
        if let Some((default, true)) = self.rate_plan_of(priced_as)
            && self.pricelists.get(&default).is_some_and(|plan| self.rate(plan.currency, currency, day).is_some())
        {
            ids.push(default);
        }
        ids
    }

    /// The rate from `from` to `to` in force on `day`: the pair's own rate,
    /// or the inverse of the opposite pair's.
    pub fn rate(&self, from: Currency, to: Currency, day: NaiveDate) -> Option<Decimal> {
        if from == to {
            return Some(Decimal::ONE);
        }
        let in_force = |pair: (&'static str, &'static str)| {
            self.rates
                .get(&pair)
                .and_then(|rates| rates.iter().rev().find(|(effective, _)| *effective <= day).map(|(_, rate)| *rate))
        };
        in_force((from.code, to.code))
            .or_else(|| in_force((to.code, from.code)).and_then(|rate| Decimal::ONE.checked_div(rate)))
    }

    /// Prices `lines` (product reference, quantity) for `account` on `day` in
    /// `currency`.
    pub fn quote(
        &self,
        account: &AccountFacts,
        currency: Currency,
        day: NaiveDate,
        lines: &[LineAsk],
    ) -> Result<Quote, PricingError> {
        let priced_as = self.priced_as(account);
        let contracts: Vec<&Contract> = self
            .contracts_of_account
            .get(&priced_as)
            .into_iter()
            .flatten()
            .filter_map(|id| self.contracts.get(id))
            .filter(|contract| contract.in_force_on(day))
            .collect();
        let mut refused = Vec::new();
        let mut priced = Vec::with_capacity(lines.len());
        for (index, LineAsk { product: reference, quantity, rating }) in lines.iter().enumerate() {
            let line_number = index + 1;
            let Some(product) = self.product(reference) else {
                refused.push((line_number, "PRODUCT_UNKNOWN", format!("line {line_number}: no product {reference:?}")));
                continue;
            };
            let listed = contracts.iter().any(|contract| contract.items.contains_key(&product.id));
            if product.availability == Availability::ContractOnly && !listed {
                refused.push((
                    line_number,
                    "PRODUCT_NOT_AVAILABLE",
                    format!(
                        "line {line_number}: {} is sold only under a contract the account does not have",
                        product.code
                    ),
                ));
                continue;
            }
            let line = (line_number, product, *quantity, *rating);
            priced.push(self.price_line(line, priced_as, &contracts, currency, day)?);
        }
        if !refused.is_empty() {
            return Err(PricingError::Lines(refused));
        }
        let total = priced.iter().map(|line| line.total).sum();
        Ok(Quote { priced_as, currency, lines: priced, total })
    }

    fn price_line(
        &self,
        (line_number, product, quantity, rating): (usize, &Product, Decimal, Option<Rating>),
        priced_as: Uuid,
        contracts: &[&Contract],
        currency: Currency,
        day: NaiveDate,
    ) -> Result<PricedLine, PricingError> {
        let convert = |price: Decimal, from: Currency| -> Result<Decimal, PricingError> {
            let rate = self.rate(from, currency, day).ok_or_else(|| {
                PricingError::precondition(
                    "EXCHANGE_RATE_MISSING",
                    format!("no {} to {} exchange rate is in force on {day}", from.code, currency.code),
                )
            })?;
            Ok(price * rate)
        };
        // A unit price of the source (in `from`, before discount) in the
        // quote's currency: discounted, converted, rounded (rule 5).
        let unit = |original: Decimal, from: Currency, discount: Decimal| -> Result<Decimal, PricingError> {
            let discounted = original * (Decimal::ONE_HUNDRED - discount) / Decimal::ONE_HUNDRED;
            let scale = original.scale().max(currency.minor_units);
            Ok(convert(discounted, from)?.round_dp_with_strategy(scale, RoundingStrategy::MidpointAwayFromZero))
        };
        let candidate =
            |rule: Rule, source_id: Uuid, tiered: &Tiered, from: Currency, discount: Decimal, forced: bool| {
                let (original, quantity_break) = tiered.at(quantity);
                let price = unit(original, from, discount)?;
                let tiers = match rating {
                    Some(rating) => tiered
                        .rate(quantity, rating)
                        .into_iter()
                        .map(|tier| {
                            let unit_price = unit(tier.unit_price, from, discount)?;
                            let amount = currency.round(tier.quantity * unit_price);
                            Ok(RatedTier { from: tier.from, to: tier.to, quantity: tier.quantity, unit_price, amount })
                        })
                        .collect::<Result<Vec<_>, PricingError>>()?,
                    None => Vec::new(),
                };
                let cost = if rating.is_some() { tiers.iter().map(|tier| tier.amount).sum() } else { price };
                Ok::<_, PricingError>(Candidate {
                    rule,
                    source_id,
                    original,
                    original_currency: from,
                    price,
                    quantity_break,
                    discount_percent: discount,
                    forced,
                    won: false,
                    reason: "",
                    tiers,
                    cost,
                })
            };

        // 1. The base: the first source that has the product; the others
        // are shown, shadowed.
        let no_pricing = AccountPricing::default();
        let pricing = self.account_pricing.get(&priced_as).unwrap_or(&no_pricing);
        let discount = pricing.discount_percent;
        let mut candidates = Vec::new();
        for pricelist_id in &self.base_pricelists(pricing, priced_as, currency, day) {
            let Some(pricelist) = self.pricelists.get(pricelist_id) else { continue };
            if let Some(item) = pricelist.items.get(&product.id).into_iter().flatten().find(|item| item.valid_on(day)) {
                candidates.push(candidate(
                    if pricelist.rate_plan { Rule::RatePlan } else { Rule::Pricelist },
                    *pricelist_id,
                    &item.price,
                    pricelist.currency,
                    discount,
                    false,
                )?);
            }
        }
        if let Some(level_id) = pricing.level_id
            && let (Some(level_price), Some(level_currency)) =
                (self.level_prices.get(&(level_id, product.id)), self.level_currencies.get(&level_id))
        {
            candidates.push(candidate(Rule::PriceLevel, level_id, level_price, *level_currency, discount, false)?);
        }
        let list_price = Tiered::flat(product.list_price);
        candidates.push(candidate(Rule::ListPrice, product.id, &list_price, product.currency, discount, false)?);
        let shadowed = 1..candidates.len();
        for candidate in &mut candidates[shadowed.clone()] {
            candidate.reason = "a source of higher priority sets the base price";
        }

        // 2. The special prices.
        for price in self.account_prices.get(&priced_as).into_iter().flatten() {
            if price.product_id == product.id && price.dated.valid_on(day) {
                let rule = if price.forced { Rule::ForcedAccountPrice } else { Rule::AccountPrice };
                let special =
                    candidate(rule, price.dated.id, &price.dated.price, price.currency, Decimal::ZERO, price.forced)?;
                candidates.push(special);
            }
        }
        for contract in contracts {
            if let Some(tiered) = contract.items.get(&product.id) {
                let rule = if contract.forced { Rule::ForcedContractPrice } else { Rule::ContractPrice };
                let discount = contract.extra_discount_percent;
                candidates.push(candidate(rule, contract.id, tiered, contract.currency, discount, contract.forced)?);
            }
        }

        // 3. The winner: the lowest forced price, else the lowest of the base
        // and the special prices; the first listed wins a tie.
        let any_forced = candidates.iter().any(|candidate| candidate.forced);
        let contends = |index: usize, candidate: &Candidate| {
            if any_forced { candidate.forced } else { !shadowed.contains(&index) }
        };
        let winner_index = candidates
            .iter()
            .enumerate()
            .filter(|(index, candidate)| contends(*index, candidate))
            .min_by(|(left_index, left), (right_index, right)| {
                left.cost.cmp(&right.cost).then(left_index.cmp(right_index))
            })
            .map_or(0, |(index, _)| index);
        let winning_cost = candidates[winner_index].cost;
        for (index, candidate) in candidates.iter_mut().enumerate() {
            if index == winner_index {
                candidate.won = true;
            } else if candidate.reason.is_empty() {
                candidate.reason = if any_forced && !candidate.forced {
                    "a forced price applies"
                } else if candidate.cost == winning_cost {
                    "as low as the winner, which is listed first"
                } else {
                    "a lower price applies"
                };
            }
        }
        let winner = candidates[winner_index].clone();
        let total = match rating {
            Some(_) => winner.cost,
            None => currency.round(winner.price * quantity),
        };
        Ok(PricedLine {
            line_number,
            product_id: product.id,
            product_code: product.code.clone(),
            quantity,
            unit_price: winner.price,
            total,
            tiers: winner.tiers.clone(),
            winner,
            candidates,
            goods: product.goods,
        })
    }
}

#[cfg(test)]
mod tests;
