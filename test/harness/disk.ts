/**
 * A small file system that can be filled to the last byte and emptied again, for the
 * full-disk tests: a tmpfs of the given size mounted on a temp dir. Mounting needs root
 * (CAP_SYS_ADMIN); where that is refused, `smallDisk` resolves null and the caller falls
 * back to SQLite's `max_page_count`, which fails writes with the same SQLITE_FULL.
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface SmallDisk {
  /** A directory on the small file system. */
  dir: string;
  /** Writes a ballast file until the file system refuses (ENOSPC); resolves with its size. */
  fill(): Promise<number>;
  /** Deletes the ballast: the space is back. */
  free(): Promise<void>;
  /** Unmounts and removes the mount point. */
  cleanup(): Promise<void>;
}

export async function smallDisk(sizeBytes: number): Promise<SmallDisk | null> {
  const mountPoint = await mkdtemp(join(tmpdir(), 'sluice-disk-'));
  try {
    await run('mount', ['-t', 'tmpfs', '-o', `size=${sizeBytes},mode=0700`, 'tmpfs', mountPoint]);
  } catch {
    await rm(mountPoint, { recursive: true, force: true });
    return null;
  }
  const dir = join(mountPoint, 'data');
  await mkdir(dir);
  const ballast = join(mountPoint, 'ballast');
  return {
    dir,
    async fill() {
      const file = await open(ballast, 'a');
      let written = 0;
      try {
        // Big chunks first, then pages, so that not a byte is left over.
        for (const chunk of [Buffer.alloc(1 << 20, 1), Buffer.alloc(4096, 1), Buffer.alloc(512, 1), Buffer.alloc(1, 1)]) {
          for (;;) {
            try {
              const { bytesWritten } = await file.write(chunk);
              written += bytesWritten;
              if (bytesWritten < chunk.length) break;
            } catch (error) {
              if ((error as NodeJS.ErrnoException).code !== 'ENOSPC') throw error;
              break;
            }
          }
        }
      } finally {
        await file.close();
      }
      return written;
    },
    async free() {
      await rm(ballast, { force: true });
    },
    async cleanup() {
      await run('umount', ['-l', mountPoint]).catch(() => undefined);
      await rm(mountPoint, { recursive: true, force: true });
    },
  };
}
