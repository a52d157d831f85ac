//! Authorizing an order: the accounts it concerns read (and locked when it
//! uses credit), the external credit check asked, the rules of
//! `domain::authorization` applied, and the reservations or the held order
//! recorded with the answer, in one transaction. A clean order its account
//! pays alone takes the one-statement fast path instead.

use bss_platform::auth::Caller;
use bss_platform::idempotency::{self, Opened, RequestKey};
use bss_platform::money::Currency;
use bss_platform::payment::PaymentType;
use bss_proto::credit::credit_event::Payload;
use bss_proto::credit::*;
use bss_proto::provider::CheckOrderRequest;
use bss_proto::provider::credit_check_provider_service_client::CreditCheckProviderServiceClient;
use prost::Message;
use rust_decimal::Decimal;
use sqlx::PgConnection;
use uuid::Uuid;

use super::Credit;
use super::held_orders::publish_held;
use super::reservations::{lock_accounts, reservation_ttl, reserve};
use crate::domain::account::{CreditAccount, Settings};
use crate::domain::authorization::{self, Party, ShareOutcome};
use crate::domain::decision::Verdict;
use crate::domain::error::CreditError;
use crate::domain::overrides::limit_lifted;
use crate::repo;
use crate::wire::{money, preference_to_proto, reason_to_proto, reservation_to_proto, verdict_to_wire};

/// An order to authorize, as its caller asks.
pub struct OrderCheck {
    pub account_id: Uuid,
    pub reference: String,
    pub amount: Decimal,
    pub currency: Currency,
    pub payment_type: PaymentType,
    /// The stored code of the order's event kind (override rules match it).
    pub event_kind: &'static str,
    /// Who pays what, when not the account alone.
    pub payers: Vec<(Uuid, Decimal)>,
    /// Its reservations live until invoiced or cancelled, not the tenant's
    /// reservation time.
    pub keep_until_invoiced: bool,
    /// The caller can pay the order in advance when it would exceed the
    /// limit ([`authorization::authorize_or_prepay`]).
    pub prepay_over_limit: bool,
}

