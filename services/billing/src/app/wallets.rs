//! Wallets (`domain::wallet`): opened for an account that is not
//! terminated, topped up, paying the account's invoices (a payment posted
//! like any other, the wallet transaction naming it), and used
//! automatically: for orders that would take the account over its credit
//! limit (`Billing::place_order` asks credit to prepay them and takes the
//! money here), and for invoices as they are posted (`pay_posted`). Every
//! movement is published as WalletTransactionPosted.

use bss_platform::auth::Caller;
use bss_platform::idempotency::RequestKey;
use bss_platform::money::Currency;
use bss_platform::time::now;
use bss_proto::billing::WalletTransactionPosted;
use bss_proto::billing::billing_event::Payload;
use prost::Message;
use rust_decimal::Decimal;
use sqlx::PgConnection;
use uuid::Uuid;

use super::payments::post_payment;
use super::{Billing, publish};
use crate::domain::error::BillingError;
use crate::domain::settle::Receipt;
use crate::domain::wallet::{self, Movement, Wallet, WalletTransaction, pays_of_invoice};
use crate::repo::wallets::{self as repo_wallets, Move};
use crate::repo::{self, InvoiceRow};
use crate::wire;

/// Moves a wallet's money in the caller's transaction and publishes it.
pub(crate) async fn move_money(
    tx: &mut PgConnection,
    tenant_id: Uuid,
    currency: Currency,
    new: &Move<'_>,
) -> Result<WalletTransaction, BillingError> {
    let moved = repo_wallets::move_money(tx, tenant_id, new).await?;
    let posted = WalletTransactionPosted { transaction: Some(wire::wallet_transaction(&moved, currency)) };
    publish(tx, tenant_id, new.actor, Payload::WalletTransactionPosted(posted)).await?;
    Ok(moved)
}

/// Pays `amount` of the account's posted invoices (`first` first) from its
/// wallet, in the caller's transaction: a payment posted and the wallet
/// transaction that names it.
async fn pay_invoices(
    tx: &mut PgConnection,
    tenant_id: Uuid,
    actor: &str,
    (account_id, currency, amount, first): (Uuid, Currency, Decimal, Option<Uuid>),
) -> Result<(WalletTransaction, Receipt), BillingError> {
    let receipt = post_payment(tx, tenant_id, actor, (account_id, currency, amount, first)).await?;
    let new = Move { payment_id: Some(receipt.id), ..Move::of(account_id, Movement::InvoicePayment, amount, actor) };
    let moved = move_money(tx, tenant_id, currency, &new).await?;
    Ok((moved, receipt))
}

/// Pays invoices just posted (in the posting transaction, their rows
/// locked) from their accounts' wallets opted in for subscriptions, as far
/// as each wallet goes, in the order given; each row shows what it settled.
pub(crate) async fn pay_posted(
    tx: &mut PgConnection,
    tenant_id: Uuid,
    actor: &str,
    posted: &mut [InvoiceRow],
) -> Result<(), BillingError> {
    let mut accounts: Vec<Uuid> = posted.iter().map(|row| row.account_id).collect();
    accounts.sort_unstable();
    accounts.dedup();
    for (account_id, mut balance) in repo_wallets::lock_paying_invoices(tx, tenant_id, &accounts).await? {
        for row in posted.iter_mut().filter(|row| row.account_id == account_id) {
            let paid = pays_of_invoice(balance, row.total - row.settled);
            if paid.is_zero() {
                continue;
            }
            pay_invoices(tx, tenant_id, actor, (account_id, row.currency()?, paid, Some(row.id))).await?;
            balance -= paid;
            row.settled += paid;
        }
    }
    Ok(())
}

impl Billing {
    /// The account's wallet, if it has one (read as billing: the caller
    /// was checked).
    pub(crate) async fn wallet_of(&self, tenant_id: Uuid, account_id: Uuid) -> Result<Option<Wallet>, BillingError> {
        let mut connection = self.db.acquire().await?;
        repo_wallets::get(&mut connection, tenant_id, account_id).await
    }

    /// Opens the account's wallet, empty (ACCOUNT_TERMINATED, WALLET_EXISTS).
    pub async fn open_wallet<R: Message + Default>(
        &self,
        caller: &Caller,
        tenant_id: Uuid,
        key: Option<RequestKey>,
        (account_id, purchases, subscriptions): (Uuid, bool, bool),
        respond: impl FnOnce(&Wallet, Currency) -> R,
    ) -> Result<R, BillingError> {
        if let Some(stored) = self.replay(&key).await? {
            return Ok(stored);
        }
        let account = self.fetch_account(caller, account_id).await?;
        wallet::check_openable(account_id, wire::standing(&account))?;
        let currency = super::account_currency(&account)?;
        let at = now();
        let opened = Wallet {
            account_id,
            currency: currency.code.to_owned(),
            balance: Decimal::ZERO,
            use_for_purchases: purchases,
            use_for_subscriptions: subscriptions,
            created_at: at,
            updated_at: at,
        };
        self.write(key, async |tx| {
            if !repo_wallets::open(tx, tenant_id, &opened).await? {
                return Err(BillingError::AlreadyExists {
                    reason: "WALLET_EXISTS",
                    description: format!("account {account_id} has a wallet already"),
                });
            }
            Ok(respond(&opened, currency))
        })
        .await
    }

