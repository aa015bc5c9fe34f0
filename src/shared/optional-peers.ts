/**
 * The Node CLIs (`hearth-server`, `hearth-train`) need packages that a browser app never installs,
 * so they are optional peer dependencies. Each CLI's executable checks them before it loads: a
 * missing one then reads as what to install, not as Node's bare "Cannot find package".
 */

/**
 * The packages of `names` that `resolve` cannot find (it throws `ERR_MODULE_NOT_FOUND`, as
 * `import.meta.resolve` does). Other failures are not "missing": loading reports them itself.
 *
 * @example
 * ```ts
 * const missing = missingPackages(['fastify', 'typebox'], (name) => import.meta.resolve(name));
 * ```
 */
export function missingPackages(names: readonly string[], resolve: (name: string) => unknown): string[] {
  return names.filter((name) => {
    try {
      resolve(name);
      return false;
    } catch (error) {
      return (error as { code?: unknown } | null)?.code === 'ERR_MODULE_NOT_FOUND';
    }
  });
}

/** What to tell the user when `command` lacks `missing` (one line each, ending in a newline). */
export function installHint(command: string, missing: readonly string[]): string {
  return `${command} needs ${missing.length === 1 ? 'a package' : 'packages'} that a browser app does not install (optional peer dependencies of hearth): ${missing.join(', ')}.\nInstall ${missing.length === 1 ? 'it' : 'them'} next to hearth:\n  npm install ${missing.join(' ')}\n`;
}
