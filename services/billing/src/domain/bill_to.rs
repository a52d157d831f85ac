//! Who pays for what an account buys: the account itself, its group parent
//! for what the parent funds, or the tenant reseller for a managed copy.

use uuid::Uuid;

/// What a group parent pays for of one member's purchases.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Funding {
    /// Not in a group (or the parent funds nothing).
    #[default]
    None,
    /// Everything.
    Full,
    /// The listed products (by id or code), product types and families.
    Partial { products: Vec<String>, types: Vec<String>, families: Vec<String> },
}

impl Funding {
    /// Whether the parent pays for a product.
    pub fn covers(&self, product: &ProductFacts) -> bool {
        match self {
            Funding::None => false,
            Funding::Full => true,
            Funding::Partial { products, types, families } => {
                let listed = |list: &[String], value: &str| !value.is_empty() && list.iter().any(|item| item == value);
                listed(products, &product.id)
                    || listed(products, &product.code)
                    || listed(types, &product.product_type)
                    || listed(families, &product.family)
            }
        }
    }

    /// Whether deciding needs a product's type and family.
    pub fn needs_product_facts(&self) -> bool {
        matches!(self, Funding::Partial { types, families, .. } if !types.is_empty() || !families.is_empty())
    }
}

/// What the funding rules look at of a product.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProductFacts {
    pub id: String,
    pub code: String,
    pub product_type: String,
    pub family: String,
}

/// The account's standing for billing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Payer {
    pub account_id: Uuid,
    /// The group parent, the bill-to parent, or the tenant reseller of a
    /// managed copy.
    pub parent_id: Option<Uuid>,
    pub funding: Funding,
    /// The account's charges go on their own invoice of the parent.
    pub separate_invoices: bool,
}

/// Who is billed for one charge, and whether on a separate invoice.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BillTo {
    pub account_id: Uuid,
    pub separate: bool,
}

impl Payer {
    pub fn bill_to(&self, product: &ProductFacts) -> BillTo {
        match self.parent_id {
            Some(parent) if self.funding.covers(product) => {
                BillTo { account_id: parent, separate: self.separate_invoices }
            }
            _ => BillTo { account_id: self.account_id, separate: false },
        }
    }
}

/// Who an invoice written by hand for an account goes to, and for which
/// sub-account: a managed copy's to its tenant reseller, for the copy;
/// anyone else's to the account itself.
pub fn invoiced_to(account_id: Uuid, tenant_reseller: Option<Uuid>) -> (Uuid, Option<Uuid>) {
    match tenant_reseller {
        Some(reseller) => (reseller, Some(account_id)),
        None => (account_id, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn product(id: &str, code: &str, product_type: &str, family: &str) -> ProductFacts {
        ProductFacts { id: id.into(), code: code.into(), product_type: product_type.into(), family: family.into() }
    }

    fn payer(funding: Funding, separate_invoices: bool) -> Payer {
        Payer { account_id: Uuid::from_u128(1), parent_id: Some(Uuid::from_u128(2)), funding, separate_invoices }
    }

    #[test]
    fn a_fully_funded_member_bills_everything_to_its_parent() {
        let bill_to = payer(Funding::Full, false).bill_to(&product("p", "P", "", ""));
        assert_eq!(bill_to, BillTo { account_id: Uuid::from_u128(2), separate: false });
        let separate = payer(Funding::Full, true).bill_to(&product("p", "P", "", ""));
        assert_eq!(separate, BillTo { account_id: Uuid::from_u128(2), separate: true });
    }

    #[test]
    fn partial_funding_bills_only_listed_products_types_and_families_to_the_parent() {
        let funding = Funding::Partial {
            products: vec!["GADGET".into()],
            types: vec!["SERVICE".into()],
            families: vec!["PHONES".into()],
        };
        let member = payer(funding.clone(), false);
        let parent = Uuid::from_u128(2);
        let own = Uuid::from_u128(1);
        assert_eq!(member.bill_to(&product("x", "GADGET", "GOODS", "TOOLS")).account_id, parent, "by code");
        assert_eq!(member.bill_to(&product("x", "OTHER", "SERVICE", "TOOLS")).account_id, parent, "by type");
        assert_eq!(member.bill_to(&product("x", "OTHER", "GOODS", "PHONES")).account_id, parent, "by family");
        let unlisted = member.bill_to(&product("x", "OTHER", "GOODS", "TOOLS"));
        assert_eq!(unlisted, BillTo { account_id: own, separate: false });
        assert_eq!(member.bill_to(&product("x", "OTHER", "", "")).account_id, own, "empty facts match nothing");
        assert!(funding.needs_product_facts());
        let by_product = Funding::Partial { products: vec!["GADGET".into()], types: vec![], families: vec![] };
        assert!(!by_product.needs_product_facts());
    }

    #[test]
    fn a_managed_copys_invoice_goes_to_its_tenant_reseller() {
        let (copy, reseller) = (Uuid::from_u128(1), Uuid::from_u128(9));
        assert_eq!(invoiced_to(copy, Some(reseller)), (reseller, Some(copy)));
        assert_eq!(invoiced_to(copy, None), (copy, None));
    }

    #[test]
    fn an_account_outside_a_group_pays_for_itself() {
        let alone =
            Payer { account_id: Uuid::from_u128(1), parent_id: None, funding: Funding::Full, separate_invoices: true };
        assert_eq!(
            alone.bill_to(&product("p", "P", "", "")),
            BillTo { account_id: Uuid::from_u128(1), separate: false }
        );
    }
}
