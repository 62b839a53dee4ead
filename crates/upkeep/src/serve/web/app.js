// upkeep's web page: a small single-page app over the JSON API under /api/v1/.
// Everything is built with DOM calls (never innerHTML from data), so a module name or a
// log line cannot inject markup; the Content-Security-Policy forbids inline script anyway.
'use strict';

const RANK = { viewer: 0, operator: 1, owner: 2 };
const EVENT_KINDS = ['run-started', 'module-started', 'module-finished', 'health', 'git-tag',
  'rollback', 'run-finished'];
let session = null;
let source = null; // the EventSource of the run page, closed when the page changes

// --- helpers ---------------------------------------------------------------------------

function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else el.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined) continue;
    el.append(c instanceof Node ? c : String(c));
  }
  return el;
}

function text(v) {
  if (v === null || v === undefined || v === '') return '—';
  if (typeof v === 'object') {
    for (const k of ['outcome', 'result', 'kind', 'action', 'status', 'name']) {
      if (typeof v[k] === 'string') return v[k];
    }
    return JSON.stringify(v);
  }
  return String(v);
}

function when(ms) {
  if (!ms) return '—';
  return new Date(ms).toISOString().replace('T', ' ').slice(0, 16) + 'Z';
}

function age(secs) {
  if (secs === null || secs === undefined) return '';
  if (secs < 120) return secs + ' s ago';
  if (secs < 7200) return Math.round(secs / 60) + ' min ago';
  if (secs < 172800) return Math.round(secs / 3600) + ' h ago';
  return Math.round(secs / 86400) + ' d ago';
}

function can(role) { return session && RANK[session.role] >= RANK[role]; }

function badge(value) {
  const t = text(value);
  return h('span', { class: 'badge ' + t.replace(/[^a-z-]/g, '') }, t);
}

async function api(method, path, body) {
  const headers = { Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (method !== 'GET' && session && session.csrf_token) headers['X-CSRF-Token'] = session.csrf_token;
  const response = await fetch('/api/v1/' + path, {
    method, headers, credentials: 'same-origin',
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  let data = null;
  if (response.status !== 204) {
    try { data = await response.json(); } catch (e) { data = null; }
  }
  if (response.status === 401 && path !== 'session') { session = null; showSignIn(); }
  return { ok: response.ok, status: response.status, data };
}

function errorBox(result) {
  const d = result.data || {};
  const message = d.message || d.error || ('HTTP ' + result.status);
  return h('p', { class: 'error', role: 'alert' }, text(message), d.hint ? h('br') : null,
    d.hint ? 'hint: ' + d.hint : null);
}

function page(title, ...children) {
  const main = document.getElementById('main');
  main.replaceChildren(h('h1', {}, title), ...children);
  document.title = title + ' · upkeep';
  return main;
}

function table(columns, rows, cls) {
  return h('table', { class: cls || 'cards' },
    h('thead', {}, h('tr', {}, columns.map((c) => h('th', { scope: 'col' }, c)))),
    h('tbody', {}, rows.map((cells) => h('tr', {}, cells.map((c, i) =>
      h('td', { 'data-label': columns[i], class: c && c.cls ? c.cls : null }, c && c.node !== undefined ? c.node : c))))));
}

// The typed confirmation: the button stays disabled until the module's name is typed.
function confirmForm(name, label, onConfirm) {
  const input = h('input', { type: 'text', autocomplete: 'off', spellcheck: 'false', 'aria-label': 'Type ' + name + ' to confirm', name: 'confirm' });
  const button = h('button', { type: 'submit', class: 'danger', disabled: true }, label);
  input.addEventListener('input', () => { button.disabled = input.value !== name; });
  const form = h('form', { class: 'row confirm' }, h('label', {}, 'Type ' + name + ' to confirm', input), button);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    if (input.value !== name) return;
    button.disabled = true;
    await onConfirm(input.value, form);
  });
  return form;
}

// --- sign in ---------------------------------------------------------------------------

function showSignIn(message) {
  document.getElementById('nav').hidden = true;
  document.getElementById('signout').hidden = true;
  document.getElementById('who').textContent = '';
  const input = h('input', { type: 'password', id: 'token', name: 'token', autocomplete: 'off', placeholder: 'upk_…', required: true });
  const form = h('form', { class: 'card', id: 'signin' },
    h('label', { for: 'token' }, 'Access token'), input,
    h('p', { class: 'note' }, 'Make one on the host with ', h('code', {}, 'upkeep token create NAME --role viewer|operator|owner'), '.'),
    h('button', { type: 'submit' }, 'Sign in'));
  const box = page('Sign in', form, message ? h('p', { class: 'error', role: 'alert' }, message) : null);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const result = await api('POST', 'session', { token: input.value });
    if (!result.ok) { showSignIn('That token is unknown, expired or revoked.'); return; }
    session = result.data;
    signedIn();
  });
  input.focus();
  return box;
}

