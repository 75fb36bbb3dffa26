//! Refunds: recorded first (`RefundRequested`), then asked of WeChat.
//!
//! Recording first means a crash after WeChat accepted the refund still leaves the
//! refund in the log, so its notify finds it. What WeChat answers decides what is
//! recorded next, and the log never claims more than WeChat said:
//! - a *definitive* refusal of this request ([`is_definitive_refusal`]) records
//!   `RefundFailed`: the amount is refundable again and the number is never sent again
//!   (a retry by it is refused by the domain, `RefundNoAlreadyFailed`, before any call);
//! - an *unknown* outcome (a transport error, a timeout, an HTTP error status, an
//!   unsigned or unreadable answer, `SYSTEMERROR`, `BIZERR_NEED_RETRY`, a code this
//!   version does not know) records nothing: the refund stays Pending, the caller gets
//!   [`Error::RefundOutcomeUnknown`] naming the `out_refund_no`, and the refund is
//!   settled by a retry with that same number (WeChat refunds a number once) or by
//!   the reconciler's refundquery.

use paylog_core::Aggregate;
use paylog_core::DomainError;
use paylog_core::Fen;
use paylog_core::OrderId;
use paylog_core::order::{
    AttentionResolution, Order, OrderCommand, OrderState, Refund, RefundTarget,
};
use paylog_core::payment_refs::{OutRefundNo, RefundId, TransactionId};
use paylog_core::wxpay::{ErrCode, RefundStatus};

use paylog_core::wxpay::WxPayError;
use paylog_engine::{CommandKey, CommandMeta, Committed};
use paylog_wechat::{RefundRequest, WechatError};

use super::Payments;
use crate::error::Error;

/// `secapi/pay/refund` error codes after which WeChat did not and will not carry out
/// *this* request, so recording it Failed (amount refundable again, number never sent
/// again) cannot lie. From WeChat Pay v2's refund API error table (申请退款, 错误码):
///
/// | code | WeChat's remedy | here |
/// |---|---|---|
/// | `SYSTEMERROR` | 请不要更换商户退款单号，请使用相同参数再次调用API (the refund may have been made) | unknown: Pending |
/// | `BIZERR_NEED_RETRY` | 请不要更换商户退款单号，请使用相同参数再次调用API | unknown: Pending |
/// | `TRADE_OVERDUE` | past the refund period: refund by other means | Failed |
/// | `ERROR` | a business error, refused with its reason | Failed |
/// | `USER_ACCOUNT_ABNORMAL` | 此状态代表退款申请失败 (the user's account is closed) | Failed |
/// | `INVALID_REQ_TOO_MUCH` | blocked for too many invalid requests; retry after a minute | Failed (not accepted) |
/// | `NOTENOUGH` | 此状态代表退款申请失败 (balance too low) | Failed |
/// | `INVALID_TRANSACTIONID` | no such transaction | Failed |
/// | `PARAM_ERROR` | parameters wrong | Failed, unless its reason says the number was used with other amounts |
/// | `APPID_NOT_EXIST`, `MCHID_NOT_EXIST`, `APPID_MCHID_NOT_MATCH` | credentials wrong | Failed |
/// | `ORDERNOTEXIST` | no such (paid) order | Failed |
/// | `REQUIRE_POST_METHOD`, `SIGNERROR`, `XML_FORMAT_ERROR`, `LACK_PARAMS`, `NOAUTH`, `CERT_ERROR` | the request was not read | Failed |
/// | `FREQUENCY_LIMITED` | 该笔退款未受理，请降低频率后重试 | Failed (not accepted) |
///
/// Only `SYSTEMERROR` and `BIZERR_NEED_RETRY` mean "retry with the same
/// out_refund_no": their outcome is unknown, as is that of any unlisted code (e.g.
/// `ORDER_NOT_READY`). So is `REFUND_FEE_MISMATCH` (or a refusal whose reason says the
/// amounts differ from an earlier request, 与之前请求不一致): WeChat already holds a
/// request under this number, which may have refunded, so it is left to refundquery.
const DEFINITIVE_REFUND_CODES: [&str; 5] = [
    "USER_ACCOUNT_ABNORMAL",
    "INVALID_REQ_TOO_MUCH",
    "INVALID_TRANSACTIONID",
    "REQUIRE_POST_METHOD",
    "CERT_ERROR",
];

/// A refusal's reason saying this number was already used with other amounts.
const EARLIER_REQUEST_DIFFERS: &str = "与之前请求不一致";

