//! WalletService: converts the wire to billing's wallets and back; the use
//! cases are in `app::wallets`.

use bss_platform::auth::authorize;
use bss_platform::error::Violations;
use bss_platform::idempotency::RequestKey;
use bss_platform::input::{parse_optional_id, required_id, required_text};
use bss_platform::paging::Page;
use bss_proto::billing::wallet_service_server::WalletService;
use bss_proto::billing::*;
use tonic::{Request, Response, Status};

use super::payments::{MAX_REASON, optional_positive_amount, positive_amount};
use super::{BillingApi, ENQUIRERS, WRITERS, ordering_account};
use crate::domain::error::BillingError;
use crate::domain::wallet;
use crate::wire;

/// The account a request names, each bad field named.
fn account(value: &str) -> Result<uuid::Uuid, BillingError> {
    required_id(value).map_err(|error| Violations::single("account_id", error).into())
}

#[tonic::async_trait]
impl WalletService for BillingApi {
    async fn open_wallet(&self, request: Request<OpenWalletRequest>) -> Result<Response<OpenWalletResponse>, Status> {
        let (caller, tenant_id) = authorize(&request, WRITERS)?;
        let request = request.into_inner();
        let run = async {
            let account_id = account(&request.account_id)?;
            let key = RequestKey::new(tenant_id, "OpenWallet", &request.request_id, &request)?;
            let prefs = (account_id, request.use_for_purchases, request.use_for_subscriptions);
            self.open_wallet(&caller, tenant_id, key, prefs, |opened, currency| OpenWalletResponse {
                wallet: Some(wire::wallet(opened, currency)),
            })
            .await
        };
        Ok(Response::new(run.await?))
    }

    async fn get_wallet(&self, request: Request<GetWalletRequest>) -> Result<Response<GetWalletResponse>, Status> {
        let (caller, tenant_id) = authorize(&request, ENQUIRERS)?;
        let request = request.into_inner();
        let run = async {
            let own = self.own_account(&caller).await?;
            let mut v = Violations::new();
            let account_id = ordering_account(&mut v, "account_id", &request.account_id, own)?;
            let Some(account_id) = account_id else { return Err(v.into()) };
            let (found, currency) = self.wallet(&caller, tenant_id, account_id).await?;
            Ok::<_, BillingError>(GetWalletResponse { wallet: Some(wire::wallet(&found, currency)) })
        };
        Ok(Response::new(run.await?))
    }

    async fn set_wallet_preferences(
        &self,
        request: Request<SetWalletPreferencesRequest>,
    ) -> Result<Response<SetWalletPreferencesResponse>, Status> {
        let (caller, tenant_id) = authorize(&request, WRITERS)?;
        let request = request.into_inner();
        let run = async {
            let account_id = account(&request.account_id)?;
            let key = RequestKey::new(tenant_id, "SetWalletPreferences", &request.request_id, &request)?;
            let prefs = (account_id, request.use_for_purchases, request.use_for_subscriptions);
            self.set_wallet_preferences(&caller, tenant_id, key, prefs, |set, currency| SetWalletPreferencesResponse {
                wallet: Some(wire::wallet(set, currency)),
            })
            .await
        };
        Ok(Response::new(run.await?))
    }

    async fn top_up_wallet(
        &self,
        request: Request<TopUpWalletRequest>,
    ) -> Result<Response<TopUpWalletResponse>, Status> {
        let (caller, tenant_id) = authorize(&request, WRITERS)?;
        let request = request.into_inner();
        let run = async {
            let account_id = account(&request.account_id)?;
            let found = self.fetch_account(&caller, account_id).await?;
            wallet::check_openable(account_id, wire::standing(&found))?;
            let currency = crate::app::account_currency(&found)?;
            let mut v = Violations::new();
            let amount = positive_amount(&mut v, "amount", request.amount.as_ref(), currency);
            let reason = v.keep("reason", required_text(&request.reason, MAX_REASON));
            let (Some(amount), Some(reason)) = (amount, reason) else {
                return Err(v.into());
            };
            let key = RequestKey::new(tenant_id, "TopUpWallet", &request.request_id, &request)?;
            self.top_up_wallet(&caller, tenant_id, key, (account_id, currency, amount, reason), |moved| {
                TopUpWalletResponse { transaction: Some(wire::wallet_transaction(moved, currency)) }
            })
            .await
        };
        Ok(Response::new(run.await?))
    }