function signedIn() {
  document.getElementById('nav').hidden = false;
  for (const a of document.querySelectorAll('#nav [data-role]')) a.hidden = !can(a.dataset.role);
  document.getElementById('who').textContent = session.name + ' (' + session.role + ')';
  document.getElementById('signout').hidden = false;
  route();
}

async function signOut() {
  await api('DELETE', 'session');
  session = null;
  location.hash = '#/';
  showSignIn();
}

// --- pages -----------------------------------------------------------------------------

async function dashboard() {
  const result = await api('GET', 'status');
  if (!result.ok) return page('Dashboard', errorBox(result));
  const s = result.data;
  const reasons = (s.reasons || []).map((r) => h('p', {}, h('code', {}, r.code), ' ', r.message,
    r.hint ? h('span', { class: 'note' }, ' — ', r.hint) : null));
  const state = h('section', { class: 'state ' + s.state, id: 'automation' },
    h('strong', {}, 'Automation: ' + s.state), reasons.length ? reasons : h('p', {}, 'Schedules, checks and notifications work.'));
  const rows = (s.modules || []).map((m) => {
    const upstream = m.upstream && (m.upstream.latest || m.upstream.target);
    const versions = h('span', {}, text(m.applied_version),
      upstream && upstream !== m.applied_version ? [h('span', { class: 'arrow' }, ' → '), upstream] : null);
    const actions = can('owner') && m.applied_version
      ? h('a', { href: '#/modules/' + encodeURIComponent(m.module), class: 'action' }, 'Roll back…') : '';
    return [
      { node: h('a', { href: '#/modules/' + encodeURIComponent(m.module) }, m.module) },
      { node: versions },
      { node: badge(m.state) },
      { node: h('span', {}, m.reason ? badge(m.reason) : '', ' ', m.reason_message || ''), cls: 'why' },
      { node: m.last_outcome ? badge(m.last_outcome) : '—' },
      text(m.last_health),
      m.last_backup ? '#' + m.last_backup + ' ' + age(m.last_backup_age_secs) : '—',
      { node: actions },
    ];
  });
  const main = page('Dashboard', state,
    table(['Module', 'Applied → upstream', 'State', 'Why', 'Last outcome', 'Health', 'Last backup', ''], rows));
  main.querySelector('table').id = 'modules';
  if (can('operator')) {
    const check = h('button', { type: 'button', class: 'secondary', id: 'check-now' }, 'Check for updates now');
    check.addEventListener('click', async () => {
      check.disabled = true;
      const r = await api('POST', 'check', {});
      if (!r.ok) main.append(errorBox(r)); else dashboard();
    });
    main.append(h('div', { class: 'row' }, check));
  }
}

function planTable(plan) {
  const steps = plan.steps || [];
  return table(['Module', 'Action', 'Applied', 'To', 'Note'], steps.map((st) => [
    st.name, { node: badge(st.action) }, text(st.applied_version),
    text(st.update && st.update.target ? st.update.target : st.version),
    st.description || '',
  ]));
}

