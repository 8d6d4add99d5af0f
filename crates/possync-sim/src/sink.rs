//! [`SimSink`]: a simulated back office. It keeps one row per order id (an
//! upsert, as the real sinks do), counts every delivery it received and the
//! repeated ones, and misbehaves as told: refuses, never answers (the
//! attempt times out), applies but loses its answer, answers twice, or is
//! down altogether.

use std::collections::BTreeMap;
use std::time::Duration;

use possync_model::{OrderId, SinkName};

/// How a simulated sink misbehaves. Probabilities are per request.
#[derive(Clone, Debug)]
pub struct SinkFaults {
    pub latency_min: Duration,
    pub latency_max: Duration,
    /// Answers with an error, applies nothing.
    pub fail: f64,
    /// Neither applies nor answers: the attempt times out.
    pub no_answer: f64,
    /// Applies, but the answer is lost.
    pub lose_answer: f64,
    /// Applies and answers twice.
    pub answer_twice: f64,
    /// Down: every request fails ("connection refused").
    pub down: bool,
}

impl SinkFaults {
    /// A sink that always works.
    pub fn reliable() -> Self {
        SinkFaults {
            latency_min: Duration::from_millis(1),
            latency_max: Duration::from_millis(20),
            fail: 0.0,
            no_answer: 0.0,
            lose_answer: 0.0,
            answer_twice: 0.0,
            down: false,
        }
    }
}

/// One order as the back office holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SinkRow {
    /// The content digest of the order it was given last.
    pub digest: String,
    pub total: i64,
    pub paid: i64,
    /// The terminal whose delivery wrote it last.
    pub from: String,
}

#[derive(Debug)]
pub struct SimSink {
    pub name: SinkName,
    pub faults: SinkFaults,
    pub rows: BTreeMap<OrderId, SinkRow>,
    /// Requests that reached the sink and were applied.
    pub received: u64,
    /// Of those, deliveries of an order it already held with that content:
    /// at-least-once at work; the upsert makes them change nothing.
    pub duplicates: u64,
    /// Deliveries that replaced a row with other content (an order that
    /// changed after its delivery).
    pub updates: u64,
}

impl SimSink {
    pub fn new(name: &str, faults: SinkFaults) -> Self {
        SimSink {
            name: SinkName::parse(name).expect("simulated sink names are valid"),
            faults,
            rows: BTreeMap::new(),
            received: 0,
            duplicates: 0,
            updates: 0,
        }
    }

    /// Upserts one order; returns its reference.
    pub(crate) fn apply(&mut self, order: &OrderId, row: SinkRow) -> String {
        self.received += 1;
        match self.rows.get(order) {
            Some(old) if old.digest == row.digest => self.duplicates += 1,
            Some(_) => self.updates += 1,
            None => {}
        }
        self.rows.insert(order.clone(), row);
        format!("row-{order}")
    }
}
