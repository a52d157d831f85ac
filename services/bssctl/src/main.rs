//! `bssctl`, the operator's command line. It talks to the gateway like any
//! client: development tokens, tenants and accounts, CSV imports with a
//! per-row report, credit terms and held orders, products, prices and
//! explained quotes, subscriptions, invoices, payments, billing runs
//! followed to the end, and the reseller sync's status and failures.
//! `--output json` prints one JSON document on stdout for scripts, `csv` a
//! list's rows; progress goes to stderr.
//!
//! Exit codes: 0 done, 1 refused or failed, 2 an import finished with
//! rejected rows.

mod books;
mod catalog;
mod credit;
mod csv_import;
mod export;
mod output;
mod related_import;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use bss_platform::auth::{DEVELOPMENT_HS256_SECRET, Role, TokenIssuer, TokenSpec};
use bss_platform::payment::PaymentType;
use bss_proto::accounts::account_service_client::AccountServiceClient;
use bss_proto::accounts::tenant_service_client::TenantServiceClient;
use bss_proto::accounts::{
    Account, CreateAccountRequest, CreateTenantRequest, GetAccountRequest, GetTenantRequest, ListAccountsRequest,
    ListTenantsRequest, Tenant,
};
use bss_proto::billing::invoice_service_client::InvoiceServiceClient;
use bss_proto::billing::{BillingRun, BillingRunStatus, GetBillingRunRequest, StartBillingRunRequest};
use bss_proto::resellersync::reseller_sync_service_client::ResellerSyncServiceClient;
use bss_proto::resellersync::{GetSyncStatusRequest, ListSyncFailuresRequest};
use clap::{Args, Parser, Subcommand};
use prost::Message;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tonic::transport::Channel;

use crate::output::{Output, Progress};

#[derive(Parser)]
#[command(name = "bssctl", version, about = "Operate the BSS account suite through its gateway")]
struct Cli {
    /// The gateway's URL.
    #[arg(long, global = true, env = "BSS_GATEWAY", default_value = "http://127.0.0.1:50050")]
    gateway: String,
    /// Bearer token of the caller (see `bssctl token`).
    #[arg(long, global = true, env = "BSS_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// `table` (or `text`) for people, `json` for scripts, `csv` for
    /// spreadsheets (a list's rows, or the document as one row).
    #[arg(long, short = 'o', global = true, value_enum, default_value_t = Output::Table)]
    output: Output,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Mint a development token (HS256; accepted only where that secret is configured).
    Token(TokenArgs),
    /// Tenants: get, list, create (platform administrators).
    #[command(subcommand)]
    Tenants(TenantsCommand),
    /// Accounts of the token's tenant: get, list, create, import.
    #[command(subcommand)]
    Accounts(AccountsCommand),
    /// Credit: an account's terms and status, holds.
    #[command(subcommand)]
    Credit(credit::CreditCommand),
    /// Orders credit held for a decision: list, approve, reject.
    #[command(subcommand, name = "held-orders")]
    HeldOrders(credit::HeldOrdersCommand),
    /// The catalog: get, list, create products.
    #[command(subcommand)]
    Products(catalog::ProductsCommand),
    /// Price levels, level prices and accounts' own prices.
    #[command(subcommand)]
    Prices(catalog::PricesCommand),
    /// Price products for an account; `--explain` shows why each price won.
    Quote(catalog::QuoteArgs),
    /// Subscriptions: get, list, create, cancel; an account's billing anchor.
    #[command(subcommand)]
    Subscriptions(books::SubscriptionsCommand),
    /// Invoices: get, list, post, void.
    #[command(subcommand)]
    Invoices(books::InvoicesCommand),
    /// Payments: record one, read an account's balance.
    #[command(subcommand)]
    Payments(books::PaymentsCommand),
    /// Billing runs: start one and follow its progress.
    #[command(subcommand)]
    Billing(BillingCommand),
    /// The reseller sync of the token's tenant: status and failures.
    #[command(subcommand)]
    Sync(SyncCommand),
    /// Apply what a business system keeps of existing accounts (found by
    /// external_key) from a CSV file with a header row. addresses: type
    /// (billing, delivery, other), line1..line3, city, region,
    /// postal_code, country_code, primary, override_validation. prices:
    /// product (id or code), price, currency_code, forced, valid_from,
    /// valid_to, breaks ("min:price;min:price"). business: credit_limit,
    /// unlimited, on_hold, hold_reason, price_level (code),
    /// discount_percent, payment_types (codes such as "AC,CC"); empty cells
    /// change nothing.
    Import {
        #[arg(value_enum)]
        what: related_import::Related,
        file: PathBuf,
        #[command(flatten)]
        retry: RetryArgs,
    },
    /// Write the tenant's accounts, addresses, account prices, orders
    /// (a row per line) or invoices (a row per line) to a CSV file with a
    /// header row, for a business system; progress on stderr.
    Export {
        #[arg(value_enum)]
        what: export::Export,
        /// The CSV file to write.
        #[arg(long)]
        out: PathBuf,
    },
}