// The plan page's choice lives in the URL (#/plan?targets=a,b&force=1&allow_breaking=1),
// so the plan shown, its digest and the run confirmed are made of the same choice.
function planChoice() {
  const q = new URLSearchParams(location.hash.split('?')[1] || '');
  const on = (k) => q.get(k) === '1' || q.get(k) === 'true';
  return {
    targets: (q.get('targets') || '').split(',').filter(Boolean),
    force: on('force'),
    allow_breaking: on('allow_breaking'),
  };
}

function planQuery(choice) {
  const q = new URLSearchParams();
  if (choice.targets.length) q.set('targets', choice.targets.join(','));
  if (choice.force) q.set('force', '1');
  if (choice.allow_breaking) q.set('allow_breaking', '1');
  const s = q.toString();
  return s ? '?' + s : '';
}

// The owner's choice of modules and options; applying it shows the plan it makes.
async function planOptions(choice) {
  const status = await api('GET', 'status');
  const names = status.ok ? (status.data.modules || []).map((m) => m.module) : [];
  const boxes = names.map((n) => h('label', { class: 'check' },
    h('input', { type: 'checkbox', name: 'target', value: n, checked: choice.targets.includes(n) }), n));
  const force = h('input', { type: 'checkbox', name: 'force', checked: choice.force });
  const breaking = h('input', { type: 'checkbox', name: 'allow_breaking', checked: choice.allow_breaking });
  const form = h('form', { class: 'card', id: 'plan-options' },
    h('fieldset', {}, h('legend', {}, 'Modules (none ticked: the entrypoint, else all)'), h('div', { class: 'row' }, boxes)),
    h('div', { class: 'row' },
      h('label', { class: 'check' }, force, 'Force: rerun modules that are up to date'),
      h('label', { class: 'check' }, breaking, 'Allow major and breaking updates')),
    h('button', { type: 'submit', class: 'secondary' }, 'Show this plan'));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const picked = {
      targets: boxes.map((b) => b.querySelector('input')).filter((i) => i.checked).map((i) => i.value),
      force: force.checked,
      allow_breaking: breaking.checked,
    };
    location.hash = '#/plan' + planQuery(picked);
  });
  return form;
}

async function planPage() {
  const choice = planChoice();
  const result = await api('GET', 'plan' + planQuery(choice));
  if (!result.ok) return page('Plan', errorBox(result));
  const { plan, plan_digest: digest } = result.data;
  const summary = h('p', {}, plan.to_run + ' to run, ' + plan.refused + ' refused, ' + plan.blocked + ' blocked. Digest ', h('code', { id: 'digest' }, digest.slice(0, 16)));
  // Built before the page is replaced, so the page changes in one step.
  const options = can('owner') ? await planOptions(choice) : null;
  const main = page('Plan', summary, planTable(plan));
  if (options) {
    const button = h('button', { type: 'button', id: 'confirm-run', 'data-digest': digest }, 'Confirm and run this plan');
    const area = h('div', { class: 'row' }, button);
    button.addEventListener('click', async () => {
      // One click, one run: the button stays disabled, and the server answers the same
      // run to a second request with the same digest anyway.
      button.disabled = true;
      const r = await api('POST', 'runs', { plan_digest: button.dataset.digest, ...choice });
      if (r.status === 202) { location.hash = '#/runs/' + r.data.run_id; return; }
      area.append(errorBox(r));
      if (r.status === 409 && r.data && r.data.plan_digest) {
        area.append(h('p', {}, 'The plan changed since it was shown. '), h('a', { href: '#/plan' + planQuery(choice), onclick: () => planPage() }, 'Review the new plan'));
      }
    });
    main.append(area, h('h2', {}, 'Choose'), options);
  }
}

