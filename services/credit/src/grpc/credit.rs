//! CreditService: converts the wire to credit's commands and back; the
//! use cases are in `app/` (authorization, held orders, terms, holds,
//! reservations, preferences).

use bss_platform::auth::authorize;
use bss_platform::error::Violations;
use bss_platform::fieldmask::writable_paths;
use bss_platform::idempotency::RequestKey;
use bss_platform::input::{HistoryQuery, optional_date, optional_text, parse_id, required_id, required_text};
use bss_platform::money::money_from_wire;
use bss_platform::paging::Page;
use bss_platform::payment::PaymentType;
use bss_platform::time::{format_date, parse_date, timestamp};
use bss_proto::credit::credit_service_server::CreditService;
use bss_proto::credit::*;
use rust_decimal::Decimal;
use tonic::{Request, Response, Status};

use super::settings::event_kind_code;
use super::{
    CreditApi, DECIDERS, MANAGERS, METHOD_READERS, METHOD_WRITERS, ORDER_CHECKERS, PREFERENCE_WRITERS, READERS,
};
use crate::app::authorization::OrderCheck;
use crate::app::held_orders::Decision as HeldDecision;
use crate::app::preferences::{MethodChange, user_key};
use crate::app::terms::{DueDateQuery, TermsChange};
use crate::domain::error::CreditError;
use crate::domain::preference::looks_like_card_number;
use crate::repo::{MethodRow, Owners, PreferenceRow};
use crate::wire::*;

