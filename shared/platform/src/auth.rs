//! Caller identity: bearer JWTs verified in every service (and again at the
//! gateway), with pinned algorithms and required `iss`, `aud`, `exp`, `nbf`.
//!
//! Claims: `sub`, `tenant` (a tenant UUID, or `*` for a service acting for
//! any tenant), `roles`, optional `sales_rep_id`.

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::str::FromStr;
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use tonic::{Code, Status};
use uuid::Uuid;

use crate::config::{AuthConfig, Secret};
use crate::error::{PLATFORM_DOMAIN, with_reason};

/// Metadata key with which a caller holding a `*` tenant token names the
/// tenant it acts for; a platform administrator naming a tenant acts in it
/// with `tenant_admin`'s rights. Any other caller's header is ignored.
pub const ACTING_TENANT_HEADER: &str = "x-bss-tenant";

/// What a caller may do. Unknown role names in a token are ignored.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    /// Manages tenants.
    PlatformAdmin,
    /// Everything inside its tenant.
    TenantAdmin,
    /// Accounts, contacts, addresses, pricing of its tenant.
    AccountManager,
    /// Only the accounts carrying its `sales_rep_id`.
    SalesRep,
    /// Credit terms, holds and approvals.
    CreditManager,
    /// Payments and invoices.
    BillingClerk,
    /// Services and integrations: background work and writes to locked fields.
    Integration,
    /// A customer's own user (its `user_id`): acts only for the account the
    /// user belongs to, and only while that account is active.
    CustomerUser,
    /// An anonymous caller of the tenant's shop: quotes as the tenant's
    /// guest account and browses public products, nothing else.
    Guest,
    /// The documents' facility role, a permission added to a sales rep:
    /// with `sales_rep`, it creates and changes contracts for the rep's own
    /// accounts. Alone it grants nothing.
    Facility,
}

impl Role {
    pub const ALL: [Role; 10] = [
        Role::PlatformAdmin,
        Role::TenantAdmin,
        Role::AccountManager,
        Role::SalesRep,
        Role::CreditManager,
        Role::BillingClerk,
        Role::Integration,
        Role::CustomerUser,
        Role::Guest,
        Role::Facility,
    ];

    /// Limited to part of a tenant: a sales rep's accounts, a customer's
    /// own account, a guest's shop; a permission added to one of these
    /// (facility) widens nothing.
    pub fn is_narrow(self) -> bool {
        self.limits() || self == Role::Facility
    }

    /// One of the roles that limit a caller to part of a tenant (a token
    /// holds at most one of them).
    pub fn limits(self) -> bool {
        matches!(self, Role::SalesRep | Role::CustomerUser | Role::Guest)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::PlatformAdmin => "platform_admin",
            Role::TenantAdmin => "tenant_admin",
            Role::AccountManager => "account_manager",
            Role::SalesRep => "sales_rep",
            Role::CreditManager => "credit_manager",
            Role::BillingClerk => "billing_clerk",
            Role::Integration => "integration",
            Role::CustomerUser => "customer_user",
            Role::Guest => "guest",
            Role::Facility => "facility",
        }
    }
}

impl FromStr for Role {
    type Err = String;
    fn from_str(name: &str) -> Result<Role, String> {
        Role::ALL.into_iter().find(|role| role.as_str() == name).ok_or_else(|| format!("unknown role {name:?}"))
    }
}

impl fmt::Display for Role {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.as_str())
    }
}

/// Which tenant's data a caller acts on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TenantScope {
    /// No tenant (a platform administrator managing tenants).
    None,
    /// One tenant.
    One(Uuid),
    /// Any tenant: a service identity (`tenant: "*"`, role `integration`)
    /// that did not name a tenant in `x-bss-tenant`.
    Any,
}

/// The verified caller of a request, put into the request's extensions by
/// the server layer.
#[derive(Clone, Debug)]
pub struct Caller {
    pub subject: String,
    pub tenant: TenantScope,
    pub roles: BTreeSet<Role>,
    pub sales_rep_id: Option<String>,
    /// The user a customer user's token names.
    pub user_id: Option<Uuid>,
    /// The bearer token as received, forwarded on calls made for this caller.
    pub token: Arc<str>,
}

impl Caller {
    pub fn has_role(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }

    /// A service of the suite acting on its own ([`ServiceIdentity::caller`]),
    /// not for a caller of its own.
    pub fn is_service(&self) -> bool {
        self.subject.starts_with("service:")
    }

    pub fn has_any_role(&self, roles: &[Role]) -> bool {
        roles.iter().any(|role| self.roles.contains(role))
    }

    /// PERMISSION_DENIED (reason MISSING_ROLE) unless the caller holds one of
    /// `roles`.
    pub fn require_any(&self, roles: &[Role]) -> Result<(), Status> {
        if self.has_any_role(roles) {
            return Ok(());
        }
        let names: Vec<&str> = roles.iter().map(|role| role.as_str()).collect();
        Err(with_reason(
            Code::PermissionDenied,
            PLATFORM_DOMAIN,
            "MISSING_ROLE",
            &format!("this call needs one of the roles: {}", names.join(", ")),
        ))
    }

