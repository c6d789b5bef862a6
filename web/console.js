// The seller dashboard (/seller) and the back office (/admin): the same single page as the
// storefront, on the same API, for the roles that may use those routes (the API refuses the
// others whatever the page shows).

import { session, api, h, money, price, say, show, problem, field, formValues, needSignIn } from './app.js';

const when = (t) => (t ? new Date(t).toLocaleString() : '');

function table(caption, headings, rows, id) {
  return h(
    'table',
    { class: 'lines', id },
    h('caption', {}, caption),
    h('thead', {}, h('tr', {}, headings.map((t) => h('th', { scope: 'col' }, t)))),
    h('tbody', {}, rows.length ? rows : h('tr', {}, h('td', { colspan: headings.length }, 'None.'))),
  );
}

function row(...cells) {
  return h('tr', {}, cells.map((c) => h('td', {}, c)));
}

/** Runs an action from a button or form, says how it went, and redraws the page. */
function act(work, done, redraw) {
  return async (e) => {
    if (e && e.preventDefault) e.preventDefault();
    try {
      await work(e);
      say(done);
      await redraw();
    } catch (error) {
      say(`${error.message}${error.code ? ` (${error.code})` : ''}`);
    }
  };
}

/** A bar chart of `values` (numbers), drawn as an SVG with a text alternative. */
function chart(title, labels, values, format) {
  const max = Math.max(1, ...values);
  const width = 36;
  const svg = document.createElementNS('http://www.w3.org/2000/svg', 'svg');
  svg.setAttribute('viewBox', `0 0 ${labels.length * width} 120`);
  svg.setAttribute('role', 'img');
  svg.setAttribute('aria-label', `${title}: ${labels.map((l, i) => `${l} ${format(values[i])}`).join(', ')}`);
  svg.setAttribute('class', 'chart');
  values.forEach((v, i) => {
    const bar = document.createElementNS('http://www.w3.org/2000/svg', 'rect');
    const height = Math.round((v / max) * 100);
    bar.setAttribute('x', String(i * width + 6));
    bar.setAttribute('y', String(110 - height));
    bar.setAttribute('width', String(width - 12));
    bar.setAttribute('height', String(height));
    svg.append(bar);
  });
  return h('figure', {}, svg, h('figcaption', {}, title));
}

// ---- seller ----------------------------------------------------------------------------

