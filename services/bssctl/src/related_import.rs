//! `bssctl import addresses|prices|business FILE.csv`: what a business
//! system keeps of existing accounts, found by external key, applied row by
//! row through the service that owns it: addresses (accounts), account
//! prices (pricing), and the business fields (credit limit and hold in
//! credit, price level and discount in pricing, payment types in accounts).
//! Every row is reported by line; a bad row never stops the others. With
//! `--request-id`, each call's id is derived from it and the row's line, so
//! running the same file again changes nothing more.

use std::collections::BTreeMap;
use std::path::Path;

use bss_platform::payment::PaymentType;
use bss_proto::accounts::account_service_client::AccountServiceClient;
use bss_proto::accounts::{
    Account, Address, AddressType, CreateAddressRequest, GetAccountRequest, ListAccountsRequest, UpdateAccountRequest,
};
use bss_proto::credit::credit_service_client::CreditServiceClient;
use bss_proto::credit::{
    ChangeCreditTermsRequest, GetCreditStatusRequest, GetCreditTermsRequest, PutOnHoldRequest, ReleaseHoldRequest,
};
use bss_proto::pricing::account_pricing_service_client::AccountPricingServiceClient;
use bss_proto::pricing::catalog_service_client::CatalogServiceClient;
use bss_proto::pricing::{
    AccountPrice, CreateAccountPriceRequest, GetAccountPricingRequest, GetProductRequest, ListPriceLevelsRequest,
    QuantityBreak, SetAccountPricingRequest,
};
use bss_proto::types::{Decimal, Money};
use serde_json::{Value, json};
use tonic::transport::Channel;

use crate::csv_import::{RowReport, records, report, yes};
use crate::output::{self, Progress};
use crate::{Client, Failure, Outcome};

/// What a file holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Related {
    /// Addresses of accounts.
    Addresses,
    /// Account-specific product prices.
    Prices,
    /// Credit limit, hold, price level, discount and payment types.
    Business,
}

impl Related {
    fn columns(self) -> &'static [&'static str] {
        match self {
            Related::Addresses => &[
                "external_key",
                "type",
                "line1",
                "line2",
                "line3",
                "city",
                "region",
                "postal_code",
                "country_code",
                "primary",
                "override_validation",
            ],
            Related::Prices => {
                &["external_key", "product", "price", "currency_code", "forced", "valid_from", "valid_to", "breaks"]
            }
            Related::Business => &[
                "external_key",
                "credit_limit",
                "unlimited",
                "on_hold",
                "hold_reason",
                "price_level",
                "discount_percent",
                "payment_types",
            ],
        }
    }
}

/// Why a row was not applied.
type Problem = Value;

fn problem(reason: &str, field: &str, message: impl Into<String>) -> Problem {
    json!({ "reason": reason, "field": field, "message": message.into() })
}

/// A refusal of the suite as a row's problem: its reason (else its code),
/// its first field violation, its message.
fn refused(status: tonic::Status) -> Problem {
    let error = output::status_document(&status);
    let code = error["code"].as_str().unwrap_or_default();
    let reason = error["reason"].as_str().filter(|reason| !reason.is_empty()).unwrap_or(code);
    problem(reason, error["field_violations"][0]["field"].as_str().unwrap_or_default(), status.message())
}

/// The clients and what the import has looked up once.
struct Importer<'a> {
    client: &'a Client,
    accounts: AccountServiceClient<Channel>,
    credit: CreditServiceClient<Channel>,
    pricing: AccountPricingServiceClient<Channel>,
    catalog: CatalogServiceClient<Channel>,
    request_id: String,
    /// Price level ids by code, read on first use.
    levels: Option<BTreeMap<String, String>>,
    /// Product ids by the id or code a file names.
    products: BTreeMap<String, String>,
}

