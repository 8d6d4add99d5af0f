// The floor plan: a catalogue floor's tables drawn where the back office
// put them (x, y, width, height, square or round), each with the number of
// open orders on it. Picking a table opens an order there or moves one.

import { $, h } from './dom.js';
import { cat } from './catalogue.js';

/** Room the plan is drawn in; a floor larger than this is scaled down. */
const PLAN_W = 640;
const PLAN_H = 400;

const plan = { floor: null, onPick: null };

/** Opens the plan. `busy(tableId)`: open orders at that table.
 * `onPick({table, floor} | null)`: null is "no table". */
export function openFloorPlan({ title, current, busy, onPick, confirm }) {
  plan.onPick = onPick;
  plan.busy = busy;
  const here = current && cat.tables.get(current);
  plan.floor = here ? here.floor.id : (plan.floor ?? cat.floors[0]?.id ?? null);
  if (!cat.floorsById.has(plan.floor)) plan.floor = cat.floors[0]?.id ?? null;
  plan.current = current;
  $('floor-title').textContent = title;
  $('floor-no-table').textContent = confirm ?? 'No table';
  renderPlan();
  $('floor-dialog').returnValue = '';
  $('floor-dialog').showModal();
}

function renderPlan() {
  $('floor-tabs').replaceChildren(
    ...cat.floors.map((f) =>
      h('button', {
        type: 'button', role: 'tab', 'aria-selected': String(f.id === plan.floor),
        class: `floor-tab${f.id === plan.floor ? ' selected' : ''}`,
        dataset: { testid: 'floor', floorId: f.id },
        onclick: () => { plan.floor = f.id; renderPlan(); },
      }, f.name)),
  );
  const floor = cat.floorsById.get(plan.floor);
  const tables = floor?.tables ?? [];
  const right = Math.max(PLAN_W, ...tables.map((t) => t.x + t.width + 20));
  const bottom = Math.max(PLAN_H, ...tables.map((t) => t.y + t.height + 20));
  const scale = Math.min(PLAN_W / right, PLAN_H / bottom);
  $('floor-plan').setAttribute('aria-label', floor ? `Tables of ${floor.name}` : 'No floor');
  $('floor-plan').replaceChildren(
    ...tables.map((t) => {
      const n = plan.busy(t.id);
      return h('button', {
        type: 'button',
        class: `table-spot ${t.shape === 'round' ? 'round' : 'square'}${n > 0 ? ' busy' : ''}${t.id === plan.current ? ' current' : ''}`,
        style: { left: `${t.x * scale}px`, top: `${t.y * scale}px`, width: `${t.width * scale}px`, height: `${t.height * scale}px` },
        dataset: { testid: 'table', tableId: t.id, floorId: floor.id },
        'aria-label': `Table ${t.name}, ${t.seats ?? '?'} seats${n > 0 ? `, ${n} open` : ''}`,
        onclick: () => pick({ table: t.id, floor: floor.id }),
      },
        h('span', { class: 'ts-name' }, t.name),
        h('span', { class: 'ts-seats' }, `${t.seats ?? ''}`),
        n > 0 ? h('span', { class: 'ts-busy', dataset: { testid: 'table-busy' } }, String(n)) : null,
      );
    }),
  );
}

function pick(where) {
  $('floor-dialog').close('picked');
  plan.onPick?.(where);
}

export function bindFloorPlan() {
  $('floor-no-table').addEventListener('click', () => pick(null));
}
