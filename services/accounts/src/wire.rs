//! Accounts' own terms to and from its contract (`bss.accounts.v1`):
//! requests parsed into domain values (every violation collected) and
//! domain values back into messages. The one place that knows both, used by
//! `grpc/` for answers and by `app/` for the events it publishes.

use bss_platform::error::Violations;
use bss_platform::money::Currency;
use bss_platform::payment::PaymentType;
use bss_platform::time::timestamp;
use bss_proto::accounts as proto;
use uuid::Uuid;

use crate::domain::account::{
    Account, AccountCode, AccountFields, AccountKind, AccountName, AccountProfile, AccountStatus, ManagedBy, Problem,
    duplicate_key, parse_custom_fields, parse_sync_options,
};
use crate::domain::address::{Address, AddressFields, AddressType, CountryCode, parse_lines};
use crate::domain::address_check::{AddressCheck, Verdict};
use crate::domain::contact::{Contact, ContactFields, parse_phone, parse_roles};
use crate::domain::custom_fields::{Definition, FieldType};
use crate::domain::group::Funding;
use crate::domain::residential::ResidentialFeatures;
use crate::domain::tenant::{CurrencySettings, NameUniquenessScope, NewTenant, Tenant};
use crate::domain::text::{Email, email_text, optional_text, required_text};
use crate::domain::user::User;
use crate::repo::history::StoredLine;
use bss_proto::types::Warning;

pub use bss_platform::input::{parse_id, parse_optional_id};

fn text(violations: &mut Violations, field: &str, value: &str, max: usize) -> String {
    violations.keep(field, optional_text(value, max)).unwrap_or_default()
}

fn kind_from_wire(value: i32) -> Result<AccountKind, String> {
    match proto::AccountKind::try_from(value) {
        Ok(proto::AccountKind::Unspecified | proto::AccountKind::Direct) => Ok(AccountKind::Direct),
        Ok(proto::AccountKind::Client) => Ok(AccountKind::Client),
        Ok(proto::AccountKind::Reseller) => Ok(AccountKind::Reseller),
        Err(_) => Err(format!("{value} is not an account kind")),
    }
}

fn kind_to_wire(kind: AccountKind) -> proto::AccountKind {
    match kind {
        AccountKind::Direct => proto::AccountKind::Direct,
        AccountKind::Client => proto::AccountKind::Client,
        AccountKind::Reseller => proto::AccountKind::Reseller,
    }
}

fn profile_from_wire(value: i32) -> Result<AccountProfile, String> {
    match proto::AccountProfile::try_from(value) {
        Ok(proto::AccountProfile::Unspecified | proto::AccountProfile::Normal) => Ok(AccountProfile::Normal),
        Ok(proto::AccountProfile::Residential) => Ok(AccountProfile::Residential),
        Err(_) => Err(format!("{value} is not an account profile")),
    }
}

fn profile_to_wire(profile: AccountProfile) -> proto::AccountProfile {
    match profile {
        AccountProfile::Normal => proto::AccountProfile::Normal,
        AccountProfile::Residential => proto::AccountProfile::Residential,
    }
}

/// A status filter: unspecified means any status.
pub fn status_filter_from_wire(value: i32) -> Result<Option<AccountStatus>, String> {
    match proto::AccountStatus::try_from(value) {
        Ok(proto::AccountStatus::Unspecified) => Ok(None),
        Ok(proto::AccountStatus::Active) => Ok(Some(AccountStatus::Active)),
        Ok(proto::AccountStatus::Suspended) => Ok(Some(AccountStatus::Suspended)),
        Ok(proto::AccountStatus::Terminated) => Ok(Some(AccountStatus::Terminated)),
        Err(_) => Err(format!("{value} is not an account status")),
    }
}

/// A kind filter: unspecified means any kind.
pub fn kind_filter_from_wire(value: i32) -> Result<Option<AccountKind>, String> {
    if value == proto::AccountKind::Unspecified as i32 {
        return Ok(None);
    }
    kind_from_wire(value).map(Some)
}

fn status_to_wire(status: AccountStatus) -> proto::AccountStatus {
    match status {
        AccountStatus::Active => proto::AccountStatus::Active,
        AccountStatus::Suspended => proto::AccountStatus::Suspended,
        AccountStatus::Terminated => proto::AccountStatus::Terminated,
    }
}

