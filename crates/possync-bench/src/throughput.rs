//! Throughput: the highest total edit rate (5 terminals, open loop: edits
//! issued at their due time without waiting for the previous one) at which
//! edit → visible p99 stays under the bound and (nearly) every edit is seen
//! by every other terminal. Rates double from the start until one fails,
//! then a few bisection steps narrow the bound.

use std::future::Future;

use anyhow::Result;
use serde::Serialize;

use crate::stats::Percentiles;

#[derive(Debug, Clone, Serialize)]
pub struct Step {
    pub edits_per_s: u64,
    pub p99_ms: f64,
    pub delivered: f64,
    pub pass: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct Search {
    /// Highest rate that passed (0 if none did).
    pub best: u64,
    pub steps: Vec<Step>,
}

pub struct Plan {
    pub start: u64,
    pub max: u64,
    pub bisect: usize,
    pub p99_bound_ms: f64,
}

pub async fn search<F, Fut>(plan: &Plan, mut measure: F) -> Result<Search>
where
    F: FnMut(u64) -> Fut,
    Fut: Future<Output = Result<(Percentiles, f64)>>,
{
    let mut steps = Vec::new();
    let mut run = async |rate: u64, steps: &mut Vec<Step>| -> Result<bool> {
        let (p, delivered) = measure(rate).await?;
        let pass = p.p99_ms < plan.p99_bound_ms && delivered >= 0.99;
        eprintln!(
            "  {rate} edits/s: p99 {:.2} ms, delivered {:.3}: {}",
            p.p99_ms,
            delivered,
            if pass { "pass" } else { "fail" }
        );
        steps.push(Step { edits_per_s: rate, p99_ms: p.p99_ms, delivered, pass });
        Ok(pass)
    };
    let (mut best, mut fail) = (0, None);
    let mut rate = plan.start;
    while rate <= plan.max {
        if run(rate, &mut steps).await? {
            best = rate;
            rate *= 2;
        } else {
            fail = Some(rate);
            break;
        }
    }
    if let Some(mut hi) = fail {
        let mut lo = best;
        for _ in 0..plan.bisect {
            let mid = (lo + hi) / 2;
            if mid <= lo || mid >= hi {
                break;
            }
            if run(mid, &mut steps).await? {
                lo = mid;
                best = mid;
            } else {
                hi = mid;
            }
        }
    }
    Ok(Search { best, steps })
}
