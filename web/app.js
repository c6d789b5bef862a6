// The storefront: a single page on the engine's own JSON API. No framework and no build step;
// every text from the API goes into the page as text (never as HTML). The session's tokens live
// in this module's memory only: nothing is written to storage, so a script injected elsewhere
// cannot read them later, and closing the tab ends the session.

const session = { access: null, refresh: null, accountId: null, roles: [], position: 0 };

// ---- the API ---------------------------------------------------------------------------

class ApiError extends Error {
  constructor(status, body) {
    super((body && (body.detail || body.title)) || `HTTP ${status}`);
    this.status = status;
    this.code = body && body.code;
    this.body = body;
  }
}

async function refreshTokens() {
  if (!session.refresh) return false;
  const response = await fetch('/auth/refresh', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ refresh_token: session.refresh }),
  });
  if (!response.ok) {
    signOutLocally();
    return false;
  }
  remember(await response.json());
  return true;
}

/** Calls the API; on an expired access token, refreshes once and retries. */
async function api(method, path, body, { retry = true, headers = {} } = {}) {
  // Read your writes: a query asks for read models that include this session's last command
  // (every query accepts `min_position`; the API waits a moment for the projections).
  if (method === 'GET' && session.position > 0 && !/[?&](min_position|version)=/.test(path)) {
    path = `${path}${path.includes('?') ? '&' : '?'}min_position=${session.position}`;
  }
  const init = { method, headers: { ...headers } };
  if (session.access) init.headers.authorization = `Bearer ${session.access}`;
  if (body !== undefined) {
    init.headers['content-type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  const response = await fetch(path, init);
  if (response.status === 401 && retry && session.refresh && (await refreshTokens())) {
    return api(method, path, body, { retry: false, headers });
  }
  const text = await response.text();
  let value = null;
  if (text) {
    try {
      value = JSON.parse(text);
    } catch {
      value = text;
    }
  }
  if (!response.ok) throw new ApiError(response.status, value);
  if (method !== 'GET' && value && Number.isInteger(value.global_position)) {
    session.position = Math.max(session.position, value.global_position);
  }
  return value;
}

function remember(tokens) {
  session.access = tokens.access_token;
  session.refresh = tokens.refresh_token;
  session.accountId = tokens.account_id;
  session.roles = tokens.roles || [];
}

function signOutLocally() {
  session.access = session.refresh = session.accountId = null;
  session.roles = [];
  renderAccountLinks();
}

const signedIn = () => Boolean(session.access);
const me = () => `/customers/${session.accountId}`;

// ---- building the page ------------------------------------------------------------------

/** An element: `h('a', {href: '#/'}, 'Home')`. Strings become text nodes. */
function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === false || value === null || value === undefined) continue;
    if (name.startsWith('on')) element.addEventListener(name.slice(2), value);
    else if (value === true) element.setAttribute(name, '');
    else element.setAttribute(name, String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return element;
}

function money(amountMinor, currency) {
  if (amountMinor === null || amountMinor === undefined || !currency) return '';
  const format = new Intl.NumberFormat(undefined, { style: 'currency', currency });
  const digits = format.resolvedOptions().maximumFractionDigits;
  return format.format(amountMinor / 10 ** digits);
}
const price = (p) => (p ? money(p.amount_minor, p.currency) : '');

function say(message) {
  const status = document.getElementById('status');
  status.textContent = '';
  // A fresh text node, so screen readers announce a repeated message too.
  clearTimeout(say.clearing);
  setTimeout(() => {
    status.textContent = message;
  }, 20);
  say.clearing = setTimeout(() => {
    status.textContent = '';
  }, 8000);
}

function show(title, ...content) {
  const main = document.getElementById('main');
  document.title = `${title} · Commerce`;
  main.replaceChildren(h('h1', {}, title), ...content.flat().filter((c) => c !== null && c !== undefined && c !== false));
  main.focus({ preventScroll: true });
}

function problem(error) {
  const text = error instanceof ApiError ? `${error.message}${error.code ? ` (${error.code})` : ''}` : String(error);
  return h('p', { class: 'error', role: 'alert' }, text);
}

/** A labelled form field. */
function field(label, name, { type = 'text', value = '', required = false, autocomplete, min, max, step } = {}) {
  const id = `f-${name}`;
  return h(
    'p',
    { class: 'field' },
    h('label', { for: id }, label),
    h('input', { id, name, type, value, required, autocomplete, min, max, step }),
  );
}

function formValues(form) {
  return Object.fromEntries(new FormData(form).entries());
}

// ---- header ----------------------------------------------------------------------------

function renderAccountLinks() {
  const links = document.getElementById('account-links');
  const item = (href, text) => h('li', {}, h('a', { href }, text));
  const shop = section() === 'shop' ? '' : '/';
  if (!signedIn()) {
    links.replaceChildren(item('#/signin', 'Sign in'), item('#/register', 'Register'), item(`${shop}#/cart`, 'Cart'));
    return;
  }
  const entries = [
    session.roles.includes('seller') || session.roles.includes('admin') ? item('/seller#/', 'Seller') : null,
    session.roles.includes('admin') || session.roles.includes('auditor') ? item('/admin#/', 'Back office') : null,
    item(`${shop}#/wishlist`, 'Wishlist'),
    item(`${shop}#/orders`, 'Orders'),
    item(`${shop}#/account`, 'Account'),
    item(`${shop}#/cart`, 'Cart'),
    h('li', {}, h('button', { type: 'button', class: 'link', onclick: signOut }, 'Sign out')),
  ];
  links.replaceChildren(...entries.filter(Boolean));
}

async function signOut() {
  try {
    if (session.refresh) await api('POST', '/auth/logout', { refresh_token: session.refresh });
  } catch {
    // Signed out here whatever the server says.
  }
  signOutLocally();
  say('Signed out.');
  location.hash = '#/';
}

// ---- catalog ---------------------------------------------------------------------------

const SORTS = [
  ['relevance', 'Relevance'],
  ['price_asc', 'Price: low to high'],
  ['price_desc', 'Price: high to low'],
  ['newest', 'Newest'],
  ['rating', 'Rating'],
  ['best_selling', 'Best selling'],
];

function productCard(p) {
  const image = p.images && p.images[0];
  return h(
    'li',
    { class: 'card' },
    image ? h('img', { src: image.url, alt: image.alt || p.name, loading: 'lazy' }) : null,
    h('h2', {}, h('a', { href: `#/p/${encodeURIComponent(p.sku)}` }, p.name)),
    h('p', { class: 'price' }, price(p.price)),
    h('p', { class: 'muted' }, p.stock_on_hand > 0 ? 'In stock' : 'Out of stock'),
    p.rating && p.rating.count > 0 ? h('p', { class: 'muted' }, `${p.rating.average} / 5 (${p.rating.count})`) : null,
  );
}

async function catalog(params) {
  const query = new URLSearchParams(params);
  const search = new URLSearchParams();
  for (const key of ['q', 'category', 'sort', 'in_stock', 'price_min', 'price_max', 'seller', 'after']) {
    if (query.get(key)) search.set(key, query.get(key));
  }
  search.set('limit', '20');
  document.getElementById('q').value = query.get('q') || '';
  let page;
  let categories;
  try {
    [page, categories] = await Promise.all([api('GET', `/products?${search}`), api('GET', '/categories')]);
  } catch (error) {
    show('Products', problem(error));
    return;
  }
  const go = (changes) => {
    const next = new URLSearchParams(search);
    next.delete('limit');
    next.delete('after');
    for (const [k, v] of Object.entries(changes)) {
      if (v === null || v === '') next.delete(k);
      else next.set(k, v);
    }
    location.hash = `#/search?${next}`;
  };
  const sort = h(
    'select',
    { id: 'sort', onchange: (e) => go({ sort: e.target.value }) },
    SORTS.map(([value, text]) => h('option', { value, selected: (query.get('sort') || 'relevance') === value }, text)),
  );
  const inStock = h('input', {
    id: 'in-stock',
    type: 'checkbox',
    checked: query.get('in_stock') === 'true',
    onchange: (e) => go({ in_stock: e.target.checked ? 'true' : null }),
  });
  const facetList = (title, entries) =>
    entries.length
      ? h('section', { 'aria-label': title }, h('h2', {}, title), h('ul', { class: 'facets' }, entries))
      : null;
  const tree = (nodes) =>
    h(
      'ul',
      { class: 'tree' },
      nodes.map((c) =>
        h(
          'li',
          {},
          h('a', { href: `#/search?category=${encodeURIComponent(c.slug)}` }, `${c.name} (${c.total_count})`),
          c.children && c.children.length ? tree(c.children) : null,
        ),
      ),
    );
  const facets = page.facets || { categories: [], prices: [], sellers: [] };
  const heading = query.get('q') ? `Results for “${query.get('q')}”` : query.get('category') ? `Category ${query.get('category')}` : 'Products';
  show(
    heading,
    page.query && page.query.corrected ? h('p', {}, `Showing results for “${page.query.corrected}”.`) : null,
    h(
      'div',
      { class: 'catalog' },
      h(
        'aside',
        { 'aria-label': 'Filters' },
        h('h2', {}, 'Categories'),
        tree((categories && categories.categories) || categories || []),
        facetList(
          'In these results',
          facets.categories.map((f) =>
            h('li', {}, h('a', { href: '#', onclick: (e) => (e.preventDefault(), go({ category: f.slug })) }, `${f.name || f.slug} (${f.count})`)),
          ),
        ),
        facetList(
          'Price',
          facets.prices.map((b) =>
            h(
              'li',
              {},
              h(
                'a',
                { href: '#', onclick: (e) => (e.preventDefault(), go({ price_min: b.min, price_max: b.max ?? null })) },
                `${money(b.min, page.items[0] ? page.items[0].price.currency : 'EUR')}${b.max === null ? ' and up' : ` to ${money(b.max, page.items[0] ? page.items[0].price.currency : 'EUR')}`} (${b.count})`,
              ),
            ),
          ),
        ),
        facetList(
          'Sellers',
          facets.sellers.map((s) =>
            h('li', {}, h('a', { href: '#', onclick: (e) => (e.preventDefault(), go({ seller: s.seller_id || '' })) }, `${s.store_name || 'The shop'} (${s.count})`)),
          ),
        ),
      ),
      h(
        'section',
        { 'aria-label': 'Results' },
        h(
          'div',
          { class: 'toolbar' },
          h('p', { id: 'total' }, `${page.total} product${page.total === 1 ? '' : 's'}`),
          h('label', { for: 'sort' }, 'Sort by '),
          sort,
          h('label', { for: 'in-stock' }, inStock, ' In stock only'),
        ),
        page.items.length ? h('ul', { class: 'cards' }, page.items.map(productCard)) : h('p', {}, 'Nothing matches.'),
        page.next_cursor
          ? h('p', {}, h('a', { href: `#/search?${new URLSearchParams({ ...Object.fromEntries(query), after: page.next_cursor })}` }, 'Next page'))
          : null,
      ),
    ),
  );
}

async function product(sku) {
  let p;
  let reviews;
  try {
    [p, reviews] = await Promise.all([
      api('GET', `/products/${encodeURIComponent(sku)}`),
      api('GET', `/products/${encodeURIComponent(sku)}/reviews`),
    ]);
  } catch (error) {
    show('Product', problem(error));
    return;
  }
  const quantity = h('input', { id: 'quantity', type: 'number', min: 1, max: 1000, value: 1, required: true });
  const add = async (e) => {
    e.preventDefault();
    if (!signedIn()) {
      location.hash = `#/signin?then=${encodeURIComponent(`#/p/${sku}`)}`;
      return;
    }
    try {
      await api('POST', `${me()}/cart/items`, { sku, quantity: Number(quantity.value) });
      say(`Added ${quantity.value} × ${p.name} to the cart.`);
    } catch (error) {
      say(error.message);
    }
  };
  const wish = async () => {
    if (!signedIn()) {
      location.hash = `#/signin?then=${encodeURIComponent(`#/p/${sku}`)}`;
      return;
    }
    try {
      await api('POST', `${me()}/wishlist/items`, { sku });
      say(`${p.name} is on your wishlist.`);
    } catch (error) {
      say(error.message);
    }
  };
  show(
    p.name,
    h('div', { class: 'gallery' }, (p.images || []).map((i) => h('img', { src: i.url, alt: i.alt || p.name }))),
    h('p', { class: 'price' }, price(p.price)),
    h('p', {}, p.stock_on_hand > 0 ? `${p.stock_on_hand} in stock` : 'Out of stock'),
    p.description ? h('p', {}, p.description) : null,
    p.specifications && p.specifications.length
      ? h(
          'table',
          { class: 'specs' },
          h('caption', {}, 'Specifications'),
          h('tbody', {}, p.specifications.map((s) => h('tr', {}, h('th', { scope: 'row' }, s.name), h('td', {}, s.value)))),
        )
      : null,
    h(
      'form',
      { onsubmit: add, class: 'buy' },
      h('label', { for: 'quantity' }, 'Quantity'),
      quantity,
      h('button', { type: 'submit', disabled: p.stock_on_hand <= 0 }, 'Add to cart'),
      h('button', { type: 'button', onclick: wish }, 'Add to wishlist'),
    ),
    h(
      'section',
      { 'aria-labelledby': 'reviews-title' },
      signedIn() ? reviewForm(sku) : null,
      h('h2', { id: 'reviews-title' }, `Reviews (${reviews.rating ? reviews.rating.count : 0})`),
      reviews.rating && reviews.rating.count ? h('p', {}, `Average ${reviews.rating.average} of 5`) : h('p', {}, 'No reviews yet.'),
      h(
        'ul',
        { class: 'reviews' },
        (reviews.items || []).map((r) => h('li', {}, h('p', {}, h('strong', {}, `${r.rating}/5`), ` by ${r.author || 'a former customer'}`), h('p', {}, r.text))),
      ),
    ),
  );
}

/** A customer's review of a product (the API accepts it only after a delivered order). */
function reviewForm(sku) {
  const error = h('div');
  const submit = async (e) => {
    e.preventDefault();
    const v = formValues(e.target);
    try {
      await api('PUT', `${me()}/reviews/${encodeURIComponent(sku)}`, { rating: Number(v.rating), text: v.text });
      say('Thank you: your review is published.');
      product(sku);
    } catch (err) {
      error.replaceChildren(problem(err));
    }
  };
  return h(
    'form',
    { onsubmit: submit, id: 'review-form' },
    h('h3', {}, 'Your review'),
    error,
    h(
      'p',
      { class: 'field' },
      h('label', { for: 'f-rating' }, 'Rating'),
      h('select', { id: 'f-rating', name: 'rating' }, [5, 4, 3, 2, 1].map((n) => h('option', { value: n }, `${n} of 5`))),
    ),
    h('p', { class: 'field' }, h('label', { for: 'f-text' }, 'Review'), h('textarea', { id: 'f-text', name: 'text', rows: 3, required: true, maxlength: 5000 })),
    h('button', { type: 'submit' }, 'Publish the review'),
  );
}

// ---- accounts --------------------------------------------------------------------------

function signInPage(params) {
  const then = new URLSearchParams(params).get('then') || '#/';
  const error = h('div');
  const submit = async (e) => {
    e.preventDefault();
    const { email, password } = formValues(e.target);
    try {
      remember(await api('POST', '/auth/login', { email, password }, { retry: false }));
      renderAccountLinks();
      say('Signed in.');
      location.hash = then;
    } catch (err) {
      error.replaceChildren(problem(err));
    }
  };
  show(
    'Sign in',
    error,
    h(
      'form',
      { onsubmit: submit },
      field('Email', 'email', { type: 'email', required: true, autocomplete: 'username' }),
      field('Password', 'password', { type: 'password', required: true, autocomplete: 'current-password' }),
      h('button', { type: 'submit' }, 'Sign in'),
    ),
    h('p', {}, 'New here? ', h('a', { href: '#/register' }, 'Register')),
  );
}

function registerPage() {
  const error = h('div');
  const submit = async (e) => {
    e.preventDefault();
    const { email, display_name, password } = formValues(e.target);
    try {
      await api('POST', '/auth/register', { email, display_name, password }, { retry: false });
      remember(await api('POST', '/auth/login', { email, password }, { retry: false }));
      renderAccountLinks();
      say('Welcome! Your account is open.');
      location.hash = '#/';
    } catch (err) {
      error.replaceChildren(problem(err));
    }
  };
  show(
    'Register',
    error,
    h(
      'form',
      { onsubmit: submit },
      field('Email', 'email', { type: 'email', required: true, autocomplete: 'email' }),
      field('Name', 'display_name', { required: true, autocomplete: 'name' }),
      field('Password (at least 8 characters)', 'password', { type: 'password', required: true, autocomplete: 'new-password' }),
      h('button', { type: 'submit' }, 'Register'),
    ),
  );
}

function needSignIn(hash) {
  if (signedIn()) return false;
  location.hash = `#/signin?then=${encodeURIComponent(hash)}`;
  return true;
}

async function accountPage() {
  if (needSignIn('#/account')) return;
  let info;
  let wallet;
  try {
    [info, wallet] = await Promise.all([api('GET', '/me'), api('GET', '/me/wallet')]);
  } catch (error) {
    show('Account', problem(error));
    return;
  }
  const close = async (e) => {
    e.preventDefault();
    const erase = e.target.elements.erase.checked;
    try {
      await api('DELETE', `/me${erase ? '?erase=true' : ''}`);
      signOutLocally();
      say(erase ? 'Your account is closed and your personal data erased.' : 'Your account is closed.');
      location.hash = '#/';
    } catch (error) {
      say(error.message);
    }
  };
  const balances = (wallet && wallet.balances) || [];
  show(
    'Account',
    h('dl', {}, h('dt', {}, 'Name'), h('dd', {}, info.display_name), h('dt', {}, 'Email'), h('dd', {}, info.email), h('dt', {}, 'Roles'), h('dd', {}, info.roles.join(', '))),
    h('h2', {}, 'Store credit'),
    balances.length ? h('ul', { id: 'wallet' }, balances.map((b) => h('li', {}, price(b)))) : h('p', { id: 'wallet' }, 'No store credit.'),
    h('h2', {}, 'Close the account'),
    h(
      'form',
      { onsubmit: close },
      h('p', {}, h('input', { id: 'erase', name: 'erase', type: 'checkbox' }), h('label', { for: 'erase' }, ' Also erase my personal data (for good)')),
      h('button', { type: 'submit', class: 'danger' }, 'Close my account'),
    ),
  );
}

// ---- cart and checkout -------------------------------------------------------------------

async function cartPage() {
  if (needSignIn('#/cart')) return;
  let cart;
  try {
    cart = await api('GET', `${me()}/cart`);
  } catch (error) {
    show('Cart', problem(error));
    return;
  }
  const change = (sku) => async (e) => {
    try {
      await api('PUT', `${me()}/cart/items/${encodeURIComponent(sku)}`, { quantity: Number(e.target.value) });
      say('Quantity changed.');
      cartPage();
    } catch (error) {
      say(error.message);
    }
  };
  const remove = (sku) => async () => {
    try {
      await api('DELETE', `${me()}/cart/items/${encodeURIComponent(sku)}`);
      say('Removed.');
      cartPage();
    } catch (error) {
      say(error.message);
    }
  };
  if (!cart.lines.length) {
    show('Cart', h('p', {}, 'Your cart is empty. ', h('a', { href: '#/' }, 'Browse the shop')));
    return;
  }
  show(
    'Cart',
    h(
      'table',
      { class: 'lines' },
      h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Product'), h('th', { scope: 'col' }, 'Quantity'), h('th', { scope: 'col' }, 'Price'), h('th', { scope: 'col' }, h('span', { class: 'visually-hidden' }, 'Actions')))),
      h(
        'tbody',
        {},
        cart.lines.map((l) =>
          h(
            'tr',
            {},
            h('td', {}, h('a', { href: `#/p/${encodeURIComponent(l.sku)}` }, l.name || l.sku)),
            h('td', {}, h('input', { type: 'number', min: 1, max: 1000, value: l.quantity, 'aria-label': `Quantity of ${l.name || l.sku}`, onchange: change(l.sku) })),
            h('td', {}, price(l.line_total)),
            h('td', {}, h('button', { type: 'button', onclick: remove(l.sku), 'aria-label': `Remove ${l.name || l.sku}` }, 'Remove')),
          ),
        ),
      ),
    ),
    h('p', { class: 'price' }, 'Subtotal: ', price(cart.subtotal)),
    h('p', {}, h('a', { class: 'button', href: '#/checkout' }, 'Checkout')),
  );
}

async function checkoutPage() {
  if (needSignIn('#/checkout')) return;
  let book;
  let pricing;
  try {
    [book, pricing] = await Promise.all([api('GET', `${me()}/addresses`), api('GET', '/pricing')]);
  } catch (error) {
    show('Checkout', problem(error));
    return;
  }
  const entries = Array.isArray(book) ? book : book.addresses || book.items || [];
  const methods = (pricing.shipping_methods || []).filter((m) => !m.retired);
  const preview = h('div', { id: 'preview', 'aria-live': 'polite' });
  const error = h('div');
  let quoted = null;
  const body = (form) => {
    const v = formValues(form);
    const out = {};
    if (v.address === 'new' || !entries.length) {
      out.shipping_address = {
        name: v.name,
        line1: v.line1,
        line2: v.line2 || '',
        city: v.city,
        region: v.region || '',
        postal_code: v.postal_code || '',
        country: (v.country || '').toUpperCase(),
        phone: v.phone || '',
      };
    } else {
      out.shipping_address_id = v.address;
    }
    if (v.shipping_method) out.shipping_method = v.shipping_method;
    return out;
  };
  const previewIt = async (form) => {
    const v = formValues(form);
    const fresh = v.address === 'new' || !entries.length;
    if (fresh && ['name', 'line1', 'city', 'country'].some((k) => !(v[k] || '').trim())) {
      quoted = null;
      preview.replaceChildren(h('p', {}, 'Fill in the address to see the price.'));
      return;
    }
    try {
      quoted = await api('POST', `${me()}/checkout/preview`, body(form));
      preview.replaceChildren(
        h(
          'dl',
          {},
          h('dt', {}, 'Subtotal'),
          h('dd', {}, price(quoted.subtotal)),
          h('dt', {}, 'Shipping'),
          h('dd', {}, price(quoted.shipping)),
          h('dt', {}, 'Tax'),
          h('dd', {}, price(quoted.tax)),
          h('dt', {}, 'Total'),
          h('dd', { id: 'total-due' }, price(quoted.total)),
        ),
      );
      error.replaceChildren();
    } catch (err) {
      quoted = null;
      preview.replaceChildren();
      error.replaceChildren(problem(err));
    }
  };
  const place = async (e) => {
    e.preventDefault();
    const form = e.target;
    if (!quoted) await previewIt(form);
    if (!quoted) return;
    try {
      const placed = await api(
        'POST',
        `${me()}/orders`,
        { ...body(form), expected_total: quoted.total },
        { headers: { 'idempotency-key': crypto.randomUUID() } },
      );
      say('Order placed.');
      location.hash = `#/orders/${placed.order_id}?at=${placed.global_position ?? ''}`;
    } catch (err) {
      error.replaceChildren(problem(err));
      if (err.code === 'price_changed') await previewIt(form);
    }
  };
  const form = h(
    'form',
    { id: 'checkout', onsubmit: place, onchange: (e) => previewIt(e.currentTarget) },
    h(
      'fieldset',
      {},
      h('legend', {}, 'Ship to'),
      entries.map((a, i) =>
        h(
          'p',
          {},
          h('input', { type: 'radio', name: 'address', id: `address-${i}`, value: a.address_id, checked: a.is_default }),
          h('label', { for: `address-${i}` }, ` ${a.address.name}, ${a.address.line1}, ${a.address.city}, ${a.address.country}`),
        ),
      ),
      entries.length ? h('p', {}, h('input', { type: 'radio', name: 'address', id: 'address-new', value: 'new' }), h('label', { for: 'address-new' }, ' A new address')) : null,
      field('Recipient', 'name', { autocomplete: 'name' }),
      field('Street and number', 'line1', { autocomplete: 'address-line1' }),
      field('Flat, floor (optional)', 'line2', { autocomplete: 'address-line2' }),
      field('City', 'city', { autocomplete: 'address-level2' }),
      field('Postal code', 'postal_code', { autocomplete: 'postal-code' }),
      field('Country (two letters, e.g. DE)', 'country', { autocomplete: 'country' }),
      field('Phone (optional)', 'phone', { type: 'tel', autocomplete: 'tel' }),
    ),
    methods.length
      ? h(
          'fieldset',
          {},
          h('legend', {}, 'Shipping method'),
          methods.map((m, i) =>
            h('p', {}, h('input', { type: 'radio', name: 'shipping_method', id: `method-${i}`, value: m.id, checked: i === 0 }), h('label', { for: `method-${i}` }, ` ${m.name}`)),
          ),
        )
      : null,
    h('h2', {}, 'Price'),
    preview,
    error,
    h('button', { type: 'submit' }, 'Place order'),
  );
  show('Checkout', form);
  if (entries.length) previewIt(form);
}

// ---- orders ----------------------------------------------------------------------------

async function ordersPage() {
  if (needSignIn('#/orders')) return;
  let page;
  try {
    page = await api('GET', `${me()}/orders?limit=50`);
  } catch (error) {
    show('Orders', problem(error));
    return;
  }
  show(
    'Orders',
    page.items.length
      ? h(
          'table',
          { class: 'lines' },
          h('thead', {}, h('tr', {}, ['Order', 'Placed', 'Status', 'Total'].map((t) => h('th', { scope: 'col' }, t)))),
          h(
            'tbody',
            {},
            page.items.map((o) =>
              h(
                'tr',
                {},
                h('td', {}, h('a', { href: `#/orders/${o.order_id}` }, o.order_id.slice(-8))),
                h('td', {}, new Date(o.placed_at).toLocaleString()),
                h('td', {}, o.status),
                h('td', {}, money(o.total_minor, o.currency)),
              ),
            ),
          ),
        )
      : h('p', {}, 'No orders yet.'),
  );
}

let watching = null;

async function orderPage(id, params) {
  if (needSignIn(`#/orders/${id}`)) return;
  const at = new URLSearchParams(params).get('at');
  let order;
  try {
    order = await api('GET', `/orders/${id}${at ? `?min_position=${encodeURIComponent(at)}` : ''}`);
  } catch (error) {
    show('Order', problem(error));
    return;
  }
  const pay = async () => {
    try {
      const sessionAnswer = await api('POST', `/orders/${id}/payment-session`);
      const link = h('a', { href: sessionAnswer.pay_url, target: '_blank', rel: 'noopener', id: 'pay-link' }, 'Pay at the payment provider (opens a new tab)');
      document.getElementById('pay').replaceChildren(link);
      link.focus();
    } catch (error) {
      say(error.message);
    }
  };
  const cancel = async () => {
    try {
      await api('POST', `/orders/${id}/cancellation`, { reason: 'cancelled by the customer' });
      say('Order cancelled.');
      orderPage(id, '');
    } catch (error) {
      say(error.message);
    }
  };
  const returnIt = async (e) => {
    e.preventDefault();
    const lines = order.lines.map((l) => ({ sku: l.sku, quantity: l.quantity }));
    try {
      await api('POST', `/orders/${id}/returns`, { lines, reason: e.target.elements.reason.value || 'returned' });
      say('Return requested.');
    } catch (error) {
      say(error.message);
    }
  };
  const address = order.shipping_address;
  show(
    `Order ${id.slice(-8)}`,
    h('p', { id: 'order-status', class: 'badge' }, order.status),
    h(
      'dl',
      {},
      h('dt', {}, 'Payment'),
      h('dd', {}, order.payment_state),
      h('dt', {}, 'Delivery'),
      h('dd', {}, order.fulfilment_state),
      h('dt', {}, 'Total'),
      h('dd', {}, money(order.total_minor, order.currency)),
      address ? [h('dt', {}, 'Ship to'), h('dd', {}, `${address.name}, ${address.line1}, ${address.city}, ${address.country}`)] : null,
      order.carrier ? [h('dt', {}, 'Carrier'), h('dd', {}, `${order.carrier} ${order.tracking_number || ''}`)] : null,
    ),
    h(
      'table',
      { class: 'lines' },
      h('thead', {}, h('tr', {}, ['Product', 'Quantity', 'Price'].map((t) => h('th', { scope: 'col' }, t)))),
      h('tbody', {}, (order.lines || []).map((l) => h('tr', {}, h('td', {}, l.name || l.sku), h('td', {}, l.quantity), h('td', {}, money(l.line_total_minor ?? l.unit_price_minor * l.quantity, order.currency))))),
    ),
    h(
      'div',
      { id: 'pay' },
      order.payment_state === 'pending' || order.payment_state === 'failed'
        ? h('button', { type: 'button', onclick: pay }, 'Pay now')
        : null,
    ),
    order.order_state === 'open' && order.fulfilment_state === 'unfulfilled'
      ? h('p', {}, h('button', { type: 'button', class: 'danger', onclick: cancel }, 'Cancel the order'))
      : null,
    order.fulfilment_state === 'delivered'
      ? h(
          'form',
          { onsubmit: returnIt },
          h('h2', {}, 'Return'),
          field('Why', 'reason'),
          h('button', { type: 'submit' }, 'Return everything'),
        )
      : null,
  );
  // The status follows events as they arrive: the read model is asked again every two
  // seconds while the page is shown, and the page is redrawn when the status changes.
  clearInterval(watching);
  const shown = `${order.status}/${order.payment_state}/${order.fulfilment_state}`;
  watching = setInterval(async () => {
    if (!location.hash.startsWith(`#/orders/${id}`)) {
      clearInterval(watching);
      return;
    }
    try {
      const now = await api('GET', `/orders/${id}`);
      if (`${now.status}/${now.payment_state}/${now.fulfilment_state}` !== shown) {
        say(`The order is now ${now.status}.`);
        orderPage(id, '');
      }
    } catch {
      // Tried again at the next tick.
    }
  }, 2000);
}

async function wishlistPage() {
  if (needSignIn('#/wishlist')) return;
  let list;
  try {
    list = await api('GET', `${me()}/wishlist`);
  } catch (error) {
    show('Wishlist', problem(error));
    return;
  }
  const items = list.items || [];
  const remove = (sku) => async () => {
    await api('DELETE', `${me()}/wishlist/items/${encodeURIComponent(sku)}`);
    say('Removed from the wishlist.');
    wishlistPage();
  };
  show(
    'Wishlist',
    items.length
      ? h(
          'ul',
          {},
          items.map((i) =>
            h(
              'li',
              {},
              h('a', { href: `#/p/${encodeURIComponent(i.sku)}` }, i.name || i.sku),
              ` ${price(i.price)}`,
              i.price_dropped ? h('strong', {}, ' Price dropped!') : null,
              ' ',
              h('button', { type: 'button', onclick: remove(i.sku), 'aria-label': `Remove ${i.name || i.sku}` }, 'Remove'),
            ),
          ),
        )
      : h('p', {}, 'Nothing on your wishlist yet.'),
  );
}

// ---- routing ---------------------------------------------------------------------------

/** The section shown: the storefront (`/`), the seller dashboard or the back office. */
function section() {
  if (location.pathname.startsWith('/seller')) return 'seller';
  if (location.pathname.startsWith('/admin')) return 'admin';
  return 'shop';
}

/** Draws the view the address names; `<body data-busy>` is set while a view is drawn. */
let drawing = 0;
async function route() {
  drawing += 1;
  document.body.dataset.busy = 'true';
  try {
    await draw();
  } finally {
    drawing -= 1;
    if (drawing === 0) delete document.body.dataset.busy;
  }
}

async function draw() {
  const hash = location.hash || '#/';
  const [path, params = ''] = hash.slice(1).split('?');
  const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
  if (parts[0] === 'signin') return signInPage(params);
  if (parts[0] === 'register') return registerPage();
  if (section() !== 'shop') {
    const pages = await import('./console.js');
    return section() === 'seller' ? pages.seller(parts, params) : pages.admin(parts, params);
  }
  switch (parts[0]) {
    case undefined:
    case 'search':
      return catalog(params);
    case 'p':
      return product(parts[1]);
    case 'account':
      return accountPage();
    case 'cart':
      return cartPage();
    case 'checkout':
      return checkoutPage();
    case 'orders':
      return parts[1] ? orderPage(parts[1], params) : ordersPage();
    case 'wishlist':
      return wishlistPage();
    default:
      return show('Not found', h('p', {}, h('a', { href: '#/' }, 'Back to the shop')));
  }
}

document.getElementById('search').addEventListener('submit', (e) => {
  e.preventDefault();
  const q = document.getElementById('q').value.trim();
  const target = q ? `#/search?q=${encodeURIComponent(q)}` : '#/';
  if (section() === 'shop') {
    location.hash = target;
  } else {
    history.pushState(null, '', `/${target}`);
    shownPath = location.pathname;
    renderAccountLinks();
    route();
  }
});
window.addEventListener('hashchange', route);
// Moving between the storefront, the seller dashboard and the back office keeps the page (and
// so the session, which lives in its memory): the address changes, the page does not reload.
document.addEventListener('click', (e) => {
  const link = e.target.closest && e.target.closest('a[href]');
  const href = link && link.getAttribute('href');
  if (!href || !/^\/(seller|admin)?#/.test(href) || e.ctrlKey || e.metaKey || e.shiftKey) return;
  e.preventDefault();
  history.pushState(null, '', href);
  shownPath = location.pathname;
  renderAccountLinks();
  route();
});
// Back and forward between sections (a hash change alone is the `hashchange` listener's:
// browsers fire both events for it, and drawing twice would replace a page being filled in).
let shownPath = location.pathname;
window.addEventListener('popstate', () => {
  if (location.pathname === shownPath) return;
  shownPath = location.pathname;
  renderAccountLinks();
  route();
});
renderAccountLinks();
route();

export { session, api, h, money, price, say, show, problem, field, formValues, needSignIn };
