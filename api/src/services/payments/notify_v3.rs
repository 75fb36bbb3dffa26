//! The v3 payment and refund notifies: verified on the raw body by the v3
//! client (signature by `Wechatpay-Serial`, the 300 s window), decrypted, then
//! recorded by exactly the same rules as v2 ([`Payments::confirm`],
//! [`Payments::settle_refund`]): the same amount checks, idempotency and
//! anomaly alerts, because both forms end in the same commands.

use paylog_core::payment_refs::OutRefundNo;
use paylog_core::wxpay_v3::api::TradeState;
use paylog_core::wxpay_v3::{NotifyPayload, WxPayV3Error};

use super::Payments;
use super::gateway::v2_refund_status;
use super::notify::{NotifyOutcome, recording_failed};

fn protocol_outcome(e: &WxPayV3Error) -> NotifyOutcome {
    match e {
        WxPayV3Error::MissingHeader(_)
        | WxPayV3Error::HeaderTooLong { .. }
        | WxPayV3Error::UnsupportedSignatureType(_)
        | WxPayV3Error::BadTimestamp(_)
        | WxPayV3Error::StaleTimestamp { .. }
        | WxPayV3Error::UnknownSerial { .. }
        | WxPayV3Error::CertificateNotValidNow { .. }
        | WxPayV3Error::SignatureProbe
        | WxPayV3Error::SignatureMismatch { .. }
        | WxPayV3Error::TagMismatch => NotifyOutcome::BadSignature,
        WxPayV3Error::InvalidIdentifier { .. } => NotifyOutcome::WrongMerchant,
        _ => NotifyOutcome::Malformed,
    }
}

impl Payments {
    /// Handles one v3 payment notify: `get` looks a header up by name, `body`
    /// is the body exactly as received.
    pub async fn pay_notify_v3<'a>(
        &self,
        get: impl Fn(&str) -> Option<&'a str>,
        body: &[u8],
    ) -> NotifyOutcome {
        let outcome = self.notify_v3_inner(get, body, false).await;
        self.metrics.notify("pay_v3", outcome.label());
        outcome
    }

    /// Handles one v3 refund notify (see [`Self::pay_notify_v3`]).
    pub async fn refund_notify_v3<'a>(
        &self,
        get: impl Fn(&str) -> Option<&'a str>,
        body: &[u8],
    ) -> NotifyOutcome {
        let outcome = self.notify_v3_inner(get, body, true).await;
        self.metrics.notify("refund_v3", outcome.label());
        outcome
    }

    async fn notify_v3_inner<'a>(
        &self,
        get: impl Fn(&str) -> Option<&'a str>,
        body: &[u8],
        expect_refund: bool,
    ) -> NotifyOutcome {
        let Some(client) = self.v3.as_ref() else {
            tracing::warn!("a v3 notify arrived but WeChat Pay v3 is not configured");
            return NotifyOutcome::BadSignature;
        };
        let notify = match client.verify_notify(get, body) {
            Ok(n) => n,
            Err(e) => {
                tracing::warn!(error = %e, "v3 notify refused");
                return protocol_outcome(&e);
            }
        };
        match notify.payload {
            NotifyPayload::Transaction(_) | NotifyPayload::Refund(_)
                if expect_refund != matches!(notify.payload, NotifyPayload::Refund(_)) =>
            {
                tracing::warn!(
                    event_type = notify.event_type.as_str(),
                    "v3 notify sent to the wrong endpoint"
                );
                NotifyOutcome::Malformed
            }
            NotifyPayload::Transaction(tx) => {
                if tx.trade_state != TradeState::Success {
                    return NotifyOutcome::PaymentFailed;
                }
                let (Some(transaction_id), Some(amount), Some(paid_at)) = (
                    tx.transaction_id.as_deref(),
                    tx.amount.as_ref(),
                    tx.success_time,
                ) else {
                    return NotifyOutcome::Malformed;
                };
                let order = match self.order_for(&tx.out_trade_no).await {
                    Ok(Some(order)) => order,
                    Ok(None) => {
                        tracing::warn!(out_trade_no = %tx.out_trade_no, "v3 payment notify for an unknown order");
                        return NotifyOutcome::UnknownOrder;
                    }
                    Err(e) => return recording_failed("pay", &e),
                };
                match self
                    .confirm(
                        &order,
                        transaction_id,
                        amount.total.get(),
                        paid_at.with_timezone(&chrono::Utc),
                    )
                    .await
                {
                    Ok(confirmation) => confirmation.into(),
                    Err(e) => recording_failed("pay", &e),
                }
            }
            NotifyPayload::Refund(r) => {
                let order = match self.order_for(&r.out_trade_no).await {
                    Ok(Some(order)) => order,
                    Ok(None) => return NotifyOutcome::UnknownOrder,
                    Err(e) => return recording_failed("refund", &e),
                };
                let Ok(out_refund_no) = OutRefundNo::parse(&r.out_refund_no) else {
                    return NotifyOutcome::Malformed;
                };
                match self
                    .settle_refund(
                        order.order_id,
                        &out_refund_no,
                        &v2_refund_status(r.refund_status),
                        &r.refund_id,
                        r.amount.refund.get(),
                    )
                    .await
                {
                    Ok(settled) => settled.into(),
                    Err(e) => recording_failed("refund", &e),
                }
            }
        }
    }
}
