//! WeChat Pay v2's daily bill (`pay/downloadbill`, 对账单, `bill_type=ALL`): parsing,
//! rendering (the simulator serves bills with it) and reconciliation with the log.
//! Pure: the client downloads (and gunzips), this module reads.
//!
//! # The format
//!
//! A text table, UTF-8:
//!
//! 1. a header line of column names, separated by `,`;
//! 2. one data line per payment or refund, every field prefixed by a backtick
//!    (`` `2018-02-01 04:21:23,`wx2421b1c4370ec43b,`10000100,… ``) so that
//!    spreadsheets keep long numbers as text;
//! 3. a summary: a header line (`总交易单数,…`) and one data line, backticked too.
//!
//! Amounts are yuan as WeChat prints them: money with at most 2 decimals (`100.00`,
//! `0.0`, `0`), the fee (手续费) with up to 5 decimals and negative on refund rows
//! (`-0.05940`: the fee WeChat gives back). Every amount is converted once, exactly,
//! to integer [`Fen`] (money) or [`MilliFen`] (fees): no floats anywhere. Times are
//! Beijing time (`yyyy-MM-dd HH:mm:ss`).
//!
//! Two layouts exist ([`BillLayout`]). The column lists are WeChat's documentation of
//! 下载对账单 (`https://pay.weixin.qq.com/wiki/doc/api/wxa/wxa_api.php?chapter=9_6`,
//! the mini-program edition of the same page for every trade type), cross-checked
//! against bills quoted in open-source WeChat Pay SDKs (WxJava's
//! `BaseWxPayServiceImplTest`, among others): 24 columns for a merchant without
//! "免充值券" coupons, and the same 24 plus 订单金额, 申请退款金额 and 费率备注 (27)
//! for one with them, whose summary also gains 订单总金额 and 申请退款总金额.
//!
//! When the day has no bill WeChat answers an XML error whose `return_msg` is
//! `No Bill Exist`: that is an empty day ([`BillDay::NoBill`]), not an error.
//!
//! A malformed bill (an unknown header, a wrong column count, a non-numeric
//! amount, a truncated file, a summary that does not add up) is a [`BillError`]
//! naming its 1-based line.

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, Days, NaiveDate, Utc};
use chrono_tz::Asia::Shanghai;
use serde::Serialize;

use super::codes::{RefundStatus, TradeState};
use super::time::{format_spaced, parse_spaced};
use super::xml::parse_flat;
use crate::ids::{OrderId, OutTradeNo};
use crate::money::Fen;
use crate::order::RefundStatus as LogRefundStatus;
use crate::payment_refs::{OutRefundNo, RefundId, TransactionId};

/// Largest bill body accepted, in bytes (a busy merchant's day is a few MB).
pub const MAX_BILL_BYTES: usize = 256 * 1024 * 1024;
/// Most data rows accepted in one bill.
pub const MAX_BILL_ROWS: usize = 2_000_000;
/// Longest field accepted, in bytes (WeChat's longest, 商品名称, is 128 bytes).
pub const MAX_FIELD_BYTES: usize = 1024;
/// WeChat's answer when the day has no bill.
pub const NO_BILL_EXIST: &str = "No Bill Exist";

/// The 24 columns of a bill without coupon columns.
const COLUMNS_STANDARD: [&str; 24] = [
    "交易时间",
    "公众账号ID",
    "商户号",
    "特约商户号",
    "设备号",
    "微信订单号",
    "商户订单号",
    "用户标识",
    "交易类型",
    "交易状态",
    "付款银行",
    "货币种类",
    "应结订单金额",
    "代金券金额",
    "微信退款单号",
    "商户退款单号",
    "退款金额",
    "充值券退款金额",
    "退款类型",
    "退款状态",
    "商品名称",
    "商户数据包",
    "手续费",
    "费率",
];
/// The three columns a merchant with "免充值券" coupons gets after the 24.
const COLUMNS_COUPON_EXTRA: [&str; 3] = ["订单金额", "申请退款金额", "费率备注"];
const SUMMARY_STANDARD: [&str; 5] = [
    "总交易单数",
    "应结订单总金额",
    "退款总金额",
    "充值券退款总金额",
    "手续费总金额",
];
const SUMMARY_COUPON_EXTRA: [&str; 2] = ["订单总金额", "申请退款总金额"];

/// Which of WeChat's two `ALL` layouts a bill has (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum BillLayout {
    /// 24 columns, a 5-field summary.
    Standard,
    /// 27 columns (+ 订单金额, 申请退款金额, 费率备注), a 7-field summary.
    WithCouponColumns,
}

impl BillLayout {
    fn columns(self) -> Vec<&'static str> {
        let extra: &[&str] = match self {
            Self::Standard => &[],
            Self::WithCouponColumns => &COLUMNS_COUPON_EXTRA,
        };
        COLUMNS_STANDARD.iter().chain(extra).copied().collect()
    }

    fn summary_columns(self) -> Vec<&'static str> {
        let extra: &[&str] = match self {
            Self::Standard => &[],
            Self::WithCouponColumns => &SUMMARY_COUPON_EXTRA,
        };
        SUMMARY_STANDARD.iter().chain(extra).copied().collect()
    }

    fn from_column_count(count: usize) -> Option<Self> {
        [Self::Standard, Self::WithCouponColumns]
            .into_iter()
            .find(|l| l.columns().len() == count)
    }
}

