// The menu: the catalogue's products by category, a search, and barcodes
// (typed in the barcode field, or scanned anywhere on the page: a scanner
// types digits fast and presses Enter). Without a catalogue, the built-in
// six products.

import { $, h, toast } from './dom.js';
import { cat, hasCatalogue, productsFor } from './catalogue.js';
import { money } from './format.js';

/** A scanner types faster than this between keys; a person does not. */
const SCAN_GAP_MS = 60;

const menu = { category: null, onAdd: null, scan: '', scanAt: 0 };

export function bindMenu(onAdd) {
  menu.onAdd = onAdd;
  $('menu-search').addEventListener('input', renderMenu);
  $('menu-search').addEventListener('keydown', (e) => {
    if (e.key !== 'Enter') return;
    // Enter on a barcode, or on a search that leaves one product, adds it.
    const text = $('menu-search').value.trim();
    const found = cat.byBarcode.get(text) ?? (() => {
      const hits = productsFor(menu.category, text);
      return hits.length === 1 ? hits[0] : null;
    })();
    if (found) {
      e.preventDefault();
      $('menu-search').value = '';
      renderMenu();
      onAdd(found);
    }
  });
  $('barcode-form').addEventListener('submit', (e) => {
    e.preventDefault();
    scanned($('barcode').value.trim());
    $('barcode').value = '';
  });
  // A scanner outside any field.
  document.addEventListener('keydown', (e) => {
    if (e.target instanceof HTMLInputElement || e.target instanceof HTMLTextAreaElement) return;
    if (document.querySelector('dialog[open]') || !$('login').hidden) return;
    const now = Date.now();
    if (/^\d$/.test(e.key)) {
      menu.scan = now - menu.scanAt > SCAN_GAP_MS * 5 ? e.key : menu.scan + e.key;
      menu.scanAt = now;
    } else if (e.key === 'Enter' && menu.scan.length >= 6 && now - menu.scanAt < SCAN_GAP_MS * 5) {
      e.preventDefault();
      scanned(menu.scan);
      menu.scan = '';
    }
  });
}

function scanned(code) {
  if (!code) return;
  const p = cat.byBarcode.get(code);
  if (p) menu.onAdd(p);
  else toast(`No product with barcode ${code}`, 'error');
}

export function renderMenu() {
  const withCatalogue = hasCatalogue();
  $('menu-tools').hidden = !withCatalogue;
  if (menu.category && !cat.categories.some((c) => c.id === menu.category)) menu.category = null;
  const tab = (id, name) =>
    h('button', {
      type: 'button', role: 'tab', 'aria-selected': String(menu.category === id),
      class: `category${menu.category === id ? ' selected' : ''}`,
      dataset: { testid: 'category', category: id ?? '' },
      onclick: () => { menu.category = id; renderMenu(); },
    }, name);
  $('categories').replaceChildren(...(withCatalogue ? [tab(null, 'All'), ...cat.categories.map((c) => tab(c.id, c.name))] : []));
  const products = withCatalogue ? productsFor(menu.category, $('menu-search').value) : cat.products;
  $('products').replaceChildren(
    ...products.map((p) =>
      h('button', {
        type: 'button', class: 'product', dataset: { testid: `product-${p.id}`, product: p.id },
        onclick: () => menu.onAdd(p),
      },
        h('span', { class: 'p-initial', 'aria-hidden': 'true' }, p.name[0]),
        h('span', { class: 'p-name' }, p.name),
        h('span', { class: 'p-price' }, money(p.price)),
      ),
    ),
  );
  $('products-empty').hidden = products.length > 0;
}
