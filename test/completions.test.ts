/**
 * Shell completion, end to end: the real bash, zsh and fish, each through its own completion
 * machinery (bash: `complete -p` + COMP_WORDS, and readline itself in a pseudo-terminal; zsh:
 * an interactive zsh with compinit in a zpty; fish: `complete -C`), calling the real binary
 * against a real vault. Plus: the committed scripts match the command tree, `secrets
 * completion` prints them, and `__complete` reads names without any key.
 * A missing shell skips its suite with a one-line reason; under CI=true it fails instead.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { COMPLETION_FILES } from '../src/cli/commands/completion.js';
import { completionScripts } from '../src/cli/completion/generate.js';
import { scanPlaintextNames } from '../src/store/plaintext-names.js';
import { BIN, initialisedSandbox, ROOT, type Sandbox, sandbox } from './support/cli.js';
import { skipReason } from './support/keyring.js';

const BASH_COMPLETION = '/usr/share/bash-completion/bash_completion';
const SCRIPTS = {
  bash: join(ROOT, 'completions', COMPLETION_FILES.bash),
  zsh: join(ROOT, 'completions', COMPLETION_FILES.zsh),
  fish: join(ROOT, 'completions', COMPLETION_FILES.fish),
};

function onPath(name: string): boolean {
  return (process.env['PATH'] ?? '').split(delimiter).some((dir) => dir !== '' && existsSync(join(dir, name)));
}

/** ok, or why not, for node:test's skip (through skipReason, which never skips under CI=true). */
function need(what: string, ok: boolean): { ok: true } | { ok: false; reason: string } {
  return ok ? { ok: true } : { ok: false, reason: `${what} not installed (apt-get install -y bash-completion zsh fish)` };
}

const bashSkip = skipReason(need('bash or bash-completion', onPath('bash') && existsSync(BASH_COMPLETION)));
const zshSkip = skipReason(need('zsh', onPath('zsh')));
const readlineSkip = skipReason(need('bash, bash-completion or zsh (its zpty drives bash)', onPath('bash') && onPath('zsh') && existsSync(BASH_COMPLETION)));
const fishSkip = skipReason(need('fish', onPath('fish')));

/** The secrets the vault holds: names with every character a name may have. */
const NAMES = ['dev/key=1', 'prod/api+old', 'prod/api@v2', 'prod/db.primary', 'staging/web-app_1'];
const OTHER = 'other/only-here';

let sb: Sandbox;
let env: Record<string, string>;
let otherVault: string;

/** Runs a program to the end; rejects after `timeoutMs`. */
function run(
  file: string,
  args: readonly string[],
  extraEnv: Record<string, string> = {},
  timeoutMs = 60_000,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { env: { ...env, ...extraEnv }, cwd: sb.home, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${file} ${args.join(' ')}: no answer within ${timeoutMs} ms\n${stderr}`));
    }, timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

before(async () => {
  sb = await initialisedSandbox();
  // The scripts call `secrets`: a wrapper on PATH runs the built binary.
  const bin = join(sb.home, 'bin');
  mkdirSync(bin);
  writeFileSync(join(bin, 'secrets'), `#!/bin/sh\nexec '${process.execPath}' '${BIN}' "$@"\n`);
  chmodSync(join(bin, 'secrets'), 0o755);
  env = { ...sb.env, PATH: `${bin}${delimiter}${sb.env['PATH'] ?? ''}`, TERM: 'xterm', LC_ALL: 'C.UTF-8' };
  const values = Object.fromEntries([...NAMES, 'prod/gone', 'tricky/desc'].map((n) => [n, `value of ${n}`]));
  writeFileSync(join(sb.home, 'names.json'), JSON.stringify(values));
  await sb.ok(['import', '--format', 'json', join(sb.home, 'names.json')]);
  await sb.ok(['delete', 'prod/gone', '--yes']); // scheduled for deletion: no longer offered
  // Plaintext that looks like a name field must not be taken for one.
  await sb.ok(['update', 'tricky/desc', '--description', 'see ,"name":"evil/one" {x}']);
  await sb.ok(['tag', 'tricky/desc', 'name=evil/two']);
  await sb.ok(['policy', 'put', 'dev-read', '-f', join(ROOT, 'docs', 'examples', 'policies', 'dev-read.yaml')]);
  // Handler names come from this machine's allowlist, never from the vault.
  await sb.ok(['handler', 'allow', 'rotate-api', '/bin/true']);
  await sb.ok(['handler', 'allow', 'rotate-db', '/bin/true']);
  otherVault = join(sb.home, 'other vault', 'vault.yaml');
  await sb.ok(['--vault', otherVault, 'init']);
  writeFileSync(join(sb.home, 'other.json'), JSON.stringify({ [OTHER]: 'x' }));
  await sb.ok(['--vault', otherVault, 'import', '--format', 'json', join(sb.home, 'other.json')]);
});