impl Credit {
    /// Decides an order against every account it concerns and records the
    /// outcome: each accepted share reserved on its payer, or the order
    /// held for approval. A payer that is not an account of the caller's
    /// tenant, or pays in another currency, is an invalid argument of its
    /// `payers[i]`.
    pub async fn authorize_order(
        &self,
        caller: &Caller,
        tenant_id: Uuid,
        key: Option<RequestKey>,
        order: OrderCheck,
    ) -> Result<AuthorizeOrderResponse, CreditError> {
        let (account, settings) = self.account(caller, tenant_id, order.account_id).await?;
        authorization::check_amount(&account, order.amount, order.currency)?;
        let shares = authorization::shares(order.account_id, order.amount, order.payers.clone());
        for (index, (payer_id, _)) in shares.iter().enumerate() {
            if *payer_id == order.account_id {
                continue;
            }
            let field = format!("payers[{index}].account_id");
            let (payer, _) = self.account(caller, tenant_id, *payer_id).await.map_err(|error| match error {
                CreditError::NotFound { .. } => {
                    bss_platform::error::Violations::single(&field, "no such account").into()
                }
                other => other,
            })?;
            if payer.currency != order.currency {
                let why = format!("pays in {}, the order is in {}", payer.currency.code, order.currency.code);
                return Err(bss_platform::error::Violations::single(field, why).into());
            }
        }
        let veto = match order.payment_type.uses_credit() {
            true => self.external_check(tenant_id, &account, &order).await?,
            false => None,
        };
        if authorization::takes_fast_path(&account, &settings.thresholds, order.payment_type, &shares, veto.is_some()) {
            // `None`: no longer clean; decided in full below.
            if let Some(response) =
                self.reserve_clean(tenant_id, &caller.subject, &settings, &account, &order, key.as_ref()).await?
            {
                return Ok(response);
            }
        }
        let (mut tx, pending) = match idempotency::open::<AuthorizeOrderResponse>(&self.db, key).await? {
            Opened::Replayed(response) => return self.completed(tenant_id, response).await,
            Opened::Fresh(tx, pending) => (tx, pending),
        };
        let settings = repo::settings(&mut tx, tenant_id).await?;
        let concerned = authorization::concerned(order.account_id, &shares);
        // Only an order on credit changes exposure: the rows are locked
        // for it, so racing orders never pass a limit.
        let on_credit = order.payment_type.uses_credit();
        let accounts = if on_credit {
            lock_accounts(&mut tx, tenant_id, concerned.iter().copied()).await?
        } else {
            repo::accounts(&mut tx, tenant_id, &concerned).await?.into_iter().map(|row| (row.account_id, row)).collect()
        };
        let rules = if on_credit { repo::rules(&mut tx, tenant_id).await? } else { Vec::new() };
        let found = |id: &Uuid| accounts.get(id).ok_or_else(|| CreditError::not_found("account", id));
        let mut parties = Vec::with_capacity(concerned.len());
        for id in &concerned {
            let party = found(id)?;
            let share = shares.iter().find(|(payer, _)| payer == id).map_or(Decimal::ZERO, |(_, share)| *share);
            let lifted = limit_lifted(&rules, order.event_kind, &party.terms);
            parties.push(Party::of(party, &settings, share, lifted));
        }
        let decided = authorization::authorize_or_prepay(order.payment_type, &parties, veto, order.prepay_over_limit);
        let mut reasons: Vec<DecisionReason> = decided
            .reasons
            .iter()
            .map(|reason| reason_to_proto(&reason.reason, reason.account_id, reason.account_id == order.account_id))
            .collect();
        if let Some(why) = &decided.veto {
            reasons.push(DecisionReason {
                code: "EXTERNAL_CREDIT_CHECK".to_owned(),
                action: CreditAction::Block as i32,
                message: why.clone(),
                account_id: order.account_id.to_string(),
            });
        }
        let currency = order.currency;
        let mut shares_decided = Vec::with_capacity(shares.len());
        for outcome in decided.outcomes(order.payment_type, &parties, &shares) {
            let ShareOutcome { account_id, share, available_before, available_after, reserved } = outcome;
            let reservation = match reserved {
                true => {
                    let payer = found(&account_id)?;
                    let keep = order.keep_until_invoiced;
                    Some(
                        reserve(&mut tx, tenant_id, &caller.subject, &settings, payer, &order.reference, share, keep)
                            .await?,
                    )
                }
                false => None,
            };
            shares_decided.push(ShareDecision {
                account_id: account_id.to_string(),
                amount: Some(money(share, currency)),
                available_before: available_before.map(|available| money(available, currency)),
                available_after: available_after.map(|available| money(available, currency)),
                reservation,
            });
        }
        let first = shares_decided.first().cloned().unwrap_or_default();
        let mut response = AuthorizeOrderResponse {
            decision: verdict_to_wire(decided.verdict) as i32,
            reasons: reasons.clone(),
            available_before: first.available_before,
            available_after: first.available_after,
            reservation: first.reservation,
            held_order: None,
            suggested_payment_preference: None,
            shares: shares_decided,
            prepaid: decided.prepaid,
        };
        if decided.over_limit || decided.verdict == Verdict::CreditCardOnly {
            response.suggested_payment_preference =
                suggested_preference(&mut tx, tenant_id, order.account_id, order.event_kind).await?;
        }
        if decided.verdict == Verdict::HeldForApproval {
            let held = repo::NewHeldOrder {
                account_id: order.account_id,
                order_reference: &order.reference,
                amount: order.amount,
                payment_type: order.payment_type,
                reasons: &decided.reasons,
                payers: &shares,
                ttl_seconds: settings.held_order_ttl_seconds,
                keep_until_invoiced: order.keep_until_invoiced,
            };
            let row = repo::insert_held_order(&mut tx, tenant_id, &held).await?;
            response.held_order = Some(publish_held(&mut tx, tenant_id, &caller.subject, &row, currency).await?);
        }
        self.commit(tx, pending, &response).await?;
        Ok(response)
    }

    /// The clean order's fast path: one statement checks the account and
    /// reserves (see [`repo::reserve_if_clean`]). `None` when the account
    /// is not clean for the order any more.
    async fn reserve_clean(
        &self,
        tenant_id: Uuid,
        actor: &str,
        settings: &Settings,
        account: &CreditAccount,
        order: &OrderCheck,
        key: Option<&RequestKey>,
    ) -> Result<Option<AuthorizeOrderResponse>, CreditError> {
        let currency = account.currency;
        let created_at = bss_platform::time::now();
        let row = repo::ReservationRow {
            id: Uuid::now_v7(),
            account_id: account.account_id,
            order_reference: order.reference.clone(),
            amount: order.amount,
            open_amount: order.amount,
            state: "OPEN".to_owned(),
            created_at,
            expires_at: reservation_ttl(settings, order.keep_until_invoiced)
                .map(|ttl| created_at + chrono::Duration::seconds(ttl)),
            closed_at: None,
        };
        let reservation = reservation_to_proto(&row, currency);
        let event: CreditEvent = bss_platform::events::event(
            tenant_id,
            actor,
            Payload::ReservationChanged(ReservationChanged { reservation: Some(reservation.clone()) }),
        );
        // Stored for the request id: the reservation's id, completed from
        // its row when a retry asks (see `completed`).
        let stub = AuthorizeOrderResponse {
            reservation: Some(Reservation { id: row.id.to_string(), ..Reservation::default() }),
            ..AuthorizeOrderResponse::default()
        };
        let clean = repo::CleanReservation {
            tenant_id,
            account_id: row.account_id,
            amount: order.amount,
            order_reference: &order.reference,
            reservation_id: row.id,
            created_at: row.created_at,
            expires_at: row.expires_at,
            thresholds: &settings.thresholds,
            event: event.encode_to_vec(),
            request: key.map(|key| (key.request_id(), key.request_hash(), stub.encode_to_vec())),
        };
        match repo::reserve_if_clean(&self.db, &clean).await? {
            repo::Clean::Reserved(available_before) => {
                self.events.written();
                Ok(Some(approval(reservation, available_before, currency)))
            }
            repo::Clean::NotClean => Ok(None),
            repo::Clean::RequestInProgress => Err(bss_platform::error::PlatformError::RequestInProgress.into()),
            repo::Clean::RequestIdTaken => {
                let Some(key) = key else { return Ok(None) };
                // The connection goes back before `completed` takes one: a
                // call never holds one pooled connection while it waits for
                // another (a storm of retries would exhaust the pool).
                let stored = {
                    let mut connection = self.db.acquire().await?;
                    idempotency::resolve::<AuthorizeOrderResponse>(&mut connection, key).await?
                };
                Ok(Some(self.completed(tenant_id, stored).await?))
            }
        }
    }

