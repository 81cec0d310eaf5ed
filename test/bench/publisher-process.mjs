/**
 * The benchmark's publisher, in a process of its own as DECNET's components are: events
 * published on the bus by something other than the engine, so the engine's process runs
 * only the engine. Driven over the fork IPC channel by test/bench/publisher.ts.
 */
import { performance } from 'node:perf_hooks';
import { wsconnect } from '@nats-io/nats-core';
import { WebSocket } from 'ws';

// Node 20 has no global WebSocket; nats-core's wsconnect needs one.
globalThis.WebSocket ??= WebSocket;

const encoder = new TextEncoder();
const envelope = (id) =>
  encoder.encode(JSON.stringify({ v: 1, id, type: 'first_sighting', ts: Date.now() / 1000, payload: { ip: '203.0.113.7', port: 22, decky: 'web-01', score: 0.87 } }));
const wallClock = () => performance.timeOrigin + performance.now();
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

const nc = await wsconnect({ servers: process.argv[2], name: 'sluice-bench-publisher', waitOnFirstConnect: true });

/** As fast as the bus takes them, flushing every 1,000. */
async function flood({ subject, total, prefix }) {
  for (let i = 0; i < total; i++) {
    nc.publish(subject, envelope(`${prefix}-${i}`));
    if (i % 1000 === 999) await nc.flush();
  }
  await nc.flush();
  return {};
}

/** A steady rate in 5 ms ticks; returns when each id was published (wall clock). */
async function steady({ subject, rate, total, prefix }) {
  const sent = [];
  const perTick = Math.max(1, Math.round(rate / 200));
  const t0 = performance.now();
  for (let i = 0; i < total; ) {
    const wait = t0 + (i / rate) * 1000 - performance.now();
    if (wait > 0) await sleep(wait);
    for (let k = 0; k < perTick && i < total; k++, i++) {
      const id = `${prefix}-${i}`;
      sent.push([id, wallClock()]);
      nc.publish(subject, envelope(id));
    }
  }
  await nc.flush();
  return { sent, seconds: (performance.now() - t0) / 1000 };
}

process.on('message', async (message) => {
  try {
    const reply = message.cmd === 'flood' ? await flood(message) : await steady(message);
    process.send({ token: message.token, ...reply });
  } catch (error) {
    process.send({ token: message.token, error: String(error) });
  }
});
process.on('disconnect', () => void nc.close().finally(() => process.exit(0)));
process.send({ ready: true });