after(() => sb?.cleanup());

const LIVE = [...NAMES, 'tricky/desc'].sort();

describe('secrets __complete', () => {
  it('prints the live secret names, sorted, the same as list (which verifies every record)', async () => {
    const names = await sb.ok(['__complete', 'secrets']);
    assert.equal(names, LIVE.map((n) => `${n}\n`).join(''));
    const listed = (JSON.parse(await sb.ok(['list', '--json'])) as { SecretList: { Name: string }[] }).SecretList.map((s) => s.Name).sort();
    assert.deepEqual(names.trimEnd().split('\n'), listed);
  });

  it('filters by prefix, and lists members and policies', async () => {
    assert.equal(await sb.ok(['__complete', 'secrets', 'prod/api']), 'prod/api+old\nprod/api@v2\n');
    assert.equal(await sb.ok(['__complete', 'secrets', '--', '-x']), '');
    assert.equal(await sb.ok(['__complete', 'members']), 'tester\n');
    assert.equal(await sb.ok(['__complete', 'policies']), 'dev-read\n');
  });

  it('honours --vault and SECRETS_VAULT; a missing vault has no names and no error', async () => {
    assert.equal(await sb.ok(['--vault', otherVault, '__complete', 'secrets']), `${OTHER}\n`);
    assert.equal(await sb.ok(['__complete', 'secrets'], { env: { SECRETS_VAULT: otherVault } }), `${OTHER}\n`);
    const r = await sb.run(['--vault', join(sb.home, 'nope.yaml'), '__complete', 'secrets']);
    assert.deepEqual([r.code, r.stdout, r.stderr], [0, '', '']);
  });

  it('needs no identity, no key and no trust state: a bare copy of the vault is enough', async () => {
    const bare = sandbox();
    try {
      const copy = join(bare.home, 'vault.yaml');
      copyFileSync(sb.vault, copy);
      const r = await bare.run(['--vault', copy, '__complete', 'secrets']);
      assert.deepEqual([r.code, r.stderr], [0, '']);
      assert.equal(r.stdout, LIVE.map((n) => `${n}\n`).join(''));
      const get = await bare.run(['--vault', copy, 'get', 'prod/db.primary']);
      assert.equal(get.code, 7, 'while reading a value does need the identity');
    } finally {
      bare.cleanup();
    }
  });

  it('the scan skips deleted secrets, removed members and anything that is not a name', () => {
    const text = [
      '# secrets vault, format 1. Managed by the secrets CLI; do not edit by hand.',
      '- {"kind":"member","added":"t","by":"a","ctr":1,"id":"a","name":"alice","roles":["admin"]}',
      '- {"kind":"member","added":"t","by":"a","ctr":2,"id":"b","name":"bob","removed":"t","roles":["member"]}',
      '- {"kind":"policy","attached":[],"by":"a","changed":"t","ctr":3,"doc":{"name":"not-this"},"name":"ci-read"}',
      '- {"kind":"secret","by":"a","changed":"t","created":"t","ctr":4,"id":"1","name":"b/live","stages":{},"tags":{"name":"x"}}',
      '- {"kind":"secret","by":"a","changed":"t","created":"t","ctr":5,"deleted":"t","id":"2","name":"a/deleted","stages":{},"tags":{}}',
      '- {"kind":"secret","by":"a","changed":"t","created":"t","ctr":6,"description":"x\\",\\"name\\":\\"no\\"","id":"3","name":"a/live","stages":{},"tags":{}}',
      '- {"kind":"secret","by":"a","changed":"t","created":"t","ctr":7,"id":"4","name":"has space","stages":{},"tags":{}}',
      '- {"kind":"secret","by":"a","changed":"t","created":"t","ctr":8,"id":"5","name":"esc\\u001b","stages":{},"tags":{}}',
      '- {"kind":"version","id":"v","name":"not/a/secret","secret":"1"}',
      '',
    ].join('\n');
    assert.deepEqual(scanPlaintextNames(text, 'secret'), ['a/live', 'b/live']);
    assert.deepEqual(scanPlaintextNames(text, 'member'), ['alice']);
    assert.deepEqual(scanPlaintextNames(text, 'policy'), ['ci-read']);
    assert.deepEqual(scanPlaintextNames('garbage', 'secret'), []);
  });

  it('format 2: the names the ops leave, by id: deleted, restored, removed, a compacted state line, a tag that spells an op', () => {
    const op = (name: string, body: unknown) => `- ${JSON.stringify({ kind: 'op', at: 't', body, by: 'a', op: name, parents: [], seq: 1, sig: 's' })}`;
    const text = [
      '# secrets vault, format 2. Managed by the secrets CLI; do not edit by hand.',
      op('CreateVault', { creator: { id: 'a', name: 'alice' }, format: 2, name: 'v', vault: 'u' }),
      op('AddMember', { member: { id: 'b', name: 'bob' }, roles: ['member'] }),
      op('AddMember', { member: { id: 'c', name: 'carol' }, roles: ['member'] }),
      op('RemoveMember', { member: 'b' }),
      op('PutPolicy', { doc: {}, policy: 'ci-read' }),
      op('PutPolicy', { doc: {}, policy: 'old' }),
      op('DeletePolicy', { policy: 'old' }),
      '- {"kind":"state","created":"t","id":"s0","name":"from/checkpoint","stages":{},"tags":{},"versions":[]}',
      '- {"kind":"state","created":"t","deleted":{"at":"t","entry":"e","purge":"t"},"id":"s9","name":"gone/before","stages":{},"tags":{},"versions":[]}',
      op('CreateSecret', { name: 'b/live', secret: 's1' }),
      op('CreateSecret', { name: 'a/deleted', secret: 's2' }),
      op('DeleteSecret', { days: 7, name: 'a/deleted', secret: 's2' }),
      op('CreateSecret', { name: 'c/restored', secret: 's3' }),
      op('DeleteSecret', { days: 7, name: 'c/restored', secret: 's3' }),
      op('RestoreSecret', { name: 'c/restored', secret: 's3' }),
      op('TagResource', { name: 'b/live', secret: 's1', tags: { op: 'CreateSecret', name: 'evil/one' } }),
      op('CreateSecret', { name: 'has space', secret: 's4' }),
      '',
    ].join('\n');
    assert.deepEqual(scanPlaintextNames(text, 'secret'), ['b/live', 'c/restored', 'from/checkpoint']);
    assert.deepEqual(scanPlaintextNames(text, 'member'), ['alice', 'carol']);
    assert.deepEqual(scanPlaintextNames(text, 'policy'), ['ci-read']);
  });

  it('format 2: a hostile line (an id that is an object no string conversion accepts, names with escapes or shell syntax) is skipped, never a crash', () => {
    const op = (name: string, body: unknown) => `- ${JSON.stringify({ kind: 'op', at: 't', body, by: 'a', op: name, parents: [], seq: 1, sig: 's' })}`;
    const text = [
      '# secrets vault, format 2. Managed by the secrets CLI; do not edit by hand.',
      op('CreateVault', { creator: { id: 'a', name: 'alice' }, format: 2, name: 'v', vault: 'u' }),
      op('CreateSecret', { name: 'b/live', secret: 's1' }),
      op('CreateSecret', { name: '$(touch pwned)', secret: 's2' }),
      op('CreateSecret', { name: 'x\u001b]0;title\u0007', secret: 's3' }),
      op('DeleteSecret', { days: 7, name: 'b/live', secret: { toString: 1 } }),
      op('RemoveMember', { member: { toString: 1, valueOf: 2 } }),
      op('DeletePolicy', { policy: { toString: 1 } }),
      '- {"kind":"op","op":"DeleteSecret","body":null}',
      '',
    ].join('\n');
    assert.deepEqual(scanPlaintextNames(text, 'secret'), ['b/live']);
    assert.deepEqual(scanPlaintextNames(text, 'member'), ['alice']);
    assert.deepEqual(scanPlaintextNames(text, 'policy'), []);
  });
});