/// Longest reason or note.
const MAX_REASON: usize = 500;
/// Longest order reference.
const MAX_REFERENCE: usize = 100;
/// Most invoices of one ComputeDueDates or accounts of one
/// CheckAccountsSettled.
const MOST: usize = 1_000;

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
            let account_id = v.keep("account_id", required_id(&request.account_id));
            let input = request.terms.clone().unwrap_or_default();
            let terms = terms_from_wire(&mut v, &input);
            let reason = v.keep("reason", required_text(&request.reason, MAX_REASON));
            let (Some(account_id), Some(terms), Some(reason)) = (account_id, terms, reason) else {
                return Err(v.into());
            };
            v.into_result()?;
            let key = RequestKey::new(tenant_id, "ChangeCreditTerms", &request.request_id, &request)?;
            let change = TermsChange { account_id, terms, etag: input.etag, reason };
            self.change_credit_terms(&caller, tenant_id, key, change, |terms| ChangeCreditTermsResponse {
                terms: Some(terms),
            })
            .await
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
            let (rows, currency) =
                self.terms_history(&caller, tenant_id, account_id, (page.after_uuid()?, page.fetch_limit())).await?;
            let (rows, next_page_token) = page.finish(rows, |row| row.id.as_bytes().to_vec());
            let changes = rows
                .into_iter()
                .map(|row| CreditTermsChange {
                    before: Some(snapshot_to_proto(account_id, currency, &row.change.before)),
                    after: Some(snapshot_to_proto(account_id, currency, &row.change.after)),
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
            let account_id = v.keep("account_id", required_id(&request.account_id));
            let invoice_date = v.keep("invoice_date", parse_date(&request.invoice_date));
            let delivery_date = optional_date(&mut v, "delivery_date", &request.delivery_date);
            let (Some(account_id), Some(invoice_date), Some(delivery_date)) = (account_id, invoice_date, delivery_date)
            else {
                return Err(v.into());
            };
            let query = DueDateQuery { account_id, invoice_date, delivery_date };
            let (due, terms) = self.due_date(&caller, tenant_id, query).await?;
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
        let (_, tenant_id) = authorize(&request, READERS)?;
        let request = request.into_inner();
        let run = async {
            let mut v = Violations::new();
            if request.invoices.is_empty() || request.invoices.len() > MOST {
                v.add("invoices", format!("give 1 to {MOST} invoices"));
            }
            let mut queries = Vec::with_capacity(request.invoices.len());
            for (index, invoice) in request.invoices.iter().enumerate() {
                let field = |name: &str| format!("invoices[{index}].{name}");
                let account_id = v.keep(&field("account_id"), required_id(&invoice.account_id));
                let invoice_date = v.keep(&field("invoice_date"), parse_date(&invoice.invoice_date));
                let delivery_date = optional_date(&mut v, &field("delivery_date"), &invoice.delivery_date);
                if let (Some(account_id), Some(invoice_date), Some(delivery_date)) =
                    (account_id, invoice_date, delivery_date)
                {
                    queries.push(DueDateQuery { account_id, invoice_date, delivery_date });
                }
            }
            v.into_result()?;
            let due_dates = self
                .due_dates(tenant_id, &queries)
                .await?
                .into_iter()
                .map(|(due, terms)| ComputeDueDateResponse {
                    due_date: format_date(due),
                    payment_terms: Some(payment_terms_to_wire(terms)),
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
            let account_id = v.keep("account_id", required_id(&request.account_id));
            let reason = v.keep("reason", required_text(&request.reason, MAX_REASON));
            let (Some(account_id), Some(reason)) = (account_id, reason) else {
                return Err(v.into());
            };
            let key = RequestKey::new(tenant_id, "PutOnHold", &request.request_id, &request)?;
            self.change_hold(&caller, tenant_id, key, (account_id, Some(reason)), |status| PutOnHoldResponse {
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
            let key = RequestKey::new(tenant_id, "ReleaseHold", &request.request_id, &request)?;
            self.change_hold(&caller, tenant_id, key, (account_id, None), |status| ReleaseHoldResponse {
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

    async fn get_exposure_history(
        &self,
        request: Request<GetExposureHistoryRequest>,
    ) -> Result<Response<GetExposureHistoryResponse>, Status> {
        let (caller, tenant_id) = authorize(&request, READERS)?;
        let request = request.into_inner();
        let run = async {
            let query =
                HistoryQuery::parse(&request.account_id, &request.from_date, &request.to_date, &request.time_zone)?;
            let (currency, points) = self.exposure_history(&caller, tenant_id, &query).await?;
            Ok::<_, CreditError>(GetExposureHistoryResponse {
                points: points.iter().map(|(day, exposure)| exposure_point(*day, exposure, currency)).collect(),
            })
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
            let account_id = v.keep("account_id", required_id(&request.account_id));
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
            // Only billing takes money in advance: anyone else asking would
            // pass the limit with nothing behind it.
            if request.prepay_over_limit && !caller.is_service() {
                let why = "only billing, which takes the money from the account's wallet, may prepay an order";
                return Err(Violations::single("prepay_over_limit", why).into());
            }
            // Whether billing can prepay is a hint that may change between
            // attempts (the wallet's balance), not part of the order: a
            // retry is answered as the first decision.
            let identity = AuthorizeOrderRequest { prepay_over_limit: false, ..request.clone() };
            let key = RequestKey::new(tenant_id, "AuthorizeOrder", &request.request_id, &identity)?;
            let order = OrderCheck {
                account_id,
                reference,
                amount,
                currency,
                payment_type,
                event_kind,
                payers,
                keep_until_invoiced: request.keep_until_invoiced,
                prepay_over_limit: request.prepay_over_limit,
            };
            self.authorize_order(&caller, tenant_id, key, order).await
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
            let id = v.keep("reservation_id", required_id(&request.reservation_id));
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
            let key = RequestKey::new(tenant_id, "ReleaseReservation", &request.request_id, &request)?;
            self.release_reservation(&caller, tenant_id, key, (id, amount), |reservation| ReleaseReservationResponse {
                reservation: Some(reservation),
            })
            .await
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
            let (rows, currency) =
                self.reservations_of(&caller, tenant_id, account_id, (page.after_uuid()?, page.fetch_limit())).await?;
            let (rows, next_page_token) = page.finish(rows, |row| row.id.as_bytes().to_vec());
            Ok::<_, CreditError>(ListReservationsResponse {
                reservations: rows.iter().map(|row| reservation_to_proto(row, currency)).collect(),
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
            let held = self.held_orders(tenant_id, state, (page.after_uuid()?, page.fetch_limit())).await?;
            let (held, next_page_token) = page.finish(held, |(id, _)| id.as_bytes().to_vec());
            let held_orders = held.into_iter().map(|(_, held_order)| held_order).collect();
            Ok::<_, CreditError>(ListHeldOrdersResponse { held_orders, next_page_token })
        };
        Ok(Response::new(run.await?))
    }

    async fn approve_held_order(
        &self,
        request: Request<ApproveHeldOrderRequest>,
    ) -> Result<Response<ApproveHeldOrderResponse>, Status> {
        let (caller, tenant_id) = authorize(&request, DECIDERS)?;
        let request = request.into_inner();
        let run = async {
            let decision = held_decision(&request.held_order_id, &request.note, HeldDecision::Approve)?;
            let key = RequestKey::new(tenant_id, "ApproveHeldOrder", &request.request_id, &request)?;
            self.decide_held_order(&caller, tenant_id, key, decision, |held_order, reservations| {
                ApproveHeldOrderResponse {
                    held_order: Some(held_order),
                    reservation: reservations.first().cloned(),
                    reservations,
                }
            })
            .await
        };
        Ok(Response::new(run.await?))
    }

    async fn reject_held_order(
        &self,
        request: Request<RejectHeldOrderRequest>,
    ) -> Result<Response<RejectHeldOrderResponse>, Status> {
        let (caller, tenant_id) = authorize(&request, DECIDERS)?;
        let request = request.into_inner();
        let run = async {
            let decision = held_decision(&request.held_order_id, &request.note, HeldDecision::Reject)?;
            let key = RequestKey::new(tenant_id, "RejectHeldOrder", &request.request_id, &request)?;
            self.decide_held_order(&caller, tenant_id, key, decision, |held_order, _| RejectHeldOrderResponse {
                held_order: Some(held_order),
            })
            .await
        };
        Ok(Response::new(run.await?))
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
            let account_id = v.keep("account_id", required_id(&request.account_id));
            let token = v.keep("preference.card_token_reference", required_text(&input.card_token_reference, 200));
            if token.as_deref().is_some_and(looks_like_card_number) {
                v.add(
                    "preference.card_token_reference",
                    "looks like a card number: store the payment provider's token",
                );
            }
            let label = v.keep("preference.card_label", optional_text(&input.card_label, 100));
            let (Some(account_id), Some(card_token_reference), Some(card_label)) = (account_id, token, label) else {
                return Err(v.into());
            };
            v.into_result()?;
            let key = RequestKey::new(tenant_id, "SetPaymentPreference", &request.request_id, &request)?;
            let preference = PreferenceRow {
                account_id,
                card_token_reference,
                card_label,
                use_for_subscriptions: input.use_for_subscriptions,
                use_for_purchases: input.use_for_purchases,
                updated_at: bss_platform::time::now(),
            };
            self.set_payment_preference(&caller, tenant_id, key, preference, |preference| {
                SetPaymentPreferenceResponse { preference: Some(preference) }
            })
            .await
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
            let preference = self.payment_preference(&caller, tenant_id, account_id).await?;
            Ok::<_, CreditError>(GetPaymentPreferenceResponse { preference: Some(preference) })
        };
        Ok(Response::new(run.await?))
    }

    async fn save_payment_method(
        &self,
        request: Request<SavePaymentMethodRequest>,
    ) -> Result<Response<SavePaymentMethodResponse>, Status> {
        let (caller, tenant_id) = authorize(&request, METHOD_WRITERS)?;
        let mut request = request.into_inner();
        let run = async {
            let own = self.own_account(&caller).await?;
            if let Some(own) = own
                && request.account_id.is_empty()
            {
                request.account_id = own.to_string();
            }
            let input = request.method.clone().unwrap_or_default();
            let mut v = Violations::new();
            let account_id = v.keep("account_id", required_id(&request.account_id));
            let token = v.keep("method.token_reference", required_text(&input.token_reference, 200));
            if token.as_deref().is_some_and(looks_like_card_number) {
                v.add("method.token_reference", "looks like a card number: store the payment provider's token");
            }
            let kind = match PaymentMethodKind::try_from(input.kind) {
                Ok(PaymentMethodKind::Card) => Some("card"),
                Ok(PaymentMethodKind::Wallet) => Some("wallet"),
                _ => {
                    v.add("method.kind", "is required: CARD or WALLET");
                    None
                }
            };
            let label = v.keep("method.label", optional_text(&input.label, 100));
            let (Some(account_id), Some(token_reference), Some(kind), Some(label)) = (account_id, token, kind, label)
            else {
                return Err(v.into());
            };
            v.into_result()?;
            let key = user_key(&caller, tenant_id, ("SavePaymentMethod", &request.request_id), &request)?;
            let method = MethodRow {
                kind: kind.to_owned(),
                token_reference,
                label,
                is_default: input.is_default,
                use_for_purchases: input.use_for_purchases,
                use_for_subscriptions: input.use_for_subscriptions,
                ..MethodRow::new(account_id, bss_platform::time::now())
            };
            self.save_payment_method(&caller, tenant_id, key, method, |method| SavePaymentMethodResponse {
                method: Some(method),
            })
            .await
        };
        Ok(Response::new(run.await?))
    }

    async fn update_payment_method(
        &self,
        request: Request<UpdatePaymentMethodRequest>,
    ) -> Result<Response<UpdatePaymentMethodResponse>, Status> {
        let (caller, tenant_id) = authorize(&request, METHOD_WRITERS)?;
        let request = request.into_inner();
        let run = async {
            let input = request.method.clone().unwrap_or_default();
            let paths = writable_paths(
                request.update_mask.as_ref(),
                &["label", "is_default", "use_for_purchases", "use_for_subscriptions"],
            )?;
            let mut v = Violations::new();
            let id = v.keep("method.id", required_id(&input.id));
            let label = v.keep("method.label", optional_text(&input.label, 100));
            let (Some(id), Some(label)) = (id, label) else {
                return Err(v.into());
            };
            let asked = |path: &str| paths.contains(&path);
            let change = MethodChange {
                label: asked("label").then_some(label),
                is_default: asked("is_default").then_some(input.is_default),
                use_for_purchases: asked("use_for_purchases").then_some(input.use_for_purchases),
                use_for_subscriptions: asked("use_for_subscriptions").then_some(input.use_for_subscriptions),
            };
            let key = user_key(&caller, tenant_id, ("UpdatePaymentMethod", &request.request_id), &request)?;
            self.update_payment_method(&caller, tenant_id, key, (id, change), |method| UpdatePaymentMethodResponse {
                method: Some(method),
            })
            .await
        };
        Ok(Response::new(run.await?))
    }

    async fn remove_payment_method(
        &self,
        request: Request<RemovePaymentMethodRequest>,
    ) -> Result<Response<RemovePaymentMethodResponse>, Status> {
        let (caller, tenant_id) = authorize(&request, METHOD_WRITERS)?;
        let request = request.into_inner();
        let run = async {
            let id = parse_id("id", &request.id)?;
            let key = user_key(&caller, tenant_id, ("RemovePaymentMethod", &request.request_id), &request)?;
            self.remove_payment_method(&caller, tenant_id, key, id, |methods| RemovePaymentMethodResponse { methods })
                .await
        };
        Ok(Response::new(run.await?))
    }

    async fn list_payment_methods(
        &self,
        request: Request<ListPaymentMethodsRequest>,
    ) -> Result<Response<ListPaymentMethodsResponse>, Status> {
        let (caller, tenant_id) = authorize(&request, METHOD_READERS)?;
        let request = request.into_inner();
        let run = async {
            let own = self.own_account(&caller).await?;
            let account_id = match (own, request.account_id.as_str()) {
                (Some(own), "") => own,
                (_, account) => parse_id("account_id", account)?,
            };
            let asked = match (request.user_id.as_str(), request.account_only) {
                ("", false) => Owners::All,
                ("", true) => Owners::AccountAnd(None),
                (user, false) => Owners::AccountAnd(Some(parse_id("user_id", user)?)),
                (_, true) => {
                    let mut v = Violations::new();
                    v.add("account_only", "lists the account's own methods: leave user_id empty with it");
                    return Err(v.into());
                }
            };
            let methods = self.payment_methods(&caller, tenant_id, account_id, asked).await?;
            Ok::<_, CreditError>(ListPaymentMethodsResponse { methods })
        };
        Ok(Response::new(run.await?))
    }

    async fn check_accounts_settled(
        &self,
        request: Request<CheckAccountsSettledRequest>,
    ) -> Result<Response<CheckAccountsSettledResponse>, Status> {
        let (_, tenant_id) = authorize(&request, READERS)?;
        let request = request.into_inner();
        let run = async {
            let mut v = Violations::new();
            let ids = bss_platform::input::id_list(&mut v, "account_ids", &request.account_ids, MOST);
            v.into_result()?;
            let unsettled = self
                .unsettled(tenant_id, &ids)
                .await?
                .into_iter()
                .map(|(account_id, reason, count)| Unsettled { account_id: account_id.to_string(), reason, count })
                .collect();
            Ok::<_, CreditError>(CheckAccountsSettledResponse { unsettled })
        };
        Ok(Response::new(run.await?))
    }
}

/// A credit manager's decision on a held order, each bad field named.
fn held_decision(
    held_order_id: &str,
    note: &str,
    decision: HeldDecision,
) -> Result<(uuid::Uuid, HeldDecision, String), CreditError> {
    let mut v = Violations::new();
    let id = v.keep("held_order_id", required_id(held_order_id));
    let note = v.keep("note", required_text(note, MAX_REASON));
    let (Some(id), Some(note)) = (id, note) else {
        return Err(v.into());
    };
    Ok((id, decision, note))
}
