/**
 * When output is coloured (chalk, honouring NO_COLOR, FORCE_COLOR, --no-color and non-TTY output).
 * chalk itself is imported only when colour is on, so a `get` in a script never loads it.
 */

/** chalk's colour levels: 0 none, 1 basic, 2 256 colours, 3 truecolor. */
export type ColourLevel = 0 | 1 | 2 | 3;

/** The level for one stream: --no-color, then FORCE_COLOR, then NO_COLOR, then whether it is a terminal. */
export function colourLevel(env: Readonly<Record<string, string | undefined>>, argv: readonly string[], isTTY: boolean): ColourLevel {
  if (argv.includes('--no-color')) return 0;
  const force = env['FORCE_COLOR'];
  if (force !== undefined && force !== '') {
    if (force === '0' || force === 'false') return 0;
    return force === '2' ? 2 : force === '3' ? 3 : 1;
  }
  if (env['NO_COLOR'] !== undefined && env['NO_COLOR'] !== '') return 0;
  if (!isTTY || env['TERM'] === 'dumb') return 0;
  return 1;
}
