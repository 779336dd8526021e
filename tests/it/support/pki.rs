//! A test PKI made in the test with rcgen: a CA (standing in for PKIoverheid's private
//! services CA), the engine's server certificate for 127.0.0.1 signed by it, and client
//! certificates whose subject `serialNumber` is an afnemer's OIN; plus HTTPS clients that
//! trust the CA and may present one of those certificates.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};

/// A certificate authority of the test.
pub struct TestCa {
    issuer: Issuer<'static, KeyPair>,
    /// The CA's certificate, PEM.
    pub pem: String,
}

impl std::fmt::Debug for TestCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TestCa")
    }
}

/// A certificate and its private key, PEM.
#[derive(Debug, Clone)]
pub struct Identity {
    pub certificate: String,
    pub key: String,
}

impl Identity {
    /// Writes `<stem>.crt` and `<stem>.key` into `dir`; answers their paths.
    pub fn write(&self, dir: &Path, stem: &str) -> (PathBuf, PathBuf) {
        let certificate = dir.join(format!("{stem}.crt"));
        let key = dir.join(format!("{stem}.key"));
        std::fs::write(&certificate, &self.certificate).expect("write certificate");
        std::fs::write(&key, &self.key).expect("write key");
        (certificate, key)
    }
}

impl TestCa {
    pub fn new(name: &str) -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let key = KeyPair::generate().expect("CA key");
        let pem = params.self_signed(&key).expect("self-sign the CA").pem();
        Self {
            issuer: Issuer::new(params, key),
            pem,
        }
    }

    /// An HTTPS client that trusts this CA and presents `identity` when given.
    pub fn https_client(&self, identity: Option<&Identity>) -> reqwest::blocking::Client {
        https_client(&self.pem, identity)
    }

    /// Writes the CA's certificate to `path`.
    pub fn write(&self, path: &Path) -> PathBuf {
        std::fs::write(path, &self.pem).expect("write CA");
        path.to_owned()
    }

    /// A server certificate for 127.0.0.1 and localhost; `name` tells renewals apart.
    pub fn server(&self, name: &str) -> Identity {
        let mut params = CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".into()])
            .expect("server params");
        params.distinguished_name.push(DnType::CommonName, name);
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        self.sign(params)
    }

    /// A client certificate of an afnemer: `oin` in the subject's serialNumber (or none).
    pub fn client(&self, oin: Option<&str>) -> Identity {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("client params");
        params
            .distinguished_name
            .push(DnType::OrganizationName, "Gemeente Voorbeeld");
        params
            .distinguished_name
            .push(DnType::CommonName, "berichten.voorbeeld.nl");
        if let Some(oin) = oin {
            // OID 2.5.4.5, serialNumber: where PKIoverheid puts the OIN.
            params
                .distinguished_name
                .push(DnType::CustomDnType(vec![2, 5, 4, 5]), oin);
        }
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        self.sign(params)
    }

    fn sign(&self, params: CertificateParams) -> Identity {
        let key = KeyPair::generate().expect("key");
        let certificate = params.signed_by(&key, &self.issuer).expect("sign");
        Identity {
            certificate: certificate.pem(),
            key: key.serialize_pem(),
        }
    }
}

/// An HTTPS client that trusts the CA `ca_pem` (only it) and presents `identity` when given; it
/// keeps connections open between requests, and records each connection's server certificate
/// (`TlsInfo`).
pub fn https_client(ca_pem: &str, identity: Option<&Identity>) -> reqwest::blocking::Client {
    let mut builder = reqwest::blocking::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(
            reqwest::Certificate::from_pem(ca_pem.as_bytes()).expect("CA certificate"),
        )
        .tls_info(true)
        .timeout(Duration::from_secs(60));
    if let Some(identity) = identity {
        let pem = format!("{}{}", identity.certificate, identity.key);
        builder = builder.identity(reqwest::Identity::from_pem(pem.as_bytes()).expect("identity"));
    }
    builder.build().expect("https client")
}
