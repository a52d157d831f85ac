//! A SANDBOX identity provider, for `make run` and the console's browser
//! tests only: an OpenID Connect provider that signs in whoever asks, as
//! the role and tenant they pick on its page. It lets the console's
//! authorization-code login (with PKCE) run end to end on one machine; a
//! deployment uses its own identity provider and never this one.
//!
//! What it serves, under its issuer URL:
//! - `/.well-known/openid-configuration` and `/jwks` (its ES256 key,
//!   generated at start and never written anywhere);
//! - `/authorize`: a sign-in page for a registered client and redirect URI,
//!   answering with a one-time code (60 seconds) bound to the PKCE
//!   challenge (S256 only);
//! - `/token`: the code and its verifier exchanged for an ID token (for the
//!   client) and an access token (for the suite: claims `tenant` and
//!   `roles`, audience the suite's).
//!
//! The suite accepts its tokens because `bss-suite run` adds its issuer
//! and public key to the services' token configuration.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::extract::{Form, Query, State};
use axum::http::{HeaderValue, Method, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::{Json, Router};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bss_platform::auth::{Audience, Claims, Role};
use http::header::{CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tower_http::cors::{AllowOrigin, CorsLayer};
use uuid::Uuid;

/// Longest user name its page takes.
const MAX_SUBJECT: usize = 100;

/// How long a code may wait to be exchanged.
const CODE_TTL: Duration = Duration::from_secs(60);

/// The roles its page offers: those that need no further claim (a sales
/// rep's id, a customer user's id).
const OFFERED_ROLES: [Role; 5] =
    [Role::TenantAdmin, Role::AccountManager, Role::CreditManager, Role::BillingClerk, Role::PlatformAdmin];

/// Who the sandbox provider serves.
#[derive(Clone, Debug)]
pub struct SandboxIdpConfig {
    /// Its own URL, the `iss` of its tokens (`http://127.0.0.1:50057`).
    pub issuer: String,
    /// The one client it knows (the console: `bss-console`).
    pub client_id: String,
    /// Where it may send a code back, exactly (the console's `/callback`).
    pub redirect_uris: Vec<String>,
    /// The `aud` of its access tokens: the suite's audience.
    pub audience: String,
    /// How long its tokens are valid.
    pub token_ttl: Duration,
}

/// A code waiting to be exchanged.
struct Grant {
    redirect_uri: String,
    code_challenge: String,
    nonce: Option<String>,
    subject: String,
    tenant: Option<String>,
    role: Role,
    issued: Instant,
}

/// The sandbox provider: its key, the codes it handed out, and the tenant
/// its page offers first.
pub struct SandboxIdp {
    config: SandboxIdpConfig,
    key: EncodingKey,
    key_id: String,
    public_key_pem: String,
    jwk: Value,
    grants: Mutex<HashMap<String, Grant>>,
    default_tenant: RwLock<String>,
}

impl std::fmt::Debug for SandboxIdp {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.debug_struct("SandboxIdp").field("issuer", &self.config.issuer).finish_non_exhaustive()
    }
}

impl SandboxIdp {
    /// A provider with a new P-256 key.
    pub fn generate(config: SandboxIdpConfig) -> Result<Arc<SandboxIdp>, String> {
        let pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(|error| error.to_string())?;
        let key = EncodingKey::from_ec_pem(pair.serialize_pem().as_bytes()).map_err(|error| error.to_string())?;
        // An uncompressed point: 0x04, then x and y of 32 bytes each.
        let point = pair.public_key_raw();
        let (x, y) = match point {
            [4, coordinates @ ..] if coordinates.len() == 64 => coordinates.split_at(32),
            _ => return Err("the generated key is no uncompressed P-256 point".to_owned()),
        };
        let key_id = URL_SAFE_NO_PAD.encode(&Sha256::digest(point)[..12]);
        let jwk = json!({"kty": "EC", "crv": "P-256", "use": "sig", "alg": "ES256", "kid": key_id,
            "x": URL_SAFE_NO_PAD.encode(x), "y": URL_SAFE_NO_PAD.encode(y)});
        Ok(Arc::new(SandboxIdp {
            config,
            key,
            key_id,
            public_key_pem: pair.public_key_pem(),
            jwk,
            grants: Mutex::new(HashMap::new()),
            default_tenant: RwLock::new(String::new()),
        }))
    }

    /// Its public key (PEM), for the suite's `es256_public_keys`.
    pub fn public_key_pem(&self) -> &str {
        &self.public_key_pem
    }

    pub fn issuer(&self) -> &str {
        &self.config.issuer
    }

    /// The tenant its page offers first (the demo tenant of `make run`).
    pub fn set_default_tenant(&self, tenant: &str) {
        *self.default_tenant.write().unwrap_or_else(PoisonError::into_inner) = tenant.to_owned();
    }

    /// Its routes; `origins` may call discovery, keys and token from a page.
    pub fn router(self: &Arc<Self>, origins: &[String]) -> Router {
        let origins = origins.iter().filter_map(|origin| HeaderValue::from_str(origin).ok()).collect::<Vec<_>>();
        let cors = CorsLayer::new()
            .allow_origin(AllowOrigin::list(origins))
            .allow_methods([Method::GET, Method::POST])
            .allow_headers([CONTENT_TYPE]);
        Router::new()
            .route("/.well-known/openid-configuration", get(discovery))
            .route("/jwks", get(jwks))
            .route("/authorize", get(authorize_page).post(sign_in))
            .route("/token", axum::routing::post(token))
            .layer(cors)
            .with_state(Arc::clone(self))
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.config.issuer.trim_end_matches('/'))
    }

    /// The refusal of a request that names an unknown client or a redirect
    /// URI not registered: shown on the page, never sent anywhere.
    fn unregistered(&self, request: &AuthorizeRequest) -> Option<&'static str> {
        if request.client_id != self.config.client_id {
            Some("This client is not registered with the sandbox identity provider.")
        } else if !self.config.redirect_uris.contains(&request.redirect_uri) {
            Some("This redirect URI is not registered for the client.")
        } else {
            None
        }
    }

    /// A code for `grant`, kept until exchanged or expired.
    fn hand_out(&self, grant: Grant) -> String {
        let code = format!("{}{}", Uuid::new_v4().simple(), Uuid::new_v4().simple());
        let mut grants = self.grants.lock().unwrap_or_else(PoisonError::into_inner);
        grants.retain(|_, kept| kept.issued.elapsed() < CODE_TTL);
        grants.insert(code.clone(), grant);
        code
    }

    /// The grant of `code`, taken once: a code used twice is refused.
    fn take(&self, code: &str) -> Option<Grant> {
        let grant = self.grants.lock().unwrap_or_else(PoisonError::into_inner).remove(code)?;
        (grant.issued.elapsed() < CODE_TTL).then_some(grant)
    }

    fn sign(&self, claims: &impl serde::Serialize) -> Result<String, jsonwebtoken::errors::Error> {
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(self.key_id.clone());
        jsonwebtoken::encode(&header, claims, &self.key)
    }
}

