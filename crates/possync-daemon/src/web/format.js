// Money, quantities and stamps as the page shows them. Money is integer
// minor units end to end; the catalogue's currency (symbol, position,
// decimals) decides how it reads. With no catalogue: two decimals and no
// symbol, as before there was one.

/** @type {{symbol: string, position: 'before'|'after', decimals: number}} */
let currency = { symbol: '', position: 'after', decimals: 2 };

/** The catalogue's currency (or none: `null`). */
export function setCurrency(c) {
  currency = {
    symbol: c?.symbol ?? '',
    position: c?.position === 'before' ? 'before' : 'after',
    decimals: Number.isInteger(c?.decimals) && c.decimals >= 0 && c.decimals <= 6 ? c.decimals : 2,
  };
}

export const decimals = () => currency.decimals;

/** 1290 → "12.90" (no symbol), for fields that take an amount. */
export function amount(minor) {
  const d = currency.decimals;
  const sign = minor < 0 ? '-' : '';
  const a = Math.abs(minor);
  if (d === 0) return `${sign}${a}`;
  const unit = 10 ** d;
  return `${sign}${Math.floor(a / unit)}.${String(a % unit).padStart(d, '0')}`;
}

/** 1290 → "12.90 €" or "€ 12.90" (the catalogue's position); "12.90" with no currency. */
export function money(minor) {
  const text = amount(minor);
  if (!currency.symbol) return text;
  return currency.position === 'before' ? `${currency.symbol} ${text}` : `${text} ${currency.symbol}`;
}

/** "1.50" or "1,50" → 150 (two decimals); NaN for anything else or below zero. */
export function parseMoney(text) {
  const d = currency.decimals;
  const t = String(text).trim().replace(',', '.');
  if (t === '') return 0;
  const re = d === 0 ? /^\d{1,9}$/ : new RegExp(`^\\d{1,9}(\\.\\d{0,${d}})?$`);
  if (!re.test(t)) return NaN;
  const [whole, frac = ''] = t.split('.');
  return Number(whole) * 10 ** d + Number(frac.padEnd(d, '0') || 0);
}

/** Thousandths → "2" or "1.5". */
export function units(thousandths) {
  const u = thousandths / 1000;
  return Number.isInteger(u) ? String(u) : u.toFixed(3).replace(/0+$/, '');
}

export const plural = (n, word) => `${units(n * 1000)} ${word}${n === 1 ? '' : 's'}`;

/** Basis points → "15%" or "12.5%". */
export const percent = (bp) => `${units(bp * 10)}%`;

export const who = (stamp) => (stamp ? `${stamp.user}@${stamp.terminal}` : '?');

export function clock(ms) {
  if (!ms) return '';
  return new Date(ms).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
}