    /// The one tenant the caller acts for, or PERMISSION_DENIED (reason
    /// TENANT_REQUIRED) when it has none.
    pub fn tenant_id(&self) -> Result<Uuid, Status> {
        match self.tenant {
            TenantScope::One(tenant_id) => Ok(tenant_id),
            TenantScope::None | TenantScope::Any => Err(with_reason(
                Code::PermissionDenied,
                PLATFORM_DOMAIN,
                "TENANT_REQUIRED",
                "this call acts inside one tenant: use a tenant token, or name the tenant in x-bss-tenant",
            )),
        }
    }

    /// Whether the caller holds a role not limited to part of the tenant.
    fn broad(&self) -> bool {
        self.roles.iter().any(|role| !role.is_narrow())
    }

    /// When the caller is only a sales representative, the sales-rep id it is
    /// limited to. Callers with any broader role are not limited.
    pub fn sales_rep_limit(&self) -> Option<&str> {
        if self.broad() || !self.has_role(Role::SalesRep) {
            return None;
        }
        // A sales_rep token without an id is refused by `authorize`; were
        // one to get further, it would see nothing: an id no account
        // carries (and Postgres can store).
        Some(self.sales_rep_id.as_deref().unwrap_or("(no sales rep id)"))
    }

    /// When the caller is only a customer's user, the user it is: it acts
    /// only for the account that user belongs to. Callers with any broader
    /// role are not limited.
    pub fn customer_user(&self) -> Option<Uuid> {
        if self.broad() || !self.has_role(Role::CustomerUser) {
            return None;
        }
        // A customer_user token without a user id is refused by
        // `authorize`; were one to get further, it would be no user.
        Some(self.user_id.unwrap_or(Uuid::nil()))
    }

    /// Whether the caller is only a guest (an anonymous shopper).
    pub fn is_guest(&self) -> bool {
        !self.broad() && self.has_role(Role::Guest)
    }

    /// PERMISSION_DENIED (reason ROLES_CONFLICT) for a token holding more
    /// than one of the limited roles (sales_rep, customer_user, guest) and
    /// no broader one: each limits the caller differently, so none would.
    pub fn require_one_limit(&self) -> Result<(), Status> {
        let limits = self.roles.iter().filter(|role| role.limits()).count();
        if !self.broad() && limits > 1 {
            return Err(with_reason(
                Code::PermissionDenied,
                PLATFORM_DOMAIN,
                "ROLES_CONFLICT",
                "a token may hold only one of sales_rep, customer_user and guest (unless it has a broader role)",
            ));
        }
        Ok(())
    }

    /// PERMISSION_DENIED (reason USER_ID_MISSING) for a customer user's
    /// token that names no user.
    pub fn require_user_id(&self) -> Result<(), Status> {
        if self.customer_user().is_some() && self.user_id.is_none() {
            return Err(with_reason(
                Code::PermissionDenied,
                PLATFORM_DOMAIN,
                "USER_ID_MISSING",
                "a customer_user token must name its user_id: it acts only for that user's account",
            ));
        }
        Ok(())
    }

    /// PERMISSION_DENIED (reason SALES_REP_ID_MISSING) for a caller limited
    /// to its sales-rep id whose token names none.
    pub fn require_sales_rep_id(&self) -> Result<(), Status> {
        if self.sales_rep_limit().is_some() && self.sales_rep_id.is_none() {
            return Err(with_reason(
                Code::PermissionDenied,
                PLATFORM_DOMAIN,
                "SALES_REP_ID_MISSING",
                "a sales_rep token must name its sales_rep_id: it acts only for the accounts carrying it",
            ));
        }
        Ok(())
    }
}

/// The account a call acts for. A caller bound to one account (`bound`: a
/// customer's own user's account, a guest's guest account) acts for it
/// whether the request names it or leaves it empty; naming another is
/// `Err(named)`, which services answer NOT_FOUND. Anyone else acts for the
/// account it names (`None` when it names none).
pub fn bound_account(bound: Option<Uuid>, named: Option<Uuid>) -> Result<Option<Uuid>, Uuid> {
    match (bound, named) {
        (Some(bound), Some(named)) if named != bound => Err(named),
        (Some(bound), _) => Ok(Some(bound)),
        (None, named) => Ok(named),
    }
}

/// A customer's user may act for its account only while the account is
/// active (the documents' "Is Active"): PERMISSION_DENIED
/// (ACCOUNT_INACTIVE) otherwise.
pub fn check_customer_account(account_id: Uuid, is_active: bool) -> Result<(), crate::error::PlatformError> {
    if is_active {
        return Ok(());
    }
    Err(crate::error::PlatformError::Denied {
        reason: "ACCOUNT_INACTIVE",
        description: format!("account {account_id} is not active: its users cannot act for it"),
    })
}

/// PERMISSION_DENIED (USER_UNKNOWN): a customer user's token names a user
/// the tenant does not have (deleted, say).
pub fn unknown_user(user_id: Uuid) -> crate::error::PlatformError {
    crate::error::PlatformError::Denied {
        reason: "USER_UNKNOWN",
        description: format!("user {user_id} is not a user of this tenant"),
    }
}

/// Claims of a suite token.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    #[serde(default)]
    pub roles: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sales_rep_id: Option<String>,
    /// The user a `customer_user` token acts as.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    pub iss: String,
    pub aud: Audience,
    pub exp: u64,
    /// Not before; optional (identity providers often leave it out).
    #[serde(default)]
    pub nbf: u64,
    /// When the token was issued; optional (tokens of other issuers may
    /// leave it out).
    #[serde(default)]
    pub iat: u64,
}

