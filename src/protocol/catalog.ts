/** The shop's catalog as every part of Hearth sees it (the page validates it, the store keeps it, the worker ranks it). */

/** One product of the shop's catalog, as `setCatalog()` or the JSON feed gives it. */
export interface CatalogItem {
  id: string;
  title: string;
  category?: string;
  brand?: string;
  price?: number;
  inStock: boolean;
  image?: string;
  url?: string;
}
