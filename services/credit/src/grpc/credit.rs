//! CreditService: terms, due dates, holds, status, order authorization,
//! reservations and held orders.

use bss_platform::auth::{Caller, authorize};
use bss_platform::error::Violations;
use bss_platform::idempotency::{self, Opened, RequestKey};
use bss_platform::input::{parse_id, required_text};
use bss_platform::money::{Currency, money_from_wire};
use bss_platform::paging::Page;
use bss_platform::payment::PaymentType;
use bss_platform::time::{format_date, parse_date, timestamp};
use bss_proto::credit::credit_event::Payload;
use bss_proto::credit::credit_service_server::CreditService;
use bss_proto::credit::*;
use bss_proto::provider::CheckOrderRequest;
use bss_proto::provider::credit_check_provider_service_client::CreditCheckProviderServiceClient;
use prost::Message;
use rust_decimal::Decimal;
use sqlx::PgConnection;
use tonic::{Request, Response, Status};
use uuid::Uuid;

use std::collections::{BTreeSet, HashMap};

use super::settings::event_kind_code;
use super::{CreditApi, MANAGERS, ORDER_CHECKERS, PREFERENCE_WRITERS, READERS};
use crate::app::{notify_thresholds, publish};
use crate::domain::account::{CreditAccount, Settings, Terms};
use crate::domain::authorization::{self, Party, is_clean};
use crate::domain::decision::Verdict;
use crate::domain::error::CreditError;
use crate::domain::overrides::limit_lifted;
use crate::domain::preference::looks_like_card_number;
use crate::wire::*;
use crate::{repo, reservations};

/// Longest reason or note.
const MAX_REASON: usize = 500;
/// Longest order reference.
const MAX_REFERENCE: usize = 100;

/// Opens the write, or returns the replayed answer from the enclosing
/// function.
macro_rules! begin {
    ($api:expr, $tenant:expr, $method:literal, $request:expr) => {
        match $api.begin($tenant, $method, &$request.request_id, &$request).await? {
            Opened::Replayed(response) => return Ok(response),
            Opened::Fresh(tx, pending) => (tx, pending),
        }
    };
}

/// How long a reservation lives: the tenant's reservation time, or until
/// invoiced or cancelled (`None`) when its order's invoicer said so.
fn reservation_ttl(settings: &Settings, keep_until_invoiced: bool) -> Option<i64> {
    (!keep_until_invoiced).then_some(settings.reservation_ttl_seconds)
}

/// Reserves `amount` of the (locked) account for an order and records it.
#[allow(clippy::too_many_arguments)]
async fn reserve(
    tx: &mut PgConnection,
    tenant_id: Uuid,
    actor: &str,
    settings: &Settings,
    account: &CreditAccount,
    order_reference: &str,
    amount: Decimal,
    keep_until_invoiced: bool,
) -> Result<Reservation, CreditError> {
    let ttl = reservation_ttl(settings, keep_until_invoiced);
    let row = repo::insert_reservation(tx, tenant_id, account.account_id, order_reference, amount, ttl).await?;
    repo::move_exposure(tx, tenant_id, account.account_id, amount, Decimal::ZERO).await?;
    let before = account.exposure().total();
    notify_thresholds(tx, tenant_id, settings, account, before, before + amount).await?;
    let reservation = reservation_to_proto(&row, account.currency);
    publish(
        tx,
        tenant_id,
        actor,
        Payload::ReservationChanged(ReservationChanged { reservation: Some(reservation.clone()) }),
    )
    .await?;
    Ok(reservation)
}

/// Locks the rows of `accounts` (each once, in id order, so concurrent
/// orders of overlapping accounts never deadlock) and returns them by id.
async fn lock_accounts(
    tx: &mut PgConnection,
    tenant_id: Uuid,
    accounts: impl IntoIterator<Item = Uuid>,
) -> Result<HashMap<Uuid, CreditAccount>, CreditError> {
    let ids: BTreeSet<Uuid> = accounts.into_iter().collect();
    let mut locked = HashMap::with_capacity(ids.len());
    for id in ids {
        locked.insert(id, repo::lock_account(tx, tenant_id, id).await?);
    }
    Ok(locked)
}

