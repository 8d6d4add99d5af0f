// Who works at this terminal. With users in the catalogue: their tiles, a
// PIN on a keypad, checked by POST /api/login (Odoo's lock screen). With
// none: a name typed in the header, remembered by the page, as before.

import { $, h } from './dom.js';
import { cat, hasUsers } from './catalogue.js';

const NAME_KEY = 'possync.user';
const SESSION_KEY = 'possync.session';
const DEFAULT_NAME = 'waiter1';

const login = { client: null, onChange: null, picked: null, user: null };

/** The signed-in user `{id, name, role}`, or with no catalogue users the typed name. */
export function currentUser() {
  if (hasUsers()) return login.user;
  const name = $('user').value.trim() || DEFAULT_NAME;
  return { id: name, name, role: null };
}

/** Binds the name field and the lock screen. `onChange()`: the user changed. */
export function bindLogin(client, onChange) {
  login.client = client;
  login.onChange = onChange;
  const input = $('user');
  input.value = localStorage.getItem(NAME_KEY) || DEFAULT_NAME;
  input.addEventListener('change', () => {
    const u = input.value.trim();
    if (u) localStorage.setItem(NAME_KEY, u);
    else input.value = localStorage.getItem(NAME_KEY) || DEFAULT_NAME;
    onChange();
  });
  $('pin-pad').addEventListener('click', (e) => {
    const key = e.target.closest('[data-key]')?.dataset.key;
    if (!key) return;
    const pin = $('login-pin');
    if (key === 'back') pin.value = pin.value.slice(0, -1);
    else if (key === 'clear') pin.value = '';
    else if (key === 'ok') submit();
    else if (pin.value.length < 12) pin.value += key;
    $('login-error').textContent = '';
  });
  $('login-form').addEventListener('submit', (e) => { e.preventDefault(); submit(); });
  $('login-back').addEventListener('click', () => pickUser(null));
  $('lock').addEventListener('click', lock);
  try {
    login.user = JSON.parse(sessionStorage.getItem(SESSION_KEY) || 'null');
  } catch {
    login.user = null;
  }
}

/** The catalogue (or its users) changed: the right header and lock screen. */
export function renderLogin() {
  const pin = hasUsers();
  // A user the catalogue no longer lists signs in again; one it lists gets
  // its current name and role.
  if (pin && login.user) {
    const now = cat.users.find((u) => u.id === login.user.id);
    if (!now) return setUser(null);
    login.user = { id: now.id, name: now.name, role: now.role };
  }
  document.body.dataset.login = pin ? 'pin' : 'name';
  $('user-field').hidden = pin;
  $('user-badge').hidden = !pin || !login.user;
  $('lock').hidden = !pin || !login.user;
  $('user-badge').textContent = login.user ? `${login.user.name}${login.user.role === 'manager' ? ' (manager)' : ''}` : '';
  $('login').hidden = !pin || !!login.user;
  if (!pin || login.user) return;
  $('login-users').replaceChildren(
    ...cat.users.map((u) =>
      h('button', {
        type: 'button', class: `user-tile${login.picked === u.id ? ' selected' : ''}`,
        dataset: { testid: 'login-user', userId: u.id },
        onclick: () => pickUser(u.id),
      },
        h('span', { class: 'ut-initial', 'aria-hidden': 'true' }, u.name[0] ?? '?'),
        h('span', { class: 'ut-name' }, u.name),
        h('span', { class: 'ut-role' }, u.role)),
    ),
  );
  const picked = cat.users.find((u) => u.id === login.picked);
  $('login-pin-step').hidden = !picked;
  $('login-users').hidden = !!picked;
  $('login-who').textContent = picked ? `PIN for ${picked.name}` : '';
}

function pickUser(id) {
  login.picked = id;
  $('login-pin').value = '';
  $('login-error').textContent = '';
  renderLogin();
  if (id) $('login-pin').focus();
}

async function submit() {
  const id = login.picked;
  const pin = $('login-pin').value;
  if (!id || !pin) return;
  try {
    const user = await login.client.login(id, pin);
    login.picked = null;
    $('login-pin').value = '';
    setUser(user);
  } catch (e) {
    $('login-pin').value = '';
    $('login-error').textContent = e.code === 'wrong_pin' ? 'Wrong PIN, try again' : e.message;
  }
}

function setUser(user) {
  login.user = user;
  if (user) sessionStorage.setItem(SESSION_KEY, JSON.stringify(user));
  else sessionStorage.removeItem(SESSION_KEY);
  renderLogin();
  login.onChange?.();
}

/** Back to the lock screen (the next cashier signs in). */
export function lock() {
  login.picked = null;
  setUser(null);
}
