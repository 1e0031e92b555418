//! TLS for the listeners and for relays to other workers, with rustls and
//! ring like every other TLS connection the server makes.

use std::sync::Arc;

use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ClientConfig, RootCertStore, ServerConfig};

use crate::config::{ConfigError, TlsSettings};

/// What the server needs for TLS, built once at start.
#[derive(Clone, Debug, Default)]
pub(crate) struct Tls {
    /// The listeners' configuration, when they serve TLS.
    pub(crate) server: Option<Arc<ServerConfig>>,
    /// The configuration relays to `https://` workers use.
    pub(crate) client: Option<Arc<ClientConfig>>,
}

impl Tls {
    /// Reads the files the settings name; an unreadable or unusable one is
    /// a configuration error naming its key.
    pub(crate) fn load(settings: &TlsSettings) -> Result<Tls, ConfigError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let server = if settings.cert_file.is_empty() {
            None
        } else {
            let chain: Vec<CertificateDer<'static>> =
                CertificateDer::pem_file_iter(&settings.cert_file)
                    .and_then(Iterator::collect)
                    .map_err(|e| bad("tls.cert_file", &settings.cert_file, &e.to_string()))?;
            if chain.is_empty() {
                return Err(bad("tls.cert_file", &settings.cert_file, "no certificate in it"));
            }
            let key = PrivateKeyDer::from_pem_file(&settings.key_file)
                .map_err(|e| bad("tls.key_file", &settings.key_file, &e.to_string()))?;
            let config = ServerConfig::builder_with_provider(Arc::clone(&provider))
                .with_safe_default_protocol_versions()
                .and_then(|b| b.with_no_client_auth().with_single_cert(chain, key))
                .map_err(|e| bad("tls.key_file", &settings.key_file, &e.to_string()))?;
            Some(Arc::new(config))
        };
        let mut roots = RootCertStore::empty();
        let (_added, _ignored) =
            roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
        if !settings.ca_file.is_empty() {
            let extra: Vec<CertificateDer<'static>> =
                CertificateDer::pem_file_iter(&settings.ca_file)
                    .and_then(Iterator::collect)
                    .map_err(|e| bad("tls.ca_file", &settings.ca_file, &e.to_string()))?;
            let (added, _) = roots.add_parsable_certificates(extra);
            if added == 0 {
                return Err(bad("tls.ca_file", &settings.ca_file, "no usable certificate in it"));
            }
        }
        let client = if roots.is_empty() {
            None
        } else {
            let config = ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .map_err(|e| bad("tls.ca_file", &settings.ca_file, &e.to_string()))?
                .with_root_certificates(roots)
                .with_no_client_auth();
            Some(Arc::new(config))
        };
        Ok(Tls { server, client })
    }
}

fn bad(key: &str, path: &str, problem: &str) -> ConfigError {
    ConfigError {
        source_name: "configuration".to_owned(),
        key: key.to_owned(),
        problem: format!("`{path}`: {problem}"),
    }
}
