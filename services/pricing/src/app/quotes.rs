//! Quotes: what an account pays for products on a day, and why, from the
//! tenant's book as of its current version.

use bss_platform::auth::Caller;
use bss_platform::error::Violations;
use bss_platform::money::Currency;
use chrono::NaiveDate;
use rust_decimal::Decimal;
use uuid::Uuid;

use super::Pricing;
use crate::domain::book::Quote;
use crate::domain::error::PricingError;

/// A quote as asked.
pub struct QuoteAsk {
    pub account_id: Uuid,
    /// `None`: the account's currency (the only one quotes are in).
    pub currency: Option<Currency>,
    /// `None`: today.
    pub day: Option<NaiveDate>,
    /// (product id or code, quantity).
    pub lines: Vec<(String, Decimal)>,
}

impl Pricing {
    /// Prices the lines for the account (as the caller may see it) on the
    /// day, each by the rule that wins; answers the quote and its day.
    pub async fn quote_for(
        &self,
        caller: &Caller,
        tenant_id: Uuid,
        ask: QuoteAsk,
    ) -> Result<(Quote, NaiveDate), PricingError> {
        let (version, account) = self.account(caller, tenant_id, ask.account_id).await?;
        let currency = ask.currency.unwrap_or(account.currency);
        if currency != account.currency {
            let why = format!("quotes are in the account's currency, {}", account.currency.code);
            return Err(Violations::single("currency_code", why).into());
        }
        let day = ask.day.unwrap_or_else(|| bss_platform::time::now().date_naive());
        let loaded = self.books.at(tenant_id, version).await?;
        Ok((loaded.book.quote(&account, currency, day, &ask.lines)?, day))
    }
}
