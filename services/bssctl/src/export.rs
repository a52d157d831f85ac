//! `bssctl export`: the tenant's accounts, their addresses, account prices,
//! orders or invoices as a CSV file with a header row, for the business
//! system that keeps its own books. Accounts are read page by page; the
//! rest account by account, with progress on stderr.

use std::future::Future;
use std::path::Path;

use bss_platform::payment::PaymentType;
use bss_proto::accounts::account_service_client::AccountServiceClient;
use bss_proto::accounts::{Account, ListAccountsRequest, ListAddressesRequest};
use bss_proto::billing::invoice_service_client::InvoiceServiceClient;
use bss_proto::billing::order_service_client::OrderServiceClient;
use bss_proto::billing::{ListInvoicesRequest, ListOrdersRequest};
use bss_proto::pricing::ListAccountPricesRequest;
use bss_proto::pricing::account_pricing_service_client::AccountPricingServiceClient;
use bss_proto::types::{Decimal, Money};
use serde_json::json;

use crate::output::{self, Progress};
use crate::{Client, Failure, Outcome};

/// What to export.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Export {
    Accounts,
    Addresses,
    Prices,
    Orders,
    Invoices,
}

/// Rows read per page.
const PAGE: i32 = 500;

/// Every item of a listing, page by page: `page` reads the page of a token
/// and answers its items and the next token (empty after the last).
async fn all_pages<T, F, Fut>(mut page: F) -> Result<Vec<T>, Failure>
where
    F: FnMut(String) -> Fut,
    Fut: Future<Output = Result<(Vec<T>, String), Failure>>,
{
    let mut items = Vec::new();
    let mut token = String::new();
    loop {
        let (mut listed, next) = page(token).await?;
        items.append(&mut listed);
        if next.is_empty() {
            return Ok(items);
        }
        token = next;
    }
}

fn money(money: Option<&Money>) -> (String, String) {
    money.map(|money| (money.amount.clone(), money.currency_code.clone())).unwrap_or_default()
}

fn decimal(value: Option<&Decimal>) -> String {
    value.map(|value| value.value.clone()).unwrap_or_default()
}

fn payment_codes(types: &[i32]) -> String {
    let codes: Vec<&str> =
        types.iter().filter_map(|value| PaymentType::from_wire(*value).ok()).map(PaymentType::code).collect();
    codes.join(",")
}