async function runPage(id) {
  const log = h('div', { class: 'log', id: 'run-log' });
  const status = h('p', { id: 'run-status' }, 'Following run ' + id + '…');
  page('Run ' + id, status, log);
  const add = (line) => { log.append(h('div', {}, line)); log.scrollTop = log.scrollHeight; };
  // EventSource reconnects by itself and sends Last-Event-ID, so a dropped connection
  // resumes where it left off; a reload starts again from the run's first event, since
  // the URL names the run.
  source = new EventSource('/api/v1/runs/' + encodeURIComponent(id) + '/events');
  const onEvent = (e) => {
    const row = JSON.parse(e.data);
    const facts = row.data && typeof row.data === 'object'
      ? Object.entries(row.data).filter(([, v]) => v !== null && typeof v !== 'object').map(([k, v]) => k + '=' + v).join(' ') : '';
    add(when(row.at_ms) + '  ' + row.kind + (row.module ? '  ' + row.module : '') + (facts ? '  ' + facts : ''));
  };
  for (const kind of EVENT_KINDS) source.addEventListener(kind, onEvent);
  source.addEventListener('message', onEvent);
  source.addEventListener('summary', (e) => {
    const run = JSON.parse(e.data);
    source.close();
    status.replaceChildren('Run ' + id + ' finished: ', badge(run.result), run.reason ? ' ' + run.reason : '');
    status.dataset.result = text(run.result);
    status.id = 'run-finished';
    (run.modules || []).forEach((m) => add('→ ' + text(m.module || m.name) + ': ' + text(m.outcome)));
  });
  source.addEventListener('error', () => {
    if (source.readyState === EventSource.CLOSED) add('(the connection closed; reload to follow again)');
  });
}

async function historyPage() {
  const q = new URLSearchParams(location.hash.split('?')[1] || '');
  const since = h('input', { name: 'since', value: q.get('since') || '7d', size: 5 });
  const mod = h('input', { name: 'module', value: q.get('module') || '', size: 12 });
  const outcome = h('select', { name: 'outcome' }, ['', 'succeeded', 'failed', 'rolled-back', 'skipped', 'blocked']
    .map((o) => h('option', { value: o, selected: q.get('outcome') === o }, o || 'any outcome')));
  const form = h('form', { class: 'row', id: 'history-filter' }, h('label', {}, 'Since', since), h('label', {}, 'Module', mod),
    h('label', {}, 'Outcome', outcome), h('button', { type: 'submit' }, 'Filter'));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const p = new URLSearchParams();
    for (const [k, v] of [['since', since.value], ['module', mod.value], ['outcome', outcome.value]]) if (v) p.set(k, v);
    location.hash = '#/history?' + p.toString();
  });
  const params = new URLSearchParams();
  for (const k of ['since', 'module', 'outcome']) if (q.get(k)) params.set(k, q.get(k));
  if (!params.has('since')) params.set('since', '7d');
  params.set('limit', '50');
  const result = await api('GET', 'history?' + params.toString());
  if (!result.ok) return page('History', form, errorBox(result));
  const runs = result.data.runs || [];
  page('History', form, runs.length ? table(['Run', 'Trigger', 'Started', 'Result', 'Modules'], runs.map((r) => [
    { node: h('a', { href: '#/runs/' + r.id }, '#' + r.id) }, r.trigger, when(r.started_ms), { node: badge(r.result) },
    (r.modules || []).map((m) => text(m.module || m.name) + ': ' + text(m.outcome)).join(', '),
  ])) : h('p', { class: 'note' }, 'No runs match.'));
}

