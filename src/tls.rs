//! TLS on the API listener (`[tls]`), with PKIoverheid client certificates, reloadable.
//!
//! rustls (on ring) terminates TLS through actix-web's `rustls-0_23` listener. The listener's
//! `ServerConfig` is fixed once it runs, so what must change on SIGHUP sits behind two indirections
//! that the config holds: a certificate resolver and a client-certificate verifier, each reading
//! the current value from a lock. [`Tls::reload`] builds new ones from the files and swaps them
//! in whole; a handshake already under way, and every open connection, keeps what it started
//! with. A file that does not load leaves the previous certificate and CAs in use.
//!
//! Client certificates are asked for but not required: API-key clients, the citizens' portal and
//! operators connect without one. One that is offered must chain to `client_ca_file`, or the
//! handshake fails. After the handshake, [`identity`] reads the verified end-entity certificate
//! once per connection and keeps its subject `serialNumber` (OID 2.5.4.5: the OIN, by the
//! PKIoverheid convention) in the connection's data, where `http::auth` finds it.
//!
//! The verifier sends no CA names as hints (`root_hint_subjects` answers by reference, which a
//! swappable verifier cannot give): clients send the certificate they are configured with.

use std::any::Any;
use std::fmt;
use std::path::Path;
use std::sync::{Arc, PoisonError, RwLock};

use actix_web::rt::net::TcpStream;
use anyhow::Context as _;
use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::{ClientHello, ResolvesServerCert, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;
use rustls::{
    DigitallySignedStruct, DistinguishedName, RootCertStore, ServerConfig, SignatureScheme,
};
use x509_parser::oid_registry::OID_X509_SERIALNUMBER;

use crate::config::TlsConfig;

/// The TLS stream actix-web hands to `on_connect` on a TLS listener.
pub type TlsStream = actix_tls::accept::rustls_0_23::TlsStream<TcpStream>;

/// The API listener's TLS: the files it loads from and what they held when last loaded.
#[derive(Clone)]
pub struct Tls {
    shared: Arc<Shared>,
}

struct Shared {
    config: TlsConfig,
    provider: Arc<CryptoProvider>,
    certificate: RwLock<Arc<CertifiedKey>>,
    /// `None` when no `client_ca_file` is configured: no client certificates are asked for.
    clients: Option<Arc<CurrentVerifier>>,
}

/// The client verifier built last from `client_ca_file`.
type CurrentVerifier = RwLock<Arc<dyn ClientCertVerifier>>;

impl fmt::Debug for Tls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tls")
            .field("cert_file", &self.shared.config.cert_file)
            .field("client_ca_file", &self.shared.config.client_ca_file)
            .finish_non_exhaustive()
    }
}

impl Tls {
    /// Loads the files `[tls]` names; `None` when TLS is not configured.
    pub fn load(config: &TlsConfig) -> anyhow::Result<Option<Self>> {
        if !config.enabled() {
            return Ok(None);
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let certificate = certified_key(config, &provider)?;
        let clients = if config.client_certificates() {
            let verifier = client_verifier(&config.client_ca_file, &provider)?;
            Some(Arc::new(RwLock::new(verifier)))
        } else {
            None
        };
        Ok(Some(Self {
            shared: Arc::new(Shared {
                config: config.clone(),
                provider,
                certificate: RwLock::new(certificate),
                clients,
            }),
        }))
    }

    /// Reads the files again and, when every one loads, puts them in use for new handshakes.
    /// Blocking (file I/O): not for the event loop.
    pub fn reload(&self) -> anyhow::Result<()> {
        let shared = &self.shared;
        let certificate = certified_key(&shared.config, &shared.provider)?;
        let verifier = match &shared.clients {
            Some(_) => Some(client_verifier(
                &shared.config.client_ca_file,
                &shared.provider,
            )?),
            None => None,
        };
        *shared
            .certificate
            .write()
            .unwrap_or_else(PoisonError::into_inner) = certificate;
        if let (Some(clients), Some(verifier)) = (&shared.clients, verifier) {
            *clients.write().unwrap_or_else(PoisonError::into_inner) = verifier;
        }
        Ok(())
    }

    /// The rustls configuration of the listener: HTTP/1.1, the certificate and the client
    /// verifier read through this `Tls`, so that [`Tls::reload`] reaches new handshakes.
    pub fn server_config(&self) -> anyhow::Result<ServerConfig> {
        let builder = ServerConfig::builder_with_provider(self.shared.provider.clone())
            .with_safe_default_protocol_versions()
            .context("the TLS provider supports no safe protocol version")?;
        let builder = match &self.shared.clients {
            Some(clients) => builder.with_client_cert_verifier(Arc::new(Verifier(clients.clone()))),
            None => builder.with_no_client_auth(),
        };
        let mut config = builder.with_cert_resolver(Arc::new(Resolver(self.shared.clone())));
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(config)
    }
}

/// The certificate chain and its key, checked to belong together.
fn certified_key(
    config: &TlsConfig,
    provider: &CryptoProvider,
) -> anyhow::Result<Arc<CertifiedKey>> {
    let chain = certificates(&config.cert_file)?;
    let key = PrivateKeyDer::from_pem_file(&config.key_file).with_context(|| {
        format!(
            "cannot read a private key from {} (tls.key_file)",
            config.key_file.display()
        )
    })?;
    let certified = CertifiedKey::from_der(chain, key, provider).with_context(|| {
        format!(
            "the key in {} does not fit the certificate in {}",
            config.key_file.display(),
            config.cert_file.display()
        )
    })?;
    Ok(Arc::new(certified))
}

/// Every certificate of a PEM file, at least one.
fn certificates(path: &Path) -> anyhow::Result<Vec<CertificateDer<'static>>> {
    let chain = CertificateDer::pem_file_iter(path)
        .and_then(Iterator::collect::<Result<Vec<_>, _>>)
        .with_context(|| format!("cannot read certificates from {}", path.display()))?;
    if chain.is_empty() {
        anyhow::bail!("{} holds no certificate", path.display());
    }
    Ok(chain)
}

