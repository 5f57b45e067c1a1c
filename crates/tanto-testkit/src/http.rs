//! A minimal blocking HTTP/1.1 client over `std::net`, for talking to the
//! local registry. No runtime, so it works from sync code, from threads and
//! from inside async tests alike.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use anyhow::{bail, Context, Result};

#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Splits `http://host:port/path?q` into (`host:port`, `/path?q`).
pub fn split_url(url: &str) -> Result<(&str, &str)> {
    let rest = url.strip_prefix("http://").with_context(|| format!("only http:// URLs are supported, not `{url}`"))?;
    Ok(match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    })
}

/// Sends one request (`Connection: close`) and reads the whole answer.
/// HTTP error statuses are returned, not raised.
pub fn request(method: &str, url: &str, headers: &[(&str, &str)], body: &[u8], timeout: Duration) -> Result<Response> {
    let (authority, path) = split_url(url)?;
    let addr = authority
        .to_socket_addrs()
        .with_context(|| format!("resolving `{authority}`"))?
        .next()
        .with_context(|| format!("`{authority}` has no address"))?;
    let mut stream =
        TcpStream::connect_timeout(&addr, timeout).with_context(|| format!("connecting to `{authority}`"))?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    stream.set_nodelay(true)?;
    let mut head =
        format!("{method} {path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\nUser-Agent: tanto-testkit\r\n");
    let mut has_length = false;
    for (k, v) in headers {
        has_length |= k.eq_ignore_ascii_case("content-length");
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    if !has_length && (method != "GET" && method != "HEAD" || !body.is_empty()) {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes())?;
    stream.write_all(body)?;
    stream.flush()?;

    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).with_context(|| format!("{method} {url}: reading the status line"))?;
    let status: u16 = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .with_context(|| format!("{method} {url}: bad status line {line:?}"))?;
    let mut resp_headers = Vec::new();
    loop {
        line.clear();
        reader.read_line(&mut line)?;
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        if let Some((k, v)) = l.split_once(':') {
            resp_headers.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    let mut resp = Response { status, headers: resp_headers, body: Vec::new() };
    if method == "HEAD" || status == 204 || status == 304 || (100..200).contains(&status) {
        return Ok(resp);
    }
    if resp.header("transfer-encoding").is_some_and(|t| t.eq_ignore_ascii_case("chunked")) {
        resp.body = read_chunked(&mut reader)?;
    } else if let Some(len) = resp.header("content-length").and_then(|l| l.parse::<usize>().ok()) {
        let mut body = vec![0; len];
        reader.read_exact(&mut body)?;
        resp.body = body;
    } else {
        reader.read_to_end(&mut resp.body)?;
    }
    Ok(resp)
}

fn read_chunked(r: &mut impl BufRead) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    let mut line = String::new();
    loop {
        line.clear();
        r.read_line(&mut line)?;
        let size = usize::from_str_radix(line.trim().split(';').next().unwrap_or(""), 16)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, format!("bad chunk size {line:?}")))?;
        if size == 0 {
            // trailers
            loop {
                line.clear();
                if r.read_line(&mut line)? == 0 || line.trim().is_empty() {
                    return Ok(out);
                }
            }
        }
        let start = out.len();
        out.resize(start + size, 0);
        r.read_exact(&mut out[start..])?;
        line.clear();
        r.read_line(&mut line)?;
    }
}

/// `GET url`, expecting `200`.
pub fn get_ok(url: &str) -> Result<Response> {
    let r = request("GET", url, &[], &[], Duration::from_secs(30))?;
    if r.status != 200 {
        bail!("GET {url}: HTTP {}: {}", r.status, r.text());
    }
    Ok(r)
}