async function backupsPage() {
  const result = await api('GET', 'backups');
  if (!result.ok) return page('Backups', errorBox(result));
  const list = Array.isArray(result.data) ? result.data : (result.data.backups || []);
  const rows = list.map((b) => {
    // The server asks for the backup's module's name (its name for a backup of no single
    // module), as the command line does.
    const subject = b.module || b.name;
    const cell = h('div', {});
    if (can('operator')) {
      const verify = h('button', { type: 'button', class: 'secondary' }, 'Verify');
      verify.addEventListener('click', async () => {
        verify.disabled = true;
        const r = await api('POST', 'backups/' + b.id + '/verify');
        cell.append(r.ok ? h('p', { class: 'ok' }, 'Verified.') : errorBox(r));
      });
      cell.append(verify);
    }
    if (can('owner')) {
      cell.append(confirmForm(subject, 'Restore', async (confirm, form) => {
        const r = await api('POST', 'backups/' + b.id + '/restore', { confirm });
        form.append(r.ok ? h('p', { class: 'ok' }, 'Restored.') : errorBox(r));
      }));
    }
    return ['#' + b.id, b.name, text(b.reason), when(b.created_ms), b.module ? b.module + ' ' + text(b.module_version) : 'everything', { node: cell }];
  });
  const main = page('Backups', list.length ? table(['Backup', 'Name', 'Why', 'Taken', 'Of', ''], rows) : h('p', { class: 'note' }, 'No backups yet.'));
  if (can('operator')) {
    const create = h('button', { type: 'button', id: 'backup-create' }, 'Take a backup now');
    create.addEventListener('click', async () => {
      create.disabled = true;
      const r = await api('POST', 'backups', {});
      if (r.ok) backupsPage(); else main.append(errorBox(r));
    });
    main.append(h('div', { class: 'row' }, create));
  }
}

async function modulePage(name) {
  const result = await api('GET', 'modules/' + encodeURIComponent(name));
  if (!result.ok) return page(name, errorBox(result));
  const { module: m, versions } = result.data;
  const list = versions || [];
  const main = page(name, h('p', {}, 'Applied ', h('strong', {}, text(m.applied_version)), ', last safe ', text(m.last_safe_version), '. ',
    m.reason_message || ''),
    h('h2', {}, 'Versions'), table(['Version', 'Applied', 'Last safe', 'Tag', 'Backups'], list.map((v) => [
      text(v.version), v.applied ? 'applied' : '', v.last_safe ? 'last safe' : '',
      (v.tags || []).map((t) => t.tag).join(', ') || '—', (v.backups || []).map((id) => '#' + id).join(', ') || '—'])));
  if (can('owner')) {
    // Offered: every version not applied now (newest first, as listed), then the last
    // safe version; the name must be typed either way.
    const choices = list.filter((v) => !v.applied).map((v) => v.version);
    const select = h('select', { name: 'version', id: 'rollback-version' },
      choices.map((v) => h('option', { value: v }, 'version ' + v)),
      h('option', { value: '' }, 'its last safe version'));
    main.append(h('h2', {}, 'Roll back'), h('label', {}, 'Roll ' + name + ' back to', select),
      confirmForm(name, 'Roll back ' + name, async (confirm, form) => {
        const body = { confirm };
        if (select.value) body.version = select.value;
        const r = await api('POST', 'modules/' + encodeURIComponent(name) + '/rollback', body);
        form.append(r.ok ? h('p', { class: 'ok', id: 'rollback-done' }, 'Rolled back: ' + text(r.data && (r.data.result || r.data.outcome || 'done'))) : errorBox(r));
      }));
  }
}

