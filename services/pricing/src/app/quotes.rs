//! Quotes: what an account pays for products on a day, and why, from the
//! tenant's book as of its current version.

use std::collections::HashMap;

use bss_platform::auth::Caller;
use bss_platform::error::Violations;
use bss_platform::money::Currency;
use chrono::NaiveDate;
use uuid::Uuid;

use super::Pricing;
use crate::domain::book::{AccountFacts, LineAsk, PriceBook, Quote};
use crate::domain::error::PricingError;

/// A quote as asked.
pub struct QuoteAsk {
    pub account_id: Uuid,
    /// `None`: the account's currency (the only one quotes are in).
    pub currency: Option<Currency>,
    /// `None`: today.
    pub day: Option<NaiveDate>,
    pub lines: Vec<LineAsk>,
    /// The oldest book version that may price it (0: the newest heard of).
    pub min_version: i64,
}

/// A priced quote: the quote, its day, and the book version that priced it.
pub type Priced = (Quote, NaiveDate, i64);

impl Pricing {
    /// Prices the lines for the account (as the caller may see it) on the
    /// day, each by the rule that wins.
    pub async fn quote_for(&self, caller: &Caller, tenant_id: Uuid, ask: QuoteAsk) -> Result<Priced, PricingError> {
        let (loaded, account) = self.account_at(caller, tenant_id, ask.account_id, ask.min_version).await?;
        let (quote, day) = quote_in(&loaded.book, &account, ask, bss_platform::time::now().date_naive())?;
        Ok((quote, day, loaded.version))
    }
}

/// Prices the ask for the account from the book (`today` when it names no
/// day): quotes are in the account's currency only.
fn quote_in(
    book: &PriceBook,
    account: &AccountFacts,
    ask: QuoteAsk,
    today: NaiveDate,
) -> Result<(Quote, NaiveDate), PricingError> {
    let currency = ask.currency.unwrap_or(account.currency);
    if currency != account.currency {
        let why = format!("quotes are in the account's currency, {}", account.currency.code);
        return Err(Violations::single("currency_code", why).into());
    }
    let day = ask.day.unwrap_or(today);
    Ok((book.quote(account, currency, day, &ask.lines)?, day))
}

/// One quote of a batch: (account, quote, day), or why it was refused.
pub type BatchQuote = Result<(Uuid, Quote, NaiveDate), PricingError>;

impl Pricing {
    /// Prices many quotes against one version of the tenant's book (the
    /// highest any ask names, or later), each on its own: an ask already
    /// refused, an unknown account or a line that cannot be priced refuses
    /// that quote only. The accounts are read at once (from memory, or in
    /// one round trip); a fault of the database or of accounts fails all.
    /// Also answers the book version.
    pub async fn quote_many(
        &self,
        caller: &Caller,
        tenant_id: Uuid,
        asks: Vec<Result<QuoteAsk, PricingError>>,
    ) -> Result<(Vec<BatchQuote>, i64), PricingError> {
        let ids: Vec<Uuid> = asks.iter().flatten().map(|ask| ask.account_id).collect();
        let min_version = asks.iter().flatten().map(|ask| ask.min_version).max().unwrap_or(0);
        let changes = self.books.changes(tenant_id);
        let (loaded, mut known) = self.books.with_accounts(tenant_id, &ids, min_version).await?;
        let mut fetched = HashMap::new();
        for id in &ids {
            if !known.contains_key(id)
                && let Some(facts) = self.fetched_account(caller, tenant_id, *id).await?
            {
                fetched.insert(*id, facts);
            }
        }
        self.books.remember(tenant_id, changes, &fetched);
        known.extend(fetched);
        let today = bss_platform::time::now().date_naive();
        let quote = |ask: QuoteAsk| -> BatchQuote {
            let account_id = ask.account_id;
            let account = known.get(&account_id).ok_or_else(|| PricingError::not_found("account", account_id))?;
            let (quote, day) = quote_in(&loaded.book, account, ask, today)?;
            Ok((account_id, quote, day))
        };
        Ok((asks.into_iter().map(|ask| ask.and_then(quote)).collect(), loaded.version))
    }
}