/// An amount in thousandths of a fen (1 yuan = 100 000): WeChat's fees carry five
/// decimals of yuan, and are negative on refund rows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct MilliFen(pub i64);

impl MilliFen {
    fn checked_add(self, other: MilliFen) -> Option<MilliFen> {
        self.0.checked_add(other.0).map(MilliFen)
    }

    /// `"-0.05940"`: yuan with five decimals, as WeChat prints fees.
    pub fn to_yuan_string(self) -> String {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        format!("{sign}{}.{:05}", abs / 100_000, abs % 100_000)
    }
}

impl fmt::Display for MilliFen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_yuan_string())
    }
}

/// One payment (`trade_state` SUCCESS, …) or refund (`REFUND`) row of the bill.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BillRow {
    /// 交易时间 (Beijing time in the bill).
    pub trade_time: DateTime<Utc>,
    /// 公众账号ID.
    pub appid: String,
    /// 商户号.
    pub mch_id: String,
    /// 特约商户号 (`0` or empty for a direct merchant), verbatim.
    pub sub_mch_id: String,
    /// 设备号, verbatim.
    pub device_info: String,
    /// 微信订单号: on a refund row, the refunded payment's.
    pub transaction_id: TransactionId,
    /// 商户订单号. Kept as text: the bill lists every order of the merchant,
    /// including orders another system created with WeChat's wider alphabet.
    pub out_trade_no: String,
    /// 用户标识 (openid).
    pub openid: String,
    /// 交易类型 (`JSAPI`, `NATIVE`, …).
    pub trade_type: String,
    /// 交易状态: `SUCCESS`, `REFUND`, `REVOKED`, ….
    pub trade_state: TradeState,
    /// 付款银行.
    pub bank_type: String,
    /// 货币种类 (`CNY`).
    pub currency: String,
    /// 应结订单金额: what settles to the merchant (0 on a refund row).
    pub settlement_total: Fen,
    /// 代金券金额.
    pub coupon: Fen,
    /// 微信退款单号 (`0` or empty on a payment row: `None`).
    pub refund_id: Option<RefundId>,
    /// 商户退款单号 (`0` or empty on a payment row: `None`).
    pub out_refund_no: Option<OutRefundNo>,
    /// 退款金额.
    pub refund: Fen,
    /// 充值券退款金额.
    pub recharge_coupon_refund: Fen,
    /// 退款类型 (`ORIGINAL`, `BALANCE`, …; empty on a payment row), verbatim.
    pub refund_type: String,
    /// 退款状态 (empty on a payment row: `None`).
    pub refund_status: Option<RefundStatus>,
    /// 商品名称.
    pub body: String,
    /// 商户数据包 (`attach`).
    pub attach: String,
    /// 手续费: negative on refund rows.
    pub fee: MilliFen,
    /// 费率 (`0.60%`), verbatim.
    pub rate: String,
    /// 订单金额 ([`BillLayout::WithCouponColumns`] only).
    pub order_amount: Option<Fen>,
    /// 申请退款金额 ([`BillLayout::WithCouponColumns`] only).
    pub requested_refund: Option<Fen>,
    /// 费率备注 ([`BillLayout::WithCouponColumns`] only).
    pub rate_note: Option<String>,
}

impl BillRow {
    /// A refund row (`交易状态 = REFUND`); every other row is a payment's.
    pub fn is_refund(&self) -> bool {
        self.trade_state == TradeState::Refund
    }

    /// What the shopper paid: 订单金额 when the bill has it, else 应结订单金额
    /// (equal when no "免充值" coupon was used, and paylog grants none).
    pub fn paid(&self) -> Fen {
        self.order_amount.unwrap_or(self.settlement_total)
    }

    /// What the merchant asked to refund: 申请退款金额 when the bill has it,
    /// else 退款金额.
    pub fn refunded(&self) -> Fen {
        self.requested_refund.unwrap_or(self.refund)
    }
}

/// The summary section: totals over every data row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BillSummary {
    /// 总交易单数: data rows.
    pub trades: u64,
    /// 应结订单总金额.
    pub settlement_total: Fen,
    /// 退款总金额.
    pub refund_total: Fen,
    /// 充值券退款总金额.
    pub recharge_coupon_refund_total: Fen,
    /// 手续费总金额.
    pub fee_total: MilliFen,
    /// 订单总金额 ([`BillLayout::WithCouponColumns`] only).
    pub order_total: Option<Fen>,
    /// 申请退款总金额 ([`BillLayout::WithCouponColumns`] only).
    pub requested_refund_total: Option<Fen>,
}

