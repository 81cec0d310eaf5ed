/**
 * A DECNET-like event stream for `npm run demo`: what a small deception network puts on
 * its bus (docs/design.md#events-in). Pure and deterministic: the same seed and start
 * time give the same events, subjects, ids and timestamps, so a run can be replayed and
 * tested.
 *
 * Shape of the traffic: a quiet baseline (a few events a second, as a Poisson process)
 * of internet background noise — scanners touching decoys, traffic samples, worker health
 * and logs, the odd canary or phishing mail — and now and then an attack wave: one
 * attacker sweeps the decoys, opens sessions, guesses passwords, trips canaries, and
 * the scorer and enricher react. A wave runs at tens of events a second for 6–15 s.
 */
import { Rng } from './random';

/** A DECNET envelope as published on the bus (`ts`: epoch seconds, or ISO-8601 from some workers). */
interface DemoEnvelope {
  v: 1;
  id: string;
  type: string;
  ts: number | string;
  payload: Record<string, unknown>;
}

export interface DemoEvent {
  /** Milliseconds since the start of the run. */
  atMs: number;
  /** The NATS subject: the event's topic. */
  subject: string;
  envelope: DemoEnvelope;
  /** Set on the first event of an attack wave: one line for the operator. */
  note?: string;
}

interface GeneratorOptions {
  seed: number;
  /** Wall-clock time (epoch ms) of the start: an event's `ts` is startMs + atMs. */
  startMs: number;
  /** Mean events per second outside attack waves. */
  baselinePerSecond?: number;
  /** Mean quiet time between attack waves. */
  waveGapMs?: number;
  /** When the first wave starts (default: 10–20 s in, so the demo shows one early). */
  firstWaveMs?: number;
}

const DEFAULT_BASELINE_PER_SECOND = 2.5;
const DEFAULT_WAVE_GAP_MS = 60_000;

interface Decky {
  id: string;
  service: string;
  port: number;
  address: string;
  persona: string;
  techniques: readonly Technique[];
}

interface Technique {
  id: string;
  name: string;
  tactic: string;
}

interface Canary {
  token: string;
  kind: string;
  decky: string;
  bait: string;
}

interface Actor {
  ip: string;
  asn: string;
  org: string;
  country: string;
  tool: Tool;
  score: number;
}

interface Tool {
  name: string;
  userAgent: string;
}

const T = (id: string, name: string, tactic: string): Technique => ({ id, name, tactic });

/** The decoys ("deckies") of the demo network. */
export const DECKIES: readonly Decky[] = [
  { id: 'web-01', service: 'http', port: 80, address: '10.42.0.11', persona: 'nginx 1.18 / WordPress 6.2', techniques: [T('T1190', 'Exploit Public-Facing Application', 'initial-access'), T('T1595.002', 'Vulnerability Scanning', 'reconnaissance')] },
  { id: 'ssh-02', service: 'ssh', port: 22, address: '10.42.0.12', persona: 'OpenSSH 8.2p1 Ubuntu-4ubuntu0.5', techniques: [T('T1110.001', 'Password Guessing', 'credential-access'), T('T1059.004', 'Unix Shell', 'execution')] },
  { id: 'smb-03', service: 'smb', port: 445, address: '10.42.0.13', persona: 'Windows Server 2016 file share', techniques: [T('T1021.002', 'SMB/Windows Admin Shares', 'lateral-movement'), T('T1135', 'Network Share Discovery', 'discovery')] },
  { id: 'rdp-04', service: 'rdp', port: 3389, address: '10.42.0.14', persona: 'Windows 10 22H2 workstation', techniques: [T('T1110.003', 'Password Spraying', 'credential-access'), T('T1021.001', 'Remote Desktop Protocol', 'lateral-movement')] },
  { id: 'db-05', service: 'mysql', port: 3306, address: '10.42.0.15', persona: 'MySQL 5.7.42', techniques: [T('T1110.001', 'Password Guessing', 'credential-access'), T('T1005', 'Data from Local System', 'collection')] },
  { id: 'mail-06', service: 'smtp', port: 25, address: '10.42.0.16', persona: 'Postfix 3.5 mail relay', techniques: [T('T1078', 'Valid Accounts', 'initial-access')] },
  { id: 'ics-07', service: 'modbus', port: 502, address: '10.42.0.17', persona: 'Schneider Modicon M221 PLC', techniques: [T('T0888', 'Remote System Information Discovery', 'discovery')] },
  { id: 'vpn-08', service: 'https', port: 443, address: '10.42.0.18', persona: 'FortiGate SSL-VPN portal', techniques: [T('T1133', 'External Remote Services', 'initial-access'), T('T1110.004', 'Credential Stuffing', 'credential-access')] },
];

