// Rolegate's admin console: hash routes, one page each, on the native API.
import { call, path, signedIn, signIn, signOut, ApiError } from './api.js';
import { h, clear, field, errorBox, slot, fmtTime, confirmDialog } from './dom.js';
import { constraintPages } from './constraints.js';

const main = document.getElementById('main');
const nav = document.getElementById('entity-nav');
const status = document.getElementById('status');
const signOutBtn = document.getElementById('sign-out');

const VALUES = ['allowed', 'allowed_for_own', 'not_allowed', 'denied'];
const LABELS = { allowed: 'allowed', allowed_for_own: 'allowed for own', not_allowed: 'not allowed', denied: 'denied' };

// generation: a page's late answers are dropped once another page is shown.
let generation = 0;
// condSeq numbers the matrix's condition fields (their ids).
let condSeq = 0;

function say(text) {
  status.textContent = text;
}

function page(title, ...children) {
  clear(main);
  const h1 = h('h1', { tabindex: '-1' }, title);
  main.append(h1, ...children.filter(Boolean));
  document.title = title + ' · Rolegate console';
  return h1;
}

// ---------------------------------------------------------------- routing

const routes = [
  [/^#\/entities$/, pageEntities],
  [/^#\/e\/([^/]+)\/roles$/, pageRoles],
  [/^#\/e\/([^/]+)\/roles\/new$/, (e) => pageRole(e, null)],
  [/^#\/e\/([^/]+)\/roles\/([^/]+)$/, pageRole],
  [/^#\/e\/([^/]+)\/users$/, pageUsers],
  [/^#\/e\/([^/]+)\/users\/([^/]+)$/, pageUser],
  [/^#\/e\/([^/]+)\/check$/, pageCheck],
  [/^#\/e\/([^/]+)\/audit$/, pageAudit],
  [/^#\/e\/([^/]+)\/who-can$/, pageWhoCan],
  [/^#\/e\/([^/]+)\/history$/, pageHistory],
  [/^#\/e\/([^/]+)\/constraints$/, (...a) => constraints().pageConstraints(...a)],
  [/^#\/e\/([^/]+)\/constraints\/new$/, (e) => constraints().pageConstraint(e, null)],
  [/^#\/e\/([^/]+)\/constraints\/([^/]+)$/, (...a) => constraints().pageConstraint(...a)],
];

// The constraints pages (constraints.js), given this page's helpers.
let constraintsPages = null;
function constraints() {
  if (!constraintsPages) constraintsPages = constraintPages({ page, attempt, say, link });
  return constraintsPages;
}

export function link(...parts) {
  return '#/' + parts.map((p) => encodeURIComponent(p)).join('/');
}

function render() {
  generation++;
  say('');
  signOutBtn.hidden = !signedIn();
  if (!signedIn()) {
    entityNav(null);
    pageSignIn();
    return;
  }
  const hash = window.location.hash || '#/entities';
  for (const [re, fn] of routes) {
    const m = hash.match(re);
    if (m) {
      const args = m.slice(1).map((s) => decodeURIComponent(s));
      entityNav(hash.startsWith('#/e/') ? args[0] : null, hash);
      const h1 = fn(...args);
      if (h1 instanceof HTMLElement) h1.focus();
      else main.focus();
      return;
    }
  }
  window.location.hash = '#/entities';
}

function entityNav(entity, hash) {
  clear(nav);
  if (!entity) return;
  const tabs = [['roles', 'Roles'], ['users', 'Users'], ['check', 'Check'], ['audit', 'Audit log'], ['who-can', 'Who can'], ['history', 'History'], ['constraints', 'Constraints']];
  nav.append(h('span', { class: 'entity-name' }, 'Entity ', h('strong', {}, entity)),
    h('ul', {}, tabs.map(([k, label]) => {
      const href = link('e', entity, k);
      const current = hash === href || hash.startsWith(href + '/');
      return h('li', {}, h('a', { href, 'aria-current': current ? 'page' : false }, label));
    })));
}

window.addEventListener('hashchange', render);
signOutBtn.addEventListener('click', () => {
  signOut();
  say('Signed out.');
  window.location.hash = '#/';
  render();
});

// runs fn and shows its error in box; ApiError 401 signs out.
async function attempt(box, fn) {
  const gen = generation;
  try {
    if (box) box.show();
    return await fn(() => gen === generation);
  } catch (e) {
    if (gen !== generation) return undefined;
    const err = e instanceof ApiError ? e : new ApiError(0, 'console_error', String(e && e.message || e));
    if (err.status === 401 && signedIn()) {
      // The token no longer works (expired, revoked): forget it.
      signOut();
      signOutBtn.hidden = true;
      entityNav(null);
      pageSignIn(err);
      return undefined;
    }
    if (box) box.show(errorBox(err));
    else say(err.code + ': ' + err.message);
    return undefined;
  }
}

// ---------------------------------------------------------------- sign-in

function pageSignIn(refused) {
  const box = slot();
  const input = h('input', { type: 'password', id: 'token', name: 'token', autocomplete: 'off', required: true, spellcheck: 'false' });
  const form = h('form', { class: 'card narrow', id: 'sign-in' },
    h('div', { class: 'field' }, h('label', { for: 'token' }, 'Token'), input,
      h('small', {}, 'The admin token, or an API client\'s access token. It is kept for this tab only and sent only in the Authorization header.')),
    h('button', { type: 'submit' }, 'Sign in'),
    box);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    signIn(input.value);
    input.value = '';
    try {
      await call('GET', path('entities'), { query: { limit: 1 } });
    } catch (e) {
      if (e instanceof ApiError && e.status === 403) {
        // A client bound to one entity, or without the right to list
        // them: it can still open its entity by id.
      } else {
        signOut();
        box.show(errorBox(e));
        input.focus();
        return;
      }
    }
    say('Signed in.');
    if (window.location.hash === '#/entities') render();
    else window.location.hash = '#/entities';
  });
  const h1 = page('Sign in', form);
  if (refused) box.show(errorBox(refused), h('p', {}, 'The token was refused; sign in again.'));
  return h1;
}

// ---------------------------------------------------------------- entities

function pageEntities() {
  const listBox = slot({ id: 'entity-list' });
  const formBox = slot();
  const id = h('input', { id: 'entity-id', name: 'id', pattern: '[A-Za-z0-9._:\\-]{1,64}', autocomplete: 'off' });
  const name = h('input', { id: 'entity-name', name: 'name', autocomplete: 'off' });
  const create = h('form', { class: 'card inline', id: 'create-entity' },
    h('h2', {}, 'New entity'),
    h('div', { class: 'field' }, h('label', { for: 'entity-id' }, 'Id (empty: a UUID)'), id),
    h('div', { class: 'field' }, h('label', { for: 'entity-name' }, 'Name'), name),
    h('button', { type: 'submit' }, 'Create entity'), formBox);
  create.addEventListener('submit', (ev) => {
    ev.preventDefault();
    attempt(formBox, async () => {
      const body = { name: name.value };
      if (id.value) body.id = id.value;
      const r = await call('POST', path('entities'), { body });
      say('Entity ' + r.data.id + ' created.');
      window.location.hash = link('e', r.data.id, 'roles');
    });
  });
  const openInput = h('input', { id: 'open-entity', autocomplete: 'off', required: true });
  const open = h('form', { class: 'card inline', id: 'open-entity-form' },
    h('h2', {}, 'Open an entity'),
    h('div', { class: 'field' }, h('label', { for: 'open-entity' }, 'Entity id'), openInput),
    h('button', { type: 'submit', class: 'secondary' }, 'Open'));
  open.addEventListener('submit', (ev) => {
    ev.preventDefault();
    window.location.hash = link('e', openInput.value.trim(), 'roles');
  });
  const h1 = page('Entities', h('div', { class: 'row cards' }, create, open), h('h2', {}, 'All entities'), listBox);

  const rows = h('tbody');
  const more = h('button', { type: 'button', class: 'secondary', hidden: true }, 'Load more');
  let next = null;
  const load = () => attempt(listBox.errors, async (live) => {
    const r = await call('GET', path('entities'), { query: { limit: 50, pagination_token: next } });
    if (!live()) return;
    for (const e of r.data.data) {
      const del = h('button', { type: 'button', class: 'danger small', 'aria-label': 'Delete entity ' + e.id }, 'Delete');
      del.addEventListener('click', () => deleteEntity(e.id));
      rows.append(h('tr', {},
        h('th', { scope: 'row' }, h('a', { href: link('e', e.id, 'roles') }, e.id)),
        h('td', {}, e.name), h('td', { class: 'num' }, e.revision), h('td', {}, fmtTime(e.created_at)), h('td', {}, del)));
    }
    next = r.data.next_pagination_token;
    more.hidden = !next;
    if (!rows.firstChild) listBox.errors.show(h('p', {}, 'No entities yet.'));
  });
  listBox.errors = slot();
  listBox.show(h('div', { class: 'table-wrap' }, h('table', {},
    h('thead', {}, h('tr', {}, ['Id', 'Name', 'Revision', 'Created', ''].map((t) => h('th', { scope: 'col' }, t)))), rows)),
  more, listBox.errors);
  more.addEventListener('click', load);
  // A token that may not list entities (403, shown as such) can still
  // open its entity by id.
  load();
  return h1;
}

async function deleteEntity(id) {
  const ok = await confirmDialog({
    title: 'Delete entity ' + id + '?',
    text: 'This deletes the entity with all its roles, users, assignments, API clients and audit log. It cannot be undone.',
    confirm: 'Delete entity',
  });
  if (!ok) return;
  try {
    await call('DELETE', path('entities', id));
    render();
    say('Entity ' + id + ' deleted.');
  } catch (e) {
    say(e.code + ': ' + e.message);
  }
}

// ---------------------------------------------------------------- roles

let catalogCache = null;
async function catalog() {
  if (!catalogCache) {
    try {
      catalogCache = (await call('GET', '/v1/object-types')).data;
    } catch (e) {
      return { enforced: false, data: [] };
    }
  }
  return catalogCache;
}

function pageRoles(entity) {
  const box = slot({ id: 'role-list' });
  const h1 = page('Roles', h('p', {}, h('a', { class: 'button', href: link('e', entity, 'roles', 'new') }, 'New role')), box);
  attempt(box, async (live) => {
    const r = await call('GET', path('entities', entity, 'roles'), { query: { limit: 100, sort: 'name' } });
    if (!live()) return;
    box.show(h('div', { class: 'table-wrap' }, h('table', {},
      h('thead', {}, h('tr', {}, ['Name', 'Type', 'Default', 'Version', 'Updated'].map((t) => h('th', { scope: 'col' }, t)))),
      h('tbody', {}, r.data.data.map((role) => h('tr', {},
        h('th', { scope: 'row' }, h('a', { href: link('e', entity, 'roles', role.id) }, role.name)),
        h('td', {}, role.role_type), h('td', {}, role.default ? 'yes' : 'no'),
        h('td', { class: 'num' }, role.version), h('td', {}, fmtTime(role.updated_at))))))));
  });
  return h1;
}

// The role editor: a matrix of object types x actions, each cell one of the
// four values and, behind its "if…" button, the condition (a CEL expression)
// under which the right holds. Edits are kept apart from the role as loaded,
// so that after a 412 (someone else saved first) they can be reapplied to the
// newer role. A save refused for a cell's condition (422 invalid_condition,
// the field naming the right) shows the server's message at that cell.
function pageRole(entity, roleId) {
  const st = {
    base: null, etag: null, edits: new Map(), condEdits: new Map(), open: new Set(), cellErrors: new Map(),
    name: null, description: null, dflt: null,
    objectTypes: [], actions: [], cat: null,
  };
  const key = (ot, a) => ot + '\u0000' + a;
  const baseRight = (ot, a) => {
    for (const o of (st.base && st.base.permissions.objects) || []) {
      if (o.object_type !== ot) continue;
      for (const x of o.actions) if (x.action_name === a) return x;
    }
    return null;
  };
  const baseValue = (ot, a) => { const x = baseRight(ot, a); return x ? x.permission : 'not_allowed'; };
  const baseCond = (ot, a) => { const x = baseRight(ot, a); return (x && x.condition) || ''; };
  const value = (ot, a) => (st.edits.has(key(ot, a)) ? st.edits.get(key(ot, a)) : baseValue(ot, a));
  const condition = (ot, a) => (st.condEdits.has(key(ot, a)) ? st.condEdits.get(key(ot, a)) : baseCond(ot, a));
  const changed = (ot, a) => st.edits.has(key(ot, a)) || st.condEdits.has(key(ot, a));
  const isSystem = () => st.base && st.base.role_type === 'system';
  const cur = (k, fallback) => (st[k] !== null ? st[k] : fallback);

  // sent maps the index path of each right in the last body sent
  // ("objects[i].actions[j]") to its cell, so that an error naming the
  // right's field is shown at the cell.
  let sent = new Map();
  const body = () => {
    const objects = [];
    sent = new Map();
    for (const ot of st.objectTypes) {
      // A not_allowed cell with a condition is sent: the server says why
      // that cannot be, at the cell.
      const actions = st.actions.filter((a) => applies(ot, a) && (value(ot, a) !== 'not_allowed' || condition(ot, a).trim() !== ''))
        .map((a) => {
          const x = { action_name: a, permission: value(ot, a) };
          if (condition(ot, a).trim() !== '') x.condition = condition(ot, a);
          return x;
        });
      if (actions.length) {
        actions.forEach((x, j) => sent.set('objects[' + objects.length + '].actions[' + j + ']', [ot, x.action_name]));
        objects.push({ object_type: ot, actions });
      }
    }
    return {
      name: cur('name', st.base ? st.base.name : ''),
      description: cur('description', st.base ? st.base.description : ''),
      default: cur('dflt', st.base ? st.base.default : false),
      permissions: { objects },
    };
  };
  const applies = (ot, a) => {
    if (!st.cat || !st.cat.enforced) return true;
    const o = st.cat.data.find((x) => x.object_type === ot);
    return !!o && (o.actions.includes(a) || o.actions.includes('*') || a === '*');
  };
  const addAxis = (list, v) => { if (v && !list.includes(v)) list.push(v); };
  const axesFrom = (roles) => {
    for (const r of roles) {
      for (const o of (r.permissions && r.permissions.objects) || []) {
        addAxis(st.objectTypes, o.object_type);
        for (const a of o.actions) addAxis(st.actions, a.action_name);
      }
    }
  };

  const errBox = slot({ class: 'messages' });
  const diffBox = slot({ id: 'dry-run', class: 'diff' });
  const editor = h('div', { id: 'role-editor' });
  const h1 = page(roleId ? 'Role' : 'New role', editor, errBox, diffBox);

  const load = async () => {
    const [cat, list, one] = await Promise.all([
      catalog(),
      call('GET', path('entities', entity, 'roles'), { query: { limit: 100 } }),
      roleId ? call('GET', path('entities', entity, 'roles', roleId)) : null,
    ]);
    st.cat = cat;
    if (one) { st.base = one.data; st.etag = one.etag; }
    if (cat.enforced) {
      for (const o of cat.data) { addAxis(st.objectTypes, o.object_type); for (const a of o.actions) addAxis(st.actions, a); }
    }
    axesFrom(st.base ? [st.base] : []);
    axesFrom(list.data.data);
  };

  const draw = () => {
    clear(editor);
    const sys = isSystem();
    h1.textContent = st.base ? 'Role ' + st.base.name : 'New role';
    const meta = st.base ? h('p', { class: 'meta' },
      (sys ? 'System role (its rights are read-only; only the default flag may change)' : 'Custom role'),
      ' · version ', h('span', { id: 'role-version' }, String(st.base.version)),
      ' · updated ', fmtTime(st.base.updated_at), st.base.updated_by ? ' by ' + st.base.updated_by : '') : null;

    const name = h('input', { id: 'role-name', value: cur('name', st.base ? st.base.name : ''), required: true, disabled: sys, autocomplete: 'off' });
    name.addEventListener('input', () => { st.name = name.value; });
    const desc = h('input', { id: 'role-description', value: cur('description', st.base ? st.base.description : ''), disabled: sys, autocomplete: 'off' });
    desc.addEventListener('input', () => { st.description = desc.value; });
    const dflt = h('input', { type: 'checkbox', id: 'role-default', checked: cur('dflt', st.base ? st.base.default : false) });
    dflt.addEventListener('change', () => { st.dflt = dflt.checked; });

    const head = h('tr', {}, h('th', { scope: 'col' }, 'Object type \\ action'), st.actions.map((a) => h('th', { scope: 'col' }, a)));
    const rows = st.objectTypes.map((ot) => h('tr', {}, h('th', { scope: 'row' }, ot), st.actions.map((a) => {
      if (!applies(ot, a)) return h('td', { class: 'na' }, h('span', { 'aria-label': 'not in the catalog' }, '—'));
      const v = value(ot, a);
      const k = key(ot, a);
      const sel = h('select', { 'aria-label': ot + ': ' + a, 'data-cell': ot + '/' + a, class: 'v-' + v, disabled: sys },
        VALUES.map((x) => h('option', { value: x, selected: x === v }, LABELS[x])));
      const td = h('td', { class: changed(ot, a) ? 'changed' : null });
      sel.addEventListener('change', () => {
        if (sel.value === baseValue(ot, a)) st.edits.delete(k); else st.edits.set(k, sel.value);
        sel.className = 'v-' + sel.value;
        td.classList.toggle('changed', changed(ot, a));
        diffBox.show();
      });
      const c = condition(ot, a);
      const open = st.open.has(k) || c !== '' || st.cellErrors.has(k);
      const condId = 'cond-' + (++condSeq);
      const errId = condId + '-error';
      const toggle = h('button', {
        type: 'button', class: 'cond-toggle small secondary' + (c ? ' has-cond' : ''), 'data-cond-toggle': ot + '/' + a,
        'aria-expanded': open ? 'true' : 'false', 'aria-controls': condId + '-box',
        'aria-label': 'Condition for ' + ot + ': ' + a, title: c ? 'if ' + c : 'Add a condition',
      }, 'if…');
      const input = h('textarea', {
        id: condId, class: 'cond', 'data-cond': ot + '/' + a, rows: '2', spellcheck: 'false', autocomplete: 'off',
        maxlength: '4096', disabled: sys, placeholder: 'resource.amount < 1000',
        'aria-invalid': st.cellErrors.has(k) ? 'true' : false, 'aria-describedby': st.cellErrors.has(k) ? errId : false,
      });
      input.value = c;
      input.addEventListener('input', () => {
        if (input.value === baseCond(ot, a)) st.condEdits.delete(k); else st.condEdits.set(k, input.value);
        toggle.classList.toggle('has-cond', input.value.trim() !== '');
        td.classList.toggle('changed', changed(ot, a));
        diffBox.show();
      });
      const err = st.cellErrors.get(k);
      const box = h('div', { class: 'cond-box', id: condId + '-box', hidden: !open },
        h('label', { for: condId }, 'If (CEL, over resource, user, now)'), input,
        err ? h('small', { class: 'cell-error', id: errId, role: 'alert', 'data-cell-error': ot + '/' + a }, err) : null);
      toggle.addEventListener('click', () => {
        const show = box.hidden;
        box.hidden = !show;
        if (show) st.open.add(k); else st.open.delete(k);
        toggle.setAttribute('aria-expanded', show ? 'true' : 'false');
        if (show) input.focus();
      });
      td.append(h('div', { class: 'cell' }, sel, toggle), box);
      return td;
    })));
    const matrix = h('div', { class: 'matrix-wrap', tabindex: '0', role: 'region', 'aria-label': 'Rights matrix (scrolls sideways)' },
      h('table', { class: 'matrix', id: 'matrix' }, h('caption', {}, 'Rights: object types (rows) by actions (columns)'),
        h('thead', {}, head), h('tbody', {}, rows)));

    let axisForm = null;
    if (!sys && !(st.cat && st.cat.enforced)) {
      const ot = h('input', { id: 'new-object-type', autocomplete: 'off', placeholder: 'payable' });
      const ac = h('input', { id: 'new-action', autocomplete: 'off', placeholder: 'approve' });
      const addOt = h('button', { type: 'button', class: 'secondary' }, 'Add object type');
      const addAc = h('button', { type: 'button', class: 'secondary' }, 'Add action');
      addOt.addEventListener('click', () => { addAxis(st.objectTypes, ot.value.trim()); draw(); document.getElementById('new-object-type').focus(); });
      addAc.addEventListener('click', () => { addAxis(st.actions, ac.value.trim()); draw(); document.getElementById('new-action').focus(); });
      axisForm = h('div', { class: 'row axes' },
        h('div', { class: 'field' }, h('label', { for: 'new-object-type' }, 'Object type'), ot), addOt,
        h('div', { class: 'field' }, h('label', { for: 'new-action' }, 'Action'), ac), addAc);
    }

    const buttons = [];
    if (st.base && !sys) {
      const preview = h('button', { type: 'button', class: 'secondary', id: 'preview' }, 'Preview changes (dry run)');
      preview.addEventListener('click', () => attempt(errBox, async () => {
        let r;
        try {
          r = await call('PUT', path('entities', entity, 'roles', st.base.id), { query: { dry_run: 'true' }, body: body(), headers: { 'If-Match': st.etag } });
        } catch (e) {
          throw cellError(e);
        }
        if (st.cellErrors.size) { st.cellErrors.clear(); draw(); }
        showDiff(r.data);
      }));
      buttons.push(preview);
    }
    const save = h('button', { type: 'submit', id: 'save-role' }, st.base ? 'Save role' : 'Create role');
    buttons.push(save);
    if (st.base && !sys) {
      const del = h('button', { type: 'button', class: 'danger', id: 'delete-role' }, 'Delete role');
      del.addEventListener('click', () => deleteRole());
      buttons.push(del);
    }
    const form = h('form', { class: 'card', id: 'role-form' },
      meta,
      h('div', { class: 'row' },
        h('div', { class: 'field' }, h('label', { for: 'role-name' }, 'Name'), name),
        h('div', { class: 'field grow' }, h('label', { for: 'role-description' }, 'Description'), desc),
        h('div', { class: 'check' }, dflt, h('label', { for: 'role-default' }, 'Default role (new users get it)'))),
      matrix, axisForm, h('div', { class: 'actions' }, buttons));
    form.addEventListener('submit', (ev) => { ev.preventDefault(); saveRole(); });
    editor.append(form);
  };

  // cellError shows an error that names a right's field
  // (permissions.objects[i].actions[j].condition, or the right itself) at
  // that right's cell, and gives the error back for the message box.
  const cellError = (e) => {
    if (!(e instanceof ApiError) || e.status !== 422) return e;
    const found = new Map();
    for (const d of e.details || []) {
      const m = /^permissions\.(objects\[\d+\]\.actions\[\d+\])(\.[a-z_]+)?$/.exec(d.field || '');
      const cell = m && sent.get(m[1]);
      // The message, without the field's name it may start with (the
      // cell says which right it is).
      if (cell) found.set(key(cell[0], cell[1]), (d.message || e.message).replace(d.field + ': ', ''));
    }
    if (found.size || st.cellErrors.size) {
      st.cellErrors = found;
      draw();
      const first = editor.querySelector('textarea[aria-invalid="true"]');
      if (first) first.focus();
    }
    return e;
  };

  const showDiff = (d) => {
    const table = (items, what) => items.length
      ? h('div', { class: 'table-wrap' }, h('table', { class: what }, h('thead', {}, h('tr', {}, ['User', 'Object type', 'Action', 'Permission', 'Scope'].map((t) => h('th', { scope: 'col' }, t)))),
        h('tbody', {}, items.map((i) => h('tr', {}, h('td', {}, i.user_id), h('td', {}, i.object_type), h('td', {}, i.action), h('td', {}, LABELS[i.permission] || i.permission), h('td', {}, i.scope || ''))))))
      : h('p', {}, 'None.');
    diffBox.show(h('h2', {}, 'If saved (dry run, nothing written)'),
      h('h3', {}, 'Rights gained (' + d.gained.length + ')'), table(d.gained, 'gained'),
      h('h3', {}, 'Rights lost (' + d.lost.length + ')'), table(d.lost, 'lost'));
  };

  const reloadAndReapply = () => attempt(errBox, async () => {
    const r = await call('GET', path('entities', entity, 'roles', st.base.id));
    const old = st.base;
    st.base = r.data; st.etag = r.etag;
    // A field edit stays only if it was an edit of the old version.
    if (st.name === old.name) st.name = null;
    if (st.description === old.description) st.description = null;
    if (st.dflt === old.default) st.dflt = null;
    for (const [k, v] of [...st.edits]) {
      const [ot, a] = k.split('\u0000');
      if (baseValue(ot, a) === v) st.edits.delete(k);
    }
    for (const [k, v] of [...st.condEdits]) {
      const [ot, a] = k.split('\u0000');
      if (baseCond(ot, a) === v) st.condEdits.delete(k);
    }
    st.cellErrors.clear();
    axesFrom([st.base]);
    draw();
    errBox.show(h('p', { class: 'note', id: 'reapplied' }, 'Reloaded version ' + st.base.version + ' and reapplied your ' + new Set([...st.edits.keys(), ...st.condEdits.keys()]).size + ' changed cell(s). Review, then save again.'));
    say('Role reloaded; your changes are reapplied.');
  });

  const saveRole = () => attempt(errBox, async () => {
    diffBox.show();
    try {
      let r;
      if (!st.base) {
        r = await call('POST', path('entities', entity, 'roles'), { body: body() });
      } else if (isSystem()) {
        r = await call('PATCH', path('entities', entity, 'roles', st.base.id), { body: { default: cur('dflt', st.base.default) }, headers: { 'If-Match': st.etag } });
      } else {
        r = await call('PUT', path('entities', entity, 'roles', st.base.id), { body: body(), headers: { 'If-Match': st.etag } });
      }
      const created = !st.base;
      st.base = r.data; st.etag = r.etag; st.edits.clear(); st.condEdits.clear(); st.cellErrors.clear(); st.name = st.description = st.dflt = null;
      say('Role ' + r.data.name + ' saved (version ' + r.data.version + ').');
      if (created) { window.location.hash = link('e', entity, 'roles', r.data.id); return; }
      draw();
      errBox.show(h('p', { class: 'note', id: 'saved' }, 'Saved version ' + r.data.version + '.'));
    } catch (e) {
      if (e instanceof ApiError && e.status === 412) {
        const again = h('button', { type: 'button', id: 'reapply' }, 'Reload and reapply my changes');
        again.addEventListener('click', reloadAndReapply);
        errBox.show(errorBox(e, h('p', {}, 'Someone changed this role after you opened it.'), again));
        again.focus();
        return;
      }
      throw cellError(e);
    }
  });

  const deleteRole = async () => {
    const ok = await confirmDialog({
      title: 'Delete role ' + st.base.name + '?',
      text: 'The role is deleted (it stays readable as deleted). While users hold it, deleting is refused unless you take it from them.',
      confirm: 'Delete role',
      options: [{ name: 'force', label: 'Take it from the users who hold it' }],
    });
    if (!ok) return;
    attempt(errBox, async () => {
      await call('DELETE', path('entities', entity, 'roles', st.base.id), { query: { force: ok.force ? 'true' : undefined }, headers: { 'If-Match': st.etag } });
      say('Role ' + st.base.name + ' deleted.');
      window.location.hash = link('e', entity, 'roles');
    });
  };

  attempt(errBox, async (live) => {
    await load();
    if (live()) draw();
  });
  return h1;
}

// ---------------------------------------------------------------- users

function roleChip(r) {
  return h('span', { class: 'chip' }, r.name || r.id, r.scope ? h('span', { class: 'scope' }, ' @ ' + r.scope) : null,
    r.expires_at ? h('span', { class: 'expires' }, ' until ' + fmtTime(r.expires_at)) : null);
}

function pageUsers(entity) {
  const box = slot({ id: 'user-list' });
  const formBox = slot();
  const q = h('input', { type: 'search', id: 'user-search', autocomplete: 'off' });
  const search = h('form', { class: 'card inline', role: 'search' },
    h('h2', {}, 'Find users'),
    h('div', { class: 'field' }, h('label', { for: 'user-search' }, 'Search users (id, email or name)'), q),
    h('button', { type: 'submit', class: 'secondary' }, 'Search'));
  const id = h('input', { id: 'user-id', required: true, autocomplete: 'off' });
  const email = h('input', { id: 'user-email', type: 'email', autocomplete: 'off' });
  const name = h('input', { id: 'user-name', autocomplete: 'off' });
  const create = h('form', { class: 'card inline', id: 'create-user' },
    h('h2', {}, 'New user'),
    h('div', { class: 'field' }, h('label', { for: 'user-id' }, 'Id'), id),
    h('div', { class: 'field' }, h('label', { for: 'user-email' }, 'Email'), email),
    h('div', { class: 'field' }, h('label', { for: 'user-name' }, 'Name'), name),
    h('button', { type: 'submit' }, 'Create user'), h('small', {}, 'New users get the default roles.'), formBox);
  const h1 = page('Users', h('div', { class: 'row cards' }, search, create), box);

  const rows = h('tbody');
  const more = h('button', { type: 'button', class: 'secondary', hidden: true }, 'Load more');
  const errors = slot();
  let next = null;
  const load = (reset) => attempt(errors, async (live) => {
    if (reset) { next = null; clear(rows); }
    const r = await call('GET', path('entities', entity, 'users'), { query: { limit: 50, expand: 'roles', search: q.value.trim(), pagination_token: next } });
    if (!live()) return;
    for (const u of r.data.data) {
      rows.append(h('tr', {},
        h('th', { scope: 'row' }, h('a', { href: link('e', entity, 'users', u.id) }, u.id)),
        h('td', {}, u.email), h('td', {}, u.name),
        h('td', {}, (u.roles || []).map(roleChip))));
    }
    next = r.data.next_pagination_token;
    more.hidden = !next;
    if (!rows.firstChild) errors.show(h('p', {}, 'No users found.'));
  });
  box.show(h('div', { class: 'table-wrap' }, h('table', {},
    h('thead', {}, h('tr', {}, ['Id', 'Email', 'Name', 'Roles (@ scope)'].map((t) => h('th', { scope: 'col' }, t)))), rows)), more, errors);
  more.addEventListener('click', () => load(false));
  search.addEventListener('submit', (ev) => { ev.preventDefault(); load(true); });
  create.addEventListener('submit', (ev) => {
    ev.preventDefault();
    attempt(formBox, async () => {
      const body = { id: id.value.trim() };
      if (email.value) body.email = email.value;
      if (name.value) body.name = name.value;
      const r = await call('POST', path('entities', entity, 'users'), { body });
      say('User ' + r.data.id + ' created.');
      window.location.hash = link('e', entity, 'users', r.data.id);
    });
  });
  load(true);
  return h1;
}

function pageUser(entity, userId) {
  const info = slot();
  const assigned = slot({ id: 'assignments' });
  const rights = slot({ id: 'rights' });
  const formBox = slot();
  const roleSel = h('select', { id: 'assign-role', required: true });
  const scope = h('input', { id: 'assign-scope', autocomplete: 'off', placeholder: 'team:42' });
  const expires = h('input', { id: 'assign-expires', autocomplete: 'off', placeholder: '2027-01-31T18:00:00Z' });
  const assign = h('form', { class: 'card inline', id: 'assign-form' },
    h('h2', {}, 'Assign a role'),
    h('div', { class: 'field' }, h('label', { for: 'assign-role' }, 'Role'), roleSel),
    h('div', { class: 'field' }, h('label', { for: 'assign-scope' }, 'Scope (optional)'), scope),
    h('div', { class: 'field' }, h('label', { for: 'assign-expires' }, 'Expires at (optional, RFC 3339)'), expires),
    h('button', { type: 'submit' }, 'Assign role'), formBox);
  const delUser = h('button', { type: 'button', class: 'danger', id: 'delete-user' }, 'Delete user');
  // The user's attributes (what conditions read as user): a JSON object,
  // replaced whole on save.
  const attrs = h('textarea', { id: 'user-attributes', class: 'json', rows: '6', spellcheck: 'false', autocomplete: 'off', 'aria-describedby': 'user-attributes-hint' });
  const attrsErr = slot({ class: 'field-error', id: 'user-attributes-error' });
  let attrsDirty = false;
  attrs.addEventListener('input', () => { attrsDirty = true; });
  const attrsForm = h('form', { class: 'card', id: 'attributes-form' },
    h('div', { class: 'field' }, h('label', { for: 'user-attributes' }, 'Attributes (JSON object)'), attrs,
      h('small', { id: 'user-attributes-hint' }, 'Flat names; values null, true/false, numbers, strings or lists of these. Conditions read them as user.<name>.'),
      attrsErr),
    h('button', { type: 'submit', id: 'save-attributes' }, 'Save attributes'));
  const attrsInvalid = (msg) => {
    attrs.setAttribute('aria-invalid', 'true');
    attrs.setAttribute('aria-describedby', 'user-attributes-hint user-attributes-error');
    attrsErr.show(h('small', { class: 'cell-error', role: 'alert' }, msg));
    attrs.focus();
  };
  const attrsValid = () => {
    attrs.removeAttribute('aria-invalid');
    attrs.setAttribute('aria-describedby', 'user-attributes-hint');
    attrsErr.show();
  };
  attrsForm.addEventListener('submit', (ev) => {
    ev.preventDefault();
    let value;
    try {
      value = attrs.value.trim() === '' ? {} : JSON.parse(attrs.value);
    } catch (e) {
      attrsInvalid('Not JSON: ' + e.message);
      return;
    }
    if (value === null || typeof value !== 'object' || Array.isArray(value)) {
      attrsInvalid('The attributes must be a JSON object, such as {"department": "sales"}.');
      return;
    }
    attempt(null, async () => {
      try {
        const r = await call('PATCH', path('entities', entity, 'users', userId), { body: { attributes: value } });
        attrsValid();
        attrsDirty = false;
        attrs.value = JSON.stringify(r.data.attributes || {}, null, 2);
        say('Attributes of ' + userId + ' saved.');
      } catch (e) {
        if (e instanceof ApiError && e.status === 422) {
          attrsInvalid(e.code + ': ' + e.message);
          return;
        }
        throw e;
      }
    });
  });
  const h1 = page('User ' + userId, info, h('h2', {}, 'Attributes'), attrsForm, h('h2', {}, 'Roles'), assigned, assign, h('h2', {}, 'Effective rights (entity-wide, deny applied)'), rights,
    h('p', {}, h('a', { href: link('e', entity, 'users') }, 'All users'), ' ', delUser));

  const load = () => attempt(info, async (live) => {
    const [u, roles, all, perms] = await Promise.all([
      call('GET', path('entities', entity, 'users', userId)),
      call('GET', path('entities', entity, 'users', userId, 'roles')),
      call('GET', path('entities', entity, 'roles'), { query: { limit: 100, sort: 'name' } }),
      call('GET', path('entities', entity, 'users', userId, 'permissions')),
    ]);
    if (!live()) return;
    const user = u.data;
    info.show(h('p', { class: 'meta' }, 'Email ', user.email || '—', ' · name ', user.name || '—', ' · last seen ', fmtTime(user.last_seen_at) || 'never'));
    if (!attrsDirty) attrs.value = JSON.stringify(user.attributes || {}, null, 2);
    const keep = roleSel.value;
    clear(roleSel).append(...all.data.data.map((r) => h('option', { value: r.id }, r.name + (r.role_type === 'system' ? ' (system)' : ''))));
    if (keep) roleSel.value = keep;
    const items = roles.data.data;
    assigned.show(items.length ? h('div', { class: 'table-wrap' }, h('table', {},
      h('thead', {}, h('tr', {}, ['Role', 'Scope', 'Expires', ''].map((t) => h('th', { scope: 'col' }, t)))),
      h('tbody', {}, items.map((it) => {
        const un = h('button', { type: 'button', class: 'danger small', 'aria-label': 'Unassign ' + it.role.name + (it.scope ? ' in ' + it.scope : '') }, 'Unassign');
        un.addEventListener('click', () => attempt(formBox, async () => {
          await call('DELETE', path('entities', entity, 'users', userId, 'roles', it.role.id), { query: { scope: it.scope || undefined } });
          say('Role ' + it.role.name + ' unassigned.');
          await load();
        }));
        return h('tr', {}, h('td', {}, h('a', { href: link('e', entity, 'roles', it.role.id) }, it.role.name)),
          h('td', {}, it.scope || 'entity-wide'), h('td', {}, fmtTime(it.expires_at) || 'never'), h('td', {}, un));
      })))) : h('p', {}, 'No roles.'));
    const objs = (perms.data.objects || []);
    rights.show(objs.length ? h('ul', { class: 'rights' }, objs.map((o) => h('li', {}, h('strong', {}, o.object_type), ': ',
      o.actions.map((a) => a.action_name + ' (' + (LABELS[a.permission] || a.permission) + (a.condition ? ' if ' + a.condition : '') + ')').join(', ')))) : h('p', {}, 'None.'));
  });
  assign.addEventListener('submit', (ev) => {
    ev.preventDefault();
    attempt(formBox, async () => {
      const body = {};
      if (scope.value.trim()) body.scope = scope.value.trim();
      if (expires.value.trim()) body.expires_at = expires.value.trim();
      await call('PUT', path('entities', entity, 'users', userId, 'roles', roleSel.value), { body });
      say('Role assigned.');
      await load();
    });
  });
  delUser.addEventListener('click', async () => {
    const ok = await confirmDialog({ title: 'Delete user ' + userId + '?', text: 'The user and all its assignments are deleted.', confirm: 'Delete user' });
    if (!ok) return;
    attempt(formBox, async () => {
      await call('DELETE', path('entities', entity, 'users', userId));
      say('User ' + userId + ' deleted.');
      window.location.hash = link('e', entity, 'users');
    });
  });
  load();
  return h1;
}

// ---------------------------------------------------------------- check

// conditionCell shows a matched right's condition and what it gave for this
// check: true, false, or why it could not be evaluated.
function conditionCell(m) {
  if (!m.condition) return h('td', { class: 'cond-none' }, '—');
  let result;
  if (m.condition_error) result = h('span', { class: 'cond-error' }, 'error: ' + m.condition_error);
  else if (m.condition_value === true) result = h('span', { class: 'cond-true' }, 'true');
  else if (m.condition_value === false) result = h('span', { class: 'cond-false' }, 'false');
  else result = h('span', { class: 'cond-unknown' }, 'not evaluated');
  return h('td', { class: 'cond-cell' }, h('code', {}, m.condition), ' → ', result);
}

function matchTable(title, items, id) {
  if (!items || !items.length) return null;
  return h('div', { id }, h('h3', {}, title), h('div', { class: 'table-wrap' }, h('table', {},
    h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Role'), h('th', { scope: 'col' }, 'Permission'), h('th', { scope: 'col' }, 'Condition → value'))),
    h('tbody', {}, items.map((m) => h('tr', {}, h('td', {}, m.role_name || (m.role_id ? m.role_id : 'the user\'s own right')), h('td', {}, LABELS[m.permission] || m.permission),
      conditionCell(m)))))));
}

function pageCheck(entity) {
  const result = slot({ id: 'check-result', 'aria-live': 'polite' });
  const f = {
    user_id: field('User id', { id: 'check-user', required: true, autocomplete: 'off' }),
    object_type: field('Object type', { id: 'check-object-type', required: true, autocomplete: 'off' }),
    action: field('Action', { id: 'check-action', required: true, autocomplete: 'off' }),
    owner_id: field('Owner id (optional)', { id: 'check-owner', autocomplete: 'off' }, 'allowed_for_own holds when it is the user'),
    scope: field('Scope (optional)', { id: 'check-scope', autocomplete: 'off' }),
    as_of: asOfField('check-as-of'),
  };
  const explain = h('input', { type: 'checkbox', id: 'check-explain', checked: true });
  const resource = h('textarea', { id: 'check-resource', class: 'json', rows: '3', spellcheck: 'false', autocomplete: 'off', placeholder: '{"amount": 1200, "department": "sales"}', 'aria-describedby': 'check-resource-hint' });
  const resourceErr = slot({ class: 'field-error', id: 'check-resource-error' });
  const resourceInvalid = (msg) => {
    resource.setAttribute('aria-invalid', 'true');
    resourceErr.show(h('small', { class: 'cell-error', role: 'alert' }, msg));
    resource.focus();
  };
  const form = h('form', { class: 'card', id: 'check-form' },
    h('div', { class: 'row' }, Object.values(f)),
    h('div', { class: 'field' }, h('label', { for: 'check-resource' }, 'Resource attributes (optional JSON object)'), resource,
      h('small', { id: 'check-resource-hint' }, 'The object\'s attributes, read by conditions as resource.<name>.'), resourceErr),
    h('div', { class: 'check' }, explain, h('label', { for: 'check-explain' }, 'Explain (the roles that matched, denied, or would grant it)')),
    h('button', { type: 'submit' }, 'Check'));
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    attempt(result, async () => {
      const body = { entity_id: entity };
      for (const [k, el] of Object.entries(f)) {
        const v = el.querySelector('input').value.trim();
        if (v) body[k] = v;
      }
      if (explain.checked) body.explain = true;
      resource.removeAttribute('aria-invalid');
      resourceErr.show();
      if (resource.value.trim() !== '') {
        let v;
        try {
          v = JSON.parse(resource.value);
        } catch (e) {
          resourceInvalid('Not JSON: ' + e.message);
          result.show();
          return;
        }
        if (v === null || typeof v !== 'object' || Array.isArray(v)) {
          resourceInvalid('The resource must be a JSON object, such as {"amount": 1200}.');
          result.show();
          return;
        }
        body.resource = v;
      }
      let r;
      try {
        r = (await call('POST', '/v1/check', { body })).data;
      } catch (e) {
        if (e instanceof ApiError && e.code === 'invalid_attributes') resourceInvalid(e.code + ': ' + e.message);
        throw e;
      }
      result.show(h('div', { class: 'decision ' + (r.allowed ? 'yes' : 'no'), 'data-allowed': String(r.allowed) },
        h('p', { class: 'verdict' }, r.allowed ? 'Allowed' : 'Not allowed'),
        h('p', {}, 'Permission ', h('code', { id: 'check-permission' }, r.permission), ' · policy revision ', h('span', { id: 'check-revision' }, String(r.revision)),
          body.as_of ? ' · as of ' + body.as_of : '',
          r.valid_until ? ' · valid until ' + fmtTime(r.valid_until) : '')),
      matchTable('Matched', r.matched, 'check-matched'),
      matchTable('Denied by', r.denied_by, 'check-denied-by'),
      matchTable('Would be allowed by (entity-wide assignment of)', r.grantable_by, 'check-grantable-by'));
    });
  });
  return page('Check', h('p', {}, 'May this user do this action on this object type in entity ', h('strong', {}, entity), '?'), form, result);
}

// ---------------------------------------------------------------- audit

function pageAudit(entity) {
  const kind = h('select', { id: 'audit-object-type' }, ['', 'assignment', 'client', 'entity', 'role', 'user'].map((v) => h('option', { value: v }, v || 'any')));
  const actor = h('input', { id: 'audit-actor', autocomplete: 'off' });
  const filters = h('form', { class: 'card inline', id: 'audit-filters' },
    h('div', { class: 'field' }, h('label', { for: 'audit-object-type' }, 'Object type'), kind),
    h('div', { class: 'field' }, h('label', { for: 'audit-actor' }, 'Actor'), actor),
    h('button', { type: 'submit', class: 'secondary' }, 'Apply filters'));
  const rows = h('tbody');
  const more = h('button', { type: 'button', class: 'secondary', hidden: true }, 'Load more');
  const errors = slot();
  let next = null;
  const load = (reset) => attempt(errors, async (live) => {
    if (reset) { next = null; clear(rows); }
    const r = await call('GET', path('entities', entity, 'audit-events'), { query: { limit: 50, object_type: kind.value, actor: actor.value.trim(), pagination_token: next } });
    if (!live()) return;
    for (const e of r.data.data) {
      rows.append(h('tr', {},
        h('td', { class: 'nowrap' }, fmtTime(e.time)), h('td', {}, e.actor || ''), h('td', {}, h('code', {}, e.action)),
        h('td', {}, e.object_type), h('td', {}, e.object_id),
        h('td', {}, h('details', {}, h('summary', {}, 'Before / after'),
          h('div', { class: 'ba' },
            h('div', {}, h('small', {}, 'Before'), h('pre', {}, JSON.stringify(e.before, null, 2))),
            h('div', {}, h('small', {}, 'After'), h('pre', {}, JSON.stringify(e.after, null, 2)))),
          h('small', {}, 'Request id ', e.request_id || '—')))));
    }
    next = r.data.next_pagination_token;
    more.hidden = !next;
    if (!rows.firstChild) errors.show(h('p', {}, 'No events.'));
  });
  filters.addEventListener('submit', (ev) => { ev.preventDefault(); load(true); });
  more.addEventListener('click', () => load(false));
  const h1 = page('Audit log', filters, h('div', { class: 'table-wrap' }, h('table', { id: 'audit-table' },
    h('thead', {}, h('tr', {}, ['Time', 'Actor', 'Action', 'Object type', 'Object id', 'Details'].map((t) => h('th', { scope: 'col' }, t)))), rows)), more, errors);
  load(true);
  return h1;
}

// ---------------------------------------------------------------- who can

function pageWhoCan(entity) {
  const ot = field('Object type', { id: 'who-object-type', required: true, autocomplete: 'off' });
  const ac = field('Action', { id: 'who-action', required: true, autocomplete: 'off' });
  const sc = field('Scope (optional)', { id: 'who-scope', autocomplete: 'off' });
  const asOf = asOfField('who-as-of');
  const form = h('form', { class: 'card inline', id: 'who-form' }, ot, ac, sc, asOf, h('button', { type: 'submit' }, 'Who can?'));
  const result = slot({ id: 'who-result' });
  const rows = h('tbody');
  const more = h('button', { type: 'button', class: 'secondary', hidden: true }, 'Load more');
  let next = null;
  const load = (reset) => attempt(result.errors, async (live) => {
    const query = reset
      ? { object_type: ot.querySelector('input').value.trim(), action: ac.querySelector('input').value.trim(), scope: sc.querySelector('input').value.trim(),
        as_of: asOf.querySelector('input').value.trim(), limit: 100 }
      : { pagination_token: next, limit: 100 };
    if (reset) { next = null; clear(rows); }
    const r = await call('GET', path('entities', entity, 'who-can'), { query });
    if (!live()) return;
    for (const x of r.data.data) {
      rows.append(h('tr', {}, h('th', { scope: 'row' }, x.user_id), h('td', {}, LABELS[x.permission] || x.permission,
        x.condition ? h('span', { class: 'cond-cell' }, ' if ', h('code', {}, x.condition)) : null),
        h('td', {}, x.via.map((v) => (v.direct ? 'own right' : v.role_name || v.role_id)).join(', '))));
    }
    next = r.data.next_pagination_token;
    more.hidden = !next;
    if (!rows.firstChild) result.errors.show(h('p', {}, 'Nobody.'));
  });
  result.errors = slot();
  result.show(h('div', { class: 'table-wrap' }, h('table', {}, h('thead', {}, h('tr', {}, ['User', 'Permission', 'Via roles'].map((t) => h('th', { scope: 'col' }, t)))), rows)), more, result.errors);
  form.addEventListener('submit', (ev) => { ev.preventDefault(); load(true); });
  more.addEventListener('click', () => load(false));
  return page('Who can', h('p', {}, 'The users allowed an action (deny applied), and the roles that give it. To see what a role change would do, open the role and use "Preview changes".'), form, result);
}

// ---------------------------------------------------------------- history

// asOfField is an optional "as of" instant: answers then come from the
// policy in force at that past instant (RFC 3339, as the API takes it).
function asOfField(id) {
  return field('As of (optional)', { id, autocomplete: 'off', placeholder: '2026-03-31T23:59:59Z', spellcheck: 'false' },
    'A past instant (RFC 3339): answer as the policy of then did.');
}

// fmtEnd is one end of an interval: its time, revision and actor.
function fmtEnd(r) {
  return h('span', {}, fmtTime(r.at), h('small', {}, ' · revision ' + r.revision + (r.actor ? ' · ' + r.actor : '')));
}

// fmtChange is the audited change that opened or closed an interval.
function fmtChange(c) {
  return c ? h('code', {}, c.action + ' ' + c.object_id) : '—';
}

function pageHistory(entity) {
  const f = {
    user: field('User id', { id: 'history-user', required: true, autocomplete: 'off' }),
    object_type: field('Object type', { id: 'history-object-type', required: true, autocomplete: 'off' }),
    action: field('Action', { id: 'history-action', required: true, autocomplete: 'off' }),
    scope: field('Scope (optional)', { id: 'history-scope', autocomplete: 'off' }),
    from: field('From (optional)', { id: 'history-from', autocomplete: 'off', placeholder: '2026-01-01T00:00:00Z' }),
    to: field('To (optional)', { id: 'history-to', autocomplete: 'off', placeholder: 'now' }),
  };
  const form = h('form', { class: 'card', id: 'history-form' }, h('div', { class: 'row' }, Object.values(f)), h('button', { type: 'submit' }, 'Show history'));
  const result = slot({ id: 'history-result', 'aria-live': 'polite' });
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    attempt(result, async (live) => {
      const v = {};
      for (const [k, el] of Object.entries(f)) v[k] = el.querySelector('input').value.trim();
      const r = await call('GET', path('entities', entity, 'users', v.user, 'access-history'),
        { query: { object_type: v.object_type, action: v.action, scope: v.scope, from: v.from, to: v.to } });
      if (!live()) return;
      const rows = r.data.data.map((x) => h('tr', {},
        h('td', {}, fmtEnd(x.from)), h('td', {}, x.to ? fmtEnd(x.to) : 'still'),
        h('td', {}, LABELS[x.permission] || x.permission, x.condition ? h('span', { class: 'cond-cell' }, ' if ', h('code', {}, x.condition)) : null),
        h('td', {}, x.via.map((w) => (w.role_name || w.role_id) + (w.scope ? ' in ' + w.scope : '')).concat(x.own ? ['own right'] : []).join(', ')),
        h('td', {}, fmtChange(x.opened)), h('td', {}, fmtChange(x.closed))));
      result.show(rows.length
        ? h('div', { class: 'table-wrap' }, h('table', { id: 'history-table' },
          h('thead', {}, h('tr', {}, ['From', 'To', 'Permission', 'Via', 'Opened by', 'Closed by'].map((t) => h('th', { scope: 'col' }, t)))),
          h('tbody', {}, rows)))
        : h('p', {}, 'The user could not do it in that window (policy revision ' + r.data.revision + ').'));
    });
  });
  return page('History', h('p', {}, 'When could this user do this action, through which roles, and which changes granted and took it?'), form, result);
}

render();
