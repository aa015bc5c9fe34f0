/**
 * Experiments declared in the page's markup, for shops that add Hearth with a script tag and write
 * no JavaScript:
 *
 * ```html
 * <div data-hearth-experiment="home-recs" data-hearth-metrics="add_to_cart,purchase">
 *   <section data-hearth-variant="model" hidden>…</section>
 *   <section data-hearth-variant="bestsellers" hidden>…</section>
 * </div>
 * ```
 *
 * The variants are the children's `data-hearth-variant` values in document order (the first is the
 * control), or `data-hearth-variants="a,b"`; `data-hearth-weights="1,3"` weighs them. Hearth shows
 * the assigned variant's element (removes `hidden`), hides the others, sets
 * `data-hearth-assigned` on the container, and records the exposure when the shown variant is at
 * least half visible, or fills half the screen (at once where IntersectionObserver is missing). Containers added later are
 * handled too. Bad markup is skipped with one debug warning: it never breaks the page.
 */
import type { ExperimentAssignment } from '../protocol/experiments.js';
import type { Logger } from '../shared/logger.js';

export const EXPERIMENT_ATTRIBUTE = 'data-hearth-experiment';
const DONE = 'hearthAssigned';

function listAttribute(value: string | undefined): string[] | undefined {
  return value === undefined ? undefined : value.split(',').map((v) => v.trim());
}

/** The options a container declares (checked by `experiment()` itself). */
export function optionsOfMarkup(element: HTMLElement): { name: string; options: Record<string, unknown> } {
  const data = element.dataset;
  const variantElements = Array.from(element.querySelectorAll<HTMLElement>('[data-hearth-variant]'));
  const variants = listAttribute(data.hearthVariants) ?? variantElements.map((e) => e.dataset.hearthVariant ?? '');
  const options: Record<string, unknown> = { variants };
  const weights = listAttribute(data.hearthWeights);
  if (weights) options.weights = weights.map(Number);
  const metrics = listAttribute(data.hearthMetrics);
  if (metrics) options.metrics = metrics;
  return { name: data.hearthExperiment ?? '', options };
}

/**
 * Applies every experiment container under `root` now and as they are added; returns the stop
 * function.
 *
 * @example
 * ```ts
 * const stop = applyExperimentMarkup(document, (name, options) => hearth.experiment(name, options), logger);
 * ```
 */
export function applyExperimentMarkup(root: Document, experiment: (name: string, options: Record<string, unknown>) => Promise<ExperimentAssignment>, logger: Logger): () => void {
  const win = root.defaultView;
  const Observer = win?.IntersectionObserver;
  const exposures = new Map<Element, () => Promise<void>>();
  const visibility = Observer
    ? new Observer(
        (entries) => {
          for (const entry of entries) {
            // Half of it on screen, or half of the screen for a variant taller than twice the screen.
            const half = entry.intersectionRatio >= 0.5 || (entry.rootBounds !== null && entry.intersectionRect.height >= entry.rootBounds.height / 2);
            if (!entry.isIntersecting || !half) continue;
            visibility?.unobserve(entry.target);
            exposures
              .get(entry.target)?.()
              .catch(() => undefined);
            exposures.delete(entry.target);
          }
        },
        { threshold: Array.from({ length: 21 }, (_, i) => i / 20) },
      )
    : undefined;

  const apply = (container: HTMLElement): void => {
    if (container.dataset[DONE] !== undefined) return;
    container.dataset[DONE] = '';
    let name = '';
    try {
      const declared = optionsOfMarkup(container);
      name = declared.name;
      experiment(declared.name, declared.options).then(
        (assignment) => {
          container.dataset[DONE] = assignment.variant;
          let shown: HTMLElement | undefined;
          for (const element of Array.from(container.querySelectorAll<HTMLElement>('[data-hearth-variant]'))) {
            const match = element.dataset.hearthVariant === assignment.variant;
            element.hidden = !match;
            if (match) shown ??= element;
          }
          const target = shown ?? container;
          if (!assignment.enrolled) return;
          if (visibility) {
            exposures.set(target, assignment.exposed);
            visibility.observe(target);
          } else {
            assignment.exposed().catch(() => undefined);
          }
        },
        (error: unknown) => logger.warnOnce(`markup-${name}`, `The experiment markup "${name.slice(0, 64)}" was skipped.`, error),
      );
    } catch (error) {
      logger.warnOnce(`markup-${name}`, `The experiment markup "${name.slice(0, 64)}" was skipped.`, error);
    }
  };
  const scan = (node: ParentNode): void => {
    if ('hasAttribute' in node && (node as Element).hasAttribute(EXPERIMENT_ATTRIBUTE)) apply(node as HTMLElement);
    for (const element of Array.from(node.querySelectorAll<HTMLElement>(`[${EXPERIMENT_ATTRIBUTE}]`))) apply(element);
  };
  scan(root);
  const MutationObserverCtor = win?.MutationObserver;
  const added = MutationObserverCtor
    ? new MutationObserverCtor((records) => {
        for (const record of records) for (const node of Array.from(record.addedNodes)) if (node.nodeType === 1) scan(node as Element);
      })
    : undefined;
  if (root.body) added?.observe(root.body, { childList: true, subtree: true });
  return () => {
    added?.disconnect();
    visibility?.disconnect();
    exposures.clear();
  };
}
