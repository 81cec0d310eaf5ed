/**
 * The benchmark's receiver, in a process of its own as a real SIEM would be: answers 200
 * at once, or after `--delay-ms=N` (a slow SIEM), or 503 while "down", and notes the
 * wall-clock arrival of latency probes. Driven over the fork IPC channel by
 * test/bench/lean-receiver.ts.
 */
import { createServer } from 'node:http';
import { performance } from 'node:perf_hooks';

const delayArg = process.argv.find((a) => a.startsWith('--delay-ms='));
const delayMs = delayArg ? Number(delayArg.slice('--delay-ms='.length)) : 0;
let count = 0;
let up = true;
/** Arrival times (epoch ms, sub-ms precision) of ids starting with `lat-`. */
let arrivals = [];
/** Pending `waitFor` requests: resolved as soon as `count` reaches theirs. */
const waiters = new Map();

const server = createServer((req, res) => {
  req.resume();
  req.on('end', () => {
    if (!up) {
      res.writeHead(503, { 'content-length': '0' }).end();
      return;
    }
    const id = req.headers['x-decnet-event-id'];
    if (typeof id === 'string' && id.startsWith('lat-')) arrivals.push([id, performance.timeOrigin + performance.now()]);
    if (delayMs > 0) setTimeout(() => answer(res), delayMs);
    else answer(res);
  });
});
server.keepAliveTimeout = 60_000;

/** 200, counted once answered. */
function answer(res) {
  count++;
  res.writeHead(200, { 'content-length': '2' }).end('ok');
  for (const [token, target] of waiters) {
    if (count >= target) {
      waiters.delete(token);
      process.send({ token, count });
    }
  }
}

process.on('message', (message) => {
  switch (message.cmd) {
    case 'up':
      up = message.value;
      process.send({ token: message.token, count });
      break;
    case 'count':
      process.send({ token: message.token, count });
      break;
    case 'waitFor':
      if (count >= message.count) process.send({ token: message.token, count });
      else waiters.set(message.token, message.count);
      break;
    case 'arrivals':
      process.send({ token: message.token, count, arrivals });
      arrivals = [];
      break;
  }
});
process.on('disconnect', () => process.exit(0));

server.listen(0, '127.0.0.1', () => process.send({ port: server.address().port }));
