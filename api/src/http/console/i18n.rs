//! The console's words in Chinese and English: one enum of keys, one match per
//! language, so a missing translation is a compile error rather than a blank.
//! The language is the `lang` cookie the on-page switch sets, else `Accept-Language`.

use axum::http::HeaderMap;
use axum::http::header::ACCEPT_LANGUAGE;

use super::session::cookie;

/// The cookie the language switch sets.
pub const LANG_COOKIE: &str = "paylog_console_lang";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    Zh,
    En,
}

impl Lang {
    /// The `lang` cookie if it names a language, else the first of Chinese or English
    /// in `Accept-Language`, else English.
    pub fn of(headers: &HeaderMap) -> Lang {
        if let Some(lang) = cookie(headers, LANG_COOKIE).and_then(Lang::parse) {
            return lang;
        }
        let accept = headers
            .get(ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        for part in accept.split(',') {
            let tag = part
                .split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase();
            if tag.starts_with("zh") {
                return Lang::Zh;
            }
            if tag.starts_with("en") {
                return Lang::En;
            }
        }
        Lang::En
    }

    pub fn parse(s: &str) -> Option<Lang> {
        match s {
            "zh" => Some(Lang::Zh),
            "en" => Some(Lang::En),
            _ => None,
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            Lang::Zh => "zh",
            Lang::En => "en",
        }
    }
}

/// Every string the console shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum K {
    Console,
    SignIn,
    SignOut,
    AdminToken,
    BadToken,
    Today,
    Orders,
    Order,
    Money,
    Catalog,
    Log,
    Status,
    Any,
    From,
    To,
    User,
    OutTradeNo,
    Filter,
    Next,
    Total,
    Paid,
    Refunded,
    PlacedAt,
    NoOrders,
    Lines,
    Product,
    Quantity,
    UnitPrice,
    Payment,
    Transaction,
    Refunds,
    Amount,
    Reason,
    Shipment,
    Settlement,
    Timeline,
    Position,
    Time,
    Event,
    CommandId,
    CorrelationId,
    StateAsOf,
    Refund,
    Ship,
    Cancel,
    LogisticsType,
    TrackingNo,
    ExpressCompany,
    ItemDesc,
    Failed,
    Forbidden,
    Sales,
    SalesPerDay,
    OrdersPerHour,
    OrdersByStatus,
    AwaitingNotify,
    RefundsPending,
    Anomalies,
    ToShip,
    Health,
    LogHead,
    ViewsPosition,
    Lag,
    Problems,
    None,
    RefundThis,
    Reconciliation,
    Day,
    Show,
    Differences,
    Name,
    Price,
    Stock,
    Create,
    AdjustStock,
    Delta,
    Stream,
    After,
    Kind,
    Upload,
    Receipt,
    SettledAt,
    Expires,
    Yuan,
    RecentAdjustments,
    StockAfter,
    ProjectorError,
    Jobs,
    Job,
    StartedAt,
    FinishedAt,
    Outcome,
    LastError,
    NeverRan,
    Running,
    Succeeded,
}

pub fn t(lang: Lang, k: K) -> &'static str {
    match lang {
        Lang::En => en(k),
        Lang::Zh => zh(k),
    }
}

fn en(k: K) -> &'static str {
    match k {
        K::Console => "paylog console",
        K::SignIn => "Sign in",
        K::SignOut => "Sign out",
        K::AdminToken => "Admin token",
        K::BadToken => "That token is not the admin token.",
        K::Today => "Today",
        K::Orders => "Orders",
        K::Order => "Order",
        K::Money => "Money",
        K::Catalog => "Catalog",
        K::Log => "Log",
        K::Status => "Status",
        K::Any => "any",
        K::From => "From",
        K::To => "To",
        K::User => "User",
        K::OutTradeNo => "out_trade_no",
        K::Filter => "Filter",
        K::Next => "Next page",
        K::Total => "Total",
        K::Paid => "Paid",
        K::Refunded => "Refunded",
        K::PlacedAt => "Placed at",
        K::NoOrders => "No orders match.",
        K::Lines => "Lines",
        K::Product => "Product",
        K::Quantity => "Quantity",
        K::UnitPrice => "Unit price",
        K::Payment => "Payment",
        K::Transaction => "Transaction",
        K::Refunds => "Refunds",
        K::Amount => "Amount (fen)",
        K::Reason => "Reason",
        K::Shipment => "Shipment",
        K::Settlement => "Settlement",
        K::Timeline => "Timeline",
        K::Position => "Position",
        K::Time => "Time",
        K::Event => "Event",
        K::CommandId => "Command id",
        K::CorrelationId => "Correlation id",
        K::StateAsOf => "State as of position",
        K::Refund => "Refund",
        K::Ship => "Ship",
        K::Cancel => "Cancel order",
        K::LogisticsType => "Logistics type",
        K::TrackingNo => "Tracking number",
        K::ExpressCompany => "Express company",
        K::ItemDesc => "Items",
        K::Failed => "Failed",
        K::Forbidden => "This form has expired or is not yours: nothing was changed.",
        K::Sales => "Sales",
        K::SalesPerDay => "Sales per day (yuan, last 14 days)",
        K::OrdersPerHour => "Orders per hour (last 24 hours)",
        K::OrdersByStatus => "Orders by status (latest orders)",
        K::AwaitingNotify => "Payments awaiting a notify",
        K::RefundsPending => "Refunds pending or needing attention",
        K::Anomalies => "Anomalous payments",
        K::ToShip => "Orders to ship",
        K::Health => "Reconciler and projector",
        K::LogHead => "Log head",
        K::ViewsPosition => "Views position",
        K::Lag => "Lag (events)",
        K::Problems => "Problems",
        K::None => "none",
        K::RefundThis => "Refund this transaction",
        K::Reconciliation => "Reconciliation with WeChat's bill",
        K::Day => "Day",
        K::Show => "Show",
        K::Differences => "Differences",
        K::Name => "Name",
        K::Price => "Price (fen)",
        K::Stock => "Stock",
        K::Create => "Create",
        K::AdjustStock => "Adjust stock",
        K::Delta => "Change",
        K::Stream => "Stream",
        K::After => "After position",
        K::Kind => "Kind",
        K::Upload => "Upload to WeChat",
        K::Receipt => "Receipt confirmed",
        K::SettledAt => "Settled at",
        K::Expires => "Expires",
        K::Yuan => "yuan",
        K::RecentAdjustments => "Recent stock adjustments",
        K::StockAfter => "Stock after",
        K::ProjectorError => "Projector's last error",
        K::Jobs => "Background jobs",
        K::Job => "Job",
        K::StartedAt => "Last run started",
        K::FinishedAt => "Last run finished",
        K::Outcome => "Outcome",
        K::LastError => "Last error",
        K::NeverRan => "not run yet",
        K::Running => "running",
        K::Succeeded => "ok",
    }
}