/** Canary tokens placed on the decoys. */
export const CANARIES: readonly Canary[] = [
  { token: 'aws-key-3', kind: 'aws_access_key', decky: 'web-01', bait: '/var/www/html/.aws/credentials' },
  { token: 'ssh-key-5', kind: 'ssh_private_key', decky: 'ssh-02', bait: '/home/deploy/.ssh/id_ed25519' },
  { token: 'vpn-creds-7', kind: 'spreadsheet', decky: 'smb-03', bait: '\\\\FS01\\IT\\vpn-accounts.xlsx' },
  { token: 'payroll-doc-1', kind: 'word_document', decky: 'rdp-04', bait: 'C:\\Users\\hr.admin\\Desktop\\Payroll Q3.docx' },
  { token: 'db-dump-2', kind: 'sql_dump', decky: 'db-05', bait: '/var/backups/customers_2026-10.sql.gz' },
  { token: 'dns-beacon-9', kind: 'dns_hostname', decky: 'mail-06', bait: 'k8s-admin.corp-intra.example' },
];

const TOOLS: readonly Tool[] = [
  { name: 'nmap', userAgent: 'Mozilla/5.0 (compatible; Nmap Scripting Engine; https://nmap.org/book/nse.html)' },
  { name: 'masscan', userAgent: 'masscan/1.3 (https://github.com/robertdavidgraham/masscan)' },
  { name: 'hydra', userAgent: 'Mozilla/4.0 (Hydra)' },
  { name: 'zgrab', userAgent: 'Mozilla/5.0 zgrab/0.x' },
  { name: 'python-requests', userAgent: 'python-requests/2.31.0' },
  { name: 'libssh', userAgent: 'SSH-2.0-libssh_0.9.6' },
  { name: 'impacket', userAgent: 'impacket/0.11.0' },
  { name: 'go-http', userAgent: 'Go-http-client/1.1' },
];

const COUNTRIES = ['NL', 'US', 'RU', 'CN', 'BR', 'DE', 'VN', 'IR', 'RO', 'IN', 'KR', 'UA'] as const;
/** AS numbers reserved for documentation (RFC 5398), with made-up hosting names. */
const ORGS = ['BulletHost LLC', 'CheapVPS B.V.', 'Nordic Cloud Oy', 'DataCamp Ltd', 'Residential ISP', 'Tor exit relay'] as const;
const USERNAMES = ['root', 'admin', 'ubuntu', 'test', 'oracle', 'postgres', 'deploy', 'git', 'user', 'administrator', 'sa', 'pi'] as const;
const PASSWORDS = ['123456', 'admin', 'password', 'root', 'P@ssw0rd', 'qwerty', 'changeme', 'Welcome1', 'toor', '1q2w3e4r'] as const;
const WORKERS = ['intake', 'scorer', 'enricher', 'correlator', 'webhook'] as const;
const SCANNER_COUNT = 40;

/** What the quiet baseline is made of, with relative weights. */
const BASELINE_MIX = [
  ['scan', 34],
  ['traffic', 16],
  ['log', 15],
  ['health', 10],
  ['scored', 8],
  ['fingerprinted', 5],
  ['state', 4],
  ['email', 3],
  ['canary', 2],
  ['identity', 2],
  ['credential', 1],
] as const;
type BaselineKind = (typeof BASELINE_MIX)[number][0];

export class DemoGenerator {
  private readonly rng: Rng;
  private readonly startMs: number;
  private readonly baselineGapMs: number;
  private readonly waveGapMs: number;
  /** Scripted events (waves, state follow-ups), ordered by time. */
  private readonly queue: DemoEvent[] = [];
  private nextBaselineMs: number;
  private nextWaveMs: number;
  private readonly scanners: Actor[];
  private readonly deckyState = new Map<string, string>(DECKIES.map((d) => [d.id, 'up']));
  /** A decky in a scripted sequence is left alone by the baseline until then. */
  private readonly busyUntil = new Map<string, number>();
  private readonly uptimeBase: number;
  private waves = 0;
  private readonly campaigns: string[] = [];

