// The constraints page: an entity's separation-of-duties constraints (rights
// of which no user may hold more than one), one editor per constraint
// (rights, mode, exceptions) and the users in violation of it. The pages
// take the console's page helpers from app.js (constraintPages).
import { call, path } from './api.js';
import { h, clear, field, slot, fmtTime, confirmDialog, violationList } from './dom.js';

export function constraintPages({ page, attempt, say, link }) {
  function pageConstraints(entity) {
    const box = slot({ id: 'constraint-list' });
    const h1 = page('Constraints',
      h('p', {}, 'Separation of duties: each constraint lists rights of which no user may hold more than one (counted over roles, own rights and scopes). A write that would break an enforcing constraint is refused.'),
      h('p', {}, h('a', { class: 'button', href: link('e', entity, 'constraints', 'new') }, 'New constraint')), box);
    attempt(box, async (live) => {
      const r = await call('GET', path('entities', entity, 'constraints'));
      if (!live()) return;
      const ks = r.data.data;
      box.show(ks.length ? h('div', { class: 'table-wrap' }, h('table', {},
        h('thead', {}, h('tr', {}, ['Name', 'Mode', 'Rights', 'Exceptions', 'Updated'].map((t) => h('th', { scope: 'col' }, t)))),
        h('tbody', {}, ks.map((k) => h('tr', {},
          h('th', { scope: 'row' }, h('a', { href: link('e', entity, 'constraints', k.id) }, k.name)),
          h('td', {}, k.mode), h('td', {}, k.rights.map((x) => x.object_type + ':' + x.action).join(', ')),
          h('td', { class: 'num' }, k.exceptions.length), h('td', {}, fmtTime(k.updated_at))))))) : h('p', {}, 'No constraints yet.'));
    });
    return h1;
  }

  function rightRow(list, r) {
    const ot = h('input', { class: 'c-object-type', 'aria-label': 'Object type', value: r.object_type || '', autocomplete: 'off', required: true });
    const ac = h('input', { class: 'c-action', 'aria-label': 'Action', value: r.action || '', autocomplete: 'off', required: true });
    const rm = h('button', { type: 'button', class: 'secondary small', 'aria-label': 'Remove right' }, 'Remove');
    const row = h('div', { class: 'c-right row' }, ot, ac, rm);
    rm.addEventListener('click', () => row.remove());
    list.append(row);
  }

  function exceptionRow(list, x) {
    const user = h('input', { class: 'c-exc-user', 'aria-label': 'User id', value: x.user_id || '', autocomplete: 'off', required: true });
    const reason = h('input', { class: 'c-exc-reason', 'aria-label': 'Reason', value: x.reason || '', autocomplete: 'off', required: true });
    const until = h('input', { class: 'c-exc-expires', 'aria-label': 'Expires at (RFC 3339)', value: x.expires_at || '', placeholder: '2030-01-01T00:00:00Z', autocomplete: 'off', required: true });
    const rm = h('button', { type: 'button', class: 'secondary small', 'aria-label': 'Remove exception' }, 'Remove');
    const row = h('div', { class: 'c-exception row' }, user, reason, until, rm);
    rm.addEventListener('click', () => row.remove());
    list.append(row);
  }

  function pageConstraint(entity, id) {
    const name = field('Name', { id: 'c-name', required: true, autocomplete: 'off' });
    const desc = field('Description', { id: 'c-description', autocomplete: 'off' });
    const mode = field('Mode', { id: 'c-mode', tag: 'select' });
    mode.querySelector('select').append(h('option', { value: 'enforce' }, 'enforce (refuse writes)'), h('option', { value: 'report' }, 'report only'));
    const rights = h('div', { id: 'c-rights' });
    const addRight = h('button', { type: 'button', class: 'secondary', id: 'c-add-right' }, 'Add right');
    addRight.addEventListener('click', () => rightRow(rights, {}));
    const excs = h('div', { id: 'c-exceptions' });
    const addExc = h('button', { type: 'button', class: 'secondary', id: 'c-add-exception' }, 'Add exception');
    addExc.addEventListener('click', () => exceptionRow(excs, {}));
    const errBox = slot({ class: 'messages', id: 'c-messages' });
    const form = h('form', { class: 'card', id: 'constraint-form' }, name, desc, mode,
      h('h2', {}, 'Rights (no user may hold more than one)'), rights, addRight,
      h('h2', {}, 'Exceptions (audited, until they expire)'), excs, addExc,
      h('p', {}, h('button', { type: 'submit' }, id ? 'Save constraint' : 'Create constraint')), errBox);
    const violBox = slot({ id: 'c-violations' });
    const del = id ? h('button', { type: 'button', class: 'danger', id: 'c-delete' }, 'Delete constraint') : null;
    const h1 = page(id ? 'Constraint' : 'New constraint',
      h('p', {}, h('a', { href: link('e', entity, 'constraints') }, 'All constraints'), ' ', del), form,
      id ? h('h2', {}, 'Users in violation now') : null, id ? violBox : null);

    const body = () => ({
      name: name.querySelector('input').value.trim(),
      description: desc.querySelector('input').value,
      mode: mode.querySelector('select').value,
      rights: [...rights.querySelectorAll('.c-right')].map((r) => ({ object_type: r.querySelector('.c-object-type').value.trim(), action: r.querySelector('.c-action').value.trim() })),
      exceptions: [...excs.querySelectorAll('.c-exception')].map((r) => ({ user_id: r.querySelector('.c-exc-user').value.trim(), reason: r.querySelector('.c-exc-reason').value, expires_at: r.querySelector('.c-exc-expires').value.trim() })),
    });
    const fill = (k) => {
      name.querySelector('input').value = k.name;
      desc.querySelector('input').value = k.description;
      mode.querySelector('select').value = k.mode;
      clear(rights);
      k.rights.forEach((r) => rightRow(rights, r));
      clear(excs);
      k.exceptions.forEach((x) => exceptionRow(excs, x));
    };
    const loadViolations = () => attempt(violBox, async (live) => {
      const r = await call('GET', path('entities', entity, 'constraints', id, 'violations'));
      if (!live()) return;
      violBox.show(r.data.data.length ? violationList(r.data.data, 'violation-list') : h('p', { id: 'no-violations' }, 'Nobody is in violation (revision ' + r.data.revision + ').'));
    });
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      attempt(errBox, async () => {
        const r = id
          ? await call('PUT', path('entities', entity, 'constraints', id), { body: body() })
          : await call('POST', path('entities', entity, 'constraints'), { body: body() });
        say('Constraint ' + r.data.name + ' saved.');
        if (!id) {
          window.location.hash = link('e', entity, 'constraints', r.data.id);
          return;
        }
        fill(r.data);
        errBox.show(h('p', { class: 'note', id: 'saved' }, 'Saved.'));
        loadViolations();
      });
    });
    if (del) {
      del.addEventListener('click', async () => {
        const ok = await confirmDialog({ title: 'Delete this constraint?', text: 'Writes are no longer checked against it.', confirm: 'Delete constraint' });
        if (!ok) return;
        attempt(errBox, async () => {
          await call('DELETE', path('entities', entity, 'constraints', id));
          say('Constraint deleted.');
          window.location.hash = link('e', entity, 'constraints');
        });
      });
    }
    if (id) {
      attempt(errBox, async (live) => {
        const r = await call('GET', path('entities', entity, 'constraints', id));
        if (!live()) return;
        fill(r.data);
        loadViolations();
      });
    } else {
      rightRow(rights, {});
      rightRow(rights, {});
    }
    return h1;
  }

  return { pageConstraints, pageConstraint };
}