describe('the completion scripts', () => {
  it('match the command tree (node scripts/gen-completions.mjs rewrites them)', async () => {
    for (const s of await completionScripts(ROOT)) {
      assert.ok(s.committed === s.expected, `${s.path} is out of date: run npm run build && node scripts/gen-completions.mjs`);
    }
  });

  it('are what `secrets completion SHELL` prints; an unknown shell is a usage error', async () => {
    for (const [shell, path] of Object.entries(SCRIPTS)) assert.equal(await sb.ok(['completion', shell]), readFileSync(path, 'utf8'), shell);
    const r = await sb.run(['completion', 'tcsh']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /bash, zsh, fish/);
  });
});

// ------------------------------------------------------------------------------------------ bash

// Sources bash-completion (unless BASH_COMPLETION=0) and our script, splits LINE into COMP_WORDS
// as bash does (at blanks outside quotes, and into runs of COMP_WORDBREAKS characters), calls the
// function `complete -p secrets` names, and prints COMP_WORDBREAKS then COMPREPLY, one per line.
const BASH_DRIVER = `
[[ $BASH_COMPLETION == 0 ]] || . ${BASH_COMPLETION}
. "$SCRIPT"
COMP_LINE=$LINE COMP_POINT=\${#LINE} COMP_WORDS=() w='' was=0 quote=''
for ((i = 0; i < \${#LINE}; i++)); do
  c=\${LINE:i:1}
  if [[ -n $quote || $c == [\\"\\'] ]]; then
    [[ $c == "$quote" ]] && quote='' || { [[ -z $quote ]] && quote=$c; }
    [[ $was == 1 && -n $w ]] && COMP_WORDS+=("$w") && w=''
    w+=$c was=0
    continue
  fi
  if [[ $c == [[:blank:]] ]]; then
    [[ -n $w ]] && COMP_WORDS+=("$w")
    w='' was=0
    continue
  fi
  is=0
  [[ $COMP_WORDBREAKS == *"$c"* ]] && is=1
  [[ -n $w && $is != "$was" ]] && COMP_WORDS+=("$w") && w=''
  w+=$c was=$is
done
COMP_WORDS+=("$w")
COMP_CWORD=$((\${#COMP_WORDS[@]} - 1))
read -r -a spec <<<"$(complete -p secrets)"
for ((i = 0; i < \${#spec[@]}; i++)); do [[ \${spec[i]} == -F ]] && fn=\${spec[i + 1]}; done
"$fn" secrets "\${COMP_WORDS[COMP_CWORD]}" "\${COMP_WORDS[COMP_CWORD - 1]}"
printf '%s\\n' "\${COMP_WORDBREAKS//[[:space:]]/}" "\${COMPREPLY[@]}"
`;

