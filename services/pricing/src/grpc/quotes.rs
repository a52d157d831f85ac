//! Quote: what an account pays for products on a day, and why.

use bss_platform::auth::authorize;
use bss_platform::error::Violations;
use bss_platform::input::required_id;
use bss_platform::money::{Currency, decimal_to_wire, money_to_wire};
use bss_platform::time::format_date;
use bss_proto::pricing::quote_service_server::QuoteService;
use bss_proto::pricing::*;
use tonic::{Request, Response, Status};
use uuid::Uuid;

use super::convert::{date_from_wire, quantity_from_wire};
use super::{BATCH_QUOTERS, PricingApi, QUOTERS};
use crate::app::quotes::{Priced, QuoteAsk};
use crate::domain::book::{Candidate as Considered, LineAsk, RatedTier as Tier, Rule};
use crate::domain::error::PricingError;
use crate::domain::price::Rating as Rated;

/// Most lines one quote may have.
pub const MAX_LINES: usize = 500;
/// Most quotes one batch may have.
pub const MAX_QUOTES: usize = 1000;

fn rule_to_wire(rule: Rule) -> PriceRule {
    match rule {
        Rule::ListPrice => PriceRule::ListPrice,
        Rule::PriceLevel => PriceRule::PriceLevel,
        Rule::Pricelist => PriceRule::Pricelist,
        Rule::RatePlan => PriceRule::RatePlan,
        Rule::AccountPrice => PriceRule::AccountPrice,
        Rule::ContractPrice => PriceRule::ContractPrice,
        Rule::ForcedAccountPrice => PriceRule::ForcedAccountPrice,
        Rule::ForcedContractPrice => PriceRule::ForcedContractPrice,
    }
}

fn candidate_to_proto(candidate: &Considered, currency: Currency) -> Candidate {
    Candidate {
        rule: rule_to_wire(candidate.rule).into(),
        source_id: candidate.source_id.to_string(),
        original_price: Some(money_to_wire(candidate.original, candidate.original_currency)),
        price: Some(money_to_wire(candidate.price, currency)),
        quantity_break: candidate.quantity_break,
        discount_percent: Some(decimal_to_wire(candidate.discount_percent)),
        forced: candidate.forced,
        won: candidate.won,
        reason: candidate.reason.to_owned(),
    }
}

pub fn tier_to_wire(tier: &Tier, currency: Currency) -> RatedTier {
    RatedTier {
        from: Some(decimal_to_wire(tier.from)),
        to: tier.to.map(decimal_to_wire),
        quantity: Some(decimal_to_wire(tier.quantity)),
        unit_price: Some(money_to_wire(tier.unit_price, currency)),
        amount: Some(money_to_wire(tier.amount, currency)),
    }
}

/// A quote request read: (account, unless a guest's; currency, unless the
/// account's; day, unless today; lines), or its violations under `prefix`.
fn ask_from_wire(request: &QuoteRequest, guest: bool, prefix: &str) -> Result<(Option<Uuid>, QuoteAsk), PricingError> {
    let field = |name: &str| format!("{prefix}{name}");
    let mut v = Violations::new();
    // A guest quotes as the tenant's guest account: it names none.
    let account_id = match request.account_id.as_str() {
        "" if guest => Some(None),
        account => v.keep(&field("account_id"), required_id(account)).map(Some),
    };
    let currency = if request.currency_code.is_empty() {
        Some(None)
    } else {
        v.keep(&field("currency_code"), Currency::parse(&request.currency_code)).map(Some)
    };
    let day = date_from_wire(&mut v, &field("date"), &request.date, false);
    if request.min_book_version < 0 {
        v.add(field("min_book_version"), "is a version a pricing write returned, or 0");
    }
    if request.lines.is_empty() || request.lines.len() > MAX_LINES {
        v.add(field("lines"), format!("give 1 to {MAX_LINES} lines"));
    }
    let mut lines = Vec::with_capacity(request.lines.len());
    for (index, line) in request.lines.iter().enumerate() {
        if line.product.is_empty() {
            v.add(field(&format!("lines[{index}].product")), "is required: a product id or code");
        }
        let rating = match Rating::try_from(line.rating) {
            Ok(Rating::Unspecified) => None,
            Ok(Rating::Volume) => Some(Rated::Volume),
            Ok(Rating::Graduated) => Some(Rated::Graduated),
            Err(_) => {
                v.add(field(&format!("lines[{index}].rating")), "is VOLUME, GRADUATED or unspecified");
                None
            }
        };
        if let Some(quantity) =
            quantity_from_wire(&mut v, &field(&format!("lines[{index}].quantity")), line.quantity.as_ref())
        {
            lines.push(LineAsk { product: line.product.clone(), quantity, rating });
        }
    }
    let (Some(account_id), Some(currency), Some(day)) = (account_id, currency, day) else {
        return Err(v.into());
    };
    v.into_result()?;
    let min_version = request.min_book_version;
    Ok((account_id, QuoteAsk { account_id: account_id.unwrap_or_default(), currency, day, lines, min_version }))
}

