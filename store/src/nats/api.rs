//! The few JetStream API calls the store makes, spoken directly over core NATS requests
//! (`$JS.API.*` JSON and the ADR-50 batch headers), each bounded by a timeout.
//!
//! Talking to the API directly rather than through a client's JetStream layer keeps the
//! store independent of which server features a client version models (`allow_atomic`,
//! batch acks) and lets every request carry the store's own timeout.

use std::collections::HashMap;
use std::time::Duration;

use async_nats::HeaderMap;
use base64::Engine;
use bytes::Bytes;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::error::StoreError;

/// JetStream error codes the store reacts to (nats-server's `errors.json`).
pub(super) mod codes {
    /// `JSStreamNotFoundErr`.
    pub const STREAM_NOT_FOUND: u64 = 10059;
    /// `JSNoMessageFoundErr`.
    pub const NO_MESSAGE_FOUND: u64 = 10037;
    /// `JSStreamWrongLastSequenceErrF`: an expected (subject) sequence did not match.
    pub const WRONG_LAST_SEQUENCE: u64 = 10071;
    /// `JSStreamWrongLastSequenceConstantErr`: another in-flight write holds the subject.
    pub const WRONG_LAST_SEQUENCE_IN_FLIGHT: u64 = 10164;
    /// `JSAtomicPublishIncompleteBatchErr`: part of the batch never reached the leader.
    pub const INCOMPLETE_BATCH: u64 = 10176;
    /// `JSClusterNotAvailErr` / no leader at the moment.
    pub const CLUSTER_NOT_AVAILABLE: u64 = 10008;
}

/// An error answer of the JetStream API.
#[derive(Debug, Clone, Deserialize, thiserror::Error)]
#[error("jetstream error {err_code} ({code}): {description}")]
pub(super) struct ApiError {
    #[serde(default)]
    pub code: u64,
    #[serde(default)]
    pub err_code: u64,
    #[serde(default)]
    pub description: String,
}

/// Why a call failed.
#[derive(Debug, thiserror::Error)]
pub(super) enum CallError {
    /// The API answered with an error: the request was refused, nothing changed.
    #[error(transparent)]
    Api(#[from] ApiError),
    /// No answer in time, or the connection failed: the outcome is unknown.
    #[error("no answer from the cluster: {0}")]
    NoAnswer(String),
    /// Nobody serves the API right now (no leader, e.g. during an election): the
    /// request was not processed.
    #[error("no responders (no leader?)")]
    NoResponders,
    /// The answer could not be understood.
    #[error("malformed answer: {0}")]
    Malformed(String),
}

impl From<CallError> for StoreError {
    fn from(error: CallError) -> Self {
        match error {
            CallError::Malformed(m) => StoreError::Corrupt(format!("jetstream answer: {m}")),
            other => StoreError::backend("nats", other),
        }
    }
}

impl CallError {
    pub(super) fn api_code(&self) -> Option<u64> {
        match self {
            CallError::Api(e) => Some(e.err_code),
            _ => None,
        }
    }
}

/// A stored message as the `STREAM.MSG.GET` API returns it.
#[derive(Debug, Clone)]
pub(super) struct StoredMsg {
    pub subject: String,
    pub seq: u64,
    pub headers: HashMap<String, String>,
    pub data: Vec<u8>,
}

#[derive(Deserialize)]
struct RawStoredMsg {
    subject: String,
    seq: u64,
    #[serde(default)]
    hdrs: Option<String>,
    #[serde(default)]
    data: Option<String>,
}

#[derive(Deserialize)]
struct MsgGetResponse {
    message: RawStoredMsg,
}

/// The parts of `STREAM.INFO` the store reads.
#[derive(Debug, Clone, Deserialize)]
pub(super) struct StreamInfo {
    pub config: Value,
    pub state: StreamState,
}

#[derive(Debug, Clone, Deserialize)]
pub(super) struct StreamState {
    #[serde(default)]
    pub last_seq: u64,
    #[serde(default)]
    pub messages: u64,
}

/// The ack of a committed batch.
#[derive(Debug, Clone, Deserialize)]
pub(super) struct PubAck {
    /// Sequence of the batch's last message.
    pub seq: u64,
    #[serde(default)]
    pub count: u64,
}

/// One message of a batch to publish.
#[derive(Debug, Clone)]
pub(super) struct OutMsg {
    pub subject: String,
    pub headers: HeaderMap,
    pub payload: Bytes,
}

/// How many times a read is asked again while the stream has no leader.
pub(super) const READ_RETRIES: u32 = 60;

/// The pause between those attempts (60 × 250 ms: 15 s, beyond an election's ~10 s).
pub(super) const READ_RETRY_PAUSE: Duration = Duration::from_millis(250);

/// Whether `error` says the stream has no leader right now (an election is running).
fn leaderless(error: &CallError) -> bool {
    match error {
        CallError::NoResponders => true,
        CallError::Api(e) => e.code == 503 || e.err_code == codes::CLUSTER_NOT_AVAILABLE,
        CallError::NoAnswer(_) | CallError::Malformed(_) => false,
    }
}

/// A handle on one JetStream stream.
#[derive(Debug, Clone)]
pub(super) struct Api {
    pub client: async_nats::Client,
    pub stream: String,
    pub timeout: Duration,
}

impl Api {
    /// Sends an API request and decodes the answer, mapping error answers.
    async fn call<T: DeserializeOwned>(
        &self,
        subject: String,
        body: Value,
    ) -> Result<T, CallError> {
        let payload = Bytes::from(
            serde_json::to_vec(&body).map_err(|e| CallError::Malformed(e.to_string()))?,
        );
        let request = self.client.request(subject, payload);
        let message = match tokio::time::timeout(self.timeout, request).await {
            Err(_) => return Err(CallError::NoAnswer("api request timed out".into())),
            Ok(Err(e)) => return Err(request_error(e)),
            Ok(Ok(message)) => message,
        };
        decode_answer(&message.payload)
    }

