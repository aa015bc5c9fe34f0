// Hearth Outfitters: the demo shop's one page module. It renders the shop from the catalog feed
// and asks the live Hearth instance (window.hearth, from the script tag) for recommendations.
// Tracking itself is done by Hearth's autocapture (data-hearth-* markup) and the GA4 dataLayer.
// Without Hearth (blocked script, no consent), the shop still works; widgets say why they are empty.

const CATALOG_URL = '/generated/catalog.json';
const CART_KEY = 'demo-shop:cart';
const LOSS_KEY = 'demo-shop:loss';
const QUALITY_KEY = 'demo-shop:quality';
const PREDICTIONS_KEY = 'demo-shop:predictions';
const TRACKED_FOR_REFRESH = new Set(['view_item', 'select_item', 'add_to_cart', 'remove_from_cart', 'add_to_wishlist', 'purchase', 'search', 'begin_checkout']);

const page = document.body.dataset.page;
const params = new URLSearchParams(location.search);
const money = new Intl.NumberFormat('en-US', { style: 'currency', currency: 'USD' });
const percent = (x) => `${Math.round(x * 100)}%`;
const serverUrl = document.querySelector('script[data-federated-server]')?.dataset.federatedServer ?? '';

/** The live Hearth instance, or null while the script has not loaded (or failed to). */
function hearth() {
  const h = window.hearth;
  return h && !Array.isArray(h) && typeof h.recommend === 'function' ? h : null;
}

// ---------------------------------------------------------------- small DOM helpers

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'class') node.className = value;
    else if (key === 'text') node.textContent = value;
    else node.setAttribute(key, value === true ? '' : String(value));
  }
  for (const child of children.flat()) if (child !== null && child !== undefined) node.append(child);
  return node;
}
const $ = (selector) => document.querySelector(selector);
const setText = (selector, text) => {
  const node = $(selector);
  if (node) node.textContent = text;
};
function readJson(key, fallback) {
  try {
    return JSON.parse(localStorage.getItem(key) ?? '') ?? fallback;
  } catch {
    return fallback;
  }
}
const writeJson = (key, value) => localStorage.setItem(key, JSON.stringify(value));
function debounce(fn, ms) {
  let timer;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
}
function timeAgo(ms) {
  const s = Math.max(0, Math.round((Date.now() - ms) / 1000));
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  return `${Math.round(s / 3600)} h ago`;
}

// ---------------------------------------------------------------- catalog and cart

let catalog = [];
let byId = new Map();
async function loadCatalog() {
  const response = await fetch(CATALOG_URL);
  catalog = await response.json();
  byId = new Map(catalog.map((p) => [p.id, p]));
}
const titleOf = (id) => byId.get(id)?.title ?? id;

const cart = {
  lines: () => readJson(CART_KEY, []),
  save(lines) {
    writeJson(CART_KEY, lines);
    renderCartCount();
  },
  add(id) {
    const lines = cart.lines();
    const line = lines.find((l) => l.id === id);
    if (line) line.qty += 1;
    else lines.push({ id, qty: 1 });
    cart.save(lines);
  },
  remove(id) {
    cart.save(cart.lines().filter((l) => l.id !== id));
  },
  clear: () => cart.save([]),
};
function renderCartCount() {
  setText('#cart-count', String(cart.lines().reduce((n, l) => n + l.qty, 0)));
}

// ---------------------------------------------------------------- product cards

/** A product tile, marked for Hearth's autocapture (impressions and clicks). */
function productCard(product, { recommendation, list, index, lazy = !recommendation } = {}) {
  // The product link carries the marks, so opening "Why this?" is not counted as a product click.
  const card = el('article', { class: 'card' });
  card.append(
    el(
      'a',
      {
        href: product.url,
        'data-hearth-item': product.id,
        'data-hearth-price': product.price,
        'data-hearth-category': product.category,
        'data-hearth-brand': product.brand,
        'data-hearth-index': index,
      },
      el('img', { src: product.image, width: 400, height: 400, alt: '', loading: lazy ? 'lazy' : 'eager', decoding: 'async' }),
      el('h3', { text: product.title }),
      el('p', { class: 'meta' }, el('span', { text: product.brand }), el('b', { text: money.format(product.price) })),
    ),
  );
  const foot = el('div', { class: 'foot' });
  if (recommendation) {
    foot.append(el('span', { class: `badge ${recommendation.source === 'model' ? 'model' : ''}`, text: sourceLabel(recommendation.source) }));
    foot.append(whyThis(recommendation, list));
  } else {
    foot.append(product.inStock ? el('span', { class: 'badge', text: product.kindName }) : el('span', { class: 'badge out', text: 'Out of stock' }));
  }
  card.append(foot);
  return card;
}

function sourceLabel(source) {
  return { model: 'Personalised', similar: 'Similar', trending: 'Trending', catalog: 'Popular' }[source] ?? source;
}

