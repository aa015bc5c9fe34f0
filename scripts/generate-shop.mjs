#!/usr/bin/env node
/**
 * Generates the demo storefront's data, deterministically from a seed:
 *
 *   demo/generated/catalog.json   the product feed (id, title, category, brand, price, inStock, image, url, kind, description)
 *   demo/generated/img/<id>.svg   one illustration per product (no network fetches anywhere)
 *   demo/generated/history.csv    a synthetic shop history for `hearth-train` ("user,item,category,behavior,timestamp")
 *
 * The history has structure a sequence model can learn: every shopper leans towards one or two
 * categories, sessions stay within a category, shoppers walk along a kind of product (trail shoes →
 * more trail shoes), and a purchase is followed by its complement (shoes → socks, grinder → beans).
 *
 * Usage: node scripts/generate-shop.mjs [--out demo/generated] [--seed 7] [--shoppers 1500]
 */
import { mkdirSync, writeFileSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';

/** Bump when the output changes, so `npm run demo` knows to retrain. */
export const GENERATOR_VERSION = 3;

/** Small, fast, seedable PRNG (mulberry32). */
function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * The shop's departments. Each kind has a price range, a noun, an icon and the kind a shopper
 * tends to look at after buying one (its complement).
 */
export const DEPARTMENTS = [
  {
    id: 'running',
    name: 'Running',
    hue: 12,
    brands: ['Stride', 'Pacer', 'Northtrack', 'Kinetic'],
    kinds: [
      { id: 'road-shoes', noun: 'Road Running Shoe', icon: 'shoe', price: [70, 180], next: 'socks' },
      { id: 'trail-shoes', noun: 'Trail Running Shoe', icon: 'shoe', price: [90, 200], next: 'socks' },
      { id: 'socks', noun: 'Running Socks', icon: 'sock', price: [9, 25], next: 'watches' },
      { id: 'watches', noun: 'GPS Watch', icon: 'watch', price: [120, 450], next: 'road-shoes' },
    ],
    adjectives: ['Aero', 'Tempo', 'Glide', 'Summit', 'Pulse', 'Swift', 'Ridge', 'Nova', 'Apex', 'Drift', 'Flux', 'Zephyr'],
  },
  {
    id: 'coffee',
    name: 'Coffee & Tea',
    hue: 28,
    brands: ['Roastery No. 9', 'Bean & Leaf', 'Crema', 'Highland'],
    kinds: [
      { id: 'beans', noun: 'Coffee Beans 500 g', icon: 'bag', price: [9, 24], next: 'beans' },
      { id: 'grinders', noun: 'Burr Grinder', icon: 'grinder', price: [40, 260], next: 'beans' },
      { id: 'kettles', noun: 'Gooseneck Kettle', icon: 'kettle', price: [30, 140], next: 'teas' },
      { id: 'teas', noun: 'Loose-leaf Tea', icon: 'cup', price: [6, 22], next: 'kettles' },
    ],
    adjectives: ['Ethiopia', 'Colombia', 'Espresso', 'Morning', 'Velvet', 'Darjeeling', 'Sencha', 'Kenya', 'House', 'Sumatra', 'Assam', 'Oolong'],
  },
  {
    id: 'audio',
    name: 'Audio',
    hue: 215,
    brands: ['Sonora', 'Hertz & Co', 'Quietline', 'Basswood'],
    kinds: [
      { id: 'headphones', noun: 'Over-ear Headphones', icon: 'headphones', price: [60, 420], next: 'earbuds' },
      { id: 'earbuds', noun: 'Wireless Earbuds', icon: 'earbuds', price: [40, 280], next: 'speakers' },
      { id: 'speakers', noun: 'Bluetooth Speaker', icon: 'speaker', price: [35, 320], next: 'turntables' },
      { id: 'turntables', noun: 'Turntable', icon: 'record', price: [150, 600], next: 'speakers' },
    ],
    adjectives: ['Studio', 'Pro', 'Mini', 'Max', 'Air', 'Wave', 'Echo', 'Onyx', 'Lumen', 'Nimbus', 'Vibe', 'Calm'],
  },
  {
    id: 'kitchen',
    name: 'Kitchen',
    hue: 350,
    brands: ['Forge & Fire', 'Copperline', 'Maison', 'Ironleaf'],
    kinds: [
      { id: 'pans', noun: 'Frying Pan', icon: 'pan', price: [25, 160], next: 'utensils' },
      { id: 'knives', noun: 'Chef Knife', icon: 'knife', price: [30, 240], next: 'boards' },
      { id: 'boards', noun: 'Cutting Board', icon: 'board', price: [15, 90], next: 'knives' },
      { id: 'utensils', noun: 'Utensil Set', icon: 'spoon', price: [12, 60], next: 'pans' },
    ],
    adjectives: ['Cast-iron', 'Carbon', 'Copper', 'Classic', 'Santoku', 'Walnut', 'Bamboo', 'Nonstick', 'Steel', 'Artisan', 'Everyday', 'Chef'],
  },
  {
    id: 'games',
    name: 'Board Games',
    hue: 275,
    brands: ['Meeple House', 'Twin Dice', 'Lantern Games', 'Cardboard Co'],
    kinds: [
      { id: 'strategy', noun: 'Strategy Game', icon: 'dice', price: [25, 90], next: 'expansions' },
      { id: 'expansions', noun: 'Expansion', icon: 'box', price: [15, 45], next: 'strategy' },
      { id: 'party', noun: 'Party Game', icon: 'cards', price: [12, 35], next: 'puzzles' },
      { id: 'puzzles', noun: 'Jigsaw Puzzle 1000 pc', icon: 'puzzle', price: [14, 40], next: 'party' },
    ],
    adjectives: ['Harbour', 'Dragon', 'Galaxy', 'Railway', 'Castle', 'Meadow', 'Pirate', 'Kingdom', 'Orchard', 'Volcano', 'Lighthouse', 'Alchemy'],
  },
  {
    id: 'skincare',
    name: 'Skincare',
    hue: 330,
    brands: ['Dew Lab', 'Pure Botanics', 'Aurel', 'Soft Clay'],
    kinds: [
      { id: 'cleansers', noun: 'Gentle Cleanser', icon: 'bottle', price: [8, 35], next: 'serums' },
      { id: 'serums', noun: 'Face Serum', icon: 'dropper', price: [15, 80], next: 'moisturisers' },
      { id: 'moisturisers', noun: 'Moisturiser', icon: 'jar', price: [12, 60], next: 'sunscreens' },
      { id: 'sunscreens', noun: 'Sunscreen SPF 50', icon: 'tube', price: [10, 38], next: 'cleansers' },
    ],
    adjectives: ['Hydrating', 'Vitamin C', 'Niacinamide', 'Rose', 'Aloe', 'Ceramide', 'Calming', 'Oat', 'Green Tea', 'Retinol', 'Daily', 'Barrier'],
  },
  {
    id: 'outdoor',
    name: 'Outdoor',
    hue: 140,
    brands: ['Timberline', 'Wildpeak', 'Fjordsen', 'Basecamp'],
    kinds: [
      { id: 'tents', noun: 'Tent', icon: 'tent', price: [90, 520], next: 'sleeping-bags' },
      { id: 'sleeping-bags', noun: 'Sleeping Bag', icon: 'bag-roll', price: [50, 300], next: 'lanterns' },
      { id: 'backpacks', noun: 'Hiking Backpack', icon: 'backpack', price: [45, 260], next: 'tents' },
      { id: 'lanterns', noun: 'Camp Lantern', icon: 'lantern', price: [15, 70], next: 'backpacks' },
    ],
    adjectives: ['Alpine', 'Ultralight', '2-Person', '4-Season', 'Trek', 'Ranger', 'Canyon', 'Glacier', 'Pine', 'Solo', 'Family', 'Storm'],
  },
  {
    id: 'books',
    name: 'Books',
    hue: 45,
    brands: ['Harrow Press', 'Blue Door', 'Quill', 'Northwind Books'],
    kinds: [
      { id: 'novels', noun: 'Novel', icon: 'book', price: [9, 28], next: 'novels' },
      { id: 'cookbooks', noun: 'Cookbook', icon: 'book', price: [18, 45], next: 'cookbooks' },
      { id: 'travel', noun: 'Travel Guide', icon: 'map', price: [12, 32], next: 'travel' },
      { id: 'comics', noun: 'Graphic Novel', icon: 'book', price: [12, 35], next: 'comics' },
    ],
    adjectives: ['The Quiet', 'Salt &', 'Midnight', 'Lisbon', 'Kyoto', 'The Long', 'Paper', 'Winter', 'Small', 'Iceland', 'Fermented', 'Orbit'],
  },
  {
    id: 'fitness',
    name: 'Yoga & Fitness',
    hue: 175,
    brands: ['Asana', 'Corefit', 'Ironroot', 'Flowmat'],
    kinds: [
      { id: 'mats', noun: 'Yoga Mat', icon: 'mat', price: [20, 120], next: 'blocks' },
      { id: 'blocks', noun: 'Yoga Block', icon: 'block', price: [8, 30], next: 'mats' },
      { id: 'dumbbells', noun: 'Dumbbell Pair', icon: 'dumbbell', price: [20, 160], next: 'bands' },
      { id: 'bands', noun: 'Resistance Bands', icon: 'band', price: [10, 40], next: 'dumbbells' },
    ],
    adjectives: ['Cork', 'Grip', 'Travel', 'Studio', 'Hex', 'Adjustable', 'Loop', 'Balance', 'Zen', 'Power', 'Foam', 'Natural'],
  },
  {
    id: 'garden',
    name: 'Plants & Garden',
    hue: 95,
    brands: ['Greenhouse', 'Terra', 'Fern & Co', 'Rootstock'],
    kinds: [
      { id: 'houseplants', noun: 'Houseplant', icon: 'plant', price: [12, 75], next: 'planters' },
      { id: 'planters', noun: 'Ceramic Planter', icon: 'pot', price: [10, 60], next: 'houseplants' },
      { id: 'seeds', noun: 'Seed Kit', icon: 'seed', price: [5, 20], next: 'tools' },
      { id: 'tools', noun: 'Garden Tool', icon: 'trowel', price: [10, 55], next: 'seeds' },
    ],
    adjectives: ['Monstera', 'Pothos', 'Snake', 'Fiddle Leaf', 'Herb', 'Tomato', 'Terracotta', 'Glazed', 'Hanging', 'Bonsai', 'Wildflower', 'Pruning'],
  },
];

const PER_KIND = 14; // 10 departments × 4 kinds × 14 = 560 products

/** A small icon per kind, drawn in a 100×100 box, in the product's accent colour. */
const ICONS = {
  shoe: (c) =>
    `<path d="M14 62c8-2 14-10 18-22l12 4c4 8 16 12 30 14 8 1 14 6 14 12v4H14z" fill="${c}"/><rect x="14" y="70" width="74" height="8" rx="3" fill="#fff" opacity=".85"/><path d="M44 46l6 6M50 44l6 6M56 46l6 5" stroke="#fff" stroke-width="3"/>`,
  sock: (c) => `<path d="M38 14h26v40c0 8-2 12-8 18l-10 10c-6 6-16 6-20 0s-2-12 4-16l8-8z" fill="${c}"/><rect x="38" y="14" width="26" height="10" fill="#fff" opacity=".7"/>`,
  watch: (c) =>
    `<rect x="40" y="10" width="20" height="80" rx="6" fill="#334"/><circle cx="50" cy="50" r="22" fill="${c}"/><circle cx="50" cy="50" r="16" fill="#fff" opacity=".9"/><path d="M50 40v11l8 5" stroke="#334" stroke-width="3" fill="none"/>`,
  bag: (c) =>
    `<path d="M28 24h44l6 66H22z" fill="${c}"/><rect x="34" y="16" width="32" height="12" rx="2" fill="${c}" opacity=".7"/><ellipse cx="50" cy="58" rx="10" ry="14" fill="#fff" opacity=".8"/><path d="M50 45v26" stroke="${c}" stroke-width="2"/>`,
  grinder: (c) =>
    `<path d="M32 40h36l-4 48H36z" fill="${c}"/><rect x="36" y="26" width="28" height="14" rx="3" fill="#556"/><path d="M50 26V14h20" stroke="#556" stroke-width="4" fill="none"/><circle cx="72" cy="14" r="5" fill="${c}"/>`,
  kettle: (c) =>
    `<path d="M26 84c0-26 8-44 24-44s24 18 24 44z" fill="${c}"/><path d="M74 56c10-4 14-14 16-24" stroke="${c}" stroke-width="6" fill="none" stroke-linecap="round"/><path d="M36 40c0-14 28-14 28 0" stroke="#445" stroke-width="5" fill="none"/>`,
  cup: (c) =>
    `<path d="M24 40h46v22c0 14-10 24-23 24S24 76 24 62z" fill="${c}"/><path d="M70 46h6c8 0 8 16 0 16h-6" stroke="${c}" stroke-width="5" fill="none"/><path d="M38 30c-4-6 4-8 0-16M52 30c-4-6 4-8 0-16" stroke="#aab" stroke-width="3" fill="none"/>`,
  headphones: (c) =>
    `<path d="M20 60V50a30 30 0 0160 0v10" stroke="#334" stroke-width="7" fill="none"/><rect x="14" y="54" width="18" height="30" rx="7" fill="${c}"/><rect x="68" y="54" width="18" height="30" rx="7" fill="${c}"/>`,
  earbuds: (c) =>
    `<circle cx="34" cy="44" r="14" fill="${c}"/><rect x="30" y="52" width="8" height="30" rx="4" fill="${c}"/><circle cx="66" cy="44" r="14" fill="${c}"/><rect x="62" y="52" width="8" height="30" rx="4" fill="${c}"/><circle cx="34" cy="44" r="5" fill="#fff" opacity=".7"/><circle cx="66" cy="44" r="5" fill="#fff" opacity=".7"/>`,
  speaker: (c) =>
    `<rect x="28" y="12" width="44" height="76" rx="10" fill="${c}"/><circle cx="50" cy="60" r="15" fill="#fff" opacity=".85"/><circle cx="50" cy="60" r="6" fill="${c}"/><circle cx="50" cy="28" r="7" fill="#fff" opacity=".85"/>`,
  record: (c) =>
    `<rect x="12" y="22" width="76" height="60" rx="6" fill="#445"/><circle cx="46" cy="52" r="24" fill="#111"/><circle cx="46" cy="52" r="8" fill="${c}"/><path d="M78 30l-8 28" stroke="#ccd" stroke-width="4"/>`,
  pan: (c) =>
    `<ellipse cx="40" cy="56" rx="30" ry="22" fill="#334"/><ellipse cx="40" cy="54" rx="24" ry="16" fill="${c}"/><rect x="66" y="50" width="28" height="8" rx="4" fill="#334" transform="rotate(-12 66 54)"/>`,
  knife: (c) => `<path d="M16 66L70 24c6 0 8 4 6 8L30 74z" fill="#cdd3da"/><rect x="62" y="58" width="30" height="10" rx="4" fill="${c}" transform="rotate(-38 62 58)"/>`,
  board: (c) => `<rect x="18" y="22" width="58" height="62" rx="10" fill="${c}"/><circle cx="66" cy="32" r="5" fill="#fff"/><path d="M28 70h36" stroke="#fff" stroke-width="3" opacity=".6"/>`,
  spoon: (c) =>
    `<ellipse cx="36" cy="28" rx="10" ry="14" fill="${c}"/><rect x="33" y="40" width="6" height="48" rx="3" fill="${c}"/><path d="M58 14v24M66 14v24M74 14v24M58 38h16" stroke="${c}" stroke-width="4"/><rect x="63" y="38" width="6" height="50" rx="3" fill="${c}"/>`,
  dice: (c) =>
    `<rect x="18" y="28" width="44" height="44" rx="8" fill="${c}"/><rect x="46" y="18" width="38" height="38" rx="7" fill="#fff" stroke="${c}" stroke-width="3"/><circle cx="30" cy="40" r="4" fill="#fff"/><circle cx="50" cy="60" r="4" fill="#fff"/><circle cx="40" cy="50" r="4" fill="#fff"/><circle cx="58" cy="30" r="4" fill="${c}"/><circle cx="72" cy="44" r="4" fill="${c}"/>`,
  box: (c) => `<path d="M18 34l32-16 32 16v36L50 86 18 70z" fill="${c}"/><path d="M18 34l32 16 32-16M50 50v36" stroke="#fff" stroke-width="3" fill="none" opacity=".7"/>`,
  cards: (c) =>
    `<rect x="22" y="20" width="36" height="54" rx="5" fill="#fff" stroke="${c}" stroke-width="3" transform="rotate(-12 40 47)"/><rect x="42" y="24" width="36" height="54" rx="5" fill="${c}" transform="rotate(10 60 51)"/><path d="M60 44l6 8-6 8-6-8z" fill="#fff"/>`,
  puzzle: (c) => `<path d="M20 30h18a8 8 0 1116 0h18v18a8 8 0 110 16v18H54a8 8 0 10-16 0H20V64a8 8 0 100-16z" fill="${c}"/>`,
  bottle: (c) =>
    `<rect x="34" y="32" width="32" height="56" rx="8" fill="${c}"/><rect x="42" y="14" width="16" height="18" rx="2" fill="#445"/><rect x="38" y="52" width="24" height="18" rx="2" fill="#fff" opacity=".8"/>`,
  dropper: (c) =>
    `<rect x="34" y="40" width="32" height="48" rx="8" fill="${c}"/><rect x="44" y="22" width="12" height="18" fill="#445"/><ellipse cx="50" cy="18" rx="9" ry="8" fill="#445"/><rect x="40" y="56" width="20" height="14" rx="2" fill="#fff" opacity=".8"/>`,
  jar: (c) =>
    `<rect x="24" y="42" width="52" height="40" rx="10" fill="${c}"/><rect x="22" y="30" width="56" height="14" rx="5" fill="#eee" stroke="${c}" stroke-width="2"/><rect x="36" y="54" width="28" height="14" rx="2" fill="#fff" opacity=".8"/>`,
  tube: (c) =>
    `<path d="M30 20h40l-6 58H36z" fill="${c}"/><rect x="40" y="78" width="20" height="10" rx="2" fill="#445"/><path d="M30 20h40" stroke="#fff" stroke-width="4"/><circle cx="50" cy="46" r="9" fill="#fff" opacity=".8"/>`,
  tent: (c) => `<path d="M50 18L12 82h76z" fill="${c}"/><path d="M50 40L36 82h28z" fill="#fff" opacity=".75"/><path d="M50 18V12" stroke="#445" stroke-width="3"/>`,
  'bag-roll': (c) =>
    `<rect x="16" y="30" width="68" height="40" rx="20" fill="${c}"/><ellipse cx="26" cy="50" rx="10" ry="20" fill="#fff" opacity=".6"/><path d="M46 30v40M62 30v40" stroke="#445" stroke-width="3"/>`,
  backpack: (c) =>
    `<rect x="26" y="20" width="48" height="66" rx="14" fill="${c}"/><rect x="34" y="52" width="32" height="24" rx="5" fill="#fff" opacity=".5"/><path d="M40 20c0-10 20-10 20 0" stroke="#445" stroke-width="4" fill="none"/>`,
  lantern: (c) =>
    `<rect x="34" y="30" width="32" height="46" rx="6" fill="${c}"/><rect x="40" y="38" width="20" height="30" rx="4" fill="#ffe9a8"/><rect x="30" y="76" width="40" height="8" rx="3" fill="#445"/><path d="M40 30c0-14 20-14 20 0" stroke="#445" stroke-width="4" fill="none"/>`,
  book: (c) =>
    `<rect x="24" y="14" width="52" height="72" rx="4" fill="${c}"/><rect x="24" y="14" width="8" height="72" fill="#000" opacity=".2"/><rect x="38" y="28" width="30" height="6" rx="2" fill="#fff" opacity=".85"/><rect x="38" y="40" width="22" height="4" rx="2" fill="#fff" opacity=".6"/>`,
  map: (c) => `<path d="M14 24l24-8 24 8 24-8v60l-24 8-24-8-24 8z" fill="${c}"/><path d="M38 16v60M62 24v60" stroke="#fff" stroke-width="2" opacity=".6"/><circle cx="50" cy="46" r="6" fill="#fff"/>`,
  mat: (c) => `<rect x="14" y="40" width="56" height="36" rx="4" fill="${c}"/><circle cx="74" cy="58" r="18" fill="${c}"/><circle cx="74" cy="58" r="11" fill="#fff" opacity=".45"/>`,
  block: (c) => `<path d="M20 42l36-14 26 12v30L46 86 20 72z" fill="${c}"/><path d="M20 42l26 14 36-16M46 56v30" stroke="#fff" stroke-width="3" fill="none" opacity=".6"/>`,
  dumbbell: (c) =>
    `<rect x="10" y="34" width="14" height="32" rx="4" fill="${c}"/><rect x="76" y="34" width="14" height="32" rx="4" fill="${c}"/><rect x="22" y="40" width="8" height="20" rx="2" fill="${c}"/><rect x="70" y="40" width="8" height="20" rx="2" fill="${c}"/><rect x="30" y="46" width="40" height="8" rx="3" fill="#556"/>`,
  band: (c) =>
    `<ellipse cx="50" cy="50" rx="34" ry="22" fill="none" stroke="${c}" stroke-width="9"/><ellipse cx="50" cy="56" rx="26" ry="16" fill="none" stroke="${c}" stroke-width="5" opacity=".5"/>`,
  plant: (c) => `<path d="M32 62h36l-5 26H37z" fill="#c8734a"/><path d="M50 62C30 50 26 30 34 18c10 8 18 24 16 44zM50 62c18-10 26-26 20-40-12 6-20 20-20 40z" fill="${c}"/>`,
  pot: (c) => `<path d="M22 38h56l-8 48H30z" fill="${c}"/><rect x="18" y="30" width="64" height="12" rx="4" fill="${c}"/><path d="M30 58h40" stroke="#fff" stroke-width="3" opacity=".6"/>`,
  seed: (c) =>
    `<rect x="26" y="16" width="48" height="70" rx="4" fill="#f3ead7" stroke="${c}" stroke-width="3"/><circle cx="50" cy="44" r="14" fill="${c}"/><path d="M50 58v16M50 66c-6-2-10-6-10-10M50 66c6-2 10-6 10-10" stroke="${c}" stroke-width="3" fill="none"/>`,
  trowel: (c) => `<path d="M50 14c14 10 16 30 0 46-16-16-14-36 0-46z" fill="#cdd3da"/><rect x="45" y="58" width="10" height="30" rx="4" fill="${c}"/>`,
};

function hsl(h, s, l) {
  return `hsl(${Math.round(h)} ${Math.round(s)}% ${Math.round(l)}%)`;
}

/** The product's illustration: a soft tinted background, the kind's icon, a subtle brand mark. */
function productSvg(product, dept, kind, r) {
  const hue = (dept.hue + (r() - 0.5) * 40 + 360) % 360;
  const accent = hsl(hue, 55 + r() * 20, 42 + r() * 14);
  const bg1 = hsl(hue, 60, 95);
  const bg2 = hsl((hue + 30) % 360, 55, 88);
  const icon = ICONS[kind.icon](accent);
  const id = product.id.toLowerCase();
  return `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 100 100" width="400" height="400" role="img" aria-label="${escapeXml(product.title)}">
<defs><linearGradient id="g-${id}" x1="0" y1="0" x2="1" y2="1"><stop offset="0" stop-color="${bg1}"/><stop offset="1" stop-color="${bg2}"/></linearGradient></defs>
<rect width="100" height="100" fill="url(#g-${id})"/>
<circle cx="${70 + r() * 20}" cy="${10 + r() * 20}" r="${14 + r() * 10}" fill="#fff" opacity=".35"/>
<g transform="translate(12 10) scale(.76)">${icon}</g>
</svg>
`;
}

function escapeXml(text) {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** Builds the catalog: departments × kinds × PER_KIND products, ids like RUN-0007. */
export function buildCatalog(seed = 7) {
  const r = rng(seed);
  const products = [];
  const svgs = new Map();
  for (const dept of DEPARTMENTS) {
    let n = 0;
    for (const kind of dept.kinds) {
      const used = new Set();
      for (let i = 0; i < PER_KIND; i++) {
        n++;
        const id = `${dept.id.slice(0, 3).toUpperCase()}-${String(n).padStart(4, '0')}`;
        const brand = dept.brands[Math.floor(r() * dept.brands.length)];
        let adjective;
        do adjective = dept.adjectives[Math.floor(r() * dept.adjectives.length)];
        while (used.has(`${brand}|${adjective}`) && used.size < dept.brands.length * dept.adjectives.length);
        used.add(`${brand}|${adjective}`);
        const [lo, hi] = kind.price;
        const price = Math.round((lo + (hi - lo) * r() ** 1.6) * 1) - 0.01;
        const title = `${brand} ${adjective} ${kind.noun}`;
        const product = {
          id,
          title,
          category: dept.name,
          brand,
          price: Math.max(price, lo - 0.01),
          inStock: r() > 0.08,
          image: `/generated/img/${id}.svg`,
          url: `/product.html?id=${id}`,
          kind: kind.id,
          kindName: kind.noun,
          rating: Math.round((3.4 + r() * 1.6) * 10) / 10,
          description: `The ${adjective.toLowerCase()} ${kind.noun.toLowerCase()} from ${brand}. ${DESCRIPTIONS[(n + dept.hue) % DESCRIPTIONS.length]}`,
        };
        products.push(product);
        svgs.set(id, productSvg(product, dept, kind, r));
      }
    }
  }
  return { products, svgs };
}

const DESCRIPTIONS = [
  'Made to last, easy to care for, and a favourite of our regulars.',
  'Thoughtfully designed, tested by our team, and shipped in plastic-free packaging.',
  'A dependable everyday pick with a two-year warranty.',
  'Small-batch, carefully made, and great value for what you get.',
  'Light, tough and honest: the one we would buy ourselves.',
];

/**
 * Synthetic history: `shoppers` shoppers, each with a favourite department (and sometimes a second
 * one), 2–6 sessions over the last 60 days. A session picks a department, walks along a kind
 * (each view is usually a neighbour of the last), sometimes carts and buys, and after a purchase
 * drifts to the kind's complement. Popularity within a kind is skewed so "trending" means something.
 */
export function buildHistory(products, { seed = 11, shoppers = 1500, now = Date.UTC(2026, 10, 20) } = {}) {
  const r = rng(seed);
  const byKind = new Map();
  for (const p of products) {
    const key = `${p.category}|${p.kind}`;
    if (!byKind.has(key)) byKind.set(key, []);
    byKind.get(key).push(p);
  }
  const deptKinds = new Map(DEPARTMENTS.map((d) => [d.name, d.kinds]));
  // Zipf-ish pick within a kind: low indices are the popular ones.
  const popular = (list) => list[Math.min(list.length - 1, Math.floor(list.length * r() ** 2.2))];
  const rows = ['user,item,category,behavior,timestamp'];
  let events = 0;
  for (let u = 1; u <= shoppers; u++) {
    const user = `s${u}`;
    const fav = DEPARTMENTS[Math.floor(r() * DEPARTMENTS.length)];
    const second = DEPARTMENTS[Math.floor(r() * DEPARTMENTS.length)];
    const sessions = 2 + Math.floor(r() * 5);
    let t = now - Math.floor(r() * 60 * 86400) * 1000;
    for (let s = 0; s < sessions; s++) {
      const dept = r() < 0.75 ? fav : r() < 0.7 ? second : DEPARTMENTS[Math.floor(r() * DEPARTMENTS.length)];
      const kinds = deptKinds.get(dept.name);
      let kind = kinds[Math.floor(r() * kinds.length)];
      let list = byKind.get(`${dept.name}|${kind.id}`);
      let current = popular(list);
      const length = 3 + Math.floor(r() * 9);
      for (let step = 0; step < length; step++) {
        rows.push(`${user},${current.id},${dept.name},pv,${Math.floor(t / 1000)}`);
        events++;
        t += (20 + Math.floor(r() * 140)) * 1000;
        const roll = r();
        if (roll < 0.1) {
          rows.push(`${user},${current.id},${dept.name},cart,${Math.floor(t / 1000)}`);
          events++;
          t += 30_000;
          if (r() < 0.55) {
            rows.push(`${user},${current.id},${dept.name},buy,${Math.floor(t / 1000)}`);
            events++;
            t += 60_000;
            // After a purchase the shopper moves on to the complement.
            kind = kinds.find((k) => k.id === kind.next) ?? kind;
            list = byKind.get(`${dept.name}|${kind.id}`);
            current = popular(list);
            continue;
          }
        }
        // Walk along the kind: a neighbour of the current item (sequential pattern), or a popular one.
        const index = list.indexOf(current);
        current = r() < 0.6 ? list[(index + 1 + Math.floor(r() * 2)) % list.length] : popular(list);
        if (r() < 0.08) {
          kind = kinds[Math.floor(r() * kinds.length)];
          list = byKind.get(`${dept.name}|${kind.id}`);
          current = popular(list);
        }
      }
      t += (6 + Math.floor(r() * 96)) * 3600 * 1000; // next session hours or days later
    }
  }
  return { csv: `${rows.join('\n')}\n`, events };
}

/** Writes catalog.json, img/*.svg and history.csv under `out`. */
export function generateShop({ out = 'demo/generated', seed = 7, shoppers = 1500 } = {}) {
  const dir = resolve(out);
  rmSync(join(dir, 'img'), { recursive: true, force: true });
  mkdirSync(join(dir, 'img'), { recursive: true });
  const { products, svgs } = buildCatalog(seed);
  for (const [id, svg] of svgs) writeFileSync(join(dir, 'img', `${id}.svg`), svg);
  writeFileSync(join(dir, 'catalog.json'), `${JSON.stringify(products, null, 1)}\n`);
  const { csv, events } = buildHistory(products, { seed: seed + 4, shoppers });
  writeFileSync(join(dir, 'history.csv'), csv);
  const meta = { generatorVersion: GENERATOR_VERSION, seed, shoppers, products: products.length, events };
  writeFileSync(join(dir, 'shop-meta.json'), `${JSON.stringify(meta, null, 1)}\n`);
  return { dir, ...meta };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values } = parseArgs({ options: { out: { type: 'string' }, seed: { type: 'string' }, shoppers: { type: 'string' } } });
  const result = generateShop({
    out: values.out ?? 'demo/generated',
    seed: values.seed ? Number(values.seed) : 7,
    shoppers: values.shoppers ? Number(values.shoppers) : 1500,
  });
  console.log(`generate-shop: ${result.products} products, ${result.events} history events from ${result.shoppers} shoppers → ${result.dir}`);
}