/// The `aud` claim: one audience, or several as identity providers often
/// write it (the verifier accepts a token whose audiences include the
/// suite's).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Audience {
    One(String),
    Many(Vec<String>),
}

impl From<&str> for Audience {
    fn from(audience: &str) -> Audience {
        Audience::One(audience.to_owned())
    }
}

/// Why a token was refused. Only the variant name is shown to the caller.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("missing bearer token")]
    Missing,
    #[error("malformed authorization header")]
    Malformed,
    #[error("token algorithm not accepted")]
    AlgorithmNotAccepted,
    #[error("token rejected: {0}")]
    Rejected(jsonwebtoken::errors::Error),
    #[error("tenant claim is not valid")]
    BadTenant,
    #[error("x-bss-tenant is not a tenant id")]
    BadActingTenant,
    #[error("user_id claim is not valid")]
    BadUser,
    #[error("a * tenant token needs the integration role")]
    WildcardWithoutIntegration,
}

impl From<AuthError> for Status {
    fn from(error: AuthError) -> Status {
        let description = match &error {
            AuthError::Missing => "a bearer token is required".to_owned(),
            AuthError::Rejected(cause) => format!("bearer token rejected: {}", cause.kind_description()),
            other => format!("bearer token rejected: {other}"),
        };
        with_reason(Code::Unauthenticated, PLATFORM_DOMAIN, "UNAUTHENTICATED", &description)
    }
}

trait KindDescription {
    fn kind_description(&self) -> &'static str;
}

impl KindDescription for jsonwebtoken::errors::Error {
    fn kind_description(&self) -> &'static str {
        use jsonwebtoken::errors::ErrorKind;
        match self.kind() {
            ErrorKind::ExpiredSignature => "expired",
            ErrorKind::ImmatureSignature => "not valid yet",
            ErrorKind::InvalidAudience => "wrong audience",
            ErrorKind::InvalidIssuer => "wrong issuer",
            ErrorKind::InvalidSignature => "bad signature",
            ErrorKind::MissingRequiredClaim(_) => "a required claim is missing",
            _ => "malformed token",
        }
    }
}

/// Verifies bearer tokens with the keys of the configuration.
pub struct TokenVerifier {
    /// The main issuer first, then the accepted ones: each verifies only
    /// tokens naming it, with its own keys.
    issuers: Vec<IssuerKeys>,
    audience: String,
    leeway_secs: u64,
    /// Claims of tokens whose signature was verified, by the exact token
    /// text. Clients send the same token on every call; a hit skips the
    /// signature check but never the time checks.
    verified: RwLock<HashMap<Arc<str>, Arc<Claims>>>,
}

/// An issuer and the keys its tokens are signed with.
struct IssuerKeys {
    issuer: String,
    keys: Vec<(Algorithm, DecodingKey)>,
}

/// Most verified tokens kept; the cache starts over when it is full.
const VERIFIED_CACHE_SIZE: usize = 10_000;

impl fmt::Debug for TokenVerifier {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        let issuers = self
            .issuers
            .iter()
            .map(|keys| (&keys.issuer, keys.keys.iter().map(|(algorithm, _)| *algorithm).collect::<Vec<_>>()))
            .collect::<Vec<_>>();
        formatter.debug_struct("TokenVerifier").field("issuers", &issuers).field("audience", &self.audience).finish()
    }
}

/// The key of a PEM public key and the algorithm it verifies: EC P-256
/// (ES256) or RSA (RS256).
fn public_key(pem: &str) -> Result<(Algorithm, DecodingKey), jsonwebtoken::errors::Error> {
    DecodingKey::from_ec_pem(pem.as_bytes())
        .map(|key| (Algorithm::ES256, key))
        .or_else(|_| DecodingKey::from_rsa_pem(pem.as_bytes()).map(|key| (Algorithm::RS256, key)))
}

impl TokenVerifier {
    pub fn from_config(config: &AuthConfig) -> Result<TokenVerifier, jsonwebtoken::errors::Error> {
        let mut keys = Vec::new();
        if let Some(secret) = &config.hs256_secret {
            keys.push((Algorithm::HS256, DecodingKey::from_secret(secret.expose().as_bytes())));
        }
        for pem in &config.rs256_public_keys {
            keys.push((Algorithm::RS256, DecodingKey::from_rsa_pem(pem.as_bytes())?));
        }
        for pem in &config.es256_public_keys {
            keys.push((Algorithm::ES256, DecodingKey::from_ec_pem(pem.as_bytes())?));
        }
        let mut issuers = vec![IssuerKeys { issuer: config.issuer.clone(), keys }];
        for accepted in &config.accepted_issuers {
            let keys = accepted.public_keys.iter().map(|pem| public_key(pem)).collect::<Result<_, _>>()?;
            issuers.push(IssuerKeys { issuer: accepted.issuer.clone(), keys });
        }
        if issuers.iter().all(|issuer| issuer.keys.is_empty()) {
            tracing::warn!("no token keys configured: every authenticated call will be refused");
        }
        Ok(TokenVerifier {
            issuers,
            audience: config.audience.clone(),
            leeway_secs: config.leeway_secs,
            verified: RwLock::new(HashMap::new()),
        })
    }

    /// Verifies the `authorization` header and names the caller.
    /// `acting_tenant` is the value of `x-bss-tenant`, if any.
    pub fn verify_header(&self, authorization: Option<&str>, acting_tenant: Option<&str>) -> Result<Caller, AuthError> {
        let header = authorization.ok_or(AuthError::Missing)?;
        let token = header
            .strip_prefix("Bearer ")
            .or_else(|| header.strip_prefix("bearer "))
            .ok_or(AuthError::Malformed)?
            .trim();
        self.verify(token, acting_tenant)
    }

