//! `report --output html`: the report as one self-contained HTML page with
//! its charts drawn as inline SVG — availability per node, the time to
//! recover of every incident, incidents and notification delivery day by day
//! — to mail, archive or open offline (the runbook's monthly report).
//!
//! Owns: the page's layout and charts (pure: `html`).
//! Must never: load anything from elsewhere (no script, font, style sheet or
//! image by URL), or put unescaped text into the page.

use std::fmt::Write;

use crate::report::ServiceReport;

const GREEN: &str = "#2e7d32";
const AMBER: &str = "#f9a825";
const RED: &str = "#c62828";
const PURPLE: &str = "#8e24aa";
const BLUE: &str = "#1565c0";
const GREY: &str = "#757575";

/// One bar of a chart: its label and its stacked parts (value, colour, what it is).
struct Bar {
    label: String,
    parts: Vec<(f64, &'static str, String)>,
}

pub fn html(r: &ServiceReport) -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>kafka-self-healing report: {c}</title>\
         <style>body{{font:14px/1.4 system-ui,\"DejaVu Sans\",sans-serif;color:#1d2330;margin:24px;max-width:1100px}}\
         h1{{font-size:20px}}h2{{font-size:15px;margin-top:28px}}table{{border-collapse:collapse}}\
         td,th{{text-align:left;padding:3px 10px;border-bottom:1px solid #dde1e8}}th{{color:#5d6677}}\
         .num{{text-align:right}}</style></head><body>\
         <h1>kafka-self-healing report: {c}</h1><p>{from} to {to}</p>",
        c = esc(&r.cluster),
        from = esc(&r.from),
        to = esc(&r.to)
    );
    let opt = |v: Option<f64>, unit: &str| v.map_or("-".to_string(), |v| format!("{v}{unit}"));
    let _ = write!(
        out,
        "<table id=\"summary\"><tr><th>incidents</th><td class=\"num\">{}</td></tr><tr><th>recovered</th><td class=\"num\">{}</td></tr>\
         <tr><th>escalated</th><td class=\"num\">{}</td></tr><tr><th>still open</th><td class=\"num\">{}</td></tr>\
         <tr><th>handed over to another healer</th><td class=\"num\">{}</td></tr>\
         <tr><th>mean time to recover</th><td class=\"num\">{}</td></tr><tr><th>recovery attempts (succeeded)</th><td class=\"num\">{} ({})</td></tr>\
         <tr><th>recovery success rate</th><td class=\"num\">{}</td></tr></table>",
        r.incidents,
        r.recovered,
        r.escalated,
        r.open,
        r.handed_over,
        opt(r.mttr_seconds, " s"),
        r.attempts,
        r.successful_attempts,
        opt(r.recovery_success_rate_percent, " %")
    );

    out.push_str("<h2>Availability per node</h2>");
    out.push_str(&availability(r));
    out.push_str("<h2>Time to recover, per incident</h2>");
    // An open incident has no time to recover yet: it is in the table below.
    let incidents: Vec<Bar> = r
        .incident_list
        .iter()
        .rev()
        .filter(|i| i.duration_seconds.is_some())
        .map(|i| {
            let (colour, what) = match i.state.as_str() {
                "recovered" => (GREEN, "recovered"),
                "escalated" => (PURPLE, "escalated"),
                "handed_over" => (GREY, "handed over"),
                _ => (RED, "open"),
            };
            let secs = i.duration_seconds.unwrap_or(0.0);
            Bar { label: i.node.clone(), parts: vec![(secs, colour, format!("{}: {what} after {secs} s", i.id))] }
        })
        .collect();
    out.push_str(&chart("incidents", &incidents, "s"));
    out.push_str("<h2>Incidents per day, by how they ended</h2>");
    let days: Vec<Bar> = r
        .days
        .iter()
        .map(|d| Bar {
            label: d.day.get(5..).unwrap_or(&d.day).to_string(),
            parts: vec![
                (f64::from(d.recovered), GREEN, format!("{}: {} recovered", d.day, d.recovered)),
                (f64::from(d.escalated), PURPLE, format!("{}: {} escalated", d.day, d.escalated)),
                (f64::from(d.open), RED, format!("{}: {} still open", d.day, d.open)),
                (f64::from(d.handed_over), GREY, format!("{}: {} handed over to another healer", d.day, d.handed_over)),
            ],
        })
        .collect();
    out.push_str(&chart("days", &days, ""));
    out.push_str("<h2>Notifications per day</h2>");
    let sent: Vec<Bar> = r
        .days
        .iter()
        .map(|d| Bar {
            label: d.day.get(5..).unwrap_or(&d.day).to_string(),
            parts: vec![
                (
                    f64::from(d.notifications_delivered),
                    BLUE,
                    format!("{}: {} delivered", d.day, d.notifications_delivered),
                ),
                (
                    f64::from(d.notifications_not_delivered),
                    RED,
                    format!("{}: {} dropped or waiting", d.day, d.notifications_not_delivered),
                ),
            ],
        })
        .collect();
    out.push_str(&chart("notifications", &sent, ""));
    out.push_str("<table><tr><th>channel</th><th class=\"num\">delivered</th><th class=\"num\">dropped</th><th class=\"num\">waiting</th><th class=\"num\">held back</th><th class=\"num\">delivery rate</th></tr>");
    for c in &r.notifications {
        let _ = write!(
            out,
            "<tr><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
            esc(&c.channel),
            c.delivered,
            c.dropped,
            c.waiting,
            c.held_back,
            opt(c.delivery_rate_percent, " %")
        );
    }
    out.push_str("</table><h2>Incidents</h2><table><tr><th>opened</th><th>node</th><th>state</th><th class=\"num\">duration</th><th class=\"num\">attempts</th><th>cause</th><th>id</th></tr>");
    for i in &r.incident_list {
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td>{}</td><td>{}</td></tr>",
            esc(&i.opened_at),
            esc(&i.node),
            esc(&i.state),
            opt(i.duration_seconds, " s"),
            i.attempts,
            esc(i.cause.as_deref().unwrap_or("-")),
            esc(&i.id)
        );
    }
    out.push_str("</table></body></html>\n");
    out
}

