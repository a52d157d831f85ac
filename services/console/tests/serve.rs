//! The console's files as a browser asks for them: the app at `/` and at
//! any deep link, its assets with their types, its configuration, a
//! Content-Security-Policy on every answer, and nothing outside its folder.

#![allow(clippy::expect_used)]

use axum::body::Body;
use bss_console::{ConsoleConfig, PublicConfig, router};
use http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use tower::ServiceExt;

/// A built console in `<folder>/dist`, a secret beside it in
/// `<folder>/secret.txt` (the folder removed with it).
struct Built(std::path::PathBuf);

impl Built {
    fn new() -> Built {
        let folder = std::env::temp_dir().join(format!("bss-console-{}", std::process::id()));
        let dir = folder.join("dist");
        std::fs::create_dir_all(dir.join("assets")).expect("folders");
        std::fs::write(folder.join("secret.txt"), "not for the browser").expect("secret");
        std::fs::write(dir.join("index.html"), "<!doctype html><div id=root></div>").expect("index");
        std::fs::write(dir.join("assets/app-3f2a.js"), "console.log('bss')").expect("script");
        std::fs::write(dir.join("favicon.svg"), "<svg/>").expect("icon");
        Built(dir)
    }
}

impl Drop for Built {
    fn drop(&mut self) {
        if let Some(folder) = self.0.parent() {
            let _ = std::fs::remove_dir_all(folder);
        }
    }
}

async fn get(config: &ConsoleConfig, path: &str) -> (StatusCode, http::HeaderMap, String) {
    let request = Request::get(path).body(Body::empty()).expect("request");
    let policy = bss_console::check(config).expect("a configuration it serves");
    let response = router(config, policy).oneshot(request).await.expect("answered");
    let (parts, body) = response.into_parts();
    let body = body.collect().await.expect("body").to_bytes();
    (parts.status, parts.headers, String::from_utf8_lossy(&body).into_owned())
}

#[tokio::test]
async fn the_console_is_served_with_its_configuration_and_policy() {
    let built = Built::new();
    let config = ConsoleConfig::new(([127, 0, 0, 1], 0).into(), built.0.clone(), "http://127.0.0.1:50050".to_owned());

    // The app, at its root and at a deep link a reload asks for.
    for path in ["/", "/accounts/0190d6c8-0000-7000-8000-000000000000/credit"] {
        let (status, headers, body) = get(&config, path).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        assert!(body.contains("id=root"), "{path}: {body}");
        assert_eq!(headers[header::CACHE_CONTROL], "no-cache", "{path}");
        let policy = headers[header::CONTENT_SECURITY_POLICY].to_str().expect("policy");
        assert!(policy.contains("connect-src 'self' http://127.0.0.1:50050;"), "{policy}");
        assert_eq!(headers[header::X_FRAME_OPTIONS], "DENY");
    }
    // Its assets, typed and kept; a missing one is not the app.
    let (status, headers, body) = get(&config, "/assets/app-3f2a.js").await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "console.log('bss')"));
    assert!(headers[header::CONTENT_TYPE].to_str().expect("type").contains("javascript"));
    assert!(headers[header::CACHE_CONTROL].to_str().expect("cache").contains("immutable"));
    let (status, headers, _) = get(&config, "/assets/gone-0000.js").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(headers[header::CACHE_CONTROL], "no-cache", "a missing asset is never kept");
    let (status, headers, _) = get(&config, "/favicon.svg").await;
    assert_eq!((status, headers[header::CONTENT_TYPE].to_str().expect("type")), (StatusCode::OK, "image/svg+xml"));
    // Nothing outside its folder, however the path climbs.
    for path in ["/../secret.txt", "/assets/../../secret.txt", "/%2e%2e/secret.txt", "/assets/%2e%2e/%2e%2e/secret.txt"]
    {
        let (status, _, body) = get(&config, path).await;
        assert!(!body.contains("not for the browser"), "{path} escaped the folder: {status}");
    }
    // Where the gateway is, and no login provider unless one is set.
    let (status, headers, body) = get(&config, "/config.json").await;
    assert_eq!(status, StatusCode::OK);
    assert!(headers[header::CONTENT_TYPE].to_str().expect("type").starts_with("application/json"));
    let public: PublicConfig = serde_json::from_str(&body).expect("json");
    assert_eq!(public, PublicConfig { gateway_url: "http://127.0.0.1:50050".to_owned(), oidc: None });
    assert_eq!(body, r#"{"gatewayUrl":"http://127.0.0.1:50050","oidc":null}"#);
}