    pub fn verify(&self, token: &str, acting_tenant: Option<&str>) -> Result<Caller, AuthError> {
        let main_issuer = &self.issuers[0].issuer;
        let cached = self.verified.read().unwrap_or_else(PoisonError::into_inner).get(token).cloned();
        if let Some(claims) = cached {
            self.check_times(&claims)?;
            return caller_from_claims(&claims, token, acting_tenant, main_issuer);
        }
        let header = jsonwebtoken::decode_header(token).map_err(AuthError::Rejected)?;
        let mut last_error = None;
        let keys = self.issuers.iter().flat_map(|issuer| issuer.keys.iter().map(move |key| (&issuer.issuer, key)));
        for (issuer, (algorithm, key)) in keys.filter(|(_, (algorithm, _))| *algorithm == header.alg) {
            match jsonwebtoken::decode::<Claims>(token, key, &self.validation(*algorithm, issuer)) {
                Ok(data) => {
                    let caller = caller_from_claims(&data.claims, token, acting_tenant, main_issuer)?;
                    let mut verified = self.verified.write().unwrap_or_else(PoisonError::into_inner);
                    if verified.len() >= VERIFIED_CACHE_SIZE {
                        verified.clear();
                    }
                    verified.insert(Arc::from(token), Arc::new(data.claims));
                    return Ok(caller);
                }
                Err(error) => last_error = Some(error),
            }
        }
        Err(last_error.map_or(AuthError::AlgorithmNotAccepted, AuthError::Rejected))
    }

    /// `exp` and `nbf` of a token verified earlier, against the clock now.
    fn check_times(&self, claims: &Claims) -> Result<(), AuthError> {
        use jsonwebtoken::errors::ErrorKind;
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |elapsed| elapsed.as_secs());
        if claims.exp.saturating_add(self.leeway_secs) <= now {
            return Err(AuthError::Rejected(ErrorKind::ExpiredSignature.into()));
        }
        if claims.nbf > now.saturating_add(self.leeway_secs) {
            return Err(AuthError::Rejected(ErrorKind::ImmatureSignature.into()));
        }
        Ok(())
    }

    /// What a token signed with a key of `issuer` must hold.
    fn validation(&self, algorithm: Algorithm, issuer: &str) -> Validation {
        let mut validation = Validation::new(algorithm);
        validation.set_issuer(&[issuer]);
        validation.set_audience(&[&self.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.leeway = self.leeway_secs;
        validation
    }
}

/// The caller `claims` name; a subject of an issuer other than the main
/// one is named `<sub>@<issuer>`, so no two issuers' users are one caller.
fn caller_from_claims(
    claims: &Claims,
    token: &str,
    acting_tenant: Option<&str>,
    main_issuer: &str,
) -> Result<Caller, AuthError> {
    let mut roles: BTreeSet<Role> = claims.roles.iter().filter_map(|name| name.parse().ok()).collect();
    let tenant = match claims.tenant.as_deref() {
        // A platform administrator who names a tenant (the console's tenant
        // switcher) acts inside it as its administrator would.
        None | Some("") => match acting_tenant {
            Some(acting) if roles.contains(&Role::PlatformAdmin) => {
                roles.insert(Role::TenantAdmin);
                TenantScope::One(Uuid::parse_str(acting).map_err(|_| AuthError::BadActingTenant)?)
            }
            _ => TenantScope::None,
        },
        Some("*") => {
            if !roles.contains(&Role::Integration) {
                return Err(AuthError::WildcardWithoutIntegration);
            }
            match acting_tenant {
                Some(acting) => TenantScope::One(Uuid::parse_str(acting).map_err(|_| AuthError::BadActingTenant)?),
                None => TenantScope::Any,
            }
        }
        Some(tenant) => TenantScope::One(Uuid::parse_str(tenant).map_err(|_| AuthError::BadTenant)?),
    };
    Ok(Caller {
        subject: if claims.iss == main_issuer { claims.sub.clone() } else { format!("{}@{}", claims.sub, claims.iss) },
        tenant,
        roles,
        sales_rep_id: claims.sales_rep_id.clone().filter(|id| !id.is_empty()),
        user_id: match claims.user_id.as_deref() {
            None | Some("") => None,
            Some(user) => Some(Uuid::parse_str(user).map_err(|_| AuthError::BadUser)?),
        },
        token: Arc::from(token),
    })
}

/// Mints HS256 tokens: for development (`make run` prints one), tests, and
/// services that sign their own identity with the shared development secret.
#[derive(Clone)]
pub struct TokenIssuer {
    key: EncodingKey,
    issuer: String,
    audience: String,
}

impl fmt::Debug for TokenIssuer {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.debug_struct("TokenIssuer").field("issuer", &self.issuer).finish()
    }
}

/// The HS256 secret `make run` signs and verifies development tokens with.
/// Anything started with it is for a developer's machine only: production
/// configures real keys.
pub const DEVELOPMENT_HS256_SECRET: &str = "bss-development-secret-change-me";

/// What a minted token says.
#[derive(Clone, Debug, Default)]
pub struct TokenSpec {
    pub subject: String,
    /// A tenant UUID, `*`, or `None` for a platform administrator.
    pub tenant: Option<String>,
    pub roles: Vec<Role>,
    pub sales_rep_id: Option<String>,
    /// The user of a `customer_user` token.
    pub user_id: Option<Uuid>,
    pub ttl: Duration,
}