/// Whether a refund call's failure means WeChat definitively refused this request.
pub fn is_definitive_refusal(e: &WechatError) -> Option<&ErrCode> {
    let WechatError::Protocol(WxPayError::Business { code, description }) = e else {
        return None;
    };
    if description.contains(EARLIER_REQUEST_DIFFERS) {
        return None;
    }
    let definitive = match code {
        ErrCode::SystemError | ErrCode::BizErrNeedRetry => false,
        ErrCode::Other(other) => DEFINITIVE_REFUND_CODES.contains(&other.as_str()),
        ErrCode::OrderPaid
        | ErrCode::OrderClosed
        | ErrCode::UserPaying
        | ErrCode::RefundNotExist => false,
        ErrCode::OrderNotExist
        | ErrCode::OutTradeNoUsed
        | ErrCode::NotEnough
        | ErrCode::SignError
        | ErrCode::ParamError
        | ErrCode::NoAuth
        | ErrCode::AppidNotExist
        | ErrCode::MchidNotExist
        | ErrCode::AppidMchidNotMatch
        | ErrCode::LackParams
        | ErrCode::XmlFormatError
        | ErrCode::TradeOverdue
        | ErrCode::FrequencyLimited
        | ErrCode::Error => true,
    };
    definitive.then_some(code)
}

/// What a refund outcome reported by WeChat (notify or refundquery) became.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefundSettlement {
    /// `RefundConfirmed` (or `RefundConfirmedAfterFailure`) appended.
    Confirmed,
    /// `RefundFailed` appended (`REFUNDCLOSE`).
    Failed,
    /// `RefundNeedsAttention` appended (`CHANGE`), alerted.
    NeedsAttention,
    /// `PROCESSING`: nothing to record yet.
    StillPending,
    /// Already recorded; nothing appended.
    Duplicate,
    /// A status or refund id this version cannot read: nothing recorded.
    Malformed,
}

/// Which money a refund call returns at WeChat.
enum Source<'a> {
    /// The order's payment, named by our order number.
    Order,
    /// One transaction of the order (an anomalous payment), with its amount.
    Transaction(&'a TransactionId, Fen),
}

impl Payments {
    /// Refunds `amount` of a paid order. Returns once WeChat accepted the refund; its
    /// outcome arrives later by refund notify (or the reconciler's refundquery).
    pub async fn refund(
        &self,
        meta: CommandMeta,
        order_id: OrderId,
        amount: Fen,
        reason: String,
        out_refund_no: OutRefundNo,
    ) -> Result<Committed, Error> {
        let id = CommandKey::RequestRefund {
            order: order_id,
            out_refund_no: &out_refund_no,
        }
        .id();
        let command = OrderCommand::RequestRefund {
            out_refund_no: out_refund_no.clone(),
            amount,
            reason: reason.clone(),
            at: meta.at,
        };
        let committed = self
            .record_refund(meta.with_command_id(id), order_id, command)
            .await?;
        self.submit_refund(order_id, &out_refund_no, amount, reason, Source::Order)
            .await?;
        Ok(committed)
    }

    /// Refunds the whole of an anomalous payment (late, wrong amount, duplicate)
    /// recorded on the order: `RefundAnomalousPayment`, then WeChat's refund of that
    /// transaction with its amount. Settled like any refund.
    pub async fn refund_anomaly(
        &self,
        meta: CommandMeta,
        order_id: OrderId,
        transaction_id: TransactionId,
        reason: String,
        out_refund_no: OutRefundNo,
    ) -> Result<Committed, Error> {
        let id = CommandKey::RefundAnomalousPayment {
            order: order_id,
            out_refund_no: &out_refund_no,
        }
        .id();
        let command = OrderCommand::RefundAnomalousPayment {
            transaction_id: transaction_id.clone(),
            out_refund_no: out_refund_no.clone(),
            reason: reason.clone(),
            at: meta.at,
        };
        let committed = self
            .record_refund(meta.with_command_id(id), order_id, command)
            .await?;
        let order = self
            .engine
            .order(order_id)
            .await?
            .ok_or(DomainError::NotFound { aggregate: "order" })?;
        let amount = order
            .anomaly(&transaction_id)
            .map(|a| a.amount)
            .ok_or_else(|| DomainError::UnknownAnomaly(transaction_id.clone()))?;
        self.submit_refund(
            order_id,
            &out_refund_no,
            amount,
            reason,
            Source::Transaction(&transaction_id, amount),
        )
        .await?;
        Ok(committed)
    }

    /// Records a refund request (`RequestRefund` or `RefundAnomalousPayment`) before
    /// anything goes to WeChat, so that its notify always finds it; a repeat is
    /// checked by [`Self::check_repeat`].
    async fn record_refund(
        &self,
        meta: CommandMeta,
        order_id: OrderId,
        command: OrderCommand,
    ) -> Result<Committed, Error> {
        let committed = self
            .engine
            .execute_order(meta, order_id, command.clone())
            .await?;
        self.check_repeat(&committed, order_id, command).await?;
        Ok(committed)
    }