    /// The account's wallet as the caller may see it, with the account's
    /// currency (NOT_FOUND when it has none).
    pub async fn wallet(
        &self,
        caller: &Caller,
        tenant_id: Uuid,
        account_id: Uuid,
    ) -> Result<(Wallet, Currency), BillingError> {
        let currency = self.account_currency(caller, account_id).await?;
        let found = self.wallet_of(tenant_id, account_id).await?;
        Ok((found.ok_or_else(|| BillingError::not_found("wallet", account_id))?, currency))
    }

    /// Sets which payments the wallet makes.
    pub async fn set_wallet_preferences<R: Message + Default>(
        &self,
        caller: &Caller,
        tenant_id: Uuid,
        key: Option<RequestKey>,
        (account_id, purchases, subscriptions): (Uuid, bool, bool),
        respond: impl FnOnce(&Wallet, Currency) -> R,
    ) -> Result<R, BillingError> {
        let currency = self.account_currency(caller, account_id).await?;
        self.write(key, async |tx| {
            let set = repo_wallets::set_preferences(tx, tenant_id, account_id, (purchases, subscriptions)).await?;
            let set = set.ok_or_else(|| BillingError::not_found("wallet", account_id))?;
            Ok(respond(&set, currency))
        })
        .await
    }

    /// Puts money received into the account's wallet.
    pub async fn top_up_wallet<R: Message + Default>(
        &self,
        caller: &Caller,
        tenant_id: Uuid,
        key: Option<RequestKey>,
        (account_id, currency, amount, reason): (Uuid, Currency, Decimal, String),
        respond: impl FnOnce(&WalletTransaction) -> R,
    ) -> Result<R, BillingError> {
        self.write(key, async |tx| {
            let new = Move { reason: &reason, ..Move::of(account_id, Movement::TopUp, amount, &caller.subject) };
            let moved = move_money(tx, tenant_id, currency, &new).await?;
            Ok(respond(&moved))
        })
        .await
    }

    /// Pays the account's posted invoices (`first` first) from its wallet:
    /// `amount`, or (`None`) all they owe as far as the wallet goes.
    pub async fn pay_from_wallet<R: Message + Default>(
        &self,
        caller: &Caller,
        tenant_id: Uuid,
        key: Option<RequestKey>,
        (account_id, currency, amount, first): (Uuid, Currency, Option<Decimal>, Option<Uuid>),
        respond: impl FnOnce(&WalletTransaction, &Receipt) -> R,
    ) -> Result<R, BillingError> {
        self.write(key, async |tx| {
            // The wallet first, then the invoices: the order posting takes
            // them in for the invoices it did not post itself.
            let held = repo_wallets::lock(tx, tenant_id, account_id)
                .await?
                .ok_or_else(|| BillingError::not_found("wallet", account_id))?;
            let open = repo::lock_open_invoices(tx, tenant_id, account_id).await?;
            let owed: Decimal = open.iter().map(|(invoice, _)| invoice.owed).sum();
            let amount = wallet::pays_of_owed(held.balance, owed, amount)?;
            let (moved, receipt) =
                pay_invoices(tx, tenant_id, &caller.subject, (account_id, currency, amount, first)).await?;
            Ok(respond(&moved, &receipt))
        })
        .await
    }

    /// Pays money in the wallet back to the customer: `amount`, or all it
    /// holds.
    pub async fn pay_out_wallet<R: Message + Default>(
        &self,
        caller: &Caller,
        tenant_id: Uuid,
        key: Option<RequestKey>,
        (account_id, currency, amount, reason): (Uuid, Currency, Option<Decimal>, String),
        respond: impl FnOnce(&WalletTransaction) -> R,
    ) -> Result<R, BillingError> {
        self.write(key, async |tx| {
            let held = repo_wallets::lock(tx, tenant_id, account_id)
                .await?
                .ok_or_else(|| BillingError::not_found("wallet", account_id))?;
            let paid_out = wallet::pays_out(held.balance, amount)?;
            let new = Move { reason: &reason, ..Move::of(account_id, Movement::PayOut, paid_out, &caller.subject) };
            let moved = move_money(tx, tenant_id, currency, &new).await?;
            Ok(respond(&moved))
        })
        .await
    }

    /// The wallet's transactions, newest first, before the one at `before`.
    pub async fn wallet_transactions(
        &self,
        caller: &Caller,
        tenant_id: Uuid,
        account_id: Uuid,
        page: (Option<i64>, i64),
    ) -> Result<(Currency, Vec<WalletTransaction>), BillingError> {
        let currency = self.account_currency(caller, account_id).await?;
        let mut connection = self.db.acquire().await?;
        if repo_wallets::get(&mut connection, tenant_id, account_id).await?.is_none() {
            return Err(BillingError::not_found("wallet", account_id));
        }
        Ok((currency, repo_wallets::transactions(&mut connection, tenant_id, account_id, page).await?))
    }
}
