//! The second opinion: whether the other healers see a node failed too.
//!
//! Owns: the rule of `ha.confirm_from` — the leader acts on a node only
//! when that many other healers that are up also see it failed (fewer are
//! needed when fewer are up; none up, it acts alone and says so).
//! Must never: read the backend (the caller passes what each healer
//! published), or let one healer's "serving" be outvoted by silence.

use serde::Serialize;

/// What another healer published about a node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Opinion {
    pub instance: String,
    /// Its watcher's state for the node (`healthy`, `degraded`, `failed`,
    /// `unknown`); `None` when it has not published one.
    pub state: Option<String>,
}

/// The decision, as it goes into the audit record of the attempt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SecondOpinion {
    /// The leader may act.
    pub confirmed: bool,
    /// No other healer is up: the leader acts on its own view.
    pub alone: bool,
    /// How many others had to agree.
    pub needed: usize,
    /// Healers that see the node failed too.
    pub agree: Vec<String>,
    /// Healers that see it serving.
    pub disagree: Vec<String>,
    /// Healers up with no verdict for it yet.
    pub silent: Vec<String>,
}

impl SecondOpinion {
    /// Why the leader does not act, for the refusal.
    pub fn refusal(&self, node: &str) -> String {
        let mut why = format!(
            "{} of the other healers see {node} failed, {} must (ha.confirm_from)",
            self.agree.len(),
            self.needed
        );
        if !self.disagree.is_empty() {
            why.push_str(&format!("; {} see it serving: this healer's own view is suspect", self.disagree.join(", ")));
        }
        if !self.silent.is_empty() {
            why.push_str(&format!("; {} have no verdict yet", self.silent.join(", ")));
        }
        why
    }
}

/// `required` other healers must agree; `others` are the healers that are up.
pub fn decide(required: u32, others: &[Opinion]) -> SecondOpinion {
    let (mut agree, mut disagree, mut silent) = (Vec::new(), Vec::new(), Vec::new());
    for o in others {
        match o.state.as_deref() {
            Some("failed") => agree.push(o.instance.clone()),
            Some("healthy" | "degraded") => disagree.push(o.instance.clone()),
            _ => silent.push(o.instance.clone()),
        }
    }
    let needed = (required as usize).min(others.len());
    let alone = required > 0 && others.is_empty();
    // Anyone who sees it serving vetoes: a healer whose own network is half
    // cut must not restart a broker the others can reach.
    let confirmed = required == 0 || (agree.len() >= needed && disagree.is_empty());
    SecondOpinion { confirmed, alone, needed, agree, disagree, silent }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn o(instance: &str, state: Option<&str>) -> Opinion {
        Opinion { instance: instance.into(), state: state.map(str::to_string) }
    }

    #[test]
    fn one_other_healer_that_sees_it_failed_confirms() {
        let d = decide(1, &[o("b", Some("failed"))]);
        assert!(d.confirmed && !d.alone);
        assert_eq!(d.agree, ["b"]);
    }

    #[test]
    fn a_healer_that_sees_it_serving_vetoes_even_when_enough_agree() {
        let d = decide(1, &[o("b", Some("failed")), o("c", Some("healthy"))]);
        assert!(!d.confirmed);
        assert!(d.refusal("broker-2").contains("c see it serving"), "{}", d.refusal("broker-2"));
    }

    #[test]
    fn silence_is_not_agreement() {
        let d = decide(1, &[o("b", None)]);
        assert!(!d.confirmed);
        assert!(d.refusal("broker-2").contains("b have no verdict yet"));
        assert!(!decide(1, &[o("b", Some("unknown"))]).confirmed);
    }

    #[test]
    fn alone_the_leader_acts_and_says_so() {
        let d = decide(2, &[]);
        assert!(d.confirmed && d.alone);
        assert_eq!(d.needed, 0);
    }

    #[test]
    fn fewer_up_than_required_need_all_of_them() {
        assert!(decide(2, &[o("b", Some("failed"))]).confirmed);
        assert!(!decide(2, &[o("b", Some("failed")), o("c", None)]).confirmed);
    }

    #[test]
    fn zero_turns_it_off() {
        let d = decide(0, &[o("b", None), o("c", Some("healthy"))]);
        assert!(d.confirmed && !d.alone);
    }
}