/**
 * The words the current word can become, as readline would insert COMPREPLY: it replaces only
 * the text after the last COMP_WORDBREAKS character, so that part of the line stays in front.
 */
async function bashComplete(line: string, opts: { bashCompletion?: boolean; env?: Record<string, string> } = {}): Promise<string[]> {
  const driver = join(sb.home, 'bash-driver.sh');
  if (!existsSync(driver)) writeFileSync(driver, BASH_DRIVER);
  const r = await run('bash', ['--norc', '--noprofile', driver], {
    SCRIPT: SCRIPTS.bash,
    LINE: line,
    BASH_COMPLETION: opts.bashCompletion === false ? '0' : '1',
    ...opts.env,
  });
  assert.equal(r.stderr, '', `bash wrote to stderr for ${JSON.stringify(line)}`);
  const [breaks = '', ...replies] = r.stdout.split('\n').slice(0, -1);
  const word = line.slice(line.search(/\S*$/));
  let cut = 0;
  // "@" and "$" are rl_special_prefixes: readline keeps them in the text it replaces.
  for (let i = 0; i < word.length; i++) if (breaks.includes(word[i] as string)) cut = '@$'.includes(word[i] as string) ? i : i + 1;
  return replies.map((reply) => word.slice(0, cut) + reply);
}

