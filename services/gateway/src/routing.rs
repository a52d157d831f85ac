//! Which backend serves a call: the context in the gRPC service name
//! (`/bss.<context>.v1.Service/Method`), so a new RPC, or a new service of
//! a known context, needs no gateway change.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use prost::Message;
use tonic::transport::Channel;

/// Connections to one backend, used in turn. One HTTP/2 connection is
/// driven by one task, so several let the forwarding use every core.
/// Whether the backend answers its health check is kept beside them: while
/// it does not, its context's calls are refused at once.
#[derive(Clone, Debug)]
pub struct Backend {
    channels: Arc<[Channel]>,
    next: Arc<AtomicUsize>,
    serving: Arc<AtomicBool>,
}

impl Backend {
    /// A backend over `channels`, taken as serving until its health says
    /// otherwise.
    pub fn new(channels: Vec<Channel>) -> Backend {
        Backend {
            channels: channels.into(),
            next: Arc::new(AtomicUsize::new(0)),
            serving: Arc::new(AtomicBool::new(true)),
        }
    }

    /// Every connection, one per pod the Service picked for it.
    pub fn channels(&self) -> &[Channel] {
        &self.channels
    }

    /// Whether its last health check said SERVING.
    pub fn is_serving(&self) -> bool {
        self.serving.load(Ordering::Relaxed)
    }

    /// Records its health; `true` when that changed it.
    pub fn set_serving(&self, serving: bool) -> bool {
        self.serving.swap(serving, Ordering::Relaxed) != serving
    }

    /// The channel for the next call.
    pub fn channel(&self) -> Channel {
        let index = self.next.fetch_add(1, Ordering::Relaxed) % self.channels.len().max(1);
        self.channels[index].clone()
    }
}

/// The backends by context, and what the contracts say about each method.
#[derive(Clone, Debug)]
pub struct Routes {
    backends: BTreeMap<String, Backend>,
    client_streaming: HashSet<String>,
}

impl Routes {
    pub fn new(backends: BTreeMap<String, Backend>) -> Routes {
        Routes {
            backends,
            client_streaming: contract_methods()
                .into_iter()
                .filter(|method| method.client_streaming)
                .map(|method| method.path)
                .collect(),
        }
    }

    /// The backend of `path` and its context, or the reason there is none.
    pub fn backend<'a>(&self, path: &'a str) -> Result<(&'a str, &Backend), String> {
        let context = context_of(path).ok_or_else(|| format!("{path} is not a method of a bss contract"))?;
        let backend =
            self.backends.get(context).ok_or_else(|| format!("no backend is configured for the {context} context"))?;
        Ok((context, backend))
    }

    /// Whether the client sends a stream of messages (so the gateway cannot
    /// read the request whole before forwarding it).
    pub fn is_client_streaming(&self, path: &str) -> bool {
        self.client_streaming.contains(path)
    }

    pub fn backends(&self) -> impl Iterator<Item = (&String, &Backend)> {
        self.backends.iter()
    }
}

/// `accounts` for `/bss.accounts.v1.AccountService/GetAccount`.
pub fn context_of(path: &str) -> Option<&str> {
    let service = path.strip_prefix('/')?.split('/').next()?;
    let mut parts = service.split('.');
    match (parts.next(), parts.next()) {
        (Some("bss"), Some(context)) if !context.is_empty() => Some(context),
        _ => None,
    }
}

/// A method of the contracts compiled into this build.
#[derive(Clone, Debug)]
pub struct ContractMethod {
    /// `/bss.accounts.v1.AccountService/GetAccount`
    pub path: String,
    pub service: String,
    pub client_streaming: bool,
    pub server_streaming: bool,
}

/// Every method of every `bss.*` service in the descriptor set.
pub fn contract_methods() -> Vec<ContractMethod> {
    let Ok(set) = prost_types::FileDescriptorSet::decode(bss_proto::FILE_DESCRIPTOR_SET) else {
        return Vec::new();
    };
    let mut methods = Vec::new();
    // bss.provider.* are contracts the suite calls, not serves.
    let served = |package: &str| package.starts_with("bss.") && !package.starts_with("bss.provider.");
    for file in set.file.iter().filter(|file| served(file.package())) {
        for service in &file.service {
            let service_name = format!("{}.{}", file.package(), service.name());
            for method in &service.method {
                methods.push(ContractMethod {
                    path: format!("/{service_name}/{}", method.name()),
                    service: service_name.clone(),
                    client_streaming: method.client_streaming(),
                    server_streaming: method.server_streaming(),
                });
            }
        }
    }
    methods
}

/// The names of every `bss.*` service, for reflection.
pub fn contract_services() -> Vec<String> {
    let mut services: Vec<String> = contract_methods().into_iter().map(|method| method.service).collect();
    services.dedup();
    services
}

/// The contract services of `context` (`bss.<context>.v1.*`), whose health
/// the gateway reports as their backend answers.
pub fn services_of(context: &str) -> Vec<String> {
    contract_services().into_iter().filter(|service| context_of(&format!("/{service}/")) == Some(context)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_contexts_services_are_its_own_contracts() {
        let pricing = services_of("pricing");
        assert!(pricing.contains(&"bss.pricing.v1.QuoteService".to_owned()), "{pricing:?}");
        assert!(pricing.iter().all(|service| service.starts_with("bss.pricing.")), "{pricing:?}");
        assert!(services_of("nowhere").is_empty());
    }

    #[test]
    fn the_context_is_the_second_part_of_the_service_name() {
        assert_eq!(context_of("/bss.accounts.v1.AccountService/GetAccount"), Some("accounts"));
        assert_eq!(context_of("/bss.resellersync.v1.SyncService/GetSyncStatus"), Some("resellersync"));
        assert_eq!(context_of("/grpc.health.v1.Health/Check"), None);
        assert_eq!(context_of("/nonsense"), None);
    }

    #[test]
    fn the_contracts_are_compiled_in() {
        let methods = contract_methods();
        assert!(methods.iter().any(|method| method.path == "/bss.accounts.v1.AccountService/CreateAccount"));
        assert!(contract_services().contains(&"bss.accounts.v1.TenantService".to_owned()));
    }
}