    /// A re-sent refund request gets its first result from the log without being
    /// decided again; whether its number may go to WeChat again is still the domain's
    /// answer on today's state: a number recorded as Failed never does (409), a
    /// different amount under it is refused.
    async fn check_repeat(
        &self,
        committed: &Committed,
        order_id: OrderId,
        command: OrderCommand,
    ) -> Result<(), Error> {
        if !committed.duplicate {
            return Ok(());
        }
        let order = self
            .engine
            .order(order_id)
            .await?
            .ok_or(DomainError::NotFound { aggregate: "order" })?;
        Order::decide(&Some(order), command)?;
        Ok(())
    }

    /// An operator resolves a refund WeChat reported as `CHANGE` (after handling it in
    /// WeChat's merchant platform): refunded by other means (Confirmed), or
    /// re-initiated there (Pending again, settled by notify or refundquery). The
    /// command id is the request's own, not derived: a refund may need attention,
    /// and be resolved, more than once.
    pub async fn resolve_refund_attention(
        &self,
        meta: CommandMeta,
        order_id: OrderId,
        out_refund_no: OutRefundNo,
        resolution: AttentionResolution,
        note: String,
    ) -> Result<Committed, Error> {
        let committed = self
            .engine
            .execute_order(
                meta,
                order_id,
                OrderCommand::ResolveRefundAttention {
                    out_refund_no,
                    resolution,
                    note,
                    at: meta.at,
                },
            )
            .await?;
        self.metrics.appended(&committed);
        Ok(committed)
    }

    /// Records what WeChat reports of a refund (`refund_status` of a notify or of
    /// refundquery). Both derive the command id from the refund number
    /// ([`CommandKey`]), so the two never record the same outcome twice:
    /// `SUCCESS` → `ConfirmRefund` (which revives a refund recorded as Failed: the
    /// money left after all), `REFUNDCLOSE` → `FailRefund`, `CHANGE` →
    /// `MarkRefundNeedsAttention` (money left the shop but did not reach the shopper:
    /// an operator must act; never a failure), `PROCESSING` → nothing yet.
    pub(crate) async fn settle_refund(
        &self,
        order_id: OrderId,
        out_refund_no: &OutRefundNo,
        status: &RefundStatus,
        refund_id: &str,
        refund_fee: u64,
    ) -> Result<RefundSettlement, Error> {
        let now = self.clock.now();
        let (key, settled, command) = match status {
            RefundStatus::Success => {
                let Ok(refund_id) = RefundId::parse(refund_id) else {
                    return Ok(RefundSettlement::Malformed);
                };
                let command = OrderCommand::ConfirmRefund {
                    out_refund_no: out_refund_no.clone(),
                    refund_id,
                    amount: Fen::new(refund_fee),
                    at: now,
                };
                let key = CommandKey::ConfirmRefund {
                    order: order_id,
                    out_refund_no,
                };
                (Some(key), RefundSettlement::Confirmed, command)
            }
            RefundStatus::Processing => return Ok(RefundSettlement::StillPending),
            RefundStatus::RefundClose => {
                let command = OrderCommand::FailRefund {
                    out_refund_no: out_refund_no.clone(),
                    reason: format!("WeChat refund_status {status}"),
                    at: now,
                };
                let key = CommandKey::FailRefund {
                    order: order_id,
                    out_refund_no,
                };
                (Some(key), RefundSettlement::Failed, command)
            }
            RefundStatus::Change => {
                let command = OrderCommand::MarkRefundNeedsAttention {
                    out_refund_no: out_refund_no.clone(),
                    reason: format!("WeChat refund_status {status}"),
                    at: now,
                };
                // No derived id here: a refund can need attention more than once (CHANGE,
                // resolved as Retried, CHANGE again), and a derived id would make the
                // second CHANGE a silent duplicate. The domain makes a repeat of CHANGE
                // on a refund already needing attention append nothing, and the
                // expected-version check serialises concurrent notifies and queries, so
                // a fresh id records each round exactly once.
                (None, RefundSettlement::NeedsAttention, command)
            }
            RefundStatus::Other(other) => {
                tracing::error!(%order_id, %out_refund_no, refund_status = %other, "unknown refund_status; nothing recorded");
                return Ok(RefundSettlement::Malformed);
            }
        };
        let meta = match key {
            Some(key) => self.meta_now().with_command_id(key.id()),
            None => self.meta_now(),
        }
        .at(now);
        let committed = self.engine.execute_order(meta, order_id, command).await?;
        if committed.appended == 0 {
            return Ok(RefundSettlement::Duplicate);
        }
        self.metrics.appended(&committed);
        if settled == RefundSettlement::NeedsAttention {
            tracing::error!(
                alert = "refund_needs_attention",
                %order_id,
                %out_refund_no,
                "WeChat reports the refund as CHANGE: resolve it in the merchant platform, then here"
            );
        }
        Ok(settled)
    }