async function sellerPage() {
  if (needSignIn('#/')) return;
  let products;
  let fulfilments;
  let dashboard;
  try {
    [products, fulfilments, dashboard] = await Promise.all([
      api('GET', '/seller/products?limit=100'),
      api('GET', '/seller/fulfilments'),
      api('GET', '/seller/dashboard'),
    ]);
  } catch (error) {
    show('Seller dashboard', problem(error));
    return;
  }
  const me = session.accountId;
  const list = act(
    (e) => {
      const v = formValues(e.target);
      return api('POST', '/products', {
        sku: v.sku,
        name: v.name,
        description: v.description || '',
        category: v.category,
        price: { amount_minor: Math.round(Number(v.price) * 100), currency: 'EUR' },
      });
    },
    'Product listed: it waits for an admin’s approval.',
    sellerPage,
  );
  const receive = (sku) =>
    act(
      (e) => api('POST', `/products/${encodeURIComponent(sku)}/stock`, { quantity: Number(e.target.elements.quantity.value) }),
      `Stock of ${sku} received.`,
      sellerPage,
    );
  const ship = (order) =>
    act(
      (e) =>
        api('POST', `/orders/${order}/fulfilments/${me}/shipment`, {
          carrier: e.target.elements.carrier.value,
          tracking_number: e.target.elements.tracking.value,
        }),
      'Shipped.',
      sellerPage,
    );
  const approval = (p) =>
    p.draft ? `${p.draft.status}${p.draft.reason ? `: ${p.draft.reason}` : ''}` : p.published ? 'published' : 'waiting';
  const days = dashboard.sales_per_day || [];
  show(
    'Seller dashboard',
    h('h2', {}, 'Sales'),
    h(
      'dl',
      {},
      h('dt', {}, 'Revenue'),
      h('dd', { id: 'revenue' }, dashboard.revenue.map(price).join(', ') || money(0, 'EUR')),
      h('dt', {}, 'Commission owed'),
      h('dd', {}, dashboard.commission_owed.map(price).join(', ') || money(0, 'EUR')),
      h('dt', {}, 'Commission rate'),
      h('dd', {}, `${(dashboard.commission_bp / 100).toFixed(2)} %`),
    ),
    days.length ? chart('Revenue per day', days.map((d) => d.day), days.map((d) => d.revenue_minor), (v) => money(v, days[0].currency)) : null,
    table(
      'Top products',
      ['SKU', 'Units', 'Revenue'],
      dashboard.top_products.map((t) => row(t.sku, t.units, money(t.revenue_minor, t.currency))),
    ),
    h('h2', {}, 'Products'),
    table(
      'Your products',
      ['SKU', 'Name', 'Approval', 'Stock', 'Receive stock'],
      products.items.map((p) =>
        row(
          p.sku,
          p.name,
          approval(p),
          h('span', { class: p.low_stock ? 'error' : '' }, `${p.stock_on_hand}${p.low_stock ? ' (low)' : ''}`),
          h(
            'form',
            { onsubmit: receive(p.sku), class: 'inline' },
            h('label', { for: `receive-${p.sku}`, class: 'visually-hidden' }, `Units of ${p.sku} received`),
            h('input', { id: `receive-${p.sku}`, name: 'quantity', type: 'number', min: 1, max: 1000000, value: 10, required: true }),
            h('button', { type: 'submit' }, 'Receive'),
          ),
        ),
      ),
      'seller-products',
    ),
    h(
      'form',
      { onsubmit: list, id: 'new-product' },
      h('h2', {}, 'List a product'),
      field('SKU', 'sku', { required: true }),
      field('Name', 'name', { required: true }),
      field('Description', 'description'),
      field('Category (slug)', 'category', { required: true }),
      field('Price in EUR', 'price', { type: 'number', min: 0.01, step: 0.01, required: true }),
      h('button', { type: 'submit' }, 'List it'),
    ),
    h('h2', {}, 'To ship'),
    table(
      'Your parts of orders',
      ['Order', 'Placed', 'Payment', 'State', 'Ship'],
      fulfilments.map((f) =>
        row(
          f.order_id.slice(-8),
          when(f.placed_at),
          f.payment_state,
          f.state,
          f.state === 'unfulfilled' && f.payment_state === 'captured'
            ? h(
                'form',
                { onsubmit: ship(f.order_id), class: 'inline' },
                h('label', { for: `carrier-${f.order_id}` }, 'Carrier'),
                h('input', { id: `carrier-${f.order_id}`, name: 'carrier', required: true }),
                h('label', { for: `tracking-${f.order_id}` }, 'Tracking'),
                h('input', { id: `tracking-${f.order_id}`, name: 'tracking', required: true }),
                h('button', { type: 'submit' }, 'Ship'),
              )
            : f.carrier || '',
        ),
      ),
      'fulfilments',
    ),
  );
}

// ---- admin -----------------------------------------------------------------------------

/** The back office's own navigation, above each of its pages. */
function adminNav() {
  const link = (href, text) => h('li', {}, h('a', { href }, text));
  return h(
    'nav',
    { 'aria-label': 'Back office', class: 'subnav' },
    h('ul', { class: 'links' }, link('#/', 'Overview'), link('#/projections', 'Projections'), link('#/accounts', 'Accounts and roles'), link('#/settings', 'Tax and shipping')),
  );
}

let following = null;