    pub(super) async fn stream_info(&self) -> Result<StreamInfo, CallError> {
        self.call(format!("$JS.API.STREAM.INFO.{}", self.stream), json!({}))
            .await
    }

    pub(super) async fn create_stream(&self, config: Value) -> Result<StreamInfo, CallError> {
        self.call(format!("$JS.API.STREAM.CREATE.{}", self.stream), config)
            .await
    }

    /// A message by `STREAM.MSG.GET`, answered by the stream's leader (never a replica
    /// that may lag). `None` if no message matches.
    ///
    /// A read changes nothing, so while the stream has no leader (an election after a
    /// node died or came back: 503 / `CLUSTER_NOT_AVAILABLE`, or no responders) it is
    /// asked again, up to [`READ_RETRIES`] times [`READ_RETRY_PAUSE`] — longer than an
    /// election takes on a healthy cluster — before the error reaches the caller.
    async fn get(&self, request: Value) -> Result<Option<StoredMsg>, CallError> {
        let subject = format!("$JS.API.STREAM.MSG.GET.{}", self.stream);
        let mut attempt = 0;
        loop {
            match self
                .call::<MsgGetResponse>(subject.clone(), request.clone())
                .await
            {
                Ok(response) => return decode_stored(response.message).map(Some),
                Err(e) if e.api_code() == Some(codes::NO_MESSAGE_FOUND) => return Ok(None),
                Err(e) if attempt < READ_RETRIES && leaderless(&e) => {
                    attempt += 1;
                    tokio::time::sleep(READ_RETRY_PAUSE).await;
                }
                Err(e) => return Err(e),
            }
        }
    }

    pub(super) async fn get_seq(&self, seq: u64) -> Result<Option<StoredMsg>, CallError> {
        self.get(json!({ "seq": seq })).await
    }

    pub(super) async fn get_last_for(&self, subject: &str) -> Result<Option<StoredMsg>, CallError> {
        self.get(json!({ "last_by_subj": subject })).await
    }

    /// The first message on `subject` at or after sequence `seq`.
    pub(super) async fn get_next_for(
        &self,
        subject: &str,
        seq: u64,
    ) -> Result<Option<StoredMsg>, CallError> {
        self.get(json!({ "seq": seq, "next_by_subj": subject }))
            .await
    }

