"""Order to cash with the Python client, through the gateway.

    python order_to_cash.py GATEWAY PLATFORM_ADMIN_TOKEN

A platform administrator opens a tenant and then acts in it (`tenant=`):
an account with a credit limit, a product at 12.50 EUR, a quote of three
(37.50), the order on account, its invoice (37.50), a payment of 20.00,
and the balance both billing (17.50) and credit (17.50) then hold. Two
refusals are read in full: a line of no quantity is INVALID_ARGUMENT naming
the field, and a payment type the account does not allow is
FAILED_PRECONDITION with its reason, domain and the rule it broke. Exits non-zero on any
mismatch (`make test` runs it against the suite).
"""

import datetime
import decimal
import sys
import time
import uuid

import grpc

import bss_client
from bss.accounts.v1 import accounts_pb2, accounts_pb2_grpc, tenants_pb2, tenants_pb2_grpc
from bss.billing.v1 import (
    invoices_pb2,
    invoices_pb2_grpc,
    orders_pb2,
    orders_pb2_grpc,
    payments_pb2,
    payments_pb2_grpc,
)
from bss.credit.v1 import credit_pb2, credit_pb2_grpc
from bss.pricing.v1 import catalog_pb2, catalog_pb2_grpc, quotes_pb2, quotes_pb2_grpc
from bss.type.v1 import common_pb2

D = decimal.Decimal


def expect(actual, expected, what):
    if actual != expected:
        raise AssertionError(f"{what}: {actual!r}, expected {expected!r}")