/** Projections with their lag, and a rebuild whose progress the page follows. */
async function projectionsPage() {
  if (needSignIn('#/projections')) return;
  let status;
  try {
    status = await api('GET', '/admin/projections');
  } catch (error) {
    show('Projections', adminNav(), problem(error));
    return;
  }
  const start = act(
    (e) => {
      const chosen = [...e.target.querySelectorAll('input[name=projection]:checked')].map((c) => c.value);
      return api('POST', '/admin/projections/rebuild', { projections: chosen });
    },
    'Rebuild started.',
    projectionsPage,
  );
  const r = status.rebuild;
  show(
    'Projections',
    adminNav(),
    h('p', {}, `The log's head is at position ${status.head}.`),
    h(
      'form',
      { onsubmit: start, id: 'rebuild-form' },
      table(
        'Read models',
        ['Rebuild', 'Projection', 'Applied up to', 'Behind'],
        status.projections.map((p) =>
          row(
            h('input', { type: 'checkbox', name: 'projection', value: p.name, id: `p-${p.name}`, 'aria-label': `Rebuild ${p.name}` }),
            h('label', { for: `p-${p.name}` }, p.name),
            p.applied_up_to,
            `${p.lag_events} events`,
          ),
        ),
        'projections',
      ),
      h('button', { type: 'submit', disabled: Boolean(r && r.state === 'running') }, 'Rebuild the checked ones (none checked: all)'),
    ),
    r
      ? h(
          'section',
          { 'aria-labelledby': 'rebuild-title', id: 'rebuild' },
          h('h2', { id: 'rebuild-title' }, `Rebuild of ${r.projections.join(', ')}: ${r.state}`),
          h('progress', { max: Math.max(1, r.head), value: Math.min(r.position, Math.max(1, r.head)), 'aria-label': 'Rebuild progress' }),
          h('p', {}, `${r.events} events replayed, position ${r.position} of ${r.head}; started ${when(r.started_at)}${r.finished_at ? `, ended ${when(r.finished_at)}` : ''}.`),
          r.error ? h('p', { class: 'error' }, r.error) : null,
        )
      : null,
  );
  // A running rebuild is followed live: the page asks again every second.
  clearTimeout(following);
  if (r && r.state === 'running') {
    following = setTimeout(() => {
      if (location.hash === '#/projections') projectionsPage();
    }, 1000);
  }
}

const ROLES = ['customer', 'seller', 'admin', 'auditor'];

async function accountsPage() {
  if (needSignIn('#/accounts')) return;
  let accounts;
  try {
    accounts = await api('GET', '/admin/accounts?limit=100');
  } catch (error) {
    show('Accounts and roles', adminNav(), problem(error));
    return;
  }
  const change = (a, method) =>
    act(
      (e) => {
        const form = e.target.closest('form');
        return api(method, `/admin/accounts/${a.account_id}/roles/${form.elements.role.value}`);
      },
      method === 'PUT' ? 'Role granted.' : 'Role revoked.',
      accountsPage,
    );
  show(
    'Accounts and roles',
    adminNav(),
    table(
      'Accounts',
      ['Name', 'Email', 'Roles', 'Closed', 'Change a role'],
      accounts.map((a) =>
        row(
          a.display_name,
          a.email,
          a.roles.join(', '),
          a.closed ? 'closed' : '',
          a.closed
            ? ''
            : h(
                'form',
                { class: 'inline', onsubmit: (e) => e.preventDefault() },
                h('label', { for: `role-${a.account_id}`, class: 'visually-hidden' }, `Role of ${a.display_name}`),
                h('select', { id: `role-${a.account_id}`, name: 'role' }, ROLES.map((r) => h('option', { value: r }, r))),
                h('button', { type: 'button', onclick: change(a, 'PUT') }, 'Grant'),
                h('button', { type: 'button', onclick: change(a, 'DELETE') }, 'Revoke'),
              ),
        ),
      ),
      'accounts',
    ),
  );
}

