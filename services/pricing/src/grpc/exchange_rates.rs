//! The tenant's exchange rates, each in force from its effective date.

use bss_platform::auth::authorize;
use bss_platform::error::Violations;
use bss_platform::idempotency::RequestKey;
use bss_platform::money::{Currency, decimal_from_wire, decimal_to_wire};
use bss_platform::paging::Page;
use bss_platform::time::format_date;
use bss_proto::pricing::exchange_rate_service_server::ExchangeRateService;
use bss_proto::pricing::*;
use rust_decimal::Decimal;
use tonic::{Request, Response, Status};

use super::convert::date_from_wire;
use super::{PricingApi, READERS, WRITERS};
use crate::domain::error::PricingError;
use crate::repo;
use crate::repo::rates::Rate;

fn rate_to_proto(rate: &Rate) -> ExchangeRate {
    ExchangeRate {
        from_currency: rate.from.code.to_owned(),
        to_currency: rate.to.code.to_owned(),
        rate: Some(decimal_to_wire(rate.rate)),
        effective_date: format_date(rate.effective),
    }
}

fn rate_from_wire(input: &ExchangeRate) -> Result<Rate, Violations> {
    let mut v = Violations::new();
    let from = v.keep("exchange_rate.from_currency", Currency::parse(&input.from_currency));
    let to = v.keep("exchange_rate.to_currency", Currency::parse(&input.to_currency));
    if from.is_some() && from == to {
        v.add("exchange_rate.to_currency", "must differ from from_currency");
    }
    let rate = decimal_from_wire(&mut v, "exchange_rate.rate", input.rate.as_ref(), None);
    if rate.is_some_and(|rate| rate <= Decimal::ZERO) {
        v.add("exchange_rate.rate", "must be greater than zero");
    }
    let effective = date_from_wire(&mut v, "exchange_rate.effective_date", &input.effective_date, true).flatten();
    match (from, to, rate, effective) {
        (Some(from), Some(to), Some(rate), Some(effective)) if v.is_empty() => Ok(Rate { from, to, effective, rate }),
        _ => Err(v),
    }
}

#[tonic::async_trait]
impl ExchangeRateService for PricingApi {
    async fn set_exchange_rate(
        &self,
        request: Request<SetExchangeRateRequest>,
    ) -> Result<Response<SetExchangeRateResponse>, Status> {
        let (_, tenant_id) = authorize(&request, WRITERS)?;
        let request = request.into_inner();
        let run = async {
            let rate = rate_from_wire(&request.exchange_rate.clone().unwrap_or_default())?;
            let key = RequestKey::new(tenant_id, "SetExchangeRate", &request.request_id, &request)?;
            self.set_exchange_rate(tenant_id, key, rate, |rate| SetExchangeRateResponse {
                exchange_rate: Some(rate_to_proto(rate)),
                ..Default::default()
            })
            .await
        };
        Ok(Response::new(run.await?))
    }

    async fn list_exchange_rates(
        &self,
        request: Request<ListExchangeRatesRequest>,
    ) -> Result<Response<ListExchangeRatesResponse>, Status> {
        let (_, tenant_id) = authorize(&request, READERS)?;
        let request = request.into_inner();
        let run = async {
            let page = Page::parse(request.page_size, &request.page_token, &ListExchangeRatesRequest::default())?;
            let after = page.after_text()?;
            let rates = self.exchange_rates(tenant_id, (after.as_deref(), page.fetch_limit())).await?;
            let (rates, next_page_token) = page.finish(rates, |rate| repo::rates::key(rate).into_bytes());
            Ok::<_, PricingError>(ListExchangeRatesResponse {
                exchange_rates: rates.iter().map(rate_to_proto).collect(),
                next_page_token,
            })
        };
        Ok(Response::new(run.await?))
    }
}
