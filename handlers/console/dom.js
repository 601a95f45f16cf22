// Small DOM helpers. Text is always set as text (never as HTML), so names
// and ids from the API cannot become markup.

// h makes an element: attrs sets attributes (class, for, aria-*, data-*,
// booleans when true), on<Event> adds a listener; children are nodes or text.
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') {
      el.addEventListener(k.slice(2).toLowerCase(), v);
    } else if (k === 'value') {
      el.value = v;
    } else if (k === 'checked') {
      el.checked = !!v;
    } else if (v === true) {
      el.setAttribute(k, '');
    } else {
      el.setAttribute(k, String(v));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === undefined || c === null || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else if (c instanceof Node) el.appendChild(c);
    else el.appendChild(document.createTextNode(String(c)));
  }
}

export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
}

let uid = 0;
// field is a labelled input: label text, then the input's attributes.
export function field(label, attrs, hint) {
  const id = attrs.id || 'f' + (++uid);
  const input = h(attrs.tag || 'input', { ...attrs, tag: undefined, id });
  return h('div', { class: 'field' }, h('label', { for: id }, label), input, hint ? h('small', {}, hint) : null);
}

// errorBox shows an API error as the API said it: code and message (and
// the details naming fields), with the HTTP status.
export function errorBox(err, ...extra) {
  const details = (err.details || []).map((d) => h('li', {}, d.field ? d.field + ': ' : '', d.message));
  return h('div', { class: 'error', role: 'alert' },
    h('p', {},
      h('strong', { class: 'error-code' }, err.code || 'error'),
      ': ',
      h('span', { class: 'error-message' }, err.message),
      err.status ? h('span', { class: 'error-status' }, ' (HTTP ' + err.status + ')') : null),
    details.length ? h('ul', {}, details) : null,
    (err.violations || []).length ? violationList(err.violations, 'refused-violations', 'would hold') : null,
    ...extra);
}

// violationList shows separation-of-duties violations: per user (and
// scope), each right of the constraint held and through what.
export function violationList(vs, id, verb) {
  return h('ul', { class: 'violations', id },
    vs.map((v) => h('li', {},
      h('strong', {}, v.user_id), v.scope ? ' in ' + v.scope : '', ' ' + (verb || 'holds') + ', against ',
      h('em', {}, v.constraint_name), ': ',
      h('ul', {}, (v.rights || []).map((r) => h('li', {},
        h('code', {}, r.object_type + ':' + r.action), ' (', r.permission, r.condition ? ' if ' + r.condition : '', ') through ',
        [...(r.roles || []).map((x) => 'role ' + x.role_name + (x.scope ? ' in ' + x.scope : '')), ...(r.own ? ['own rights'] : [])].join(', ')))))));
}

// slot is a place on a page that shows one thing at a time (a result, an
// error).
export function slot(attrs) {
  const el = h('div', attrs || {});
  el.show = (...nodes) => { clear(el); append(el, nodes); };
  return el;
}

export function fmtTime(s) {
  if (!s) return '';
  const d = new Date(s);
  return isNaN(d) ? s : d.toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z');
}

// confirmDialog asks before something that cannot be undone; it resolves to
// false (cancelled) or to the values of the dialog's checkboxes.
export function confirmDialog({ title, text, confirm, options }) {
  return new Promise((resolve) => {
    const boxes = (options || []).map((o) => {
      const id = 'c' + (++uid);
      return { name: o.name, el: h('input', { type: 'checkbox', id }), label: h('label', { for: id }, o.label) };
    });
    const cancelBtn = h('button', { type: 'button', class: 'secondary', autofocus: true }, 'Cancel');
    const okBtn = h('button', { type: 'button', class: 'danger', 'data-confirm': '' }, confirm);
    const titleId = 'd' + (++uid);
    const dlg = h('dialog', { 'aria-labelledby': titleId, class: 'confirm' },
      h('h2', { id: titleId }, title),
      h('p', {}, text),
      boxes.map((b) => h('div', { class: 'check' }, b.el, b.label)),
      h('div', { class: 'actions' }, cancelBtn, okBtn));
    let result = false;
    cancelBtn.addEventListener('click', () => dlg.close());
    okBtn.addEventListener('click', () => {
      result = {};
      for (const b of boxes) result[b.name] = b.el.checked;
      dlg.close();
    });
    dlg.addEventListener('close', () => { dlg.remove(); resolve(result); });
    document.body.appendChild(dlg);
    dlg.showModal();
    cancelBtn.focus();
  });
}