/// Horizontal bars, one per node: its availability, coloured by how close to 100 % it is.
fn availability(r: &ServiceReport) -> String {
    let (width, row, label) = (1000.0, 22.0, 200.0);
    let height = row * r.nodes.len().max(1) as f64 + 4.0;
    let mut svg = format!(
        "<svg id=\"availability\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" font-size=\"12\" font-family=\"sans-serif\">"
    );
    for (i, n) in r.nodes.iter().enumerate() {
        let y = row * i as f64;
        let colour = match n.availability_percent {
            a if a >= 99.9 => GREEN,
            a if a >= 99.0 => AMBER,
            _ => RED,
        };
        let w = (width - label - 190.0) * n.availability_percent.clamp(0.0, 100.0) / 100.0;
        let _ = write!(
            svg,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>\
             <rect x=\"{label}\" y=\"{y:.1}\" width=\"{w:.1}\" height=\"{:.1}\" fill=\"{colour}\"><title>{}: {} % ({} s down, {} incident(s))</title></rect>\
             <text x=\"{:.1}\" y=\"{:.1}\">{} %{}</text>",
            label - 8.0,
            y + 14.0,
            esc(&n.node),
            row - 6.0,
            esc(&n.node),
            n.availability_percent,
            n.downtime_seconds,
            n.incidents,
            label + w + 6.0,
            y + 14.0,
            n.availability_percent,
            if n.downtime_seconds > 0.0 { format!(" ({} s down)", n.downtime_seconds) } else { String::new() }
        );
    }
    svg.push_str("</svg>");
    svg
}

