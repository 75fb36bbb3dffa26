//! The daily bill: WeChat's published layouts parsed exactly, every kind of damage
//! refused with its line, render → parse round trips, and reconciliation.

use chrono::TimeZone;
use proptest::prelude::*;

use super::*;

const HEADER_27: &str = "交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,货币种类,应结订单金额,代金券金额,微信退款单号,商户退款单号,退款金额,充值券退款金额,退款类型,退款状态,商品名称,商户数据包,手续费,费率,订单金额,申请退款金额,费率备注";
const SUMMARY_7: &str =
    "总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额";
const HEADER_24: &str = "交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,货币种类,应结订单金额,代金券金额,微信退款单号,商户退款单号,退款金额,充值券退款金额,退款类型,退款状态,商品名称,商户数据包,手续费,费率";
const SUMMARY_5: &str = "总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额";

const PAYMENT_27: &str = "`2026-09-24 10:00:00,`wx0000000000000001,`1900000109,`0,`,`4200000001202609240000000001,`0190a0b0c0d07000800000000000000a,`oUpF8uMuAJO_M2pxb1Q9zNjWeS6o,`JSAPI,`SUCCESS,`OTHERS,`CNY,`9.90,`0.00,`0,`0,`0.00,`0.00,`,`,`Oolong, 250g,`,`0.05940,`0.60%,`9.90,`0.00,`";
const REFUND_27: &str = "`2026-09-24 11:00:00,`wx0000000000000001,`1900000109,`0,`,`4200000001202609240000000001,`0190a0b0c0d07000800000000000000a,`oUpF8uMuAJO_M2pxb1Q9zNjWeS6o,`JSAPI,`REFUND,`OTHERS,`CNY,`0.00,`0.00,`50000000012026092400000000001,`R1,`9.90,`0.00,`ORIGINAL,`SUCCESS,`Oolong, 250g,`,`-0.05940,`0.60%,`0.00,`9.90,`";
const TOTALS_27: &str = "`2,`9.90,`9.90,`0.00,`0.00000,`9.90,`9.90";

fn bill_27() -> String {
    format!("{HEADER_27}\n{PAYMENT_27}\n{REFUND_27}\n{SUMMARY_7}\n{TOTALS_27}\n")
}

fn fen(n: u64) -> Fen {
    Fen::new(n)
}

#[test]
fn a_bill_with_coupon_columns_is_read_exactly() {
    let bill = parse_bill(&bill_27()).expect("parses");
    assert_eq!(bill.layout, BillLayout::WithCouponColumns);
    let [payment, refund] = bill.rows.as_slice() else {
        panic!("two rows expected, got {:?}", bill.rows);
    };
    // Beijing 10:00 is 02:00 UTC.
    let utc = Utc
        .with_ymd_and_hms(2026, 9, 24, 2, 0, 0)
        .single()
        .expect("valid");
    assert_eq!(payment.trade_time, utc);
    assert_eq!(payment.trade_state, TradeState::Success);
    assert_eq!(
        (payment.settlement_total, payment.paid(), payment.fee),
        (fen(990), fen(990), MilliFen(5940))
    );
    assert_eq!(
        (payment.refund_id.as_ref(), payment.out_refund_no.as_ref()),
        (None, None)
    );
    assert_eq!(payment.refund_status, None);
    assert_eq!(
        payment.body, "Oolong, 250g",
        "a comma inside a field does not split it"
    );
    assert_eq!(payment.rate, "0.60%");
    assert!(refund.is_refund());
    assert_eq!(
        refund.out_refund_no.as_ref().map(OutRefundNo::as_str),
        Some("R1")
    );
    assert_eq!(refund.refund_status, Some(RefundStatus::Success));
    assert_eq!((refund.refund, refund.refunded()), (fen(990), fen(990)));
    assert_eq!(
        refund.fee,
        MilliFen(-5940),
        "the fee comes back on a refund"
    );
    assert_eq!(bill.summary.trades, 2);
    assert_eq!(bill.summary.fee_total, MilliFen(0));
    assert_eq!(bill.summary.order_total, Some(fen(990)));
}

