//! `bssctl products`, `bssctl prices` and `bssctl quote`: the catalog, the
//! prices that apply to an account, and a priced quote with the reasons
//! each line's price won.

use bss_proto::pricing::account_pricing_service_client::AccountPricingServiceClient;
use bss_proto::pricing::catalog_service_client::CatalogServiceClient;
use bss_proto::pricing::quote_service_client::QuoteServiceClient;
use bss_proto::pricing::{
    AccountPrice, CreateAccountPriceRequest, CreateProductRequest, GetProductRequest, LevelPrice,
    ListAccountPricesRequest, ListPriceLevelsRequest, ListProductsRequest, Product, ProductAvailability,
    QuoteLineRequest, QuoteRequest, SetLevelPriceRequest,
};
use bss_proto::types::{Decimal, Money};
use clap::Subcommand;
use serde_json::{Value, json};

use crate::output::{self, message, messages};
use crate::{Client, Failure, Outcome, PageArgs, RetryArgs, enum_arg};

#[derive(Subcommand)]
pub enum ProductsCommand {
    /// A product, by id or code.
    Get { product: String },
    /// The tenant's products by code.
    List {
        /// Only this product family.
        #[arg(long)]
        family: Option<String>,
        #[command(flatten)]
        page: PageArgs,
    },
    /// Create a product with its list price.
    Create {
        #[arg(long)]
        code: String,
        #[arg(long)]
        name: String,
        /// The list price, exact (`10.00`).
        #[arg(long)]
        price: String,
        /// ISO 4217 code of the list price.
        #[arg(long)]
        currency: String,
        #[arg(long, default_value = "")]
        family: String,
        #[arg(long, default_value = "")]
        product_type: String,
        /// public, or contract_only (sold only under a contract).
        #[arg(long, default_value = "public")]
        availability: String,
        #[command(flatten)]
        retry: RetryArgs,
    },
}

#[derive(Subcommand)]
pub enum PricesCommand {
    /// The tenant's price levels.
    Levels {
        #[command(flatten)]
        page: PageArgs,
    },
    /// Set a product's price on a price level.
    SetLevel {
        /// The level's id (see `bssctl prices levels`).
        #[arg(long)]
        level: String,
        /// The product's id.
        #[arg(long)]
        product: String,
        #[arg(long)]
        price: String,
        #[arg(long)]
        currency: String,
        #[command(flatten)]
        retry: RetryArgs,
    },
    /// An account's own prices.
    Account {
        account: String,
        #[command(flatten)]
        page: PageArgs,
    },
    /// Give an account its own price of a product.
    SetAccount {
        #[arg(long)]
        account: String,
        /// The product's id.
        #[arg(long)]
        product: String,
        #[arg(long)]
        price: String,
        #[arg(long)]
        currency: String,
        /// Wins over every other price, even a lower one.
        #[arg(long)]
        forced: bool,
        /// First day it applies, YYYY-MM-DD; today (UTC) when unset.
        #[arg(long)]
        valid_from: Option<String>,
        /// Last day it applies, YYYY-MM-DD.
        #[arg(long, default_value = "")]
        valid_to: String,
        #[command(flatten)]
        retry: RetryArgs,
    },
}

/// `bssctl quote ACCOUNT --line WIDGET=3`: what the account would pay.
#[derive(clap::Args)]
pub struct QuoteArgs {
    account: String,
    /// A product (id or code) and its quantity, `PRODUCT=QUANTITY`; repeat
    /// for more lines.
    #[arg(long = "line", required = true)]
    lines: Vec<String>,
    /// The day priced, YYYY-MM-DD; today when unset.
    #[arg(long, default_value = "")]
    date: String,
    /// ISO 4217 code; the account's currency when unset.
    #[arg(long, default_value = "")]
    currency: String,
    /// With each line's candidate prices and why the winner won.
    #[arg(long)]
    explain: bool,
    /// Priced by this version of the tenant's price book or a later one
    /// (the `book_version` a pricing write answered); 0: the newest the
    /// pricing replica has heard of.
    #[arg(long, default_value_t = 0)]
    min_book_version: i64,
}

pub async fn products(client: &Client, command: ProductsCommand) -> Result<Value, Failure> {
    let mut catalog = CatalogServiceClient::new(client.channel()?);
    Ok(match command {
        ProductsCommand::Get { product } => {
            let found = catalog.get_product(client.request(GetProductRequest { product })?).await?;
            message(&found.into_inner().product.unwrap_or_default())
        }
        ProductsCommand::List { family, page } => {
            let request = ListProductsRequest {
                page_size: page.page_size,
                page_token: page.page_token.unwrap_or_default(),
                family: family.unwrap_or_default(),
            };
            let listed = catalog.list_products(client.request(request)?).await?.into_inner();
            json!({ "products": messages(&listed.products), "next_page_token": listed.next_page_token })
        }
        ProductsCommand::Create { code, name, price, currency, family, product_type, availability, retry } => {
            let availability =
                enum_arg("--availability", "PRODUCT_AVAILABILITY_", &availability, ProductAvailability::from_str_name)?;
            let product = Product {
                code,
                name,
                family,
                product_type,
                availability: availability as i32,
                list_price: Some(Money { currency_code: currency, amount: price }),
                ..Product::default()
            };
            let request_id = retry.derived_request_id("products-create", &prost::Message::encode_to_vec(&product));
            let request = CreateProductRequest { product: Some(product), request_id };
            message(&catalog.create_product(client.request(request)?).await?.into_inner().product.unwrap_or_default())
        }
    })
}

