//! `bssctl credit` and `bssctl held-orders`: an account's credit terms and
//! status, holds, and the orders credit set aside for a decision.

use bss_proto::credit::credit_service_client::CreditServiceClient;
use bss_proto::credit::{
    ApproveHeldOrderRequest, ChangeCreditTermsRequest, CreditAction, GetCreditStatusRequest, GetCreditTermsRequest,
    HeldOrderState, ListHeldOrdersRequest, PutOnHoldRequest, RejectHeldOrderRequest, ReleaseHoldRequest,
};
use bss_proto::types::{Decimal, Money};
use clap::Subcommand;
use serde_json::{Value, json};

use crate::output::{message, messages};
use crate::{Client, Failure, PageArgs, RetryArgs, enum_arg};

#[derive(Subcommand)]
pub enum CreditCommand {
    /// An account's credit terms (the tenant's defaults until changed).
    Terms { account: String },
    /// Change an account's credit terms: the options given, the rest kept.
    SetTerms {
        account: String,
        /// The credit limit, in the account's currency.
        #[arg(long)]
        limit: Option<String>,
        /// No limit at all (`--unlimited true`), or a limit again (`false`).
        #[arg(long)]
        unlimited: Option<bool>,
        /// Days of credit on each invoice.
        #[arg(long)]
        credit_period_days: Option<i32>,
        /// A credit rating of the tenant, by code.
        #[arg(long)]
        rating: Option<String>,
        /// What an order of the account gets while it is on hold:
        /// no_action, block, warn, warn_credit_card_only,
        /// hold_for_approval, or unspecified (the tenant's setting).
        #[arg(long)]
        on_hold: Option<String>,
        /// What it gets while out of terms (the same values).
        #[arg(long)]
        out_of_terms: Option<String>,
        /// What it gets when the order would pass its limit (the same values).
        #[arg(long)]
        out_of_credit: Option<String>,
        /// Why, kept in the account's credit history.
        #[arg(long)]
        reason: String,
        #[command(flatten)]
        retry: RetryArgs,
    },
    /// Limit, balance, reservations, exposure, what is available, and
    /// whether it is on hold, out of terms or out of credit.
    Status { account: String },
    /// Put an account on hold: its orders wait for a decision.
    Hold {
        account: String,
        #[arg(long)]
        reason: String,
        #[command(flatten)]
        retry: RetryArgs,
    },
    /// Release an account's hold.
    Release {
        account: String,
        #[command(flatten)]
        retry: RetryArgs,
    },
}

#[derive(Subcommand)]
pub enum HeldOrdersCommand {
    /// Orders credit set aside, oldest first.
    List {
        /// pending, approved, rejected, expired or cancelled; every state
        /// when unset.
        #[arg(long)]
        state: Option<String>,
        #[command(flatten)]
        page: PageArgs,
    },
    /// Approve a held order: billing places it.
    Approve {
        id: String,
        #[arg(long, default_value = "")]
        note: String,
        #[command(flatten)]
        retry: RetryArgs,
    },
    /// Reject a held order: billing rejects it and nothing is charged.
    Reject {
        id: String,
        /// Why (required), kept with the decision.
        #[arg(long)]
        note: String,
        #[command(flatten)]
        retry: RetryArgs,
    },
}

pub async fn credit(client: &Client, command: CreditCommand) -> Result<Value, Failure> {
    let mut credit = CreditServiceClient::new(client.channel()?);
    Ok(match command {
        CreditCommand::Terms { account } => {
            let request = GetCreditTermsRequest { account_id: account };
            message(&credit.get_credit_terms(client.request(request)?).await?.into_inner().terms.unwrap_or_default())
        }
        CreditCommand::SetTerms {
            account,
            limit,
            unlimited,
            credit_period_days,
            rating,
            on_hold,
            out_of_terms,
            out_of_credit,
            reason,
            retry,
        } => {
            let current =
                credit.get_credit_terms(client.request(GetCreditTermsRequest { account_id: account.clone() })?);
            let mut terms = current.await?.into_inner().terms.unwrap_or_default();
            if let Some(limit) = limit {
                let currency_code = terms.limit.as_ref().map(|money| money.currency_code.clone()).unwrap_or_default();
                terms.credit_limit = Some(Decimal { value: limit.clone() });
                terms.limit = Some(Money { currency_code, amount: limit });
            }
            if let Some(unlimited) = unlimited {
                terms.unlimited = unlimited;
            }
            if let Some(days) = credit_period_days {
                terms.credit_period_days = days;
            }
            if let Some(rating) = rating {
                terms.credit_rating = rating;
            }
            let policy = terms.policy.get_or_insert_default();
            for (option, given, action) in [
                ("--on-hold", on_hold, &mut policy.on_hold_action),
                ("--out-of-terms", out_of_terms, &mut policy.out_of_terms_action),
                ("--out-of-credit", out_of_credit, &mut policy.out_of_credit_action),
            ] {
                if let Some(given) = given {
                    *action = enum_arg(option, "CREDIT_ACTION_", &given, CreditAction::from_str_name)? as i32;
                }
            }
            // A change read from these terms: refused if someone changed
            // them since (the etag), never silently overwriting.
            let request =
                ChangeCreditTermsRequest { account_id: account, terms: Some(terms), reason, request_id: String::new() };
            let request_id = retry.derived_request_id("credit-set-terms", &prost::Message::encode_to_vec(&request));
            let request = ChangeCreditTermsRequest { request_id, ..request };
            message(&credit.change_credit_terms(client.request(request)?).await?.into_inner().terms.unwrap_or_default())
        }
        CreditCommand::Status { account } => {
            let request = GetCreditStatusRequest { account_id: account };
            message(&credit.get_credit_status(client.request(request)?).await?.into_inner().status.unwrap_or_default())
        }
        CreditCommand::Hold { account, reason, retry } => {
            let request = PutOnHoldRequest { account_id: account, reason, request_id: retry.request_id() };
            message(&credit.put_on_hold(client.request(request)?).await?.into_inner())
        }
        CreditCommand::Release { account, retry } => {
            let request = ReleaseHoldRequest { account_id: account, request_id: retry.request_id() };
            message(&credit.release_hold(client.request(request)?).await?.into_inner())
        }
    })
}

pub async fn held_orders(client: &Client, command: HeldOrdersCommand) -> Result<Value, Failure> {
    let mut credit = CreditServiceClient::new(client.channel()?);
    Ok(match command {
        HeldOrdersCommand::List { state, page } => {
            let state = match state {
                Some(state) => enum_arg("--state", "HELD_ORDER_STATE_", &state, HeldOrderState::from_str_name)?,
                None => HeldOrderState::Unspecified,
            };
            let request = ListHeldOrdersRequest {
                state: state as i32,
                page_size: page.page_size,
                page_token: page.page_token.unwrap_or_default(),
            };
            let listed = credit.list_held_orders(client.request(request)?).await?.into_inner();
            json!({ "held_orders": messages(&listed.held_orders), "next_page_token": listed.next_page_token })
        }
        HeldOrdersCommand::Approve { id, note, retry } => {
            let request = ApproveHeldOrderRequest { held_order_id: id, note, request_id: retry.request_id() };
            message(&credit.approve_held_order(client.request(request)?).await?.into_inner())
        }
        HeldOrdersCommand::Reject { id, note, retry } => {
            let request = RejectHeldOrderRequest { held_order_id: id, note, request_id: retry.request_id() };
            message(&credit.reject_held_order(client.request(request)?).await?.into_inner())
        }
    })
}