impl CreditApi {
    /// Approves or rejects a held order: exactly one decision (or expiry,
    /// or withdrawal) wins. Approval reserves each payer's share on that
    /// payer, whatever its limit.
    /// The answer, made by `respond` of the decided held order and the
    /// reservations an approval made, is stored as the RPC's own response.
    async fn decide<R: Message + Default>(
        &self,
        caller: &Caller,
        tenant_id: Uuid,
        approve: bool,
        request: &impl Message,
        (held_order_id, note, request_id): (&str, &str, &str),
        respond: impl FnOnce(HeldOrder, Vec<Reservation>) -> R,
    ) -> Result<R, CreditError> {
        let mut v = Violations::new();
        let id = v.keep("held_order_id", bss_platform::input::required_id(held_order_id));
        let note = v.keep("note", required_text(note, MAX_REASON));
        let (Some(id), Some(note)) = (id, note) else {
            return Err(v.into());
        };
        let method = if approve { "ApproveHeldOrder" } else { "RejectHeldOrder" };
        let (mut tx, pending) = match self.begin::<R>(tenant_id, method, request_id, request).await? {
            Opened::Replayed(response) => return Ok(response),
            Opened::Fresh(tx, pending) => (tx, pending),
        };
        let held =
            repo::held_order(&mut tx, tenant_id, id).await?.ok_or_else(|| CreditError::not_found("held order", id))?;
        let payers = held.payers.iter().map(|(account_id, _, _)| *account_id);
        let accounts = lock_accounts(&mut tx, tenant_id, payers.chain([held.account_id])).await?;
        let state = if approve { "APPROVED" } else { "REJECTED" };
        let Some(mut decided) = repo::decide_held_order(&mut tx, tenant_id, id, state, &caller.subject, &note).await?
        else {
            return Err(CreditError::precondition(
                "HELD_ORDER_DECIDED",
                format!("held order {id} was already approved, rejected, expired or withdrawn"),
            ));
        };
        let mut reservations = Vec::new();
        if approve {
            let settings = repo::settings(&mut tx, tenant_id).await?;
            for (account_id, share, _) in &held.payers {
                let account = accounts.get(account_id).ok_or_else(|| CreditError::not_found("account", account_id))?;
                let reservation = reserve(
                    &mut tx,
                    tenant_id,
                    &caller.subject,
                    &settings,
                    account,
                    &held.order_reference,
                    *share,
                    held.keep_until_invoiced,
                )
                .await?;
                reservations.push(reservation);
            }
            let ids: Vec<Uuid> = reservations.iter().filter_map(|reservation| reservation.id.parse().ok()).collect();
            repo::set_held_reservations(&mut tx, tenant_id, id, &ids).await?;
            decided.reservation_id = ids.first().copied();
            for (payer, reservation) in decided.payers.iter_mut().zip(&ids) {
                payer.2 = Some(*reservation);
            }
        }
        let currency = accounts.get(&held.account_id).map(|account| account.currency);
        let currency = currency.ok_or_else(|| CreditError::not_found("account", held.account_id))?;
        let held_order = held_to_proto(&decided, currency);
        publish(
            &mut tx,
            tenant_id,
            &caller.subject,
            Payload::HeldOrderChanged(HeldOrderChanged { held_order: Some(held_order.clone()) }),
        )
        .await?;
        let response = respond(held_order, reservations);
        self.commit(tx, pending, &response).await?;
        Ok(response)
    }
}

/// Puts or releases a hold and answers the account's status.
async fn change_hold<R: Message>(
    api: &CreditApi,
    caller: &Caller,
    tenant_id: Uuid,
    account_id: Uuid,
    reason: Option<&str>,
    (mut tx, pending): (sqlx::Transaction<'static, sqlx::Postgres>, bss_platform::idempotency::PendingRequest),
    respond: impl FnOnce(CreditStatus) -> R,
) -> Result<R, CreditError> {
    repo::lock_account(&mut tx, tenant_id, account_id).await?;
    repo::set_hold(&mut tx, tenant_id, account_id, reason).await?;
    let changed = HoldChanged {
        account_id: account_id.to_string(),
        on_hold: reason.is_some(),
        reason: reason.unwrap_or_default().to_owned(),
    };
    publish(&mut tx, tenant_id, &caller.subject, Payload::HoldChanged(changed)).await?;
    let account = repo::account(&mut tx, tenant_id, account_id)
        .await?
        .ok_or_else(|| CreditError::not_found("account", account_id))?;
    let response = respond(status_to_proto(&account));
    api.commit(tx, pending, &response).await?;
    Ok(response)
}

/// An order to reserve for.
struct Order<'a> {
    account: &'a CreditAccount,
    reference: &'a str,
    amount: Decimal,
    keep_until_invoiced: bool,
}