pub async fn prices(client: &Client, command: PricesCommand) -> Result<Value, Failure> {
    Ok(match command {
        PricesCommand::Levels { page } => {
            let mut catalog = CatalogServiceClient::new(client.channel()?);
            let request =
                ListPriceLevelsRequest { page_size: page.page_size, page_token: page.page_token.unwrap_or_default() };
            let listed = catalog.list_price_levels(client.request(request)?).await?.into_inner();
            json!({ "price_levels": messages(&listed.price_levels), "next_page_token": listed.next_page_token })
        }
        PricesCommand::SetLevel { level, product, price, currency, retry } => {
            let mut catalog = CatalogServiceClient::new(client.channel()?);
            let level_price = LevelPrice {
                level_id: level,
                product_id: product,
                price: Some(Money { currency_code: currency, amount: price }),
                breaks: Vec::new(),
            };
            // A set, not a create: setting 10, 12 and 10 again must write
            // the third time, so each run takes a fresh id.
            let request = SetLevelPriceRequest { level_price: Some(level_price), request_id: retry.request_id() };
            let set = catalog.set_level_price(client.request(request)?).await?.into_inner();
            message(&set.level_price.unwrap_or_default())
        }
        PricesCommand::Account { account, page } => {
            let mut pricing = AccountPricingServiceClient::new(client.channel()?);
            let request = ListAccountPricesRequest {
                account_id: account,
                page_size: page.page_size,
                page_token: page.page_token.unwrap_or_default(),
            };
            let listed = pricing.list_account_prices(client.request(request)?).await?.into_inner();
            json!({ "account_prices": messages(&listed.account_prices), "next_page_token": listed.next_page_token })
        }
        PricesCommand::SetAccount { account, product, price, currency, forced, valid_from, valid_to, retry } => {
            let mut pricing = AccountPricingServiceClient::new(client.channel()?);
            let account_price = AccountPrice {
                account_id: account,
                product_id: product,
                price: Some(Money { currency_code: currency, amount: price }),
                forced,
                valid_from: valid_from
                    .unwrap_or_else(|| bss_platform::time::format_date(bss_platform::time::now().date_naive())),
                valid_to,
                ..AccountPrice::default()
            };
            let request_id =
                retry.derived_request_id("prices-set-account", &prost::Message::encode_to_vec(&account_price));
            let request = CreateAccountPriceRequest { account_price: Some(account_price), request_id };
            let created = pricing.create_account_price(client.request(request)?).await?.into_inner();
            message(&created.account_price.unwrap_or_default())
        }
    })
}

pub async fn quote(client: &Client, args: QuoteArgs) -> Result<Outcome, Failure> {
    let lines = args
        .lines
        .iter()
        .map(|line| match line.rsplit_once('=') {
            Some((product, quantity)) if !product.is_empty() && !quantity.is_empty() => Ok(QuoteLineRequest {
                product: product.to_owned(),
                quantity: Some(Decimal { value: quantity.to_owned() }),
                ..QuoteLineRequest::default()
            }),
            _ => Err(Failure::Other(format!("--line {line}: expected PRODUCT=QUANTITY"))),
        })
        .collect::<Result<Vec<_>, _>>()?;
    let request = QuoteRequest {
        account_id: args.account,
        currency_code: args.currency,
        date: args.date,
        lines,
        explain: args.explain,
        guest_region: String::new(),
        min_book_version: args.min_book_version,
    };
    let mut quotes = QuoteServiceClient::new(client.channel()?);
    let quoted = quotes.quote(client.request(request)?).await?.into_inner();
    let document = message(&quoted);
    let text = explained(&document);
    Ok(Outcome { document, code: 0, text: Some(text) })
}

/// A quote as text: its total, a table of its lines, then each line's
/// candidate prices with the reason each lost or won.
fn explained(document: &Value) -> String {
    let lines = document["lines"].as_array().cloned().unwrap_or_default();
    let summary: Vec<Value> = lines
        .iter()
        .map(|line| {
            json!({ "line": line["line_number"], "product": line["product_code"], "quantity": line["quantity"],
                    "unit_price": line["unit_price"], "total": line["total"], "rule": line["rule"],
                    "source": line["source_id"], "quantity_break": line["quantity_break"] })
        })
        .collect();
    let mut text = output::text(&json!({ "account_id": document["account_id"],
        "priced_as_account_id": document["priced_as_account_id"], "date": document["date"],
        "total": document["total"], "lines": summary }));
    for line in &lines {
        let candidates: Vec<Value> = line["candidates"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|candidate| {
                json!({ "won": candidate["won"], "rule": candidate["rule"], "source": candidate["source_id"],
                        "original_price": candidate["original_price"], "price": candidate["price"],
                        "forced": candidate["forced"], "reason": candidate["reason"] })
            })
            .collect();
        if !candidates.is_empty() {
            let heading =
                format!("line {} ({}) candidates", line["line_number"], output::scalar(&line["product_code"]));
            text.push_str(&output::text(&json!({ heading: candidates })));
        }
    }
    text
}