/// Allowed payment types without duplicates.
fn parse_payment_types(values: &[i32]) -> Result<Vec<PaymentType>, String> {
    let mut types = Vec::with_capacity(values.len());
    for value in values {
        let payment_type = PaymentType::from_wire(*value)?;
        if types.contains(&payment_type) {
            return Err(format!("{} is listed twice", payment_type.code()));
        }
        types.push(payment_type);
    }
    Ok(types)
}

/// Every writable field of an account, parsed; violation paths start with
/// `account.`.
pub fn account_fields(input: &proto::Account) -> Result<AccountFields, Violations> {
    let mut v = Violations::new();
    let code = v.keep("account.code", AccountCode::parse(&input.code));
    let name = v.keep("account.name", AccountName::parse(&input.name));
    let kind = v.keep("account.kind", kind_from_wire(input.kind));
    let profile = v.keep("account.profile", profile_from_wire(input.profile));
    let email = v.keep("account.email", Email::parse_optional(&input.email));
    let billing_email = v.keep("account.billing_email", Email::parse_optional(&input.billing_email));
    let payment_types = v.keep("account.payment_types", parse_payment_types(&input.payment_types));
    let parent_account_id = v.keep("account.parent_account_id", parse_optional_id(&input.parent_account_id));
    let custom_fields = v.keep("account.custom_fields", parse_custom_fields(&input.custom_fields));
    let sync_options = v.keep("account.sync_options", parse_sync_options(&input.sync_options));
    let managed_by = v.keep("account.managed_by", managed_by_from_wire(input.managed_by.as_ref()));
    let country_code = v.keep(
        "account.country_code",
        match input.country_code.as_str() {
            "" => Ok(None),
            code => CountryCode::parse(code).map(Some),
        },
    );
    let external_key = text(&mut v, "account.external_key", &input.external_key, 128);
    let tax_number = text(&mut v, "account.tax_number", &input.tax_number, 64);
    let contact_name = text(&mut v, "account.contact_name", &input.contact_name, 200);
    let sales_rep_id = text(&mut v, "account.sales_rep_id", &input.sales_rep_id, 64);
    let account_class = text(&mut v, "account.account_class", &input.account_class, 64);
    let territory = text(&mut v, "account.territory", &input.territory, 64);
    let shipping_method = text(&mut v, "account.shipping_method", &input.shipping_method, 64);
    let responsible_user = text(&mut v, "account.responsible_user", &input.responsible_user, 128);
    let sharing_rule = text(&mut v, "account.sharing_rule", &input.sharing_rule, 128);
    match (
        code,
        name,
        kind,
        profile,
        email,
        billing_email,
        payment_types,
        parent_account_id,
        custom_fields,
        sync_options,
        managed_by,
        country_code,
    ) {
        (
            Some(code),
            Some(name),
            Some(kind),
            Some(profile),
            Some(email),
            Some(billing_email),
            Some(payment_types),
            Some(parent_account_id),
            Some(custom_fields),
            Some(sync_options),
            Some(managed_by),
            Some(country_code),
        ) if v.is_empty() => Ok(AccountFields {
            code,
            external_key: Some(external_key).filter(|key| !key.is_empty()),
            name,
            kind,
            profile,
            is_active: input.is_active.unwrap_or(true),
            tax_number,
            contact_name,
            email,
            billing_email,
            sales_rep_id,
            account_class,
            territory,
            shipping_method,
            enable_ordering: input.enable_ordering,
            payment_types,
            separate_invoices: input.separate_invoices,
            parent_account_id,
            responsible_user,
            sharing_rule,
            custom_fields,
            system_account: input.system_account,
            sync_options,
            managed_by,
            country_code,
        }),
        _ => Err(v),
    }
}

fn managed_by_from_wire(input: Option<&proto::ManagedBy>) -> Result<Option<ManagedBy>, String> {
    let Some(input) = input else {
        return Ok(None);
    };
    let tenant_reseller = Uuid::parse_str(&input.tenant_reseller_account_id)
        .map_err(|_| "tenant_reseller_account_id must be the UUID of an account".to_owned())?;
    ManagedBy::parse(tenant_reseller, &input.reseller_name, &input.locked_fields).map(Some)
}

fn managed_by_to_wire(managed_by: &ManagedBy) -> proto::ManagedBy {
    proto::ManagedBy {
        tenant_reseller_account_id: managed_by.tenant_reseller_account_id.to_string(),
        reseller_name: managed_by.reseller_name.clone(),
        locked_fields: managed_by.locked_fields.clone(),
    }
}

