/**
 * Chat: a short human line for a phone's notification. Slack incoming webhooks take
 * `{"text": …}` (mrkdwn); Microsoft Teams workflows ("When a Teams webhook request is
 * received") take a message whose attachment is an Adaptive Card. The line names what
 * happened, where and from whom, and the event id for finding it in the SIEM.
 */
import { canonicalJson, type JsonObject } from '../json';
import { payloadField, sourceIp } from './elasticsearch';
import type { FormatEvent, RenderedRequest } from './types';

export type ChatStyle = 'slack' | 'teams';

export interface ChatOptions {
  style: ChatStyle;
}

const TEXT_MAX = 400;

export function chatLine(event: FormatEvent): string {
  const ip = sourceIp(event.payload);
  const decky = payloadField(event.payload, 'decky');
  const token = payloadField(event.payload, 'token');
  const lead = event.topic.startsWith('canary.') ? 'Canary hit' : event.topic.startsWith('attacker.') ? 'Attacker' : 'DECNET';
  const parts = [
    `${lead}: ${event.topic}`,
    typeof ip === 'string' ? `from ${ip}` : null,
    typeof decky === 'string' ? `on ${decky}` : null,
    typeof token === 'string' ? `token ${token}` : null,
  ].filter(Boolean);
  const line = `${parts.join(' ')} (${event.type}, ${event.ts}, id ${event.id})`;
  return line.length > TEXT_MAX ? `${line.slice(0, TEXT_MAX - 1)}…` : line;
}

export function renderChat(event: FormatEvent, options: ChatOptions): RenderedRequest {
  const text = chatLine(event);
  const message: JsonObject =
    options.style === 'teams'
      ? {
          type: 'message',
          attachments: [
            {
              contentType: 'application/vnd.microsoft.card.adaptive',
              content: {
                $schema: 'http://adaptivecards.io/schemas/adaptive-card.json',
                type: 'AdaptiveCard',
                version: '1.4',
                body: [{ type: 'TextBlock', text, wrap: true }],
              },
            },
          ],
        }
      : { text };
  return { body: Buffer.from(canonicalJson(message), 'utf8'), contentType: 'application/json', path: '' };
}