describe('bash', { skip: bashSkip }, () => {
  it('completes subcommands and nested subcommands, never hidden ones', async () => {
    const top = await bashComplete('secrets ');
    for (const c of ['get', 'put', 'policy', 'member', 'audit', 'completion']) assert.ok(top.includes(c), c);
    for (const c of ['__complete', 'merge-driver', 'diff-text']) assert.ok(!top.includes(c), c);
    assert.deepEqual(await bashComplete('secrets po'), ['policy']);
    assert.deepEqual(await bashComplete('secrets policy p'), ['put']);
    assert.deepEqual(await bashComplete('secrets member a'), ['add']);
    assert.deepEqual(await bashComplete('secrets audit v'), ['verify']);
    assert.deepEqual(await bashComplete('secrets --vault /x policy '), ['put', 'get', 'list', 'delete', 'attach', 'detach', 'validate', 'simulate', 'help']);
  });

  it('completes the flags of each command, global ones included', async () => {
    assert.deepEqual(await bashComplete('secrets get --v'), ['--version-stage', '--version-id', '--vault']);
    const policyPut = await bashComplete('secrets policy put -');
    for (const f of ['-f', '--file', '--secret', '--json', '--help', '--vault', '--identity-file']) assert.ok(policyPut.includes(f), f);
    assert.deepEqual(await bashComplete('secrets audit verify --a'), ['--all-members', '--audit']);
  });

  it('completes flag values from their fixed sets', async () => {
    assert.deepEqual(await bashComplete('secrets get --version-stage '), ['CURRENT', 'PREVIOUS', 'PENDING']);
    assert.deepEqual(await bashComplete('secrets get x --version-stage=P'), ['--version-stage=PREVIOUS', '--version-stage=PENDING']);
    assert.deepEqual(await bashComplete('secrets env --format '), ['dotenv', 'shell', 'docker', 'json', 'yaml']);
    assert.deepEqual(await bashComplete('secrets import --format '), ['dotenv', 'json', 'aws', 'backup']);
    assert.deepEqual(await bashComplete('secrets export --format '), ['dotenv', 'json', 'backup']);
    assert.deepEqual(await bashComplete('secrets audit export --format '), ['jsonl', 'cloudtrail']);
    assert.deepEqual(await bashComplete('secrets rotate x --handler '), ['password', 'postgres', 'mysql', 'command:']);
    assert.deepEqual(await bashComplete('secrets rotate x --handler=command:rotate-a'), ['--handler=command:rotate-api']);
    assert.deepEqual(await bashComplete('secrets rotate x --handler command:'), ['command:rotate-api', 'command:rotate-db']);
    assert.deepEqual(await bashComplete('secrets rotate x --strategy '), ['single-user', 'alternating-users']);
    assert.deepEqual(await bashComplete('secrets member add bob id --role '), ['admin', 'member']);
    assert.deepEqual(await bashComplete('secrets --audit b'), ['best-effort']);
    assert.deepEqual(await bashComplete('secrets completion '), ['bash', 'zsh', 'fish']);
    assert.deepEqual(await bashComplete('secrets stage prod/db.primary '), ['CURRENT', 'PREVIOUS', 'PENDING']);
    assert.deepEqual(await bashComplete('secrets help rot'), ['rotate']);
  });

  it('completes secret names, with / . @ + = - _ in them, for every command that takes one', async () => {
    assert.deepEqual(await bashComplete('secrets get '), LIVE);
    assert.deepEqual(await bashComplete('secrets get pro'), ['prod/api+old', 'prod/api@v2', 'prod/db.primary']);
    for (const cmd of ['get', 'put', 'update', 'describe', 'versions', 'stage', 'tag', 'untag', 'delete', 'restore', 'rotate']) {
      assert.deepEqual(await bashComplete(`secrets ${cmd} prod/db.`), ['prod/db.primary'], cmd);
    }
    assert.deepEqual(await bashComplete('secrets get prod/db.primary prod/api@'), ['prod/api@v2'], 'get takes several');
    assert.deepEqual(await bashComplete('secrets get dev/key='), ['dev/key=1']);
    assert.deepEqual(await bashComplete('secrets get staging/web-'), ['staging/web-app_1']);
    assert.deepEqual(await bashComplete('secrets exec --secret prod/api@'), ['prod/api@v2']);
    assert.deepEqual(await bashComplete('secrets exec --secret=prod/api@'), ['--secret=prod/api@v2']);
    assert.deepEqual(await bashComplete('secrets rotate prod/db.primary --master-secret dev/'), ['dev/key=1']);
    assert.deepEqual(await bashComplete('secrets policy put p --secret prod/d'), ['prod/db.primary']);
    assert.deepEqual(await bashComplete('secrets member remove '), ['tester']);
    assert.deepEqual(await bashComplete('secrets policy attach '), ['dev-read']);
    assert.deepEqual(await bashComplete('secrets policy attach dev-read '), ['tester']);
  });

  it('reads names from --vault (before or after the command) and $SECRETS_VAULT', async () => {
    const quoted = `'${otherVault}'`;
    assert.deepEqual(await bashComplete(`secrets --vault ${quoted} get `), [OTHER]);
    assert.deepEqual(await bashComplete(`secrets get --vault=${quoted} o`), [OTHER]);
    assert.deepEqual(await bashComplete('secrets get o', { env: { SECRETS_VAULT: otherVault } }), [OTHER]);
  });

  it('without bash-completion, names with @ and = still complete (COMP_WORDBREAKS has @ then)', async () => {
    assert.deepEqual(await bashComplete('secrets get prod/api@', { bashCompletion: false }), ['prod/api@v2']);
    assert.deepEqual(await bashComplete('secrets get dev/key=', { bashCompletion: false }), ['dev/key=1']);
    assert.deepEqual(await bashComplete('secrets exec --secret=prod/api@', { bashCompletion: false }), ['--secret=prod/api@v2']);
    assert.deepEqual(await bashComplete('secrets get --version-stage C', { bashCompletion: false }), ['CURRENT']);
  });
});

