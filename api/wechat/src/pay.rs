//! The pay calls: unifiedorder, orderquery, closeorder, refund, refundquery.

use chrono::{DateTime, Utc};
use paylog_core::wxpay::{
    Fields, OrderQueryResponse, RefundQueryResponse, RefundResponse, UnifiedOrderResponse, time,
};

use super::{Tls, WechatClient, WechatError};

/// A JSAPI (mini-program) order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnifiedOrderRequest {
    /// What the user sees, e.g. `小店-订单 1234` (at most 128 bytes at WeChat).
    pub body: String,
    pub out_trade_no: String,
    /// In fen.
    pub total_fee: u64,
    /// The user's IP as the mini-program saw it.
    pub spbill_create_ip: String,
    pub openid: String,
    /// When WeChat stops accepting payment for this order.
    pub time_expire: DateTime<Utc>,
    pub attach: Option<String>,
}

/// A refund of (part of) a paid order. Sending it twice with the same
/// `out_refund_no` refunds once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundRequest {
    pub out_trade_no: String,
    /// When set, the refund names this transaction instead of `out_trade_no` (an
    /// anomalous payment: a second transaction of the order, or one of the wrong amount).
    pub transaction_id: Option<String>,
    pub out_refund_no: String,
    /// The total of the transaction refunded (the order's total for its payment), in fen.
    pub total_fee: u64,
    /// This refund, in fen.
    pub refund_fee: u64,
    pub refund_desc: Option<String>,
}

fn fields<const N: usize>(pairs: [(&str, String); N]) -> Fields {
    pairs
        .into_iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
}

impl WechatClient {
    /// `pay/unifiedorder` with `trade_type=JSAPI`; returns the `prepay_id`.
    pub async fn unified_order(
        &self,
        req: &UnifiedOrderRequest,
    ) -> Result<UnifiedOrderResponse, WechatError> {
        let f = fields([
            ("body", req.body.clone()),
            ("out_trade_no", req.out_trade_no.clone()),
            ("total_fee", req.total_fee.to_string()),
            ("spbill_create_ip", req.spbill_create_ip.clone()),
            ("notify_url", self.config.notify_url.clone()),
            ("trade_type", "JSAPI".into()),
            ("openid", req.openid.clone()),
            ("time_expire", time::format_compact(req.time_expire)),
            ("attach", req.attach.clone().unwrap_or_default()),
        ]);
        let r = self.call("/pay/unifiedorder", f, Tls::Plain).await?;
        Ok(UnifiedOrderResponse::from_fields(&r)?)
    }

    /// `pay/orderquery` by our order number.
    pub async fn order_query(&self, out_trade_no: &str) -> Result<OrderQueryResponse, WechatError> {
        let r = self
            .call(
                "/pay/orderquery",
                fields([("out_trade_no", out_trade_no.into())]),
                Tls::Plain,
            )
            .await?;
        Ok(OrderQueryResponse::from_fields(&r)?)
    }

    /// `pay/closeorder`: no payment is accepted afterwards. Fails with
    /// `ORDERPAID` if the user paid first.
    pub async fn close_order(&self, out_trade_no: &str) -> Result<(), WechatError> {
        self.call(
            "/pay/closeorder",
            fields([("out_trade_no", out_trade_no.into())]),
            Tls::Plain,
        )
        .await?;
        Ok(())
    }

    /// `secapi/pay/refund` (needs the client certificate in production).
    pub async fn refund(&self, req: &RefundRequest) -> Result<RefundResponse, WechatError> {
        // WeChat takes either reference; the transaction id wins when both are sent.
        let (out_trade_no, transaction_id) = match &req.transaction_id {
            Some(tx) => (String::new(), tx.clone()),
            None => (req.out_trade_no.clone(), String::new()),
        };
        let f = fields([
            ("transaction_id", transaction_id),
            ("out_trade_no", out_trade_no),
            ("out_refund_no", req.out_refund_no.clone()),
            ("total_fee", req.total_fee.to_string()),
            ("refund_fee", req.refund_fee.to_string()),
            ("refund_desc", req.refund_desc.clone().unwrap_or_default()),
            (
                "notify_url",
                self.config.refund_notify_url.clone().unwrap_or_default(),
            ),
        ]);
        // The one call that needs the merchant's client certificate.
        let r = self.call("/secapi/pay/refund", f, Tls::ClientCert).await?;
        Ok(RefundResponse::from_fields(&r)?)
    }

    /// `pay/refundquery` by our refund number: that refund only.
    pub async fn refund_query_by_refund_no(
        &self,
        out_refund_no: &str,
    ) -> Result<RefundQueryResponse, WechatError> {
        let r = self
            .call(
                "/pay/refundquery",
                fields([("out_refund_no", out_refund_no.into())]),
                Tls::Plain,
            )
            .await?;
        Ok(RefundQueryResponse::from_fields(&r)?)
    }

    /// `pay/refundquery` by our order number: every refund of the order.
    pub async fn refund_query(
        &self,
        out_trade_no: &str,
    ) -> Result<RefundQueryResponse, WechatError> {
        let r = self
            .call(
                "/pay/refundquery",
                fields([("out_trade_no", out_trade_no.into())]),
                Tls::Plain,
            )
            .await?;
        Ok(RefundQueryResponse::from_fields(&r)?)
    }
}