impl TokenIssuer {
    pub fn hs256(secret: &str, issuer: &str, audience: &str) -> TokenIssuer {
        TokenIssuer {
            key: EncodingKey::from_secret(secret.as_bytes()),
            issuer: issuer.to_owned(),
            audience: audience.to_owned(),
        }
    }

    pub fn from_config(config: &AuthConfig) -> Option<TokenIssuer> {
        let secret = config.hs256_secret.as_ref()?;
        Some(TokenIssuer::hs256(secret.expose(), &config.issuer, &config.audience))
    }

    pub fn mint(&self, spec: &TokenSpec) -> String {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |elapsed| elapsed.as_secs());
        let claims = Claims {
            sub: spec.subject.clone(),
            tenant: spec.tenant.clone(),
            roles: spec.roles.iter().map(|role| role.as_str().to_owned()).collect(),
            sales_rep_id: spec.sales_rep_id.clone(),
            user_id: spec.user_id.map(|user| user.to_string()),
            iss: self.issuer.clone(),
            aud: Audience::One(self.audience.clone()),
            exp: now + spec.ttl.as_secs(),
            nbf: now,
            iat: now,
        };
        self.sign(&claims)
    }

    /// Signs arbitrary claims (tests use it for expired or foreign tokens).
    pub fn sign(&self, claims: &Claims) -> String {
        // HS256 signing of serializable claims cannot fail.
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &self.key).unwrap_or_default()
    }

    /// A token of this service itself: role `integration`, any tenant.
    pub fn service_token(&self, service_name: &str, ttl: Duration) -> String {
        self.mint(&TokenSpec {
            subject: format!("service:{service_name}"),
            tenant: Some("*".to_owned()),
            roles: vec![Role::Integration],
            ttl,
            ..TokenSpec::default()
        })
    }
}

/// The identity a service uses for its own calls (event consumers,
/// background work): subject `service:<name>`, role `integration`, any
/// tenant. A configured token, or one signed with the development secret.
#[derive(Clone)]
pub struct ServiceIdentity {
    name: String,
    fixed: Option<Secret>,
    issuer: Option<TokenIssuer>,
    minted: Arc<Mutex<Option<(String, Instant)>>>,
}

impl fmt::Debug for ServiceIdentity {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.debug_struct("ServiceIdentity").field("name", &self.name).finish()
    }
}

/// Lifetime of a self-signed service token; it is signed again an hour
/// before it expires.
const SERVICE_TOKEN_TTL: Duration = Duration::from_secs(12 * 3600);

impl ServiceIdentity {
    pub fn new(name: &str, config: &AuthConfig) -> ServiceIdentity {
        ServiceIdentity {
            name: name.to_owned(),
            fixed: config.service_token.clone(),
            issuer: TokenIssuer::from_config(config),
            minted: Arc::new(Mutex::new(None)),
        }
    }

    /// The service's token, or `None` when it has neither a configured token
    /// nor a secret to sign one with.
    pub fn token(&self) -> Option<String> {
        if let Some(fixed) = &self.fixed {
            return Some(fixed.expose().to_owned());
        }
        let issuer = self.issuer.as_ref()?;
        let mut minted = self.minted.lock().unwrap_or_else(PoisonError::into_inner);
        match &*minted {
            Some((token, until)) if Instant::now() < *until => Some(token.clone()),
            _ => {
                let token = issuer.service_token(&self.name, SERVICE_TOKEN_TTL);
                *minted = Some((token.clone(), Instant::now() + SERVICE_TOKEN_TTL - Duration::from_secs(3600)));
                Some(token)
            }
        }
    }

    /// A request carrying the service's own token (to read another
    /// service's event stream, for every tenant).
    pub fn request<T>(&self, message: T) -> Result<tonic::Request<T>, Status> {
        let token =
            self.token().ok_or_else(|| Status::unauthenticated(format!("{} has no service token", self.name)))?;
        let bearer = tonic::metadata::MetadataValue::try_from(format!("Bearer {token}"))
            .map_err(|_| Status::unauthenticated("the service token is not a valid header value"))?;
        let mut request = tonic::Request::new(message);
        request.metadata_mut().insert("authorization", bearer);
        Ok(request)
    }

    /// The service as a caller acting for `tenant` (or every tenant).
    pub fn caller(&self, tenant: Option<Uuid>) -> Option<Caller> {
        Some(Caller {
            subject: format!("service:{}", self.name),
            tenant: tenant.map_or(TenantScope::Any, TenantScope::One),
            roles: [Role::Integration].into(),
            sales_rep_id: None,
            user_id: None,
            token: Arc::from(self.token()?),
        })
    }
}

/// The verified caller of a tonic request, or UNAUTHENTICATED when the server
/// layer put none there.
pub fn caller<T>(request: &tonic::Request<T>) -> Result<Caller, Status> {
    request.extensions().get::<Caller>().cloned().ok_or_else(|| Status::from(AuthError::Missing))
}

/// The caller of a request to act inside one tenant: it must hold one of
/// `roles`. Returns it with its tenant.
pub fn authorize<T>(request: &tonic::Request<T>, roles: &[Role]) -> Result<(Caller, Uuid), Status> {
    let caller = caller(request)?;
    caller.require_any(roles)?;
    caller.require_one_limit()?;
    caller.require_sales_rep_id()?;
    caller.require_user_id()?;
    let tenant_id = caller.tenant_id()?;
    Ok((caller, tenant_id))
}