fn zh(k: K) -> &'static str {
    match k {
        K::Console => "paylog 控制台",
        K::SignIn => "登录",
        K::SignOut => "退出",
        K::AdminToken => "管理员令牌",
        K::BadToken => "令牌不正确。",
        K::Today => "今日",
        K::Orders => "订单",
        K::Order => "订单",
        K::Money => "资金",
        K::Catalog => "商品",
        K::Log => "日志",
        K::Status => "状态",
        K::Any => "全部",
        K::From => "起始日",
        K::To => "截止日",
        K::User => "用户",
        K::OutTradeNo => "商户订单号",
        K::Filter => "筛选",
        K::Next => "下一页",
        K::Total => "总额",
        K::Paid => "已付",
        K::Refunded => "已退",
        K::PlacedAt => "下单时间",
        K::NoOrders => "没有符合条件的订单。",
        K::Lines => "明细",
        K::Product => "商品",
        K::Quantity => "数量",
        K::UnitPrice => "单价",
        K::Payment => "支付",
        K::Transaction => "微信支付单号",
        K::Refunds => "退款",
        K::Amount => "金额（分）",
        K::Reason => "原因",
        K::Shipment => "发货",
        K::Settlement => "结算",
        K::Timeline => "时间线",
        K::Position => "位置",
        K::Time => "时间",
        K::Event => "事件",
        K::CommandId => "命令 ID",
        K::CorrelationId => "关联 ID",
        K::StateAsOf => "截至该位置的状态",
        K::Refund => "退款",
        K::Ship => "发货",
        K::Cancel => "取消订单",
        K::LogisticsType => "物流方式",
        K::TrackingNo => "运单号",
        K::ExpressCompany => "快递公司",
        K::ItemDesc => "商品描述",
        K::Failed => "失败",
        K::Forbidden => "表单已过期或不属于你：未做任何更改。",
        K::Sales => "销售额",
        K::SalesPerDay => "每日销售额（元，近 14 天）",
        K::OrdersPerHour => "每小时订单数（近 24 小时）",
        K::OrdersByStatus => "各状态订单数（最新订单）",
        K::AwaitingNotify => "等待支付通知",
        K::RefundsPending => "处理中或需关注的退款",
        K::Anomalies => "异常支付",
        K::ToShip => "待发货订单",
        K::Health => "对账与投影",
        K::LogHead => "日志末端",
        K::ViewsPosition => "视图位置",
        K::Lag => "落后（事件数）",
        K::Problems => "问题",
        K::None => "无",
        K::RefundThis => "退回这笔支付",
        K::Reconciliation => "与微信账单对账",
        K::Day => "日期",
        K::Show => "查看",
        K::Differences => "差异",
        K::Name => "名称",
        K::Price => "价格（分）",
        K::Stock => "库存",
        K::Create => "创建",
        K::AdjustStock => "调整库存",
        K::Delta => "变化量",
        K::Stream => "流",
        K::After => "起始位置之后",
        K::Kind => "类型",
        K::Upload => "上传至微信",
        K::Receipt => "确认收货",
        K::SettledAt => "结算时间",
        K::Expires => "过期时间",
        K::Yuan => "元",
        K::RecentAdjustments => "最近的库存调整",
        K::StockAfter => "调整后库存",
        K::ProjectorError => "投影器最近错误",
        K::Jobs => "后台任务",
        K::Job => "任务",
        K::StartedAt => "上次开始",
        K::FinishedAt => "上次结束",
        K::Outcome => "结果",
        K::LastError => "最近错误",
        K::NeverRan => "尚未运行",
        K::Running => "运行中",
        K::Succeeded => "正常",
    }
}
