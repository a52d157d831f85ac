//! Products, price levels and pricelists, as the tenant defines them.

use bss_platform::input::{code, optional_text, required_text};
use bss_platform::money::Currency;
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use uuid::Uuid;

use super::book::{Dated, Validity};
use super::error::PricingError;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Availability {
    /// Any account may buy it.
    Public,
    /// Only accounts in a contract in force that lists it.
    ContractOnly,
}

/// Which products a caller browses: staff all of them; a guest the
/// public ones; a customer's own user the public ones and those its
/// account's contracts in force list (another customer's contract-only
/// products are none of its business).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shown {
    All,
    Public,
    PublicAndContractsOf(uuid::Uuid),
}

/// What `caller` browses, acting for `account` (a bound caller's).
pub fn shown_to(caller: &bss_platform::auth::Caller, account: Option<uuid::Uuid>) -> Shown {
    match (caller.is_guest(), caller.customer_user(), account) {
        (true, _, _) | (false, Some(_), None) => Shown::Public,
        (false, Some(_), Some(account_id)) => Shown::PublicAndContractsOf(account_id),
        (false, None, _) => Shown::All,
    }
}

impl Availability {
    pub fn as_str(self) -> &'static str {
        match self {
            Availability::Public => "public",
            Availability::ContractOnly => "contract_only",
        }
    }

    pub fn from_stored(value: &str) -> Option<Availability> {
        match value {
            "public" => Some(Availability::Public),
            "contract_only" => Some(Availability::ContractOnly),
            _ => None,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Product {
    pub id: Uuid,
    pub code: String,
    pub name: String,
    pub product_type: String,
    pub family: String,
    pub availability: Availability,
    pub list_price: Decimal,
    pub currency: Currency,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Set for a physical good; `None` for a service.
    pub goods: Option<Goods>,
}

/// What makes a product a physical good: bought, it becomes an asset of
/// the account (billing), one per unit when traceable, under warranty for
/// `warranty_months` from the day it ships.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Goods {
    pub traceable: bool,
    pub warranty_months: u32,
}

/// Longest warranty of a physical good, in months.
pub const MAX_WARRANTY_MONTHS: i32 = 120;

/// A physical good's settings as asked: the months checked (0 to 120).
pub fn goods(traceable: bool, warranty_months: i32) -> Result<Goods, String> {
    match u32::try_from(warranty_months) {
        Ok(months) if warranty_months <= MAX_WARRANTY_MONTHS => Ok(Goods { traceable, warranty_months: months }),
        _ => Err(format!("must be 0 to {MAX_WARRANTY_MONTHS} months")),
    }
}

impl Product {
    /// The opaque version of the product: the time of its last change.
    pub fn etag(&self) -> String {
        bss_platform::etag::of_time(Some(self.updated_at))
    }
}

/// The checked text fields of a product: (field, problem) for each bad one.
pub struct ProductText {
    pub code: String,
    pub name: String,
    pub product_type: String,
    pub family: String,
}

impl ProductText {
    pub fn parse(
        code_value: &str,
        name: &str,
        product_type: &str,
        family: &str,
    ) -> Result<ProductText, Vec<(&'static str, String)>> {
        let mut problems = Vec::new();
        let mut keep = |field: &'static str, checked: Result<String, String>| {
            checked.map_err(|problem| problems.push((field, problem))).unwrap_or_default()
        };
        let text = ProductText {
            code: keep("code", code(code_value, 64)),
            name: keep("name", required_text(name, 200)),
            product_type: keep("product_type", optional_text(product_type, 64)),
            family: keep("family", optional_text(family, 64)),
        };
        if problems.is_empty() { Ok(text) } else { Err(problems) }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PriceLevel {
    pub id: Uuid,
    pub code: String,
    pub name: String,
    pub currency: Currency,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PricelistKind {
    Pricelist,
    /// A pricelist for services [S1].
    RatePlan,
}

impl PricelistKind {
    pub fn as_str(self) -> &'static str {
        match self {
            PricelistKind::Pricelist => "pricelist",
            PricelistKind::RatePlan => "rate_plan",
        }
    }

    pub fn from_stored(value: &str) -> Option<PricelistKind> {
        match value {
            "pricelist" => Some(PricelistKind::Pricelist),
            "rate_plan" => Some(PricelistKind::RatePlan),
            _ => None,
        }
    }
}

/// A pricelist with its items.
#[derive(Clone, Debug)]
pub struct PricelistRecord {
    pub id: Uuid,
    pub name: String,
    pub currency: Currency,
    pub kind: PricelistKind,
    /// Whether it is the tenant's master rate plan.
    pub master: bool,
    /// Whether it is the tenant's default rate plan ([`default_rate_plan`];
    /// set on reads).
    pub default_rate_plan: bool,
    /// (product, item), by product then start.
    pub items: Vec<(Uuid, Dated)>,
}

/// Only a rate plan may be the tenant's master rate plan.
pub fn check_rate_plan(pricelist: &PricelistRecord) -> Result<(), PricingError> {
    match pricelist.kind {
        PricelistKind::RatePlan => Ok(()),
        PricelistKind::Pricelist => Err(PricingError::precondition(
            "NOT_A_RATE_PLAN",
            format!("pricelist {} prices goods: only a rate plan may be the master rate plan", pricelist.id),
        )),
    }
}

/// The tenant's default rate plan, which prices every account without a
/// rate plan of its own (a new account gets it [S1]): the master rate plan
/// when one is marked, else the first rate plan by name (the order
/// ListPricelists shows). Takes (id, name, kind, master) of each pricelist.
pub fn default_rate_plan<'a>(
    pricelists: impl IntoIterator<Item = (Uuid, &'a str, PricelistKind, bool)>,
) -> Option<Uuid> {
    let rate_plans: Vec<(Uuid, &str, bool)> = pricelists
        .into_iter()
        .filter(|(_, _, kind, _)| *kind == PricelistKind::RatePlan)
        .map(|(id, name, _, master)| (id, name, master))
        .collect();
    rate_plans
        .iter()
        .find(|(_, _, master)| *master)
        .or_else(|| rate_plans.iter().min_by_key(|(_, name, _)| *name))
        .map(|(id, _, _)| *id)
}

/// Whether two periods (first day, last day or none for open-ended) share
/// a day.
pub fn overlaps(left: Validity, right: Validity) -> bool {
    let starts_before_right_ends = right.1.is_none_or(|to| left.0 <= to);
    let ends_after_right_starts = left.1.is_none_or(|to| right.0 <= to);
    starts_before_right_ends && ends_after_right_starts
}

/// The first pair of items (by position) of the same product whose
/// validity periods overlap.
pub fn first_overlap(items: &[(Uuid, Dated)]) -> Option<(usize, usize)> {
    items.iter().enumerate().find_map(|(later, (product, dated))| {
        items[..later]
            .iter()
            .position(|(other_product, other)| other_product == product && overlaps(other.validity(), dated.validity()))
            .map(|earlier| (earlier, later))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::price::Tiered;
    use bss_platform::auth::{Caller, Role, TenantScope};
    use chrono::NaiveDate;

    fn caller(role: Role) -> Caller {
        Caller {
            subject: "test".to_owned(),
            tenant: TenantScope::One(uuid::Uuid::from_u128(1)),
            roles: [role].into(),
            sales_rep_id: (role == Role::SalesRep).then(|| "R7".to_owned()),
            user_id: (role == Role::CustomerUser).then(|| uuid::Uuid::from_u128(2)),
            token: std::sync::Arc::from("token"),
        }
    }

    #[test]
    fn a_customer_browses_public_products_and_its_own_contracts_a_guest_public_ones_staff_all() {
        let account = uuid::Uuid::from_u128(3);
        assert_eq!(shown_to(&caller(Role::CustomerUser), Some(account)), Shown::PublicAndContractsOf(account));
        assert_eq!(shown_to(&caller(Role::CustomerUser), None), Shown::Public, "no account: never all");
        assert_eq!(shown_to(&caller(Role::Guest), None), Shown::Public);
        for staff in [Role::TenantAdmin, Role::AccountManager, Role::SalesRep, Role::Integration] {
            assert_eq!(shown_to(&caller(staff), None), Shown::All, "{staff:?}");
        }
    }

    fn dated(from: &str, to: Option<&str>) -> Dated {
        let day = |text: &str| text.parse::<NaiveDate>().expect("date");
        Dated { id: Uuid::nil(), price: Tiered::flat(Decimal::ONE), from: day(from), to: to.map(day) }
    }

    fn overlap(left: &Dated, right: &Dated) -> bool {
        overlaps(left.validity(), right.validity())
    }

    #[test]
    fn a_warranty_runs_zero_to_ten_years() {
        assert_eq!(goods(true, 24), Ok(Goods { traceable: true, warranty_months: 24 }));
        assert_eq!(goods(false, 0), Ok(Goods { traceable: false, warranty_months: 0 }));
        assert_eq!(goods(false, 120).map(|goods| goods.warranty_months), Ok(120));
        assert!(goods(false, 121).is_err());
        assert!(goods(true, -1).is_err());
    }

    #[test]
    fn validity_periods_overlap_when_they_share_a_day() {
        let open = dated("2026-01-01", None);
        assert!(overlap(&open, &dated("2030-01-01", Some("2030-12-31"))));
        assert!(overlap(&dated("2026-01-01", Some("2026-06-30")), &dated("2026-06-30", None)), "the last day counts");
        assert!(!overlap(&dated("2026-01-01", Some("2026-06-29")), &dated("2026-06-30", None)));
        assert!(!overlap(&dated("2026-07-01", None), &dated("2026-01-01", Some("2026-06-30"))));
    }

    #[test]
    fn items_of_one_product_may_not_overlap() {
        let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
        let items = [
            (a, dated("2026-01-01", Some("2026-06-30"))),
            (b, dated("2026-01-01", None)),
            (a, dated("2026-07-01", None)),
        ];
        assert_eq!(first_overlap(&items), None);
        let clashing = [items[0].clone(), items[1].clone(), (a, dated("2026-06-30", None))];
        assert_eq!(first_overlap(&clashing), Some((0, 2)));
    }

    #[test]
    fn product_text_is_checked_field_by_field() {
        let problems = ProductText::parse("has space", "", "t", "f").err().expect("refused");
        let fields: Vec<&str> = problems.iter().map(|(field, _)| *field).collect();
        assert_eq!(fields, ["code", "name"]);
    }

    #[test]
    fn the_default_rate_plan_is_the_master_else_the_first_by_name() {
        let (pricelist, basic, gold, zulu) =
            (Uuid::from_u128(1), Uuid::from_u128(2), Uuid::from_u128(3), Uuid::from_u128(4));
        let mut book = vec![
            (zulu, "Zulu", PricelistKind::RatePlan, false),
            (pricelist, "Aardvark goods", PricelistKind::Pricelist, false),
            (gold, "Gold", PricelistKind::RatePlan, false),
            (basic, "Basic", PricelistKind::RatePlan, false),
        ];
        assert_eq!(default_rate_plan(book.clone()), Some(basic), "the first rate plan by name, never a pricelist");
        book[0].3 = true;
        assert_eq!(default_rate_plan(book.clone()), Some(zulu), "the master wins");
        assert_eq!(default_rate_plan(book[1..2].to_vec()), None, "no rate plan, no default");
    }

    #[test]
    fn only_a_rate_plan_is_a_master() {
        let record = |kind| PricelistRecord {
            id: Uuid::from_u128(1),
            name: "Gold".to_owned(),
            currency: Currency::parse("EUR").expect("currency"),
            kind,
            master: false,
            default_rate_plan: false,
            items: Vec::new(),
        };
        assert!(check_rate_plan(&record(PricelistKind::RatePlan)).is_ok());
        match check_rate_plan(&record(PricelistKind::Pricelist)) {
            Err(PricingError::Precondition { reason, .. }) => assert_eq!(reason, "NOT_A_RATE_PLAN"),
            other => panic!("refused, not {other:?}"),
        }
    }
}
