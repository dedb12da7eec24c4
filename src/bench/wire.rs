//! A lean HTTP/1.1 client for the closed loop: one keep-alive connection per loop, each request
//! written as one buffer and each answer read by its `Content-Length`. The load generator shares
//! the two cores with the gateway, and a general client (reqwest: pool, URL and header maps per
//! request) took about 20 µs of CPU per request here, a fifth of the gateway's own; this takes
//! what wrk would.

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

/// Largest response head accepted.
const MAX_HEAD: usize = 16 << 10;

/// One keep-alive connection to `addr` (`host:port`), opened on first use and again after an
/// error.
pub struct Connection {
    addr: String,
    stream: Option<TcpStream>,
    buf: Vec<u8>,
}

/// Why an exchange failed.
#[derive(Debug, thiserror::Error)]
pub enum WireError {
    /// Connecting, writing or reading failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The answer is not an HTTP/1.1 response with a `Content-Length` we can read.
    #[error("unreadable answer: {0}")]
    Answer(&'static str),
}

impl Connection {
    /// A connection to `base` (`http://host:port`).
    pub fn new(base: &str) -> Self {
        Self {
            addr: base.trim_start_matches("http://").to_owned(),
            stream: None,
            buf: Vec::with_capacity(4096),
        }
    }

    /// `POST /{action}` with these headers and body; the status and body of the answer.
    pub async fn post(
        &mut self,
        action: &str,
        authorization: &str,
        body: &[u8],
    ) -> Result<(u16, Vec<u8>), WireError> {
        let result = self.exchange(action, authorization, body).await;
        if result.is_err() {
            // The next request starts afresh on a new connection.
            self.stream = None;
        }
        result
    }

    async fn exchange(
        &mut self,
        action: &str,
        authorization: &str,
        body: &[u8],
    ) -> Result<(u16, Vec<u8>), WireError> {
        if self.stream.is_none() {
            let stream = TcpStream::connect(&self.addr).await?;
            stream.set_nodelay(true)?;
            self.stream = Some(stream);
        }
        let stream = self.stream.as_mut().ok_or(WireError::Answer("no connection"))?;
        let mut request = Vec::with_capacity(256 + authorization.len() + body.len());
        request.extend_from_slice(
            format!(
                "POST /{action} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nAuthorization: {authorization}\r\nContent-Length: {}\r\n\r\n",
                self.addr,
                body.len()
            )
            .as_bytes(),
        );
        request.extend_from_slice(body);
        stream.write_all(&request).await?;

        self.buf.clear();
        let head_end = loop {
            if let Some(at) = find(&self.buf, b"\r\n\r\n") {
                break at + 4;
            }
            if self.buf.len() > MAX_HEAD {
                return Err(WireError::Answer("response head too long"));
            }
            read_more(stream, &mut self.buf).await?;
        };
        let head =
            std::str::from_utf8(&self.buf[..head_end]).map_err(|_| WireError::Answer("head is not UTF-8"))?;
        let status = head
            .strip_prefix("HTTP/1.1 ")
            .and_then(|rest| rest.get(..3))
            .and_then(|code| code.parse::<u16>().ok())
            .ok_or(WireError::Answer("no HTTP/1.1 status line"))?;
        let length = head
            .split("\r\n")
            .filter_map(|line| line.split_once(':'))
            .find(|(name, _)| name.eq_ignore_ascii_case("content-length"))
            .and_then(|(_, value)| value.trim().parse::<usize>().ok())
            .ok_or(WireError::Answer("no Content-Length"))?;
        while self.buf.len() < head_end + length {
            read_more(stream, &mut self.buf).await?;
        }
        if self.buf.len() > head_end + length {
            return Err(WireError::Answer("more bytes than the answer"));
        }
        Ok((status, self.buf[head_end..].to_vec()))
    }
}

async fn read_more(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Result<(), WireError> {
    let mut chunk = [0u8; 4096];
    let n = stream.read(&mut chunk).await?;
    if n == 0 {
        return Err(WireError::Answer("connection closed"));
    }
    buf.extend_from_slice(&chunk[..n]);
    Ok(())
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    /// A server that answers each request with `answer`, after reading the request whole.
    async fn serve(answers: Vec<&'static [u8]>) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            for answer in answers {
                let mut got = Vec::new();
                while find(&got, b"\r\n\r\n").is_none() {
                    let mut chunk = [0u8; 1024];
                    let n = socket.read(&mut chunk).await.unwrap();
                    got.extend_from_slice(&chunk[..n]);
                }
                let text = String::from_utf8_lossy(&got).to_string();
                let length: usize = text
                    .lines()
                    .find_map(|l| l.strip_prefix("Content-Length: "))
                    .unwrap()
                    .trim()
                    .parse()
                    .unwrap();
                let head = find(&got, b"\r\n\r\n").unwrap() + 4;
                while got.len() < head + length {
                    let mut chunk = [0u8; 1024];
                    let n = socket.read(&mut chunk).await.unwrap();
                    got.extend_from_slice(&chunk[..n]);
                }
                // Written in two pieces, to be read across reads.
                let (a, b) = answer.split_at(answer.len() / 2);
                socket.write_all(a).await.unwrap();
                socket.flush().await.unwrap();
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
                socket.write_all(b).await.unwrap();
            }
        });
        format!("http://{addr}")
    }

    #[tokio::test]
    async fn answers_are_read_by_their_length_on_one_connection_and_bad_ones_are_errors() {
        let base = serve(vec![
            b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\ncontent-type: application/json\r\n\r\nhello",
            b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 2\r\n\r\nno",
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n",
        ])
        .await;
        let mut c = Connection::new(&base);
        let body = vec![b'x'; 3000];
        assert_eq!(
            c.post("on_status", "Signature x", &body).await.unwrap(),
            (200, b"hello".to_vec())
        );
        assert_eq!(
            c.post("on_cancel", "Signature y", b"{}").await.unwrap(),
            (401, b"no".to_vec())
        );
        let e = c.post("on_cancel", "Signature z", b"{}").await.unwrap_err();
        assert!(e.to_string().contains("Content-Length"), "{e}");
    }
}
