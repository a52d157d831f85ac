use sqlx::PgConnection;
use uuid::Uuid;

use super::corrupt;
use crate::domain::error::AccountsError;
use crate::domain::group::Funding;

/// A membership row.
#[derive(Clone, Debug)]
pub struct Membership {
    pub member_id: Uuid,
    pub parent_id: Uuid,
    pub funding: Funding,
}

#[derive(sqlx::FromRow)]
struct MembershipRow {
    member_id: Uuid,
    parent_id: Uuid,
    funding_scope: String,
    product_ids: Vec<String>,
    product_types: Vec<String>,
    product_families: Vec<String>,
}

impl TryFrom<MembershipRow> for Membership {
    type Error = AccountsError;
    fn try_from(row: MembershipRow) -> Result<Membership, AccountsError> {
        let funding = match row.funding_scope.as_str() {
            "full" => Funding::Full,
            "partial" => Funding::Partial {
                product_ids: row.product_ids,
                product_types: row.product_types,
                product_families: row.product_families,
            },
            other => return Err(corrupt("funding scope", other)),
        };
        Ok(Membership { member_id: row.member_id, parent_id: row.parent_id, funding })
    }
}

const COLUMNS: &str = "member_id, parent_id, funding_scope, product_ids, product_types, product_families";

pub async fn insert(
    connection: &mut PgConnection,
    tenant_id: Uuid,
    membership: &Membership,
) -> Result<(), AccountsError> {
    let empty = Vec::new();
    let (product_ids, product_types, product_families) = match &membership.funding {
        Funding::Full => (&empty, &empty, &empty),
        Funding::Partial { product_ids, product_types, product_families } => {
            (product_ids, product_types, product_families)
        }
    };
    sqlx::query(
        "INSERT INTO accounts.group_members (tenant_id, member_id, parent_id, funding_scope, product_ids, product_types,
            product_families) VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(tenant_id)
    .bind(membership.member_id)
    .bind(membership.parent_id)
    .bind(membership.funding.scope())
    .bind(product_ids)
    .bind(product_types)
    .bind(product_families)
    .execute(connection)
    .await?;
    Ok(())
}

/// The membership of `member_id`, if it is in a group.
pub async fn membership_of(
    connection: &mut PgConnection,
    tenant_id: Uuid,
    member_id: Uuid,
) -> Result<Option<Membership>, AccountsError> {
    let row: Option<MembershipRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM accounts.group_members WHERE tenant_id = $1 AND member_id = $2"
    )))
    .bind(tenant_id)
    .bind(member_id)
    .fetch_optional(connection)
    .await?;
    row.map(Membership::try_from).transpose()
}

/// The members of the group led by `parent_id`, oldest first.
pub async fn members_of(
    connection: &mut PgConnection,
    tenant_id: Uuid,
    parent_id: Uuid,
) -> Result<Vec<Membership>, AccountsError> {
    let rows: Vec<MembershipRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM accounts.group_members WHERE tenant_id = $1 AND parent_id = $2 ORDER BY created_at, member_id"
    )))
    .bind(tenant_id)
    .bind(parent_id)
    .fetch_all(connection)
    .await?;
    rows.into_iter().map(Membership::try_from).collect()
}

pub async fn delete(connection: &mut PgConnection, tenant_id: Uuid, member_id: Uuid) -> Result<(), AccountsError> {
    sqlx::query("DELETE FROM accounts.group_members WHERE tenant_id = $1 AND member_id = $2")
        .bind(tenant_id)
        .bind(member_id)
        .execute(connection)
        .await?;
    Ok(())
}

/// The email of the account's primary contact, if it has one with an email.
pub async fn primary_contact_email(
    connection: &mut PgConnection,
    tenant_id: Uuid,
    account_id: Uuid,
) -> Result<Option<String>, AccountsError> {
    let email: Option<String> = sqlx::query_scalar(
        "SELECT email FROM accounts.contacts WHERE tenant_id = $1 AND account_id = $2 AND is_primary AND email <> ''",
    )
    .bind(tenant_id)
    .bind(account_id)
    .fetch_optional(connection)
    .await?;
    Ok(email)
}
