import pkg from '../package.json';

export const PRODUCT = 'Sluice';
export const VERSION: string = pkg.version;
/** The User-Agent of every delivery: `<product>/<version>` (docs/design.md#headers). */
export const USER_AGENT = `${PRODUCT}/${VERSION}`;