async fn discovery(State(idp): State<Arc<SandboxIdp>>) -> Json<Value> {
    Json(json!({
        "issuer": idp.config.issuer,
        "authorization_endpoint": idp.url("/authorize"),
        "token_endpoint": idp.url("/token"),
        "jwks_uri": idp.url("/jwks"),
        "response_types_supported": ["code"],
        "grant_types_supported": ["authorization_code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["ES256"],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": ["none"],
        "scopes_supported": ["openid", "profile"],
        "claims_supported": ["sub", "name", "tenant", "roles"],
    }))
}

async fn jwks(State(idp): State<Arc<SandboxIdp>>) -> Json<Value> {
    Json(json!({ "keys": [idp.jwk] }))
}

/// An authorization request, as the client sends it.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct AuthorizeRequest {
    #[serde(default)]
    response_type: String,
    #[serde(default)]
    client_id: String,
    #[serde(default)]
    redirect_uri: String,
    #[serde(default)]
    scope: String,
    #[serde(default)]
    state: Option<String>,
    #[serde(default)]
    nonce: Option<String>,
    #[serde(default)]
    code_challenge: String,
    #[serde(default)]
    code_challenge_method: String,
}

impl AuthorizeRequest {
    /// Why a request of a registered client is refused (OAuth's error code
    /// and a description), sent back to its redirect URI.
    fn refusal(&self) -> Option<(&'static str, &'static str)> {
        if self.response_type != "code" {
            Some(("unsupported_response_type", "only the authorization code flow is served"))
        } else if !self.scope.split_whitespace().any(|scope| scope == "openid") {
            Some(("invalid_scope", "the openid scope is required"))
        } else if self.code_challenge_method != "S256" || self.code_challenge.len() != 43 {
            Some(("invalid_request", "PKCE with an S256 code challenge is required"))
        } else {
            None
        }
    }