/** "Why this?": the events the model attended to, with their attention weights. */
function whyThis(rec, list) {
  const pop = el('div', { class: 'why-pop', role: 'note' });
  if (rec.because.length > 0) {
    pop.append(el('p', { text: 'Recommended because you recently:' }));
    const ol = el('ol', { class: 'because-list' });
    for (const b of rec.because.slice(0, 5)) {
      ol.append(
        el(
          'li',
          {},
          el('span', { text: `${verb(b.type)} ${titleOf(b.itemId)}`, 'data-because-item': b.itemId }),
          el('b', { text: percent(b.weight) }),
          el('progress', { max: 1, value: b.weight.toFixed(3) }),
        ),
      );
    }
    pop.append(ol);
    pop.append(el('p', { class: 'muted', text: 'Weights: the model’s attention over your history, times how close each of those items is to this one. Computed on this device.' }));
  } else if (rec.source === 'model') {
    // Each recent event is weighed by how much hiding it lowers this item's score; none of them did.
    pop.append(el('p', { text: 'No single recent event raised this pick on its own: it follows from your browsing as a whole.' }));
  } else if (rec.source === 'similar') {
    pop.append(el('p', { text: list === 'similar' ? `Its learned embedding is close to ${titleOf(params.get('id'))}.` : 'Similar to items you looked at.' }));
  } else if (rec.source === 'trending') {
    pop.append(el('p', { text: 'Popular across the shop this week (the starting model’s figures), nudged by what you browsed on this device.' }));
  } else {
    pop.append(el('p', { text: 'A popular pick from the catalog: Hearth has not learned your taste yet.' }));
  }
  return el('details', { class: 'why' }, el('summary', { text: 'Why this?' }), pop);
}

/** Plain words for a round this device did not upload to. */
function roundNote(result) {
  const why = {
    already_contributed: `This device already contributed to round ${result.roundId}; it takes part again when the next round opens.`,
    no_consent: 'Turn on "Help improve the shared model" first.',
    global_privacy_control: 'Your browser sends Global Privacy Control, so this device does not contribute.',
    save_data: 'Data saver is on, so this device does not contribute.',
    no_data: 'Browse a few products first: there is nothing to learn from yet.',
    round_closed: 'The round is closed; try again in a moment.',
  }[result.reason];
  return why ?? `Round ${result.status}${result.reason ? `: ${result.reason}` : ''}.`;
}

function verb(type) {
  return (
    {
      view_item: 'viewed',
      select_item: 'clicked',
      add_to_cart: 'added to cart',
      purchase: 'bought',
      add_to_wishlist: 'saved',
      dwell: 'spent time on',
      view_item_list: 'saw',
      begin_checkout: 'checked out with',
      remove_from_cart: 'removed',
      search: 'searched for',
    }[type] ?? type.replace(/_/g, ' ')
  );
}

function skeletonCard() {
  return el(
    'article',
    { class: 'card skeleton', 'aria-hidden': 'true' },
    el('div', { class: 'img' }),
    el('h3', { text: 'Loading' }),
    el('p', { class: 'meta', text: '–' }),
    el('div', { class: 'foot', text: '–' }),
  );
}

/** Fills a widget's grid with exactly k slots (cards, then empty slots) so its height never changes. */
function fillList(container, recs, k, list) {
  const ids = recs.map((r) => r.itemId).join(',');
  if (container.dataset.ids === ids && container.childElementCount === k) return;
  container.dataset.ids = ids;
  const cards = recs.slice(0, k).map((rec, index) => {
    const product = byId.get(rec.itemId) ?? (rec.item ? { ...rec.item, kindName: rec.item.category, url: `/product.html?id=${rec.itemId}` } : null);
    return product ? productCard(product, { recommendation: rec, list, index }) : null;
  });
  const slots = cards.filter(Boolean);
  while (slots.length < k) {
    // Same box as a card, so a short answer never changes the widget's height.
    const slot = skeletonCard();
    slot.className = 'card empty-slot';
    slots.push(slot);
  }
  container.replaceChildren(...slots);
}

// ---------------------------------------------------------------- widgets

/** Each widget: how to ask Hearth for its items. */
const WIDGETS = {
  'for-you': (h, k) => h.recommend({ k, filter: { inStock: true } }),
  trending: (h, k) => h.trending(k),
  recent: (h, k) => h.recentlyViewed(k),
  'for-you-category': (h, k) => h.recommend({ k, filter: { inStock: true, categories: [params.get('c') ?? ''] } }),
  similar: (h, k) => h.similarItems(params.get('id') ?? '', k),
  'also-viewed': (h, k) => h.recommend({ k, context: { itemId: params.get('id') ?? '' }, exclude: [params.get('id') ?? ''], filter: { inStock: true } }),
  basket: (h, k) => {
    const ids = cart.lines().map((l) => l.id);
    const last = ids[ids.length - 1];
    return h.recommend({ k, exclude: ids, filter: { inStock: true }, ...(last ? { context: { itemId: last } } : {}) });
  },
  'for-you-search': (h, k) => h.recommend({ k, filter: { inStock: true } }),
};

async function refreshWidgets() {
  const h = hearth();
  for (const widget of document.querySelectorAll('[data-widget]')) {
    const name = widget.dataset.widget;
    const k = Number(widget.dataset.k);
    const grid = widget.querySelector('[data-list]');
    const note = widget.querySelector('[data-note]');
    if (!h) {
      // The shop's own merchandising when Hearth is not there: top-rated picks, nothing personal.
      const picks = shopPicks(name).slice(0, k);
      grid.replaceChildren(...picks.map((p, index) => productCard(p, { index })));
      widget.hidden = picks.length === 0;
      if (note) note.textContent = 'Our top-rated picks (personalisation is off).';
      continue;
    }
    try {
      const recs = await WIDGETS[name](h, k);
      fillList(grid, recs, k, name);
      widget.dataset.source = recs[0]?.source ?? 'none';
      if (note) note.textContent = noteFor(recs);
    } catch (error) {
      if (note) note.textContent = 'Recommendations are unavailable right now.';
      console.warn('[demo] widget', name, error);
    }
  }
}

