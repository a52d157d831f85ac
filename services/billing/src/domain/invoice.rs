//! Grouping open charges into invoices: one invoice per account that pays
//! (the bill-to account), per sub-account that is invoiced separately, and
//! per currency; its lines in the order the charges were made, its total
//! their sum, its order references each once in order of first charge.

use std::collections::BTreeMap;

use bss_platform::money::Currency;
use chrono::NaiveDate;
use rust_decimal::Decimal;
use uuid::Uuid;

use super::error::BillingError;

/// Where an invoice stands: a draft may change, be posted (numbered,
/// immutable) or voided; a posted invoice is only credited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InvoiceStatus {
    Draft,
    Posted,
    Voided,
}

impl InvoiceStatus {
    pub const ALL: [InvoiceStatus; 3] = [InvoiceStatus::Draft, InvoiceStatus::Posted, InvoiceStatus::Voided];

    /// The code it is stored by.
    pub fn code(self) -> &'static str {
        match self {
            InvoiceStatus::Draft => "DRAFT",
            InvoiceStatus::Posted => "POSTED",
            InvoiceStatus::Voided => "VOIDED",
        }
    }

    pub fn from_code(code: &str) -> Option<InvoiceStatus> {
        InvoiceStatus::ALL.into_iter().find(|status| status.code() == code)
    }
}

/// Refuses posting or voiding anything but a draft: INVOICE_POSTED (it has
/// its number), INVOICE_VOIDED.
pub fn check_draft(id: Uuid, status: InvoiceStatus, number: Option<i64>) -> Result<(), BillingError> {
    match status {
        InvoiceStatus::Draft => Ok(()),
        InvoiceStatus::Posted => Err(BillingError::precondition(
            "INVOICE_POSTED",
            format!("invoice {id} is posted already (number {})", number.unwrap_or(0)),
        )),
        InvoiceStatus::Voided => Err(BillingError::precondition("INVOICE_VOIDED", format!("invoice {id} was voided"))),
    }
}

/// The total of a line written by hand: quantity times unit price, rounded
/// to the currency's minor unit, half away from zero.
pub fn line_total(quantity: Decimal, unit_price: Decimal, currency: Currency) -> Decimal {
    currency.round(quantity * unit_price)
}

/// A charge not invoiced yet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpenCharge {
    pub id: Uuid,
    /// The account that bought.
    pub account_id: Uuid,
    /// The account that pays.
    pub bill_to_account_id: Uuid,
    /// The buyer is invoiced apart from the rest of its payer's charges.
    pub separate: bool,
    pub order_reference: Option<String>,
    pub product_id: String,
    pub description: String,
    pub currency: String,
    pub quantity: Decimal,
    pub unit_price: Decimal,
    pub total: Decimal,
    /// Which rule priced it ([`super::order::PricedBy`], as stored).
    pub price_rule: String,
    pub price_source_id: String,
    pub priced_on: Option<NaiveDate>,
    pub price_note: String,
    /// A usage charge's tiers.
    pub tiers: Option<sqlx::types::Json<Vec<super::usage::UsageTier>>>,
}

/// One invoice to draft: who pays, for which sub-account when apart, in
/// which currency, and its charges.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DraftInvoice {
    pub bill_to: Uuid,
    pub for_account: Option<Uuid>,
    pub currency: String,
    pub charges: Vec<OpenCharge>,
}

impl DraftInvoice {
    /// The sum of its charges.
    pub fn total(&self) -> Decimal {
        self.charges.iter().map(|charge| charge.total).sum()
    }

    /// The orders it bills, each once, in order of their first charge.
    pub fn order_references(&self) -> Vec<String> {
        let mut references: Vec<String> = Vec::new();
        for reference in self.charges.iter().filter_map(|charge| charge.order_reference.as_ref()) {
            if !references.contains(reference) {
                references.push(reference.clone());
            }
        }
        references
    }
}