    /// Sends a pending refund again with its own number (WeChat did not know it):
    /// the same request as the first time, so WeChat refunds it at most once.
    pub(crate) async fn resubmit_refund(
        &self,
        order: &OrderState,
        refund: &Refund,
    ) -> Result<(), Error> {
        let source = match &refund.target {
            RefundTarget::Payment => Source::Order,
            RefundTarget::Anomaly(tx) => Source::Transaction(tx, refund.amount),
        };
        self.submit_refund(
            order.order_id,
            &refund.out_refund_no,
            refund.amount,
            refund.reason.clone(),
            source,
        )
        .await
    }

    /// The refund call for a refund already recorded as requested; records its
    /// definitive refusal, leaves an unknown outcome pending.
    async fn submit_refund(
        &self,
        order_id: OrderId,
        out_refund_no: &OutRefundNo,
        amount: Fen,
        reason: String,
        source: Source<'_>,
    ) -> Result<(), Error> {
        let order = self
            .engine
            .order(order_id)
            .await?
            .ok_or(DomainError::NotFound { aggregate: "order" })?;
        let request = match source {
            Source::Order => RefundRequest {
                out_trade_no: order.out_trade_no.to_string(),
                transaction_id: None,
                out_refund_no: out_refund_no.to_string(),
                total_fee: order.total.get(),
                refund_fee: amount.get(),
                refund_desc: Some(reason).filter(|r| !r.is_empty()),
            },
            Source::Transaction(tx, total) => RefundRequest {
                out_trade_no: order.out_trade_no.to_string(),
                transaction_id: Some(tx.to_string()),
                out_refund_no: out_refund_no.to_string(),
                total_fee: total.get(),
                refund_fee: amount.get(),
                refund_desc: Some(reason).filter(|r| !r.is_empty()),
            },
        };
        let Err(e) = self.gateway_of(&order)?.refund(&request).await else {
            return Ok(());
        };
        let Some(code) = is_definitive_refusal(&e) else {
            tracing::warn!(error = %e, %order_id, %out_refund_no, "refund outcome unknown; the refund stays pending");
            return Err(Error::RefundOutcomeUnknown {
                out_refund_no: out_refund_no.clone(),
                source: e,
            });
        };
        let failed = self
            .engine
            .execute_order(
                self.meta_now().with_command_id(
                    CommandKey::FailRefund {
                        order: order_id,
                        out_refund_no,
                    }
                    .id(),
                ),
                order_id,
                OrderCommand::FailRefund {
                    out_refund_no: out_refund_no.clone(),
                    reason: format!("refused by WeChat: {code}"),
                    at: self.clock.now(),
                },
            )
            .await?;
        self.metrics.appended(&failed);
        Err(Error::Refused {
            code: "refund_refused",
            message: format!("WeChat refused the refund {out_refund_no} ({code})"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn business(code: &str) -> WechatError {
        WechatError::Protocol(WxPayError::Business {
            code: ErrCode::parse(code),
            description: String::new(),
        })
    }

    #[test]
    fn only_wechats_definitive_refusals_fail_a_refund() {
        for code in [
            "TRADE_OVERDUE",
            "ERROR",
            "USER_ACCOUNT_ABNORMAL",
            "INVALID_REQ_TOO_MUCH",
            "NOTENOUGH",
            "INVALID_TRANSACTIONID",
            "PARAM_ERROR",
            "APPID_NOT_EXIST",
            "MCHID_NOT_EXIST",
            "APPID_MCHID_NOT_MATCH",
            "ORDERNOTEXIST",
            "REQUIRE_POST_METHOD",
            "SIGNERROR",
            "XML_FORMAT_ERROR",
            "FREQUENCY_LIMITED",
            "CERT_ERROR",
            "NOAUTH",
            "LACK_PARAMS",
        ] {
            assert!(is_definitive_refusal(&business(code)).is_some(), "{code}");
        }
        // "Retry with the same out_refund_no", an earlier request under the number, or
        // a code this version does not know: the outcome is unknown.
        for code in [
            "SYSTEMERROR",
            "BIZERR_NEED_RETRY",
            "REFUND_FEE_MISMATCH",
            "ORDER_NOT_READY",
            "SOMETHING_NEW",
        ] {
            assert!(is_definitive_refusal(&business(code)).is_none(), "{code}");
        }
        let differs = WechatError::Protocol(WxPayError::Business {
            code: ErrCode::parse("PARAM_ERROR"),
            description: "订单金额或退款金额与之前请求不一致，请核实后再试".into(),
        });
        assert!(is_definitive_refusal(&differs).is_none());
        assert!(is_definitive_refusal(&WechatError::Status(503)).is_none());
        assert!(
            is_definitive_refusal(&WechatError::Protocol(WxPayError::ReturnFail(
                "系统繁忙".into()
            )))
            .is_none()
        );
    }
}