#[derive(Args)]
struct TokenArgs {
    /// Tenant id, `*` for a service identity, or nothing for a platform admin.
    #[arg(long)]
    tenant: Option<String>,
    /// Roles, comma separated (platform_admin, tenant_admin, account_manager,
    /// sales_rep, credit_manager, billing_clerk, integration, customer_user).
    #[arg(long, value_delimiter = ',', default_value = "tenant_admin")]
    roles: Vec<Role>,
    /// The sales-rep id a sales_rep token is limited to.
    #[arg(long)]
    sales_rep_id: Option<String>,
    /// The user a customer_user token acts as (for that user's account).
    #[arg(long)]
    user_id: Option<uuid::Uuid>,
    #[arg(long, default_value = "operator")]
    subject: String,
    #[arg(long, default_value_t = 12)]
    ttl_hours: u64,
    /// The HS256 secret the suite verifies with.
    #[arg(long, env = "BSS_AUTH__HS256_SECRET", default_value = DEVELOPMENT_HS256_SECRET, hide_env_values = true)]
    hs256_secret: String,
    #[arg(long, env = "BSS_AUTH__ISSUER", default_value = "bss-dev")]
    issuer: String,
    #[arg(long, env = "BSS_AUTH__AUDIENCE", default_value = "bss")]
    audience: String,
}

#[derive(Subcommand)]
enum TenantsCommand {
    Get {
        id: String,
    },
    List {
        #[arg(long, default_value_t = 100)]
        page_size: i32,
        /// `next_page_token` of the previous page.
        #[arg(long)]
        page_token: Option<String>,
        /// Only the tenants under this parent tenant.
        #[arg(long)]
        parent: Option<String>,
    },
    Create {
        #[arg(long)]
        name: String,
        /// ISO 4217 code of the tenant's default currency.
        #[arg(long)]
        currency: String,
        /// Parent tenant (a reseller under its distributor).
        #[arg(long)]
        parent: Option<String>,
        /// Its accounts may use other currencies than the default (the
        /// documents' multi-currency setting; off unless given).
        #[arg(long)]
        multi_currency: bool,
        #[command(flatten)]
        retry: RetryArgs,
    },
}

#[derive(Subcommand)]
enum AccountsCommand {
    Get {
        id: String,
    },
    List {
        /// Part of the name (reads every account of the tenant: for small
        /// tenants).
        #[arg(long)]
        name: Option<String>,
        /// Start of the code, case-sensitive (an index serves it).
        #[arg(long)]
        code_prefix: Option<String>,
        /// Start of the name, in any case (an index serves it).
        #[arg(long)]
        name_prefix: Option<String>,
        #[arg(long, default_value_t = 100)]
        page_size: i32,
        /// `next_page_token` of the previous page.
        #[arg(long)]
        page_token: Option<String>,
    },
    Create {
        #[arg(long)]
        code: String,
        #[arg(long)]
        name: String,
        #[arg(long)]
        email: Option<String>,
        #[arg(long)]
        external_key: Option<String>,
        /// ISO 4217 code; the tenant's default when unset.
        #[arg(long)]
        currency: Option<String>,
        /// How it may pay, by code, comma separated (AC on account, CC
        /// card, PP PayPal, DD direct deposit, RQ running quote).
        #[arg(long, value_delimiter = ',')]
        payment_types: Vec<String>,
        /// It may place orders (with a payment type).
        #[arg(long)]
        enable_ordering: bool,
        #[command(flatten)]
        retry: RetryArgs,
    },
    /// Create or update accounts by external key from a CSV file with a
    /// header row. Columns: external_key (required), code, name, email,
    /// billing_email, contact_name, tax_number, currency_code,
    /// payment_types (codes such as "AC,CC"), territory, account_class,
    /// sales_rep_id, shipping_method, enable_ordering (true/false), and
    /// custom.<field> for custom fields.
    Import {
        file: PathBuf,
        /// Rows per message sent.
        #[arg(long, default_value_t = 500)]
        batch_size: usize,
        #[command(flatten)]
        retry: RetryArgs,
    },
}