/// A priced quote (by book `version`) as the wire shows it, with every
/// candidate when `explain`.
fn quote_to_wire(account_id: Uuid, (quote, day, version): &Priced, explain: bool) -> QuoteResponse {
    let currency = quote.currency;
    QuoteResponse {
        account_id: account_id.to_string(),
        priced_as_account_id: quote.priced_as.to_string(),
        currency_code: currency.code.to_owned(),
        date: format_date(*day),
        lines: quote
            .lines
            .iter()
            .map(|line| QuoteLine {
                line_number: line.line_number as i32,
                product_id: line.product_id.to_string(),
                product_code: line.product_code.clone(),
                quantity: Some(decimal_to_wire(line.quantity)),
                unit_price: Some(money_to_wire(line.unit_price, currency)),
                total: Some(money_to_wire(line.total, currency)),
                rule: rule_to_wire(line.winner.rule).into(),
                source_id: line.winner.source_id.to_string(),
                quantity_break: line.winner.quantity_break,
                discount_percent: Some(decimal_to_wire(line.winner.discount_percent)),
                candidates: if explain {
                    line.candidates.iter().map(|candidate| candidate_to_proto(candidate, currency)).collect()
                } else {
                    Vec::new()
                },
                physical_good: line.goods.map(super::catalog::goods_to_proto),
                tiers: line.tiers.iter().map(|tier| tier_to_wire(tier, currency)).collect(),
            })
            .collect(),
        total: Some(money_to_wire(quote.total, currency)),
        book_version: *version,
    }
}

/// Why one quote of a batch was refused, for people.
fn refusal_message(error: &PricingError) -> String {
    match error {
        PricingError::Invalid(violations) => violations.to_string(),
        PricingError::Lines(lines) => lines.iter().map(|(_, _, why)| why.as_str()).collect::<Vec<_>>().join("; "),
        other => other.to_string(),
    }
}

#[tonic::async_trait]
impl QuoteService for PricingApi {
    async fn quote(&self, request: Request<QuoteRequest>) -> Result<Response<QuoteResponse>, Status> {
        let (caller, tenant_id) = authorize(&request, QUOTERS)?;
        let request = request.into_inner();
        let run = async {
            let (requested, mut ask) = ask_from_wire(&request, caller.is_guest(), "")?;
            let account_id = self.quoting_account(&caller, tenant_id, (requested, &request.guest_region)).await?;
            ask.account_id = account_id;
            let priced = self.quote_for(&caller, tenant_id, ask).await?;
            Ok::<_, PricingError>(quote_to_wire(account_id, &priced, request.explain))
        };
        Ok(Response::new(run.await?))
    }

    async fn quote_batch(&self, request: Request<QuoteBatchRequest>) -> Result<Response<QuoteBatchResponse>, Status> {
        let (caller, tenant_id) = authorize(&request, BATCH_QUOTERS)?;
        let request = request.into_inner();
        let run = async {
            if request.quotes.is_empty() || request.quotes.len() > MAX_QUOTES {
                return Err(Violations::single("quotes", format!("give 1 to {MAX_QUOTES} quotes")).into());
            }
            let asks: Vec<Result<QuoteAsk, PricingError>> = request
                .quotes
                .iter()
                .enumerate()
                .map(|(index, quote)| ask_from_wire(quote, false, &format!("quotes[{index}].")).map(|(_, ask)| ask))
                .collect();
            let (priced, version) = self.quote_many(&caller, tenant_id, asks).await?;
            let results = priced
                .into_iter()
                .zip(&request.quotes)
                .map(|(priced, asked)| match priced {
                    Ok((account_id, quote, day)) => QuoteBatchResult {
                        quote: Some(quote_to_wire(account_id, &(quote, day, version), asked.explain)),
                        ..QuoteBatchResult::default()
                    },
                    Err(refused) => QuoteBatchResult {
                        quote: None,
                        error_reason: refused.reason().to_owned(),
                        error_message: refusal_message(&refused),
                    },
                })
                .collect();
            Ok::<_, PricingError>(QuoteBatchResponse { results })
        };
        Ok(Response::new(run.await?))
    }
}
