//! `GET /api/orders/{id}/receipt`: the order as a printable HTML receipt:
//! lines, total, payments with tendered amount, change and tip, refunds
//! with their reason, the terminal and the cashier. Every text from the
//! order is escaped: names and notes come from any terminal.

use std::fmt::Write;

use axum::extract::{Path, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use possync::model::{Money, OrderState, OrderView, ReviewFlag};

use super::orders::{parse_order_id, visible};
use super::{ApiError, AppState};

pub async fn receipt(State(state): State<AppState>, Path(id): Path<String>) -> Result<Response, ApiError> {
    let id = parse_order_id(&id)?;
    let view = visible(&state, &id).await?;
    // A refund order names the order it refunds by its name, when known here.
    let original = match &view.refund_of {
        Some(o) => state.node.order(o).await?.map(|v| v.name.as_str().to_owned()),
        None => None,
    };
    let html = render(&view, original.as_deref(), state.node.terminal().as_str());
    let content_type = HeaderValue::from_static("text/html; charset=utf-8");
    Ok(([(header::CONTENT_TYPE, content_type)], html).into_response())
}

fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// `2026-12-03 11:05` (UTC) from milliseconds since the epoch; no date
/// library for one line of a receipt.
fn date(at_ms: i64) -> String {
    let secs = at_ms.div_euclid(1000);
    let (days, rest) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02} {:02}:{:02} UTC", rest / 3600, rest % 3600 / 60)
}

fn row(out: &mut String, label: &str, amount: Money, class: &str) {
    let _ = write!(out, "<tr class=\"{class}\"><td>{}</td><td class=\"num\">{amount}</td></tr>", esc(label));
}

pub(crate) fn render(v: &OrderView, original_name: Option<&str>, printed_on: &str) -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Receipt {name}</title>\
         <style>{STYLE}</style></head><body><main class=\"receipt\">\
         <h1>Receipt</h1><p class=\"name\">{name}</p>",
        name = esc(v.name.as_str()),
    );
    if let Some(original) = &v.refund_of {
        let name = original_name.unwrap_or(original.as_str());
        let _ = write!(out, "<p class=\"refund\">Refund of {}</p>", esc(name));
    }
    let _ = write!(
        out,
        "<p class=\"meta\">{date}<br>Terminal {terminal} · opened by {user}{table}</p>",
        date = date(v.created.at_ms),
        terminal = esc(v.created.terminal.as_str()),
        user = esc(&v.created.user),
        table = v.table.as_deref().map(|t| format!(" · table {}", esc(t))).unwrap_or_default(),
    );
    out.push_str("<table class=\"lines\">");
    for l in v.active_lines() {
        let _ = write!(
            out,
            "<tr><td>{qty} × {name}{discount}</td><td class=\"num\">{total}</td></tr>",
            qty = l.qty,
            name = esc(&l.display_name),
            discount = if l.discount.0 > 0 {
                format!(" <small>−{}.{:02} %</small>", l.discount.0 / 100, l.discount.0 % 100)
            } else {
                String::new()
            },
            total = l.total,
        );
    }
    row(&mut out, "Total", v.totals.total, "total");
    out.push_str("</table><table class=\"payments\">");
    let mut cashiers: Vec<String> = Vec::new();
    for p in &v.payments {
        let who = format!("{} on {}", p.by.user, p.by.terminal);
        if p.is_refund() {
            let reason = p.reason.as_deref().map(|r| format!(" ({r})")).unwrap_or_default();
            row(&mut out, &format!("Refund, {}{reason}", p.method), p.amount, "refund");
        } else {
            match p.tendered {
                Some(t) if t != p.amount => row(&mut out, &format!("{} tendered", p.method), t, "pay"),
                _ => row(&mut out, &p.method, p.amount, "pay"),
            }
            if p.change.0 > 0 {
                row(&mut out, "Change", p.change, "change");
            }
            if p.tip.0 > 0 {
                row(&mut out, "Tip", p.tip, "tip");
            }
        }
        if !cashiers.contains(&who) {
            cashiers.push(who);
        }
    }
    row(&mut out, "Paid", v.totals.paid, "paid");
    if v.totals.due.0 != 0 {
        let label = if v.totals.due.0 > 0 { "Due" } else { "To give back" };
        row(&mut out, label, Money(v.totals.due.0.abs()), "due");
    }
    out.push_str("</table>");
    if !cashiers.is_empty() {
        let _ = write!(out, "<p class=\"meta\">Cashier: {}</p>", esc(&cashiers.join(", ")));
    }
    let state = match v.state {
        OrderState::Open => "Open",
        OrderState::Paid => "Paid",
        OrderState::Cancelled => "Cancelled",
    };
    let flagged = if v.review.iter().any(|f| matches!(f, ReviewFlag::Overpaid { .. })) {
        " · flagged for review: paid too much"
    } else if !v.review.is_empty() {
        " · flagged for review"
    } else {
        ""
    };
    let _ = write!(
        out,
        "<p class=\"state\">{state}{flagged}</p><p class=\"meta\">Printed on {}</p>\
         <button class=\"noprint\" onclick=\"window.print()\">Print</button></main></body></html>",
        esc(printed_on)
    );
    out
}

const STYLE: &str = "body{font:14px/1.4 ui-monospace,monospace;background:#eee;margin:0;padding:16px}\
.receipt{background:#fff;max-width:320px;margin:0 auto;padding:16px 20px;box-shadow:0 1px 4px #0003}\
h1{font-size:18px;text-align:center;margin:0}.name{text-align:center;font-weight:bold;margin:4px 0}\
.meta{color:#555;font-size:12px;text-align:center}.refund{text-align:center;color:#a40}\
table{width:100%;border-collapse:collapse;margin:8px 0;border-top:1px dashed #999}td{padding:2px 0}\
.num{text-align:right;white-space:nowrap}.total td,.paid td{font-weight:bold;border-top:1px dashed #999}\
.change td,.tip td{color:#555}.refund td{color:#a40}.due td{font-weight:bold}\
.state{text-align:center;font-weight:bold}button{display:block;margin:12px auto;font:inherit;padding:6px 16px}\
@media print{body{background:#fff;padding:0}.receipt{box-shadow:none}.noprint{display:none}}";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_utc_civil_dates() {
        assert_eq!(date(0), "1970-01-01 00:00 UTC");
        assert_eq!(date(1_767_225_600_000), "2026-01-01 00:00 UTC");
        assert_eq!(date(951_782_400_000 + 3_723_000), "2000-02-29 01:02 UTC");
    }

    #[test]
    fn text_is_escaped() {
        assert_eq!(esc("<b>\"x\" & 'y'</b>"), "&lt;b&gt;&quot;x&quot; &amp; &#39;y&#39;&lt;/b&gt;");
    }
}