  constructor(options: GeneratorOptions) {
    this.rng = new Rng(options.seed);
    this.startMs = options.startMs;
    this.baselineGapMs = 1000 / (options.baselinePerSecond ?? DEFAULT_BASELINE_PER_SECOND);
    this.waveGapMs = options.waveGapMs ?? DEFAULT_WAVE_GAP_MS;
    this.scanners = Array.from({ length: SCANNER_COUNT }, () => this.newActor(this.rng.between(0.05, 0.35)));
    this.uptimeBase = this.rng.int(3_600, 40 * 86_400);
    this.nextBaselineMs = this.rng.exponential(this.baselineGapMs);
    this.nextWaveMs = options.firstWaveMs ?? this.rng.between(10_000, 20_000);
  }

  /** The next event, in time order; the stream never ends. */
  next(): DemoEvent {
    for (;;) {
      const scripted = this.queue[0];
      if (scripted && scripted.atMs <= this.nextBaselineMs && scripted.atMs <= this.nextWaveMs) return this.queue.shift() as DemoEvent;
      if (this.nextBaselineMs <= this.nextWaveMs) {
        const at = this.nextBaselineMs;
        this.nextBaselineMs += this.rng.exponential(this.baselineGapMs);
        return this.baseline(at);
      } else {
        const end = this.scheduleWave(this.nextWaveMs);
        // Waves never overlap: the next one is a quiet gap after this one ends.
        this.nextWaveMs = end + this.rng.between(0.5, 1.5) * this.waveGapMs;
      }
    }
  }

  /** Every event due up to `untilMs` (since the start), in order. */
  until(untilMs: number): DemoEvent[] {
    const out: DemoEvent[] = [];
    while (this.peekMs() <= untilMs) out.push(this.next());
    return out;
  }

  /** When the next event is due, without taking it. */
  peekMs(): number {
    const scripted = this.queue[0]?.atMs ?? Infinity;
    // A wave's first event is due at its start, and every baseline slot yields one.
    return Math.min(scripted, this.nextBaselineMs, this.nextWaveMs);
  }

  // ----- building blocks -------------------------------------------------------------

  private event(atMs: number, subject: string, type: string, payload: Record<string, unknown>, isoTs = false): DemoEvent {
    const wall = this.startMs + Math.round(atMs);
    return {
      atMs,
      subject,
      envelope: { v: 1, id: this.rng.uuid(), type, ts: isoTs ? new Date(wall).toISOString() : wall / 1000, payload },
    };
  }