// ------------------------------------------------------------------------------ zsh, and readline

// An outer zsh drives an interactive shell in a zpty, types each line and a key, and waits for
// the file OUT to end with END. For zsh the key runs the TAB widget (expand-or-complete) with a
// spy on compadd that records the matches ("M …"), then records the line ("B …"). For bash it
// is a real TAB, handled by readline, then a key bound to record READLINE_LINE.
const ZPTY_DRIVER = `
zmodload zsh/zpty || exit 3
mode=$1 script=$2 out=$3
shift 3
: >$out
case $mode in
  (zsh)
    zpty -b S zsh -f -i
    zpty -w S "PS1='> '; fpath=(\${script:h} \\$fpath); autoload -Uz compinit; compinit -u -D"
    zpty -w S 'compadd() { if [[ \${@[1,(i)(-|--)]} == *-(O|A|D)\\ * ]]; then builtin compadd "$@"; return; fi; local -a hits; builtin compadd -O hits "$@"; (( $#hits )) && print -rl -- \${hits/#/M } >>'$out'; builtin compadd "$@"; }'
    zpty -w S '_t() { zle expand-or-complete; print -r -- "B $BUFFER" >>'$out'; print END >>'$out'; }; zle -N _t; bindkey "^Xt" _t'
    key=$'\\030t' ;;
  (*)
    zpty -b S bash --norc --noprofile -i
    [[ $mode == bash ]] && zpty -w S ". ${BASH_COMPLETION}"
    zpty -w S ". '$script'; PS1='> '; bind 'set bell-style none'"
    zpty -w S 'bind -x '\\''"\\C-xd": printf "B %s\\nEND\\n" "$READLINE_LINE" >>'$out\\'
    key=$'\\t\\030d' ;;
esac
zpty -w S "echo READY >>$out"
wait_for() { local i; for (( i = 0; i < 600; i++ )); do [[ $(tail -n 1 $out 2>/dev/null) == $1 ]] && return 0; sleep 0.05; done; return 1 }
wait_for READY || { print -u2 "$mode did not start"; exit 4 }
for line in "$@"; do
  : >$out
  zpty -w -n S "$line$key"
  wait_for END || { print -u2 "$mode: no completion for: $line"; cat $out >&2; zpty -d S; exit 5 }
  print -r -- "=== $line"
  cat $out
  zpty -w -n S $'\\025'
done
zpty -d S
`;

interface Typed {
  readonly matches: string[];
  readonly line: string;
}

/** Types each line and a TAB in an interactive `mode` shell; what it offered and the line after. */
async function typeTab(mode: 'zsh' | 'bash' | 'bash-without-bash-completion', script: string, lines: readonly string[]): Promise<Map<string, Typed>> {
  const driver = join(sb.home, 'zpty-driver.zsh');
  if (!existsSync(driver)) writeFileSync(driver, ZPTY_DRIVER);
  const r = await run('zsh', ['-f', driver, mode, script, join(sb.home, `zpty-${mode}.out`), ...lines], {}, 120_000);
  assert.equal(r.code, 0, r.stderr);
  const out = new Map<string, Typed>();
  for (const block of r.stdout.split(/^=== /m).slice(1)) {
    const [typed = '', ...rest] = block.split('\n');
    const matches = rest.filter((l) => l.startsWith('M ')).map((l) => l.slice(2));
    const line = rest.find((l) => l.startsWith('B '))?.slice(2) ?? '';
    out.set(typed, { matches, line });
  }
  assert.deepEqual([...out.keys()], lines);
  return out;
}