async function settingsPage() {
  if (needSignIn('#/settings')) return;
  let pricing;
  try {
    pricing = await api('GET', '/pricing');
  } catch (error) {
    show('Tax and shipping', adminNav(), problem(error));
    return;
  }
  const setRate = act(
    (e) => {
      const v = formValues(e.target);
      return api('PUT', `/admin/tax-rates/${v.country.toUpperCase()}/${v.category}`, { rate_bp: Math.round(Number(v.rate) * 100) });
    },
    'Tax rate set.',
    settingsPage,
  );
  const removeRate = (r) => act(() => api('DELETE', `/admin/tax-rates/${r.country}/${r.category}`), 'Tax rate removed.', settingsPage);
  const defineMethod = act(
    (e) => {
      const v = formValues(e.target);
      const cents = (x) => ({ amount_minor: Math.round(Number(x) * 100), currency: 'EUR' });
      return api('PUT', `/admin/shipping-methods/${v.id}`, {
        name: v.name,
        countries: v.countries.split(',').map((c) => c.trim().toUpperCase()).filter(Boolean),
        rate: { kind: 'flat', amount: cents(v.fee) },
        free_above: v.free_above ? cents(v.free_above) : null,
      });
    },
    'Shipping method saved.',
    settingsPage,
  );
  const retire = (m) => act(() => api('DELETE', `/admin/shipping-methods/${m.id}`), 'Shipping method retired.', settingsPage);
  show(
    'Tax and shipping',
    adminNav(),
    table(
      'Tax rates',
      ['Country', 'Category', 'Rate', ''],
      pricing.tax_rates.map((r) =>
        row(r.country, r.category, `${(r.rate_bp / 100).toFixed(2)} %`, h('button', { type: 'button', onclick: removeRate(r), 'aria-label': `Remove the rate of ${r.country}` }, 'Remove')),
      ),
      'tax-rates',
    ),
    h(
      'form',
      { onsubmit: setRate, id: 'tax-form' },
      h('h2', {}, 'Set a tax rate'),
      field('Country (two letters)', 'country', { required: true }),
      field('Tax category', 'category', { required: true, value: 'standard' }),
      field('Rate in percent', 'rate', { type: 'number', min: 0, max: 100, step: 0.01, required: true }),
      h('button', { type: 'submit' }, 'Set the rate'),
    ),
    table(
      'Shipping methods',
      ['Id', 'Name', 'Countries', ''],
      pricing.shipping_methods.map((m) =>
        row(m.id, m.name, (m.countries || []).join(', '), h('button', { type: 'button', onclick: retire(m), 'aria-label': `Retire ${m.name}` }, 'Retire')),
      ),
      'shipping-methods',
    ),
    h(
      'form',
      { onsubmit: defineMethod, id: 'method-form' },
      h('h2', {}, 'Define a shipping method'),
      field('Id (a-z, 0-9, -)', 'id', { required: true }),
      field('Name', 'name', { required: true }),
      field('Countries (comma separated; none: everywhere)', 'countries'),
      field('Flat fee in EUR', 'fee', { type: 'number', min: 0, step: 0.01, required: true }),
      field('Free above, in EUR (optional)', 'free_above', { type: 'number', min: 0, step: 0.01 }),
      h('button', { type: 'submit' }, 'Save the method'),
    ),
  );
}