function shopPicks(widget) {
  const current = byId.get(params.get('id') ?? '');
  const pool = catalog.filter((p) => p.inStock && p.id !== current?.id);
  const scoped =
    widget === 'similar' && current
      ? pool.filter((p) => p.kind === current.kind)
      : widget === 'also-viewed' && current
        ? pool.filter((p) => p.category === current.category && p.kind !== current.kind)
        : widget === 'for-you-category'
          ? pool.filter((p) => p.category === params.get('c'))
          : widget === 'recent'
            ? []
            : pool;
  const offset = widget === 'trending' ? 8 : 0;
  return [...scoped].sort((a, b) => b.rating - a.rating || a.id.localeCompare(b.id)).slice(offset);
}

function noteFor(recs) {
  const consent = hearth()?.consent.get();
  if (consent && consent.personalise !== true) return 'Popular picks. Turn on personalisation for picks based on what you browse.';
  if (recs.length === 0) return 'Nothing yet: products you open will appear here.';
  if (recs[0].source === 'model') return 'Ranked by the model on this device, from what you browsed.';
  return 'Popular picks until Hearth learns what you like.';
}

// ---------------------------------------------------------------- header: intent chip, consent banner

async function refreshIntent() {
  const h = hearth();
  if (!h) return;
  try {
    const score = await h.intent();
    const chip = $('#intent-chip b');
    if (chip) chip.textContent = percent(score.cart);
    const chipLink = $('#intent-chip');
    if (chipLink) chipLink.dataset.cart = score.cart.toFixed(4);
    if (page === 'engine') renderIntentPanel(score);
  } catch (error) {
    console.warn('[demo] intent', error);
  }
}

function setupConsentBanner(h) {
  const banner = $('#consent-banner');
  if (!banner) return;
  const state = h.consent.get();
  // Undecided (never asked) is `updatedAt === null`; opt-in mode reads as false until then.
  banner.hidden = state.updatedAt !== null;
  const decide = async (personalise, contribute) => {
    banner.hidden = true;
    const grant = [];
    const revoke = [];
    (personalise ? grant : revoke).push('personalise');
    (contribute ? grant : revoke).push('contribute');
    if (grant.length) await h.consent.grant(grant);
    if (revoke.length) await h.consent.revoke(revoke);
  };
  $('#consent-accept').addEventListener('click', () => void decide(true, true));
  $('#consent-decline').addEventListener('click', () => void decide(false, false));
  $('#consent-save').addEventListener('click', () => void decide($('#consent-personalise').checked, $('#consent-contribute').checked));
}

// ---------------------------------------------------------------- pages

function renderHome() {
  const art = $('#hero-art');
  if (art)
    art.replaceChildren(
      ...['RUN-0002', 'COF-0018', 'AUD-0030', 'OUT-0001']
        .map((id) => byId.get(id))
        .filter(Boolean)
        .map((p) => el('img', { src: p.image, width: 400, height: 400, alt: '' })),
    );
  const tiles = $('#department-tiles');
  const seen = new Set();
  for (const p of catalog) {
    if (seen.has(p.category)) continue;
    seen.add(p.category);
    tiles.append(
      el('a', { class: 'dept-tile', href: `/category.html?c=${encodeURIComponent(p.category)}` }, el('img', { src: p.image, width: 56, height: 56, alt: '' }), el('span', { text: p.category })),
    );
  }
}

function renderCategory() {
  const category = params.get('c') ?? catalog[0]?.category;
  const kind = params.get('kind');
  const products = catalog.filter((p) => p.category === category);
  document.title = `${category} · Hearth Outfitters`;
  setText('#category-title', category);
  setText('#crumb-category', category);
  for (const a of document.querySelectorAll('#departments a')) if (new URL(a.href).searchParams.get('c') === category) a.setAttribute('aria-current', 'page');
  const kinds = [...new Map(products.map((p) => [p.kind, p.kindName])).entries()];
  const filter = $('#kind-filter');
  const base = `/category.html?c=${encodeURIComponent(category)}`;
  filter.append(el('a', { href: base, 'aria-current': kind ? 'false' : 'true', text: 'All' }));
  for (const [id, name] of kinds) filter.append(el('a', { href: `${base}&kind=${id}`, 'aria-current': kind === id ? 'true' : 'false', text: plural(name) }));
  const shown = kind ? products.filter((p) => p.kind === kind) : products;
  setText('#product-count', `${shown.length} products`);
  $('#product-grid').replaceChildren(...shown.map((p, index) => productCard(p, { index })));
}

function plural(name) {
  if (/\d|s$/.test(name)) return name;
  return /(ch|sh|x)$/.test(name) ? `${name}es` : `${name}s`;
}

function renderProduct() {
  const product = byId.get(params.get('id') ?? '');
  if (!product) {
    setText('#product-title', 'Product not found');
    return;
  }
  document.title = `${product.title} · Hearth Outfitters`;
  const crumb = $('#crumb-category');
  crumb.textContent = product.category;
  crumb.href = `/category.html?c=${encodeURIComponent(product.category)}`;
  const img = $('#product-image');
  img.src = product.image;
  img.alt = product.title;
  setText('#product-brand', product.brand);
  setText('#product-title', product.title);
  setText('#product-rating', `${'★'.repeat(Math.round(product.rating))}${'☆'.repeat(5 - Math.round(product.rating))} ${product.rating}`);
  setText('#product-price', money.format(product.price));
  setText('#product-description', product.description);
  const stock = $('#product-stock');
  stock.textContent = product.inStock ? 'In stock · ships tomorrow' : 'Out of stock';
  stock.className = `stock ${product.inStock ? 'in' : 'out'}`;
  for (const button of [$('#add-to-cart'), $('#add-to-wishlist')]) {
    button.dataset.hearthPrice = String(product.price);
    button.dataset.hearthCategory = product.category;
    button.dataset.hearthBrand = product.brand;
  }
  const add = $('#add-to-cart');
  add.disabled = !product.inStock;
  add.addEventListener('click', () => {
    cart.add(product.id);
    setText('#toast', 'Added to your cart.');
  });
  $('#add-to-wishlist').addEventListener('click', () => setText('#toast', 'Saved for later.'));
  // The visible-time counter mirrors what Hearth's dwell measurement counts.
  let visibleMs = 0;
  let last = performance.now();
  setInterval(() => {
    const now = performance.now();
    if (document.visibilityState === 'visible') visibleMs += now - last;
    last = now;
    setText('#dwell', `${Math.round(visibleMs / 1000)} s`);
  }, 1000);
}