#[test]
fn a_standard_bill_with_crlf_a_bom_and_wechat_s_short_amounts_is_read() {
    let row = "`2014-11-10 16:33:45,`wx2421b1c4370ec43b,`10000100,`0,`1000,`1001690740201411100005734289,`1415640626,`085e9858e3ba5186aafcbaed1,`MICROPAY,`SUCCESS,`CFT,`CNY,`0.01,`0.0,`0,`0,`0,`0,`,`,`被扫支付测试,`订单额外描述,`0,`0.60%";
    let text = format!(
        "\u{feff}{HEADER_24}\r\n{row}\r\n{row}\r\n{SUMMARY_5}\r\n`2,`0.02,`0.0,`0.0,`0\r\n"
    );
    // The same transaction twice is read (reconciliation reports it).
    let bill = parse_bill(&text).expect("parses");
    assert_eq!(bill.layout, BillLayout::Standard);
    assert_eq!(bill.rows.len(), 2);
    assert_eq!(bill.rows[0].settlement_total, fen(1));
    assert_eq!(bill.rows[0].coupon, Fen::ZERO);
    assert_eq!(bill.rows[0].order_amount, None);
    assert_eq!(bill.rows[0].body, "被扫支付测试");
    assert_eq!(bill.summary.settlement_total, fen(2));
}

#[test]
fn no_bill_exist_is_an_empty_day_and_other_answers_are_refusals() {
    let none = "<xml><return_code><![CDATA[FAIL]]></return_code><return_msg><![CDATA[No Bill Exist]]></return_msg><error_code><![CDATA[20002]]></error_code></xml>";
    assert_eq!(parse_download(none), Ok(BillDay::NoBill));
    assert_eq!(BillDay::NoBill.rows(), &[]);
    let refused = "<xml><return_code><![CDATA[FAIL]]></return_code><return_msg><![CDATA[invalid bill_date]]></return_msg><error_code><![CDATA[20001]]></error_code></xml>";
    assert_eq!(
        parse_download(refused),
        Err(BillError::Refused {
            return_msg: "invalid bill_date".into(),
            error_code: "20001".into(),
        })
    );
    assert!(matches!(
        parse_download("<xml><a>1</b></xml>"),
        Err(BillError::NotABill(_))
    ));
    let day = parse_download(&bill_27()).expect("parses");
    assert_eq!(day.rows().len(), 2);
}

#[test]
fn damage_is_refused_with_its_line() {
    let lines = |edit: &dyn Fn(&mut Vec<String>)| {
        let mut lines: Vec<String> = bill_27().lines().map(str::to_owned).collect();
        edit(&mut lines);
        parse_bill(&(lines.join("\n") + "\n"))
    };
    // A field lost from the refund row.
    assert_eq!(
        lines(&|l| l[2] = l[2].replacen(",`ORIGINAL", "", 1)),
        Err(BillError::WrongColumnCount {
            line: 3,
            expected: 27,
            found: 26
        })
    );
    // A non-numeric amount, a negative one, a third decimal.
    for (bad, value) in [
        ("`9.90,`0.00,`0,", "9.9O"),
        ("`9.90,`0.00,`0,", "-9.90"),
        ("`9.90,`0.00,`0,", "9.901"),
    ] {
        let replaced = bad.replacen("9.90", value, 1);
        assert_eq!(
            lines(&|l| l[1] = l[1].replacen(bad, &replaced, 1)),
            Err(BillError::InvalidField {
                line: 2,
                column: "应结订单金额",
                what: "an amount in yuan",
                value: value.into(),
            })
        );
    }
    assert!(matches!(
        lines(&|l| l[1] = l[1].replacen("`0.05940", "`0.059401", 1)),
        Err(BillError::InvalidField {
            line: 2,
            column: "手续费",
            ..
        })
    ));
    assert!(matches!(
        lines(&|l| l[1] = l[1].replacen("`2026-09-24 10:00:00", "`2026-09-24T10:00:00", 1)),
        Err(BillError::InvalidField {
            line: 2,
            column: "交易时间",
            ..
        })
    ));
    // Truncated: no summary, or a summary header without its totals.
    assert_eq!(
        lines(&|l| l.truncate(3)),
        Err(BillError::Truncated {
            line: 4,
            expected: "the summary"
        })
    );
    assert_eq!(
        lines(&|l| l.truncate(4)),
        Err(BillError::Truncated {
            line: 5,
            expected: "the summary's totals"
        })
    );
    assert_eq!(
        parse_bill(""),
        Err(BillError::Truncated {
            line: 1,
            expected: "the header"
        })
    );
    // Totals that do not add up.
    assert_eq!(
        lines(&|l| l[4] = "`2,`9.90,`9.80,`0.00,`0.00000,`9.90,`9.90".into()),
        Err(BillError::SummaryMismatch {
            line: 5,
            column: "退款总金额",
            stated: "9.80".into(),
            computed: "9.90".into(),
        })
    );
    assert!(matches!(
        lines(&|l| l[4] = "`3,`9.90,`9.90,`0.00,`0.00000,`9.90,`9.90".into()),
        Err(BillError::SummaryMismatch {
            line: 5,
            column: "总交易单数",
            ..
        })
    ));
    // An unknown header, a renamed column, a data line without its backtick,
    // text after the summary.
    assert_eq!(
        lines(&|l| l[0] = "a,b,c".into()),
        Err(BillError::UnknownLayout { line: 1, found: 3 })
    );
    assert!(matches!(
        lines(&|l| l[0] = l[0].replacen("退款金额", "退款額", 1)),
        Err(BillError::UnexpectedHeader {
            line: 1,
            column: 17,
            ..
        })
    ));
    assert!(matches!(
        lines(&|l| l[3] = l[3].replacen("总交易单数", "交易单数", 1)),
        Err(BillError::UnexpectedHeader {
            line: 4,
            column: 1,
            ..
        })
    ));
    assert_eq!(
        lines(&|l| l.push("extra".into())),
        Err(BillError::TrailingText { line: 6 })
    );
    assert_eq!(
        lines(&|l| l[4] = l[4].trim_start_matches('`').to_owned()),
        Err(BillError::MissingBacktick { line: 5 })
    );
}

