// The catalogue the terminals share (GET /api/catalogue): products,
// categories, taxes, floors and tables, users, currency. The page reads it
// at start and whenever its version moves; with none (version 0, or a
// daemon without the route) the page keeps its built-in menu and asks for a
// name instead of a PIN.

import { setCurrency } from './format.js';

/** The built-in menu when there is no catalogue: id, name, unit price (cents). */
const BUILT_IN = [
  { id: 'espresso', name: 'Espresso', price: 250 },
  { id: 'burger', name: 'Burger', price: 1290 },
  { id: 'fries', name: 'Fries', price: 450 },
  { id: 'salad', name: 'Salad', price: 890 },
  { id: 'wine', name: 'House wine', price: 650 },
  { id: 'cake', name: 'Cake', price: 590 },
];

const bySequence = (a, b) => (a.sequence ?? 0) - (b.sequence ?? 0) || a.name.localeCompare(b.name);

export const cat = {
  /** 0: no catalogue */
  version: 0,
  products: BUILT_IN,
  categories: [],
  floors: [],
  users: [],
  paymentMethods: [],
  byId: new Map(BUILT_IN.map((p) => [p.id, p])),
  byBarcode: new Map(),
  /** table id → {table, floor} */
  tables: new Map(),
  floorsById: new Map(),
};

/** A catalogue with products is on: the menu, floors and taxes come from it. */
export const hasCatalogue = () => cat.version > 0;
/** Users with a role: the page asks for a PIN. */
export const hasUsers = () => cat.version > 0 && cat.users.length > 0;

/** Takes a GET /api/catalogue answer. @returns {boolean} whether anything changed */
export function setCatalogue(answer) {
  const version = answer?.version ?? 0;
  if (version === cat.version) return false;
  const c = (version > 0 && answer.catalogue) || {};
  cat.version = version;
  cat.products = version > 0 ? (c.products ?? []).filter((p) => p.available !== false) : BUILT_IN;
  cat.categories = [...(c.categories ?? [])].sort(bySequence);
  cat.floors = [...(c.floors ?? [])].sort(bySequence);
  cat.users = c.users ?? [];
  cat.paymentMethods = c.payment_methods ?? [];
  cat.byId = new Map(cat.products.map((p) => [p.id, p]));
  cat.byBarcode = new Map(cat.products.filter((p) => p.barcode).map((p) => [p.barcode, p]));
  cat.floorsById = new Map(cat.floors.map((f) => [f.id, f]));
  cat.tables = new Map(cat.floors.flatMap((f) => (f.tables ?? []).map((t) => [t.id, { table: t, floor: f }])));
  setCurrency(version > 0 ? c.currency : null);
  return true;
}

/** "Table 3 · Main room" (catalogue names), "Table T4 · terrace" (free text), "No table". */
export function tableLabel(o) {
  if (!o.table) return 'No table';
  const known = cat.tables.get(o.table);
  if (known) return `Table ${known.table.name} · ${known.floor.name}`;
  const floor = cat.floorsById.get(o.floor)?.name ?? o.floor;
  return floor ? `Table ${o.table} · ${floor}` : `Table ${o.table}`;
}

export const userOf = (id) => cat.users.find((u) => u.id === id) ?? null;

/** Products whose name or barcode holds the search text (in every
 * category, as a cashier searching expects), else those of a category
 * (null: all). */
export function productsFor(category, search) {
  const q = search.trim().toLowerCase();
  if (q) return cat.products.filter((p) => p.name.toLowerCase().includes(q) || (p.barcode ?? '').includes(q));
  return cat.products.filter((p) => !category || p.category === category);
}
