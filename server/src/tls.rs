//! HTTPS served by the server itself (`serve --tls-cert --tls-key`): browsers give the dashboard's
//! cookie its Secure flag, and the phone app its service worker and geolocation, only on secure
//! pages. rustls, on the ring provider that the HTTP client already brings.

use std::sync::Arc;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::TlsAcceptor;

use crate::error::Error;
use crate::settings::TlsFiles;

/// The acceptor of TLS connections with the certificate chain and key of `files`; HTTP/2 and
/// HTTP/1.1 offered by ALPN.
pub fn acceptor(files: &TlsFiles) -> Result<TlsAcceptor, Error> {
    let fail = |what: &std::path::Path, e: &dyn std::fmt::Display| {
        Error::Tls(format!("{}: {e}", what.display()))
    };
    let chain = CertificateDer::pem_file_iter(&files.cert)
        .map_err(|e| fail(&files.cert, &e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| fail(&files.cert, &e))?;
    if chain.is_empty() {
        return Err(fail(&files.cert, &"holds no certificate"));
    }
    let key = PrivateKeyDer::from_pem_file(&files.key).map_err(|e| fail(&files.key, &e))?;
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| fail(&files.cert, &e))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| fail(&files.key, &e))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}