/// Writes `what` of the token's tenant to `file`; answers what it wrote.
pub async fn run(client: &Client, what: Export, file: &Path) -> Result<Outcome, Failure> {
    let channel = client.channel()?;
    let accounts_client = AccountServiceClient::new(channel.clone());
    let progress = Progress::new(client.output, "accounts");
    let accounts = all_pages(|page_token| {
        let mut accounts_client = accounts_client.clone();
        async move {
            let request = ListAccountsRequest { page_size: PAGE, page_token, ..ListAccountsRequest::default() };
            let page = accounts_client.list_accounts(client.request(request)?).await?.into_inner();
            Ok((page.accounts, page.next_page_token))
        }
    })
    .await?;
    let total = accounts.len() as u64;
    progress.show(0, total, "read");
    let mut writer =
        csv::Writer::from_path(file).map_err(|error| Failure::Other(format!("{}: {error}", file.display())))?;
    let mut rows = 0usize;
    let mut write = |record: Vec<String>| {
        rows += 1;
        writer.write_record(&record).map_err(|error| Failure::Other(error.to_string()))
    };
    let header: &[&str] = match what {
        Export::Accounts => &[
            "id",
            "external_key",
            "code",
            "name",
            "status",
            "currency_code",
            "country_code",
            "email",
            "billing_email",
            "tax_number",
            "payment_types",
            "enable_ordering",
            "sales_rep_id",
            "parent_account_id",
            "last_import_time",
        ],
        Export::Addresses => &[
            "account_id",
            "account_code",
            "id",
            "type",
            "lines",
            "city",
            "region",
            "postal_code",
            "country_code",
            "is_primary",
        ],
        Export::Prices => &[
            "account_id",
            "account_code",
            "id",
            "product_id",
            "price",
            "currency_code",
            "forced",
            "breaks",
            "valid_from",
            "valid_to",
        ],
        Export::Orders => &[
            "account_id",
            "account_code",
            "order_id",
            "reference",
            "status",
            "create_time",
            "line_number",
            "product",
            "quantity",
            "unit_price",
            "line_total",
            "currency_code",
        ],
        Export::Invoices => &[
            "account_id",
            "account_code",
            "invoice_id",
            "for_account_id",
            "number",
            "status",
            "invoice_date",
            "due_date",
            "invoice_total",
            "line_number",
            "description",
            "quantity",
            "unit_price",
            "line_total",
            "currency_code",
            "price_rule",
        ],
    };
    write(header.iter().map(|column| (*column).to_owned()).collect())?;
    for (done, account) in accounts.iter().enumerate() {
        match what {
            Export::Accounts => write(account_row(account))?,
            Export::Addresses => {
                let addresses = all_pages(|page_token| {
                    let mut accounts_client = accounts_client.clone();
                    let account_id = account.id.clone();
                    async move {
                        let request = ListAddressesRequest { account_id, page_size: PAGE, page_token };
                        let page = accounts_client.list_addresses(client.request(request)?).await?.into_inner();
                        Ok((page.addresses, page.next_page_token))
                    }
                })
                .await?;
                for address in addresses {
                    write(vec![
                        account.id.clone(),
                        account.code.clone(),
                        address.id.clone(),
                        address.r#type().as_str_name().to_owned(),
                        address.lines.join("\n"),
                        address.city.clone(),
                        address.region.clone(),
                        address.postal_code.clone(),
                        address.country_code.clone(),
                        address.is_primary.to_string(),
                    ])?;
                }
            }
            Export::Prices => {
                let pricing = AccountPricingServiceClient::new(channel.clone());
                let prices = all_pages(|page_token| {
                    let mut pricing = pricing.clone();
                    let account_id = account.id.clone();
                    async move {
                        let request = ListAccountPricesRequest { account_id, page_size: PAGE, page_token };
                        let page = pricing.list_account_prices(client.request(request)?).await?.into_inner();
                        Ok((page.account_prices, page.next_page_token))
                    }
                })
                .await?;
                for price in prices {
                    let (amount, currency) = money(price.price.as_ref());
                    let breaks: Vec<String> = price
                        .breaks
                        .iter()
                        .map(|tier| format!("{}:{}", decimal(tier.min_quantity.as_ref()), money(tier.price.as_ref()).0))
                        .collect();
                    write(vec![
                        account.id.clone(),
                        account.code.clone(),
                        price.id.clone(),
                        price.product_id.clone(),
                        amount,
                        currency,
                        price.forced.to_string(),
                        breaks.join(";"),
                        price.valid_from.clone(),
                        price.valid_to.clone(),
                    ])?;
                }
            }
            Export::Orders => {
                let orders_client = OrderServiceClient::new(channel.clone());
                let orders = all_pages(|page_token| {
                    let mut orders_client = orders_client.clone();
                    let account_id = account.id.clone();
                    async move {
                        let request =
                            ListOrdersRequest { account_id, page_size: PAGE, page_token, back_ordered_only: false };
                        let page = orders_client.list_orders(client.request(request)?).await?.into_inner();
                        Ok((page.orders, page.next_page_token))
                    }
                })
                .await?;
                for order in orders {
                    for (index, line) in order.lines.iter().enumerate() {
                        let (unit_price, currency) = money(line.unit_price.as_ref());
                        write(vec![
                            account.id.clone(),
                            account.code.clone(),
                            order.id.clone(),
                            order.reference.clone(),
                            order.status().as_str_name().to_owned(),
                            output::time(order.create_time.as_ref()),
                            (index + 1).to_string(),
                            line.product.clone(),
                            decimal(line.quantity.as_ref()),
                            unit_price,
                            money(line.total.as_ref()).0,
                            currency,
                        ])?;
                    }
                }
            }
            Export::Invoices => {
                let invoices_client = InvoiceServiceClient::new(channel.clone());
                let invoices = all_pages(|page_token| {
                    let mut invoices_client = invoices_client.clone();
                    let account_id = account.id.clone();
                    async move {
                        let request = ListInvoicesRequest {
                            account_id,
                            page_size: PAGE,
                            page_token,
                            ..ListInvoicesRequest::default()
                        };
                        let page = invoices_client.list_invoices(client.request(request)?).await?.into_inner();
                        Ok((page.invoices, page.next_page_token))
                    }
                })
                .await?;
                // An invoice held for a sub-account is listed under its
                // payer too: each is written once, under the account billed.
                for invoice in invoices.into_iter().filter(|invoice| invoice.account_id == account.id) {
                    let (invoice_total, currency) = money(invoice.total.as_ref());
                    for (index, line) in invoice.lines.iter().enumerate() {
                        write(vec![
                            account.id.clone(),
                            account.code.clone(),
                            invoice.id.clone(),
                            invoice.for_account_id.clone(),
                            invoice.number.to_string(),
                            invoice.status().as_str_name().to_owned(),
                            invoice.invoice_date.clone(),
                            invoice.due_date.clone(),
                            invoice_total.clone(),
                            (index + 1).to_string(),
                            line.description.clone(),
                            decimal(line.quantity.as_ref()),
                            money(line.unit_price.as_ref()).0,
                            money(line.total.as_ref()).0,
                            currency.clone(),
                            line.price_rule.clone(),
                        ])?;
                    }
                }
            }
        }
        progress.show(done as u64 + 1, total, "exported");
    }
    progress.finish();
    writer.flush().map_err(|error| Failure::Other(error.to_string()))?;
    let export = format!("{what:?}").to_lowercase();
    Ok(json!({ "export": export, "file": file.display().to_string(), "accounts": total, "rows": rows - 1 }).into())
}

fn account_row(account: &Account) -> Vec<String> {
    vec![
        account.id.clone(),
        account.external_key.clone(),
        account.code.clone(),
        account.name.clone(),
        account.status().as_str_name().to_owned(),
        account.currency_code.clone(),
        account.country_code.clone(),
        account.email.clone(),
        account.billing_email.clone(),
        account.tax_number.clone(),
        payment_codes(&account.payment_types),
        account.enable_ordering.to_string(),
        account.sales_rep_id.clone(),
        account.parent_account_id.clone(),
        output::time(account.last_import_time.as_ref()),
    ]
}