async function schedulesPage() {
  const result = await api('GET', 'schedules');
  if (!result.ok) return page('Schedules', errorBox(result));
  const list = Array.isArray(result.data) ? result.data : (result.data.schedules || []);
  const rows = list.map((s) => {
    const cell = h('div', { class: 'row' });
    if (can('owner')) {
      const toggle = h('button', { type: 'button', class: 'secondary' }, s.enabled ? 'Disable' : 'Enable');
      toggle.addEventListener('click', async () => {
        toggle.disabled = true;
        const r = await api('POST', 'schedules/' + encodeURIComponent(s.name) + (s.enabled ? '/disable' : '/enable'));
        if (r.ok) schedulesPage(); else cell.append(errorBox(r));
      });
      const remove = h('button', { type: 'button', class: 'danger' }, 'Remove');
      remove.addEventListener('click', async () => {
        remove.disabled = true;
        const r = await api('DELETE', 'schedules/' + encodeURIComponent(s.name));
        if (r.ok) schedulesPage(); else cell.append(errorBox(r));
      });
      cell.append(toggle, remove);
    }
    return [s.name, s.spec + ' (' + s.time_zone + ')', s.enabled ? 'enabled' : 'disabled', when(s.next_run_ms),
      s.last_result ? badge(s.last_result) : '—', { node: cell }];
  });
  const main = page('Schedules', list.length ? table(['Name', 'When', 'State', 'Next', 'Last result', ''], rows) : h('p', { class: 'note' }, 'No schedule: nothing updates by itself.'));
  if (can('owner')) {
    const name = h('input', { name: 'name', required: true, size: 10, value: 'nightly' });
    const daily = h('input', { name: 'daily', type: 'time', required: true, value: '03:00' });
    const form = h('form', { class: 'row', id: 'schedule-add' }, h('label', {}, 'Name', name), h('label', {}, 'Daily at', daily), h('button', { type: 'submit' }, 'Add schedule'));
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      const r = await api('POST', 'schedules', { name: name.value, daily: daily.value });
      if (r.ok) schedulesPage(); else form.append(errorBox(r));
    });
    main.append(h('h2', {}, 'Add'), form);
  }
}

async function settingsPage() {
  const result = await api('GET', 'settings');
  if (!result.ok) return page('Settings', errorBox(result));
  const list = Array.isArray(result.data) ? result.data : (result.data.settings || []);
  page('Settings', table(['Key', 'Value', 'What it does'], list.map((s) => {
    const shown = typeof s.value === 'object' && s.value !== null ? JSON.stringify(s.value) : s.value;
    const input = h('input', { value: shown === null || shown === undefined ? '' : String(shown), 'aria-label': s.key });
    const save = h('button', { type: 'submit', class: 'secondary' }, 'Save');
    const form = h('form', { class: 'row' }, input, save);
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      save.disabled = true;
      const r = await api('PUT', 'settings/' + encodeURIComponent(s.key), { value: input.value });
      save.disabled = false;
      form.append(r.ok ? h('span', { class: 'ok' }, 'saved') : errorBox(r));
    });
    return [h('code', {}, s.key), { node: form }, h('span', { class: 'note' }, s.doc, s.default ? ' (default)' : '')];
  })));
}

