//! The calendar words of blackout periods, parsed once at load: a time of
//! day written `HH:MM`, and a day of the week (`mon`, `Monday`, …).

use std::fmt;

use super::decode::{Ctx, Decode};
use super::yaml::Node;

/// A time of day, to the minute (24-hour clock).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct TimeOfDay {
    /// Minutes since midnight, below 1440.
    pub minute: u32,
}

impl TimeOfDay {
    /// `HH:MM`: hours below 24, minutes below 60.
    pub fn parse(text: &str) -> Option<TimeOfDay> {
        let (h, m) = text.split_once(':')?;
        let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
        (h < 24 && m < 60 && text.len() <= 5).then_some(TimeOfDay { minute: h * 60 + m })
    }
}

impl fmt::Display for TimeOfDay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02}:{:02}", self.minute / 60, self.minute % 60)
    }
}

impl serde::Serialize for TimeOfDay {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl Decode for TimeOfDay {
    fn decode(node: &Node, cx: &mut Ctx) -> Option<Self> {
        let text = String::decode(node, cx)?;
        if let Some(t) = TimeOfDay::parse(&text) {
            return Some(t);
        }
        let path = cx.path();
        cx.error(
            node.mark,
            format!("`{path}` must be a time as HH:MM (24-hour), found `{text}`"),
            "e.g. \"02:00\" (quote it: YAML reads 02:00 as a number in some parsers)",
        );
        None
    }
}

/// A day of the week.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Weekday {
    Mon,
    Tue,
    Wed,
    Thu,
    Fri,
    Sat,
    Sun,
}

const DAYS: [(&str, Weekday); 7] = [
    ("mon", Weekday::Mon),
    ("tue", Weekday::Tue),
    ("wed", Weekday::Wed),
    ("thu", Weekday::Thu),
    ("fri", Weekday::Fri),
    ("sat", Weekday::Sat),
    ("sun", Weekday::Sun),
];

impl Weekday {
    /// `mon`, `Mon`, `monday`, `Monday`, …
    pub fn parse(day: &str) -> Option<Weekday> {
        let lower = day.to_ascii_lowercase();
        DAYS.iter().find_map(|(d, w)| {
            let names_it = lower.len() >= 3
                && lower.starts_with(d)
                && (lower.len() == 3 || format!("{d}day").starts_with(&lower) || lower.ends_with("day"));
            names_it.then_some(*w)
        })
    }

    /// 0 for Monday … 6 for Sunday.
    pub fn index(self) -> usize {
        self as usize
    }
}

impl serde::Serialize for Weekday {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(DAYS[self.index()].0)
    }
}

impl Decode for Weekday {
    fn decode(node: &Node, cx: &mut Ctx) -> Option<Self> {
        let text = String::decode(node, cx)?;
        if let Some(d) = Weekday::parse(&text) {
            return Some(d);
        }
        cx.error(node.mark, format!("`{text}` is not a day of the week"), "write mon, tue, wed, thu, fri, sat or sun");
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_and_days() {
        assert_eq!(TimeOfDay::parse("02:00"), Some(TimeOfDay { minute: 120 }));
        assert_eq!(TimeOfDay::parse("23:59").map(|t| t.to_string()).as_deref(), Some("23:59"));
        assert_eq!(TimeOfDay::parse("24:00"), None);
        assert_eq!(TimeOfDay::parse("7"), None);
        assert_eq!(Weekday::parse("sun"), Some(Weekday::Sun));
        assert_eq!(Weekday::parse("Sunday"), Some(Weekday::Sun));
        assert_eq!(Weekday::parse("wednesday").map(Weekday::index), Some(2));
        assert_eq!(Weekday::parse("funday"), None);
    }
}