/// The currency of a new account: empty means the tenant's default.
pub fn optional_currency(value: &str) -> Result<Option<String>, Violations> {
    if value.is_empty() {
        return Ok(None);
    }
    Currency::parse(value)
        .map(|currency| Some(currency.code.to_owned()))
        .map_err(|description| Violations::single("account.currency_code", description))
}

/// Fields an UpdateAccount mask may name.
pub const ACCOUNT_WRITABLE_PATHS: &[&str] = &[
    "code",
    "external_key",
    "name",
    "kind",
    "profile",
    "is_active",
    "tax_number",
    "contact_name",
    "email",
    "billing_email",
    "sales_rep_id",
    "account_class",
    "territory",
    "shipping_method",
    "enable_ordering",
    "payment_types",
    "separate_invoices",
    "parent_account_id",
    "responsible_user",
    "sharing_rule",
    "country_code",
    "currency_code",
    "custom_fields",
    "system_account",
    "sync_options",
    "managed_by",
];

/// Copies the fields named in `paths` from `input` onto `target`.
pub fn overlay_account(target: &mut proto::Account, input: &proto::Account, paths: &[&str]) {
    for path in paths {
        match *path {
            "code" => target.code.clone_from(&input.code),
            "external_key" => target.external_key.clone_from(&input.external_key),
            "name" => target.name.clone_from(&input.name),
            "kind" => target.kind = input.kind,
            "profile" => target.profile = input.profile,
            "is_active" => target.is_active = Some(input.is_active.unwrap_or(true)),
            "tax_number" => target.tax_number.clone_from(&input.tax_number),
            "contact_name" => target.contact_name.clone_from(&input.contact_name),
            "email" => target.email.clone_from(&input.email),
            "billing_email" => target.billing_email.clone_from(&input.billing_email),
            "sales_rep_id" => target.sales_rep_id.clone_from(&input.sales_rep_id),
            "account_class" => target.account_class.clone_from(&input.account_class),
            "territory" => target.territory.clone_from(&input.territory),
            "shipping_method" => target.shipping_method.clone_from(&input.shipping_method),
            "enable_ordering" => target.enable_ordering = input.enable_ordering,
            "payment_types" => target.payment_types.clone_from(&input.payment_types),
            "separate_invoices" => target.separate_invoices = input.separate_invoices,
            "parent_account_id" => target.parent_account_id.clone_from(&input.parent_account_id),
            "responsible_user" => target.responsible_user.clone_from(&input.responsible_user),
            "sharing_rule" => target.sharing_rule.clone_from(&input.sharing_rule),
            "country_code" => target.country_code.clone_from(&input.country_code),
            "currency_code" => target.currency_code.clone_from(&input.currency_code),
            "custom_fields" => target.custom_fields.clone_from(&input.custom_fields),
            "system_account" => target.system_account = input.system_account,
            "sync_options" => target.sync_options.clone_from(&input.sync_options),
            "managed_by" => target.managed_by.clone_from(&input.managed_by),
            _ => {}
        }
    }
}

pub fn account_to_proto(account: &Account) -> proto::Account {
    let fields = &account.fields;
    proto::Account {
        country_code: fields.country_code.as_ref().map_or("", CountryCode::as_str).to_owned(),
        id: account.id.to_string(),
        tenant_id: account.tenant_id.to_string(),
        code: fields.code.as_str().to_owned(),
        external_key: fields.external_key.clone().unwrap_or_default(),
        name: fields.name.as_str().to_owned(),
        kind: kind_to_wire(fields.kind) as i32,
        profile: profile_to_wire(fields.profile) as i32,
        status: status_to_wire(account.status) as i32,
        is_active: Some(fields.is_active),
        tax_number: fields.tax_number.clone(),
        contact_name: fields.contact_name.clone(),
        email: email_text(&fields.email).to_owned(),
        billing_email: email_text(&fields.billing_email).to_owned(),
        sales_rep_id: fields.sales_rep_id.clone(),
        account_class: fields.account_class.clone(),
        territory: fields.territory.clone(),
        shipping_method: fields.shipping_method.clone(),
        enable_ordering: fields.enable_ordering,
        payment_types: fields.payment_types.iter().map(|payment_type| payment_type.to_wire() as i32).collect(),
        separate_invoices: fields.separate_invoices,
        parent_account_id: fields.parent_account_id.map(|id| id.to_string()).unwrap_or_default(),
        responsible_user: fields.responsible_user.clone(),
        sharing_rule: fields.sharing_rule.clone(),
        currency_code: account.currency_code.clone(),
        custom_fields: fields.custom_fields.clone(),
        created_by_import: account.created_by_import,
        user_created_for_account: account.user_created,
        last_import_time: account.last_imported_at.map(timestamp),
        created_by: account.created_by.clone(),
        create_time: Some(timestamp(account.created_at)),
        update_time: Some(timestamp(account.updated_at)),
        etag: account.etag(),
        status_reason: account.status_reason.clone(),
        system_account: fields.system_account,
        managed_by: fields.managed_by.as_ref().map(managed_by_to_wire),
        ribbon_text: fields.managed_by.as_ref().map(ManagedBy::ribbon).unwrap_or_default(),
        sync_options: fields.sync_options.clone(),
    }
}