/// Vertical stacked bars, the tallest at full height, with its value on the axis.
fn chart(id: &str, bars: &[Bar], unit: &str) -> String {
    let (width, height, axis) = (1000.0, 180.0, 40.0);
    if bars.is_empty() {
        return format!("<p id=\"{id}\">None in this period.</p>");
    }
    let top = bars.iter().map(|b| b.parts.iter().map(|p| p.0).sum::<f64>()).fold(0.0, f64::max).max(1.0);
    let slot = (width - axis) / bars.len() as f64;
    let bar = (slot * 0.7).clamp(1.0, 40.0);
    let mut svg = format!(
        "<svg id=\"{id}\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{:.1}\" font-size=\"11\" font-family=\"sans-serif\">\
         <text x=\"0\" y=\"12\">{top}{unit}</text><text x=\"0\" y=\"{height}\">0</text>\
         <line x1=\"{axis}\" y1=\"{height}\" x2=\"{width}\" y2=\"{height}\" stroke=\"#5d6677\"/>",
        height + 16.0
    );
    for (i, b) in bars.iter().enumerate() {
        let x = axis + slot * i as f64 + (slot - bar) / 2.0;
        let mut y = height;
        for (value, colour, what) in b.parts.iter().filter(|p| p.0 > 0.0) {
            let h = (height - 16.0) * value / top;
            y -= h;
            let _ = write!(
                svg,
                "<rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{bar:.1}\" height=\"{h:.1}\" fill=\"{colour}\"><title>{}</title></rect>",
                esc(what)
            );
        }
        if bars.len() <= 40 {
            let _ = write!(
                svg,
                "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
                x + bar / 2.0,
                height + 13.0,
                esc(&b.label)
            );
        }
    }
    svg.push_str("</svg>");
    svg
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{DayFigures, IncidentLine, NodeFigures};

    #[test]
    fn the_page_draws_every_chart_and_escapes_every_name() {
        let r = ServiceReport {
            cluster: "c<1>".into(),
            from: "2026-11-01T00:00:00Z".into(),
            to: "2026-12-01T00:00:00Z".into(),
            period_seconds: 2_592_000.0,
            nodes: vec![
                NodeFigures {
                    node: "b1".into(),
                    role: "kafka_broker".into(),
                    incidents: 0,
                    downtime_seconds: 0.0,
                    availability_percent: 100.0,
                },
                NodeFigures {
                    node: "b2".into(),
                    role: "kafka_broker".into(),
                    incidents: 1,
                    downtime_seconds: 86_400.0,
                    availability_percent: 96.667,
                },
            ],
            incidents: 1,
            recovered: 0,
            escalated: 1,
            open: 0,
            handed_over: 0,
            mttr_seconds: None,
            attempts: 3,
            successful_attempts: 0,
            recovery_success_rate_percent: Some(0.0),
            notifications: Vec::new(),
            incident_list: vec![IncidentLine {
                id: "inc-1".into(),
                node: "b2".into(),
                opened_at: "2026-11-20T10:00:00Z".into(),
                state: "escalated".into(),
                duration_seconds: Some(120.0),
                attempts: 3,
                cause: Some("connection_refused".into()),
            }],
            days: vec![DayFigures {
                day: "2026-11-20".into(),
                recovered: 0,
                escalated: 1,
                open: 0,
                handed_over: 0,
                notifications_delivered: 2,
                notifications_not_delivered: 1,
            }],
        };
        let page = html(&r);
        assert!(page.contains("report: c&lt;1&gt;") && !page.contains("c<1>"), "{page}");
        assert!(page.contains(&format!("fill=\"{RED}\"><title>b2: 96.667 %")), "below 99 % is red: {page}");
        assert!(page.contains(&format!("fill=\"{GREEN}\"><title>b1: 100 %")), "{page}");
        assert!(page.contains(&format!("fill=\"{PURPLE}\"><title>inc-1: escalated after 120 s")), "{page}");
        assert!(
            page.contains("2026-11-20: 2 delivered") && page.contains("2026-11-20: 1 dropped or waiting"),
            "{page}"
        );
        assert!(!page.contains("src=") && !page.contains("href=") && !page.contains("<script"), "{page}");
    }
}
