/**
 * The team this Sluice is a member of, as `team.status` last said (null alone). Asked once
 * when the console connects and whenever the bus or JetStream binding changes (a join or
 * a leave reconnects the bus), so the console knows whether to offer the Team view; asked
 * every {@link TEAM_POLL_MS} only while that view is shown and the page is visible (the
 * engine reads the bus for it at most once a second).
 */
import type { SluiceApi } from '@contract/bridge';
import type { TeamStatusView } from '@contract/views';
import { pollWhileVisible } from './poll';

export const TEAM_POLL_MS = 2000;

export class TeamState {
  view = $state.raw<TeamStatusView | null>(null);
  /** Why the last ask failed (the engine out of reach); the last view stays shown. */
  error = $state<string | null>(null);
  /** When the view was last read: relative times ("4s ago") are counted from here. */
  readAt = $state(Date.now());

  /** Answers to older asks that arrive late are dropped. */
  private asked = 0;

  constructor(private readonly api: SluiceApi) {}

  async refresh(): Promise<void> {
    const ask = ++this.asked;
    const r = await this.api['team.status']();
    if (ask !== this.asked) return;
    this.readAt = Date.now();
    if (r.ok) {
      this.view = r.value;
      this.error = null;
    } else {
      this.error = r.error.message;
    }
  }

  /** Polls until the returned function is called; paused while the page is hidden, asked at once when it shows again. */
  poll(): () => void {
    return pollWhileVisible(() => this.refresh(), TEAM_POLL_MS);
  }
}