function renderCart() {
  const lines = cart.lines();
  const list = $('#cart-lines');
  list.replaceChildren(
    ...lines.map(({ id, qty }) => {
      const p = byId.get(id);
      if (!p) return null;
      const remove = el('button', {
        type: 'button',
        class: 'remove',
        'data-hearth-action': 'remove_from_cart',
        'data-hearth-item': id,
        'data-hearth-price': p.price,
        'data-hearth-quantity': qty,
        text: 'Remove',
      });
      remove.addEventListener('click', () => {
        cart.remove(id);
        renderCart();
        void refreshWidgets();
      });
      return el(
        'li',
        { class: 'cart-line' },
        el('img', { src: p.image, width: 80, height: 80, alt: '' }),
        el('div', {}, el('a', { href: p.url, text: p.title }), el('div', { class: 'muted', text: `${qty} × ${money.format(p.price)}` })),
        remove,
      );
    }),
  );
  const subtotal = lines.reduce((sum, l) => sum + (byId.get(l.id)?.price ?? 0) * l.qty, 0);
  setText('#cart-subtotal', money.format(subtotal));
  $('#cart-empty').hidden = lines.length > 0;
  const checkout = $('#to-checkout');
  checkout.classList.toggle('disabled', lines.length === 0);
  if (lines.length === 0) checkout.setAttribute('aria-disabled', 'true');
}

function ga4Items(lines) {
  return lines
    .map(({ id, qty }) => {
      const p = byId.get(id);
      return p ? { item_id: p.id, item_name: p.title, price: p.price, quantity: qty, item_category: p.category, item_brand: p.brand } : null;
    })
    .filter(Boolean);
}

function renderCheckout() {
  const lines = cart.lines();
  const items = ga4Items(lines);
  const total = items.reduce((sum, i) => sum + i.price * i.quantity, 0);
  $('#checkout-lines').replaceChildren(...items.map((i) => el('li', {}, el('span', { text: `${i.quantity} × ${i.item_name}` }), el('b', { text: money.format(i.price * i.quantity) }))));
  setText('#checkout-total', money.format(total));
  window.dataLayer = window.dataLayer || [];
  if (items.length > 0) window.dataLayer.push({ event: 'begin_checkout', ecommerce: { currency: 'USD', value: round2(total), items } });
  $('#place-order').disabled = items.length === 0;
  $('#checkout-form').addEventListener('submit', (event) => {
    event.preventDefault();
    const transactionId = `HO-${Date.now().toString(36).toUpperCase()}`;
    // The shop's GA4 purchase, exactly as a GA4 storefront sends it; Hearth's bridge records it.
    window.dataLayer.push({ event: 'purchase', ecommerce: { transaction_id: transactionId, value: round2(total), currency: 'USD', items } });
    cart.clear();
    $('#checkout-form-area').hidden = true;
    $('#thanks').hidden = false;
    setText('#order-id', transactionId);
    void hearth()?.flush();
  });
}
const round2 = (x) => Math.round(x * 100) / 100;

function renderSearch() {
  const q = (params.get('q') ?? '').trim();
  const input = $('#q');
  if (input) input.value = q;
  const terms = q.toLowerCase().split(/\s+/).filter(Boolean);
  const scored = catalog
    .map((p) => {
      const text = `${p.title} ${p.brand} ${p.category} ${p.kindName}`.toLowerCase();
      const score = terms.reduce((s, t) => s + (text.includes(t) ? (p.title.toLowerCase().includes(t) ? 2 : 1) : 0), 0);
      return { p, score };
    })
    .filter((r) => terms.length > 0 && r.score >= terms.length)
    .sort((a, b) => b.score - a.score || Number(b.p.inStock) - Number(a.p.inStock));
  setText('#search-title', q ? `Results for “${q}”` : 'Search');
  setText('#search-count', q ? `${scored.length} products` : 'Type in the search box above.');
  $('#search-results').replaceChildren(...scored.slice(0, 48).map((r, index) => productCard(r.p, { index })));
}

// ---------------------------------------------------------------- privacy centre

const logRows = [];
function eventRow(event, fresh) {
  const items = (event.items ?? []).map((i) => titleOf(i.item_id));
  const details = [];
  if (event.search_term) details.push(`“${event.search_term}”`);
  if (event.duration_ms !== undefined) details.push(`${(event.duration_ms / 1000).toFixed(1)} s visible`);
  if (event.value !== undefined) details.push(`${money.format(event.value)}`);
  if (event.transaction_id) details.push(event.transaction_id);
  if (event.page_path) details.push(event.page_path);
  return el(
    'tr',
    { class: fresh ? 'fresh' : '' },
    el('td', { text: new Date(event.time).toLocaleTimeString() }),
    el('td', {}, el('span', { class: 'type', text: event.type })),
    el('td', { text: items.length > 3 ? `${items.slice(0, 3).join(', ')} +${items.length - 3} more` : items.join(', ') || '—' }),
    el('td', { text: details.join(' · ') || '—' }),
  );
}