// --- rendering ------------------------------------------------------------------

fn payment_row(n: u32, out_trade_no: &str, amount: u64) -> BillRow {
    BillRow {
        trade_time: Utc
            .with_ymd_and_hms(2026, 9, 24, 2, 0, n)
            .single()
            .expect("valid"),
        appid: "wx0000000000000001".into(),
        mch_id: "1900000109".into(),
        sub_mch_id: "0".into(),
        device_info: String::new(),
        transaction_id: TransactionId::parse(&format!("42000000{n:020}")).expect("valid"),
        out_trade_no: out_trade_no.into(),
        openid: "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o".into(),
        trade_type: "JSAPI".into(),
        trade_state: TradeState::Success,
        bank_type: "OTHERS".into(),
        currency: "CNY".into(),
        settlement_total: fen(amount),
        coupon: Fen::ZERO,
        refund_id: None,
        out_refund_no: None,
        refund: Fen::ZERO,
        recharge_coupon_refund: Fen::ZERO,
        refund_type: String::new(),
        refund_status: None,
        body: "Oolong".into(),
        attach: String::new(),
        fee: MilliFen(i64::try_from(amount).unwrap_or_default() * 6),
        rate: "0.60%".into(),
        order_amount: None,
        requested_refund: None,
        rate_note: None,
    }
}

fn refund_row(n: u32, out_trade_no: &str, refund_no: &str, amount: u64) -> BillRow {
    BillRow {
        trade_state: TradeState::Refund,
        settlement_total: Fen::ZERO,
        refund_id: Some(RefundId::parse(&format!("5000{n:010}")).expect("valid")),
        out_refund_no: Some(OutRefundNo::parse(refund_no).expect("valid")),
        refund: fen(amount),
        refund_type: "ORIGINAL".into(),
        refund_status: Some(RefundStatus::Success),
        fee: MilliFen(-i64::try_from(amount).unwrap_or_default() * 6),
        ..payment_row(n, out_trade_no, 0)
    }
}

#[test]
fn a_rendered_bill_is_what_wechat_sends() {
    let bill = Bill::new(
        BillLayout::Standard,
        vec![payment_row(1, "T1", 990), refund_row(1, "T1", "R1", 990)],
    )
    .expect("builds");
    let text = render(&bill).expect("renders");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 5);
    assert_eq!(lines[0], HEADER_24);
    assert_eq!(
        lines[1],
        "`2026-09-24 10:00:01,`wx0000000000000001,`1900000109,`0,`,`4200000000000000000000000001,`T1,`oUpF8uMuAJO_M2pxb1Q9zNjWeS6o,`JSAPI,`SUCCESS,`OTHERS,`CNY,`9.90,`0.00,`0,`0,`0.00,`0.00,`,`,`Oolong,`,`0.05940,`0.60%"
    );
    assert_eq!(lines[3], SUMMARY_5);
    assert_eq!(lines[4], "`2,`9.90,`9.90,`0.00,`0.00000");
    assert_eq!(parse_bill(&text), Ok(bill));
    let mut bad = payment_row(2, "T2", 1);
    bad.body = "tea`cup".into();
    let bill = Bill::new(BillLayout::Standard, vec![bad]).expect("builds");
    assert!(matches!(
        render(&bill),
        Err(BillError::Unrenderable {
            column: "商品名称",
            ..
        })
    ));
}