    /// The client's redirect URI with `parameters` added (and its state).
    fn back(&self, parameters: &[(&str, &str)]) -> String {
        let mut query = form_urlencoded::Serializer::new(String::new());
        query.extend_pairs(parameters);
        if let Some(state) = &self.state {
            query.append_pair("state", state);
        }
        let separator = if self.redirect_uri.contains('?') { '&' } else { '?' };
        format!("{}{separator}{}", self.redirect_uri, query.finish())
    }
}

/// The page's sign-in form: the request carried through, and who signs in.
#[derive(Debug, Deserialize)]
struct SignInForm {
    #[serde(flatten)]
    request: AuthorizeRequest,
    #[serde(default)]
    subject: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    tenant: String,
    /// `cancel` when the user declines.
    #[serde(default)]
    action: String,
}

async fn authorize_page(State(idp): State<Arc<SandboxIdp>>, Query(request): Query<AuthorizeRequest>) -> Response {
    if let Some(why) = idp.unregistered(&request) {
        return page(&idp, StatusCode::BAD_REQUEST, &error_page(why));
    }
    if let Some((error, description)) = request.refusal() {
        return Redirect::to(&request.back(&[("error", error), ("error_description", description)])).into_response();
    }
    let tenant = idp.default_tenant.read().unwrap_or_else(PoisonError::into_inner).clone();
    page(&idp, StatusCode::OK, &sign_in_page(&request, "sandbox:admin", Role::TenantAdmin, &tenant, None))
}

async fn sign_in(State(idp): State<Arc<SandboxIdp>>, Form(form): Form<SignInForm>) -> Response {
    let request = form.request;
    if let Some(why) = idp.unregistered(&request) {
        return page(&idp, StatusCode::BAD_REQUEST, &error_page(why));
    }
    if let Some((error, description)) = request.refusal() {
        return Redirect::to(&request.back(&[("error", error), ("error_description", description)])).into_response();
    }
    if form.action == "cancel" {
        return Redirect::to(&request.back(&[("error", "access_denied"), ("error_description", "sign-in cancelled")]))
            .into_response();
    }
    let offered = form.role.parse::<Role>().ok().filter(|role| OFFERED_ROLES.contains(role));
    let role = offered.unwrap_or(Role::TenantAdmin);
    let subject = form.subject.trim();
    let tenant = form.tenant.trim();
    let problem = if offered.is_none() {
        Some("Choose one of the roles offered.")
    } else if subject.is_empty() || subject.chars().count() > MAX_SUBJECT {
        Some("Name the user who signs in (at most 100 characters).")
    } else if role != Role::PlatformAdmin && Uuid::parse_str(tenant).is_err() {
        Some("The tenant must be a tenant id (a UUID).")
    } else {
        None
    };
    if let Some(problem) = problem {
        return page(&idp, StatusCode::BAD_REQUEST, &sign_in_page(&request, subject, role, tenant, Some(problem)));
    }
    // A platform administrator's token names no tenant (it switches).
    let tenant = (role != Role::PlatformAdmin).then(|| tenant.to_owned());
    let code = idp.hand_out(Grant {
        redirect_uri: request.redirect_uri.clone(),
        code_challenge: request.code_challenge.clone(),
        nonce: request.nonce.clone(),
        subject: subject.to_owned(),
        tenant,
        role,
        issued: Instant::now(),
    });
    Redirect::to(&request.back(&[("code", &code)])).into_response()
}

/// A token request: the code, its verifier, and the client's redirect URI.
#[derive(Debug, Deserialize)]
struct TokenRequest {
    #[serde(default)]
    grant_type: String,
    #[serde(default)]
    code: String,
    #[serde(default)]
    redirect_uri: String,
    #[serde(default)]
    client_id: String,
    #[serde(default)]
    code_verifier: String,
}

