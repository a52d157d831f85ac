//! Payment types (`bss.type.v1.PaymentType`): shared vocabulary of accounts
//! (which an account allows), credit (which use credit) and billing (orders).

use bss_proto::types::PaymentType as WirePaymentType;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PaymentType {
    OnAccount,
    CreditCard,
    PayPal,
    DirectDeposit,
    RunningQuote,
}

impl PaymentType {
    pub const ALL: [PaymentType; 5] = [
        PaymentType::OnAccount,
        PaymentType::CreditCard,
        PaymentType::PayPal,
        PaymentType::DirectDeposit,
        PaymentType::RunningQuote,
    ];

    /// The two-letter code used by imports and stored in the database.
    pub fn code(self) -> &'static str {
        match self {
            PaymentType::OnAccount => "AC",
            PaymentType::CreditCard => "CC",
            PaymentType::PayPal => "PP",
            PaymentType::DirectDeposit => "DD",
            PaymentType::RunningQuote => "RQ",
        }
    }

    pub fn from_code(code: &str) -> Result<PaymentType, String> {
        let wanted = code.trim().to_ascii_uppercase();
        PaymentType::ALL
            .into_iter()
            .find(|payment_type| payment_type.code() == wanted)
            .ok_or_else(|| format!("{code:?} is not a payment type code (AC, CC, PP, DD, RQ)"))
    }

    /// Whether orders paid this way draw on the account's credit: on account
    /// and direct deposit do; card and PayPal are paid before submission; a
    /// running quote is never dispatched.
    pub fn uses_credit(self) -> bool {
        matches!(self, PaymentType::OnAccount | PaymentType::DirectDeposit)
    }

    pub fn from_wire(value: i32) -> Result<PaymentType, String> {
        match WirePaymentType::try_from(value) {
            Ok(WirePaymentType::OnAccount) => Ok(PaymentType::OnAccount),
            Ok(WirePaymentType::CreditCard) => Ok(PaymentType::CreditCard),
            Ok(WirePaymentType::Paypal) => Ok(PaymentType::PayPal),
            Ok(WirePaymentType::DirectDeposit) => Ok(PaymentType::DirectDeposit),
            Ok(WirePaymentType::RunningQuote) => Ok(PaymentType::RunningQuote),
            Ok(WirePaymentType::Unspecified) => Err("a payment type is required".to_owned()),
            Err(_) => Err(format!("{value} is not a payment type")),
        }
    }

    pub fn to_wire(self) -> WirePaymentType {
        match self {
            PaymentType::OnAccount => WirePaymentType::OnAccount,
            PaymentType::CreditCard => WirePaymentType::CreditCard,
            PaymentType::PayPal => WirePaymentType::Paypal,
            PaymentType::DirectDeposit => WirePaymentType::DirectDeposit,
            PaymentType::RunningQuote => WirePaymentType::RunningQuote,
        }
    }
}