fn text_field() -> impl Strategy<Value = String> {
    "[A-Za-z0-9 ,._%|*@-]{0,12}|[茶杯中文]{1,4}"
}

prop_compose! {
    fn any_row(coupon: bool)(
        seconds in 1_600_000_000i64..1_900_000_000,
        texts in proptest::collection::vec(text_field(), 11),
        transaction in 1u64..u64::MAX,
        out_trade_no in "[A-Za-z0-9_|*-]{1,32}",
        state in prop_oneof![Just("SUCCESS"), Just("REFUND"), Just("REVOKED")],
        amounts in proptest::collection::vec(0u64..10_000_000_000, 6),
        refund_id in proptest::option::of(1u64..u64::MAX),
        out_refund_no in proptest::option::of("[A-Za-z0-9_|*@-]{2,64}"),
        refund_status in proptest::option::of(prop_oneof![
            Just("SUCCESS"), Just("PROCESSING"), Just("REFUNDCLOSE"), Just("CHANGE")
        ]),
        fee in -10_000_000_000i64..10_000_000_000,
    ) -> BillRow {
        BillRow {
            trade_time: Utc.timestamp_opt(seconds, 0).single().unwrap_or_default(),
            appid: texts[0].clone(),
            mch_id: texts[1].clone(),
            sub_mch_id: texts[2].clone(),
            device_info: texts[3].clone(),
            transaction_id: TransactionId::parse(&transaction.to_string()).expect("digits"),
            out_trade_no,
            openid: texts[4].clone(),
            trade_type: texts[5].clone(),
            trade_state: TradeState::parse(state),
            bank_type: texts[6].clone(),
            currency: "CNY".into(),
            settlement_total: Fen::new(amounts[0]),
            coupon: Fen::new(amounts[1]),
            refund_id: refund_id.map(|n| RefundId::parse(&n.to_string()).expect("digits")),
            out_refund_no: out_refund_no.map(|s| OutRefundNo::parse(&s).expect("alphabet")),
            refund: Fen::new(amounts[2]),
            recharge_coupon_refund: Fen::new(amounts[3]),
            refund_type: texts[7].clone(),
            refund_status: refund_status.map(RefundStatus::parse),
            body: texts[8].clone(),
            attach: texts[9].clone(),
            fee: MilliFen(fee),
            rate: texts[10].clone(),
            order_amount: coupon.then_some(Fen::new(amounts[4])),
            requested_refund: coupon.then_some(Fen::new(amounts[5])),
            rate_note: coupon.then(|| texts[0].clone()),
        }
    }
}

fn any_bill() -> impl Strategy<Value = Bill> {
    any::<bool>().prop_flat_map(|coupon| {
        proptest::collection::vec(any_row(coupon), 0..12).prop_map(move |rows| {
            let layout = if coupon {
                BillLayout::WithCouponColumns
            } else {
                BillLayout::Standard
            };
            Bill::new(layout, rows).expect("small amounts never overflow")
        })
    })
}

proptest! {
    #[test]
    fn render_then_parse_gives_the_bill_back(bill in any_bill()) {
        let text = render(&bill).expect("renders");
        prop_assert_eq!(parse_bill(&text), Ok(bill.clone()));
        prop_assert_eq!(parse_download(&text), Ok(BillDay::Bill(bill)));
    }

    #[test]
    fn amounts_convert_exactly(fen_amount in 0u64..u64::MAX / 1_000, fee in i64::MIN / 2..i64::MAX / 2) {
        prop_assert_eq!(parse_fen(&Fen::new(fen_amount).to_yuan_string()), Some(Fen::new(fen_amount)));
        prop_assert_eq!(parse_millifen(&MilliFen(fee).to_yuan_string()), Some(MilliFen(fee)));
    }
}

