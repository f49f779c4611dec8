/**
 * The clipboard of `secrets get --clip`: wl-copy on Wayland, xclip or xsel on X11. The value
 * reaches the tool on its stdin, never its argv; a small detached helper clears the clipboard
 * after a delay unless it changed meanwhile, and it is given a salted hash of the value, not
 * the value, so no process but the tool ever holds it.
 */
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import { SecretsError } from '../core/errors.js';

/** How long a copied value stays on the clipboard, as password managers do (pass uses 45 s too). */
export const CLIP_CLEAR_MS = 45_000;

/** How long a clipboard tool may take to take the value. */
const TOOL_TIMEOUT_MS = 5_000;

/** One clipboard tool: argv to copy stdin, to print the clipboard, and to clear it (stdin empty). */
export interface ClipboardTool {
  readonly name: string;
  readonly copy: readonly string[];
  readonly paste: readonly string[];
  readonly clear: readonly string[];
}

const WAYLAND: ClipboardTool = { name: 'wl-copy', copy: ['wl-copy'], paste: ['wl-paste', '--no-newline'], clear: ['wl-copy', '--clear'] };
const XCLIP: ClipboardTool = {
  name: 'xclip',
  copy: ['xclip', '-selection', 'clipboard', '-in'],
  paste: ['xclip', '-selection', 'clipboard', '-out'],
  // xclip has no clear: it takes ownership with an empty value.
  clear: ['xclip', '-selection', 'clipboard', '-in'],
};
const XSEL: ClipboardTool = {
  name: 'xsel',
  copy: ['xsel', '--clipboard', '--input'],
  paste: ['xsel', '--clipboard', '--output'],
  clear: ['xsel', '--clipboard', '--clear'],
};

function onPath(name: string, env: Readonly<Record<string, string | undefined>>): boolean {
  for (const dir of (env['PATH'] ?? '').split(delimiter)) {
    if (dir === '') continue;
    try {
      accessSync(join(dir, name), constants.X_OK);
      return true;
    } catch {
      // not here
    }
  }
  return false;
}

/** The tool for this session: Wayland first (WAYLAND_DISPLAY), then X11 (DISPLAY); a usage error when there is none. */
export function clipboardTool(env: Readonly<Record<string, string | undefined>>): ClipboardTool {
  const wayland = (env['WAYLAND_DISPLAY'] ?? '') !== '';
  const x11 = (env['DISPLAY'] ?? '') !== '';
  if (wayland && onPath('wl-copy', env) && onPath('wl-paste', env)) return WAYLAND;
  if (x11 && onPath('xclip', env)) return XCLIP;
  if (x11 && onPath('xsel', env)) return XSEL;
  if (!wayland && !x11) {
    throw new SecretsError(
      'USAGE',
      'no clipboard: neither WAYLAND_DISPLAY nor DISPLAY is set',
      'run it in a graphical session, or pipe the value instead: secrets get NAME | …',
    );
  }
  throw new SecretsError(
    'USAGE',
    `no clipboard tool: ${wayland ? 'wl-copy/wl-paste' : ''}${wayland && x11 ? ', ' : ''}${x11 ? 'xclip or xsel' : ''} not on PATH`,
    `install ${wayland ? 'wl-clipboard' : 'xclip'} (e.g. apt-get install ${wayland ? 'wl-clipboard' : 'xclip'}), or pipe the value: secrets get NAME | …`,
  );
}

/** Puts `value` on the clipboard through the tool's stdin. */
export function copyToClipboard(tool: ClipboardTool, value: Uint8Array, env: Record<string, string>): Promise<void> {
  const [file, ...args] = tool.copy as [string, ...string[]];
  return new Promise((resolve, reject) => {
    // stdout is not ours to wait for: the tool forks a process that serves the clipboard and keeps
    // whatever it inherited. stderr is read until the tool itself exits, then let go.
    const child = spawn(file, args, { env, cwd: '/', stdio: ['pipe', 'ignore', 'pipe'] });
    const err: Buffer[] = [];
    child.stderr.on('data', (d: Buffer) => err.push(d));
    const timer = setTimeout(() => child.kill('SIGKILL'), TOOL_TIMEOUT_MS);
    const fail = (why: string): void => {
      clearTimeout(timer);
      child.stderr.destroy();
      const detail = Buffer.concat(err).toString('utf8').trim().split('\n')[0] ?? '';
      reject(
        new SecretsError(
          'USAGE',
          `${tool.name} could not set the clipboard: ${why}${detail ? ` (${detail})` : ''}`,
          'check that the display is reachable from this shell',
        ),
      );
    };
    child.on('error', (e: NodeJS.ErrnoException) => fail(e.code ?? e.message));
    child.on('exit', (code, signal) => {
      if (code !== 0) return fail(signal !== null ? `killed by ${signal}` : `exit ${code ?? '?'}`);
      clearTimeout(timer);
      child.stderr.destroy();
      resolve();
    });
    child.stdin.on('error', () => undefined);
    child.stdin.end(value);
  });
}

/**
 * The helper, run as `node -e`: reads its job from stdin, sleeps, prints the clipboard through
 * the tool, and clears it only when the salted hash still matches. Plain CommonJS, no imports
 * of ours, so it needs neither the package nor the vault.
 */
const CLEAR_HELPER = `
const { spawnSync } = require('node:child_process');
const { createHash, timingSafeEqual } = require('node:crypto');
const chunks = [];
process.stdin.on('data', (d) => chunks.push(d));
process.stdin.on('end', () => {
  const job = JSON.parse(Buffer.concat(chunks).toString('utf8'));
  setTimeout(() => {
    const now = spawnSync(job.paste[0], job.paste.slice(1), { stdio: ['ignore', 'pipe', 'ignore'], timeout: ${TOOL_TIMEOUT_MS}, maxBuffer: 1 << 20 });
    if (now.status !== 0 || !now.stdout) return;
    const hash = createHash('sha256').update(Buffer.from(job.salt, 'hex')).update(now.stdout).digest();
    now.stdout.fill(0);
    if (!timingSafeEqual(hash, Buffer.from(job.hash, 'hex'))) return;
    spawnSync(job.clear[0], job.clear.slice(1), { input: '', stdio: ['pipe', 'ignore', 'ignore'], timeout: ${TOOL_TIMEOUT_MS} });
  }, job.delayMs);
});
`;

/**
 * Starts the detached helper that clears the clipboard after `delayMs` if it still holds
 * `value`, and returns at once: `secrets` does not wait for it.
 */
export function scheduleClear(tool: ClipboardTool, value: Uint8Array, delayMs: number, env: Record<string, string>): Promise<void> {
  const salt = randomBytes(16);
  const hash = createHash('sha256').update(salt).update(value).digest('hex');
  const job = JSON.stringify({ delayMs, salt: salt.toString('hex'), hash, paste: tool.paste, clear: tool.clear });
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['-e', CLEAR_HELPER], { env, cwd: '/', detached: true, stdio: ['pipe', 'ignore', 'ignore'] });
    child.on('error', (e: NodeJS.ErrnoException) =>
      reject(new SecretsError('INTERNAL', `cannot start the helper that clears the clipboard (${e.code ?? e.message}); the value is on the clipboard`)),
    );
    child.stdin.on('error', () => undefined);
    child.stdin.end(job, () => {
      child.unref();
      resolve();
    });
  });
}