/// Which tenant's events a caller of an event stream receives: every
/// tenant's (`None`) for a service identity (role `integration`, any
/// tenant), else its own, when it holds one of `roles`.
pub fn stream_scope<T>(request: &tonic::Request<T>, roles: &[Role]) -> Result<Option<Uuid>, Status> {
    let caller = caller(request)?;
    match caller.tenant {
        TenantScope::Any if caller.has_role(Role::Integration) => Ok(None),
        _ => {
            caller.require_any(roles)?;
            caller.require_one_limit()?;
            caller.require_sales_rep_id()?;
            caller.require_user_id()?;
            Ok(Some(caller.tenant_id()?))
        }
    }
}

#[cfg(test)]
mod tests {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    use super::*;
    use crate::config::Secret;

    const SECRET: &str = "unit-test-secret";

    fn verifier() -> TokenVerifier {
        TokenVerifier::from_config(&AuthConfig {
            issuer: "bss-unit".to_owned(),
            audience: "bss".to_owned(),
            hs256_secret: Some(Secret::new(SECRET)),
            leeway_secs: 0,
            ..AuthConfig::default()
        })
        .expect("verifier")
    }

    fn issuer() -> TokenIssuer {
        TokenIssuer::hs256(SECRET, "bss-unit", "bss")
    }