/// The answer to an approval of an order its account pays alone, from what
/// it reserved.
fn approval(reservation: Reservation, available_before: Option<Decimal>, currency: Currency) -> AuthorizeOrderResponse {
    let amount: Decimal = reservation.amount.as_ref().and_then(|money| money.amount.parse().ok()).unwrap_or_default();
    let available_before = available_before.map(|available| money(available, currency));
    let available_after = available_before.as_ref().map(|before| {
        let before: Decimal = before.amount.parse().unwrap_or_default();
        money(before - amount, currency)
    });
    let share = ShareDecision {
        account_id: reservation.account_id.clone(),
        amount: reservation.amount.clone(),
        available_before: available_before.clone(),
        available_after: available_after.clone(),
        reservation: Some(reservation.clone()),
    };
    AuthorizeOrderResponse {
        decision: Decision::Approved as i32,
        reasons: Vec::new(),
        available_before,
        available_after,
        reservation: Some(reservation),
        held_order: None,
        suggested_payment_preference: None,
        shares: vec![share],
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

impl CreditApi {
    /// The clean order's fast path: one statement checks the account and
    /// reserves (see [`repo::reserve_if_clean`]). `None` when the account
    /// is not clean for the order any more.
    async fn reserve_clean(
        &self,
        tenant_id: Uuid,
        actor: &str,
        settings: &Settings,
        order: &Order<'_>,
        key: Option<&RequestKey>,
    ) -> Result<Option<AuthorizeOrderResponse>, CreditError> {
        let currency = order.account.currency;
        let created_at = bss_platform::time::now();
        let row = repo::ReservationRow {
            id: Uuid::now_v7(),
            account_id: order.account.account_id,
            order_reference: order.reference.to_owned(),
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
            order_reference: order.reference,
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
        reference: &str,
        amount: Decimal,
        payment_type: PaymentType,
    ) -> Result<Option<String>, CreditError> {
        let Some(channel) = &self.credit_check else {
            return Ok(None);
        };
        let exposure = account.exposure();
        let check = CheckOrderRequest {
            tenant_id: tenant_id.to_string(),
            account_id: account.account_id.to_string(),
            order_reference: reference.to_owned(),
            amount: Some(money(amount, account.currency)),
            payment_type: payment_type.to_wire() as i32,
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

#[tonic::async_trait]
impl CreditService for CreditApi {
    async fn get_credit_terms(
        &self,
        request: Request<GetCreditTermsRequest>,
    ) -> Result<Response<GetCreditTermsResponse>, Status> {
        let (caller, tenant_id) = authorize(&request, READERS)?;
        let run = async {
            let account_id = parse_id("account_id", &request.get_ref().account_id)?;
            let (account, settings) = self.account(&caller, tenant_id, account_id).await?;
            Ok::<_, CreditError>(GetCreditTermsResponse { terms: Some(terms_to_proto(&account, &settings)) })
        };
        Ok(Response::new(run.await?))
    }

    async fn change_credit_terms(
        &self,
        request: Request<ChangeCreditTermsRequest>,
    ) -> Result<Response<ChangeCreditTermsResponse>, Status> {
        let (caller, tenant_id) = authorize(&request, MANAGERS)?;
        let request = request.into_inner();
        let run = async {
            let mut v = Violations::new();
            let account_id = v.keep("account_id", bss_platform::input::required_id(&request.account_id));
            let input = terms_from_wire(&mut v, &request.terms.clone().unwrap_or_default());
            let reason = v.keep("reason", required_text(&request.reason, MAX_REASON));
            let (Some(account_id), Some(input), Some(reason)) = (account_id, input, reason) else {
                return Err(v.into());
            };
            v.into_result()?;
            let (account, _) = self.account(&caller, tenant_id, account_id).await?;
            if let Some(currency) = input.limit_currency
                && currency != account.currency
            {
                let why = format!("must be the account's currency, {}", account.currency.code);
                return Err(Violations::single("terms.limit.currency_code", why).into());
            }
            let (mut tx, pending) = begin!(self, tenant_id, "ChangeCreditTerms", request);
            let settings = repo::settings(&mut tx, tenant_id).await?;
            if let Some(days) = input.period_days
                && !settings.period_allowed(days)
            {
                return Err(CreditError::precondition(
                    "CREDIT_PERIOD_OUT_OF_RANGE",
                    format!(
                        "a credit period of {days} days is outside the tenant's range of {} to {} days",
                        settings.min_period_days, settings.max_period_days
                    ),
                ));
            }
            let rating = if input.rating.is_empty() {
                None
            } else {
                Some(repo::rating(&mut tx, tenant_id, &input.rating).await?.ok_or_else(|| {
                    CreditError::precondition("CREDIT_RATING_UNKNOWN", format!("no credit rating {}", input.rating))
                })?)
            };
            let limit = input
                .limit
                .or_else(|| rating.as_ref().and_then(|rating| rating.default_limit))
                .unwrap_or(settings.default_limit);
            let terms = Terms {
                limit,
                unlimited: input.unlimited,
                rating: input.rating,
                payment_terms: input.payment_terms,
                period_days: input.period_days,
                classification: input.classification,
                kyc_profile: input.kyc_profile,
                actions: input.actions,
            };
            let before = repo::lock_account(&mut tx, tenant_id, account.account_id).await?;
            before.check_terms_etag(request.terms.as_ref().map(|terms| terms.etag.as_str()).unwrap_or_default())?;
            let (updated_at, terms_version) = repo::save_terms(&mut tx, tenant_id, account_id, &terms).await?;
            let after = CreditAccount { terms, updated_at, terms_version, ..before.clone() };
            let (before, after) = (terms_to_proto(&before, &settings), terms_to_proto(&after, &settings));
            let change_time = repo::add_history(
                &mut tx,
                tenant_id,
                account_id,
                &before.encode_to_vec(),
                &after.encode_to_vec(),
                &reason,
                &caller.subject,
            )
            .await?;
            let change = CreditTermsChange {
                before: Some(before),
                after: Some(after.clone()),
                reason,
                actor: caller.subject.clone(),
                change_time: Some(timestamp(change_time)),
            };
            publish(
                &mut tx,
                tenant_id,
                &caller.subject,
                Payload::CreditTermsChanged(CreditTermsChanged { change: Some(change) }),
            )
            .await?;
            let response = ChangeCreditTermsResponse { terms: Some(after) };
            self.commit(tx, pending, &response).await?;
            Ok::<_, CreditError>(response)
        };
        Ok(Response::new(run.await?))
    }

    async fn list_credit_terms_history(
        &self,
        request: Request<ListCreditTermsHistoryRequest>,
    ) -> Result<Response<ListCreditTermsHistoryResponse>, Status> {
        let (caller, tenant_id) = authorize(&request, READERS)?;
        let request = request.into_inner();
        let run = async {
            let account_id = parse_id("account_id", &request.account_id)?;
            let filters = ListCreditTermsHistoryRequest { page_size: 0, page_token: String::new(), ..request.clone() };
            let page = Page::parse(request.page_size, &request.page_token, &filters)?;
            self.account(&caller, tenant_id, account_id).await?;
            let mut connection = self.db.acquire().await?;
            let rows =
                repo::history(&mut connection, tenant_id, account_id, page.after_uuid()?, page.fetch_limit()).await?;
            let (rows, next_page_token) = page.finish(rows, |row| row.id.as_bytes().to_vec());
            let changes = rows
                .into_iter()
                .map(|row| CreditTermsChange {
                    before: CreditTerms::decode(row.before.as_slice()).ok(),
                    after: CreditTerms::decode(row.after.as_slice()).ok(),
                    reason: row.reason,
                    actor: row.actor,
                    change_time: Some(timestamp(row.changed_at)),
                })
                .collect();
            Ok::<_, CreditError>(ListCreditTermsHistoryResponse { changes, next_page_token })
        };
        Ok(Response::new(run.await?))
    }

    async fn compute_due_date(
        &self,
        request: Request<ComputeDueDateRequest>,
    ) -> Result<Response<ComputeDueDateResponse>, Status> {
        let (caller, tenant_id) = authorize(&request, READERS)?;
        let request = request.into_inner();
        let run = async {
            let mut v = Violations::new();
            let account_id = v.keep("account_id", bss_platform::input::required_id(&request.account_id));
            let invoice = v.keep("invoice_date", parse_date(&request.invoice_date));
            let delivery = if request.delivery_date.is_empty() {
                Some(None)
            } else {
                v.keep("delivery_date", parse_date(&request.delivery_date)).map(Some)
            };
            let (Some(account_id), Some(invoice), Some(delivery)) = (account_id, invoice, delivery) else {
                return Err(v.into());
            };
            let (account, settings) = self.account(&caller, tenant_id, account_id).await?;
            let terms = account.terms.payment_terms;
            let due = terms.due_date(invoice, delivery, account.terms.period_days(&settings));
            Ok::<_, CreditError>(ComputeDueDateResponse {
                due_date: format_date(due),
                payment_terms: Some(payment_terms_to_wire(terms)),
            })
        };
        Ok(Response::new(run.await?))
    }

    async fn compute_due_dates(
        &self,
        request: Request<ComputeDueDatesRequest>,
    ) -> Result<Response<ComputeDueDatesResponse>, Status> {
        const MOST: usize = 1_000;
        let (_, tenant_id) = authorize(&request, READERS)?;
        let request = request.into_inner();
        let run = async {
            let mut v = Violations::new();
            if request.invoices.is_empty() || request.invoices.len() > MOST {
                v.add("invoices", format!("give 1 to {MOST} invoices"));
            }
            let mut parsed = Vec::with_capacity(request.invoices.len());
            for (index, invoice) in request.invoices.iter().enumerate() {
                let field = |name: &str| format!("invoices[{index}].{name}");
                let account_id = v.keep(&field("account_id"), bss_platform::input::required_id(&invoice.account_id));
                let date = v.keep(&field("invoice_date"), parse_date(&invoice.invoice_date));
                let delivery = if invoice.delivery_date.is_empty() {
                    Some(None)
                } else {
                    v.keep(&field("delivery_date"), parse_date(&invoice.delivery_date)).map(Some)
                };
                if let (Some(account_id), Some(date), Some(delivery)) = (account_id, date, delivery) {
                    parsed.push((account_id, date, delivery));
                }
            }
            v.into_result()?;
            let ids: Vec<Uuid> = parsed.iter().map(|(id, _, _)| *id).collect();
            let mut connection = self.db.acquire().await?;
            let settings = repo::settings(&mut connection, tenant_id).await?;
            let known: std::collections::HashMap<Uuid, Terms> = repo::accounts(&mut connection, tenant_id, &ids)
                .await?
                .into_iter()
                .map(|account| (account.account_id, account.terms))
                .collect();
            let due_dates = parsed
                .into_iter()
                .map(|(account_id, date, delivery)| {
                    let (terms, period) = known.get(&account_id).map_or(
                        (crate::domain::terms::PaymentTerms::NotSpecified, settings.default_period_days),
                        |terms| (terms.payment_terms, terms.period_days(&settings)),
                    );
                    ComputeDueDateResponse {
                        due_date: format_date(terms.due_date(date, delivery, period)),
                        payment_terms: Some(payment_terms_to_wire(terms)),
                    }
                })
                .collect();
            Ok::<_, CreditError>(ComputeDueDatesResponse { due_dates })
        };
        Ok(Response::new(run.await?))
    }

    async fn put_on_hold(&self, request: Request<PutOnHoldRequest>) -> Result<Response<PutOnHoldResponse>, Status> {
        let (caller, tenant_id) = authorize(&request, MANAGERS)?;
        let request = request.into_inner();
        let run = async {
            let mut v = Violations::new();
            let account_id = v.keep("account_id", bss_platform::input::required_id(&request.account_id));
            let reason = v.keep("reason", required_text(&request.reason, MAX_REASON));
            let (Some(account_id), Some(reason)) = (account_id, reason) else {
                return Err(v.into());
            };
            self.account(&caller, tenant_id, account_id).await?;
            let opened = begin!(self, tenant_id, "PutOnHold", request);
            change_hold(self, &caller, tenant_id, account_id, Some(&reason), opened, |status| PutOnHoldResponse {
                status: Some(status),
            })
            .await
        };
        Ok(Response::new(run.await?))
    }

    async fn release_hold(
        &self,
        request: Request<ReleaseHoldRequest>,
    ) -> Result<Response<ReleaseHoldResponse>, Status> {
        let (caller, tenant_id) = authorize(&request, MANAGERS)?;
        let request = request.into_inner();
        let run = async {
            let account_id = parse_id("account_id", &request.account_id)?;
            self.account(&caller, tenant_id, account_id).await?;
            let opened = begin!(self, tenant_id, "ReleaseHold", request);
            change_hold(self, &caller, tenant_id, account_id, None, opened, |status| ReleaseHoldResponse {
                status: Some(status),
            })
            .await
        };
        Ok(Response::new(run.await?))
    }

    async fn get_credit_status(
        &self,
        request: Request<GetCreditStatusRequest>,
    ) -> Result<Response<GetCreditStatusResponse>, Status> {
        let (caller, tenant_id) = authorize(&request, READERS)?;
        let run = async {
            let account_id = parse_id("account_id", &request.get_ref().account_id)?;
            let (account, _) = self.account(&caller, tenant_id, account_id).await?;
            Ok::<_, CreditError>(GetCreditStatusResponse { status: Some(status_to_proto(&account)) })
        };
        Ok(Response::new(run.await?))
    }

    async fn authorize_order(
        &self,
        request: Request<AuthorizeOrderRequest>,
    ) -> Result<Response<AuthorizeOrderResponse>, Status> {
        let (caller, tenant_id) = authorize(&request, ORDER_CHECKERS)?;
        let request = request.into_inner();
        let run = async {
            let mut v = Violations::new();
            let account_id = v.keep("account_id", bss_platform::input::required_id(&request.account_id));
            let reference = v.keep("order_reference", required_text(&request.order_reference, MAX_REFERENCE));
            let amount = money_from_wire(&mut v, "amount", request.amount.as_ref());
            // A free order is checked against holds and terms and reserves
            // nothing.
            if amount.is_some_and(|(amount, _)| amount < Decimal::ZERO) {
                v.add("amount.amount", "must be zero or more");
            }
            let payment_type = v.keep("payment_type", PaymentType::from_wire(request.payment_type));
            let event_kind = v.keep("event_kind", event_kind_code(request.event_kind));
            let payers = payers_from_wire(&mut v, &request.payers, amount);
            let (
                Some(account_id),
                Some(reference),
                Some((amount, currency)),
                Some(payment_type),
                Some(event_kind),
                Some(payers),
            ) = (account_id, reference, amount, payment_type, event_kind, payers)
            else {
                return Err(v.into());
            };
            v.into_result()?;
            let (account, settings) = self.account(&caller, tenant_id, account_id).await?;
            if currency != account.currency {
                return Err(Violations::single(
                    "amount.currency_code",
                    format!("must be the account's currency, {}", account.currency.code),
                )
                .into());
            }
            if currency.round(amount) != amount {
                return Err(Violations::single(
                    "amount.amount",
                    format!("has more decimals than {} allows", currency.code),
                )
                .into());
            }
            // Who pays what: the account itself unless payers were named.
            let shares = if payers.is_empty() { vec![(account_id, amount)] } else { payers };
            for (index, (payer_id, _)) in shares.iter().enumerate() {
                if *payer_id != account_id {
                    let (payer, _) =
                        self.account(&caller, tenant_id, *payer_id).await.map_err(|error| match error {
                            CreditError::NotFound { .. } => {
                                Violations::single(format!("payers[{index}].account_id"), "no such account").into()
                            }
                            other => other,
                        })?;
                    if payer.currency != currency {
                        return Err(Violations::single(
                            format!("payers[{index}].account_id"),
                            format!("pays in {}, the order is in {}", payer.currency.code, currency.code),
                        )
                        .into());
                    }
                }
            }
            let key = RequestKey::new(tenant_id, "AuthorizeOrder", &request.request_id, &request)?;
            let veto = match payment_type.uses_credit() {
                true => self.external_check(tenant_id, &account, &reference, amount, payment_type).await?,
                false => None,
            };
            let alone = shares == [(account_id, amount)];
            if veto.is_none()
                && alone
                && amount > Decimal::ZERO
                && payment_type.uses_credit()
                && is_clean(&account, &settings.thresholds, amount)
            {
                let order = Order {
                    account: &account,
                    reference: &reference,
                    amount,
                    keep_until_invoiced: request.keep_until_invoiced,
                };
                // `None`: no longer clean; decided in full below.
                if let Some(response) =
                    self.reserve_clean(tenant_id, &caller.subject, &settings, &order, key.as_ref()).await?
                {
                    return Ok(response);
                }
            }
            let (mut tx, pending) = match idempotency::open::<AuthorizeOrderResponse>(&self.db, key).await? {
                Opened::Replayed(response) => return self.completed(tenant_id, response).await,
                Opened::Fresh(tx, pending) => (tx, pending),
            };
            let settings = repo::settings(&mut tx, tenant_id).await?;
            let involved = shares.iter().map(|(id, _)| *id).chain([account_id]);
            // Only an order on credit changes exposure: the rows are locked
            // for it, so racing orders never pass a limit.
            let accounts = if payment_type.uses_credit() {
                lock_accounts(&mut tx, tenant_id, involved).await?
            } else {
                let ids: Vec<Uuid> = involved.collect();
                repo::accounts(&mut tx, tenant_id, &ids).await?.into_iter().map(|row| (row.account_id, row)).collect()
            };
            let rules = if payment_type.uses_credit() { repo::rules(&mut tx, tenant_id).await? } else { Vec::new() };
            let found = |id: &Uuid| accounts.get(id).ok_or_else(|| CreditError::not_found("account", id));
            // The ordering account first, then each payer once.
            let mut parties = vec![];
            for id in [account_id].iter().chain(shares.iter().map(|(id, _)| id).filter(|id| **id != account_id)) {
                let party_account = found(id)?;
                let share = shares.iter().find(|(payer, _)| payer == id).map_or(Decimal::ZERO, |(_, share)| *share);
                let lifted = limit_lifted(&rules, event_kind, &party_account.terms);
                parties.push(Party::of(party_account, &settings, share, lifted));
            }
            let decided = authorization::authorize(payment_type, &parties, veto);
            let mut reasons: Vec<DecisionReason> = decided
                .reasons
                .iter()
                .map(|reason| reason_to_proto(&reason.reason, reason.account_id, reason.account_id == account_id))
                .collect();
            if let Some(why) = &decided.veto {
                reasons.push(DecisionReason {
                    code: "EXTERNAL_CREDIT_CHECK".to_owned(),
                    action: CreditAction::Block as i32,
                    message: why.clone(),
                    account_id: account_id.to_string(),
                });
            }
            let reservations = decided.reservations(payment_type, &parties);
            let mut shares_decided = Vec::with_capacity(shares.len());
            for (payer_id, share) in &shares {
                let payer = found(payer_id)?;
                let before = payer.exposure().available();
                let reserving = reservations.iter().any(|(id, _)| id == payer_id);
                let reservation = if reserving {
                    let keep = request.keep_until_invoiced;
                    Some(
                        reserve(&mut tx, tenant_id, &caller.subject, &settings, payer, &reference, *share, keep)
                            .await?,
                    )
                } else {
                    None
                };
                let after = before.map(|available| if reserving { available - share } else { available });
                shares_decided.push(ShareDecision {
                    account_id: payer_id.to_string(),
                    amount: Some(money(*share, currency)),
                    available_before: before.map(|available| money(available, currency)),
                    available_after: after.map(|available| money(available, currency)),
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
            };
            if decided.over_limit || decided.verdict == Verdict::CreditCardOnly {
                response.suggested_payment_preference =
                    suggested_preference(&mut tx, tenant_id, account_id, event_kind).await?;
            }
            if decided.verdict == Verdict::HeldForApproval {
                let held = repo::NewHeldOrder {
                    account_id,
                    order_reference: &reference,
                    amount,
                    payment_type,
                    reasons: reasons.iter().map(Message::encode_to_vec).collect(),
                    payers: &shares,
                    ttl_seconds: settings.held_order_ttl_seconds,
                    keep_until_invoiced: request.keep_until_invoiced,
                };
                let row = repo::insert_held_order(&mut tx, tenant_id, &held).await?;
                let held_order = held_to_proto(&row, currency);
                publish(
                    &mut tx,
                    tenant_id,
                    &caller.subject,
                    Payload::HeldOrderChanged(HeldOrderChanged { held_order: Some(held_order.clone()) }),
                )
                .await?;
                response.held_order = Some(held_order);
            }
            self.commit(tx, pending, &response).await?;
            Ok::<_, CreditError>(response)
        };
        Ok(Response::new(run.await?))
    }

    async fn release_reservation(
        &self,
        request: Request<ReleaseReservationRequest>,
    ) -> Result<Response<ReleaseReservationResponse>, Status> {
        let (caller, tenant_id) = authorize(&request, ORDER_CHECKERS)?;
        let request = request.into_inner();
        let run = async {
            let mut v = Violations::new();
            let id = v.keep("reservation_id", bss_platform::input::required_id(&request.reservation_id));
            let amount = match &request.amount {
                None => Some(None),
                Some(_) => {
                    let amount = money_from_wire(&mut v, "amount", request.amount.as_ref());
                    if amount.is_some_and(|(amount, _)| amount <= Decimal::ZERO) {
                        v.add("amount.amount", "must be greater than zero");
                    }
                    amount.map(Some)
                }
            };
            let (Some(id), Some(amount)) = (id, amount) else {
                return Err(v.into());
            };
            v.into_result()?;
            let (mut tx, pending) = begin!(self, tenant_id, "ReleaseReservation", request);
            let found = repo::reservation(&mut tx, tenant_id, id)
                .await?
                .ok_or_else(|| CreditError::not_found("reservation", id))?;
            let account = repo::lock_account(&mut tx, tenant_id, found.account_id).await?;
            if let Some((amount, currency)) = amount {
                if currency != account.currency {
                    let expected = format!("must be the account's currency, {}", account.currency.code);
                    return Err(Violations::single("amount.currency_code", expected).into());
                }
                // Read again under the account's lock: what is open now.
                let now_open = repo::reservation(&mut tx, tenant_id, id).await?;
                let open = now_open.as_ref().filter(|row| row.state == "OPEN").map(|row| row.open_amount);
                if let Some(open) = open
                    && amount > open
                {
                    return Err(CreditError::precondition(
                        "RELEASE_EXCEEDS_OPEN",
                        format!("reservation {id} holds {open}, less than {amount}"),
                    ));
                }
            }
            let taken = reservations::take(
                &mut tx,
                tenant_id,
                &caller.subject,
                &account,
                id,
                amount.map(|(amount, _)| amount),
                "RELEASED",
            )
            .await?;
            let Some((released, _)) = taken else {
                return Err(CreditError::precondition(
                    "RESERVATION_CLOSED",
                    format!("reservation {id} is {} already", found.state.to_lowercase()),
                ));
            };
            let response =
                ReleaseReservationResponse { reservation: Some(reservation_to_proto(&released, account.currency)) };
            self.commit(tx, pending, &response).await?;
            Ok::<_, CreditError>(response)
        };
        Ok(Response::new(run.await?))
    }

    async fn list_reservations(
        &self,
        request: Request<ListReservationsRequest>,
    ) -> Result<Response<ListReservationsResponse>, Status> {
        let (caller, tenant_id) = authorize(&request, READERS)?;
        let request = request.into_inner();
        let run = async {
            let account_id = parse_id("account_id", &request.account_id)?;
            let filters = ListReservationsRequest { page_size: 0, page_token: String::new(), ..request.clone() };
            let page = Page::parse(request.page_size, &request.page_token, &filters)?;
            let (account, _) = self.account(&caller, tenant_id, account_id).await?;
            let mut connection = self.db.acquire().await?;
            let rows =
                repo::reservations(&mut connection, tenant_id, account_id, page.after_uuid()?, page.fetch_limit())
                    .await?;
            let (rows, next_page_token) = page.finish(rows, |row| row.id.as_bytes().to_vec());
            Ok::<_, CreditError>(ListReservationsResponse {
                reservations: rows.iter().map(|row| reservation_to_proto(row, account.currency)).collect(),
                next_page_token,
            })
        };
        Ok(Response::new(run.await?))
    }

    async fn list_held_orders(
        &self,
        request: Request<ListHeldOrdersRequest>,
    ) -> Result<Response<ListHeldOrdersResponse>, Status> {
        let (_, tenant_id) = authorize(&request, READERS)?;
        let request = request.into_inner();
        let run = async {
            let state = match HeldOrderState::try_from(request.state) {
                Ok(state) => held_state_code(state),
                Err(_) => {
                    return Err(
                        Violations::single("state", format!("{} is not a held order state", request.state)).into()
                    );
                }
            };
            let filters = ListHeldOrdersRequest { page_size: 0, page_token: String::new(), ..request.clone() };
            let page = Page::parse(request.page_size, &request.page_token, &filters)?;
            let mut connection = self.db.acquire().await?;
            let rows =
                repo::held_orders(&mut connection, tenant_id, state, page.after_uuid()?, page.fetch_limit()).await?;
            let (rows, next_page_token) = page.finish(rows, |row| row.id.as_bytes().to_vec());
            let mut held_orders = Vec::with_capacity(rows.len());
            for row in &rows {
                let account = repo::account(&mut connection, tenant_id, row.account_id)
                    .await?
                    .ok_or_else(|| CreditError::not_found("account", row.account_id))?;
                held_orders.push(held_to_proto(row, account.currency));
            }
            Ok::<_, CreditError>(ListHeldOrdersResponse { held_orders, next_page_token })
        };
        Ok(Response::new(run.await?))
    }

    async fn approve_held_order(
        &self,
        request: Request<ApproveHeldOrderRequest>,
    ) -> Result<Response<ApproveHeldOrderResponse>, Status> {
        let (caller, tenant_id) = authorize(&request, MANAGERS)?;
        let request = request.into_inner();
        let response = self
            .decide(
                &caller,
                tenant_id,
                true,
                &request,
                (&request.held_order_id, &request.note, &request.request_id),
                |held_order, reservations| ApproveHeldOrderResponse {
                    held_order: Some(held_order),
                    reservation: reservations.first().cloned(),
                    reservations,
                },
            )
            .await?;
        Ok(Response::new(response))
    }

    async fn reject_held_order(
        &self,
        request: Request<RejectHeldOrderRequest>,
    ) -> Result<Response<RejectHeldOrderResponse>, Status> {
        let (caller, tenant_id) = authorize(&request, MANAGERS)?;
        let request = request.into_inner();
        let response = self
            .decide(
                &caller,
                tenant_id,
                false,
                &request,
                (&request.held_order_id, &request.note, &request.request_id),
                |held_order, _| RejectHeldOrderResponse { held_order: Some(held_order) },
            )
            .await?;
        Ok(Response::new(response))
    }

    async fn set_payment_preference(
        &self,
        request: Request<SetPaymentPreferenceRequest>,
    ) -> Result<Response<SetPaymentPreferenceResponse>, Status> {
        let (caller, tenant_id) = authorize(&request, PREFERENCE_WRITERS)?;
        let request = request.into_inner();
        let run = async {
            let input = request.preference.clone().unwrap_or_default();
            let mut v = Violations::new();
            let account_id = v.keep("account_id", bss_platform::input::required_id(&request.account_id));
            let token = v.keep("preference.card_token_reference", required_text(&input.card_token_reference, 200));
            if token.as_deref().is_some_and(looks_like_card_number) {
                v.add(
                    "preference.card_token_reference",
                    "looks like a card number: store the payment provider's token",
                );
            }
            let label = v.keep("preference.card_label", bss_platform::input::optional_text(&input.card_label, 100));
            let (Some(account_id), Some(card_token_reference), Some(card_label)) = (account_id, token, label) else {
                return Err(v.into());
            };
            v.into_result()?;
            self.account(&caller, tenant_id, account_id).await?;
            let (mut tx, pending) = begin!(self, tenant_id, "SetPaymentPreference", request);
            let row = repo::PreferenceRow {
                account_id,
                card_token_reference,
                card_label,
                use_for_subscriptions: input.use_for_subscriptions,
                use_for_purchases: input.use_for_purchases,
                updated_at: bss_platform::time::now(),
            };
            let stored = repo::set_preference(&mut tx, tenant_id, &row).await?;
            let response = SetPaymentPreferenceResponse { preference: Some(preference_to_proto(&stored)) };
            self.commit(tx, pending, &response).await?;
            Ok::<_, CreditError>(response)
        };
        Ok(Response::new(run.await?))
    }

    async fn get_payment_preference(
        &self,
        request: Request<GetPaymentPreferenceRequest>,
    ) -> Result<Response<GetPaymentPreferenceResponse>, Status> {
        let (caller, tenant_id) = authorize(&request, READERS)?;
        let run = async {
            let account_id = parse_id("account_id", &request.get_ref().account_id)?;
            self.account(&caller, tenant_id, account_id).await?;
            let mut connection = self.db.acquire().await?;
            let preference = repo::preference(&mut connection, tenant_id, account_id)
                .await?
                .ok_or_else(|| CreditError::not_found("payment preference", account_id))?;
            Ok::<_, CreditError>(GetPaymentPreferenceResponse { preference: Some(preference_to_proto(&preference)) })
        };
        Ok(Response::new(run.await?))
    }

    async fn check_accounts_settled(
        &self,
        request: Request<CheckAccountsSettledRequest>,
    ) -> Result<Response<CheckAccountsSettledResponse>, Status> {
        const MOST: usize = 1_000;
        let (_, tenant_id) = authorize(&request, READERS)?;
        let request = request.into_inner();
        let run = async {
            let mut v = Violations::new();
            let ids = bss_platform::input::id_list(&mut v, "account_ids", &request.account_ids, MOST);
            v.into_result()?;
            let mut connection = self.db.acquire().await?;
            let unsettled = repo::unsettled(&mut connection, tenant_id, &ids)
                .await?
                .into_iter()
                .map(|(account_id, reason, count)| Unsettled { account_id: account_id.to_string(), reason, count })
                .collect();
            Ok::<_, CreditError>(CheckAccountsSettledResponse { unsettled })
        };
        Ok(Response::new(run.await?))
    }
}