#[derive(Subcommand)]
enum BillingCommand {
    /// Start a billing run of the token's tenant and follow it to the end.
    Run {
        /// Invoice date, YYYY-MM-DD; today (UTC) when unset.
        #[arg(long)]
        date: Option<String>,
        /// Post the invoices.
        #[arg(long)]
        post: bool,
        /// Return once started instead of following the run.
        #[arg(long)]
        no_follow: bool,
        #[command(flatten)]
        retry: RetryArgs,
    },
    /// Show a billing run; `--follow` waits for it to end.
    Status {
        id: String,
        #[arg(long)]
        follow: bool,
    },
}

#[derive(Subcommand)]
enum SyncCommand {
    /// Position and lag behind each source stream, and the failure count.
    Status,
    /// Events set aside, oldest first.
    Failures,
}

/// One page of a list.
#[derive(Args)]
pub struct PageArgs {
    #[arg(long, default_value_t = 100)]
    pub page_size: i32,
    /// `next_page_token` of the previous page.
    #[arg(long)]
    pub page_token: Option<String>,
}

/// A value of a contract's enum given on the command line without its
/// prefix and in any case: `pending` for `HELD_ORDER_STATE_PENDING`.
pub fn enum_arg<E>(option: &str, prefix: &str, given: &str, parse: impl Fn(&str) -> Option<E>) -> Result<E, Failure> {
    let name = format!("{prefix}{}", given.trim().to_ascii_uppercase().replace('-', "_"));
    parse(&name).ok_or_else(|| Failure::Other(format!("{option}: {given} is not one of the values")))
}

#[derive(Args)]
pub struct RetryArgs {
    /// Id of this request: running the command again with the same id has
    /// the first run's effect only. Unset: a create derives it from what it
    /// creates (running it again makes no duplicate; name another id to
    /// create the same again), any other command takes a fresh one.
    #[arg(long)]
    request_id: Option<String>,
}

impl RetryArgs {
    /// The id given, else a fresh one: for a command that acts each time.
    pub fn request_id(&self) -> String {
        self.request_id.clone().unwrap_or_else(|| uuid::Uuid::new_v4().to_string())
    }

    /// The id given, else one derived from `command` and `content` (what
    /// it creates): the same create run again is answered with what the
    /// first run made.
    pub fn derived_request_id(&self, command: &str, content: &[u8]) -> String {
        self.request_id.clone().unwrap_or_else(|| {
            let digest = Sha256::digest(content);
            let hex: String = digest[..16].iter().map(|byte| format!("{byte:02x}")).collect();
            format!("bssctl:{command}:{hex}")
        })
    }
}

/// How far the suite's clock may be behind this machine's before a fresh
/// create looks like an earlier run's.
const CLOCK_SKEW: Duration = Duration::from_secs(2);

/// Says on stderr when a create was answered with what an earlier run made
/// (the same request id, so nothing new was made).
pub fn note_replay(what: &str, created: Option<&prost_types::Timestamp>, started: std::time::SystemTime) {
    if let Some(notice) = replay_notice(what, created, started) {
        eprintln!("bssctl: {notice}");
    }
}

/// What [`note_replay`] says, when `created` (the suite's clock) is more
/// than [`CLOCK_SKEW`] before `started` (this machine's).
fn replay_notice(
    what: &str,
    created: Option<&prost_types::Timestamp>,
    started: std::time::SystemTime,
) -> Option<String> {
    let when = created?;
    let created = bss_platform::time::system_time(Some(when))?;
    (created + CLOCK_SKEW < started).then(|| {
        format!(
            "this {what} was made by an earlier run with the same request id (at {when}); nothing new was made: \
             pass another --request-id to make another"
        )
    })
}