    fn claims(tenant: &str, roles: &[&str]) -> Claims {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).expect("clock").as_secs();
        Claims {
            sub: "user:ada".to_owned(),
            tenant: Some(tenant.to_owned()),
            roles: roles.iter().map(|role| (*role).to_owned()).collect(),
            sales_rep_id: None,
            user_id: None,
            iss: "bss-unit".to_owned(),
            aud: "bss".into(),
            exp: now + 60,
            nbf: now,
            iat: now,
        }
    }

    #[test]
    fn a_valid_token_names_the_caller() {
        let tenant = Uuid::now_v7();
        let token = issuer().sign(&claims(&tenant.to_string(), &["tenant_admin", "unknown_role"]));
        let caller = verifier().verify_header(Some(&format!("Bearer {token}")), None).expect("valid");
        assert_eq!(caller.subject, "user:ada");
        assert_eq!(caller.tenant, TenantScope::One(tenant));
        assert_eq!(caller.roles.iter().copied().collect::<Vec<_>>(), vec![Role::TenantAdmin]);
        assert_eq!(caller.tenant_id().expect("tenant"), tenant);
    }

    #[test]
    fn a_platform_admin_acts_in_the_tenant_it_names_and_no_one_else_switches() {
        let verifier = verifier();
        let tenant = Uuid::now_v7();
        let mut platform = claims("", &["platform_admin"]);
        platform.tenant = None;
        let token = issuer().sign(&platform);
        let managing = verifier.verify(&token, None).expect("valid");
        assert_eq!(managing.tenant, TenantScope::None);
        assert!(!managing.has_role(Role::TenantAdmin));
        let acting = verifier.verify(&token, Some(&tenant.to_string())).expect("valid");
        assert_eq!(acting.tenant, TenantScope::One(tenant));
        assert!(acting.has_role(Role::TenantAdmin) && acting.has_role(Role::PlatformAdmin));
        assert!(matches!(verifier.verify(&token, Some("not-a-uuid")), Err(AuthError::BadActingTenant)));

        // A tenant's own token stays in its tenant, whatever it names.
        let own = Uuid::now_v7();
        let admin = issuer().sign(&claims(&own.to_string(), &["tenant_admin"]));
        assert_eq!(verifier.verify(&admin, Some(&tenant.to_string())).expect("valid").tenant, TenantScope::One(own));
        // A token with no tenant and no platform role gains nothing by naming one.
        let mut clerk = claims("", &["billing_clerk"]);
        clerk.tenant = None;
        let clerk = verifier.verify(&issuer().sign(&clerk), Some(&tenant.to_string())).expect("valid");
        assert_eq!(clerk.tenant, TenantScope::None);
        assert!(!clerk.has_role(Role::TenantAdmin));
    }

    #[test]
    fn expired_premature_foreign_and_unsigned_tokens_are_refused() {
        let tenant = Uuid::now_v7().to_string();
        let verifier = verifier();

        let mut expired = claims(&tenant, &["tenant_admin"]);
        expired.exp = expired.iat - 10;
        assert!(verifier.verify(&issuer().sign(&expired), None).is_err());

        let mut premature = claims(&tenant, &["tenant_admin"]);
        premature.nbf = premature.iat + 600;
        premature.exp = premature.iat + 1200;
        assert!(verifier.verify(&issuer().sign(&premature), None).is_err());

        let mut wrong_audience = claims(&tenant, &["tenant_admin"]);
        wrong_audience.aud = "someone-else".into();
        assert!(verifier.verify(&issuer().sign(&wrong_audience), None).is_err());

        let mut wrong_issuer = claims(&tenant, &["tenant_admin"]);
        wrong_issuer.iss = "evil".to_owned();
        assert!(verifier.verify(&issuer().sign(&wrong_issuer), None).is_err());

        let other_key = TokenIssuer::hs256("another-secret", "bss-unit", "bss");
        assert!(verifier.verify(&other_key.sign(&claims(&tenant, &["tenant_admin"])), None).is_err());

        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
        let body = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims(&tenant, &["tenant_admin"])).expect("json"));
        assert!(verifier.verify(&format!("{header}.{body}."), None).is_err(), "alg none");

        let signed = issuer().sign(&claims(&tenant, &["tenant_admin"]));
        let unsigned = signed.rsplit_once('.').map(|(head, _)| format!("{head}.")).expect("three parts");
        assert!(verifier.verify(&unsigned, None).is_err(), "signature stripped");

        assert!(matches!(verifier.verify_header(None, None), Err(AuthError::Missing)));
        assert!(matches!(verifier.verify_header(Some("Basic abc"), None), Err(AuthError::Malformed)));
    }

    #[test]
    fn a_token_verified_before_is_still_refused_once_expired() {
        let verifier = verifier();
        let mut claims = claims(&Uuid::now_v7().to_string(), &["tenant_admin"]);
        let token = issuer().sign(&claims);
        assert!(verifier.verify(&token, None).is_ok());
        assert!(verifier.verify(&token, None).is_ok(), "served from the cache");
        // The same text with a changed expiry in the cache stands for a token
        // whose time ran out since it was first verified.
        claims.exp = claims.iat - 1;
        verifier.verified.write().expect("lock").insert(Arc::from(token.as_str()), Arc::new(claims));
        assert!(matches!(verifier.verify(&token, None), Err(AuthError::Rejected(_))));
    }

    #[test]
    fn only_integration_tokens_may_act_for_any_tenant() {
        let verifier = verifier();
        let acting = Uuid::now_v7();
        let service = issuer().sign(&claims("*", &["integration"]));
        let caller = verifier.verify(&service, Some(&acting.to_string())).expect("service token");
        assert_eq!(caller.tenant, TenantScope::One(acting));
        assert_eq!(verifier.verify(&service, None).expect("any").tenant, TenantScope::Any);

        let wildcard_admin = issuer().sign(&claims("*", &["tenant_admin"]));
        assert!(matches!(verifier.verify(&wildcard_admin, None), Err(AuthError::WildcardWithoutIntegration)));
    }

    #[test]
    fn a_sales_rep_is_limited_to_its_own_id_unless_it_has_a_broader_role() {
        let rep = Caller {
            subject: "rep".to_owned(),
            tenant: TenantScope::One(Uuid::now_v7()),
            roles: [Role::SalesRep].into(),
            sales_rep_id: Some("R7".to_owned()),
            user_id: None,
            token: Arc::from(""),
        };
        assert_eq!(rep.sales_rep_limit(), Some("R7"));
        let manager = Caller { roles: [Role::SalesRep, Role::AccountManager].into(), ..rep.clone() };
        assert_eq!(manager.sales_rep_limit(), None);
        assert!(rep.require_any(&[Role::TenantAdmin]).is_err());
        assert!(rep.require_sales_rep_id().is_ok() && manager.require_sales_rep_id().is_ok());
        let nameless = Caller { sales_rep_id: None, ..rep.clone() };
        let refused = nameless.require_sales_rep_id().expect_err("no id");
        assert_eq!(refused.code(), Code::PermissionDenied);
        let manager_without_id = Caller { sales_rep_id: None, ..manager };
        assert!(manager_without_id.require_sales_rep_id().is_ok(), "a broader role needs no id");
    }

    #[test]
    fn a_bound_caller_acts_for_its_account_and_no_other() {
        let (own, other) = (Uuid::now_v7(), Uuid::now_v7());
        assert_eq!(bound_account(Some(own), None), Ok(Some(own)), "left empty");
        assert_eq!(bound_account(Some(own), Some(own)), Ok(Some(own)), "named");
        assert_eq!(bound_account(Some(own), Some(other)), Err(other), "another account");
        assert_eq!(bound_account(None, Some(other)), Ok(Some(other)), "staff name any");
        assert_eq!(bound_account(None, None), Ok(None));
    }

    #[test]
    fn each_limited_role_limits_alone_and_two_of_them_are_refused() {
        let user = Uuid::now_v7();
        let customer = Caller {
            subject: "user".to_owned(),
            tenant: TenantScope::One(Uuid::now_v7()),
            roles: [Role::CustomerUser].into(),
            sales_rep_id: None,
            user_id: Some(user),
            token: Arc::from(""),
        };
        assert_eq!(customer.customer_user(), Some(user));
        assert!(!customer.is_guest() && customer.sales_rep_limit().is_none());
        assert!(customer.require_one_limit().is_ok());
        let guest = Caller { roles: [Role::Guest].into(), user_id: None, ..customer.clone() };
        assert!(guest.is_guest() && guest.customer_user().is_none());
        for mixed in
            [[Role::CustomerUser, Role::Guest], [Role::CustomerUser, Role::SalesRep], [Role::SalesRep, Role::Guest]]
        {
            let caller = Caller { roles: mixed.into(), sales_rep_id: Some("R1".to_owned()), ..customer.clone() };
            let refused = caller.require_one_limit().expect_err("two limits");
            assert_eq!(refused.code(), Code::PermissionDenied, "{mixed:?}");
            // Were one to get further, each limit would still hold.
            assert_eq!(caller.customer_user().is_some(), mixed.contains(&Role::CustomerUser), "{mixed:?}");
            assert_eq!(caller.sales_rep_limit().is_some(), mixed.contains(&Role::SalesRep), "{mixed:?}");
        }
        let staff = Caller { roles: [Role::CustomerUser, Role::Guest, Role::BillingClerk].into(), ..customer };
        assert!(staff.require_one_limit().is_ok());
        assert!(staff.customer_user().is_none() && !staff.is_guest(), "a broader role is not limited");
    }

    /// A test-only P-256 key pair of "another identity provider".
    const PROVIDER_KEY: &str = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgXxjc0GIYljfJ91Zr
