/**
 * A token trie of subject patterns: which of many patterns match a subject, in time
 * proportional to the subject's depth rather than to the number of patterns.
 */
import { matchesPattern } from './pattern';

interface Node {
  children: Map<string, Node>;
  /** Patterns that end exactly here. */
  terminal: string | null;
  /** Pattern ending in `>` at this level (matches one or more further tokens). */
  tail: string | null;
}

const newNode = (): Node => ({ children: new Map(), terminal: null, tail: null });

export class PatternIndex {
  private readonly root = newNode();
  private readonly stored = new Set<string>();

  get size(): number {
    return this.stored.size;
  }

  has(pattern: string): boolean {
    return this.stored.has(pattern);
  }

  /** A snapshot of the stored patterns. */
  patterns(): string[] {
    return [...this.stored];
  }

  add(pattern: string): void {
    if (this.stored.has(pattern)) return;
    this.stored.add(pattern);
    const tokens = pattern.split('.');
    let node = this.root;
    for (let i = 0; i < tokens.length; i++) {
      const token = tokens[i] as string;
      if (token === '>') {
        node.tail = pattern;
        return;
      }
      let child = node.children.get(token);
      if (!child) {
        child = newNode();
        node.children.set(token, child);
      }
      node = child;
    }
    node.terminal = pattern;
  }

  delete(pattern: string): void {
    if (!this.stored.delete(pattern)) return;
    const tokens = pattern.split('.');
    const path: Node[] = [this.root];
    let node = this.root;
    for (const token of tokens) {
      if (token === '>') {
        node.tail = null;
        break;
      }
      const child = node.children.get(token);
      if (!child) return;
      node = child;
      path.push(node);
    }
    if (tokens[tokens.length - 1] !== '>') node.terminal = null;
    // Prune empty branches so a long-running engine does not accumulate dead nodes.
    for (let i = path.length - 1; i > 0; i--) {
      const n = path[i] as Node;
      if (n.terminal || n.tail || n.children.size > 0) break;
      (path[i - 1] as Node).children.delete(tokens[i - 1] as string);
    }
  }

  /** Every stored pattern that matches `subject`. */
  match(subject: string): string[] {
    const tokens = subject.split('.');
    const out: string[] = [];
    const walk = (node: Node, i: number): void => {
      if (i === tokens.length) {
        if (node.terminal) out.push(node.terminal);
        return;
      }
      if (node.tail) out.push(node.tail);
      const token = tokens[i] as string;
      if (token.length === 0) return;
      const exact = node.children.get(token);
      if (exact) walk(exact, i + 1);
      const star = node.children.get('*');
      if (star && token !== '*') walk(star, i + 1);
    };
    walk(this.root, 0);
    return out;
  }

  /** Reference implementation, used by tests to check the trie. */
  static matchLinear(patterns: Iterable<string>, subject: string): string[] {
    return [...patterns].filter((p) => matchesPattern(p, subject));
  }
}
