/**
 * Loads a scenario script: a module whose default export is `async (h: Harness) => void`. `.js`
 * and `.mjs` files load as they are; `.ts` files need the `tsx` loader, which is registered on
 * demand when it is installed (it is a development dependency), so the compiled `aether chaos`
 * runs TypeScript scenarios in a checkout and compiled ones anywhere.
 */
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { InvalidValueError } from '../domain/errors.js';
import type { Scenario } from './harness.js';

let tsxRegistered = false;

async function registerTsx(): Promise<boolean> {
  if (tsxRegistered) return true;
  // A variable specifier: tsx is optional at run time and must not be resolved at build time.
  const spec = 'tsx/esm/api';
  try {
    const api = (await import(spec)) as { register: () => unknown };
    api.register();
    tsxRegistered = true;
    return true;
  } catch {
    return false;
  }
}

/** Imports the scenario at `file` and returns its default export. */
export async function loadScenario(file: string): Promise<Scenario> {
  const url = pathToFileURL(resolve(file)).href;
  const isTs = /\.(c|m)?ts$/.test(file);
  let mod: { default?: unknown };
  try {
    mod = (await import(url)) as { default?: unknown };
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (!isTs || code !== 'ERR_UNKNOWN_FILE_EXTENSION') throw err;
    if (!(await registerTsx())) {
      throw new InvalidValueError(
        `${file} is TypeScript: install tsx (a development dependency) or compile the scenario to .js`,
      );
    }
    // A fresh URL: the loader remembers the failed attempt of the plain one.
    mod = (await import(`${url}?tsx`)) as { default?: unknown };
  }
  if (typeof mod.default !== 'function') {
    throw new InvalidValueError(`${file} must export a default async function (h: Harness) => void`);
  }
  return mod.default as Scenario;
}
