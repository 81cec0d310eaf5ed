/**
 * The Audit view's state: the trail as `audit.list` answers it, newest first, a page at a
 * time (Load older asks for the records before the oldest shown), narrowed by a since
 * time, and what the last Verify chain found. Read when the view opens and on Refresh,
 * and followed while it is shown: what is written meanwhile (here, by the CLI, by another
 * console) appears on top within AUDIT_POLL_MS. Reading the trail changes nothing in it.
 */
import type { SluiceApi } from '@contract/bridge';
import type { AuditRecordView, AuditVerification } from '@contract/views';
import { AUDIT_VIEW_PAGE, mayHaveOlder, oldestSeq, withNewer, withOlder } from './audit-view';
import { pollWhileVisible } from './poll';

/** How often the shown view asks for records written since: one indexed read of a page. */
export const AUDIT_POLL_MS = 3000;

export class AuditState {
  records = $state.raw<AuditRecordView[]>([]);
  /** The first page has been read (until then the view says it is loading, not that the trail is empty). */
  loaded = $state(false);
  loading = $state(false);
  /** More records may be older than the oldest shown. */
  more = $state(false);
  /** Why the last read failed; what was shown stays. */
  error = $state<string | null>(null);
  /** The since filter as sent (ISO-8601 UTC); null: the whole trail. */
  since = $state<string | null>(null);
  verification = $state.raw<AuditVerification | null>(null);
  verifying = $state(false);
  verifyError = $state<string | null>(null);
  /** When the records were read: relative times are counted from here. */
  readAt = $state(Date.now());

  /** Answers to older asks that arrive late are dropped (a filter changed meanwhile). */
  private asked = 0;

  constructor(
    private readonly api: SluiceApi,
    private readonly page = AUDIT_VIEW_PAGE,
  ) {}

  /** The newest page again (on opening, Refresh, or a new since). */
  async load(since: string | null = this.since): Promise<void> {
    const ask = ++this.asked;
    this.since = since;
    this.loading = true;
    const r = await this.api['audit.list']({ limit: this.page, ...(since === null ? {} : { since }) });
    if (ask !== this.asked) return;
    this.loading = false;
    this.readAt = Date.now();
    if (!r.ok) {
      this.error = r.error.message;
      return;
    }
    this.error = null;
    this.records = r.value;
    this.more = mayHaveOlder(r.value, this.page);
    this.loaded = true;
  }

  /** The page before the oldest record shown, added below it. */
  async loadOlder(): Promise<void> {
    const before = oldestSeq(this.records);
    if (before === null || this.loading) return;
    const ask = ++this.asked;
    this.loading = true;
    const r = await this.api['audit.list']({ limit: this.page, before, ...(this.since === null ? {} : { since: this.since }) });
    if (ask !== this.asked) return;
    this.loading = false;
    if (!r.ok) {
      this.error = r.error.message;
      return;
    }
    this.error = null;
    this.records = withOlder(this.records, r.value);
    this.more = mayHaveOlder(r.value, this.page);
  }

  /** Follows the trail until the returned function is called (while the view is shown). */
  follow(): () => void {
    return pollWhileVisible(() => this.catchUp(), AUDIT_POLL_MS);
  }

  /**
   * The records written since the newest shown, added on top. Skipped while another read
   * is under way or before the first; its answer is dropped when one began meanwhile (a
   * new since, Load older, Refresh), which then has the last word.
   */
  async catchUp(): Promise<void> {
    if (!this.loaded || this.loading) return;
    const ask = this.asked;
    const r = await this.api['audit.list']({ limit: this.page, ...(this.since === null ? {} : { since: this.since }) });
    if (ask !== this.asked || this.loading || !r.ok) return;
    const records = withNewer(this.records, r.value, this.page);
    if (records === this.records) return;
    if (records === r.value) this.more = mayHaveOlder(r.value, this.page);
    this.records = records as AuditRecordView[];
    this.readAt = Date.now();
  }

  async verify(): Promise<void> {
    this.verifying = true;
    const r = await this.api['audit.verify']();
    this.verifying = false;
    if (r.ok) {
      this.verification = r.value;
      this.verifyError = null;
    } else {
      this.verifyError = r.error.message;
    }
  }
}