    /// Publishes `messages` as one ADR-50 atomic batch and waits for the commit's ack.
    /// The batch headers are added here; the caller sets its own (expected sequences).
    pub(super) async fn publish_batch(&self, messages: Vec<OutMsg>) -> Result<PubAck, CallError> {
        let count = messages.len();
        let batch_id = uuid::Uuid::new_v4().simple().to_string();
        let mut commit = None;
        for (i, mut message) in messages.into_iter().enumerate() {
            message.headers.insert(HDR_BATCH_ID, batch_id.as_str());
            message
                .headers
                .insert(HDR_BATCH_SEQUENCE, (i + 1).to_string().as_str());
            if i + 1 == count {
                message.headers.insert(HDR_BATCH_COMMIT, "1");
                commit = Some(message);
                break;
            }
            // Messages before the commit need no reply: the server checks the batch's
            // sequence numbers and refuses the commit if any is missing.
            let publish =
                self.client
                    .publish_with_headers(message.subject, message.headers, message.payload);
            match tokio::time::timeout(self.timeout, publish).await {
                Err(_) => return Err(CallError::NoAnswer("batch publish timed out".into())),
                Ok(Err(e)) => return Err(CallError::NoAnswer(e.to_string())),
                Ok(Ok(())) => {}
            }
        }
        let Some(commit) = commit else {
            return Err(CallError::Malformed("an empty batch".into()));
        };
        let request =
            self.client
                .request_with_headers(commit.subject, commit.headers, commit.payload);
        let answer = match tokio::time::timeout(self.timeout, request).await {
            Err(_) => return Err(CallError::NoAnswer("batch commit timed out".into())),
            Ok(Err(e)) => return Err(request_error(e)),
            Ok(Ok(message)) => message,
        };
        let ack: PubAck = decode_answer(&answer.payload)?;
        if ack.count != 0 && ack.count != count as u64 {
            return Err(CallError::Malformed(format!(
                "the batch ack counts {} messages, {count} were sent",
                ack.count
            )));
        }
        Ok(ack)
    }
}

use super::codec::{HDR_BATCH_COMMIT, HDR_BATCH_ID, HDR_BATCH_SEQUENCE};

fn request_error(error: async_nats::RequestError) -> CallError {
    use async_nats::RequestErrorKind;
    match error.kind() {
        RequestErrorKind::NoResponders => CallError::NoResponders,
        RequestErrorKind::TimedOut => CallError::NoAnswer("request timed out".into()),
        _ => CallError::NoAnswer(error.to_string()),
    }
}

/// Decodes an API answer: `{"error": {...}}` or the expected body.
fn decode_answer<T: DeserializeOwned>(payload: &[u8]) -> Result<T, CallError> {
    let value: Value = serde_json::from_slice(payload)
        .map_err(|e| CallError::Malformed(format!("not JSON ({e})")))?;
    if let Some(error) = value.get("error") {
        let error: ApiError = serde_json::from_value(error.clone())
            .map_err(|e| CallError::Malformed(format!("error answer: {e}")))?;
        return Err(CallError::Api(error));
    }
    serde_json::from_value(value).map_err(|e| CallError::Malformed(e.to_string()))
}

fn decode_stored(raw: RawStoredMsg) -> Result<StoredMsg, CallError> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let decode = |s: &Option<String>| -> Result<Vec<u8>, CallError> {
        match s {
            Some(s) => b64
                .decode(s)
                .map_err(|e| CallError::Malformed(format!("base64: {e}"))),
            None => Ok(Vec::new()),
        }
    };
    let header_bytes = decode(&raw.hdrs)?;
    Ok(StoredMsg {
        subject: raw.subject,
        seq: raw.seq,
        headers: parse_headers(&header_bytes)?,
        data: decode(&raw.data)?,
    })
}

/// Parses a stored header block: `NATS/1.0\r\nName: value\r\n...\r\n\r\n`.
fn parse_headers(bytes: &[u8]) -> Result<HashMap<String, String>, CallError> {
    let mut headers = HashMap::new();
    if bytes.is_empty() {
        return Ok(headers);
    }
    let text = std::str::from_utf8(bytes)
        .map_err(|_| CallError::Malformed("headers are not UTF-8".into()))?;
    for line in text.split("\r\n").skip(1) {
        if line.is_empty() {
            continue;
        }
        let Some((name, value)) = line.split_once(':') else {
            return Err(CallError::Malformed(format!("header line {line:?}")));
        };
        headers.insert(name.trim().to_owned(), value.trim().to_owned());
    }
    Ok(headers)
}

impl StoredMsg {
    /// A numeric header, which must be present.
    pub(super) fn u64_header(&self, name: &str) -> Result<u64, StoreError> {
        self.headers
            .get(name)
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| {
                StoreError::Corrupt(format!(
                    "message {} ({}) lacks a numeric {name} header",
                    self.seq, self.subject
                ))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_stored_header_block() {
        let block = b"NATS/1.0\r\nPaylog-Position: 12\r\nPaylog-Version:3\r\n\r\n";
        let headers = parse_headers(block).ok().unwrap_or_default();
        assert_eq!(
            headers.get("Paylog-Position").map(String::as_str),
            Some("12")
        );
        assert_eq!(headers.get("Paylog-Version").map(String::as_str), Some("3"));
        assert!(parse_headers(b"NATS/1.0\r\nbroken\r\n").is_err());
    }

    #[test]
    fn error_answers_become_api_errors() {
        let answer = br#"{"type":"x","error":{"code":400,"err_code":10071,"description":"wrong last sequence: 5"}}"#;
        match decode_answer::<PubAck>(answer) {
            Err(CallError::Api(e)) => assert_eq!(e.err_code, codes::WRONG_LAST_SEQUENCE),
            other => panic!("expected an API error, got {other:?}"),
        }
        let ack: Option<PubAck> = decode_answer(br#"{"stream":"S","seq":9,"count":3}"#).ok();
        assert_eq!(ack.map(|a| (a.seq, a.count)), Some((9, 3)));
    }
}