impl BillSummary {
    /// The totals of `rows` in `layout`; `None` on overflow.
    pub fn of(layout: BillLayout, rows: &[BillRow]) -> Option<Self> {
        let sum = |f: fn(&BillRow) -> Fen| Fen::checked_sum(rows.iter().map(f));
        let coupon = layout == BillLayout::WithCouponColumns;
        let optional = |f: fn(&BillRow) -> Option<Fen>| -> Option<Option<Fen>> {
            if !coupon {
                return Some(None);
            }
            Fen::checked_sum(rows.iter().map(|r| f(r).unwrap_or(Fen::ZERO))).map(Some)
        };
        Some(Self {
            trades: u64::try_from(rows.len()).ok()?,
            settlement_total: sum(|r| r.settlement_total)?,
            refund_total: sum(|r| r.refund)?,
            recharge_coupon_refund_total: sum(|r| r.recharge_coupon_refund)?,
            fee_total: rows
                .iter()
                .try_fold(MilliFen(0), |acc, r| acc.checked_add(r.fee))?,
            order_total: optional(|r| r.order_amount)?,
            requested_refund_total: optional(|r| r.requested_refund)?,
        })
    }
}

/// A whole bill: its layout, rows and summary (consistent with each other once
/// parsed or built by [`Bill::new`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bill {
    pub layout: BillLayout,
    pub rows: Vec<BillRow>,
    pub summary: BillSummary,
}

impl Bill {
    /// A bill of `rows`, its summary computed.
    pub fn new(layout: BillLayout, rows: Vec<BillRow>) -> Result<Self, BillError> {
        let summary = BillSummary::of(layout, &rows).ok_or(BillError::TotalsOverflow)?;
        Ok(Self {
            layout,
            rows,
            summary,
        })
    }
}

/// What `downloadbill` returned for a day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BillDay {
    /// `No Bill Exist`: no payment and no refund that day.
    NoBill,
    Bill(Bill),
}

impl BillDay {
    /// The rows of the day (none for `NoBill`).
    pub fn rows(&self) -> &[BillRow] {
        match self {
            Self::NoBill => &[],
            Self::Bill(bill) => &bill.rows,
        }
    }
}