async function renderPrivacy(h) {
  $('#fl-server').textContent = serverUrl || 'the shop’s server';
  const personalise = $('#scope-personalise');
  const contribute = $('#scope-contribute');
  const showConsent = (state) => {
    personalise.checked = state.personalise === true;
    contribute.checked = state.contribute === true;
    setText('#consent-updated', state.updatedAt ? `Last changed ${new Date(state.updatedAt).toLocaleString()}.` : 'You have not decided yet.');
  };
  showConsent(h.consent.get());
  h.consent.onChange(showConsent);
  personalise.addEventListener('change', () => void (personalise.checked ? h.consent.grant('personalise') : h.consent.revoke('personalise')));
  contribute.addEventListener('change', () => void (contribute.checked ? h.consent.grant('contribute') : h.consent.revoke('contribute')));

  const tbody = $('#event-log');
  const loadLog = async () => {
    const data = await h.exportData();
    logRows.length = 0;
    logRows.push(...data.events);
    tbody.replaceChildren(
      ...data.events
        .slice()
        .reverse()
        .slice(0, 300)
        .map((e) => eventRow(e, false)),
    );
    setText('#event-count', String(data.events.length));
  };
  await loadLog();
  h.on('event', (event) => {
    // Live: events appear as they happen (they are stored a moment later, when consent allows).
    tbody.prepend(eventRow(event, true));
    logRows.push(event);
    setText('#event-count', String(logRows.length));
  });

  $('#export').addEventListener('click', async () => {
    const data = await h.exportData();
    const blob = new Blob([JSON.stringify(data, null, 2)], { type: 'application/json' });
    const a = el('a', { href: URL.createObjectURL(blob), download: `hearth-data-${new Date().toISOString().slice(0, 10)}.json` });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(a.href), 5000);
    setText('#privacy-toast', `Exported ${data.events.length} events.`);
  });
  $('#forget').addEventListener('click', async () => {
    const button = $('#forget');
    button.disabled = true;
    await h.forget();
    for (const key of [LOSS_KEY, QUALITY_KEY, PREDICTIONS_KEY]) localStorage.removeItem(key);
    await loadLog();
    showConsent(h.consent.get());
    setText('#privacy-toast', 'Done: everything Hearth stored on this device has been deleted.');
    button.disabled = false;
    await refreshWidgets();
    await refreshIntent();
  });

  const showUpload = async () => {
    const record = await h.federated.lastUpload();
    const facts = $('#upload-facts');
    if (!record) {
      facts.replaceChildren(el('dt', { text: 'Status' }), el('dd', { text: 'Nothing has been sent from this device.' }));
      $('#upload-json').textContent = 'No upload yet.';
      return;
    }
    const rows = [
      ['Sent', `${new Date(record.at).toLocaleString()} (${timeAgo(record.at)})`],
      ['To', record.url],
      ['HTTP status', String(record.httpStatus)],
      ['Body', `${record.bytes.toLocaleString()} bytes (${record.rawBytes.toLocaleString()} before compression)`],
      [
        'Tensors',
        `${record.tensors.length} weight-difference tensors, ${record.tensors.reduce((n, t) => n + t.shape.reduce((a, b) => a * b, 1), 0).toLocaleString()} numbers (largest: ${[...record.tensors].sort((a, b) => b.shape.reduce((x, y) => x * y, 1) - a.shape.reduce((x, y) => x * y, 1))[0]?.name ?? '—'})`,
      ],
      ['Update norm', `${record.normBeforeClip.toFixed(3)} → clipped to ${record.normAfterClip.toFixed(3)} (bound ${record.clipBound})`],
      ['On-device noise σ', String(record.noiseSigma)],
      ['Round / model', `round ${record.header?.roundId ?? '?'}, from model version ${record.header?.modelVersion ?? '?'}`],
    ];
    facts.replaceChildren(...rows.flatMap(([k, v]) => [el('dt', { text: k }), el('dd', { text: v })]));
    $('#upload-json').textContent = JSON.stringify(record, null, 2);
  };
  await showUpload();
  $('#run-round').addEventListener('click', async () => {
    const button = $('#run-round');
    button.disabled = true;
    setText('#round-toast', 'Training locally and uploading…');
    try {
      const result = await h.federated.round();
      setText('#round-toast', result.status === 'uploaded' ? `Uploaded to round ${result.roundId}.` : roundNote(result));
      await showUpload();
    } catch (error) {
      setText('#round-toast', `Round failed: ${error?.message ?? error}`);
    } finally {
      button.disabled = false;
    }
  });
}

// ---------------------------------------------------------------- engine and federated panels

function renderIntentPanel(score) {
  setText('#intent-cart', percent(score.cart));
  setText('#intent-purchase', percent(score.purchase));
  setText('#intent-source', score.source === 'model' ? 'From the on-device intent model; it attended most to:' : 'Heuristic (the intent model has not trained yet); based on:');
  $('#intent-because').replaceChildren(
    ...score.because.slice(0, 5).map((b) => el('li', {}, el('span', { text: `${verb(b.type)} ${titleOf(b.itemId)} — ${percent(b.weight)}` }), el('progress', { max: 1, value: b.weight.toFixed(3) }))),
  );
}