async function adminHome(params = '') {
  if (needSignIn('#/')) return;
  const chosen = new URLSearchParams(params);
  const filters = new URLSearchParams({ limit: '20' });
  for (const key of ['status', 'from', 'to', 'customer_id']) if (chosen.get(key)) filters.set(key, chosen.get(key));
  let approvals;
  let sellers;
  let orders;
  let verify;
  try {
    [approvals, sellers, orders, verify] = await Promise.all([
      api('GET', '/admin/product-approvals?limit=50'),
      api('GET', '/admin/sellers?status=applied'),
      api('GET', `/admin/orders?${filters}`),
      api('GET', '/audit/verify').catch((e) => ({ error: e.message })),
    ]);
  } catch (error) {
    show('Back office', problem(error));
    return;
  }
  const approve = (sku) => act(() => api('POST', `/admin/products/${encodeURIComponent(sku)}/approval`), `${sku} approved.`, adminHome);
  const reject = (sku) =>
    act((e) => api('POST', `/admin/products/${encodeURIComponent(sku)}/rejection`, { reason: e.target.elements.reason.value }), `${sku} rejected.`, adminHome);
  const verifySeller = (id) =>
    act((e) => api('POST', `/admin/sellers/${id}/verification`, { commission_bp: Number(e.target.elements.commission.value) }), 'Seller verified.', adminHome);
  show(
    'Back office',
    adminNav(),
    h('p', { id: 'chains', class: 'badge' }, verify.error ? `Tamper evidence: ${verify.error}` : verify.intact ? `Event log intact (${verify.events} events)` : 'EVENT LOG TAMPERED'),
    h('h2', {}, 'Products waiting for approval'),
    table(
      'Waiting for approval',
      ['SKU', 'Proposed name', 'Approve', 'Reject'],
      approvals.items.map((p) =>
        row(
          p.sku,
          p.draft && p.draft.content ? p.draft.content.name : p.name,
          h('button', { type: 'button', onclick: approve(p.sku), 'aria-label': `Approve ${p.sku}` }, 'Approve'),
          h(
            'form',
            { onsubmit: reject(p.sku), class: 'inline' },
            h('label', { for: `reason-${p.sku}`, class: 'visually-hidden' }, `Why ${p.sku} is rejected`),
            h('input', { id: `reason-${p.sku}`, name: 'reason', required: true, placeholder: 'Reason' }),
            h('button', { type: 'submit' }, 'Reject'),
          ),
        ),
      ),
      'approvals',
    ),
    h('h2', {}, 'Seller applications'),
    table(
      'Applications',
      ['Store', 'Applied', 'Verify at commission (basis points)'],
      sellers.map((s) =>
        row(
          s.store_name,
          when(s.applied_at),
          h(
            'form',
            { onsubmit: verifySeller(s.account_id), class: 'inline' },
            h('label', { for: `commission-${s.account_id}`, class: 'visually-hidden' }, `Commission of ${s.store_name}`),
            h('input', { id: `commission-${s.account_id}`, name: 'commission', type: 'number', min: 0, max: 10000, value: 1000 }),
            h('button', { type: 'submit' }, 'Verify'),
          ),
        ),
      ),
    ),
    h('h2', {}, 'Orders'),
    h(
      'form',
      {
        class: 'inline',
        id: 'order-filters',
        onsubmit: (e) => {
          e.preventDefault();
          const v = Object.fromEntries([...new FormData(e.target).entries()].filter(([, x]) => x));
          location.hash = `#/?${new URLSearchParams(v)}`;
        },
      },
      h('label', { for: 'f-status' }, 'Status'),
      h('select', { id: 'f-status', name: 'status' }, ['', 'placed', 'paid', 'shipped', 'delivered', 'cancelled'].map((x) => h('option', { value: x, selected: chosen.get('status') === x }, x || 'any'))),
      h('label', { for: 'f-from' }, 'From'),
      h('input', { id: 'f-from', name: 'from', type: 'date', value: chosen.get('from') || '' }),
      h('label', { for: 'f-to' }, 'To'),
      h('input', { id: 'f-to', name: 'to', type: 'date', value: chosen.get('to') || '' }),
      h('label', { for: 'f-customer' }, 'Customer id'),
      h('input', { id: 'f-customer', name: 'customer_id', value: chosen.get('customer_id') || '' }),
      h('button', { type: 'submit' }, 'Filter'),
    ),
    table(
      'Orders',
      ['Order', 'Placed', 'Status', 'Total'],
      orders.map((o) => row(h('a', { href: `#/orders/${o.order_id}` }, o.order_id.slice(-8)), when(o.placed_at), o.status, money(o.total_minor, o.currency))),
      'admin-orders',
    ),
  );
}