describe('zsh', { skip: zshSkip }, () => {
  let typed: Map<string, Typed>;
  const lines = [
    'secrets po',
    'secrets policy ',
    'secrets member a',
    'secrets get --version-',
    'secrets get --version-stage ',
    'secrets env --format ',
    'secrets audit export --format ',
    'secrets rotate x --handler ',
    'secrets rotate x --handler command:',
    'secrets rotate x --strategy ',
    'secrets completion ',
    'secrets get pro',
    'secrets get prod/db',
    'secrets get prod/api@',
    'secrets get dev/k',
    'secrets describe staging/',
    'secrets stage prod/db.primary ',
    'secrets delete prod/db.',
    'secrets exec --secret=prod/db',
    'secrets rotate prod/db.primary --master-secret dev/',
    'secrets member remove ',
    'secrets policy get ',
    'secrets exec -- ech',
  ];
  // The other vault's path is known once the sandbox exists.
  const withVault = (): string => `secrets --vault '${otherVault}' get `;
  before(async () => {
    typed = await typeTab('zsh', SCRIPTS.zsh, [...lines, withVault()]);
  });
  const at = (line: string): Typed => typed.get(line) ?? { matches: [], line: '' };

  it('completes subcommands and nested subcommands', () => {
    assert.equal(at('secrets po').line, 'secrets policy ');
    assert.deepEqual(at('secrets policy ').matches, ['put', 'get', 'list', 'delete', 'attach', 'detach', 'validate', 'simulate', 'help']);
    assert.equal(at('secrets member a').line, 'secrets member add ');
  });

  it('completes flags and their fixed values', () => {
    assert.deepEqual(at('secrets get --version-').matches.sort(), ['--version-id', '--version-stage']);
    assert.deepEqual(at('secrets get --version-stage ').matches, ['CURRENT', 'PREVIOUS', 'PENDING']);
    assert.deepEqual(at('secrets env --format ').matches, ['dotenv', 'shell', 'docker', 'json', 'yaml']);
    assert.deepEqual(at('secrets audit export --format ').matches, ['jsonl', 'cloudtrail']);
    assert.deepEqual(at('secrets rotate x --handler ').matches, ['password', 'postgres', 'mysql', 'command:']);
    assert.deepEqual(at('secrets rotate x --handler command:').matches, ['rotate-api', 'rotate-db']);
    assert.deepEqual(at('secrets rotate x --strategy ').matches, ['single-user', 'alternating-users']);
    assert.deepEqual(at('secrets completion ').matches, ['bash', 'zsh', 'fish']);
    assert.deepEqual(at('secrets stage prod/db.primary ').matches, ['CURRENT', 'PREVIOUS', 'PENDING']);
  });

  it('completes secret names with / . @ + = in them into the line', () => {
    assert.deepEqual(at('secrets get pro').matches, ['prod/api+old', 'prod/api@v2', 'prod/db.primary']);
    assert.equal(at('secrets get pro').line, 'secrets get prod/');
    assert.equal(at('secrets get prod/db').line, 'secrets get prod/db.primary ');
    assert.equal(at('secrets get prod/api@').line, 'secrets get prod/api@v2 ');
    assert.equal(at('secrets get dev/k').line, 'secrets get dev/key=1 ');
    assert.equal(at('secrets describe staging/').line, 'secrets describe staging/web-app_1 ');
    assert.equal(at('secrets delete prod/db.').line, 'secrets delete prod/db.primary ');
    assert.equal(at('secrets exec --secret=prod/db').line, 'secrets exec --secret=prod/db.primary ');
    assert.equal(at('secrets rotate prod/db.primary --master-secret dev/').line, 'secrets rotate prod/db.primary --master-secret dev/key=1 ');
    assert.equal(at('secrets member remove ').line, 'secrets member remove tester ');
    assert.equal(at('secrets policy get ').line, 'secrets policy get dev-read ');
    assert.equal(at(withVault()).line, `${withVault()}${OTHER} `);
  });

  it('hands the command after exec -- to its own completion', () => {
    assert.ok(at('secrets exec -- ech').matches.includes('echo'));
  });
});

describe('bash, typed into readline', { skip: readlineSkip }, () => {
  // Only readline shows where COMPREPLY lands, which is what COMP_WORDBREAKS decides.
  const lines = [
    'secrets policy a',
    'secrets get prod/api@',
    'secrets get dev/k',
    'secrets get dev/key=',
    'secrets exec --secret=prod/api@',
    'secrets get x --version-stage=PRE',
    'secrets rotate x --handler=com',
  ];
  const expected = [
    'secrets policy attach ',
    'secrets get prod/api@v2 ',
    'secrets get dev/key=1 ',
    'secrets get dev/key=1 ',
    'secrets exec --secret=prod/api@v2 ',
    'secrets get x --version-stage=PREVIOUS ',
    'secrets rotate x --handler=command:',
  ];
  for (const mode of ['bash', 'bash-without-bash-completion'] as const) {
    it(`inserts names and values whole (${mode})`, async () => {
      const typed = await typeTab(mode, SCRIPTS.bash, lines);
      assert.deepEqual(
        lines.map((l) => typed.get(l)?.line),
        expected,
      );
    });
  }
});

