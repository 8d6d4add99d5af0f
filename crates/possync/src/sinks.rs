//! Back offices the node delivers closed orders to. The engine decides what
//! to deliver and when (`possync-engine/src/delivery.rs`); this carries its
//! [`possync_engine::Output::Deliver`]s out: one task per sink, fed through
//! a bounded queue, each answer sent back to the actor, which hands it to
//! the engine.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use possync_model::{OrderId, OrderView, SinkName};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tracing::debug;

/// What a sink's delivery returns: its reference for the order, or why it
/// failed (shown to operators: no secrets in it), saying whether the back
/// office is unavailable or refuses this order as it is: one refused order
/// must not hold up the others.
pub type DeliveryResult = Result<String, DeliveryFailure>;

pub use possync_engine::DeliveryFailure;

/// A back office. `deliver` must be idempotent by order id: delivering an
/// order it already holds (the same content) changes nothing, because
/// attempts are at-least-once (an answer can be lost, a terminal can die
/// after the write and before it records the answer).
pub trait Sink: Send + Sync + std::fmt::Debug + 'static {
    fn name(&self) -> &SinkName;
    fn deliver<'a>(
        &'a self,
        order: &'a OrderView,
    ) -> Pin<Box<dyn Future<Output = DeliveryResult> + Send + 'a>>;
    /// Closes connections; called once at shutdown.
    fn close(&self) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        Box::pin(async {})
    }
}

/// Deliveries waiting for one sink's task. Beyond it the engine is told the
/// attempt did not start, and retries later.
const SINK_QUEUE: usize = 256;
/// Answers waiting for the actor.
const ANSWER_QUEUE: usize = 1024;

pub(crate) struct Answer {
    pub sink: SinkName,
    pub order: OrderId,
    pub result: DeliveryResult,
}

struct Job {
    order: OrderId,
    view: Box<OrderView>,
}

/// The sink tasks of one node.
pub(crate) struct SinkTasks {
    queues: Vec<(SinkName, mpsc::Sender<Job>)>,
    tasks: Vec<JoinHandle<()>>,
    pub answers: mpsc::Receiver<Answer>,
}

impl SinkTasks {
    /// Starts one task per sink. `attempt_timeout` bounds one delivery, so
    /// a sink that hangs cannot hold its queue forever.
    pub(crate) fn spawn(sinks: &[Arc<dyn Sink>], attempt_timeout: Duration) -> Self {
        let (answer_tx, answers) = mpsc::channel(ANSWER_QUEUE);
        let mut queues = Vec::new();
        let mut tasks = Vec::new();
        for sink in sinks {
            let (tx, mut rx) = mpsc::channel::<Job>(SINK_QUEUE);
            queues.push((sink.name().clone(), tx));
            let sink = Arc::clone(sink);
            let answer_tx = answer_tx.clone();
            let span = tracing::info_span!("sink", sink = %sink.name());
            tasks.push(tokio::spawn(tracing::Instrument::instrument(
                async move {
                    while let Some(job) = rx.recv().await {
                        let result =
                            match tokio::time::timeout(attempt_timeout, sink.deliver(&job.view)).await {
                                Ok(r) => r,
                                Err(_) => Err(DeliveryFailure::Unavailable(format!(
                                    "no answer within {attempt_timeout:?}"
                                ))),
                            };
                        debug!(order = %job.order, ok = result.is_ok(), "delivery attempt done");
                        let answer = Answer { sink: sink.name().clone(), order: job.order, result };
                        if answer_tx.send(answer).await.is_err() {
                            break;
                        }
                    }
                    sink.close().await;
                },
                span,
            )));
        }
        SinkTasks { queues, tasks, answers }
    }

    /// Queues a delivery; `false` when the sink is unknown or its queue is
    /// full.
    pub(crate) fn submit(&self, sink: &SinkName, order: OrderId, view: Box<OrderView>) -> bool {
        match self.queues.iter().find(|(n, _)| n == sink) {
            Some((_, q)) => q.try_send(Job { order, view }).is_ok(),
            None => false,
        }
    }

    /// Stops taking deliveries and waits (at most `grace`) for the tasks to
    /// finish the one they hold and close their connections.
    pub(crate) async fn shutdown(&mut self, grace: Duration) {
        self.queues.clear();
        self.answers.close();
        for task in self.tasks.drain(..) {
            let abort = task.abort_handle();
            if tokio::time::timeout(grace, task).await.is_err() {
                abort.abort();
            }
        }
    }
}
