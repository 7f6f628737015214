//! Connections for the doctor: TLS with rustls (ring) against the webpki roots plus any
//! extra authority, a certificate verifier that remembers why it refused, and a minimal
//! HTTP/1.1 exchange that shows exactly what the server answered.

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;
use tokio_rustls::TlsConnector;
use tokio_tungstenite::MaybeTlsStream;

/// A connection, plain or TLS.
pub type Stream = MaybeTlsStream<TcpStream>;

/// The ring provider, shared.
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The public roots of webpki-roots plus the certificates of `ca_files` (PEM).
pub fn roots(ca_files: &[std::path::PathBuf]) -> Result<RootCertStore, String> {
    let mut roots = RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    for file in ca_files {
        let certs = read_pem(file)?;
        for cert in certs {
            roots
                .add(cert)
                .map_err(|e| format!("{}: not a usable CA certificate: {e}", file.display()))?;
        }
    }
    Ok(roots)
}

fn read_pem(file: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs: Vec<_> = CertificateDer::pem_file_iter(file)
        .map_err(|e| format!("cannot read --ca-file {}: {e}", file.display()))?
        .collect::<Result<_, _>>()
        .map_err(|e| format!("--ca-file {}: bad PEM: {e}", file.display()))?;
    if certs.is_empty() {
        return Err(format!(
            "--ca-file {}: no \"BEGIN CERTIFICATE\" block in it",
            file.display()
        ));
    }
    Ok(certs)
}

/// What the verifier saw when it refused a certificate.
#[derive(Debug, Clone)]
pub struct Refusal {
    /// The server's own certificate.
    pub leaf: CertificateDer<'static>,
    /// Why it was refused.
    pub error: rustls::Error,
}

/// The webpki verifier, remembering the last refusal so it can be explained.
#[derive(Debug)]
pub struct Recording {
    inner: Arc<WebPkiServerVerifier>,
    /// The last refusal.
    pub refused: Mutex<Option<Refusal>>,
}

impl Recording {
    /// A verifier trusting `roots`.
    pub fn new(roots: RootCertStore) -> Result<Arc<Recording>, String> {
        let inner = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider())
            .build()
            .map_err(|e| format!("cannot set up certificate checks: {e}"))?;
        Ok(Arc::new(Recording {
            inner,
            refused: Mutex::new(None),
        }))
    }
}

impl ServerCertVerifier for Recording {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let result = self.inner.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        );
        if let Err(error) = &result {
            if let Ok(mut slot) = self.refused.lock() {
                *slot = Some(Refusal {
                    leaf: end_entity.clone().into_owned(),
                    error: error.clone(),
                });
            }
        }
        result
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// A client configuration using `verifier`, speaking HTTP/1.1.
pub fn client_config(verifier: Arc<Recording>) -> Result<Arc<ClientConfig>, String> {
    let mut config = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("cannot set up TLS: {e}"))?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// True when `leaf` is signed by its own key (it verifies with itself as the only root).
pub fn is_self_signed(leaf: &CertificateDer<'static>, name: &ServerName<'static>) -> bool {
    let mut roots = RootCertStore::empty();
    if roots.add(leaf.clone()).is_err() {
        return false;
    }
    let Ok(verifier) =
        WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider()).build()
    else {
        return false;
    };
    match verifier.verify_server_cert(leaf, &[], name, &[], UnixTime::now()) {
        Ok(_) => true,
        Err(rustls::Error::InvalidCertificate(
            CertificateError::UnknownIssuer | CertificateError::BadSignature,
        )) => false,
        Err(rustls::Error::InvalidCertificate(_)) => true,
        Err(_) => false,
    }
}

/// Where and how to connect.
#[derive(Debug, Clone)]
pub struct Dialer {
    /// The host name (for SNI, the Host header and certificate checks).
    pub host: String,
    /// The address to connect to.
    pub addr: std::net::SocketAddr,
    /// TLS configuration; `None` for plain TCP.
    pub tls: Option<Arc<ClientConfig>>,
    /// Limit of each step.
    pub timeout: Duration,
}

impl Dialer {
    /// Connect (and shake hands, for TLS). Errors say which step failed.
    pub async fn open(&self) -> Result<Stream, DialError> {
        let tcp = match timeout(self.timeout, TcpStream::connect(self.addr)).await {
            Ok(Ok(tcp)) => tcp,
            Ok(Err(e)) => return Err(DialError::Tcp(e.to_string())),
            Err(_) => {
                return Err(DialError::Tcp(format!(
                    "no answer within {} s",
                    self.timeout.as_secs_f64()
                )))
            }
        };
        let _ = tcp.set_nodelay(true);
        let Some(config) = &self.tls else {
            return Ok(MaybeTlsStream::Plain(tcp));
        };
        let name = ServerName::try_from(self.host.clone()).map_err(|e| {
            DialError::Tls(format!("{:?} is not a valid host name: {e}", self.host))
        })?;
        let connector = TlsConnector::from(config.clone());
        match timeout(self.timeout, connector.connect(name, tcp)).await {
            Ok(Ok(tls)) => Ok(MaybeTlsStream::Rustls(tls)),
            Ok(Err(e)) => Err(DialError::Tls(e.to_string())),
            Err(_) => Err(DialError::Tls(format!(
                "no TLS handshake within {} s",
                self.timeout.as_secs_f64()
            ))),
        }
    }
}

