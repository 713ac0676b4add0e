//! A picture of the last hours: one row per node, its incidents on a time
//! axis, as a self-contained SVG (no script, no font or style from anywhere
//! else) — for the status page and for anyone who opens it directly.
//!
//! Owns: the layout and colours of that picture (pure: `svg`).
//! Must never: read the store or the clock itself (the caller gives both),
//! or put unescaped text into the document.

use std::fmt::Write;

/// One incident as drawn: from its opening to its close (or now).
#[derive(Debug, Clone, PartialEq)]
pub struct Span {
    pub node: String,
    pub id: String,
    pub opened_at: i64,
    /// `None`: still open.
    pub closed_at: Option<i64>,
    /// It ended in an escalation (people were called), not a recovery.
    pub escalated: bool,
    pub cause: String,
}

/// A watched node with no incident.
pub const WATCHED: &str = "#66bb6a";
/// Down: an incident from its opening to its recovery (or now).
pub const INCIDENT: &str = "#e53935";
/// An incident that ended in an escalation.
pub const ESCALATED: &str = "#8e24aa";
/// Before this daemon started: nothing seen.
pub const UNWATCHED: &str = "#e0e0e0";

const WIDTH: f64 = 1200.0;
const LABEL: f64 = 170.0;
const ROW: f64 = 22.0;
const TOP: f64 = 24.0;

/// The picture of `nodes` from `from` to `to` (epoch millis), watched since
/// `watched_since`, with `spans` (any that overlap the window).
pub fn svg(nodes: &[String], spans: &[Span], watched_since: i64, from: i64, to: i64) -> String {
    let to = to.max(from + 1);
    let plot = WIDTH - LABEL - 10.0;
    let x = |t: i64| LABEL + plot * ((t.clamp(from, to) - from) as f64 / (to - from) as f64);
    let height = TOP + ROW * nodes.len().max(1) as f64 + 8.0;
    let mut out = String::new();
    let _ = write!(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{height}\" viewBox=\"0 0 {WIDTH} {height}\" \
         font-family=\"sans-serif\" font-size=\"12\" role=\"img\" aria-label=\"incidents per node\">\
         <title>Incidents per node, {} to {} (UTC)</title>",
        clock(from),
        clock(to)
    );
    // Hour ticks: every 3 hours over a day, scaled for other windows.
    let hours = ((to - from) as f64 / 3_600_000.0).max(1.0);
    let step_h = [1.0, 3.0, 6.0, 12.0, 24.0].into_iter().find(|s| hours / s <= 9.0).unwrap_or(24.0);
    let step = (step_h * 3_600_000.0) as i64;
    let mut tick = from - from.rem_euclid(step) + step;
    while tick < to {
        let tx = x(tick);
        let _ = write!(
            out,
            "<line x1=\"{tx:.1}\" y1=\"{}\" x2=\"{tx:.1}\" y2=\"{:.1}\" stroke=\"#c0c4cc\" stroke-width=\"1\"/>\
             <text x=\"{tx:.1}\" y=\"14\" text-anchor=\"middle\" fill=\"#5d6677\">{}</text>",
            TOP - 4.0,
            height - 6.0,
            clock_hm(tick)
        );
        tick += step;
    }
    if nodes.is_empty() {
        let _ = write!(out, "<text x=\"{LABEL}\" y=\"{}\" fill=\"#5d6677\">no nodes</text>", TOP + 15.0);
    }
    for (row, node) in nodes.iter().enumerate() {
        let y = TOP + ROW * row as f64;
        let bar = ROW - 6.0;
        let _ = write!(
            out,
            "<text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\" fill=\"#1d2330\">{}</text>",
            LABEL - 8.0,
            y + bar - 3.0,
            escape(node)
        );
        let seen = watched_since.clamp(from, to);
        if seen > from {
            let _ = write!(
                out,
                "<rect x=\"{:.1}\" y=\"{y:.1}\" width=\"{:.1}\" height=\"{bar}\" fill=\"{UNWATCHED}\"><title>not watched (before this daemon started)</title></rect>",
                x(from),
                x(seen) - x(from)
            );
        }
        let _ = write!(
            out,
            "<rect x=\"{:.1}\" y=\"{y:.1}\" width=\"{:.1}\" height=\"{bar}\" fill=\"{WATCHED}\"/>",
            x(seen),
            (x(to) - x(seen)).max(0.0)
        );
        for s in spans.iter().filter(|s| &s.node == node) {
            let end = s.closed_at.unwrap_or(to);
            if end < from || s.opened_at > to {
                continue;
            }
            let (x0, x1) = (x(s.opened_at), x(end));
            let colour = if s.escalated { ESCALATED } else { INCIDENT };
            let state = match (s.closed_at, s.escalated) {
                (None, _) => "open".to_string(),
                (Some(c), true) => format!("escalated at {}", clock(c)),
                (Some(c), false) => format!("recovered at {}", clock(c)),
            };
            // At least two pixels: a short incident is still seen.
            let _ = write!(
                out,
                "<rect class=\"incident\" data-node=\"{}\" x=\"{x0:.1}\" y=\"{y:.1}\" width=\"{:.1}\" height=\"{bar}\" fill=\"{colour}\">\
                 <title>{}: {} from {}, {state}</title></rect>",
                escape(node),
                (x1 - x0).max(2.0),
                escape(&s.id),
                escape(&s.cause),
                clock(s.opened_at)
            );
        }
    }
    out.push_str("</svg>\n");
    out
}

