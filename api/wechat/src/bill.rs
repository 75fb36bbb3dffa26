//! `pay/downloadbill`: the daily bill (对账单, `bill_type=ALL`), plain or gzip.
//!
//! Unlike every other pay call the answer is not signed XML: on success it is the
//! bill itself (CSV text, or gzip bytes with `tar_type=GZIP`), on failure an unsigned
//! XML `return_code=FAIL`. Reading it is core's (`paylog_core::wxpay::bill`), which
//! also turns `No Bill Exist` into an empty day; this file only fetches the bytes,
//! bounded, and gunzips them, bounded too (a small gzip can inflate to gigabytes).

use std::io::Read as _;
use std::time::Duration;

use chrono::NaiveDate;
use paylog_core::wxpay::Fields;
use paylog_core::wxpay::bill::{
    BillDay, BillError, MAX_BILL_BYTES, bill_date_param, parse_download,
};

use super::{WechatClient, WechatError, nonce};

/// Most bytes read from the wire for one bill, compressed or not.
pub const MAX_BILL_DOWNLOAD_BYTES: usize = MAX_BILL_BYTES;

/// The first two bytes of every gzip member (RFC 1952).
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// Whether WeChat sends the bill as is or gzipped (`tar_type=GZIP`: a fraction of
/// the bytes for a busy day).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BillCompression {
    #[default]
    None,
    Gzip,
}

impl WechatClient {
    /// `pay/downloadbill` of one Beijing day with `bill_type=ALL`: the day's bill,
    /// or [`BillDay::NoBill`] when WeChat has none (`No Bill Exist`). A malformed
    /// bill is [`WechatError::Bill`], naming its line.
    pub async fn download_bill(
        &self,
        day: NaiveDate,
        compression: BillCompression,
    ) -> Result<BillDay, WechatError> {
        let mut fields = Fields::new();
        fields.insert("bill_date".into(), bill_date_param(day));
        fields.insert("bill_type".into(), "ALL".into());
        if compression == BillCompression::Gzip {
            fields.insert("tar_type".into(), "GZIP".into());
        }
        let body = self.merchant.signed_request(fields, &nonce())?;
        let url = format!("{}/pay/downloadbill", self.config.pay_url);
        let bytes = self.download_with_retries(&url, body).await?;
        let text = decode_body(&bytes)?;
        Ok(parse_download(&text)?)
    }

    async fn download_with_retries(&self, url: &str, body: String) -> Result<Vec<u8>, WechatError> {
        let mut attempt = 0u32;
        loop {
            match self.download_once(url, body.clone()).await {
                Err(WechatError::Transport(e)) if attempt < self.config.max_retries => {
                    tracing::warn!(url, attempt, error = %e, "bill download failed; retrying");
                    tokio::time::sleep(Duration::from_millis(200 << attempt)).await;
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    async fn download_once(&self, url: &str, body: String) -> Result<Vec<u8>, WechatError> {
        let mut resp = self
            .http
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "text/xml; charset=utf-8")
            .body(body)
            // A busy day's bill takes longer than a query.
            .timeout(self.config.timeout.saturating_mul(BILL_TIMEOUT_FACTOR))
            .send()
            .await
            .map_err(WechatError::transport)?;
        let status = resp.status();
        if !status.is_success() {
            return Err(WechatError::Status(status.as_u16()));
        }
        if let Some(len) = resp.content_length()
            && len > MAX_BILL_DOWNLOAD_BYTES as u64
        {
            return Err(too_large(usize::try_from(len).unwrap_or(usize::MAX)));
        }
        let mut bytes = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(WechatError::transport)? {
            if bytes.len() + chunk.len() > MAX_BILL_DOWNLOAD_BYTES {
                return Err(too_large(bytes.len() + chunk.len()));
            }
            bytes.extend_from_slice(&chunk);
        }
        Ok(bytes)
    }
}

/// How many per-call timeouts a bill download may take.
const BILL_TIMEOUT_FACTOR: u32 = 6;

fn too_large(size: usize) -> WechatError {
    WechatError::Bill(BillError::TooLarge {
        size,
        limit: MAX_BILL_DOWNLOAD_BYTES,
    })
}

/// The answer as text: gunzipped (at most [`MAX_BILL_BYTES`] inflated) when it is
/// gzip, whatever was asked (WeChat's errors stay plain XML even with `tar_type`).
fn decode_body(bytes: &[u8]) -> Result<String, WechatError> {
    let raw = if bytes.starts_with(&GZIP_MAGIC) {
        let mut inflated = Vec::new();
        let limit = u64::try_from(MAX_BILL_BYTES).unwrap_or(u64::MAX);
        flate2::read::MultiGzDecoder::new(bytes)
            .take(limit + 1)
            .read_to_end(&mut inflated)
            .map_err(|e| WechatError::Bill(BillError::NotABill(format!("bad gzip: {e}"))))?;
        if inflated.len() > MAX_BILL_BYTES {
            return Err(too_large(inflated.len()));
        }
        inflated
    } else {
        bytes.to_vec()
    };
    String::from_utf8(raw)
        .map_err(|e| WechatError::Bill(BillError::NotABill(format!("not UTF-8: {e}"))))
}

#[cfg(test)]
mod tests {
    use std::io::Write as _;

    use super::*;

    #[test]
    fn plain_and_gzip_bodies_read_the_same_and_garbage_is_refused() {
        let text = "交易时间,…\n";
        assert_eq!(decode_body(text.as_bytes()).ok().as_deref(), Some(text));
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(text.as_bytes()).ok();
        let gz = gz.finish().unwrap_or_default();
        assert!(gz.starts_with(&GZIP_MAGIC));
        assert_eq!(decode_body(&gz).ok().as_deref(), Some(text));
        let mut truncated = gz.clone();
        truncated.truncate(gz.len() / 2);
        assert!(matches!(
            decode_body(&truncated),
            Err(WechatError::Bill(BillError::NotABill(_)))
        ));
        assert!(matches!(
            decode_body(&[0xff, 0xfe, 0x00]),
            Err(WechatError::Bill(BillError::NotABill(_)))
        ));
    }
}