#[test]
fn amounts_are_read_as_wechat_prints_them() {
    assert_eq!(parse_fen("0"), Some(Fen::ZERO));
    assert_eq!(parse_fen("0.0"), Some(Fen::ZERO));
    assert_eq!(parse_fen("0.1"), Some(fen(10)));
    assert_eq!(parse_fen("12.34"), Some(fen(1234)));
    assert_eq!(parse_fen("-0.00"), Some(Fen::ZERO));
    for bad in [
        "", ".5", "1.", "1.234", "1,00", " 1", "+1", "1e3", "-1", "--1", "0x10",
    ] {
        assert_eq!(parse_fen(bad), None, "{bad:?}");
    }
    assert_eq!(parse_millifen("-0.05940"), Some(MilliFen(-5940)));
    assert_eq!(parse_millifen("0.00000"), Some(MilliFen(0)));
    assert_eq!(parse_millifen("0"), Some(MilliFen(0)));
    assert_eq!(parse_millifen("1.000001"), None);
    assert_eq!(parse_millifen("99999999999999999999"), None, "overflow");
    assert_eq!(MilliFen(-5940).to_yuan_string(), "-0.05940");
}

// --- reconciliation -----------------------------------------------------------------

fn out_trade_no(n: u128) -> OutTradeNo {
    OutTradeNo::for_order(crate::testkit::order_id(n))
}

fn log_payment(n: u32, amount: u64) -> LogPayment {
    LogPayment {
        out_trade_no: out_trade_no(u128::from(n)),
        transaction_id: TransactionId::parse(&format!("42000000{n:020}")).expect("valid"),
        amount: fen(amount),
    }
}

fn log_refund(n: u32, no: &str, amount: u64, status: LogRefundStatus) -> LogRefund {
    LogRefund {
        out_trade_no: out_trade_no(u128::from(n)),
        transaction_id: TransactionId::parse(&format!("42000000{n:020}")).expect("valid"),
        out_refund_no: OutRefundNo::parse(no).expect("valid"),
        refund_id: None,
        amount: fen(amount),
        status,
    }
}

fn bill_payment(n: u32, amount: u64) -> BillRow {
    payment_row(n, out_trade_no(u128::from(n)).as_str(), amount)
}

fn bill_refund(n: u32, no: &str, amount: u64) -> BillRow {
    refund_row(n, out_trade_no(u128::from(n)).as_str(), no, amount)
}

/// A day on which the bill and the log agree: two payments, a refund, and a refund
/// WeChat refused (recorded Failed in the log, absent from the bill).
fn matching_day() -> (Vec<BillRow>, LogRecords) {
    let rows = vec![
        bill_payment(1, 990),
        bill_payment(2, 500),
        bill_refund(1, "R1", 300),
    ];
    let log = LogRecords {
        payments: vec![log_payment(1, 990), log_payment(2, 500)],
        refunds: vec![
            log_refund(1, "R1", 300, LogRefundStatus::Confirmed),
            log_refund(2, "R2", 100, LogRefundStatus::Failed),
        ],
    };
    (rows, log)
}

#[test]
fn a_day_that_agrees_matches() {
    let (rows, log) = matching_day();
    let report = reconcile(&rows, &log);
    assert!(report.matches(), "{:?}", report.differences);
    assert_eq!(
        (
            report.bill_payments,
            report.bill_refunds,
            report.log_payments,
            report.log_refunds
        ),
        (2, 1, 2, 2)
    );
    assert_eq!(reconcile(&[], &LogRecords::default()), Report::default());
    assert!(reconcile(BillDay::NoBill.rows(), &LogRecords::default()).matches());
}