// ------------------------------------------------------------------------------------------ fish

async function fishComplete(line: string, extraEnv: Record<string, string> = {}): Promise<string[]> {
  const r = await run('fish', ['--no-config', '-c', 'source $argv[1]; complete -C $argv[2]', SCRIPTS.fish, line], extraEnv);
  assert.equal(r.stderr, '', `fish wrote to stderr for ${JSON.stringify(line)}`);
  return r.stdout
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => l.split('\t')[0] ?? '');
}

describe('fish', { skip: fishSkip }, () => {
  it('completes subcommands and nested subcommands', async () => {
    const top = await fishComplete('secrets ');
    for (const c of ['get', 'policy', 'member', 'completion']) assert.ok(top.includes(c), c);
    assert.ok(!top.includes('__complete'));
    assert.deepEqual(await fishComplete('secrets po'), ['policy']);
    assert.deepEqual(await fishComplete('secrets policy '), ['attach', 'delete', 'detach', 'get', 'help', 'list', 'put', 'simulate', 'validate']);
    assert.deepEqual(await fishComplete('secrets audit v'), ['verify']);
  });

  it('completes flags and their fixed values', async () => {
    assert.deepEqual(await fishComplete('secrets get --version-'), ['--version-id', '--version-stage']);
    assert.deepEqual(await fishComplete('secrets get --version-stage '), ['CURRENT', 'PENDING', 'PREVIOUS']);
    assert.deepEqual(await fishComplete('secrets get --version-stage=P'), ['--version-stage=PENDING', '--version-stage=PREVIOUS']);
    assert.deepEqual(await fishComplete('secrets env --format '), ['docker', 'dotenv', 'json', 'shell', 'yaml']);
    assert.deepEqual(await fishComplete('secrets import --format '), ['aws', 'backup', 'dotenv', 'json']);
    assert.deepEqual(await fishComplete('secrets rotate x --handler '), ['command:', 'mysql', 'password', 'postgres']);
    assert.deepEqual(await fishComplete('secrets rotate x --handler command:rotate-'), ['command:rotate-api', 'command:rotate-db']);
    assert.deepEqual(await fishComplete('secrets rotate x --strategy '), ['alternating-users', 'single-user']);
    assert.deepEqual(await fishComplete('secrets completion '), ['bash', 'fish', 'zsh']);
    assert.deepEqual(await fishComplete('secrets stage prod/db.primary '), ['CURRENT', 'PENDING', 'PREVIOUS']);
  });

  it('completes secret names with / . @ + = in them', async () => {
    assert.deepEqual(await fishComplete('secrets get pro'), ['prod/api+old', 'prod/api@v2', 'prod/db.primary']);
    assert.deepEqual(await fishComplete('secrets get prod/api@'), ['prod/api@v2']);
    assert.deepEqual(await fishComplete('secrets get dev/key='), ['dev/key=1']);
    for (const cmd of ['put', 'update', 'describe', 'versions', 'stage', 'tag', 'untag', 'delete', 'restore', 'rotate']) {
      assert.deepEqual(await fishComplete(`secrets ${cmd} prod/db.`), ['prod/db.primary'], cmd);
    }
    assert.deepEqual(await fishComplete('secrets tag prod/db.primary '), [], 'a tag is free text');
    assert.deepEqual(await fishComplete('secrets exec --secret prod/api@'), ['prod/api@v2']);
    assert.deepEqual(await fishComplete('secrets exec --secret=prod/d'), ['--secret=prod/db.primary']);
    assert.deepEqual(await fishComplete('secrets rotate prod/db.primary --master-secret dev/'), ['dev/key=1']);
    assert.deepEqual(await fishComplete('secrets member remove '), ['tester']);
    assert.deepEqual(await fishComplete('secrets policy attach dev-read '), ['tester']);
    assert.deepEqual(await fishComplete(`secrets --vault '${otherVault}' get `), [OTHER]);
    assert.deepEqual(await fishComplete('secrets get o', { SECRETS_VAULT: otherVault }), [OTHER]);
  });
});