impl Importer<'_> {
    /// The id of this row's `step` call: the run's id, the line, the step.
    fn id(&self, line: i64, step: &str) -> String {
        format!("{}:{line}:{step}", self.request_id)
    }

    fn request<T>(&self, message: T) -> Result<tonic::Request<T>, Problem> {
        self.client.request(message).map_err(|failure| match failure {
            Failure::Call(status) => refused(status),
            Failure::Other(message) => problem("", "", message),
        })
    }

    async fn account_id(&mut self, external_key: &str) -> Result<String, Problem> {
        if external_key.is_empty() {
            return Err(problem("INVALID_ROW", "external_key", "is required"));
        }
        let request = ListAccountsRequest {
            external_key: external_key.to_owned(),
            page_size: 1,
            ..ListAccountsRequest::default()
        };
        let page = self.accounts.list_accounts(self.request(request)?).await.map_err(refused)?.into_inner();
        page.accounts.into_iter().next().map(|account| account.id).ok_or_else(|| {
            problem("ACCOUNT_UNKNOWN", "external_key", format!("no account has the key {external_key:?}"))
        })
    }

    async fn apply(&mut self, what: Related, line: i64, row: &BTreeMap<String, String>) -> Result<String, Problem> {
        let get = |column: &str| row.get(column).cloned().unwrap_or_default();
        let account_id = self.account_id(&get("external_key")).await?;
        match what {
            Related::Addresses => self.address(line, &account_id, &get).await?,
            Related::Prices => self.price(line, &account_id, &get).await?,
            Related::Business => self.business(line, &account_id, &get).await?,
        }
        Ok(account_id)
    }

    async fn address(&mut self, line: i64, account_id: &str, get: &impl Fn(&str) -> String) -> Result<(), Problem> {
        let kind = match get("type").to_ascii_lowercase().as_str() {
            "billing" => AddressType::Billing,
            "delivery" => AddressType::Delivery,
            "other" | "" => AddressType::Other,
            other => return Err(problem("INVALID_ROW", "type", format!("{other:?}: billing, delivery or other"))),
        };
        let address = Address {
            r#type: kind as i32,
            lines: ["line1", "line2", "line3"]
                .iter()
                .map(|column| get(column))
                .filter(|text| !text.is_empty())
                .collect(),
            city: get("city"),
            region: get("region"),
            postal_code: get("postal_code"),
            country_code: get("country_code"),
            is_primary: yes(&get("primary")),
            override_validation: yes(&get("override_validation")),
            ..Address::default()
        };
        let request = CreateAddressRequest {
            account_id: account_id.to_owned(),
            address: Some(address),
            request_id: self.id(line, "address"),
        };
        self.accounts.create_address(self.request(request)?).await.map_err(refused)?;
        Ok(())
    }

    async fn price(&mut self, line: i64, account_id: &str, get: &impl Fn(&str) -> String) -> Result<(), Problem> {
        let product = get("product");
        let product_id = match self.products.get(&product) {
            Some(id) => id.clone(),
            None => {
                let request = GetProductRequest { product: product.clone() };
                let found = self.catalog.get_product(self.request(request)?).await.map_err(refused)?.into_inner();
                let id = found.product.map(|product| product.id).unwrap_or_default();
                self.products.insert(product, id.clone());
                id
            }
        };
        let currency = get("currency_code");
        let money = |amount: &str| Some(Money { currency_code: currency.clone(), amount: amount.to_owned() });
        let mut breaks = Vec::new();
        for tier in get("breaks").split(';').filter(|tier| !tier.trim().is_empty()) {
            let Some((minimum, price)) = tier.split_once(':') else {
                return Err(problem("INVALID_ROW", "breaks", format!("{tier:?}: write min:price;min:price")));
            };
            breaks.push(QuantityBreak {
                min_quantity: Some(Decimal { value: minimum.trim().to_owned() }),
                price: money(price.trim()),
            });
        }
        let price = AccountPrice {
            account_id: account_id.to_owned(),
            product_id,
            price: money(&get("price")),
            forced: yes(&get("forced")),
            breaks,
            valid_from: get("valid_from"),
            valid_to: get("valid_to"),
            ..AccountPrice::default()
        };
        let request = CreateAccountPriceRequest { account_price: Some(price), request_id: self.id(line, "price") };
        self.pricing.create_account_price(self.request(request)?).await.map_err(refused)?;
        Ok(())
    }

    async fn business(&mut self, line: i64, account_id: &str, get: &impl Fn(&str) -> String) -> Result<(), Problem> {
        let (limit, unlimited) = (get("credit_limit"), get("unlimited"));
        if !limit.is_empty() || !unlimited.is_empty() {
            let read = GetCreditTermsRequest { account_id: account_id.to_owned() };
            let mut terms = self
                .credit
                .get_credit_terms(self.request(read)?)
                .await
                .map_err(refused)?
                .into_inner()
                .terms
                .unwrap_or_default();
            let before = (terms.credit_limit.clone(), terms.unlimited);
            if !limit.is_empty() {
                // The limit as a plain amount (the Money form is the same
                // figure and would have to agree).
                terms.credit_limit = Some(Decimal { value: limit });
                terms.limit = None;
            }
            if !unlimited.is_empty() {
                terms.unlimited = yes(&unlimited);
            }
            // Only a change is written: a row already applied changes
            // nothing (and makes no new history entry).
            let same = same_number(before.0.as_ref(), terms.credit_limit.as_ref()) && before.1 == terms.unlimited;
            if !same {
                let change = ChangeCreditTermsRequest {
                    account_id: account_id.to_owned(),
                    terms: Some(terms),
                    reason: "imported from the business system".to_owned(),
                    request_id: self.id(line, "terms"),
                };
                self.credit.change_credit_terms(self.request(change)?).await.map_err(refused)?;
            }
        }
        let on_hold = get("on_hold");
        if !on_hold.is_empty() {
            let read = GetCreditStatusRequest { account_id: account_id.to_owned() };
            let status = self.credit.get_credit_status(self.request(read)?).await.map_err(refused)?.into_inner();
            let held = status.status.is_some_and(|status| status.on_hold);
            match (yes(&on_hold), held) {
                (true, false) => {
                    let reason = Some(get("hold_reason")).filter(|reason| !reason.is_empty());
                    let hold = PutOnHoldRequest {
                        account_id: account_id.to_owned(),
                        reason: reason.unwrap_or_else(|| "on hold in the business system".to_owned()),
                        request_id: self.id(line, "hold"),
                    };
                    self.credit.put_on_hold(self.request(hold)?).await.map_err(refused)?;
                }
                (false, true) => {
                    let release =
                        ReleaseHoldRequest { account_id: account_id.to_owned(), request_id: self.id(line, "release") };
                    self.credit.release_hold(self.request(release)?).await.map_err(refused)?;
                }
                _ => {}
            }
        }
        let (level, discount) = (get("price_level"), get("discount_percent"));
        if !level.is_empty() || !discount.is_empty() {
            let read = GetAccountPricingRequest { account_id: account_id.to_owned() };
            let mut pricing = self
                .pricing
                .get_account_pricing(self.request(read)?)
                .await
                .map_err(refused)?
                .into_inner()
                .pricing
                .unwrap_or_default();
            let before = (pricing.price_level_id.clone(), pricing.discount_percent.clone());
            if !level.is_empty() {
                pricing.price_level_id = self.level_id(&level).await?;
            }
            if !discount.is_empty() {
                pricing.discount_percent = Some(Decimal { value: discount });
            }
            let same =
                before.0 == pricing.price_level_id && same_number(before.1.as_ref(), pricing.discount_percent.as_ref());
            if !same {
                let set = SetAccountPricingRequest { pricing: Some(pricing), request_id: self.id(line, "pricing") };
                self.pricing.set_account_pricing(self.request(set)?).await.map_err(refused)?;
            }
        }
        let codes = get("payment_types");
        if !codes.is_empty() {
            let mut payment_types = Vec::new();
            for code in codes.split(',').map(str::trim).filter(|code| !code.is_empty()) {
                let payment_type =
                    PaymentType::from_code(code).map_err(|why| problem("INVALID_ROW", "payment_types", why))?;
                payment_types.push(payment_type.to_wire() as i32);
            }
            let read = GetAccountRequest { id: account_id.to_owned() };
            let current = self.accounts.get_account(self.request(read)?).await.map_err(refused)?.into_inner();
            if current.account.map(|account| account.payment_types) != Some(payment_types.clone()) {
                let update = UpdateAccountRequest {
                    account: Some(Account { id: account_id.to_owned(), payment_types, ..Account::default() }),
                    update_mask: Some(prost_types::FieldMask { paths: vec!["payment_types".to_owned()] }),
                    request_id: self.id(line, "payment_types"),
                };
                self.accounts.update_account(self.request(update)?).await.map_err(refused)?;
            }
        }
        Ok(())
    }

    /// The id of the tenant's price level with `code`.
    async fn level_id(&mut self, code: &str) -> Result<String, Problem> {
        if self.levels.is_none() {
            let mut levels = BTreeMap::new();
            let mut page_token = String::new();
            loop {
                let request = ListPriceLevelsRequest { page_size: 500, page_token };
                let page = self.catalog.list_price_levels(self.request(request)?).await.map_err(refused)?.into_inner();
                levels.extend(page.price_levels.into_iter().map(|level| (level.code, level.id)));
                if page.next_page_token.is_empty() {
                    break;
                }
                page_token = page.next_page_token;
            }
            self.levels = Some(levels);
        }
        self.levels.as_ref().and_then(|levels| levels.get(code).cloned()).ok_or_else(|| {
            problem("PRICE_LEVEL_UNKNOWN", "price_level", format!("the tenant has no price level {code:?}"))
        })
    }
}