/// Why a bill was refused. `line` is 1-based, as an editor shows it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BillError {
    #[error("bill is {size} bytes, over the {limit}-byte limit")]
    TooLarge { size: usize, limit: usize },
    #[error("bill has more than {limit} rows")]
    TooManyRows { limit: usize },
    #[error("WeChat refused the download: {return_msg} (error_code {error_code})")]
    Refused {
        return_msg: String,
        error_code: String,
    },
    #[error("the download is neither a bill nor WeChat's XML answer: {0}")]
    NotABill(String),
    #[error("line {line}: the bill ends here, {expected} is missing (truncated?)")]
    Truncated { line: usize, expected: &'static str },
    #[error("line {line}: a header of {found} columns matches no known bill layout")]
    UnknownLayout { line: usize, found: usize },
    #[error("line {line}: column {column} is {found:?}, expected {expected:?}")]
    UnexpectedHeader {
        line: usize,
        column: usize,
        expected: &'static str,
        found: String,
    },
    #[error("line {line}: {found} fields, expected {expected}")]
    WrongColumnCount {
        line: usize,
        expected: usize,
        found: usize,
    },
    #[error("line {line}: a data line must start with a backtick")]
    MissingBacktick { line: usize },
    #[error("line {line}: {column} is {value:?}, not {what}")]
    InvalidField {
        line: usize,
        column: &'static str,
        what: &'static str,
        value: String,
    },
    #[error("line {line}: {column} is over {MAX_FIELD_BYTES} bytes")]
    FieldTooLong { line: usize, column: &'static str },
    #[error("line {line}: the summary says {column} = {stated}, the rows add up to {computed}")]
    SummaryMismatch {
        line: usize,
        column: &'static str,
        stated: String,
        computed: String,
    },
    #[error("line {line}: unexpected text after the summary")]
    TrailingText { line: usize },
    #[error("the bill's totals overflow")]
    TotalsOverflow,
    #[error("{column} {value:?} cannot be written in a bill (backtick or line break)")]
    Unrenderable { column: &'static str, value: String },
}

// --- days -------------------------------------------------------------------------

/// The Beijing calendar day of an instant: bills (and reconciliation) are per
/// Beijing day.
pub fn beijing_day(at: DateTime<Utc>) -> NaiveDate {
    at.with_timezone(&Shanghai).date_naive()
}

/// The day to reconcile when none is given: yesterday in Beijing. WeChat publishes
/// day D's bill from about 10:00 Beijing time on D+1, so "today" never has one.
pub fn default_bill_day(now: DateTime<Utc>) -> Option<NaiveDate> {
    beijing_day(now).checked_sub_days(Days::new(1))
}

/// `downloadbill`'s `bill_date`: `yyyyMMdd`.
pub fn bill_date_param(day: NaiveDate) -> String {
    day.format("%Y%m%d").to_string()
}

// --- parsing ----------------------------------------------------------------------

/// Reads a `downloadbill` answer (already gunzipped): a bill, or WeChat's XML
/// answer (`No Bill Exist` is an empty day; any other XML is [`BillError::Refused`]).
pub fn parse_download(body: &str) -> Result<BillDay, BillError> {
    if body.len() > MAX_BILL_BYTES {
        return Err(BillError::TooLarge {
            size: body.len(),
            limit: MAX_BILL_BYTES,
        });
    }
    let body = body.strip_prefix('\u{feff}').unwrap_or(body);
    if body.trim_start().starts_with('<') {
        let fields =
            parse_flat(body.trim(), "xml").map_err(|e| BillError::NotABill(e.to_string()))?;
        let get = |k: &str| fields.get(k).cloned().unwrap_or_default();
        let return_msg = get("return_msg");
        if return_msg == NO_BILL_EXIST {
            return Ok(BillDay::NoBill);
        }
        return Err(BillError::Refused {
            return_msg,
            error_code: get("error_code"),
        });
    }
    parse_bill(body).map(BillDay::Bill)
}

/// Parses the text of a bill (see the module docs).
pub fn parse_bill(text: &str) -> Result<Bill, BillError> {
    if text.len() > MAX_BILL_BYTES {
        return Err(BillError::TooLarge {
            size: text.len(),
            limit: MAX_BILL_BYTES,
        });
    }
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    // One final line break is the file's end, not an empty line.
    let text = text.strip_suffix('\n').unwrap_or(text);
    let mut lines = text
        .split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .enumerate()
        .map(|(i, l)| (i + 1, l));

    let (line, header) = lines.next().ok_or(BillError::Truncated {
        line: 1,
        expected: "the header",
    })?;
    if header.is_empty() {
        return Err(BillError::Truncated {
            line,
            expected: "the header",
        });
    }
    let names: Vec<&str> = header.split(',').collect();
    let layout = BillLayout::from_column_count(names.len()).ok_or(BillError::UnknownLayout {
        line,
        found: names.len(),
    })?;
    check_header(line, &names, &layout.columns())?;

    let mut rows = Vec::new();
    let summary_line = loop {
        let Some((line, text)) = lines.next() else {
            return Err(BillError::Truncated {
                line: line + rows.len() + 1,
                expected: "the summary",
            });
        };
        if !text.starts_with('`') {
            break (line, text);
        }
        if rows.len() >= MAX_BILL_ROWS {
            return Err(BillError::TooManyRows {
                limit: MAX_BILL_ROWS,
            });
        }
        rows.push(parse_row(line, text, layout)?);
    };

    let (line, summary_header) = summary_line;
    let summary_names: Vec<&str> = summary_header.split(',').collect();
    let expected = layout.summary_columns();
    if summary_names.len() != expected.len() {
        return Err(BillError::WrongColumnCount {
            line,
            expected: expected.len(),
            found: summary_names.len(),
        });
    }
    check_header(line, &summary_names, &expected)?;
    let Some((line, summary_text)) = lines.next() else {
        return Err(BillError::Truncated {
            line: line + 1,
            expected: "the summary's totals",
        });
    };
    let fields = split_fields(line, summary_text, expected.len())?;
    let summary = parse_summary(line, &fields, layout)?;
    if let Some((line, _)) = lines.next() {
        return Err(BillError::TrailingText { line });
    }
    let computed = BillSummary::of(layout, &rows).ok_or(BillError::TotalsOverflow)?;
    check_summary(line, &summary, &computed)?;
    Ok(Bill {
        layout,
        rows,
        summary,
    })
}

fn check_header(line: usize, found: &[&str], expected: &[&'static str]) -> Result<(), BillError> {
    for (i, (found, expected)) in found.iter().zip(expected).enumerate() {
        if found.trim() != *expected {
            return Err(BillError::UnexpectedHeader {
                line,
                column: i + 1,
                expected,
                found: truncate(found),
            });
        }
    }
    Ok(())
}

/// A data line's fields: the leading backtick dropped, split on `` ,` `` (so a
/// comma inside a product name does not split it).
fn split_fields(line: usize, text: &str, expected: usize) -> Result<Vec<&str>, BillError> {
    let Some(rest) = text.strip_prefix('`') else {
        return Err(BillError::MissingBacktick { line });
    };
    let fields: Vec<&str> = rest.split(",`").collect();
    if fields.len() != expected {
        return Err(BillError::WrongColumnCount {
            line,
            expected,
            found: fields.len(),
        });
    }
    Ok(fields)
}

/// Reads one field after another, naming the column in errors.
struct Fields<'a> {
    line: usize,
    names: Vec<&'static str>,
    values: Vec<&'a str>,
    next: usize,
}

impl<'a> Fields<'a> {
    fn take(&mut self) -> Result<(&'static str, &'a str), BillError> {
        let i = self.next;
        self.next += 1;
        let (Some(name), Some(value)) = (self.names.get(i), self.values.get(i)) else {
            return Err(BillError::WrongColumnCount {
                line: self.line,
                expected: self.names.len(),
                found: self.values.len(),
            });
        };
        if value.len() > MAX_FIELD_BYTES {
            return Err(BillError::FieldTooLong {
                line: self.line,
                column: name,
            });
        }
        Ok((*name, *value))
    }

    fn invalid(&self, column: &'static str, what: &'static str, value: &str) -> BillError {
        BillError::InvalidField {
            line: self.line,
            column,
            what,
            value: truncate(value),
        }
    }

    fn text(&mut self) -> Result<String, BillError> {
        Ok(self.take()?.1.to_owned())
    }

    fn fen(&mut self) -> Result<Fen, BillError> {
        let (column, value) = self.take()?;
        parse_fen(value).ok_or_else(|| self.invalid(column, "an amount in yuan", value))
    }

    fn fee(&mut self) -> Result<MilliFen, BillError> {
        let (column, value) = self.take()?;
        parse_millifen(value).ok_or_else(|| self.invalid(column, "a fee in yuan", value))
    }

    /// An id column that is `0` or empty on rows it does not apply to.
    fn optional<T>(&mut self, parse: fn(&str) -> Option<T>) -> Result<Option<T>, BillError> {
        let (column, value) = self.take()?;
        if value.is_empty() || value == "0" {
            return Ok(None);
        }
        parse(value)
            .map(Some)
            .ok_or_else(|| self.invalid(column, "a WeChat reference", value))
    }
}

fn parse_row(line: usize, text: &str, layout: BillLayout) -> Result<BillRow, BillError> {
    let names = layout.columns();
    let values = split_fields(line, text, names.len())?;
    let mut f = Fields {
        line,
        names,
        values,
        next: 0,
    };
    let (column, value) = f.take()?;
    let trade_time =
        parse_spaced(value, "交易时间").map_err(|_| f.invalid(column, "a Beijing time", value))?;
    let appid = f.text()?;
    let mch_id = f.text()?;
    let sub_mch_id = f.text()?;
    let device_info = f.text()?;
    let (column, value) = f.take()?;
    let transaction_id =
        TransactionId::parse(value).map_err(|_| f.invalid(column, "a transaction id", value))?;
    let (column, value) = f.take()?;
    if value.is_empty() {
        return Err(f.invalid(column, "an out_trade_no", value));
    }
    let out_trade_no = value.to_owned();
    let openid = f.text()?;
    let trade_type = f.text()?;
    let (column, value) = f.take()?;
    if value.is_empty() {
        return Err(f.invalid(column, "a trade state", value));
    }
    let trade_state = TradeState::parse(value);
    let bank_type = f.text()?;
    let currency = f.text()?;
    let settlement_total = f.fen()?;
    let coupon = f.fen()?;
    let refund_id = f.optional(|v| RefundId::parse(v).ok())?;
    let out_refund_no = f.optional(|v| OutRefundNo::parse(v).ok())?;
    let refund = f.fen()?;
    let recharge_coupon_refund = f.fen()?;
    let refund_type = f.text()?;
    let (_, value) = f.take()?;
    let refund_status = (!value.is_empty()).then(|| RefundStatus::parse(value));
    let body = f.text()?;
    let attach = f.text()?;
    let fee = f.fee()?;
    let rate = f.text()?;
    let (order_amount, requested_refund, rate_note) = match layout {
        BillLayout::Standard => (None, None, None),
        BillLayout::WithCouponColumns => (Some(f.fen()?), Some(f.fen()?), Some(f.text()?)),
    };
    Ok(BillRow {
        trade_time,
        appid,
        mch_id,
        sub_mch_id,
        device_info,
        transaction_id,
        out_trade_no,
        openid,
        trade_type,
        trade_state,
        bank_type,
        currency,
        settlement_total,
        coupon,
        refund_id,
        out_refund_no,
        refund,
        recharge_coupon_refund,
        refund_type,
        refund_status,
        body,
        attach,
        fee,
        rate,
        order_amount,
        requested_refund,
        rate_note,
    })
}

fn parse_summary(
    line: usize,
    values: &[&str],
    layout: BillLayout,
) -> Result<BillSummary, BillError> {
    let mut f = Fields {
        line,
        names: layout.summary_columns(),
        values: values.to_vec(),
        next: 0,
    };
    let (column, value) = f.take()?;
    let trades = parse_digits(value).ok_or_else(|| f.invalid(column, "a count", value))?;
    let settlement_total = f.fen()?;
    let refund_total = f.fen()?;
    let recharge_coupon_refund_total = f.fen()?;
    let fee_total = f.fee()?;
    let (order_total, requested_refund_total) = match layout {
        BillLayout::Standard => (None, None),
        BillLayout::WithCouponColumns => (Some(f.fen()?), Some(f.fen()?)),
    };
    Ok(BillSummary {
        trades,
        settlement_total,
        refund_total,
        recharge_coupon_refund_total,
        fee_total,
        order_total,
        requested_refund_total,
    })
}

fn check_summary(
    line: usize,
    stated: &BillSummary,
    computed: &BillSummary,
) -> Result<(), BillError> {
    let fen = |f: Fen| f.to_yuan_string();
    let opt = |f: Option<Fen>| f.map(|f| f.to_yuan_string()).unwrap_or_default();
    let checks = [
        (
            "总交易单数",
            stated.trades.to_string(),
            computed.trades.to_string(),
        ),
        (
            "应结订单总金额",
            fen(stated.settlement_total),
            fen(computed.settlement_total),
        ),
        (
            "退款总金额",
            fen(stated.refund_total),
            fen(computed.refund_total),
        ),
        (
            "充值券退款总金额",
            fen(stated.recharge_coupon_refund_total),
            fen(computed.recharge_coupon_refund_total),
        ),
        (
            "手续费总金额",
            stated.fee_total.to_yuan_string(),
            computed.fee_total.to_yuan_string(),
        ),
        (
            "订单总金额",
            opt(stated.order_total),
            opt(computed.order_total),
        ),
        (
            "申请退款总金额",
            opt(stated.requested_refund_total),
            opt(computed.requested_refund_total),
        ),
    ];
    for (column, stated, computed) in checks {
        if stated != computed {
            return Err(BillError::SummaryMismatch {
                line,
                column,
                stated,
                computed,
            });
        }
    }
    Ok(())
}

/// Digits only, no sign, no spaces; `None` on anything else or overflow.
fn parse_digits(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// `[-]digits[.digits]` with at most `max_decimals` decimals, scaled to
/// `10^max_decimals` units: the exact integer, never a float.
fn parse_scaled(s: &str, max_decimals: u32) -> Option<(bool, u64)> {
    let (negative, unsigned) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    let (whole, decimals) = match unsigned.split_once('.') {
        Some((w, d)) => (w, d),
        None => (unsigned, ""),
    };
    let decimal_count = u32::try_from(decimals.len()).ok()?;
    if decimal_count > max_decimals || (unsigned.contains('.') && decimals.is_empty()) {
        return None;
    }
    let whole = parse_digits(whole)?;
    let fraction = if decimals.is_empty() {
        0
    } else {
        parse_digits(decimals)?
    };
    let scale = 10u64.checked_pow(max_decimals)?;
    let fraction = fraction.checked_mul(10u64.checked_pow(max_decimals - decimal_count)?)?;
    let value = whole.checked_mul(scale)?.checked_add(fraction)?;
    Some((negative, value))
}

/// Money in yuan (at most 2 decimals, never negative) to fen.
fn parse_fen(s: &str) -> Option<Fen> {
    match parse_scaled(s, 2)? {
        (false, fen) => Some(Fen::new(fen)),
        (true, 0) => Some(Fen::ZERO),
        (true, _) => None,
    }
}

/// A fee in yuan (at most 5 decimals, may be negative) to thousandths of a fen.
fn parse_millifen(s: &str) -> Option<MilliFen> {
    let (negative, value) = parse_scaled(s, 5)?;
    let value = i64::try_from(value).ok()?;
    Some(MilliFen(if negative { -value } else { value }))
}

fn truncate(s: &str) -> String {
    const SHOWN_CHARS: usize = 64;
    s.chars().take(SHOWN_CHARS).collect()
}

// --- rendering --------------------------------------------------------------------

/// Writes `bill` as WeChat does (its summary as given, so a test can render a bill
/// whose totals do not add up). Refuses text that would change the bill's shape.
pub fn render(bill: &Bill) -> Result<String, BillError> {
    let mut out = String::new();
    out.push_str(&bill.layout.columns().join(","));
    out.push('\n');
    for row in &bill.rows {
        let fields = row_fields(row, bill.layout)?;
        push_line(&mut out, &fields);
    }
    out.push_str(&bill.layout.summary_columns().join(","));
    out.push('\n');
    let s = &bill.summary;
    let mut totals = vec![
        s.trades.to_string(),
        s.settlement_total.to_yuan_string(),
        s.refund_total.to_yuan_string(),
        s.recharge_coupon_refund_total.to_yuan_string(),
        s.fee_total.to_yuan_string(),
    ];
    if bill.layout == BillLayout::WithCouponColumns {
        let opt = |f: Option<Fen>| f.unwrap_or(Fen::ZERO).to_yuan_string();
        totals.push(opt(s.order_total));
        totals.push(opt(s.requested_refund_total));
    }
    push_line(&mut out, &totals);
    Ok(out)
}

fn push_line(out: &mut String, fields: &[String]) {
    for (i, field) in fields.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push('`');
        out.push_str(field);
    }
    out.push('\n');
}

fn row_fields(row: &BillRow, layout: BillLayout) -> Result<Vec<String>, BillError> {
    let text = |column: &'static str, value: &str| {
        if value.contains(['`', '\n', '\r']) || value.len() > MAX_FIELD_BYTES {
            return Err(BillError::Unrenderable {
                column,
                value: truncate(value),
            });
        }
        Ok(value.to_owned())
    };
    let mut fields = vec![
        format_spaced(row.trade_time),
        text("公众账号ID", &row.appid)?,
        text("商户号", &row.mch_id)?,
        text("特约商户号", &row.sub_mch_id)?,
        text("设备号", &row.device_info)?,
        row.transaction_id.to_string(),
        text("商户订单号", &row.out_trade_no)?,
        text("用户标识", &row.openid)?,
        text("交易类型", &row.trade_type)?,
        text("交易状态", row.trade_state.as_str())?,
        text("付款银行", &row.bank_type)?,
        text("货币种类", &row.currency)?,
        row.settlement_total.to_yuan_string(),
        row.coupon.to_yuan_string(),
        row.refund_id
            .as_ref()
            .map_or_else(|| "0".to_owned(), ToString::to_string),
        row.out_refund_no
            .as_ref()
            .map_or_else(|| "0".to_owned(), ToString::to_string),
        row.refund.to_yuan_string(),
        row.recharge_coupon_refund.to_yuan_string(),
        text("退款类型", &row.refund_type)?,
        text(
            "退款状态",
            row.refund_status.as_ref().map_or("", RefundStatus::as_str),
        )?,
        text("商品名称", &row.body)?,
        text("商户数据包", &row.attach)?,
        row.fee.to_yuan_string(),
        text("费率", &row.rate)?,
    ];
    if layout == BillLayout::WithCouponColumns {
        fields.push(row.order_amount.unwrap_or(Fen::ZERO).to_yuan_string());
        fields.push(row.requested_refund.unwrap_or(Fen::ZERO).to_yuan_string());
        fields.push(text("费率备注", row.rate_note.as_deref().unwrap_or(""))?);
    }
    Ok(fields)
}

// --- reconciliation ---------------------------------------------------------------

/// A payment the log holds for the day: confirmed ones and anomalous ones alike
/// (late, wrong amount, duplicate: WeChat took that money too).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogPayment {
    pub out_trade_no: OutTradeNo,
    pub transaction_id: TransactionId,
    pub amount: Fen,
}

