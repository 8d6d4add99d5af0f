//! Extension fields, with the reference addon's own example: an integrator
//! adds two new variables to Order (`first_new_variable`,
//! `second_new_variable`) and one to Orderline (`custom_notes`), through the
//! public API only. Two terminals each change a different one while their
//! changes cross; both end with all of them, and the change summaries (the
//! counterpart of the addon's `apply_ms_data`) name exactly what moved.
//!
//! Run: `cargo run -p possync-examples --bin extension_fields`. Exits non-zero
//! if the fields did not merge.
#![allow(clippy::print_stdout)]

use anyhow::{Context, Result, bail, ensure};
use possync_model::automerge::ActorId;
use possync_model::{
    ChangeSummary, Edit, EditContext, Extension, LineId, LocalChange, Money, NewLine, NewOrder, OrderDoc,
    OrderId, OrderName, Quantity, TerminalId, ext,
};
use serde::{Deserialize, Serialize};

/// The integrator's order fields. `skip_serializing_if` matters: a field this
/// terminal has not set is not written, so it cannot overwrite what another
/// terminal set concurrently (see docs/EXTENDING.md).
#[derive(Serialize, Deserialize, Default, Debug, Clone, PartialEq)]
struct OrderFields {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    first_new_variable: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    second_new_variable: Option<i64>,
}
impl Extension for OrderFields {}

/// The integrator's line field.
#[derive(Serialize, Deserialize, Default, Debug, Clone, PartialEq)]
struct LineFields {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    custom_notes: Option<String>,
}
impl Extension for LineFields {}

struct Terminal {
    ctx: EditContext,
    doc: OrderDoc,
}

impl Terminal {
    fn edit(&mut self, edit: Edit) -> Result<LocalChange> {
        self.ctx.at_ms += 1000;
        self.doc.edit(&self.ctx, &edit)?.context("the edit changed nothing")
    }

    /// What the addon's `apply_ms_data` did: take the other terminal's
    /// changes, then read the fields back.
    fn receive(&mut self, changes: &[LocalChange]) -> Result<ChangeSummary> {
        let applied = self.doc.apply_remote_bytes(changes.iter().map(|c| c.bytes.as_slice()))?;
        applied.summary.context("nothing new arrived")
    }
}

fn main() -> Result<()> {
    let order = OrderId::from_random(0x0e_c0de);
    let coffee = LineId::parse("coffee")?;
    let now = 1_704_067_200_000;

    // Terminal A opens an order with one line; B receives it.
    let bar = TerminalId::parse("BAR")?;
    let ctx_a = EditContext::new("anna", bar.clone(), now);
    let (doc_a, opening) = OrderDoc::open(
        ActorId::random(),
        &ctx_a,
        &NewOrder::new(order.clone(), OrderName::compose(&bar, 1)),
    )?;
    let mut a = Terminal { ctx: ctx_a, doc: doc_a };
    let added = a.edit(Edit::AddLine(NewLine::new(
        coffee.clone(),
        "coffee",
        "Coffee",
        Quantity::units(2),
        Money(450),
    )))?;
    let mut b = Terminal {
        ctx: EditContext::new("ben", TerminalId::parse("T2")?, now),
        doc: OrderDoc::empty(order.clone(), ActorId::random()),
    };
    b.receive(&[opening, added])?;

    // Concurrently: A sets the first variable, B the second and the line's
    // custom notes. Each reads the fields, changes one, writes the struct
    // back: only what differs is written.
    let mut mine: OrderFields = a.doc.view()?.ext_as()?;
    mine.first_new_variable = Some("gift wrap".into());
    let from_a = vec![a.edit(Edit::SetExt { fields: ext::to_fields(&mine)? })?];

    let mut theirs: OrderFields = b.doc.view()?.ext_as()?;
    theirs.second_new_variable = Some(3);
    let line = LineFields { custom_notes: Some("no sugar".into()) };
    let from_b = vec![
        b.edit(Edit::SetExt { fields: ext::to_fields(&theirs)? })?,
        b.edit(Edit::SetLineExt { line: coffee.clone(), fields: ext::to_fields(&line)? })?,
    ];

    // The changes cross.
    let seen_by_a = a.receive(&from_b)?;
    let seen_by_b = b.receive(&from_a)?;
    println!("A was told: order ext {:?}, lines {:?}", seen_by_a.ext, seen_by_a.lines_changed);
    println!("B was told: order ext {:?}", seen_by_b.ext);

    let want_order =
        OrderFields { first_new_variable: Some("gift wrap".into()), second_new_variable: Some(3) };
    let want_line = LineFields { custom_notes: Some("no sugar".into()) };
    for (name, t) in [("A", &a), ("B", &b)] {
        let view = t.doc.view()?;
        let fields: OrderFields = view.ext_as()?;
        let line: LineFields = view.line(&coffee).context("line missing")?.ext_as()?;
        println!(
            "{name}: order ext {}  line ext {}",
            serde_json::to_string(&view.ext)?,
            serde_json::to_string(&view.line(&coffee).context("line missing")?.ext)?
        );
        if fields != want_order || line != want_line {
            bail!("terminal {name} did not merge: {fields:?} {line:?}");
        }
        ensure!(view.conflicts.is_empty(), "unexpected conflicts on {name}: {:?}", view.conflicts);
    }
    ensure!(a.doc.heads() == b.doc.heads(), "the terminals hold different histories");
    ensure!(
        seen_by_a.ext.contains("second_new_variable") && seen_by_b.ext.contains("first_new_variable"),
        "change summaries did not name the fields"
    );
    println!("merged: both order variables and the line's custom_notes are on both terminals");
    Ok(())
}