/// Why a command failed.
#[derive(Debug)]
pub enum Failure {
    /// The suite refused or failed the call.
    Call(tonic::Status),
    /// Anything else: a file, an argument, the connection.
    Other(String),
}

impl From<tonic::Status> for Failure {
    fn from(status: tonic::Status) -> Failure {
        Failure::Call(status)
    }
}

/// What a command did: its document, its exit code, and a text of its own
/// when the document's generic text would not do.
pub struct Outcome {
    pub document: Value,
    pub code: u8,
    pub text: Option<String>,
}

impl From<Value> for Outcome {
    fn from(document: Value) -> Outcome {
        Outcome { document, code: 0, text: None }
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let format = cli.output;
    match execute(cli).await {
        Ok(outcome) => {
            match (format, &outcome.text) {
                (Output::Table, Some(text)) => print!("{text}"),
                _ => output::print(format, &outcome.document),
            }
            ExitCode::from(outcome.code)
        }
        Err(failure) => {
            output::print_failure(format, &failure);
            ExitCode::FAILURE
        }
    }
}

async fn execute(cli: Cli) -> Result<Outcome, Failure> {
    let client = Client { gateway: cli.gateway, token: cli.token, output: cli.output };
    match cli.command {
        Command::Token(args) => {
            // As text, the bare token: `export BSS_TOKEN=$(bssctl token ...)`.
            let token = mint(&args);
            Ok(Outcome { document: json!({ "token": token }), code: 0, text: Some(format!("{token}\n")) })
        }
        Command::Tenants(command) => tenants(&client, command).await.map(Outcome::from),
        Command::Accounts(command) => accounts(&client, command).await,
        Command::Credit(command) => credit::credit(&client, command).await.map(Outcome::from),
        Command::HeldOrders(command) => credit::held_orders(&client, command).await.map(Outcome::from),
        Command::Products(command) => catalog::products(&client, command).await.map(Outcome::from),
        Command::Prices(command) => catalog::prices(&client, command).await.map(Outcome::from),
        Command::Quote(args) => catalog::quote(&client, args).await,
        Command::Subscriptions(command) => books::subscriptions(&client, command).await.map(Outcome::from),
        Command::Invoices(command) => books::invoices(&client, command).await.map(Outcome::from),
        Command::Payments(command) => books::payments(&client, command).await.map(Outcome::from),
        Command::Billing(command) => billing(&client, command).await,
        Command::Sync(command) => sync(&client, command).await.map(Outcome::from),
        Command::Export { what, out } => export::run(&client, what, &out).await,
        Command::Import { what, file, retry } => {
            // The same file applied again creates nothing twice.
            let content =
                std::fs::read(&file).map_err(|error| Failure::Other(format!("{}: {error}", file.display())))?;
            let request_id = retry.derived_request_id(&format!("import-{what:?}"), &content);
            related_import::run(&client, what, &file, request_id).await
        }
    }
}

fn mint(args: &TokenArgs) -> String {
    TokenIssuer::hs256(&args.hs256_secret, &args.issuer, &args.audience).mint(&TokenSpec {
        subject: args.subject.clone(),
        tenant: args.tenant.clone(),
        roles: args.roles.clone(),
        sales_rep_id: args.sales_rep_id.clone(),
        user_id: args.user_id,
        ttl: Duration::from_secs(args.ttl_hours * 3600),
    })
}

/// The gateway and the caller's token.
pub struct Client {
    gateway: String,
    token: Option<String>,
    output: Output,
}

impl Client {
    fn channel(&self) -> Result<Channel, Failure> {
        bss_platform::client::channel(&self.gateway, None).map_err(|error| Failure::Other(error.to_string()))
    }