/// Whether `verifier` is the one whose S256 challenge is `challenge`.
fn pkce_matches(verifier: &str, challenge: &str) -> bool {
    let unreserved = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | '~');
    (43..=128).contains(&verifier.len())
        && verifier.chars().all(unreserved)
        && URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes())) == challenge
}

async fn token(State(idp): State<Arc<SandboxIdp>>, Form(request): Form<TokenRequest>) -> Response {
    let refuse = |error: &str, description: &str| {
        (StatusCode::BAD_REQUEST, Json(json!({"error": error, "error_description": description}))).into_response()
    };
    if request.grant_type != "authorization_code" {
        return refuse("unsupported_grant_type", "only authorization_code is served");
    }
    if request.client_id != idp.config.client_id {
        return refuse("invalid_client", "the client is not registered");
    }
    let Some(grant) = idp.take(&request.code) else {
        return refuse("invalid_grant", "the code is unknown, used or expired");
    };
    if grant.redirect_uri != request.redirect_uri {
        return refuse("invalid_grant", "the redirect URI is not the one the code was issued for");
    }
    if !pkce_matches(&request.code_verifier, &grant.code_challenge) {
        return refuse("invalid_grant", "the code verifier does not match the challenge");
    }
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |elapsed| elapsed.as_secs());
    let ttl = idp.config.token_ttl.as_secs();
    let access = Claims {
        sub: grant.subject.clone(),
        tenant: grant.tenant,
        roles: vec![grant.role.as_str().to_owned()],
        sales_rep_id: None,
        user_id: None,
        iss: idp.config.issuer.clone(),
        aud: Audience::One(idp.config.audience.clone()),
        exp: now + ttl,
        nbf: now,
        iat: now,
    };
    let identity = json!({"iss": idp.config.issuer, "sub": grant.subject, "aud": idp.config.client_id,
        "exp": now + ttl, "iat": now, "auth_time": now, "nonce": grant.nonce, "name": grant.subject});
    match (idp.sign(&access), idp.sign(&identity)) {
        (Ok(access_token), Ok(id_token)) => (
            [(CACHE_CONTROL, "no-store")],
            Json(json!({"access_token": access_token, "id_token": id_token, "token_type": "Bearer",
                "expires_in": ttl, "scope": "openid profile"})),
        )
            .into_response(),
        (Err(error), _) | (_, Err(error)) => {
            tracing::error!(%error, "the sandbox identity provider could not sign a token");
            (StatusCode::INTERNAL_SERVER_ERROR, Json(json!({"error": "server_error"}))).into_response()
        }
    }
}