/// The wire form of a status.
pub fn status_wire(status: AccountStatus) -> i32 {
    status_to_wire(status) as i32
}

/// The writable fields of a contact, parsed; paths start with `contact.`.
pub fn contact_fields(input: &proto::Contact) -> Result<ContactFields, Violations> {
    let mut v = Violations::new();
    let first_name = text(&mut v, "contact.first_name", &input.first_name, 100);
    let last_name = text(&mut v, "contact.last_name", &input.last_name, 100);
    if first_name.is_empty() && last_name.is_empty() {
        v.add("contact.first_name", "a first or last name is required");
    }
    let email = v.keep("contact.email", Email::parse_optional(&input.email));
    let phone = v.keep("contact.phone", parse_phone(&input.phone));
    let roles = v.keep("contact.roles", parse_roles(&input.roles));
    match (email, phone, roles) {
        (Some(email), Some(phone), Some(roles)) if v.is_empty() => {
            Ok(ContactFields { first_name, last_name, email, phone, roles, is_primary: input.is_primary })
        }
        _ => Err(v),
    }
}

pub const CONTACT_WRITABLE_PATHS: &[&str] = &["first_name", "last_name", "email", "phone", "roles", "is_primary"];

pub fn overlay_contact(target: &mut proto::Contact, input: &proto::Contact, paths: &[&str]) {
    for path in paths {
        match *path {
            "first_name" => target.first_name.clone_from(&input.first_name),
            "last_name" => target.last_name.clone_from(&input.last_name),
            "email" => target.email.clone_from(&input.email),
            "phone" => target.phone.clone_from(&input.phone),
            "roles" => target.roles.clone_from(&input.roles),
            "is_primary" => target.is_primary = input.is_primary,
            _ => {}
        }
    }
}

pub fn contact_to_proto(contact: &Contact) -> proto::Contact {
    let fields = &contact.fields;
    proto::Contact {
        id: contact.id.to_string(),
        account_id: contact.account_id.to_string(),
        first_name: fields.first_name.clone(),
        last_name: fields.last_name.clone(),
        email: email_text(&fields.email).to_owned(),
        phone: fields.phone.clone(),
        roles: fields.roles.clone(),
        is_primary: fields.is_primary,
        create_time: Some(timestamp(contact.created_at)),
        update_time: Some(timestamp(contact.updated_at)),
        etag: contact.etag(),
    }
}

fn address_type_from_wire(value: i32) -> Result<AddressType, String> {
    match proto::AddressType::try_from(value) {
        Ok(proto::AddressType::Billing) => Ok(AddressType::Billing),
        Ok(proto::AddressType::Delivery) => Ok(AddressType::Delivery),
        Ok(proto::AddressType::Other) => Ok(AddressType::Other),
        Ok(proto::AddressType::Unspecified) => Err("is required: billing, delivery or other".to_owned()),
        Err(_) => Err(format!("{value} is not an address type")),
    }
}

fn address_type_to_wire(address_type: AddressType) -> proto::AddressType {
    match address_type {
        AddressType::Billing => proto::AddressType::Billing,
        AddressType::Delivery => proto::AddressType::Delivery,
        AddressType::Other => proto::AddressType::Other,
    }
}