    /// `message` with the caller's token.
    fn request<T>(&self, message: T) -> Result<tonic::Request<T>, Failure> {
        let mut request = tonic::Request::new(message);
        let token = self.token.as_deref().ok_or_else(|| {
            Failure::Other("no token: pass --token or set BSS_TOKEN (`bssctl token` mints one for development)".into())
        })?;
        let value = format!("Bearer {token}").parse().map_err(|_| Failure::Other("the token is not ASCII".into()))?;
        request.metadata_mut().insert("authorization", value);
        Ok(request)
    }
}

async fn tenants(client: &Client, command: TenantsCommand) -> Result<Value, Failure> {
    let mut tenants = TenantServiceClient::new(client.channel()?);
    Ok(match command {
        TenantsCommand::Get { id } => {
            let tenant = tenants.get_tenant(client.request(GetTenantRequest { id })?).await?.into_inner().tenant;
            output::tenant(&tenant.unwrap_or_default())
        }
        TenantsCommand::List { page_size, page_token, parent } => {
            let request = ListTenantsRequest {
                page_size,
                page_token: page_token.unwrap_or_default(),
                parent_tenant_id: parent.unwrap_or_default(),
            };
            let page = tenants.list_tenants(client.request(request)?).await?.into_inner();
            json!({ "tenants": page.tenants.iter().map(output::tenant).collect::<Vec<_>>(),
                    "next_page_token": page.next_page_token })
        }
        TenantsCommand::Create { name, currency, parent, multi_currency, retry } => {
            let tenant = Tenant {
                name,
                default_currency: currency,
                parent_tenant_id: parent.unwrap_or_default(),
                multi_currency,
                ..Tenant::default()
            };
            let request_id = retry.derived_request_id("tenants-create", &tenant.encode_to_vec());
            let request = CreateTenantRequest { tenant: Some(tenant), request_id };
            let created = tenants.create_tenant(client.request(request)?).await?.into_inner().tenant;
            output::tenant(&created.unwrap_or_default())
        }
    })
}

async fn accounts(client: &Client, command: AccountsCommand) -> Result<Outcome, Failure> {
    let mut accounts = AccountServiceClient::new(client.channel()?);
    Ok(match command {
        AccountsCommand::Get { id } => {
            let account = accounts.get_account(client.request(GetAccountRequest { id })?).await?.into_inner().account;
            output::account(&account.unwrap_or_default()).into()
        }
        AccountsCommand::List { name, code_prefix, name_prefix, page_size, page_token } => {
            let request = ListAccountsRequest {
                name: name.unwrap_or_default(),
                code_prefix: code_prefix.unwrap_or_default(),
                name_prefix: name_prefix.unwrap_or_default(),
                page_size,
                page_token: page_token.unwrap_or_default(),
                ..ListAccountsRequest::default()
            };
            let page = accounts.list_accounts(client.request(request)?).await?.into_inner();
            json!({ "accounts": page.accounts.iter().map(output::account).collect::<Vec<_>>(),
                    "next_page_token": page.next_page_token })
            .into()
        }
        AccountsCommand::Create {
            code,
            name,
            email,
            external_key,
            currency,
            payment_types,
            enable_ordering,
            retry,
        } => {
            let payment_types = payment_types
                .iter()
                .filter(|code| !code.trim().is_empty())
                .map(|code| PaymentType::from_code(code).map(|payment_type| payment_type.to_wire() as i32))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|why| Failure::Other(format!("--payment-types: {why}")))?;
            let account = Account {
                code,
                name,
                email: email.unwrap_or_default(),
                external_key: external_key.unwrap_or_default(),
                currency_code: currency.unwrap_or_default(),
                payment_types,
                enable_ordering,
                ..Account::default()
            };
            let request_id = retry.derived_request_id("accounts-create", &account.encode_to_vec());
            let request = CreateAccountRequest { account: Some(account), request_id };
            let created = accounts.create_account(client.request(request)?).await?.into_inner().account;
            output::account(&created.unwrap_or_default()).into()
        }
        AccountsCommand::Import { file, batch_size, retry } => {
            // The same file imported again changes nothing it changed before.
            let content =
                std::fs::read(&file).map_err(|error| Failure::Other(format!("{}: {error}", file.display())))?;
            let request_id = retry.derived_request_id("accounts-import", &content);
            csv_import::run(client, &mut accounts, &file, batch_size.max(1), request_id).await?
        }
    })
}