  private push(event: DemoEvent): void {
    // Insert after every event due at the same time or earlier: a script keeps its order.
    let lo = 0;
    let hi = this.queue.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((this.queue[mid] as DemoEvent).atMs <= event.atMs) lo = mid + 1;
      else hi = mid;
    }
    this.queue.splice(lo, 0, event);
  }

  private newActor(score: number): Actor {
    const rng = this.rng;
    const net = rng.pick(['192.0.2', '198.51.100', '203.0.113']);
    return {
      ip: `${net}.${rng.int(1, 254)}`,
      asn: `AS${rng.int(64496, 64511)}`,
      org: rng.pick(ORGS),
      country: rng.pick(COUNTRIES),
      tool: rng.pick(TOOLS),
      score,
    };
  }

  private freeDecky(atMs: number): Decky | null {
    const free = DECKIES.filter((d) => (this.busyUntil.get(d.id) ?? -1) < atMs && this.deckyState.get(d.id) === 'up');
    return free.length > 0 ? this.rng.pick(free) : null;
  }

  private stateChange(atMs: number, decky: Decky, state: string, reason: string): DemoEvent {
    const previous = this.deckyState.get(decky.id) ?? 'up';
    this.deckyState.set(decky.id, state);
    return this.event(atMs, `decky.${decky.id}.state`, 'state_changed', { decky: decky.id, address: decky.address, service: decky.service, state, previous, reason });
  }

  private observed(atMs: number, actor: Actor, decky: Decky, type: string, port = decky.port): DemoEvent {
    return this.event(atMs, 'attacker.observed', type, {
      ip: actor.ip,
      decky: decky.id,
      dst_ip: decky.address,
      dst_port: port,
      proto: 'tcp',
      service: decky.service,
      src_port: this.rng.int(32_768, 60_999),
      asn: actor.asn,
      country: actor.country,
      user_agent: actor.tool.userAgent,
    });
  }

  private scored(atMs: number, actor: Actor, reasons: string[]): DemoEvent {
    const severity = actor.score >= 0.8 ? 'high' : actor.score >= 0.5 ? 'medium' : 'low';
    return this.event(atMs, 'attacker.scored', 'score_updated', { ip: actor.ip, score: round(actor.score, 2), severity, reasons });
  }

  private fingerprinted(atMs: number, actor: Actor): DemoEvent {
    return this.event(atMs, 'attacker.fingerprinted', 'fingerprint', {
      ip: actor.ip,
      tool: actor.tool.name,
      user_agent: actor.tool.userAgent,
      ja3: this.rng.hex(32),
      hassh: this.rng.hex(32),
      os_guess: this.rng.pick(['Linux 5.x', 'Linux 4.x', 'Windows Server 2019', 'FreeBSD 13']),
      ttl: this.rng.pick([46, 49, 52, 113, 116]),
    });
  }

  private canaryHit(atMs: number, canary: Canary, actor: Actor | null): DemoEvent {
    const payload: Record<string, unknown> = {
      token: canary.token,
      kind: canary.kind,
      decky: canary.decky,
      bait: canary.bait,
      source_ip: actor?.ip ?? `${this.rng.pick(['192.0.2', '198.51.100', '203.0.113'])}.${this.rng.int(1, 254)}`,
      action: canary.kind === 'dns_hostname' ? 'dns_lookup' : canary.kind === 'aws_access_key' ? 'api_call' : 'file_open',
      severity: 'critical',
    };
    if (canary.kind === 'aws_access_key') payload['aws_api'] = this.rng.pick(['sts:GetCallerIdentity', 's3:ListBuckets', 'iam:ListUsers']);
    return this.event(atMs, `canary.${canary.token}.triggered`, 'canary_triggered', payload);
  }

  // ----- the quiet baseline ------------------------------------------------------------

  private baseline(at: number): DemoEvent {
    const rng = this.rng;
    const kind: BaselineKind = rng.weighted(BASELINE_MIX);
    switch (kind) {
      case 'scan': {
        const actor = rng.pick(this.scanners);
        const decky = rng.pick(DECKIES);
        const port = rng.chance(0.7) ? decky.port : rng.pick([21, 23, 80, 443, 445, 1433, 3389, 5900, 8080, 8443]);
        return this.observed(at, actor, decky, 'connection_attempt', port);
      }
      case 'traffic': {
        const decky = rng.pick(DECKIES);
        const connections = rng.int(2, 60);
        return this.event(at, `decky.${decky.id}.traffic`, 'traffic_sample', {
          decky: decky.id,
          window_s: 60,
          connections,
          unique_sources: Math.max(1, Math.round(connections * rng.between(0.2, 0.9))),
          bytes_in: connections * rng.int(200, 4_000),
          bytes_out: connections * rng.int(100, 2_500),
        });
      }
      case 'log': {
        const worker = rng.pick(WORKERS);
        const [level, message] = rng.pick(LOG_LINES);
        return this.event(at, 'system.log', 'log', { level, logger: `decnet.${worker}`, host: 'decnet-core-01', message: message(rng) }, true);
      }
      case 'health': {
        const worker = rng.pick(WORKERS);
        return this.event(at, `system.${worker}.health`, 'health', {
          worker,
          status: rng.chance(0.95) ? 'ok' : 'degraded',
          lag_ms: rng.int(1, 40),
          queue_depth: rng.int(0, 25),
          uptime_s: this.uptimeBase + Math.round(at / 1000),
          version: '2.4.1',
        }, true);
      }
      case 'scored': {
        const actor = rng.pick(this.scanners);
        actor.score = Math.min(0.45, actor.score + rng.between(0, 0.05));
        return this.scored(at, actor, ['port_scan', 'known_scanner_asn']);
      }
      case 'fingerprinted':
        return this.fingerprinted(at, rng.pick(this.scanners));
      case 'state': {
        // A decoy hiccups now and then: degraded, restarted by its supervisor, back up.
        const decky = this.freeDecky(at);
        if (!decky) return this.observed(at, rng.pick(this.scanners), rng.pick(DECKIES), 'connection_attempt');
        const restartAt = at + rng.between(3_000, 8_000);
        const upAt = restartAt + rng.between(4_000, 12_000);
        this.busyUntil.set(decky.id, upAt);
        const reason = rng.pick(['health check timed out', 'memory above 90%', 'service crashed (exit 139)']);
        const first = this.stateChange(at, decky, 'degraded', reason);
        this.push(this.stateChange(restartAt, decky, 'restarting', 'supervisor restart'));
        this.push(this.stateChange(upAt, decky, 'up', 'health check passed'));
        return first;
      }
      case 'email': {
        const from = `${rng.pick(['invoice', 'hr', 'it-support', 'noreply', 'ceo'])}@${rng.pick(['billing-portal.example', 'secure-docs.example', 'm1crosoft-login.example'])}`;
        return this.event(at, 'email.received', 'email', {
          decky: 'mail-06',
          from,
          to: rng.pick(['finance@corp-intra.example', 'j.doe@corp-intra.example', 'helpdesk@corp-intra.example']),
          subject: rng.pick(['Overdue invoice #4471', 'Password expires today', 'Shared document: Q3 bonus', 'Voicemail (00:42)']),
          attachments: rng.chance(0.6) ? [rng.pick(['invoice_4471.html', 'bonus.xlsm', 'voicemail.iso'])] : [],
          spf: rng.pick(['fail', 'softfail', 'none']),
        });
      }
      case 'canary':
        // A crawler or an indexer touching a bait file, outside any attack wave.
        return this.canaryHit(at, rng.pick(CANARIES), null);
      case 'identity': {
        const actor = rng.pick(this.scanners);
        return this.event(at, 'identity.linked', 'identity_linked', {
          identity: `actor-${rng.hex(8)}`,
          ips: [actor.ip, rng.pick(this.scanners).ip],
          evidence: rng.pick(['shared ja3', 'shared ssh key fingerprint', 'same credential list order']),
          confidence: round(rng.between(0.55, 0.9), 2),
        });
      }
      case 'credential': {
        const actor = rng.pick(this.scanners);
        const decky = rng.pick(DECKIES.filter((d) => d.service === 'ssh' || d.service === 'rdp' || d.service === 'mysql'));
        return this.event(at, 'credential.attempted', 'credential_attempt', {
          ip: actor.ip,
          decky: decky.id,
          service: decky.service,
          username: rng.pick(USERNAMES),
          password: rng.pick(PASSWORDS),
          success: false,
        });
      }
    }
  }

  // ----- attack waves ------------------------------------------------------------------

  /** Script one wave starting at `at`; returns when its last event is due. */
  private scheduleWave(at: number): number {
    const rng = this.rng;
    this.waves++;
    const actor = this.newActor(rng.between(0.3, 0.5));
    // Only decoys no other sequence is scripting: each decoy's state story stays linear.
    const free = DECKIES.filter((d) => (this.busyUntil.get(d.id) ?? -1) < at);
    const targets = rng.sample(free, rng.int(2, 4));
    let end = at;
    const add = (event: DemoEvent): void => {
      this.push(event);
      end = Math.max(end, event.atMs);
    };

    const first = this.observed(at, actor, targets[0] ?? rng.pick(DECKIES), 'first_sighting');
    first.note = `attack wave #${this.waves}: ${actor.ip} (${actor.tool.name}, ${actor.country}) against ${targets.map((d) => d.id).join(', ') || 'the perimeter'}`;
    add(first);
    add(this.event(at + rng.between(200, 800), 'attacker.intel.enriched', 'intel', {
      ip: actor.ip,
      asn: actor.asn,
      org: actor.org,
      country: actor.country,
      reputation: rng.pick(['malicious', 'suspicious', 'unknown']),
      tags: rng.sample(['scanner', 'bruteforce', 'tor', 'vps', 'botnet:mirai', 'cve-2024-3400'], rng.int(1, 3)),
      sources: ['abuse-feed', 'passive-dns'],
    }));
    add(this.fingerprinted(at + rng.between(300, 1_200), actor));

    // A fast port sweep across every decoy first: the sharpest part of the burst.
    const sweepMs = rng.between(600, 1_500);
    for (const decky of DECKIES) {
      for (const port of rng.sample([22, 80, 443, 445, 3306, 3389, 502, 25, 8080], rng.int(2, 4)))
        add(this.observed(at + rng.between(0, sweepMs), actor, decky, 'port_probe', port));
    }
    add(this.event(at + sweepMs + 50, 'ttp.detected', 'technique', { ip: actor.ip, technique: 'T1046', name: 'Network Service Discovery', tactic: 'discovery', deckies: DECKIES.map((d) => d.id) }));

    let sessionStart = at + sweepMs + rng.between(200, 800);
    for (const decky of targets) {
      const sessionId = `s-${rng.hex(12)}`;
      const length = rng.between(3_000, 7_000);
      const sessionEnd = sessionStart + length;
      this.busyUntil.set(decky.id, sessionEnd + 1_500);
      add(this.stateChange(sessionStart, decky, 'engaged', `interactive session from ${actor.ip}`));
      add(this.event(sessionStart + 5, 'attacker.session.started', 'session_started', { ip: actor.ip, decky: decky.id, service: decky.service, port: decky.port, session_id: sessionId, persona: decky.persona }));
      const guesses = rng.int(8, 28);
      for (let i = 0; i < guesses; i++) {
        add(this.event(sessionStart + rng.between(100, length - 200), 'credential.attempted', 'credential_attempt', {
          ip: actor.ip,
          decky: decky.id,
          service: decky.service,
          session_id: sessionId,
          username: rng.pick(USERNAMES),
          password: rng.pick(PASSWORDS),
          success: false,
        }));
      }
      const loggedIn = rng.chance(0.5);
      const loginAt = sessionStart + length * 0.6;
      if (loggedIn) {
        // The decoy lets the attacker "in" with a planted credential: now it watches.
        add(this.event(loginAt, 'credential.captured', 'credential_captured', { ip: actor.ip, decky: decky.id, service: decky.service, session_id: sessionId, username: rng.pick(['deploy', 'backup', 'svc_sql']), planted: true }));
      }
      for (const technique of decky.techniques)
        add(this.event(sessionStart + rng.between(500, length), 'ttp.detected', 'technique', { ip: actor.ip, decky: decky.id, session_id: sessionId, technique: technique.id, name: technique.name, tactic: technique.tactic }));
      const canary = CANARIES.find((c) => c.decky === decky.id);
      if (canary && (loggedIn || rng.chance(0.3))) add(this.canaryHit(loginAt + rng.between(200, 1_000), canary, actor));
      const connections = rng.int(80, 400);
      add(this.event(sessionStart + length / 2, `decky.${decky.id}.traffic`, 'traffic_sample', { decky: decky.id, window_s: 10, connections, unique_sources: 1, bytes_in: connections * rng.int(300, 2_000), bytes_out: connections * rng.int(500, 6_000) }));
      add(this.event(sessionEnd, 'attacker.session.ended', 'session_ended', { ip: actor.ip, decky: decky.id, session_id: sessionId, duration_s: round(length / 1000, 1), commands: loggedIn ? rng.int(3, 40) : 0, bytes_in: rng.int(2_000, 90_000) }));
      add(this.stateChange(sessionEnd + 1_000, decky, 'up', 'session closed; decoy reset to snapshot'));
      actor.score = Math.min(0.99, actor.score + rng.between(0.1, 0.25));
      add(this.scored(sessionEnd + 100, actor, ['first_sighting', 'credential_bruteforce', ...(loggedIn ? ['interactive_login'] : [])]));
      // Sessions overlap: the attacker works several decoys at once.
      sessionStart += rng.between(1_000, length);
    }
    // The correlator folds a wave into a running campaign, or opens a new one.
    const campaign = this.campaigns.length > 0 && rng.chance(0.5) ? rng.pick(this.campaigns) : `camp-${rng.hex(6)}`;
    if (!this.campaigns.includes(campaign)) this.campaigns.push(campaign);
    add(this.event(end + 200, 'campaign.updated', 'campaign_updated', {
      campaign_id: campaign,
      attackers: [actor.ip],
      deckies: targets.map((d) => d.id),
      stage: actor.score > 0.8 ? 'exploitation' : 'reconnaissance',
    }));
    add(this.event(end + 400, 'system.log', 'log', { level: 'warning', logger: 'decnet.intake', host: 'decnet-core-01', message: `burst from ${actor.ip}: intake rate above baseline for ${Math.round((end - at) / 1000)} s` }, true));
    return end;
  }
}

const LOG_LINES: readonly (readonly [string, (rng: Rng) => string])[] = [
  ['info', (r) => `checkpoint written (${r.int(200, 9_000)} events since last)`],
  ['info', (r) => `rotated session recordings: ${r.int(1, 30)} archived`],
  ['info', (r) => `geoip database age ${r.int(1, 6)} d, ok`],
  ['info', (r) => `reconciled ${r.int(5, 8)} deckies with inventory`],
  ['warning', (r) => `slow consumer on attacker.> (pending ${r.int(100, 900)})`],
  ['info', (r) => `threat-intel feed refreshed: ${r.int(100, 4_000)} indicators`],
  ['error', (r) => `enrichment lookup timed out for 1 ip after ${r.int(2, 5)} s; will retry`],
];

function round(value: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}