/// `2026-12-01 14:05:09` (UTC).
fn clock(ms: i64) -> String {
    let t = crate::audit::rfc3339(crate::store::from_millis(ms.max(0)));
    t.get(..19).unwrap_or(&t).replace('T', " ")
}

/// `14:00` (UTC).
fn clock_hm(ms: i64) -> String {
    let c = clock(ms);
    c.get(11..16).unwrap_or(&c).to_string()
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: i64 = 3_600_000;

    #[test]
    fn incidents_are_drawn_where_and_as_they_happened() {
        let from = 1_800_000_000_000 - 1_800_000_000_000 % H;
        let to = from + 24 * H;
        let span = |node: &str, id: &str, o: i64, c: Option<i64>, escalated| Span {
            node: node.into(),
            id: id.into(),
            opened_at: o,
            closed_at: c,
            escalated,
            cause: "connection_refused".into(),
        };
        let nodes = vec!["b1".to_string(), "b<2>".to_string()];
        let spans = vec![
            span("b1", "inc-1", from + 6 * H, Some(from + 7 * H), false),
            span("b1", "inc-2", from + 20 * H, None, false),
            span("b<2>", "inc-3", from - 2 * H, Some(from + H), true),
            span("b1", "inc-old", from - 9 * H, Some(from - 8 * H), false),
        ];
        let svg = svg(&nodes, &spans, from + 2 * H, from, to);
        assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""), "{svg}");
        assert!(!svg.contains("<script") && !svg.contains("href"), "self-contained: {svg}");
        // Escaped, never raw.
        assert!(svg.contains("b&lt;2&gt;") && !svg.contains("b<2>"), "{svg}");
        // Three incidents in the window (the old one is not), each with its colour and words.
        assert_eq!(svg.matches("class=\"incident\"").count(), 3, "{svg}");
        assert!(svg.contains(&format!("fill=\"{ESCALATED}\"><title>inc-3")), "{svg}");
        assert!(svg.contains("inc-2: connection_refused from") && svg.contains(", open</title>"), "{svg}");
        assert!(svg.contains("recovered at") && svg.contains("escalated at"), "{svg}");
        // The first incident starts a quarter of the way along the plot.
        let plot = WIDTH - LABEL - 10.0;
        assert!(svg.contains(&format!("x=\"{:.1}\"", LABEL + plot * 0.25)), "{svg}");
        // Before the daemon started: not watched.
        assert_eq!(svg.matches(&format!("fill=\"{UNWATCHED}\"")).count(), 2, "{svg}");
        // Ticks every three hours, labelled by the clock.
        assert!(svg.contains(">03:00</text>") && svg.contains(">21:00</text>"), "{svg}");
        assert_eq!(super::svg(&[], &[], from, from, to).matches("no nodes").count(), 1);
    }
}
