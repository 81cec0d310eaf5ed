/**
 * The delivery log's search and export (docs/design.md#finding-and-exporting-deliveries): while a search
 * is active its results stand in for the live log, until the analyst goes back to it, and
 * follow it: deliveries made or changed meanwhile ask the search again (at most every
 * LIVE_SEARCH_MS), so an attacker's IP searched during an incident shows its new events.
 * The export takes the active search's filters: in a browser it is a download from the
 * web host (`GET /export`, with the page's token); in the desktop app the main process
 * asks where to save it and writes the file (`deliveries.export`).
 */
import type { SluiceApi } from '@contract/bridge';
import type { DeliveryView } from '@contract/views';
import { tokenFromHash } from './bridge';
import { EMPTY_FORM, SEARCH_LIMIT, exportHref, formField, parseSearch, type ExportFormat, type SearchFilter, type SearchForm } from './delivery-search';

/** How often an active search is asked again while deliveries arrive: one indexed query. */
export const LIVE_SEARCH_MS = 2000;

export class DeliverySearchState {
  form = $state<SearchForm>({ ...EMPTY_FORM });
  /** The search whose results the log shows; null: the live log. */
  active = $state.raw<SearchFilter | null>(null);
  results = $state.raw<DeliveryView[]>([]);
  searching = $state(false);
  /** What is wrong with the form or the search, and the field it is about. */
  error = $state<{ field: keyof SearchForm | null; message: string } | null>(null);
  /** Said after an export: where the file went, or why there is none. */
  exportNote = $state<string | null>(null);
  exporting = $state(false);

  private again: ReturnType<typeof setTimeout> | null = null;

  constructor(private readonly api: SluiceApi) {}

  async search(): Promise<void> {
    const parsed = parseSearch(this.form);
    if (!parsed.ok) {
      this.error = { field: parsed.field, message: parsed.message };
      return;
    }
    this.searching = true;
    const r = await this.api['deliveries.search']({ ...parsed.filter, limit: SEARCH_LIMIT });
    this.searching = false;
    if (!r.ok) {
      this.error = { field: formField(r.error.field), message: r.error.message };
      return;
    }
    this.error = null;
    this.exportNote = null;
    this.active = parsed.filter;
    this.results = r.value;
  }

  /** Deliveries were made or changed: an active search is asked again soon (the form as it was searched, not as edited since). */
  deliveriesChanged(): void {
    if (this.active === null || this.again !== null) return;
    this.again = setTimeout(() => {
      this.again = null;
      void this.askAgain();
    }, LIVE_SEARCH_MS);
  }

  private async askAgain(): Promise<void> {
    const filter = this.active;
    if (filter === null || this.searching) return;
    const r = await this.api['deliveries.search']({ ...filter, limit: SEARCH_LIMIT });
    // A new search, or back to the live log, meanwhile: that one has the last word. A failure keeps what is shown.
    if (this.active !== filter || this.searching || !r.ok) return;
    this.results = r.value;
  }

  /** Back to the live log; the form keeps what was typed. */
  clear(): void {
    if (this.again !== null) clearTimeout(this.again);
    this.again = null;
    this.active = null;
    this.results = [];
    this.error = null;
    this.exportNote = null;
  }

  async export(format: ExportFormat): Promise<void> {
    const filter = this.active;
    if (!filter) return;
    this.exportNote = null;
    if (!('sluice' in window)) {
      // The browser: a download the host streams; the page's token authorises it, as for /rpc.
      const link = document.createElement('a');
      link.href = exportHref(tokenFromHash(window.location.hash) ?? '', filter, format);
      link.download = '';
      document.body.append(link);
      link.click();
      link.remove();
      return;
    }
    this.exporting = true;
    const r = await this.api['deliveries.export']({ ...filter, format });
    this.exporting = false;
    if (!r.ok) this.exportNote = `Export failed: ${r.error.message}`;
    else if (r.value) this.exportNote = `Exported ${r.value.count.toLocaleString('en-US')} ${r.value.count === 1 ? 'delivery' : 'deliveries'} to ${r.value.file}`;
  }
}