/// The writable fields of an address, parsed; paths start with `address.`.
pub fn address_fields(input: &proto::Address) -> Result<AddressFields, Violations> {
    let mut v = Violations::new();
    let address_type = v.keep("address.type", address_type_from_wire(input.r#type));
    let lines = v.keep("address.lines", parse_lines(&input.lines));
    let country_code = v.keep("address.country_code", CountryCode::parse(&input.country_code));
    let contact_id = v.keep("address.contact_id", parse_optional_id(&input.contact_id));
    let city = text(&mut v, "address.city", &input.city, 100);
    let region = text(&mut v, "address.region", &input.region, 100);
    let postal_code = text(&mut v, "address.postal_code", &input.postal_code, 16);
    match (address_type, lines, country_code, contact_id) {
        (Some(address_type), Some(lines), Some(country_code), Some(contact_id)) if v.is_empty() => Ok(AddressFields {
            address_type,
            lines,
            city,
            region,
            postal_code,
            country_code,
            contact_id,
            is_primary: input.is_primary,
        }),
        _ => Err(v),
    }
}

pub const ADDRESS_WRITABLE_PATHS: &[&str] =
    &["type", "lines", "city", "region", "postal_code", "country_code", "contact_id", "is_primary"];

pub fn overlay_address(target: &mut proto::Address, input: &proto::Address, paths: &[&str]) {
    for path in paths {
        match *path {
            "type" => target.r#type = input.r#type,
            "lines" => target.lines.clone_from(&input.lines),
            "city" => target.city.clone_from(&input.city),
            "region" => target.region.clone_from(&input.region),
            "postal_code" => target.postal_code.clone_from(&input.postal_code),
            "country_code" => target.country_code.clone_from(&input.country_code),
            "contact_id" => target.contact_id.clone_from(&input.contact_id),
            "is_primary" => target.is_primary = input.is_primary,
            _ => {}
        }
    }
}

pub fn address_to_proto(address: &Address) -> proto::Address {
    let fields = &address.fields;
    proto::Address {
        id: address.id.to_string(),
        account_id: address.account_id.to_string(),
        r#type: address_type_to_wire(fields.address_type) as i32,
        lines: fields.lines.clone(),
        city: fields.city.clone(),
        region: fields.region.clone(),
        postal_code: fields.postal_code.clone(),
        country_code: fields.country_code.as_str().to_owned(),
        contact_id: fields.contact_id.map(|id| id.to_string()).unwrap_or_default(),
        is_primary: fields.is_primary,
        create_time: Some(timestamp(address.created_at)),
        update_time: Some(timestamp(address.updated_at)),
        etag: address.etag(),
        validation: address
            .validation
            .as_ref()
            .map(|stored| Box::new(validation_to_proto(&stored.check, stored.overridden))),
        override_validation: false,
    }
}

/// A validator's answer on the wire.
pub fn validation_to_proto(check: &AddressCheck, overridden: bool) -> proto::AddressValidation {
    let (status, suggestion) = match &check.verdict {
        Verdict::Valid => (proto::AddressValidationStatus::Valid, None),
        Verdict::Corrected(parts) => (
            proto::AddressValidationStatus::Corrected,
            Some(Box::new(proto::Address {
                lines: parts.lines.clone(),
                city: parts.city.clone(),
                region: parts.region.clone(),
                postal_code: parts.postal_code.clone(),
                country_code: parts.country_code.clone(),
                ..proto::Address::default()
            })),
        ),
        Verdict::Invalid => (proto::AddressValidationStatus::Invalid, None),
    };
    proto::AddressValidation {
        status: status as i32,
        suggestion,
        problems: check
            .problems
            .iter()
            .map(|(field, message)| Warning {
                reason: "ADDRESS_PROBLEM".to_owned(),
                message: message.clone(),
                field: format!("address.{field}"),
            })
            .collect(),
        validator: check.validator.clone(),
        overridden,
    }
}

/// A history line on the wire.
pub fn history_to_proto(line: &StoredLine) -> proto::HistoryEntry {
    proto::HistoryEntry {
        id: line.id,
        account_id: line.account_id.to_string(),
        occur_time: Some(timestamp(line.occurred_at)),
        actor: line.actor.clone(),
        action: line.action.clone(),
        changes: line
            .changes
            .0
            .iter()
            .map(|change| proto::FieldChange {
                field: change.field.clone(),
                old_value: change.old_value.clone(),
                new_value: change.new_value.clone(),
            })
            .collect(),
        reason: line.reason.clone(),
    }
}

pub fn user_to_proto(user: &User) -> proto::User {
    proto::User {
        id: user.id.to_string(),
        account_id: user.account_id.to_string(),
        email: user.email.as_str().to_owned(),
        display_name: user.display_name.clone(),
        sales_rep_id: user.sales_rep_id.clone().unwrap_or_default(),
        create_time: Some(timestamp(user.created_at)),
        update_time: Some(timestamp(user.updated_at)),
    }
}

pub fn funding_from_wire(input: Option<&proto::Funding>) -> Result<Funding, String> {
    let input = input.ok_or_else(|| "a funding scope is required".to_owned())?;
    match proto::FundingScope::try_from(input.scope) {
        Ok(proto::FundingScope::Full) => Ok(Funding::Full),
        Ok(proto::FundingScope::Partial) => {
            Funding::partial(&input.product_ids, &input.product_types, &input.product_families)
        }
        _ => Err("scope must be FULL or PARTIAL".to_owned()),
    }
}

pub fn funding_to_proto(funding: &Funding) -> proto::Funding {
    match funding {
        Funding::Full => proto::Funding { scope: proto::FundingScope::Full as i32, ..proto::Funding::default() },
        Funding::Partial { product_ids, product_types, product_families } => proto::Funding {
            scope: proto::FundingScope::Partial as i32,
            product_ids: product_ids.clone(),
            product_types: product_types.clone(),
            product_families: product_families.clone(),
        },
    }
}

pub fn field_type_from_wire(value: i32) -> Result<FieldType, String> {
    match proto::CustomFieldType::try_from(value) {
        Ok(proto::CustomFieldType::Text) => Ok(FieldType::Text),
        Ok(proto::CustomFieldType::Number) => Ok(FieldType::Number),
        Ok(proto::CustomFieldType::Date) => Ok(FieldType::Date),
        Ok(proto::CustomFieldType::Boolean) => Ok(FieldType::Boolean),
        Ok(proto::CustomFieldType::Choice) => Ok(FieldType::Choice),
        _ => Err("type must be TEXT, NUMBER, DATE, BOOLEAN or CHOICE".to_owned()),
    }
}

pub fn definition_to_proto(definition: &Definition) -> proto::CustomFieldDefinition {
    let field_type = match definition.field_type {
        FieldType::Text => proto::CustomFieldType::Text,
        FieldType::Number => proto::CustomFieldType::Number,
        FieldType::Date => proto::CustomFieldType::Date,
        FieldType::Boolean => proto::CustomFieldType::Boolean,
        FieldType::Choice => proto::CustomFieldType::Choice,
    };
    proto::CustomFieldDefinition {
        key: definition.key.clone(),
        label: definition.label.clone(),
        r#type: field_type as i32,
        choices: definition.choices.clone(),
    }
}

fn scope_from_wire(value: i32) -> Result<NameUniquenessScope, String> {
    match proto::NameUniquenessScope::try_from(value) {
        Ok(proto::NameUniquenessScope::Unspecified | proto::NameUniquenessScope::Tenant) => {
            Ok(NameUniquenessScope::Tenant)
        }
        Ok(proto::NameUniquenessScope::ParentTenant) => Ok(NameUniquenessScope::ParentTenant),
        Err(_) => Err(format!("{value} is not a name uniqueness scope")),
    }
}

fn scope_to_wire(scope: NameUniquenessScope) -> proto::NameUniquenessScope {
    match scope {
        NameUniquenessScope::Tenant => proto::NameUniquenessScope::Tenant,
        NameUniquenessScope::ParentTenant => proto::NameUniquenessScope::ParentTenant,
    }
}

pub fn new_tenant(input: &proto::Tenant) -> Result<NewTenant, Violations> {
    let mut v = Violations::new();
    let name = v.keep("tenant.name", required_text(&input.name, 200));
    let currency = v.keep("tenant.default_currency", Currency::parse(&input.default_currency));
    let parent_tenant_id = v.keep("tenant.parent_tenant_id", parse_optional_id(&input.parent_tenant_id));
    let scope = v.keep("tenant.name_uniqueness_scope", scope_from_wire(input.name_uniqueness_scope));
    let currencies = currency_settings(input.multi_currency, &input.currency_by_country, "tenant.currency_by_country");
    let time_zone = v.keep("tenant.time_zone", bss_platform::input::time_zone_name(&input.time_zone));
    if let Err(problems) = &currencies {
        v.extend(problems.clone());
    }
    if scope == Some(NameUniquenessScope::ParentTenant) && parent_tenant_id == Some(None) {
        v.add("tenant.name_uniqueness_scope", "sharing the parent's name space needs a parent tenant");
    }
    match (name, currency, parent_tenant_id, scope, time_zone) {
        (Some(name), Some(currency), Some(parent_tenant_id), Some(name_uniqueness_scope), Some(time_zone))
            if v.is_empty() =>
        {
            Ok(NewTenant {
                name,
                default_currency: currency.code.to_owned(),
                parent_tenant_id,
                name_uniqueness_scope,
                currencies: currencies?,
                time_zone,
            })
        }
        _ => Err(v),
    }
}

pub fn tenant_to_proto(tenant: &Tenant) -> proto::Tenant {
    proto::Tenant {
        id: tenant.id.to_string(),
        name: tenant.name.clone(),
        default_currency: tenant.default_currency.clone(),
        parent_tenant_id: tenant.parent_tenant_id.map(|id| id.to_string()).unwrap_or_default(),
        name_uniqueness_scope: scope_to_wire(tenant.name_uniqueness_scope) as i32,
        create_time: Some(timestamp(tenant.created_at)),
        status: if tenant.suspend_reason.is_some() {
            proto::TenantStatus::Suspended
        } else {
            proto::TenantStatus::Active
        } as i32,
        suspend_reason: tenant.suspend_reason.clone().unwrap_or_default(),
        guest_account_id: tenant.guest_account_id.map(|id| id.to_string()).unwrap_or_default(),
        guest_accounts_by_region: tenant
            .guest_regions
            .iter()
            .map(|(region, account)| (region.clone(), account.to_string()))
            .collect(),
        registration_profiles: tenant
            .registration_profiles
            .iter()
            .map(|(profile, account)| (profile.clone(), account.to_string()))
            .collect(),
        residential_features: Some(features_to_proto(&tenant.residential)),
        multi_currency: tenant.currencies.multi_currency,
        currency_by_country: tenant.currencies.by_country.clone().into_iter().collect(),
        time_zone: tenant.time_zone.clone(),
    }
}

/// A tenant's currency settings as asked: each country an ISO 3166-1
/// alpha-2 code, each currency ISO 4217; violations under `field`.
pub fn currency_settings(
    multi_currency: bool,
    by_country: &std::collections::BTreeMap<String, String>,
    field: &str,
) -> Result<CurrencySettings, Violations> {
    let mut v = Violations::new();
    let mut parsed = std::collections::BTreeMap::new();
    for (country, currency) in by_country {
        let path = format!("{field}.{country}");
        let country = v.keep(&path, CountryCode::parse(country));
        let currency = v.keep(&path, Currency::parse(currency));
        if let (Some(country), Some(currency)) = (country, currency) {
            parsed.insert(country.as_str().to_owned(), currency.code.to_owned());
        }
    }
    v.into_result()?;
    Ok(CurrencySettings { multi_currency, by_country: parsed })
}

pub fn features_to_proto(features: &ResidentialFeatures) -> proto::ResidentialFeatures {
    proto::ResidentialFeatures {
        sub_accounts: features.sub_accounts,
        groups: features.groups,
        contracts: features.contracts,
        payment_types: features.payment_types.iter().map(|kind| kind.to_wire() as i32).collect(),
    }
}

/// A residential feature set as asked: at least one payment type, each
/// known.
pub fn features_from_proto(input: &proto::ResidentialFeatures) -> Result<ResidentialFeatures, Violations> {
    let payment_types: Vec<PaymentType> = parse_payment_types(&input.payment_types)
        .map_err(|problem| Violations::single("features.payment_types", problem))?;
    if payment_types.is_empty() {
        return Err(Violations::single("features.payment_types", "names at least one payment type"));
    }
    Ok(ResidentialFeatures {
        sub_accounts: input.sub_accounts,
        groups: input.groups,
        contracts: input.contracts,
        payment_types: payment_types.into_iter().collect(),
    })
}

/// A problem of a request or an import row as a warning.
pub fn warning(problem: &Problem) -> Warning {
    Warning { reason: problem.reason.clone(), message: problem.message.clone(), field: problem.field.clone() }
}

/// The warnings of an answer about an account: its external key, when
/// another account has it too.
pub fn key_warnings(duplicate: Option<&str>) -> Vec<Warning> {
    duplicate.map(|key| warning(&duplicate_key(key))).into_iter().collect()
}
