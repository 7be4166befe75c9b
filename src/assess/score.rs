//! Readiness scores: one number from 0 to 100 per area, from the findings' severities, per
//! service, normalised. The formula (README, "stackfix report"):
//!
//! - a finding weighs 1 (error), 0.5 (warning) or 0.2 (info), counted in tenths;
//! - each unit (every service that runs in production, and in an area where a finding of no
//!   service is, the stack itself) has a penalty per area: the sum of its findings' weights
//!   there, at most 1 (one error, two warnings or five infos make a unit fail the area);
//! - an area's score is `round(100 × (1 − Σ penalties / units))`, halves rounded up (100 with no
//!   unit);
//! - the overall score is the rounded mean of the seven area scores (halves up).
//!
//! A stack with no findings scores 100 everywhere; a finding moves only its own area's score.

use std::collections::HashMap;

use crate::rules::{Area, Severity};

/// Every area, in the order reports show them.
pub const AREAS: [Area; 7] = [
    Area::Resources,
    Area::Health,
    Area::Security,
    Area::DataProtection,
    Area::Observability,
    Area::Edge,
    Area::Deployment,
];

/// What a finding weighs in its unit's penalty, in tenths (integers: the sums do not depend on
/// the order they are added in).
pub fn weight(severity: Severity) -> u64 {
    match severity {
        Severity::Error => 10,
        Severity::Warning => 5,
        Severity::Info => 2,
    }
}

/// A unit's most penalty in an area, in tenths.
const FULL: u64 = 10;

/// One finding as the formula sees it: its area, severity and unit (`None`: the stack itself).
#[derive(Debug, Clone, Copy)]
pub struct Scored<'a> {
    pub area: Area,
    pub severity: Severity,
    pub service: Option<&'a str>,
}

/// The score (0–100) of each of [`AREAS`], in that order, and the overall score, for a stack of
/// `services` services with `findings` (the stack itself is one unit more in an area where a
/// finding of no service is). Halves round up.
pub fn scores<'a>(services: usize, findings: impl IntoIterator<Item = Scored<'a>>) -> ([u32; 7], u32) {
    let mut penalties: HashMap<(Area, Option<&str>), u64> = HashMap::new();
    for f in findings {
        *penalties.entry((f.area, f.service)).or_default() += weight(f.severity);
    }
    let mut per_area = [0u32; 7];
    for (i, area) in AREAS.iter().enumerate() {
        let lost: u64 = penalties.iter().filter(|((a, _), _)| a == area).map(|(_, p)| (*p).min(FULL)).sum();
        let stack_unit = penalties.contains_key(&(*area, None));
        let whole = FULL * (services as u64 + u64::from(stack_unit));
        if whole == 0 {
            per_area[i] = 100;
            continue;
        }
        // round(100 × (whole − lost) / whole), in integers.
        per_area[i] = ((200 * (whole - lost.min(whole)) + whole) / (2 * whole)) as u32;
    }
    let total: u32 = per_area.iter().sum();
    let overall = (2 * total + AREAS.len() as u32) / (2 * AREAS.len() as u32);
    (per_area, overall)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(area: Area, severity: Severity, service: Option<&str>) -> Scored<'_> {
        Scored { area, severity, service }
    }

    #[test]
    fn no_findings_score_100_everywhere() {
        assert_eq!(scores(0, []), ([100; 7], 100));
        assert_eq!(scores(12, []), ([100; 7], 100));
    }

    #[test]
    fn a_finding_moves_only_its_area() {
        for (i, area) in AREAS.iter().enumerate() {
            let (per_area, overall) = scores(3, [f(*area, Severity::Warning, Some("api"))]);
            for (j, score) in per_area.iter().enumerate() {
                // 3 units, one at half penalty: 100 × (1 − 0.5/3).
                assert_eq!(*score, if i == j { 83 } else { 100 }, "{area:?}");
            }
            // (83 + 600) / 7 = 97.6.
            assert_eq!(overall, 98);
        }
    }

    #[test]
    fn a_unit_loses_at_most_its_share() {
        // One service with ten errors in an area loses what one error loses: 1 of 2 units.
        let many: Vec<_> = (0..10).map(|_| f(Area::Security, Severity::Error, Some("db"))).collect();
        assert_eq!(scores(2, many).0[2], 50);
        assert_eq!(scores(2, [f(Area::Security, Severity::Error, Some("db"))]).0[2], 50);
        // A single service that fails an area scores 0 there.
        assert_eq!(scores(1, [f(Area::Security, Severity::Error, Some("db"))]).0[2], 0);
        // Every unit failing: 0.
        let all = [f(Area::Health, Severity::Error, Some("a")), f(Area::Health, Severity::Error, None)];
        assert_eq!(scores(1, all).0[1], 0);
    }

    #[test]
    fn severities_weigh_differently() {
        let one = |s| scores(2, [f(Area::Edge, s, Some("web"))]).0[5];
        assert_eq!((one(Severity::Error), one(Severity::Warning), one(Severity::Info)), (50, 75, 90));
        // Five infos are one error.
        let infos: Vec<_> = (0..5).map(|_| f(Area::Edge, Severity::Info, Some("web"))).collect();
        assert_eq!(scores(2, infos).0[5], 50);
    }

    #[test]
    fn stack_level_findings_are_their_own_unit() {
        // No service at all: the stack is the only unit.
        assert_eq!(scores(0, [f(Area::Observability, Severity::Error, None)]).0[4], 0);
        assert_eq!(scores(3, [f(Area::Observability, Severity::Warning, None)]).0[4], 88);
        // Only where such a finding is: elsewhere the services are all the units.
        let (per_area, _) =
            scores(3, [f(Area::Observability, Severity::Warning, None), f(Area::Edge, Severity::Warning, Some("a"))]);
        assert_eq!((per_area[4], per_area[5]), (88, 83));
    }
}