#[test]
fn each_kind_of_difference_is_named_with_its_ids() {
    let (mut rows, mut log) = matching_day();
    // Paid at WeChat, unknown to the log (a lost notify): line 5.
    rows.push(bill_payment(3, 700));
    // In the log, not in the bill.
    log.payments.push(log_payment(4, 800));
    log.refunds
        .push(log_refund(4, "R4", 100, LogRefundStatus::Pending));
    // Amount and status differences.
    log.payments[1].amount = fen(501);
    rows.push(bill_refund(2, "R2", 100));
    // A duplicated bill row.
    rows.push(bill_payment(1, 990));
    let report = reconcile(&rows, &log);
    assert!(!report.matches());
    let summary: Vec<(Movement, Option<usize>, &str, &DifferenceKind)> = report
        .differences
        .iter()
        .map(|d| {
            (
                d.movement,
                d.bill_line,
                d.ids
                    .out_refund_no
                    .as_ref()
                    .map_or(d.ids.out_trade_no.as_str(), OutRefundNo::as_str),
                &d.kind,
            )
        })
        .collect();
    let t = |n: u128| out_trade_no(n).to_string();
    let (t1, t2, t3, t4) = (t(1), t(2), t(3), t(4));
    assert_eq!(
        summary,
        vec![
            (
                Movement::Payment,
                Some(3),
                t2.as_str(),
                &DifferenceKind::AmountDiffers {
                    bill: fen(500),
                    log: fen(501)
                }
            ),
            (
                Movement::Payment,
                Some(5),
                t3.as_str(),
                &DifferenceKind::MissingFromLog {
                    amount: fen(700),
                    at: rows[3].trade_time
                }
            ),
            (
                Movement::Refund,
                Some(6),
                "R2",
                &DifferenceKind::StatusDiffers {
                    bill: "SUCCESS".into(),
                    log: "Failed".into()
                }
            ),
            (
                Movement::Payment,
                Some(7),
                t1.as_str(),
                &DifferenceKind::DuplicateInBill { first_line: 2 }
            ),
            (
                Movement::Payment,
                None,
                t4.as_str(),
                &DifferenceKind::MissingFromBill { amount: fen(800) }
            ),
            (
                Movement::Refund,
                None,
                "R4",
                &DifferenceKind::MissingFromBill { amount: fen(100) }
            ),
        ]
    );
    // Every difference names the paylog order and the transaction.
    for d in &report.differences {
        assert!(d.ids.order_id.is_some(), "{d:?}");
    }
    let missing = &report.differences[1];
    assert_eq!(missing.ids.order_id, Some(crate::testkit::order_id(3)));
    assert_eq!(missing.ids.transaction_id, rows[3].transaction_id);
    // The JSON an operator reads names the kind.
    let json = serde_json::to_value(&report.differences[0]).expect("json");
    assert_eq!(json["kind"], "AmountDiffers");
    assert_eq!(json["bill"], 500);
}

#[test]
fn refund_statuses_compare_with_the_log_s() {
    let cases = [
        (RefundStatus::Success, LogRefundStatus::Confirmed, true),
        (RefundStatus::Processing, LogRefundStatus::Pending, true),
        (RefundStatus::Change, LogRefundStatus::NeedsAttention, true),
        (RefundStatus::RefundClose, LogRefundStatus::Failed, true),
        (RefundStatus::Success, LogRefundStatus::Pending, false),
        (RefundStatus::Change, LogRefundStatus::Pending, false),
    ];
    for (bill, log, same) in cases {
        let mut row = bill_refund(1, "R1", 300);
        row.refund_status = Some(bill.clone());
        let log = LogRecords {
            payments: vec![],
            refunds: vec![log_refund(1, "R1", 300, log)],
        };
        assert_eq!(reconcile(&[row], &log).matches(), same, "{bill} vs {log:?}");
    }
    // A refund amount that differs is named as such.
    let log = LogRecords {
        payments: vec![],
        refunds: vec![log_refund(1, "R1", 299, LogRefundStatus::Confirmed)],
    };
    let report = reconcile(&[bill_refund(1, "R1", 300)], &log);
    assert_eq!(
        report
            .differences
            .iter()
            .map(|d| &d.kind)
            .collect::<Vec<_>>(),
        [&DifferenceKind::AmountDiffers {
            bill: fen(300),
            log: fen(299)
        }]
    );
}

#[test]
fn days_are_beijing_days_and_the_default_is_yesterday_there() {
    // 2026-09-24 17:30 UTC is already 01:30 on the 25th in Beijing.
    let now = Utc
        .with_ymd_and_hms(2026, 9, 24, 17, 30, 0)
        .single()
        .expect("valid");
    let day = |d| NaiveDate::from_ymd_opt(2026, 9, d).expect("valid");
    assert_eq!(beijing_day(now), day(25));
    assert_eq!(default_bill_day(now), Some(day(24)));
    assert_eq!(bill_date_param(day(4)), "20260904");
}