/// A verifier of client certificates against the CA bundle; a client may also offer none.
fn client_verifier(
    path: &Path,
    provider: &Arc<CryptoProvider>,
) -> anyhow::Result<Arc<dyn ClientCertVerifier>> {
    let mut roots = RootCertStore::empty();
    for certificate in certificates(path)? {
        roots
            .add(certificate)
            .with_context(|| format!("a CA certificate in {} is not usable", path.display()))?;
    }
    WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .allow_unauthenticated()
        .build()
        .with_context(|| format!("cannot build a verifier for the CAs in {}", path.display()))
}

/// Serves the certificate loaded last.
struct Resolver(Arc<Shared>);

impl fmt::Debug for Resolver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Resolver")
    }
}

impl ResolvesServerCert for Resolver {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(
            self.0
                .certificate
                .read()
                .unwrap_or_else(PoisonError::into_inner)
                .clone(),
        )
    }
}

/// Verifies client certificates with the verifier built last.
struct Verifier(Arc<CurrentVerifier>);

impl Verifier {
    fn current(&self) -> Arc<dyn ClientCertVerifier> {
        self.0
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Verifier")
    }
}

impl ClientCertVerifier for Verifier {
    fn client_auth_mandatory(&self) -> bool {
        false
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        self.current()
            .verify_client_cert(end_entity, intermediates, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.current().verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.current().verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.current().supported_verify_schemes()
    }
}

/// A connection's verified client certificate, as far as the engine reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientCertificate {
    /// The OIN in the subject's `serialNumber`: one value, 20 digits; `None` when the
    /// certificate carries no such value (it then signs no afnemer in).
    pub oin: Option<String>,
}

/// The client certificate of a connection, if it is a TLS connection whose client offered one
/// (and so had it verified: an unverified one ends the handshake before this).
pub fn identity(io: &dyn Any) -> Option<ClientCertificate> {
    let stream = io.downcast_ref::<TlsStream>()?;
    let (_, connection) = stream.get_ref();
    let end_entity = connection.peer_certificates()?.first()?;
    Some(ClientCertificate {
        oin: oin_of(end_entity),
    })
}

/// The peer address of the stream `on_connect` is given, plain or TLS.
pub fn peer_addr(io: &dyn Any) -> Option<std::net::SocketAddr> {
    if let Some(stream) = io.downcast_ref::<TcpStream>() {
        return stream.peer_addr().ok();
    }
    let stream = io.downcast_ref::<TlsStream>()?;
    stream.get_ref().0.peer_addr().ok()
}

/// The OIN of a certificate: its subject's `serialNumber` attribute, when there is exactly one
/// and it is 20 digits. Read from the parsed DER, never from a printed subject.
pub fn oin_of(certificate: &[u8]) -> Option<String> {
    let (_, parsed) = x509_parser::parse_x509_certificate(certificate).ok()?;
    let mut values = parsed.subject().iter_by_oid(&OID_X509_SERIALNUMBER);
    let value = values.next()?.as_str().ok()?;
    if values.next().is_some() {
        return None;
    }
    (value.len() == 20 && value.bytes().all(|b| b.is_ascii_digit())).then(|| value.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::{CertificateParams, DnType, KeyPair};

    /// A self-signed certificate with these subject serialNumbers (rcgen keeps one value per
    /// attribute type, so at most one survives).
    fn certificate_with(serials: &[&str]) -> Vec<u8> {
        let mut params = CertificateParams::new(vec!["afnemer.example".into()]).expect("params");
        params
            .distinguished_name
            .push(DnType::CommonName, "Gemeente Voorbeeld");
        for serial in serials {
            params
                .distinguished_name
                .push(DnType::CustomDnType(vec![2, 5, 4, 5]), *serial);
        }
        let key = KeyPair::generate().expect("key");
        params.self_signed(&key).expect("signs").der().to_vec()
    }

    #[test]
    fn the_oin_is_the_subjects_serial_number() {
        let oin = "00000001234567890000";
        assert_eq!(oin_of(&certificate_with(&[oin])), Some(oin.to_owned()));
    }

    #[test]
    fn no_oin_without_exactly_one_twenty_digit_serial_number() {
        assert_eq!(oin_of(&certificate_with(&[])), None);
        assert_eq!(oin_of(&certificate_with(&["1234"])), None);
        assert_eq!(oin_of(&certificate_with(&["0000000123456789000A"])), None);
        assert_eq!(oin_of(b"not a certificate"), None);
    }
}