    /// Asks the external credit check, when one is configured, about an
    /// order; `Some(reason)` when it vetoes. A provider that cannot answer
    /// fails the call (UNAVAILABLE): no order goes through unchecked.
    async fn external_check(
        &self,
        tenant_id: Uuid,
        account: &CreditAccount,
        order: &OrderCheck,
    ) -> Result<Option<String>, CreditError> {
        let Some(channel) = &self.credit_check else {
            return Ok(None);
        };
        let exposure = account.exposure();
        let check = CheckOrderRequest {
            tenant_id: tenant_id.to_string(),
            account_id: account.account_id.to_string(),
            order_reference: order.reference.clone(),
            amount: Some(money(order.amount, account.currency)),
            payment_type: order.payment_type.to_wire() as i32,
            exposure: Some(money(exposure.total(), account.currency)),
            credit_limit: exposure.limit.map(|limit| money(limit, account.currency)),
        };
        let mut request = tonic::Request::new(check);
        request.set_timeout(bss_platform::peers::PEER_TIMEOUT);
        match CreditCheckProviderServiceClient::new(channel.clone()).check_order(request).await {
            Ok(response) => {
                let answer = response.into_inner();
                Ok(answer.veto.then(|| {
                    if answer.reason.is_empty() {
                        "refused by the external credit check".to_owned()
                    } else {
                        answer.reason
                    }
                }))
            }
            Err(status) => {
                Err(CreditError::Unavailable { what: "the external credit check", cause: status.message().to_owned() })
            }
        }
    }

    /// A stored answer to AuthorizeOrder, whole: the fast path stores only
    /// the reservation's id (decision UNSPECIFIED), and the answer is made
    /// again from the reservation as it was approved.
    async fn completed(
        &self,
        tenant_id: Uuid,
        stored: AuthorizeOrderResponse,
    ) -> Result<AuthorizeOrderResponse, CreditError> {
        if stored.decision != Decision::Unspecified as i32 {
            return Ok(stored);
        }
        let id: Uuid =
            stored.reservation.as_ref().and_then(|reservation| reservation.id.parse().ok()).unwrap_or_default();
        let mut connection = self.db.acquire().await?;
        let (mut row, available_before) = repo::reservation_with_available(&mut connection, tenant_id, id)
            .await?
            .ok_or_else(|| CreditError::not_found("reservation", id))?;
        let account = repo::account(&mut connection, tenant_id, row.account_id)
            .await?
            .ok_or_else(|| CreditError::not_found("account", row.account_id))?;
        // As it was when approved.
        (row.state, row.closed_at, row.open_amount) = ("OPEN".to_owned(), None, row.amount);
        Ok(approval(reservation_to_proto(&row, account.currency), available_before, account.currency))
    }
}

/// The answer to an approval of an order its account pays alone, from what
/// it reserved.
fn approval(reservation: Reservation, available_before: Option<Decimal>, currency: Currency) -> AuthorizeOrderResponse {
    let amount: Decimal = reservation.amount.as_ref().and_then(|money| money.amount.parse().ok()).unwrap_or_default();
    let share = ShareDecision {
        account_id: reservation.account_id.clone(),
        amount: reservation.amount.clone(),
        available_before: available_before.map(|available| money(available, currency)),
        available_after: available_before.map(|available| money(available - amount, currency)),
        reservation: Some(reservation.clone()),
    };
    AuthorizeOrderResponse {
        decision: Decision::Approved as i32,
        reasons: Vec::new(),
        available_before: share.available_before.clone(),
        available_after: share.available_after.clone(),
        reservation: Some(reservation),
        held_order: None,
        suggested_payment_preference: None,
        shares: vec![share],
        prepaid: false,
    }
}

/// The account's payment preference if it is opted in for this kind of
/// order.
async fn suggested_preference(
    tx: &mut PgConnection,
    tenant_id: Uuid,
    account_id: Uuid,
    event_kind: &str,
) -> Result<Option<PaymentPreference>, CreditError> {
    let preference = repo::preference(tx, tenant_id, account_id).await?;
    let opted_in = |row: &repo::PreferenceRow| match event_kind {
        "SUBSCRIPTION_ACTIVATION" => row.use_for_subscriptions,
        _ => row.use_for_purchases,
    };
    Ok(preference.filter(opted_in).as_ref().map(preference_to_proto))
}