/** An order for admins and auditors: its state, a refund, and its timeline from the log. */
async function adminOrder(id) {
  if (needSignIn(`#/orders/${id}`)) return;
  let order;
  let history;
  let verify;
  try {
    [order, history, verify] = await Promise.all([
      api('GET', `/orders/${id}`),
      api('GET', `/orders/${id}/history`),
      api('GET', '/audit/verify').catch((e) => ({ error: e.message })),
    ]);
  } catch (error) {
    show('Order', problem(error));
    return;
  }
  // The order's own state after each of its events, rebuilt by the domain from the log.
  const own = history.events.filter((e) => e.stream_id === `order-${id}`);
  const states = await Promise.all(own.map((e) => api('GET', `/orders/${id}?version=${e.stream_version}`).catch(() => null)));
  const after = new Map(own.map((e, i) => [e.event_id, states[i]]));
  const refund = act(
    (e) => {
      const v = formValues(e.target);
      return api(
        'POST',
        `/orders/${id}/refunds`,
        { amount: { amount_minor: Math.round(Number(v.amount) * 100), currency: order.currency }, reason: v.reason, to: v.to },
        { headers: { 'idempotency-key': crypto.randomUUID() } },
      );
    },
    'Refund started.',
    () => adminOrder(id),
  );
  const isAdmin = session.roles.includes('admin');
  show(
    `Order ${id.slice(-8)}`,
    adminNav(),
    h('p', { id: 'order-status', class: 'badge' }, order.status),
    h(
      'dl',
      {},
      h('dt', {}, 'Payment'),
      h('dd', { id: 'payment-state' }, order.payment_state),
      h('dt', {}, 'Delivery'),
      h('dd', {}, order.fulfilment_state),
      h('dt', {}, 'Total'),
      h('dd', {}, money(order.total_minor, order.currency)),
      h('dt', {}, 'Tamper evidence'),
      h('dd', { id: 'tamper' }, verify.error ? verify.error : verify.intact ? `intact, head ${String(verify.head_hash).slice(0, 16)}…` : 'TAMPERED'),
    ),
    isAdmin && order.payment_state !== 'pending'
      ? h(
          'form',
          { onsubmit: refund, id: 'refund' },
          h('h2', {}, 'Refund'),
          field('Amount in the order’s currency', 'amount', { type: 'number', min: 0.01, step: 0.01, required: true }),
          field('Reason', 'reason', { required: true }),
          h(
            'p',
            { class: 'field' },
            h('label', { for: 'f-to' }, 'Refund to'),
            h('select', { id: 'f-to', name: 'to' }, h('option', { value: 'provider' }, 'the payment provider'), h('option', { value: 'store_credit' }, 'store credit')),
          ),
          h('button', { type: 'submit' }, 'Refund'),
        )
      : null,
    table(
      'Timeline: every event, who and when, and the order after it',
      ['When', 'Event', 'Stream', 'Who', 'Order after'],
      history.events.map((e) => {
        const state = after.get(e.event_id);
        return row(
          when(e.recorded_at),
          e.event_type,
          `${e.stream_id.split('-')[0]} v${e.stream_version}`,
          e.actor || '',
          state ? `${state.status} (payment ${state.payment_state}, delivery ${state.fulfilment_state})` : '',
        );
      }),
      'timeline',
    ),
  );
}

/** Routes of the seller dashboard. */
export function seller(parts) {
  return sellerPage(parts);
}

/** Routes of the back office. */
export function admin(parts, params) {
  if (parts[0] === 'orders' && parts[1]) return adminOrder(parts[1]);
  if (parts[0] === 'projections') return projectionsPage();
  if (parts[0] === 'accounts') return accountsPage();
  if (parts[0] === 'settings') return settingsPage();
  return adminHome(params);
}