async function refreshEngineFacts(h) {
  const info = await h.engine.info();
  const rows = [
    ['Status', info.status],
    ['Backend', info.backend ?? '—'],
    ['Why', info.backendReason || '—'],
    ['Threads', info.wasmThreads === null ? '—' : `${info.wasmThreads} WASM thread${info.wasmThreads === 1 ? '' : 's'}${info.wasmThreads === 1 ? ' (the page is not cross-origin isolated)' : ''}`],
    ['Adapter', info.adapter ? `${info.adapter.vendor || 'unknown'} ${info.adapter.architecture || ''}${info.adapter.isFallbackAdapter ? ' (software fallback)' : ''}` : 'none'],
    ['Parameters', `recommender ${info.parameters.recommender.toLocaleString()}, intent ${info.parameters.intent.toLocaleString()}`],
    ['Last trained', info.lastTrainedAt ? `${new Date(info.lastTrainedAt).toLocaleTimeString()} (loss ${info.lastLoss?.toFixed(4) ?? '—'})` : 'not yet'],
    ['Global model', info.globalModelVersion ?? '—'],
  ];
  if (info.fallbackReason) rows.push(['Fallback', info.fallbackReason]);
  $('#engine-facts').replaceChildren(...rows.flatMap(([k, v]) => [el('dt', { text: k }), el('dd', { text: v, 'data-fact': k.toLowerCase() })]));
  return info;
}

/** A hand-drawn line chart: series of {x, y}, axes, a few ticks. */
function drawChart(canvas, series, { yMin = 0, yMax, yFormat = (v) => v.toFixed(2), empty = 'No data yet' } = {}) {
  const ratio = window.devicePixelRatio || 1;
  const width = canvas.clientWidth || canvas.width;
  const height = Math.round(width * 0.4);
  canvas.width = Math.round(width * ratio);
  canvas.height = Math.round(height * ratio);
  const ctx = canvas.getContext('2d');
  ctx.scale(ratio, ratio);
  ctx.clearRect(0, 0, width, height);
  ctx.font = '12px system-ui, sans-serif';
  const pad = { l: 44, r: 12, t: 12, b: 24 };
  const points = series.flatMap((s) => s.points);
  if (points.length === 0) {
    ctx.fillStyle = '#6b625b';
    ctx.textAlign = 'center';
    ctx.fillText(empty, width / 2, height / 2);
    return;
  }
  const xs = points.map((p) => p.x);
  const xMin = Math.min(...xs);
  const xMax = Math.max(...xs, xMin + 1);
  const top = yMax ?? Math.max(...points.map((p) => p.y)) * 1.1;
  const bottom = yMin ?? Math.min(...points.map((p) => p.y));
  const X = (x) => pad.l + ((x - xMin) / (xMax - xMin)) * (width - pad.l - pad.r);
  const Y = (y) => pad.t + (1 - (y - bottom) / (top - bottom || 1)) * (height - pad.t - pad.b);
  ctx.strokeStyle = '#e7e1da';
  ctx.fillStyle = '#6b625b';
  ctx.lineWidth = 1;
  ctx.textAlign = 'right';
  for (let i = 0; i <= 4; i++) {
    const v = bottom + ((top - bottom) * i) / 4;
    ctx.beginPath();
    ctx.moveTo(pad.l, Y(v));
    ctx.lineTo(width - pad.r, Y(v));
    ctx.stroke();
    ctx.fillText(yFormat(v), pad.l - 6, Y(v) + 4);
  }
  for (const s of series) {
    if (s.points.length === 0) continue;
    ctx.strokeStyle = s.color;
    ctx.lineWidth = 2;
    ctx.setLineDash(s.dashed ? [5, 4] : []);
    ctx.beginPath();
    s.points.forEach((p, i) => (i === 0 ? ctx.moveTo(X(p.x), Y(p.y)) : ctx.lineTo(X(p.x), Y(p.y))));
    ctx.stroke();
    ctx.setLineDash([]);
    ctx.fillStyle = s.color;
    const lastPoint = s.points[s.points.length - 1];
    ctx.beginPath();
    ctx.arc(X(lastPoint.x), Y(lastPoint.y), 3, 0, Math.PI * 2);
    ctx.fill();
  }
  ctx.fillStyle = '#6b625b';
  ctx.textAlign = 'left';
  ctx.fillText(series.map((s) => s.label).join('   '), pad.l, height - 6);
}

function drawLossChart() {
  const history = readJson(LOSS_KEY, []);
  const bySeries = (model) => history.filter((p) => p.model === model).map((p, i) => ({ x: i, y: p.loss }));
  drawChart(
    $('#loss-chart'),
    [
      { label: '— recommender', color: '#c2410c', points: bySeries('recommender') },
      { label: '- - intent', color: '#0f766e', dashed: true, points: bySeries('intent') },
    ],
    { yMin: 0, empty: 'Train the model to see its loss here.' },
  );
  setText(
    '#loss-note',
    history.length ? `${history.length} progress reports; last loss ${history[history.length - 1].loss.toFixed(4)} (${history[history.length - 1].model}).` : 'No training run on this device yet.',
  );
}

function drawQualityChart() {
  const q = readJson(QUALITY_KEY, []);
  const running = (key) => {
    let hits = 0;
    return q.map((r, i) => {
      hits += r[key] ? 1 : 0;
      return { x: i + 1, y: hits / (i + 1) };
    });
  };
  drawChart(
    $('#quality-chart'),
    [
      { label: '— model HR@10', color: '#c2410c', points: running('model') },
      { label: '- - trending HR@10', color: '#78716c', dashed: true, points: running('trending') },
    ],
    { yMin: 0, yMax: 1, yFormat: (v) => percent(v), empty: 'Open a few products: each one is scored against the predictions made just before.' },
  );
  if (q.length)
    setText(
      '#quality-note',
      `Hit rate@10 over your last ${q.length} product views: model ${percent(q.filter((r) => r.model).length / q.length)}, trending ${percent(q.filter((r) => r.trending).length / q.length)}. Solid: the model; dashed: the trending list.`,
    );
}