h8IU+leKWeNn4WF29FDlCMPBYj+hRANCAAQdC+ucB1ePBxvhLq3b3IUTCpVJDgEG
L5+si6y3cJHd27CUYoezkv/J1F5yJFhCMHMbghBTdOEYzLsyzDb3YWDX
-----END PRIVATE KEY-----";
    const PROVIDER_PUBLIC_KEY: &str = "-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEHQvrnAdXjwcb4S6t29yFEwqVSQ4B
Bi+frIust3CR3duwlGKHs5L/ydReciRYQjBzG4IQU3ThGMy7Msw292Fg1w==
-----END PUBLIC KEY-----";
    const PROVIDER: &str = "https://login.example.com/realms/bss";

    #[test]
    fn another_providers_token_is_accepted_with_its_own_keys_only_and_names_its_subject_apart() {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).expect("clock").as_secs();
        let tenant = Uuid::now_v7().to_string();
        let body = |iss: &str, aud: serde_json::Value, nbf: Option<u64>| {
            let mut body = serde_json::json!({"sub": "dev", "tenant": tenant, "roles": ["tenant_admin"],
                "iss": iss, "aud": aud, "exp": now + 60, "iat": now});
            if let Some(nbf) = nbf {
                body["nbf"] = nbf.into();
            }
            body
        };
        let provider_key = jsonwebtoken::EncodingKey::from_ec_pem(PROVIDER_KEY.as_bytes()).expect("a key");
        let by_provider = |body: &serde_json::Value| {
            jsonwebtoken::encode(&jsonwebtoken::Header::new(Algorithm::ES256), body, &provider_key).expect("signed")
        };
        let main_key = jsonwebtoken::EncodingKey::from_secret(SECRET.as_bytes());
        let by_main_secret = |body: &serde_json::Value| {
            jsonwebtoken::encode(&jsonwebtoken::Header::new(Algorithm::HS256), body, &main_key).expect("signed")
        };
        let verifier = TokenVerifier::from_config(&AuthConfig {
            issuer: "bss-unit".to_owned(),
            accepted_issuers: vec![crate::config::AcceptedIssuer {
                issuer: PROVIDER.to_owned(),
                public_keys: vec![PROVIDER_PUBLIC_KEY.to_owned()],
            }],
            hs256_secret: Some(Secret::new(SECRET)),
            leeway_secs: 0,
            ..AuthConfig::default()
        })
        .expect("verifier");

        // Its audiences as a list, no nbf: accepted, its subject named
        // apart from the main issuer's "dev".
        let token = by_provider(&body(PROVIDER, serde_json::json!(["account", "bss"]), None));
        let caller = verifier.verify(&token, None).expect("accepted");
        assert_eq!(caller.subject, format!("dev@{PROVIDER}"));
        assert!(caller.has_role(Role::TenantAdmin));
        assert_eq!(verifier.verify(&token, None).expect("cached").subject, format!("dev@{PROVIDER}"));
        assert!(
            TokenVerifier::from_config(&AuthConfig {
                hs256_secret: Some(Secret::new(SECRET)),
                ..AuthConfig::default()
            })
            .expect("verifier")
            .verify(&token, None)
            .is_err(),
            "an issuer not accepted"
        );
        // Each issuer's keys vouch for that issuer only.
        assert!(verifier.verify(&by_main_secret(&body(PROVIDER, "bss".into(), None)), None).is_err());
        assert!(verifier.verify(&by_provider(&body("bss-unit", "bss".into(), None)), None).is_err());
        assert_eq!(
            verifier.verify(&by_main_secret(&body("bss-unit", "bss".into(), None)), None).expect("main").subject,
            "dev"
        );
        // Not yet valid, or for other audiences only: refused.
        assert!(verifier.verify(&by_provider(&body(PROVIDER, "bss".into(), Some(now + 600))), None).is_err());
        assert!(
            verifier.verify(&by_provider(&body(PROVIDER, serde_json::json!(["account", "crm"]), None)), None).is_err()
        );
    }

    #[test]
    fn a_token_without_iat_is_accepted() {
        #[derive(Serialize)]
        struct WithoutIat<'a> {
            sub: &'a str,
            tenant: String,
            roles: Vec<&'a str>,
            iss: &'a str,
            aud: &'a str,
            exp: u64,
            nbf: u64,
        }
        let now = SystemTime::now().duration_since(UNIX_EPOCH).expect("clock").as_secs();
        let claims = WithoutIat {
            sub: "user:ada",
            tenant: Uuid::now_v7().to_string(),
            roles: vec!["tenant_admin"],
            iss: "bss-unit",
            aud: "bss",
            exp: now + 60,
            nbf: now,
        };
        let token = jsonwebtoken::encode(
            &jsonwebtoken::Header::new(Algorithm::HS256),
            &claims,
            &jsonwebtoken::EncodingKey::from_secret(SECRET.as_bytes()),
        )
        .expect("signed");
        assert!(verifier().verify(&token, None).is_ok());
    }
}