/// An HTML answer of the provider: no script, forms to itself, and
/// redirects (after a form) to the registered URIs only.
fn page(idp: &SandboxIdp, status: StatusCode, body: &str) -> Response {
    let form_targets = idp.config.redirect_uris.iter().map(String::as_str).collect::<Vec<_>>().join(" ");
    let policy = format!(
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self' {form_targets}; frame-ancestors 'none'; \
         base-uri 'none'"
    );
    let mut response = (status, Html(body.to_owned())).into_response();
    if let Ok(policy) = HeaderValue::from_str(&policy) {
        response.headers_mut().insert(CONTENT_SECURITY_POLICY, policy);
    }
    response.headers_mut().insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// `text` safe inside HTML text and quoted attributes.
fn escape(text: &str) -> String {
    text.chars().fold(String::with_capacity(text.len()), |mut out, character| {
        match character {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            other => out.push(other),
        }
        out
    })
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem;color:#1a1a1a}\
    .sandbox{background:#fff3bf;border:1px solid #8a6d00;padding:.5rem .75rem}label{display:block;margin-top:1rem}\
    input,select{display:block;box-sizing:border-box;width:100%;padding:.4rem;margin-top:.25rem}button{margin-top:1.25rem;margin-right:.5rem;padding:.5rem 1rem}\
    .problem{color:#a4000f}";

fn document(title: &str, body: &str) -> String {
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title}</title><style>{STYLE}</style></head>\
         <body><main><h1>{title}</h1><p class=\"sandbox\">Sandbox identity provider of <code>make run</code>: anyone may sign \
         in as any role. Never use it in a deployment.</p>{body}</main></body></html>"
    )
}

fn error_page(why: &str) -> String {
    document("Sign-in refused", &format!("<p role=\"alert\" class=\"problem\">{}</p>", escape(why)))
}

fn sign_in_page(request: &AuthorizeRequest, subject: &str, role: Role, tenant: &str, problem: Option<&str>) -> String {
    let carried = [
        ("response_type", request.response_type.as_str()),
        ("client_id", &request.client_id),
        ("redirect_uri", &request.redirect_uri),
        ("scope", &request.scope),
        ("state", request.state.as_deref().unwrap_or_default()),
        ("nonce", request.nonce.as_deref().unwrap_or_default()),
        ("code_challenge", &request.code_challenge),
        ("code_challenge_method", &request.code_challenge_method),
    ];
    let hidden = carried
        .iter()
        .filter(|(name, value)| !value.is_empty() || !matches!(*name, "state" | "nonce"))
        .map(|(name, value)| format!("<input type=\"hidden\" name=\"{name}\" value=\"{}\">", escape(value)))
        .collect::<String>();
    let options = OFFERED_ROLES
        .iter()
        .map(|offered| {
            let selected = if *offered == role { " selected" } else { "" };
            format!("<option value=\"{0}\"{selected}>{0}</option>", offered.as_str())
        })
        .collect::<String>();
    let problem = problem
        .map(|problem| format!("<p role=\"alert\" class=\"problem\">{}</p>", escape(problem)))
        .unwrap_or_default();
    document(
        "Sign in",
        &format!(
            "{problem}<form method=\"post\" action=\"authorize\">{hidden}\
             <label>User<input name=\"subject\" value=\"{}\" autocomplete=\"username\" required></label>\
             <label>Role<select name=\"role\">{options}</select></label>\
             <label>Tenant (not for platform_admin)<input name=\"tenant\" value=\"{}\"></label>\
             <button type=\"submit\" name=\"action\" value=\"sign_in\">Sign in</button>\
             <button type=\"submit\" name=\"action\" value=\"cancel\">Cancel</button></form>",
            escape(subject),
            escape(tenant)
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use bss_platform::auth::TokenVerifier;
    use bss_platform::config::{AcceptedIssuer, AuthConfig};
    use http::Request;
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    const CONSOLE: &str = "http://127.0.0.1:50058";

    fn provider() -> Arc<SandboxIdp> {
        SandboxIdp::generate(SandboxIdpConfig {
            issuer: "http://127.0.0.1:50057".to_owned(),
            client_id: "bss-console".to_owned(),
            redirect_uris: vec![format!("{CONSOLE}/callback")],
            audience: "bss".to_owned(),
            token_ttl: Duration::from_secs(600),
        })
        .expect("a key")
    }

    async fn call(idp: &Arc<SandboxIdp>, request: Request<String>) -> (StatusCode, http::HeaderMap, String) {
        let response =
            idp.router(&[CONSOLE.to_owned()]).oneshot(request.map(axum::body::Body::from)).await.expect("served");
        let (parts, body) = response.into_parts();
        let body = body.collect().await.expect("a body").to_bytes();
        (parts.status, parts.headers, String::from_utf8_lossy(&body).into_owned())
    }

    fn form(path: &str, pairs: &[(&str, &str)]) -> Request<String> {
        let body = form_urlencoded::Serializer::new(String::new()).extend_pairs(pairs).finish();
        Request::post(path)
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header("origin", CONSOLE)
            .body(body)
            .expect("a request")
    }

    const VERIFIER: &str = "a-verifier-of-at-least-forty-three-characters-long";

    fn challenge() -> String {
        URL_SAFE_NO_PAD.encode(Sha256::digest(VERIFIER.as_bytes()))
    }

    /// The authorization request the console sends, as form pairs.
    fn authorization(redirect_uri: &str, challenge: &str) -> Vec<(&'static str, String)> {
        vec![
            ("response_type", "code".to_owned()),
            ("client_id", "bss-console".to_owned()),
            ("redirect_uri", redirect_uri.to_owned()),
            ("scope", "openid profile".to_owned()),
            ("state", "state-1".to_owned()),
            ("nonce", "nonce-1".to_owned()),
            ("code_challenge", challenge.to_owned()),
            ("code_challenge_method", "S256".to_owned()),
        ]
    }

    /// Signs in on the page as `role` of `tenant`; the code sent back.
    async fn code_for(idp: &Arc<SandboxIdp>, role: &str, tenant: &str) -> String {
        let mut pairs = authorization(&format!("{CONSOLE}/callback"), &challenge());
        pairs.extend([("subject", "ada".to_owned()), ("role", role.to_owned()), ("tenant", tenant.to_owned())]);
        pairs.push(("action", "sign_in".to_owned()));
        let borrowed = pairs.iter().map(|(name, value)| (*name, value.as_str())).collect::<Vec<_>>();
        let (status, headers, _) = call(idp, form("/authorize", &borrowed)).await;
        assert_eq!(status, StatusCode::SEE_OTHER);
        let location = headers["location"].to_str().expect("a location");
        let query = location.strip_prefix(&format!("{CONSOLE}/callback?")).expect("back to the console");
        let pairs = form_urlencoded::parse(query.as_bytes()).into_owned().collect::<HashMap<_, _>>();
        assert_eq!(pairs["state"], "state-1", "the state comes back");
        pairs["code"].clone()
    }

    fn exchange<'a>(code: &'a str, verifier: &'a str) -> Vec<(&'static str, &'a str)> {
        vec![
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", "http://127.0.0.1:50058/callback"),
            ("client_id", "bss-console"),
            ("code_verifier", verifier),
        ]
    }

    #[tokio::test]
    async fn a_code_and_its_verifier_give_a_token_the_suite_accepts_once() {
        let idp = provider();
        let tenant = Uuid::now_v7().to_string();
        let code = code_for(&idp, "credit_manager", &tenant).await;

        let (status, headers, body) = call(&idp, form("/token", &exchange(&code, VERIFIER))).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(headers["access-control-allow-origin"], CONSOLE, "the console's page may read it");
        let answer: Value = serde_json::from_str(&body).expect("json");
        let verifier = TokenVerifier::from_config(&AuthConfig {
            issuer: "bss-dev".to_owned(),
            accepted_issuers: vec![AcceptedIssuer {
                issuer: idp.issuer().to_owned(),
                public_keys: vec![idp.public_key_pem().to_owned()],
            }],
            ..AuthConfig::default()
        })
        .expect("a verifier");
        let caller = verifier.verify(answer["access_token"].as_str().expect("a token"), None).expect("accepted");
        assert_eq!(caller.subject, format!("ada@{}", idp.issuer()), "named apart from the suite's own subjects");
        assert_eq!(caller.tenant_id().expect("a tenant").to_string(), tenant);
        assert!(caller.has_role(Role::CreditManager) && !caller.has_role(Role::TenantAdmin));
        let id_token = answer["id_token"].as_str().expect("an id token");
        let claims: Value = serde_json::from_slice(
            &URL_SAFE_NO_PAD.decode(id_token.split('.').nth(1).expect("a payload")).expect("base64"),
        )
        .expect("json");
        assert_eq!((claims["aud"].as_str(), claims["nonce"].as_str()), (Some("bss-console"), Some("nonce-1")));
        assert!(verifier.verify(id_token, None).is_err(), "the ID token is for the console, not the suite");

        let (status, _, body) = call(&idp, form("/token", &exchange(&code, VERIFIER))).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(body.contains("invalid_grant"), "a code is used once: {body}");
    }

    #[tokio::test]
    async fn a_wrong_verifier_an_unregistered_redirect_and_a_missing_challenge_are_refused() {
        let idp = provider();
        let code = code_for(&idp, "tenant_admin", &Uuid::now_v7().to_string()).await;
        let wrong = "another-verifier-of-at-least-forty-three-characters";
        let (status, _, body) = call(&idp, form("/token", &exchange(&code, wrong))).await;
        assert_eq!((status, body.contains("invalid_grant")), (StatusCode::BAD_REQUEST, true), "{body}");
        let (_, _, body) = call(&idp, form("/token", &exchange(&code, VERIFIER))).await;
        assert!(body.contains("invalid_grant"), "a refused exchange spends the code: {body}");
        // A code exchanged for another redirect URI or by another client.
        let code = code_for(&idp, "tenant_admin", &Uuid::now_v7().to_string()).await;
        let mut elsewhere = exchange(&code, VERIFIER);
        elsewhere[2].1 = "http://127.0.0.1:50058/other";
        let (_, _, body) = call(&idp, form("/token", &elsewhere)).await;
        assert!(body.contains("invalid_grant"), "{body}");
        let code = code_for(&idp, "tenant_admin", &Uuid::now_v7().to_string()).await;
        let mut stranger = exchange(&code, VERIFIER);
        stranger[3].1 = "another-client";
        let (_, _, body) = call(&idp, form("/token", &stranger)).await;
        assert!(body.contains("invalid_client"), "{body}");

        let query = |pairs: Vec<(&'static str, String)>| {
            let query = form_urlencoded::Serializer::new(String::new()).extend_pairs(pairs).finish();
            Request::get(format!("/authorize?{query}")).body(String::new()).expect("a request")
        };
        let (status, headers, body) =
            call(&idp, query(authorization("https://evil.example/callback", &challenge()))).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "never sent to an unregistered address");
        assert!(body.contains("not registered") && !headers.contains_key("location"), "{body}");

        let (status, headers, _) = call(&idp, query(authorization(&format!("{CONSOLE}/callback"), ""))).await;
        assert_eq!(status, StatusCode::SEE_OTHER);
        assert!(headers["location"].to_str().expect("a location").contains("error=invalid_request"));

        let (status, headers, body) =
            call(&idp, query(authorization(&format!("{CONSOLE}/callback"), &challenge()))).await;
        assert_eq!(status, StatusCode::OK);
        assert!(body.contains("<select name=\"role\">") && body.contains("state-1"), "{body}");
        assert!(headers[CONTENT_SECURITY_POLICY].to_str().expect("a policy").contains("default-src 'none'"));
    }

    #[tokio::test]
    async fn a_tenant_that_is_no_id_is_asked_again_and_what_the_page_echoes_is_escaped() {
        let idp = provider();
        let mut pairs = authorization(&format!("{CONSOLE}/callback"), &challenge());
        pairs.extend([("subject", "<script>".to_owned()), ("role", "tenant_admin".to_owned())]);
        pairs.push(("tenant", "\"><b>".to_owned()));
        let borrowed = pairs.iter().map(|(name, value)| (*name, value.as_str())).collect::<Vec<_>>();
        let (status, _, body) = call(&idp, form("/authorize", &borrowed)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(
            body.contains("must be a tenant id")
                && body.contains("&lt;script&gt;")
                && body.contains("&quot;&gt;&lt;b&gt;")
        );
        assert!(!body.contains("<script>") && !body.contains("\"><b>"), "{body}");

        // A platform administrator needs no tenant: its token names none.
        let code = code_for(&idp, "platform_admin", "").await;
        let (_, _, body) = call(&idp, form("/token", &exchange(&code, VERIFIER))).await;
        let answer: Value = serde_json::from_str(&body).expect("json");
        let payload = answer["access_token"].as_str().and_then(|token| token.split('.').nth(1)).expect("a token");
        let claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).expect("base64")).expect("json");
        assert_eq!((claims.get("tenant"), claims["roles"][0].as_str()), (None, Some("platform_admin")));
    }

    #[tokio::test]
    async fn discovery_names_its_endpoints_and_its_key() {
        let idp = provider();
        let get = |path: &str| Request::get(path).header("origin", CONSOLE).body(String::new()).expect("a request");
        let (_, headers, body) = call(&idp, get("/.well-known/openid-configuration")).await;
        let discovery: Value = serde_json::from_str(&body).expect("json");
        assert_eq!(discovery["token_endpoint"], "http://127.0.0.1:50057/token");
        assert_eq!(discovery["code_challenge_methods_supported"], json!(["S256"]));
        assert_eq!(headers["access-control-allow-origin"], CONSOLE);
        let (_, _, body) = call(&idp, get("/jwks")).await;
        let keys: Value = serde_json::from_str(&body).expect("json");
        assert_eq!(
            (keys["keys"][0]["crv"].as_str(), keys["keys"][0]["x"].as_str().map(str::len)),
            (Some("P-256"), Some(43))
        );
    }
}