/// Whether two decimals on the wire are the same number ("500" and
/// "500.00" are); an unreadable one is never the same.
fn same_number(left: Option<&Decimal>, right: Option<&Decimal>) -> bool {
    let number = |value: Option<&Decimal>| value.and_then(|value| value.value.parse::<rust_decimal::Decimal>().ok());
    match (number(left), number(right)) {
        (Some(left), Some(right)) => left == right,
        _ => left.is_none() && right.is_none(),
    }
}

/// Applies every row of `file`; the report names each row's outcome.
pub async fn run(client: &Client, what: Related, file: &Path, request_id: String) -> Result<Outcome, Failure> {
    let (rows, unreadable) = records(file, what.columns(), false)?;
    let channel = client.channel()?;
    let mut importer = Importer {
        client,
        accounts: AccountServiceClient::new(channel.clone()),
        credit: CreditServiceClient::new(channel.clone()),
        pricing: AccountPricingServiceClient::new(channel.clone()),
        catalog: CatalogServiceClient::new(channel),
        request_id,
        levels: None,
        products: BTreeMap::new(),
    };
    let total = (rows.len() + unreadable.len()) as u64;
    let progress = Progress::new(client.output, "rows");
    let mut reports = unreadable;
    let mut applied = 0u64;
    for (line, row) in &rows {
        let report = match importer.apply(what, *line, row).await {
            Ok(account_id) => {
                applied += 1;
                RowReport { line: *line, outcome: "APPLIED", account_id, problems: Vec::new() }
            }
            Err(problem) => {
                RowReport { line: *line, outcome: "REJECTED", account_id: String::new(), problems: vec![problem] }
            }
        };
        reports.push(report);
        progress.show(reports.len() as u64, total, "applied");
    }
    progress.finish();
    Ok(report(reports, json!({ "applied": applied })))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decimal(value: &str) -> Decimal {
        Decimal { value: value.to_owned() }
    }

    #[test]
    fn a_row_already_applied_is_the_same_number_whatever_its_scale() {
        assert!(same_number(Some(&decimal("500")), Some(&decimal("500.00"))));
        assert!(!same_number(Some(&decimal("500")), Some(&decimal("500.01"))));
        assert!(same_number(None, None));
        assert!(!same_number(None, Some(&decimal("0"))), "no limit is not a limit of 0");
        assert!(!same_number(Some(&decimal("lots")), Some(&decimal("lots"))), "unreadable is never the same");
    }
}