/**
 * Recommendation quality on the shopper's own behaviour: before each product view, the model's top
 * 10 (and the trending top 10) are kept; when the next product is opened, was it among them?
 * Kept in localStorage by the demo (it is the shop's chart, not Hearth's data).
 */
async function recordPrediction(h) {
  try {
    const [model, trending] = await Promise.all([h.recommend({ k: 10, excludePurchased: false, filter: { inStock: false } }), h.trending(10)]);
    writeJson(PREDICTIONS_KEY, { at: Date.now(), model: model.map((r) => r.itemId), trending: trending.map((r) => r.itemId) });
  } catch {
    // Predictions are best effort.
  }
}
function scoreView(itemId) {
  const predictions = readJson(PREDICTIONS_KEY, null);
  if (!predictions) return;
  const q = readJson(QUALITY_KEY, []);
  q.push({ at: Date.now(), item: itemId, model: predictions.model.includes(itemId), trending: predictions.trending.includes(itemId) });
  writeJson(QUALITY_KEY, q.slice(-200));
  localStorage.removeItem(PREDICTIONS_KEY);
}

let pollTimer;
async function refreshFederated() {
  if (!serverUrl) {
    setText('#fed-note', 'No aggregation server configured.');
    return;
  }
  try {
    const [health, metricsText] = await Promise.all([fetch(`${serverUrl}/health`).then((r) => r.json()), fetch(`${serverUrl}/metrics`).then((r) => r.text())]);
    const metrics = Object.fromEntries(
      metricsText
        .split('\n')
        .filter((line) => line && !line.startsWith('#') && !line.includes('{'))
        .map((line) => line.split(' '))
        .map(([k, v]) => [k, Number(v)]),
    );
    // /health carries ε and δ (newer servers); /metrics has them as gauges too.
    const epsilon = typeof health.epsilon === 'number' ? health.epsilon : metrics.hearth_epsilon_spent;
    const delta = typeof health.delta === 'number' ? health.delta : 1e-5;
    const published = typeof health.roundsPublished === 'number' ? health.roundsPublished : (metrics.hearth_rounds_published_total ?? 0);
    const rows = [
      ['Current round', `#${health.roundId}`],
      ['Clients so far', `${health.updates} / ${health.minClients}`],
      ['Global model version', String(health.modelVersion)],
      ['Rounds published', String(published)],
      [`ε spent (δ = ${delta.toExponential(0).replace('e-', 'e−')})`, epsilon === undefined || epsilon === null ? (metrics.hearth_dp_enabled ? '0' : 'no DP noise') : epsilon.toFixed(3)],
      ['Round status', health.roundStatus],
    ];
    $('#fed-facts').replaceChildren(...rows.map(([k, v]) => el('div', {}, el('dt', { text: k }), el('dd', { text: v }))));
    setText('#fed-note', `From ${serverUrl}/health and /metrics, refreshed every 5 s. A round publishes a new global model when ${health.minClients} devices have sent an update.`);
  } catch {
    setText('#fed-note', `The aggregation server at ${serverUrl} is not reachable.`);
  }
}

async function renderEngine(h) {
  drawLossChart();
  drawQualityChart();
  const progress = $('#train-progress');
  h.engine.onProgress((p) => {
    progress.value = p.fraction;
    setText('#train-status', `${p.model}: epoch ${p.epoch}/${p.epochs}, loss ${p.loss.toFixed(4)} (${percent(p.fraction)})`);
  });
  const info = await refreshEngineFacts(h).catch(() => null);
  if (info?.status === 'training') setText('#train-status', 'training…');
  $('#train-now').addEventListener('click', async () => {
    const button = $('#train-now');
    button.disabled = true;
    setText('#train-status', 'starting…');
    try {
      const result = await h.engine.train();
      setText('#train-status', `done: recommender loss ${result.recommenderLoss?.toFixed(4) ?? '—'}, intent loss ${result.intentLoss?.toFixed(4) ?? '—'}`);
      progress.value = 1;
    } catch (error) {
      setText('#train-status', `failed: ${error?.message ?? error}`);
    } finally {
      button.disabled = false;
      await refreshEngineFacts(h).catch(() => null);
    }
  });
  await refreshFederated();
  pollTimer = setInterval(() => {
    void refreshFederated();
    void refreshEngineFacts(h).catch(() => null);
  }, 5000);
  window.addEventListener(
    'resize',
    debounce(() => {
      drawLossChart();
      drawQualityChart();
    }, 200),
  );
}

// ---------------------------------------------------------------- experiments

const EXPERIMENT = 'home-recs';