def main(target: str, platform_token: str) -> None:
    suffix = uuid.uuid4().hex[:8]
    with bss_client.connect(target, platform_token) as platform:
        tenant = tenants_pb2_grpc.TenantServiceStub(platform).CreateTenant(
            tenants_pb2.CreateTenantRequest(
                tenant=tenants_pb2.Tenant(name=f"Python Books {suffix}", default_currency="EUR"),
                request_id=f"tenant-{suffix}",
            )
        ).tenant

    with bss_client.connect(target, platform_token, tenant=tenant.id) as channel:
        accounts = accounts_pb2_grpc.AccountServiceStub(channel)
        account = accounts.CreateAccount(
            accounts_pb2.CreateAccountRequest(
                account=accounts_pb2.Account(
                    code=f"PY-{suffix}",
                    name=f"Python Buyer {suffix}",
                    enable_ordering=True,
                    payment_types=[common_pb2.PAYMENT_TYPE_ON_ACCOUNT],
                ),
                request_id=f"account-{suffix}",
            )
        ).account
        credit = credit_pb2_grpc.CreditServiceStub(channel)
        credit.ChangeCreditTerms(
            credit_pb2.ChangeCreditTermsRequest(
                account_id=account.id,
                terms=credit_pb2.CreditTerms(credit_limit=bss_client.decimal("1000")),
                reason="opening",
                request_id=f"terms-{suffix}",
            )
        )
        catalog_pb2_grpc.CatalogServiceStub(channel).CreateProduct(
            catalog_pb2.CreateProductRequest(
                product=catalog_pb2.Product(
                    code="WIDGET", name="Widget", family="tools", list_price=bss_client.money("12.50", "EUR")
                ),
                request_id=f"product-{suffix}",
            )
        )

        # The quote: 3 x 12.50.
        quote = quotes_pb2_grpc.QuoteServiceStub(channel).Quote(
            quotes_pb2.QuoteRequest(
                account_id=account.id,
                lines=[quotes_pb2.QuoteLineRequest(product="WIDGET", quantity=bss_client.decimal(3))],
            )
        )
        expect(bss_client.amount(quote.lines[0].unit_price), D("12.50"), "unit price")
        expect(bss_client.amount(quote.total), D("37.50"), "quote total")

        # The order, on account: executed, its amount reserved by credit.
        orders = orders_pb2_grpc.OrderServiceStub(channel)
        order = orders.PlaceOrder(
            orders_pb2.PlaceOrderRequest(
                order=orders_pb2.Order(
                    account_id=account.id,
                    lines=[orders_pb2.OrderLine(product="WIDGET", quantity=bss_client.decimal(3))],
                    payment_type=common_pb2.PAYMENT_TYPE_ON_ACCOUNT,
                ),
                request_id=f"order-{suffix}",
            )
        ).order
        expect(order.status, orders_pb2.ORDER_STATUS_EXECUTED, "order status")
        expect(bss_client.amount(order.total), D("37.50"), "order total")

        # The invoice, posted.
        today = datetime.datetime.now(datetime.timezone.utc).date().isoformat()
        invoices = invoices_pb2_grpc.InvoiceServiceStub(channel).GenerateInvoices(
            invoices_pb2.GenerateInvoicesRequest(
                account_id=account.id, invoice_date=today, post=True, request_id=f"invoice-{suffix}"
            )
        ).invoices
        expect([bss_client.amount(invoice.total) for invoice in invoices], [D("37.50")], "invoices")

        # A payment of 20.00 against it; 17.50 left, in billing and credit.
        payments = payments_pb2_grpc.PaymentServiceStub(channel)
        payments.RecordPayment(
            payments_pb2.RecordPaymentRequest(
                payment=payments_pb2.Payment(account_id=account.id, amount=bss_client.money("20.00", "EUR")),
                invoice_id=invoices[0].id,
                request_id=f"payment-{suffix}",
            )
        )
        balance = payments.GetAccountBalance(payments_pb2.GetAccountBalanceRequest(account_id=account.id))
        expect(bss_client.amount(balance.balance), D("17.50"), "billing's balance")
        # Credit applies billing's events a moment later.
        deadline = time.monotonic() + 30
        while True:
            status = credit.GetCreditStatus(credit_pb2.GetCreditStatusRequest(account_id=account.id)).status
            seen = (bss_client.amount(status.balance), bss_client.amount(status.reserved))
            if seen == (D("17.50"), D("0")) or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        expect(seen, (D("17.50"), D("0")), "credit's balance and reserved")

        # Refusals, read in full.
        try:
            orders.PlaceOrder(
                orders_pb2.PlaceOrderRequest(
                    order=orders_pb2.Order(
                        account_id=account.id,
                        lines=[orders_pb2.OrderLine(product="WIDGET", quantity=bss_client.decimal(0))],
                        payment_type=common_pb2.PAYMENT_TYPE_ON_ACCOUNT,
                    )
                )
            )
        except grpc.RpcError as error:
            refused = bss_client.rich_error(error)
            expect(refused.code, grpc.StatusCode.INVALID_ARGUMENT, "a line of no quantity")
            expect(refused.fields, ("order.lines[0].quantity",), "the field named")
        else:
            raise AssertionError("an order line of quantity 0 was accepted")
        try:
            orders.PlaceOrder(
                orders_pb2.PlaceOrderRequest(
                    order=orders_pb2.Order(
                        account_id=account.id,
                        lines=[orders_pb2.OrderLine(product="WIDGET", quantity=bss_client.decimal(1))],
                        payment_type=common_pb2.PAYMENT_TYPE_DIRECT_DEPOSIT,
                    )
                )
            )
        except grpc.RpcError as error:
            refused = bss_client.rich_error(error)
            expect(refused.code, grpc.StatusCode.FAILED_PRECONDITION, "a payment type the account does not allow")
            expect((refused.reason, refused.domain), ("PAYMENT_TYPE_NOT_ALLOWED", "billing.bss"), "its ErrorInfo")
            if not refused.precondition_violations:
                raise AssertionError(f"no rule named: {refused}")
            print(f"refused as expected: {refused.reason}: {refused.precondition_violations[0].description}")
        else:
            raise AssertionError("a direct deposit order was taken from an account that does not allow it")
        try:
            bss_client.money(0.1, "EUR")
        except TypeError:
            pass
        else:
            raise AssertionError("a float was taken for money")
        expect(bss_client.money(D("1E+2"), "EUR").amount, "100", "an exponent written out")
        for bad in ("NaN", "Infinity", "1,5"):
            try:
                bss_client.decimal(bad)
            except ValueError:
                pass
            else:
                raise AssertionError(f"{bad} was taken for a quantity")
    print("python order-to-cash scenario passed")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
