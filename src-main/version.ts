import pkg from '../package.json';

export const PRODUCT = 'Sluice';
export const VERSION: string = pkg.version;
/** The User-Agent of every delivery: `<product>/<version>` (SPEC §3). */
export const USER_AGENT = `${PRODUCT}/${VERSION}`;