/// The invoices of `charges` (given oldest first), ordered by payer,
/// sub-account and currency; each keeps its charges' order.
pub fn group(charges: Vec<OpenCharge>) -> Vec<DraftInvoice> {
    let mut groups: BTreeMap<(Uuid, Option<Uuid>, String), Vec<OpenCharge>> = BTreeMap::new();
    for charge in charges {
        let apart = charge.separate.then_some(charge.account_id);
        groups.entry((charge.bill_to_account_id, apart, charge.currency.clone())).or_default().push(charge);
    }
    groups
        .into_iter()
        .map(|((bill_to, for_account, currency), charges)| DraftInvoice { bill_to, for_account, currency, charges })
        .collect()
}

#[cfg(test)]
mod tests {
    use rust_decimal_macros::dec;

    use super::*;

    fn charge(
        id: u128,
        buyer: u128,
        payer: u128,
        separate: bool,
        currency: &str,
        reference: Option<&str>,
    ) -> OpenCharge {
        OpenCharge {
            id: Uuid::from_u128(id),
            account_id: Uuid::from_u128(buyer),
            bill_to_account_id: Uuid::from_u128(payer),
            separate,
            order_reference: reference.map(str::to_owned),
            product_id: "P".to_owned(),
            description: format!("charge {id}"),
            currency: currency.to_owned(),
            quantity: Decimal::ONE,
            unit_price: dec!(10.00),
            total: dec!(10.00),
            price_rule: String::new(),
            price_source_id: String::new(),
            priced_on: None,
            price_note: String::new(),
            tiers: None,
        }
    }

    #[test]
    fn one_invoice_per_payer_sub_account_apart_and_currency() {
        let parent = 9;
        let invoices = group(vec![
            charge(1, 1, parent, false, "EUR", Some("A")),
            charge(2, 2, parent, false, "EUR", Some("B")),
            charge(3, 3, parent, true, "EUR", None),
            charge(4, 1, parent, false, "USD", None),
            charge(5, 1, parent, false, "EUR", Some("A")),
            charge(6, 4, 4, false, "EUR", None),
        ]);
        let shape: Vec<_> = invoices
            .iter()
            .map(|invoice| {
                let ids: Vec<u128> = invoice.charges.iter().map(|charge| charge.id.as_u128()).collect();
                (invoice.bill_to.as_u128(), invoice.for_account.map(|id| id.as_u128()), invoice.currency.as_str(), ids)
            })
            .collect();
        assert_eq!(
            shape,
            vec![
                (4, None, "EUR", vec![6]),
                (9, None, "EUR", vec![1, 2, 5]),
                (9, None, "USD", vec![4]),
                (9, Some(3), "EUR", vec![3]),
            ]
        );
        let members = &invoices[1];
        assert_eq!(members.total(), dec!(30.00));
        assert_eq!(members.order_references(), vec!["A".to_owned(), "B".to_owned()], "each order once");
    }

    #[test]
    fn only_a_draft_is_posted_or_voided_and_a_line_rounds_half_away_from_zero() {
        let id = Uuid::nil();
        assert!(check_draft(id, InvoiceStatus::Draft, None).is_ok());
        let posted = check_draft(id, InvoiceStatus::Posted, Some(7)).expect_err("posted");
        assert!(matches!(posted, BillingError::Precondition { reason: "INVOICE_POSTED", .. }), "{posted:?}");
        let voided = check_draft(id, InvoiceStatus::Voided, None).expect_err("voided");
        assert!(matches!(voided, BillingError::Precondition { reason: "INVOICE_VOIDED", .. }), "{voided:?}");
        let eur = Currency::parse("EUR").expect("EUR");
        assert_eq!(line_total(dec!(3), dec!(0.335), eur).to_string(), "1.01", "1.005 rounds up");
        assert_eq!(line_total(dec!(-3), dec!(0.335), eur).to_string(), "-1.01", "and away from zero below it");
        assert_eq!(InvoiceStatus::from_code("POSTED"), Some(InvoiceStatus::Posted));
    }

    #[test]
    fn no_charges_no_invoices() {
        assert!(group(Vec::new()).is_empty());
    }
}