    async fn pay_from_wallet(
        &self,
        request: Request<PayFromWalletRequest>,
    ) -> Result<Response<PayFromWalletResponse>, Status> {
        let (caller, tenant_id) = authorize(&request, WRITERS)?;
        let request = request.into_inner();
        let run = async {
            let account_id = account(&request.account_id)?;
            let currency = self.account_currency(&caller, account_id).await?;
            let mut v = Violations::new();
            let amount = optional_positive_amount(&mut v, "amount", request.amount.as_ref(), currency);
            let first = v.keep("invoice_id", parse_optional_id(&request.invoice_id));
            let (Some(amount), Some(first)) = (amount, first) else {
                return Err(v.into());
            };
            let key = RequestKey::new(tenant_id, "PayFromWallet", &request.request_id, &request)?;
            self.pay_from_wallet(&caller, tenant_id, key, (account_id, currency, amount, first), |moved, receipt| {
                PayFromWalletResponse {
                    transaction: Some(wire::wallet_transaction(moved, currency)),
                    payment: Some(wire::payment(receipt)),
                }
            })
            .await
        };
        Ok(Response::new(run.await?))
    }

    async fn pay_out_wallet(
        &self,
        request: Request<PayOutWalletRequest>,
    ) -> Result<Response<PayOutWalletResponse>, Status> {
        let (caller, tenant_id) = authorize(&request, WRITERS)?;
        let request = request.into_inner();
        let run = async {
            let account_id = account(&request.account_id)?;
            let currency = self.account_currency(&caller, account_id).await?;
            let mut v = Violations::new();
            let amount = optional_positive_amount(&mut v, "amount", request.amount.as_ref(), currency);
            let reason = v.keep("reason", required_text(&request.reason, MAX_REASON));
            let (Some(amount), Some(reason)) = (amount, reason) else {
                return Err(v.into());
            };
            let key = RequestKey::new(tenant_id, "PayOutWallet", &request.request_id, &request)?;
            self.pay_out_wallet(&caller, tenant_id, key, (account_id, currency, amount, reason), |moved| {
                PayOutWalletResponse { transaction: Some(wire::wallet_transaction(moved, currency)) }
            })
            .await
        };
        Ok(Response::new(run.await?))
    }

    async fn list_wallet_transactions(
        &self,
        request: Request<ListWalletTransactionsRequest>,
    ) -> Result<Response<ListWalletTransactionsResponse>, Status> {
        let (caller, tenant_id) = authorize(&request, ENQUIRERS)?;
        let request = request.into_inner();
        let run = async {
            let own = self.own_account(&caller).await?;
            let mut v = Violations::new();
            let account_id = ordering_account(&mut v, "account_id", &request.account_id, own)?;
            let Some(account_id) = account_id else { return Err(v.into()) };
            let filters = ListWalletTransactionsRequest { page_size: 0, page_token: String::new(), ..request.clone() };
            let page = Page::parse(request.page_size, &request.page_token, &filters)?;
            let before = page.after_i64()?;
            let (currency, found) =
                self.wallet_transactions(&caller, tenant_id, account_id, (before, page.fetch_limit())).await?;
            let (found, next_page_token) = page.finish(found, |moved| moved.seq.to_be_bytes().to_vec());
            Ok::<_, BillingError>(ListWalletTransactionsResponse {
                transactions: found.iter().map(|moved| wire::wallet_transaction(moved, currency)).collect(),
                next_page_token,
            })
        };
        Ok(Response::new(run.await?))
    }
}