/// Which step of [`Dialer::open`] failed.
#[derive(Debug)]
pub enum DialError {
    /// The TCP connection.
    Tcp(String),
    /// The TLS handshake.
    Tls(String),
}

/// The head (and a bounded body) of an HTTP response.
#[derive(Debug, Clone)]
pub struct Answer {
    /// Status code.
    pub status: u16,
    /// Header names (lower case) and values.
    pub headers: Vec<(String, String)>,
    /// The body, up to 64 KiB (empty for 101).
    pub body: String,
    /// From sending the request to the first byte of the answer.
    pub first_byte: Duration,
}

impl Answer {
    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

const BODY_MAX: usize = 64 * 1024;

/// Send `GET path` with `extra` headers on `stream` and read the answer, within `limit`.
pub async fn get(
    stream: &mut Stream,
    host: &str,
    path: &str,
    extra: &[(&str, &str)],
    limit: Duration,
) -> Result<Answer, String> {
    let mut request = format!(
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: relay-doctor\r\nAccept: */*\r\n"
    );
    for (k, v) in extra {
        request.push_str(&format!("{k}: {v}\r\n"));
    }
    if extra.is_empty() {
        request.push_str("Connection: close\r\n");
    }
    request.push_str("\r\n");
    let sent = Instant::now();
    match timeout(limit, exchange(stream, request.as_bytes(), sent)).await {
        Ok(result) => result,
        Err(_) => Err(format!(
            "no complete answer within {} s",
            limit.as_secs_f64()
        )),
    }
}

async fn exchange(stream: &mut Stream, request: &[u8], sent: Instant) -> Result<Answer, String> {
    stream
        .write_all(request)
        .await
        .map_err(|e| format!("sending the request failed: {e}"))?;
    stream
        .flush()
        .await
        .map_err(|e| format!("sending the request failed: {e}"))?;
    let mut buf = Vec::with_capacity(4096);
    let mut chunk = [0u8; 4096];
    let mut first_byte = None;
    let head_end = loop {
        let n = stream
            .read(&mut chunk)
            .await
            .map_err(|e| format!("reading the answer failed: {e}"))?;
        if n == 0 {
            return Err(if buf.is_empty() {
                "the server closed the connection without answering".into()
            } else {
                "the server closed the connection in the middle of its answer".into()
            });
        }
        first_byte.get_or_insert_with(|| sent.elapsed());
        buf.extend_from_slice(&chunk[..n]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        if buf.len() > BODY_MAX {
            return Err("the answer's header is larger than 64 KiB".into());
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or("");
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse::<u16>().ok())
        .ok_or_else(|| format!("not an HTTP answer: {status_line:?}"))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let mut answer = Answer {
        status,
        headers,
        body: String::new(),
        first_byte: first_byte.unwrap_or_default(),
    };
    if status == 101 {
        return Ok(answer);
    }
    let mut body = buf[head_end + 4..].to_vec();
    let length = answer
        .header("content-length")
        .and_then(|v| v.parse::<usize>().ok());
    while length.is_none_or(|l| body.len() < l) && body.len() < BODY_MAX {
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => break,
            Ok(n) => body.extend_from_slice(&chunk[..n]),
        }
    }
    if answer
        .header("transfer-encoding")
        .is_some_and(|v| v.eq_ignore_ascii_case("chunked"))
    {
        body = dechunk(&body);
    }
    body.truncate(BODY_MAX);
    answer.body = String::from_utf8_lossy(&body).into_owned();
    Ok(answer)
}

/// Undo `Transfer-Encoding: chunked` (as far as the bytes go).
fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(eol) = data.windows(2).position(|w| w == b"\r\n") {
        let size_text = String::from_utf8_lossy(&data[..eol]);
        let size_text = size_text.split(';').next().unwrap_or("").trim();
        let Ok(size) = usize::from_str_radix(size_text, 16) else {
            break;
        };
        data = &data[eol + 2..];
        if size == 0 || data.len() < size {
            out.extend_from_slice(&data[..size.min(data.len())]);
            break;
        }
        out.extend_from_slice(&data[..size]);
        data = data.get(size + 2..).unwrap_or(&[]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dechunks() {
        assert_eq!(
            dechunk(b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"),
            b"hello world"
        );
        assert_eq!(dechunk(b"zz\r\n"), b"");
    }
}