async function renderExperiments(h) {
  // The same call a shop makes to decide what to show; here it only displays the assignment.
  const test = await h.experiment(EXPERIMENT, { variants: ['bestsellers', 'model'], metrics: ['add_to_cart', 'purchase'] });
  void test.exposed();
  const showDevice = async () => {
    const record = (await h.experiments.list()).find((r) => r.name === EXPERIMENT);
    const rows = [
      ['Variant', test.enrolled ? (test.variant === 'model' ? 'For you (the model)' : 'Bestsellers (the control)') : 'not enrolled (no personalisation consent): the control'],
      ['Exposed', record?.exposedAt ? timeAgo(record.exposedAt) : '—'],
      ['Added to cart since', record?.outcome ? (record.outcome.add_to_cart ? 'yes' : 'no') : '—'],
      ['Reported', record?.report ? `${timeAgo(record.report.at)} (${record.report.channel}, ε ${record.report.epsilon.toFixed(2)})` : 'not yet'],
    ];
    $('#experiment-device').replaceChildren(...rows.flatMap(([k, v]) => [el('dt', { text: k }), el('dd', { text: v })]));
  };
  $('#experiment-report')?.addEventListener('click', async () => {
    const result = await h.experiments.report();
    setText('#experiment-report-note', `Report: ${result.status}${result.reason ? ` (${result.reason.replaceAll('_', ' ')})` : ''}`);
    await showDevice();
    await showResults();
  });
  const reportKey = document.querySelector('script[data-report-key]')?.dataset.reportKey ?? '';
  const showResults = async () => {
    let results;
    try {
      const response = await fetch(`${serverUrl}/v1/experiments/${EXPERIMENT}/results`, { headers: { 'x-hearth-report-key': reportKey }, credentials: 'omit' });
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      results = await response.json();
    } catch (error) {
      setText('#experiment-note', `The aggregation server did not answer (${error.message}).`);
      drawChart($('#experiment-chart'), [], { empty: 'No results yet' });
      return;
    }
    const cart = results.comparisons.find((c) => c.metric === 'add_to_cart');
    const pp = (x) => `${(100 * x).toFixed(1)} pp`;
    const rate = (v) => results.perVariant.find((p) => p.variant === v)?.rates.add_to_cart;
    const rows = [
      ['Shoppers counted', `${(results.reports.vector + results.reports.randomizedResponse).toLocaleString('en-US')} in ${results.releases} releases`],
      ['Add to cart', ['bestsellers', 'model'].map((v) => `${v} ${percent(rate(v)?.estimate ?? 0)}`).join(' · ')],
      [
        'Uplift',
        cart && Number.isFinite(cart.uplift.estimate)
          ? `${percent(cart.uplift.estimate)} [${percent(cart.uplift.ci95[0])}, ${Number.isFinite(cart.uplift.ci95[1]) ? percent(cart.uplift.ci95[1]) : '∞'}]`
          : '—',
      ],
      ['Difference', cart ? `${pp(cart.difference.estimate)} (always valid: ${pp(cart.sequential.ci[0])} to ${pp(cart.sequential.ci[1])})` : '—'],
      [
        'Sequential test',
        cart
          ? `p ${cart.sequential.pValue < 1e-4 ? '< 0.0001' : `= ${cart.sequential.pValue.toFixed(4)}`} over ${cart.sequential.looks} looks${cart.sequential.significant ? ' — significant' : ''}`
          : '—',
      ],
      ['Privacy', `ε ${results.epsilon}, δ ${results.delta} per shopper`],
    ];
    $('#experiment-results').replaceChildren(...rows.flatMap(([k, v]) => [el('dt', { text: k }), el('dd', { text: v, 'data-fact': k.toLowerCase() })]));
    setText('#experiment-note', 'Intervals include the DP noise; the sequential test stays valid however often the shop looks.');
    const series = (v, color, dashed) => ({
      label: `${dashed ? '- -' : '—'} ${v}`,
      color,
      dashed,
      points: results.history.map((entry, i) => ({ x: i + 1, y: entry.rates.add_to_cart?.[results.variants.indexOf(v)]?.estimate ?? 0 })),
    });
    drawChart($('#experiment-chart'), [series('model', '#c2410c', false), series('bestsellers', '#6b625b', true)], { yMin: 0, yFormat: (y) => percent(y) });
  };
  await showDevice();
  await showResults();
}

// ---------------------------------------------------------------- start

async function main() {
  renderCartCount();
  await loadCatalog();
  if (page === 'home') renderHome();
  if (page === 'category') renderCategory();
  if (page === 'product') renderProduct();
  if (page === 'cart') renderCart();
  if (page === 'search') renderSearch();
  if (page === 'checkout') renderCheckout();

  const h = hearth();
  if (!h) {
    // Hearth did not load (blocked, offline, failed): the shop works, widgets say why they are empty.
    await refreshWidgets();
    for (const skeleton of document.querySelectorAll('[data-list] .card.skeleton')) skeleton.className = 'card empty-slot';
    setText('#intent-chip b', 'off');
    document.body.dataset.ready = 'no-hearth';
    return;
  }
  await h.ready;
  setupConsentBanner(h);
  // Loss history for the engine page's chart, from any page where training happens to run.
  h.engine.onProgress((p) => {
    const history = readJson(LOSS_KEY, []);
    history.push({ at: Date.now(), model: p.model, loss: p.loss });
    writeJson(LOSS_KEY, history.slice(-400));
    if (page === 'engine') drawLossChart();
  });
  const refresh = debounce(() => {
    void refreshWidgets();
    void refreshIntent();
  }, 400);
  h.on('event', (event) => {
    if (event.type === 'view_item' && event.items?.[0]) {
      scoreView(event.items[0].item_id);
      void recordPrediction(h);
      if (page === 'engine') drawQualityChart();
    }
    if (TRACKED_FOR_REFRESH.has(event.type)) refresh();
  });
  h.consent.onChange(refresh);
  await Promise.all([refreshWidgets(), refreshIntent()]);
  if (page === 'product' && params.get('id')) {
    // The page's own view_item may have fired before this module subscribed.
    scoreView(params.get('id'));
    void recordPrediction(h);
  } else if (!readJson(PREDICTIONS_KEY, null)) void recordPrediction(h);
  if (page === 'privacy') await renderPrivacy(h);
  if (page === 'engine') await renderEngine(h);
  if (page === 'experiments') await renderExperiments(h);
  document.body.dataset.ready = 'true';
}

main().catch((error) => {
  console.warn('[demo] start failed', error);
  document.body.dataset.ready = 'error';
});
window.addEventListener('pagehide', () => clearInterval(pollTimer));