async fn billing(client: &Client, command: BillingCommand) -> Result<Outcome, Failure> {
    let mut invoices = InvoiceServiceClient::new(client.channel()?);
    let (run, follow) = match command {
        BillingCommand::Run { date, post, no_follow, retry } => {
            let request =
                StartBillingRunRequest { invoice_date: date.unwrap_or_default(), post, request_id: retry.request_id() };
            let run = invoices.start_billing_run(client.request(request)?).await?.into_inner().run;
            (run.unwrap_or_default(), !no_follow)
        }
        BillingCommand::Status { id, follow } => {
            let run = invoices.get_billing_run(client.request(GetBillingRunRequest { id })?).await?.into_inner().run;
            (run.unwrap_or_default(), follow)
        }
    };
    let run = if follow { follow_run(client, &mut invoices, run).await? } else { run };
    let failed = run.status() == BillingRunStatus::Failed;
    Ok(Outcome { document: output::billing_run(&run), code: u8::from(failed), text: None })
}

/// Polls the run until it ends, showing its progress.
async fn follow_run(
    client: &Client,
    invoices: &mut InvoiceServiceClient<Channel>,
    mut run: BillingRun,
) -> Result<BillingRun, Failure> {
    let progress = Progress::new(client.output, "accounts");
    loop {
        progress.show(
            run.accounts_done.max(0) as u64,
            run.accounts_total.max(0) as u64,
            &format!("billing run {}: {} invoices", run.id, run.invoices_created),
        );
        if run.status() != BillingRunStatus::Running {
            progress.finish();
            return Ok(run);
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
        let request = client.request(GetBillingRunRequest { id: run.id.clone() })?;
        run = invoices.get_billing_run(request).await?.into_inner().run.unwrap_or_default();
    }
}

async fn sync(client: &Client, command: SyncCommand) -> Result<Value, Failure> {
    let mut sync = ResellerSyncServiceClient::new(client.channel()?);
    Ok(match command {
        SyncCommand::Status => {
            let status = sync.get_sync_status(client.request(GetSyncStatusRequest {})?).await?.into_inner();
            let streams: Vec<Value> = status
                .streams
                .iter()
                .map(|stream| {
                    json!({ "stream": stream.stream, "position": stream.position,
                            "last_event_time": output::time(stream.last_event_time.as_ref()),
                            "lag_millis": stream.lag_millis })
                })
                .collect();
            // A list of the streams (all of them: no page follows), with
            // how many events failed.
            json!({ "streams": streams, "failures": status.failures, "next_page_token": "" })
        }
        SyncCommand::Failures => {
            // Every page.
            let mut listed = Vec::new();
            let mut page_token = String::new();
            loop {
                let request = ListSyncFailuresRequest { page_size: 500, page_token };
                let page = sync.list_sync_failures(client.request(request)?).await?.into_inner();
                listed.extend(page.failures);
                if page.next_page_token.is_empty() {
                    break;
                }
                page_token = page.next_page_token;
            }
            let failures: Vec<Value> = listed
                .iter()
                .map(|failure| {
                    json!({ "stream": failure.stream, "sequence": failure.sequence, "attempts": failure.attempts,
                            "error": failure.error, "update_time": output::time(failure.update_time.as_ref()) })
                })
                .collect();
            // Every page read: none follows.
            json!({ "failures": failures, "next_page_token": "" })
        }
    })
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime};

    use super::replay_notice;

    fn at(time: SystemTime) -> prost_types::Timestamp {
        prost_types::Timestamp::from(time)
    }

    #[test]
    fn a_create_made_before_the_command_started_is_named_a_replay() {
        let started = SystemTime::now();
        let earlier = at(started - Duration::from_secs(60));
        let notice = replay_notice("payment", Some(&earlier), started).expect("an earlier run's payment");
        assert!(notice.contains("earlier run") && notice.contains(&earlier.to_string()), "{notice}");
    }

    #[test]
    fn a_fresh_create_or_a_clock_a_little_behind_is_not() {
        let started = SystemTime::now();
        assert_eq!(replay_notice("payment", Some(&at(started + Duration::from_millis(5))), started), None);
        assert_eq!(replay_notice("payment", Some(&at(started - Duration::from_secs(1))), started), None);
        assert_eq!(replay_notice("payment", None, started), None);
    }
}