// The owner's tokens: list, create (the secret is shown once, here), revoke after a
// second, explicit click.
async function tokensPage() {
  const result = await api('GET', 'tokens');
  if (!result.ok) return page('Tokens', errorBox(result));
  const rows = result.data.map((t) => {
    const cell = h('div', { class: 'row' });
    if (t.state !== 'revoked') {
      const revoke = h('button', { type: 'button', class: 'secondary', 'data-revoke': t.name }, 'Revoke');
      revoke.addEventListener('click', () => {
        const yes = h('button', { type: 'button', class: 'danger', 'data-confirm-revoke': t.name }, 'Revoke ' + t.name + ' now');
        const no = h('button', { type: 'button', class: 'secondary' }, 'Keep it');
        yes.addEventListener('click', async () => {
          yes.disabled = true;
          const r = await api('DELETE', 'tokens/' + encodeURIComponent(t.name));
          if (r.ok) tokensPage(); else cell.append(errorBox(r));
        });
        no.addEventListener('click', () => cell.replaceChildren(revoke));
        cell.replaceChildren(h('span', { class: 'note' }, 'It stops working at once, and signs out every browser that uses it.'), yes, no);
      });
      cell.append(revoke);
    }
    return [h('code', {}, t.name), t.role, { node: badge(t.state) }, when(t.created_ms), text(t.created_by),
      when(t.expires_ms), when(t.last_used_ms), { node: cell }];
  });
  const list = rows.length
    ? table(['Name', 'Role', 'State', 'Created', 'By', 'Expires', 'Last used', ''], rows)
    : h('p', { class: 'note' }, 'No tokens.');
  list.id = 'tokens';
  const name = h('input', { name: 'name', required: true, size: 14, pattern: '[A-Za-z0-9._][A-Za-z0-9._-]{0,63}', placeholder: 'grafana' });
  const role = h('select', { name: 'role' }, ['viewer', 'operator', 'owner'].map((r) => h('option', { value: r }, r)));
  const expires = h('input', { name: 'expires', size: 6, placeholder: '90d', 'aria-label': 'Expires after (e.g. 90d; empty: never)' });
  const form = h('form', { class: 'row', id: 'token-create' }, h('label', {}, 'Name', name), h('label', {}, 'Role', role),
    h('label', {}, 'Expires after', expires), h('button', { type: 'submit' }, 'Create token'));
  const shown = h('div', { id: 'token-secret-area' });
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const r = await api('POST', 'tokens', { name: name.value, role: role.value, expires: expires.value || null });
    if (!r.ok) { shown.replaceChildren(errorBox(r)); return; }
    await tokensPage();
    document.getElementById('token-secret-area').replaceChildren(secretBox(r.data));
  });
  page('Tokens', shown, list, h('h2', {}, 'Create'), form,
    h('p', { class: 'note' }, 'The same from the host:'),
    h('pre', { class: 'log' }, 'upkeep token create NAME --role viewer|operator|owner [--expires 90d]\nupkeep token list\nupkeep token revoke NAME'));
}

// A new token's secret, shown this once: selected on focus, with a copy button.
function secretBox(token) {
  const secret = h('input', { id: 'token-secret', readonly: true, value: token.secret, size: 40, spellcheck: 'false', 'aria-label': 'Secret of ' + token.name });
  secret.addEventListener('focus', () => secret.select());
  const copy = h('button', { type: 'button', class: 'secondary' }, 'Copy');
  const said = h('span', { class: 'note' });
  copy.addEventListener('click', async () => {
    secret.select();
    try { await navigator.clipboard.writeText(token.secret); said.textContent = 'copied'; } catch (e) { said.textContent = 'selected: press Ctrl+C'; }
  });
  return h('div', { class: 'card', role: 'status' },
    h('p', {}, 'Created ', h('code', {}, token.name), ' (' + token.role + '). Copy its secret now: it is not shown again.'),
    h('div', { class: 'row' }, secret, copy, said));
}

// --- routing ---------------------------------------------------------------------------

function route() {
  if (source) { source.close(); source = null; }
  if (!session) return showSignIn();
  const path = location.hash.replace(/^#/, '').split('?')[0] || '/';
  for (const a of document.querySelectorAll('#nav a')) {
    a.classList.toggle('current', a.getAttribute('href') === '#' + path);
  }
  const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
  switch (parts[0]) {
    case undefined: return dashboard();
    case 'plan': return planPage();
    case 'runs': return runPage(parts[1]);
    case 'history': return historyPage();
    case 'backups': return backupsPage();
    case 'modules': return modulePage(parts[1]);
    case 'schedules': return schedulesPage();
    case 'settings': return settingsPage();
    case 'tokens': return tokensPage();
    default: return page('Not found', h('p', {}, 'No such page. ', h('a', { href: '#/' }, 'Dashboard')));
  }
}

async function start() {
  document.getElementById('signout').addEventListener('click', signOut);
  window.addEventListener('hashchange', route);
  const result = await api('GET', 'session');
  if (result.ok) { session = result.data; signedIn(); } else showSignIn();
}

document.addEventListener('DOMContentLoaded', start);
