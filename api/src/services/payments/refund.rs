//! Refunds: recorded first (`RefundRequested`), then asked of WeChat.
//!
//! Recording first means a crash after WeChat accepted the refund still leaves the
//! refund in the log, so its notify finds it. A definitive refusal by WeChat records
//! `RefundFailed`, making the amount refundable again; an unreachable WeChat leaves the
//! refund pending, and repeating the request with the same `out_refund_no` is safe
//! (both the domain and WeChat treat it as the same refund).

use paylog_core::DomainError;
use paylog_core::Fen;
use paylog_core::OrderId;
use paylog_core::order::OrderCommand;
use paylog_core::payment_refs::OutRefundNo;

use paylog_engine::{CommandKey, CommandMeta, Committed};
use paylog_wechat::RefundRequest;

use super::Payments;
use crate::error::Error;

impl Payments {
    /// Refunds `amount` of a paid order. Returns once WeChat accepted the refund; its
    /// outcome arrives later by refund notify.
    pub async fn refund(
        &self,
        meta: CommandMeta,
        order_id: OrderId,
        amount: Fen,
        reason: String,
        out_refund_no: OutRefundNo,
    ) -> Result<Committed, Error> {
        let order = self
            .engine
            .order(order_id)
            .await?
            .ok_or(DomainError::NotFound { aggregate: "order" })?;
        let id = CommandKey::RequestRefund {
            order: order_id,
            out_refund_no: &out_refund_no,
        }
        .id();
        let committed = self
            .engine
            .execute_order(
                meta.with_command_id(id),
                order_id,
                OrderCommand::RequestRefund {
                    out_refund_no: out_refund_no.clone(),
                    amount,
                    reason: reason.clone(),
                    at: meta.at,
                },
            )
            .await?;
        let request = RefundRequest {
            out_trade_no: order.out_trade_no.to_string(),
            out_refund_no: out_refund_no.to_string(),
            total_fee: order.total.get(),
            refund_fee: amount.get(),
            refund_desc: Some(reason).filter(|r| !r.is_empty()),
        };
        let Err(e) = self.wechat.refund(&request).await else {
            return Ok(committed);
        };
        match e.err_code() {
            Some(code) if !code.is_retryable() => {
                let failed = self
                    .engine
                    .execute_order(
                        self.meta_now().with_command_id(
                            CommandKey::FailRefund {
                                order: order_id,
                                out_refund_no: &out_refund_no,
                            }
                            .id(),
                        ),
                        order_id,
                        OrderCommand::FailRefund {
                            out_refund_no,
                            reason: format!("refused by WeChat: {code}"),
                            at: self.clock.now(),
                        },
                    )
                    .await?;
                self.metrics.appended(&failed);
                Err(Error::Refused {
                    code: "refund_refused",
                    message: format!("WeChat refused the refund ({code})"),
                })
            }
            _ => {
                tracing::warn!(error = %e, %order_id, %out_refund_no, "refund call failed; the refund stays pending");
                Err(e.into())
            }
        }
    }
}