/// A refund the log holds for the day, in whatever status it has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogRefund {
    pub out_trade_no: OutTradeNo,
    /// The refunded transaction (the payment or an anomaly).
    pub transaction_id: TransactionId,
    pub out_refund_no: OutRefundNo,
    pub refund_id: Option<RefundId>,
    pub amount: Fen,
    pub status: LogRefundStatus,
}

/// What the log holds for one Beijing day, to compare with that day's bill.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogRecords {
    pub payments: Vec<LogPayment>,
    pub refunds: Vec<LogRefund>,
}

/// A payment or a refund.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Movement {
    Payment,
    Refund,
}

/// The ids naming a movement, as far as they are known.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MovementIds {
    /// The paylog order, when `out_trade_no` is one of paylog's.
    pub order_id: Option<OrderId>,
    pub out_trade_no: String,
    pub transaction_id: TransactionId,
    pub out_refund_no: Option<OutRefundNo>,
    pub refund_id: Option<RefundId>,
}

/// How the bill and the log disagree about one movement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind")]
pub enum DifferenceKind {
    /// In the bill, not in the log. For a payment: money the shop holds but did not
    /// record, to be recovered like a lost notify (`at` is WeChat's trade time).
    MissingFromLog {
        amount: Fen,
        at: DateTime<Utc>,
    },
    /// In the log, not in the bill.
    MissingFromBill {
        amount: Fen,
    },
    AmountDiffers {
        bill: Fen,
        log: Fen,
    },
    /// The bill's trade or refund status does not match the log's.
    StatusDiffers {
        bill: String,
        log: String,
    },
    /// The same transaction (or refund) on two rows of the bill.
    DuplicateInBill {
        first_line: usize,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Difference {
    pub movement: Movement,
    pub ids: MovementIds,
    /// The bill's line, when the movement is in the bill.
    pub bill_line: Option<usize>,
    #[serde(flatten)]
    pub kind: DifferenceKind,
}

/// The outcome of [`reconcile`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Report {
    pub bill_payments: usize,
    pub bill_refunds: usize,
    pub log_payments: usize,
    pub log_refunds: usize,
    pub differences: Vec<Difference>,
}

impl Report {
    /// The day matches: every movement on both sides, with equal amounts and statuses.
    pub fn matches(&self) -> bool {
        self.differences.is_empty()
    }
}

/// The line a bill row is on, when rows came from [`parse_bill`]: header + index.
fn line_of(index: usize) -> usize {
    index + 2
}

fn order_of(out_trade_no: &str) -> Option<OrderId> {
    OutTradeNo::parse(out_trade_no)
        .ok()
        .and_then(|o| o.order_id())
}

fn bill_ids(row: &BillRow) -> MovementIds {
    MovementIds {
        order_id: order_of(&row.out_trade_no),
        out_trade_no: row.out_trade_no.clone(),
        transaction_id: row.transaction_id.clone(),
        out_refund_no: row.out_refund_no.clone(),
        refund_id: row.refund_id.clone(),
    }
}

/// Whether the bill's refund status says what the log's does.
fn same_refund_status(bill: Option<&RefundStatus>, log: LogRefundStatus) -> bool {
    matches!(
        (bill, log),
        (Some(RefundStatus::Success), LogRefundStatus::Confirmed)
            | (Some(RefundStatus::Processing), LogRefundStatus::Pending)
            | (Some(RefundStatus::Change), LogRefundStatus::NeedsAttention)
            | (Some(RefundStatus::RefundClose), LogRefundStatus::Failed)
    )
}

/// Compares a day's bill rows (in bill order, as parsed: row `i` is on line `i + 2`)
/// with what the log holds for that Beijing day. Payments are matched by
/// `transaction_id`, refunds by `out_refund_no`. A refund the log records as Failed
/// and the bill does not list is no difference: WeChat refused it, nothing moved.
pub fn reconcile(rows: &[BillRow], log: &LogRecords) -> Report {
    let mut report = Report {
        log_payments: log.payments.len(),
        log_refunds: log.refunds.len(),
        ..Report::default()
    };
    let mut differences = Vec::new();
    let payments: BTreeMap<&TransactionId, &LogPayment> = log
        .payments
        .iter()
        .map(|p| (&p.transaction_id, p))
        .collect();
    let refunds: BTreeMap<&OutRefundNo, &LogRefund> =
        log.refunds.iter().map(|r| (&r.out_refund_no, r)).collect();
    let mut seen_payments: BTreeMap<&TransactionId, usize> = BTreeMap::new();
    let mut seen_refunds: BTreeMap<&OutRefundNo, usize> = BTreeMap::new();

    for (index, row) in rows.iter().enumerate() {
        let line = line_of(index);
        let difference = |kind| Difference {
            movement: if row.is_refund() {
                Movement::Refund
            } else {
                Movement::Payment
            },
            ids: bill_ids(row),
            bill_line: Some(line),
            kind,
        };
        if !row.is_refund() {
            report.bill_payments += 1;
            if let Some(first) = seen_payments.insert(&row.transaction_id, line) {
                differences.push(difference(DifferenceKind::DuplicateInBill {
                    first_line: first,
                }));
                continue;
            }
            let success = row.trade_state == TradeState::Success;
            match payments.get(&row.transaction_id) {
                None if success => differences.push(difference(DifferenceKind::MissingFromLog {
                    amount: row.paid(),
                    at: row.trade_time,
                })),
                // Revoked or otherwise unpaid, and the log has no payment: agreed.
                None => {}
                Some(_) if !success => {
                    differences.push(difference(DifferenceKind::StatusDiffers {
                        bill: row.trade_state.to_string(),
                        log: "paid".to_owned(),
                    }))
                }
                Some(p) if p.amount != row.paid() => {
                    differences.push(difference(DifferenceKind::AmountDiffers {
                        bill: row.paid(),
                        log: p.amount,
                    }))
                }
                Some(_) => {}
            }
            continue;
        }
        report.bill_refunds += 1;
        let Some(out_refund_no) = &row.out_refund_no else {
            // A refund row without a refund number cannot be matched to anything.
            differences.push(difference(DifferenceKind::MissingFromLog {
                amount: row.refunded(),
                at: row.trade_time,
            }));
            continue;
        };
        if let Some(first) = seen_refunds.insert(out_refund_no, line) {
            differences.push(difference(DifferenceKind::DuplicateInBill {
                first_line: first,
            }));
            continue;
        }
        match refunds.get(out_refund_no) {
            None => differences.push(difference(DifferenceKind::MissingFromLog {
                amount: row.refunded(),
                at: row.trade_time,
            })),
            Some(r) if r.amount != row.refunded() => {
                differences.push(difference(DifferenceKind::AmountDiffers {
                    bill: row.refunded(),
                    log: r.amount,
                }))
            }
            Some(r) if !same_refund_status(row.refund_status.as_ref(), r.status) => differences
                .push(difference(DifferenceKind::StatusDiffers {
                    bill: row
                        .refund_status
                        .as_ref()
                        .map_or_else(String::new, ToString::to_string),
                    log: format!("{:?}", r.status),
                })),
            Some(_) => {}
        }
    }

    for p in &log.payments {
        if !seen_payments.contains_key(&p.transaction_id) {
            differences.push(Difference {
                movement: Movement::Payment,
                ids: MovementIds {
                    order_id: p.out_trade_no.order_id(),
                    out_trade_no: p.out_trade_no.to_string(),
                    transaction_id: p.transaction_id.clone(),
                    out_refund_no: None,
                    refund_id: None,
                },
                bill_line: None,
                kind: DifferenceKind::MissingFromBill { amount: p.amount },
            });
        }
    }
    for r in &log.refunds {
        if !seen_refunds.contains_key(&r.out_refund_no) && r.status != LogRefundStatus::Failed {
            differences.push(Difference {
                movement: Movement::Refund,
                ids: MovementIds {
                    order_id: r.out_trade_no.order_id(),
                    out_trade_no: r.out_trade_no.to_string(),
                    transaction_id: r.transaction_id.clone(),
                    out_refund_no: Some(r.out_refund_no.clone()),
                    refund_id: r.refund_id.clone(),
                },
                bill_line: None,
                kind: DifferenceKind::MissingFromBill { amount: r.amount },
            });
        }
    }
    report.differences = differences;
    report
}

#[cfg(test)]
#[path = "bill_tests.rs"]
mod tests;
